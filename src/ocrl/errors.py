"""Errors that point a user at the exact place in their input that is wrong."""

from __future__ import annotations


class InputError(ValueError):
    """Bad user input, located by file, line (or row) and field."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None, row: int | None = None, column: str | None = None):
        # row/column: the same place in an in-memory table (a datasets.Dataset), 1-based
        self.path, self.line, self.field = path, line if row is None else row, \
            field if column is None else column
        where = [str(path)] if path is not None else []
        if line is not None:
            where.append(f"line {line}")
        if row is not None:
            where.append(f"row {row}")
        if field is not None:
            where.append(f"field '{field}'")
        if column is not None:
            where.append(f"column '{column}'")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)

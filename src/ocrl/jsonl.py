"""Streaming JSONL reading (plain or gzip) that reports bad lines by file and line number."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ocrl.errors import InputError


def open_text(path: str | Path):
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", path=str(path))
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line_number, object) for each non-blank line; line numbers start at 1."""
    with open_text(path) as handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise InputError(f"not valid JSON ({exc.msg} at column {exc.colno})",
                                     path=str(path), line=number) from None
                if not isinstance(row, dict):
                    raise InputError(f"expected a JSON object, got {type(row).__name__}",
                                     path=str(path), line=number)
                yield number, row
        except (UnicodeDecodeError, EOFError, OSError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"cannot be read: {exc}", path=str(path)) from None


def require(row: dict[str, Any], field: str, kind: type | tuple[type, ...], *, path: str,
            line: int) -> Any:
    """Return row[field], or raise an InputError naming the file, line and field."""
    if field not in row:
        raise InputError("missing required field", path=path, line=line, field=field)
    value = row[field]
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise InputError(f"expected {names}, got {type(value).__name__}", path=path, line=line,
                         field=field)
    return value


def write_jsonl(path: str | Path, rows) -> None:
    """Write rows atomically: a killed writer never leaves a half-written file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)

"""Helpers shared by the CLI verbs."""

from __future__ import annotations

import functools
import sys

from rich.console import Console
from rich.table import Table

from ocrl.errors import InputError

console = Console()


def exit_on_input_error(function):
    """Bad input ends the command with its located message, not a traceback."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except InputError as exc:
            Console(stderr=True, soft_wrap=True).print(f"[bold red]error:[/] {exc}",
                                                       highlight=False)
            sys.exit(2)

    return wrapper


def print_table(title: str, columns: list[str], rows: list[tuple[str, ...]]) -> None:
    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)

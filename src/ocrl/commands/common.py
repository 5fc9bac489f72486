"""Helpers shared by the CLI verbs."""

from __future__ import annotations

import functools
import sys

import typer
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


def flag_verb(name: str, summary: str, group: typer.Typer | None = None):
    """Register ``main(argv)`` as the verb ``name`` (of ``group``, e.g. `ocrl problems`; of
    `ocrl` itself by default) with its arguments passed through untouched: the verb parses them
    from its config dataclasses (`ocrl.config_files`), not typer options, so ``--help`` and
    unknown flags are its own to handle too."""

    def register(main):
        from ocrl.cli import app  # ocrl.cli imports the verb modules, which import this one

        @(group or app).command(name, help=summary, add_help_option=False, context_settings={
            "allow_extra_args": True, "ignore_unknown_options": True})
        def command(ctx: typer.Context) -> None:
            exit_on_input_error(main)(list(ctx.args))

        return main

    return register


def print_table(title: str, columns: list[str], rows: list[tuple[str, ...]]) -> None:
    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, justify="left" if index == 0 else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)

"""The `ocrl` command. Each verb lives in its own module; this file only wires them up.

Heavy imports (torch, transformers) happen inside each verb so that `ocrl --help` is instant.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="ocrl",
    help="Offline RL for code LLMs: label logged code in a sandbox, prepare reward-labelled "
         "groups, train (offline RL, SFT, DPO), evaluate with pass@k, and report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
problems_app = typer.Typer(help="Convert problem sources into ocrl problems JSONL.",
                           no_args_is_help=True)
app.add_typer(problems_app, name="problems")


def _register() -> None:
    # Verb modules attach themselves to `app` (or `problems_app`) with decorators.
    from ocrl.commands import label  # noqa: F401
    from ocrl.commands import prepare  # noqa: F401
    from ocrl.commands import problems  # noqa: F401
    from ocrl.commands import train  # noqa: F401
    from ocrl.commands import eval  # noqa: F401
    from ocrl.commands import sample  # noqa: F401
    from ocrl.commands import report  # noqa: F401
    from ocrl.commands import quickstart  # noqa: F401


_register()


def main() -> None:  # pragma: no cover - console entry point
    app()

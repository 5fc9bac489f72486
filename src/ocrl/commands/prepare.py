"""`ocrl prepare`: build reward-labelled groups from judged code.

Every PrepareConfig field (and every reward option, prefixed ``reward-``) is a flag; flags
override the YAML given with ``--config``, which overrides the defaults. The flags are generated
from the dataclasses, so a new config field is a new flag without touching this file.
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Optional

import typer

from ocrl.cli import app
from ocrl.commands.common import console, exit_on_input_error, print_table
from ocrl.errors import InputError
from ocrl.prepare import PrepareConfig, load_config, prepare
from ocrl.rewards import RewardConfig

HELP = {
    "source": "codenet (a Project CodeNet tree), labelled (`ocrl label` Parquet) or table "
              "(JSONL/Parquet with --columns).",
    "path": "The source: CodeNet root directory, or the table file.",
    "out": "Dataset directory to write.",
    "problems": "Problems JSONL (labelled/table): prompts and tests.",
    "statements": "CodeNet statements directory or tarball (default: PATH/problem_descriptions).",
    "columns": "Column mapping FIELD=COLUMN (repeatable), fields: problem_id, completion, status "
               "or passed, prompt, style, cpu_time_ms, memory_kb, tests_passed, tests_total, "
               "origin_id, source.",
    "source_name": "Recorded in samples.source (default: codenet:<language> or the file name).",
    "group_size": "Samples per group: an integer, 'all' or 'variable'.",
    "min_group_size": "Smallest group with --group-size variable.",
    "max_group_size": "Largest group with --group-size variable.",
    "max_groups_per_problem": "Cap on groups per problem (0: none).",
    "prefer_mixed": "Deal samples so groups mix good and bad ones, and keep mixed groups first.",
    "drop_zero_variance": "Drop groups whose rewards are all equal (they are counted).",
    "mixed_on": "What must differ in a group for it to be mixed: functional (the functional "
                "part) or reward (the total, runtime included).",
    "dedup": "Collapse programs with equal tokens (comments and layout aside, indentation "
             "kept).",
    "interpreter_dedup": "prefer_cpython (one copy per program, CPython's verdict first) or "
                         "per_interpreter (one per program and interpreter).",
    "twins": "Twin problems share a split: auto (CodeNet's derived/duplicates list, else "
             "statement similarity), derived, statements or none.",
    "twin_similarity": "Jaccard similarity of statement word 3-shingles that makes twins.",
    "keep_ungrouped": "Also write the deduplicated samples in no group (ungrouped.parquet).",
    "require_statement": "codenet: drop problems without a statement (else the name is the "
                         "prompt).",
    "seed": "Seed of group sampling.",
    "split_seed": "Seed of the problem split hash.",
    "split_fractions": "train,validation,test fractions, e.g. 0.8,0.1,0.1.",
    "difficulty_from": "pass_rate or rating (CodeNet's, where present).",
    "difficulty_quantiles": "Two quantiles cutting easy/medium/hard, e.g. 0.3333,0.6667.",
    "shard_rows": "Rows per unit of parallel, resumable work.",
    "workers": "Processes (0: all cores).",
    "resume": "Reuse shards finished by an earlier run with the same config.",
    "keep_work": "Keep the per-shard work directory after merging.",
    "progress": "Show a progress bar.",
    "reward_functional_weight": "Weight of the functional part (1 if Accepted).",
    "reward_syntactic_weight": "Weight of the syntactic part (1 if the code parses).",
    "reward_runtime_weight": "Weight of the runtime part (accepted samples only).",
    "reward_partial_credit": "Functional part of a rejected sample = tests passed / total.",
    "reward_runtime": "rank (among the problem's accepted samples), time_limit or none.",
}


def _flag_kind(hint: Any) -> type:
    """The scalar type a config field takes on the command line."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        hint = next(a for a in typing.get_args(hint) if a is not type(None))
    origin = typing.get_origin(hint)
    if origin is list:
        return list
    if origin is dict:
        return dict
    return hint


def flag_specs() -> list[tuple[str, tuple[str, ...], type]]:
    """(parameter name, path into the config dict, kind) for every config field."""
    specs = []
    hints = typing.get_type_hints(PrepareConfig)
    for f in fields(PrepareConfig):
        if f.name != "reward":
            specs.append((f.name, (f.name,), _flag_kind(hints[f.name])))
    reward_hints = typing.get_type_hints(RewardConfig)
    for f in fields(RewardConfig):
        if f.name == "functions":  # a list of {function, weight} mappings: YAML only
            continue
        specs.append((f"reward_{f.name}", ("reward", f.name), _flag_kind(reward_hints[f.name])))
    return specs


def _default(name: str) -> str:
    for config, prefix in ((PrepareConfig, ""), (RewardConfig, "reward_")):
        for f in fields(config):
            if prefix + f.name == name:
                value = f.default if f.default is not MISSING else f.default_factory()
                return "" if value in (None, "", {}) else f" (default: {value})"
    return ""


def _parameter(name: str, kind: type) -> inspect.Parameter:
    flag = "--" + name.replace("_", "-")
    help_text = HELP.get(name, "") + _default(name)
    if kind is bool:
        option = typer.Option(None, f"{flag}/--no-{flag[2:]}", help=help_text, show_default=False)
        annotation = Optional[bool]
    elif kind is dict:
        option = typer.Option(None, flag, help=help_text, show_default=False)
        annotation = Optional[list[str]]
    elif kind is list:
        option = typer.Option(None, flag, help=help_text, show_default=False)
        annotation = Optional[str]
    else:
        option = typer.Option(None, flag, help=help_text, show_default=False)
        annotation = Optional[kind]
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option,
                             annotation=annotation)


def _convert(name: str, kind: type, value: Any) -> Any:
    if kind is dict:
        mapping = {}
        for item in value:
            key, sep, column = item.partition("=")
            if not sep or not key or not column:
                raise InputError(f"expected FIELD=COLUMN, got {item!r}",
                                 field="--" + name.replace("_", "-"))
            mapping[key.strip()] = column.strip()
        return mapping
    if kind is list:
        try:
            return [float(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise InputError(f"expected comma-separated numbers, got {value!r}",
                             field="--" + name.replace("_", "-")) from None
    return value


def build_config(config_file: Path | None, flags: dict[str, Any]) -> PrepareConfig:
    """Defaults <- YAML <- flags."""
    values: dict[str, Any] = {}
    if config_file is not None:
        base = load_config(config_file)  # validates the file on its own, naming it in errors
        values = base.to_dict()
    for name, path, kind in flag_specs():
        value = flags.get(name)
        if value is None:
            continue
        target = values
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = _convert(name, kind, value)
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


def prepare_command(**flags: Any) -> None:
    """Turn judged code into reward-labelled groups: samples, groups, problems, manifest.

    Examples: `ocrl prepare --source codenet --path Project_CodeNet --out data/codenet`;
    `ocrl prepare --source labelled --path labels.parquet --problems problems.jsonl --out data/he`.
    """
    config_file = flags.pop("config", None)
    config = build_config(config_file, flags)
    manifest = prepare(config)
    print_summary(manifest, config.out)


def _install() -> None:
    parameters = [inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY,
                                    default=typer.Option(None, "--config",
                                                         help="YAML with any of the options "
                                                              "below (reward options under "
                                                              "'reward:')."),
                                    annotation=Optional[Path])]
    parameters += [_parameter(name, kind) for name, _, kind in flag_specs()]
    prepare_command.__signature__ = inspect.Signature(parameters)
    prepare_command.__annotations__ = {p.name: p.annotation for p in parameters}
    app.command("prepare")(exit_on_input_error(prepare_command))


_install()

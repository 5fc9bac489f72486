"""Load a dataset directory written by `ocrl prepare` back, for the trainer and the evaluation."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ocrl.errors import InputError
from ocrl.problems import Problem, StdioTest

SPLITS = ("train", "validation", "test", "all")


def _check(data_dir: str | Path, split: str) -> Path:
    data_dir = Path(data_dir)
    if split not in SPLITS:
        raise InputError(f"split must be one of {', '.join(SPLITS)}, got {split!r}",
                         path=str(data_dir), field="split")
    if not (data_dir / "manifest.json").is_file():
        raise InputError("not a finished ocrl dataset directory (no manifest.json; run "
                         "`ocrl prepare`)", path=str(data_dir))
    return data_dir


def _read(path: Path, columns: list[str] | None = None, split: str = "all") -> pa.Table:
    if not path.is_file():
        raise InputError("missing from the dataset directory", path=str(path))
    filters = None if split == "all" else [("split", "=", split)]
    return pq.read_table(path, columns=columns, filters=filters)


def load_manifest(data_dir: str | Path) -> dict:
    data_dir = _check(data_dir, "all")
    return json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))


def load_groups(data_dir: str | Path, split: str = "train"):
    """One row per group: group_id, problem_id, prompt, style, completions, rewards, statuses.

    Only the split's rows are read: samples.parquet keeps each split in row groups of its own,
    which the split filter skips by their statistics."""
    import datasets

    data_dir = _check(data_dir, split)
    groups = _read(data_dir / "groups.parquet", ["group_id", "problem_id", "sample_ids",
                                                 "rewards"], split)
    samples = _read(data_dir / "samples.parquet", ["sample_id", "completion", "status"], split)
    problems = _read(data_dir / "problems.parquet", ["problem_id", "prompt", "style"], split)
    sample_ids = groups.column("sample_ids").combine_chunks()
    flat = sample_ids.flatten()
    rows_of = pc.index_in(flat, value_set=samples.column("sample_id").combine_chunks())
    if rows_of.null_count:
        missing = flat.filter(pc.is_null(rows_of))[0].as_py()
        raise InputError(f"a group names sample_id {missing}, which is not in its split; the "
                         "files were edited or mixed", path=str(data_dir / "samples.parquet"),
                         field="sample_id")
    completions = samples.column("completion").combine_chunks().take(rows_of)
    statuses = samples.column("status").combine_chunks().take(rows_of)
    offsets = sample_ids.offsets
    if sample_ids.offset:  # a sliced array: rebase offsets so they index the taken values
        offsets = pc.subtract(offsets, offsets[0])
    rows = _problem_rows(problems, groups.column("problem_id"), data_dir)
    table = pa.table({
        "group_id": groups.column("group_id"),
        "problem_id": groups.column("problem_id"),
        "prompt": problems.column("prompt").take(rows),
        "style": problems.column("style").take(rows),
        "completions": pa.ListArray.from_arrays(offsets, completions),
        "rewards": groups.column("rewards"),
        "statuses": pa.ListArray.from_arrays(offsets, statuses),
    })
    return datasets.Dataset(table)


def _problem_rows(problems: pa.Table, problem_ids, data_dir: Path) -> pa.Array:
    """Row of each problem id in ``problems`` (the prompt lives there, once per problem)."""
    rows = pc.index_in(problem_ids, value_set=problems.column("problem_id").combine_chunks())
    if rows.null_count:
        missing = pc.filter(problem_ids, pc.is_null(rows))[0].as_py()
        raise InputError(f"problem {missing!r} is not in problems.parquet (in this split)",
                         path=str(data_dir / "problems.parquet"), field="problem_id")
    return rows


def load_samples(data_dir: str | Path, split: str = "train"):
    """One row per sample in a group: sample_id, problem_id, prompt, style, completion,
    status, interpreter, reward."""
    import datasets

    data_dir = _check(data_dir, split)
    table = _read(data_dir / "samples.parquet", ["sample_id", "problem_id", "completion",
                                                 "status", "interpreter", "reward"], split)
    problems = _read(data_dir / "problems.parquet", ["problem_id", "prompt", "style"], split)
    rows = _problem_rows(problems, table.column("problem_id"), data_dir)
    table = table.add_column(2, "prompt", problems.column("prompt").take(rows))
    table = table.add_column(3, "style", problems.column("style").take(rows))
    return datasets.Dataset(table)


def load_problems(data_dir: str | Path, split: str = "test",
                  require_tests: bool = True) -> list[Problem]:
    """The problems of a split as ocrl Problems, difficulty bucket included; stdio problems
    without a single test cannot be judged and are left out unless ``require_tests=False``."""
    data_dir = _check(data_dir, split)
    problems = []
    for row in _read(data_dir / "problems.parquet", None, split).to_pylist():
        tests = [StdioTest(t["input"], t["output"]) for t in row["tests"] or []]
        if row["style"] == "stdio" and not tests and require_tests:
            continue
        extra = {"split": row["split"], "pass_rate": row["pass_rate"], "rating": row["rating"]}
        for key in ("name", "dataset"):
            if row.get(key) is not None:
                extra[key] = row[key]
        problems.append(Problem(
            task_id=row["problem_id"], prompt=row["prompt"], style=row["style"],
            entry_point=row["entry_point"], test=row["test"], tests=tests,
            canonical_solution=row["canonical_solution"], time_limit_ms=row["time_limit_ms"],
            memory_limit_kb=row["memory_limit_kb"], difficulty=row["difficulty"], extra=extra))
    return problems

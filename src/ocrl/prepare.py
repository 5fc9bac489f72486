"""`ocrl prepare`: judged code -> reward-labelled groups in a dataset directory.

Sources: a Project CodeNet tree ("codenet"), the Parquet that `ocrl label` writes ("labelled"),
or any JSONL/Parquet table with a column mapping ("table"). Work is split into shards of whole
problems (runs of metadata CSVs for CodeNet; hash partitions of the table otherwise), so that
memory holds one shard per worker, never the whole source, and both cores work. Each finished
shard is written atomically with a fingerprint of the config: a killed run resumes with the
shards still to do. The shards are then merged into

    samples.parquet   one row per sample: ids, prompt, completion, verdict, reward parts, reward
    groups.parquet    group_id, problem_id, split, sample_ids, rewards
    problems.parquet  problem_id, prompt, style, split, difficulty, pass_rate, rating, tests, ...
    manifest.json     sources, config, counts of everything kept and dropped and why, histogram
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import random
import shutil
import tarfile
import time
import types
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ocrl import __version__
from ocrl.codenet.reader import (UNINFORMATIVE_STATUSES, Submission, metadata_files,
                                 read_submissions)
from ocrl.codenet.statements import PROBLEM_FILE, read_problem_list, read_statement
from ocrl.atomic import write_json_atomic, write_parquet_atomic
from ocrl.config_files import reject_unknown_keys
from ocrl.errors import InputError
from ocrl.grouping import (SPLITS, difficulty_buckets, first_unique, form_groups, group_sizes,
                           pass_rate, select_groups, split_of)
from ocrl.rewards import RewardConfig, custom_rewards, parses, score_problem
from ocrl.sandbox.programs import assert_program
from ocrl.sandbox.verdict import ACCEPTED, STATUSES, WRONG_ANSWER

SOURCES = ("codenet", "labelled", "table")
WORK_DIR = ".prepare-work"
HISTOGRAM_BINS = 20
# Column mapping of `ocrl label` output: ocrl field -> column.
LABEL_COLUMNS = {"problem_id": "task_id", "completion": "completion", "status": "status",
                 "cpu_time_ms": "cpu_time_ms", "memory_kb": "memory_kb",
                 "tests_passed": "tests_passed", "tests_total": "tests_total",
                 "origin_id": "sample_index", "source": "source"}
TABLE_FIELDS = ("problem_id", "completion", "status", "passed", "prompt", "style", "cpu_time_ms",
                "memory_kb", "tests_passed", "tests_total", "origin_id", "source")
# Options that change how the work is done, not what it produces.
_NOT_FINGERPRINTED = {"workers", "out", "resume", "keep_work", "progress"}


@dataclass
class PrepareConfig:
    """Everything `ocrl prepare` needs; YAML keys and CLI flags share these names."""

    source: str = "codenet"
    path: str = ""
    out: str = ""
    # labelled/table: the problems JSONL (prompt, tests); codenet: unused.
    problems: str | None = None
    # codenet: statements directory or tarball (default: PATH/problem_descriptions).
    statements: str | None = None
    # table: ocrl field -> column name (problem_id, completion, status or passed, ...).
    columns: dict[str, str] = field(default_factory=dict)
    source_name: str | None = None
    # An integer k, "all" (one group per problem) or "variable" (min..max_group_size).
    group_size: str = "4"
    min_group_size: int = 2
    max_group_size: int = 8
    max_groups_per_problem: int = 16
    prefer_mixed: bool = True
    drop_zero_variance: bool = True
    dedup: bool = True
    require_statement: bool = True
    seed: int = 0
    split_seed: int = 0
    split_fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    difficulty_from: str = "pass_rate"
    difficulty_quantiles: list[float] = field(default_factory=lambda: [1 / 3, 2 / 3])
    shard_rows: int = 20000
    workers: int = 0
    resume: bool = True
    keep_work: bool = False
    progress: bool = True
    reward: RewardConfig = field(default_factory=RewardConfig)

    def __post_init__(self) -> None:
        if isinstance(self.reward, dict):
            self.reward = RewardConfig.from_dict(self.reward)
        self.group_size = str(self.group_size)
        if self.source not in SOURCES:
            raise InputError(f"must be one of {', '.join(SOURCES)}, got {self.source!r}",
                             field="source")
        if self.group_size not in ("all", "variable") and not (
                self.group_size.isdigit() and int(self.group_size) >= 2):
            raise InputError(f"must be an integer >= 2, 'all' or 'variable', got "
                             f"{self.group_size!r}", field="group_size")
        if not 2 <= self.min_group_size <= self.max_group_size:
            raise InputError("need 2 <= min_group_size <= max_group_size",
                             field="min_group_size")
        if len(self.split_fractions) != 3 or any(f < 0 for f in self.split_fractions) \
                or sum(self.split_fractions) <= 0:
            raise InputError("three non-negative fractions (train, validation, test)",
                             field="split_fractions")
        if self.difficulty_from not in ("pass_rate", "rating"):
            raise InputError("must be 'pass_rate' or 'rating'", field="difficulty_from")
        if len(self.difficulty_quantiles) != 2 or not \
                0 <= self.difficulty_quantiles[0] <= self.difficulty_quantiles[1] <= 1:
            raise InputError("two increasing quantiles in [0, 1]", field="difficulty_quantiles")
        unknown = set(self.columns) - set(TABLE_FIELDS)
        if unknown:
            raise InputError(f"unknown field(s) {sorted(unknown)}; known: {list(TABLE_FIELDS)}",
                             field="columns")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, path: str | None = None) -> PrepareConfig:
        reject_unknown_keys(values, cls, path=path)
        values = dict(values)
        if isinstance(values.get("reward"), dict):
            values["reward"] = RewardConfig.from_dict(values["reward"], path=path)
        try:
            return cls(**values)
        except InputError as exc:
            if path is not None and exc.path is None:
                raise InputError(str(exc), path=path) from None
            raise


def load_config(path: str | Path) -> PrepareConfig:
    from ocrl.config_files import read_yaml_mapping

    return PrepareConfig.from_dict(read_yaml_mapping(path), path=str(path))


# ---------------------------------------------------------------------------------------------
# Per problem: dedup, rewards, groups. Runs inside the workers.

@dataclass
class ProblemInfo:
    problem_id: str
    prompt: str | None = None
    style: str = "stdio"
    tests: list[dict[str, str]] = field(default_factory=list)
    entry_point: str | None = None
    test: str | None = None
    canonical_solution: str | None = None
    time_limit_ms: int | None = None
    memory_limit_kb: int | None = None
    rating: float | None = None
    name: str | None = None
    dataset: str | None = None


SAMPLE_COLUMNS = ("problem_id", "split", "prompt", "style", "completion", "status",
                  "functional", "syntactic", "runtime", "custom", "reward", "cpu_time_ms",
                  "memory_kb", "tests_passed", "tests_total", "source", "origin_id", "group_id")


@functools.cache
def schemas() -> types.SimpleNamespace:
    """Arrow schemas of the dataset files (built on first use: pyarrow stays out of `--help`)."""
    import pyarrow as pa

    kinds = {"functional": pa.float64(), "syntactic": pa.float64(), "runtime": pa.float64(),
             "custom": pa.float64(), "reward": pa.float64(), "cpu_time_ms": pa.float64(),
             "memory_kb": pa.float64(), "tests_passed": pa.int64(), "tests_total": pa.int64()}
    sample_fields = [(name, kinds.get(name, pa.string())) for name in SAMPLE_COLUMNS]
    groups = pa.schema([("group_id", pa.string()), ("problem_id", pa.string()),
                        ("split", pa.string()), ("sample_ids", pa.list_(pa.int64())),
                        ("rewards", pa.list_(pa.float64())), ("size", pa.int32()),
                        ("reward_std", pa.float64())])
    tests = pa.list_(pa.struct([("input", pa.string()), ("output", pa.string())]))
    problems = pa.schema([
        ("problem_id", pa.string()), ("prompt", pa.string()), ("style", pa.string()),
        ("split", pa.string()), ("difficulty", pa.string()), ("pass_rate", pa.float64()),
        ("rating", pa.float64()), ("n_samples", pa.int64()), ("n_accepted", pa.int64()),
        ("n_groups", pa.int64()), ("tests", tests), ("entry_point", pa.string()),
        ("test", pa.string()), ("canonical_solution", pa.string()),
        ("time_limit_ms", pa.int64()), ("memory_limit_kb", pa.int64()), ("name", pa.string()),
        ("dataset", pa.string())])
    partition = pa.schema([("problem_id", pa.string()), ("completion", pa.string()),
                           ("status", pa.string()), ("cpu_time_ms", pa.float64()),
                           ("memory_kb", pa.float64()), ("tests_passed", pa.int64()),
                           ("tests_total", pa.int64()), ("origin_id", pa.string()),
                           ("source", pa.string())])
    return types.SimpleNamespace(shard_samples=pa.schema(sample_fields),
                                 samples=pa.schema([("sample_id", pa.int64())] + sample_fields),
                                 groups=groups, problems=problems, partition=partition)


def _reward_range(config: RewardConfig) -> tuple[float, float]:
    weights = (config.functional_weight, config.syntactic_weight, config.runtime_weight)
    low, high = sum(min(0.0, w) for w in weights), sum(max(0.0, w) for w in weights)
    return low, high if high > low else low + 1.0


def _histogram(rewards: list[float], config: RewardConfig) -> list[int]:
    low, high = _reward_range(config)
    counts = [0] * HISTOGRAM_BINS
    for r in rewards:
        index = int((r - low) / (high - low) * HISTOGRAM_BINS)
        counts[min(HISTOGRAM_BINS - 1, max(0, index))] += 1
    return counts


@dataclass
class ProblemResult:
    samples: dict[str, list]
    groups: list[dict]
    problem: dict
    counts: Counter
    histogram: list[int]


def process_problem(info: ProblemInfo, submissions: list[Submission],
                    config: PrepareConfig) -> ProblemResult:
    """Dedup, score, split and group the judged samples of one problem."""
    counts: Counter = Counter()
    split = split_of(info.problem_id, config.split_seed, config.split_fractions)
    if info.prompt is None:
        counts["dropped/no_statement"] += len(submissions)
        submissions = []
    rate = pass_rate([s.status for s in submissions])
    if config.dedup and submissions:
        keep = first_unique([s.completion for s in submissions])
        counts["dropped/near_duplicate"] += len(submissions) - len(keep)
        submissions = [submissions[i] for i in keep]
    if info.style == "assert" and info.test is not None and info.entry_point:
        # The syntax that matters is the program the judge ran: a body dangling a decorator
        # still compiles once the test's `def check` follows it.
        parse_ok = [parses(assert_program(info.prompt, s.completion, info.test, info.entry_point))
                    for s in submissions]
    elif info.style == "assert":
        parse_ok = [parses(info.prompt + s.completion) for s in submissions]
    else:
        parse_ok = [s.syntax_ok if s.syntax_ok is not None else parses(s.completion)
                    for s in submissions]
    custom = None
    if config.reward.functions and submissions:
        n = len(submissions)
        custom = custom_rewards(
            config.reward, [info.prompt] * n, [s.completion for s in submissions],
            [{"status": s.status, "passed": s.status == ACCEPTED, "cpu_time_ms": s.cpu_time_ms,
              "memory_kb": s.memory_kb, "tests_passed": s.tests_passed,
              "tests_total": s.tests_total} for s in submissions],
            problem_id=[info.problem_id] * n, style=[info.style] * n,
            source=[s.source for s in submissions], syntax_ok=parse_ok)
    parts = score_problem([s.status for s in submissions], parse_ok,
                          [s.cpu_time_ms for s in submissions], config.reward,
                          [s.tests_passed for s in submissions],
                          [s.tests_total for s in submissions], info.time_limit_ms, custom)
    rewards = [p.reward for p in parts]
    rng = random.Random(f"{config.seed}:{info.problem_id}")
    sizes = group_sizes(len(submissions), config.group_size, config.min_group_size,
                        config.max_group_size)
    formed = form_groups(rewards, sizes, rng, stratify=config.prefer_mixed)
    chosen = select_groups(formed, rewards, rng, config.max_groups_per_problem,
                           config.drop_zero_variance, config.prefer_mixed)
    counts["samples/kept"] += len(submissions)
    counts["samples/outside_any_group_size"] += len(submissions) - sum(sizes)
    counts["groups/formed"] += len(formed)
    counts["groups/dropped_zero_variance"] += chosen.zero_variance
    counts["groups/dropped_over_cap"] += chosen.over_cap
    counts["groups/kept"] += len(chosen.groups)
    group_of: dict[int, str] = {}
    groups = []
    for number, members in enumerate(chosen.groups):
        group_id = f"{info.problem_id}#{number}"
        values = [rewards[i] for i in members]
        mean = sum(values) / len(values)
        groups.append({"group_id": group_id, "problem_id": info.problem_id, "split": split,
                       "sample_ids": members, "rewards": values, "size": len(members),
                       "reward_std": math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))})
        for i in members:
            group_of[i] = group_id
    n = len(submissions)
    samples = {
        "problem_id": [info.problem_id] * n, "split": [split] * n, "prompt": [info.prompt] * n,
        "style": [info.style] * n, "completion": [s.completion for s in submissions],
        "status": [s.status for s in submissions],
        "functional": [p.functional for p in parts], "syntactic": [p.syntactic for p in parts],
        "runtime": [p.runtime for p in parts], "custom": [p.custom for p in parts],
        "reward": rewards,
        "cpu_time_ms": [s.cpu_time_ms for s in submissions],
        "memory_kb": [s.memory_kb for s in submissions],
        "tests_passed": [s.tests_passed for s in submissions],
        "tests_total": [s.tests_total for s in submissions],
        "source": [s.source for s in submissions], "origin_id": [s.origin_id for s in submissions],
        "group_id": [group_of.get(i) for i in range(n)],
    }
    for status in (s.status for s in submissions):
        counts[f"status/{status}"] += 1
    problem = None
    if info.prompt is not None:
        problem = {"problem_id": info.problem_id, "prompt": info.prompt, "style": info.style,
                   "split": split, "difficulty": None, "pass_rate": rate, "rating": info.rating,
                   "n_samples": n,
                   "n_accepted": sum(1 for s in submissions if s.status == ACCEPTED),
                   "n_groups": len(groups), "tests": info.tests, "entry_point": info.entry_point,
                   "test": info.test, "canonical_solution": info.canonical_solution,
                   "time_limit_ms": info.time_limit_ms, "memory_limit_kb": info.memory_limit_kb,
                   "name": info.name, "dataset": info.dataset}
    return ProblemResult(samples, groups, problem, counts, _histogram(rewards, config.reward))


# ---------------------------------------------------------------------------------------------
# Shards: a run of whole problems, processed by one worker, written atomically.

@dataclass
class ShardTask:
    index: int
    kind: str                      # "codenet" or "table"
    inputs: list[str]              # metadata CSVs, or one partition Parquet
    problems: dict[str, ProblemInfo]
    root: str = ""
    statements: str | None = None
    source_name: str = ""


def _atomic_write_table(table, path: Path) -> None:
    write_parquet_atomic(path, table, compression="zstd")


def _atomic_write_json(data: dict, path: Path, indent: int | None = None) -> None:
    write_json_atomic(path, data, indent=indent)


def _shard_paths(work: Path, index: int) -> tuple[Path, Path, Path]:
    stem = work / f"shard-{index:05d}"
    return (stem.with_suffix(".samples.parquet"), stem.with_suffix(".groups.parquet"),
            stem.with_suffix(".json"))


def _codenet_problem(task: ShardTask, problem_id: str) -> ProblemInfo:
    info = task.problems.get(problem_id) or ProblemInfo(problem_id)
    if task.statements:
        statement = read_statement(Path(task.statements), problem_id)
        if statement is not None:
            info.prompt = statement.prompt
            info.tests = list(statement.tests)
            info.time_limit_ms = info.time_limit_ms or statement.time_limit_ms
            info.memory_limit_kb = info.memory_limit_kb or statement.memory_limit_kb
    derived = Path(task.root) / "derived" / "input_output" / "data" / problem_id
    if (derived / "input.txt").is_file() and (derived / "output.txt").is_file():
        case = {"input": (derived / "input.txt").read_text(encoding="utf-8", errors="replace"),
                "output": (derived / "output.txt").read_text(encoding="utf-8", errors="replace")}
        if case not in info.tests:
            info.tests.append(case)
    return info


def _table_problems(task: ShardTask) -> Iterator[tuple[ProblemInfo, list[Submission]]]:
    import pyarrow.parquet as pq

    table = pq.read_table(task.inputs[0])
    rows: dict[str, list[Submission]] = {}
    columns = table.to_pydict()
    for i in range(table.num_rows):
        rows.setdefault(columns["problem_id"][i], []).append(Submission(
            problem_id=columns["problem_id"][i], completion=columns["completion"][i],
            status=columns["status"][i], cpu_time_ms=columns["cpu_time_ms"][i],
            memory_kb=columns["memory_kb"][i], tests_passed=columns["tests_passed"][i],
            tests_total=columns["tests_total"][i], origin_id=columns["origin_id"][i],
            source=columns["source"][i]))
    del table, columns
    for problem_id in sorted(rows):
        yield task.problems[problem_id], rows.pop(problem_id)


def _stat(path: str) -> list[int]:
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


def run_shard(task: ShardTask, config: PrepareConfig, work: str, fingerprint: str) -> dict:
    """Process one shard and write its three files; returns the shard summary."""
    import pyarrow as pa

    samples_path, groups_path, summary_path = _shard_paths(Path(work), task.index)
    # A finished shard is reused only for the same config and the same input files.
    inputs = [[path, *_stat(path)] for path in task.inputs]
    if config.resume and summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if summary.get("fingerprint") == fingerprint and summary.get("inputs") == inputs \
                and samples_path.is_file() and groups_path.is_file():
            summary["resumed"] = True
            return summary
    counts: Counter = Counter()
    histogram = [0] * HISTOGRAM_BINS

    sample_columns: dict[str, list] = {name: [] for name in SAMPLE_COLUMNS}
    group_rows: list[dict] = []
    problems: list[dict] = []

    def collect(result: ProblemResult) -> None:
        offset = len(sample_columns["problem_id"])
        for name, values in result.samples.items():
            sample_columns[name].extend(values)
        for group in result.groups:
            group["sample_ids"] = [offset + i for i in group["sample_ids"]]
            group_rows.append(group)
        if result.problem is not None:
            problems.append(result.problem)
        counts.update(result.counts)
        for i, c in enumerate(result.histogram):
            histogram[i] += c

    if task.kind == "codenet":
        root = Path(task.root)
        for csv_path in task.inputs:
            problem_id = Path(csv_path).stem
            info = _codenet_problem(task, problem_id)
            if problem_id not in task.problems:
                counts["problems/not_in_problem_list"] += 1
            if info.prompt is None and not config.require_statement:
                info.prompt = info.name or problem_id
            if info.prompt is None:
                counts["problems/no_statement"] += 1
            submissions = list(read_submissions(root, Path(csv_path), counts, task.source_name))
            collect(process_problem(info, submissions, config))
    else:
        for info, submissions in _table_problems(task):
            collect(process_problem(info, submissions, config))
    _atomic_write_table(pa.Table.from_pydict(sample_columns, schema=schemas().shard_samples),
                        samples_path)
    _atomic_write_table(pa.Table.from_pylist(group_rows, schema=schemas().groups), groups_path)
    summary = {"fingerprint": fingerprint, "inputs": inputs, "index": task.index,
               "counts": dict(counts),
               "histogram": histogram, "problems": problems,
               "samples": len(sample_columns["problem_id"]), "groups": len(group_rows)}
    _atomic_write_json(summary, summary_path)
    summary["resumed"] = False
    return summary


def _run_shard_star(args) -> dict:
    return run_shard(*args)


# ---------------------------------------------------------------------------------------------
# Planning shards for each source.

def _number(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _int(text: Any) -> int | None:
    value = _number(text)
    return int(value) if value is not None and value > 0 else None


def _statements_location(config: PrepareConfig, root: Path, work: Path) -> str | None:
    """A directory of pNNNNN.html files; a tarball is unpacked once into the work dir."""
    location = Path(config.statements) if config.statements else root / "problem_descriptions"
    if not location.exists():
        if config.statements:
            raise InputError("statements not found", path=str(location), field="statements")
        return None
    if location.is_dir():
        return str(location)
    target = work / "statements"
    marker = target / ".complete"
    if not marker.is_file():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        try:
            with tarfile.open(location, "r:*") as archive:
                for member in archive:
                    match = PROBLEM_FILE.search(member.name)
                    if member.isfile() and match:
                        handle = archive.extractfile(member)
                        if handle is not None:
                            (target / f"{match.group(1)}.html").write_bytes(handle.read())
        except tarfile.TarError as exc:
            raise InputError(f"not a directory or a tar archive of statements ({exc})",
                             path=str(location), field="statements") from None
        marker.write_text("ok")
    return str(target)


def _plan_codenet(config: PrepareConfig, work: Path) -> tuple[list[ShardTask], dict, Counter]:
    root = Path(config.path)
    if not (root / "metadata").is_dir():
        raise InputError("not a Project CodeNet tree: no metadata/ directory", path=str(root),
                         field="path")
    listed = read_problem_list(root / "metadata" / "problem_list.csv")
    statements = _statements_location(config, root, work)
    files = metadata_files(root)
    counts: Counter = Counter()
    seen = {f.stem for f in files}
    counts["problems/listed_without_metadata"] = len(set(listed) - seen)
    budget = max(1, config.shard_rows) * 90  # ~90 bytes per metadata row
    tasks: list[ShardTask] = []
    batch: list[Path] = []
    size = 0
    for file in files:
        batch.append(file)
        size += file.stat().st_size
        if size >= budget:
            tasks.append(batch)
            batch, size = [], 0
    if batch:
        tasks.append(batch)
    source_name = config.source_name or "codenet"
    shard_tasks = []
    for index, batch in enumerate(tasks):
        infos = {}
        for file in batch:
            row = listed.get(file.stem)
            if row is not None:
                infos[file.stem] = ProblemInfo(
                    problem_id=file.stem, name=row.get("name") or None,
                    dataset=row.get("dataset") or None, time_limit_ms=_int(row.get("time_limit")),
                    memory_limit_kb=_int(row.get("memory_limit")),
                    rating=_number(row.get("rating")))
        shard_tasks.append(ShardTask(index, "codenet", [str(f) for f in batch], infos,
                                     root=str(root), statements=statements,
                                     source_name=source_name))
    source = {"kind": "codenet", "path": str(root),
              "statements": config.statements or statements,
              "metadata_files": len(files), "problem_list_rows": len(listed)}
    return shard_tasks, source, counts


def _iter_table_rows(path: Path, wanted: list[str] | None) -> Iterator[tuple[int, dict]]:
    """(row number from 1, row) from a Parquet or JSONL(.gz) file, streamed in batches."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ocrl.jsonl import read_jsonl

    if path.suffix == ".parquet":
        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"not a readable Parquet file ({exc})", path=str(path)) from None
        names = parquet.schema_arrow.names
        present = names if wanted is None else [c for c in wanted if c in names]
        number = 0
        for batch in parquet.iter_batches(batch_size=20000, columns=present):
            for row in batch.to_pylist():
                number += 1
                yield number, row
    else:
        yield from read_jsonl(path)


def _numeric(row: dict, columns: dict[str, str], name: str, kind: type, where: dict):
    """A mapped numeric field of a table row; None when unmapped or empty."""
    value = row.get(columns.get(name, "\0"))
    if value is None or value == "":
        return None
    try:
        value = kind(value)
    except (TypeError, ValueError):
        raise InputError(f"expected a number, got {value!r}", field=columns[name],
                         **where) from None
    return value if kind is int or math.isfinite(value) else None


def _table_columns(config: PrepareConfig) -> dict[str, str]:
    columns = dict(LABEL_COLUMNS) if config.source == "labelled" else {}
    columns.update(config.columns)
    if config.source == "table" and not config.columns:
        columns = {name: name for name in TABLE_FIELDS}
    return columns


def _problem_info(problem) -> ProblemInfo:
    return ProblemInfo(problem_id=problem.task_id, prompt=problem.prompt, style=problem.style,
                       tests=[{"input": t.input, "output": t.output} for t in problem.tests],
                       entry_point=problem.entry_point, test=problem.test,
                       canonical_solution=problem.canonical_solution,
                       time_limit_ms=problem.time_limit_ms,
                       memory_limit_kb=problem.memory_limit_kb,
                       rating=_number(problem.extra.get("rating")),
                       name=problem.extra.get("name"), dataset=problem.extra.get("dataset"))


def _plan_table(config: PrepareConfig, work: Path) -> tuple[list[ShardTask], dict, Counter]:
    """Validate the table while hash-partitioning it by problem into Parquet parts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ocrl.problems import load_problems

    path = Path(config.path)
    if not path.is_file():
        raise InputError("file not found", path=str(path), field="path")
    columns = _table_columns(config)
    if config.source == "table" and "problem_id" not in config.columns:
        # ocrl's own files call it task_id; accept either without a mapping.
        first = next(_iter_table_rows(path, None), None)
        if first is not None and "problem_id" not in first[1] and "task_id" in first[1]:
            columns["problem_id"] = "task_id"
    for needed in ("problem_id", "completion"):
        if needed not in columns:
            raise InputError(f"map the {needed!r} field to a column (--columns "
                             f"{needed}=COLUMN)", path=str(path), field="columns")
    if "status" not in columns and "passed" not in columns:
        raise InputError("map 'status' or 'passed' to a column", path=str(path), field="columns")
    problems = load_problems(config.problems) if config.problems else None
    if config.source == "labelled" and problems is None:
        raise InputError("labelled samples need --problems (the problems JSONL they were judged "
                         "against)", field="problems")
    source_name = config.source_name or f"{config.source}:{path.name}"
    if path.suffix == ".parquet":
        rows_estimate = pq.ParquetFile(path).metadata.num_rows
    else:
        rows_estimate = path.stat().st_size // (100 if path.suffix == ".gz" else 400)
    parts = math.ceil(rows_estimate / max(1, config.shard_rows))
    if rows_estimate >= 4000:  # enough work to be worth every core
        parts = max(parts, 2 * (config.workers or _cpu_count()))
    parts = max(1, min(256, parts))
    part_dir = work / "partitions"
    marker = part_dir / "complete.json"
    counts: Counter = Counter()
    if config.resume and marker.is_file():
        state = json.loads(marker.read_text(encoding="utf-8"))
        counts.update(state["counts"])
        seen = {int(k): v for k, v in state["problems"].items()}
        prompts = state["prompts"]
        parts = state["parts"]
    else:
        shutil.rmtree(part_dir, ignore_errors=True)
        part_dir.mkdir(parents=True)
        writers: dict[int, pq.ParquetWriter] = {}
        buffers: dict[int, list[dict]] = {i: [] for i in range(parts)}
        seen: dict[int, list[str]] = {i: [] for i in range(parts)}
        seen_sets: dict[int, set[str]] = {i: set() for i in range(parts)}
        prompts: dict[str, str] = {}
        schema = schemas().partition

        def flush(part: int) -> None:
            if not buffers[part]:
                return
            if part not in writers:
                writers[part] = pq.ParquetWriter(part_dir / f"part-{part:05d}.parquet.tmp",
                                                 schema, compression="zstd")
            writers[part].write_table(pa.Table.from_pylist(buffers[part], schema=schema))
            buffers[part] = []

        wanted = list(dict.fromkeys(columns.values()))
        for number, row in _iter_table_rows(path, wanted):
            counts["rows_read"] += 1
            where = dict(path=str(path), line=number)
            problem_id = row.get(columns["problem_id"])
            if problem_id is None or problem_id == "":
                raise InputError("missing problem id", field=columns["problem_id"], **where)
            problem_id = str(problem_id)
            completion = row.get(columns["completion"])
            if not isinstance(completion, str):
                raise InputError(f"expected a string, got {type(completion).__name__}",
                                 field=columns["completion"], **where)
            if "status" in columns and row.get(columns["status"]) is not None:
                status = row[columns["status"]]
                if status in UNINFORMATIVE_STATUSES:
                    counts["dropped/uninformative_status"] += 1
                    counts[f"dropped/uninformative_status/{status}"] += 1
                    continue
                if status not in STATUSES:
                    raise InputError(f"unknown status {status!r} (expected one of "
                                     f"{', '.join(STATUSES)}; or map a boolean 'passed' column)",
                                     field=columns["status"], **where)
            elif "passed" in columns and row.get(columns["passed"]) is not None:
                status = ACCEPTED if row[columns["passed"]] else WRONG_ANSWER
            else:
                raise InputError("no verdict (status or passed)",
                                 field=columns.get("status", columns.get("passed")), **where)
            if problems is not None and problem_id not in problems:
                counts["dropped/unknown_problem"] += 1
                continue
            if problems is None and problem_id not in prompts:
                prompt = row.get(columns.get("prompt", "\0"))
                if not isinstance(prompt, str):
                    raise InputError("no prompt: give --problems or map a 'prompt' column",
                                     field=columns.get("prompt", "prompt"), **where)
                style = row.get(columns.get("style", "\0")) or "stdio"
                prompts[problem_id] = json.dumps({"prompt": prompt, "style": style})

            origin = row.get(columns.get("origin_id", "\0"))
            part = zlib.crc32(problem_id.encode()) % parts
            if problem_id not in seen_sets[part]:
                seen_sets[part].add(problem_id)
                seen[part].append(problem_id)
            buffers[part].append({
                "problem_id": problem_id, "completion": completion, "status": status,
                "cpu_time_ms": _numeric(row, columns, "cpu_time_ms", float, where),
                "memory_kb": _numeric(row, columns, "memory_kb", float, where),
                "tests_passed": _numeric(row, columns, "tests_passed", int, where),
                "tests_total": _numeric(row, columns, "tests_total", int, where),
                "origin_id": str(origin if origin is not None else number),
                "source": str(row.get(columns.get("source", "\0")) or source_name)})
            if len(buffers[part]) >= 5000:
                flush(part)
        for part in range(parts):
            flush(part)
        for part, writer in writers.items():
            writer.close()
            os.replace(part_dir / f"part-{part:05d}.parquet.tmp",
                       part_dir / f"part-{part:05d}.parquet")
        _atomic_write_json({"counts": dict(counts), "problems": seen, "prompts": prompts,
                            "parts": parts}, marker)
    if counts["rows_read"] == 0:
        raise InputError("no rows in table", path=str(path))
    tasks = []
    for part in range(parts):
        part_file = part_dir / f"part-{part:05d}.parquet"
        if not seen.get(part) or not part_file.is_file():
            continue
        infos = {}
        for problem_id in seen[part]:
            if problems is not None:
                infos[problem_id] = _problem_info(problems[problem_id])
            else:
                meta = json.loads(prompts[problem_id])
                infos[problem_id] = ProblemInfo(problem_id, prompt=meta["prompt"],
                                                style=meta["style"])
        tasks.append(ShardTask(len(tasks), "table", [str(part_file)], infos,
                               source_name=source_name))
    if not tasks:
        raise InputError("no usable samples (every row dropped; see counts: "
                         f"{dict(counts)})", path=str(path))
    # Problems without samples still belong in problems.parquet (evaluation needs them).
    extra = {}
    if problems is not None:
        with_samples = {p for ids in seen.values() for p in ids}
        extra = {pid: _problem_info(p) for pid, p in problems.items() if pid not in with_samples}
    source = {"kind": config.source, "path": str(path), "problems": config.problems,
              "columns": columns, "partitions": parts, "problems_without_samples": extra}
    return tasks, source, counts


# ---------------------------------------------------------------------------------------------
# The pipeline.

def _fingerprint(config: PrepareConfig) -> str:
    values = {k: v for k, v in config.to_dict().items() if k not in _NOT_FINGERPRINTED}
    for key in ("path", "problems", "statements"):
        if values.get(key) and Path(values[key]).exists():
            stat = Path(values[key]).stat()
            values[f"{key}_stat"] = [stat.st_size, stat.st_mtime_ns]
    values["version"] = __version__
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _run_shards(tasks: list[ShardTask], config: PrepareConfig, work: Path,
                fingerprint: str) -> Iterator[dict]:
    from tqdm import tqdm

    workers = config.workers or _cpu_count()
    args = [(task, config, str(work), fingerprint) for task in tasks]
    bar = tqdm(total=len(tasks), desc="preparing", unit="shard", disable=not config.progress)
    rows = 0
    started = time.monotonic()
    try:
        if workers <= 1 or len(tasks) <= 1:
            results = map(_run_shard_star, args)
            for summary in results:
                rows += summary["counts"].get("rows_read", 0)
                bar.set_postfix(rows=rows, rows_s=int(rows / max(1e-9, time.monotonic() - started)))
                bar.update(1)
                yield summary
        else:
            import multiprocessing

            # spawn: forking a parent that holds Arrow's thread pools is not safe.
            context = multiprocessing.get_context("spawn")
            with context.Pool(min(workers, len(tasks))) as pool:
                # In order, so the caller merges each shard while the workers go on.
                for summary in pool.imap(_run_shard_star, args):
                    rows += summary["counts"].get("rows_read", 0)
                    bar.set_postfix(rows=rows,
                                    rows_s=int(rows / max(1e-9, time.monotonic() - started)))
                    bar.update(1)
                    yield summary
    finally:
        bar.close()


def _shift_list(column, offset: int):
    """A list<int64> column with ``offset`` added to every element."""
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks = []
    shift = pa.scalar(offset, pa.int64())
    for chunk in column.chunks:
        chunks.append(pa.ListArray.from_arrays(chunk.offsets, pc.add(chunk.values, shift)))
    return pa.chunked_array(chunks, type=pa.list_(pa.int64()))


def prepare(config: PrepareConfig) -> dict:
    """Run the whole stage; returns the manifest (also written to OUT/manifest.json)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    if not config.path:
        raise InputError("give the source with --path", field="path")
    if not config.out:
        raise InputError("give the output directory with --out", field="out")
    started = time.monotonic()
    out = Path(config.out)
    work = out / WORK_DIR
    fingerprint = _fingerprint(config)
    stamp = work / "fingerprint"
    if work.is_dir() and (not config.resume or not stamp.is_file()
                          or stamp.read_text() != fingerprint):
        shutil.rmtree(work)  # a different config: nothing there can be reused
    work.mkdir(parents=True, exist_ok=True)
    stamp.write_text(fingerprint)
    # Until the new manifest lands, the directory must not pass for a finished dataset.
    (out / "manifest.json").unlink(missing_ok=True)
    if config.source == "codenet":
        tasks, source, counts = _plan_codenet(config, work)
    else:
        tasks, source, counts = _plan_table(config, work)
    extra_problems = source.pop("problems_without_samples", {})
    # Merge shards in order as they finish: sample ids are row numbers of samples.parquet.
    histogram = [0] * HISTOGRAM_BINS
    problems: list[dict] = []
    samples_tmp = out / "samples.parquet.tmp"
    groups_tmp = out / "groups.parquet.tmp"
    offset = groups_total = resumed = 0
    reward_sum = 0.0
    with pq.ParquetWriter(samples_tmp, schemas().samples, compression="zstd") as sample_writer, \
            pq.ParquetWriter(groups_tmp, schemas().groups, compression="zstd") as group_writer:
        for summary in _run_shards(tasks, config, work, fingerprint):
            resumed += bool(summary.get("resumed"))
            groups_total += summary["groups"]
            counts.update(summary["counts"])
            histogram = [a + b for a, b in zip(histogram, summary["histogram"])]
            problems.extend(summary["problems"])
            samples_path, groups_path, _ = _shard_paths(work, summary["index"])
            samples = pq.read_table(samples_path, schema=schemas().shard_samples)
            ids = pa.array(range(offset, offset + samples.num_rows), pa.int64())
            sample_writer.write_table(samples.add_column(0, "sample_id", ids))
            reward_sum += pc.sum(samples.column("reward")).as_py() or 0.0
            groups = pq.read_table(groups_path, schema=schemas().groups)
            if groups.num_rows:
                groups = groups.set_column(3, "sample_ids",
                                           _shift_list(groups.column("sample_ids"), offset))
                group_writer.write_table(groups)
            offset += samples.num_rows
            del samples, groups
    for problem_id, info in extra_problems.items():
        problems.append({"problem_id": problem_id, "prompt": info.prompt, "style": info.style,
                         "split": split_of(problem_id, config.split_seed, config.split_fractions),
                         "difficulty": None, "pass_rate": None, "rating": info.rating,
                         "n_samples": 0, "n_accepted": 0, "n_groups": 0, "tests": info.tests,
                         "entry_point": info.entry_point, "test": info.test,
                         "canonical_solution": info.canonical_solution,
                         "time_limit_ms": info.time_limit_ms,
                         "memory_limit_kb": info.memory_limit_kb, "name": info.name,
                         "dataset": info.dataset})
    problems.sort(key=lambda p: p["problem_id"])
    buckets = difficulty_buckets({p["problem_id"]: p["pass_rate"] for p in problems},
                                 {p["problem_id"]: p["rating"] for p in problems},
                                 config.difficulty_from, config.difficulty_quantiles)
    for problem in problems:
        problem["difficulty"] = buckets.get(problem["problem_id"])
    _atomic_write_table(pa.Table.from_pylist(problems, schema=schemas().problems),
                        out / "problems.parquet")
    os.replace(samples_tmp, out / "samples.parquet")
    os.replace(groups_tmp, out / "groups.parquet")

    splits = {name: {"problems": 0, "samples": 0, "groups": 0} for name in SPLITS}
    for problem in problems:
        split = splits[problem["split"]]
        split["problems"] += 1
        split["samples"] += problem["n_samples"]
        split["groups"] += problem["n_groups"]
    elapsed = time.monotonic() - started
    low, high = _reward_range(config.reward)
    grouped = {k.split("/", 1)[1]: v for k, v in counts.items() if k.startswith("groups/")}
    manifest = {
        "ocrl_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "sources": [source],
        "config": config.to_dict(),
        "counts": {
            "rows_read": counts.get("rows_read", 0),
            "samples": offset,
            "groups": groups_total,
            "problems": len(problems),
            "dropped": _section(counts, "dropped/"),
            "fixed": _section(counts, "fixed/"),
            "problems_detail": _section(counts, "problems/"),
            "group_building": grouped,
            "samples_outside_any_group_size": counts.get("samples/outside_any_group_size", 0),
            "statuses": _section(counts, "status/"),
        },
        "splits": splits,
        "difficulty": dict(Counter(p["difficulty"] for p in problems if p["difficulty"])),
        "reward_histogram": {"edges": [low + (high - low) * i / HISTOGRAM_BINS
                                       for i in range(HISTOGRAM_BINS + 1)], "counts": histogram},
        "reward_mean": reward_sum / offset if offset else None,
        "shards": len(tasks),
        "shards_resumed": resumed,
        "elapsed_s": round(elapsed, 3),
        "rows_per_s": round(counts.get("rows_read", 0) / elapsed, 1) if elapsed else None,
    }
    # Written last: a directory with a manifest is a complete dataset.
    _atomic_write_json(manifest, out / "manifest.json", indent=2)
    if not config.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return manifest


def _section(counts: Counter, prefix: str) -> dict[str, int]:
    return {k[len(prefix):]: v for k, v in sorted(counts.items()) if k.startswith(prefix)}

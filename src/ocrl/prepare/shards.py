"""Shards: runs of whole problems, each processed by one worker and written atomically with the
config's fingerprint and its inputs' sizes and mtimes, so a killed run resumes with the shards
still to do."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from ocrl.atomic import write_json_atomic, write_parquet_atomic
from ocrl.grouping import SPLITS
from ocrl.prepare.config import PrepareConfig, worker_count
from ocrl.prepare.problem import ProblemResult, process_problem
from ocrl.prepare.schema import HISTOGRAM_BINS, SAMPLE_COLUMNS, ShardTask, schemas
from ocrl.prepare.sources.codenet import codenet_problems
from ocrl.prepare.sources.table import table_problems

WORK_DIR = ".prepare-work"


def shard_paths(work: Path, index: int) -> tuple[Path, Path, Path, Path]:
    """samples, groups, summary and ungrouped-samples files of one shard."""
    stem = work / f"shard-{index:05d}"
    return (stem.with_suffix(".samples.parquet"), stem.with_suffix(".groups.parquet"),
            stem.with_suffix(".json"), stem.with_suffix(".ungrouped.parquet"))


def _stat(path: str) -> list[int]:
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


class _SplitRows:
    """A shard's rows of one split: samples are written split by split, so that every Parquet
    row group of samples.parquet holds one split and a reader of one split skips the rest."""

    def __init__(self) -> None:
        self.samples: dict[str, list] = {name: [] for name in SAMPLE_COLUMNS}
        self.groups: list[dict] = []

    def add(self, result: ProblemResult) -> None:
        offset = len(self.samples["problem_id"])
        for name, values in result.samples.items():
            self.samples[name].extend(values)
        for group in result.groups:
            group["sample_ids"] = [offset + i for i in group["sample_ids"]]
            self.groups.append(group)


def run_shard(task: ShardTask, config: PrepareConfig, work: str, fingerprint: str) -> dict:
    """Process one shard and write its files; returns the shard summary."""
    import pyarrow as pa

    samples_path, groups_path, summary_path, ungrouped_path = shard_paths(Path(work), task.index)
    # A finished shard is reused only for the same config and the same input files.
    inputs = [[path, *_stat(path)] for path in task.inputs]
    if config.resume and summary_path.is_file():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        if summary.get("fingerprint") == fingerprint and summary.get("inputs") == inputs \
                and samples_path.is_file() and groups_path.is_file() \
                and (ungrouped_path.is_file() or not config.keep_ungrouped):
            summary["resumed"] = True
            return summary
    counts: Counter = Counter()
    histogram = [0] * HISTOGRAM_BINS
    by_split = {name: _SplitRows() for name in SPLITS}
    ungrouped: dict[str, list] = {name: [] for name in SAMPLE_COLUMNS}
    problems: list[dict] = []
    if task.kind == "codenet":
        problem_stream = codenet_problems(task, config, counts)
    else:
        problem_stream = table_problems(task)
    for info, submissions in problem_stream:
        result = process_problem(info, submissions, config)
        split = result.problem["split"] if result.problem else SPLITS[0]
        by_split[split].add(result)
        for name, values in result.ungrouped.items():
            ungrouped[name].extend(values)
        if result.problem is not None:
            problems.append(result.problem)
        counts.update(result.counts)
        histogram = [a + b for a, b in zip(histogram, result.histogram)]
    # One table in split order; group ids shifted to their rows in it.
    samples = {name: [] for name in SAMPLE_COLUMNS}
    groups: list[dict] = []
    split_rows = {}
    for name, rows in by_split.items():
        offset = len(samples["problem_id"])
        for column, values in rows.samples.items():
            samples[column].extend(values)
        for group in rows.groups:
            group["sample_ids"] = [offset + i for i in group["sample_ids"]]
            groups.append(group)
        split_rows[name] = len(rows.samples["problem_id"])
    write_parquet_atomic(samples_path, pa.Table.from_pydict(
        samples, schema=schemas().shard_samples), compression="zstd")
    write_parquet_atomic(groups_path, pa.Table.from_pylist(groups, schema=schemas().groups),
                         compression="zstd")
    if config.keep_ungrouped:
        write_parquet_atomic(ungrouped_path, pa.Table.from_pydict(
            ungrouped, schema=schemas().shard_samples), compression="zstd")
    summary = {"fingerprint": fingerprint, "inputs": inputs, "index": task.index,
               "counts": dict(counts), "histogram": histogram, "problems": problems,
               "samples": len(samples["problem_id"]), "split_rows": split_rows,
               "groups": len(groups)}
    write_json_atomic(summary_path, summary, indent=None)
    summary["resumed"] = False
    return summary


def _run_shard_star(args) -> dict:
    return run_shard(*args)


def run_shards(tasks: list[ShardTask], config: PrepareConfig, work: Path,
               fingerprint: str) -> Iterator[dict]:
    """Shard summaries in task order, computed by ``config.workers`` processes."""
    from tqdm import tqdm

    workers = worker_count(config)
    args = [(task, config, str(work), fingerprint) for task in tasks]
    bar = tqdm(total=len(tasks), desc="preparing", unit="shard", disable=not config.progress)
    rows = 0
    started = time.monotonic()
    pool = None
    try:
        if workers <= 1 or len(tasks) <= 1:
            summaries = map(_run_shard_star, args)
        else:
            import multiprocessing

            # spawn: forking a parent that holds Arrow's thread pools is not safe.
            pool = multiprocessing.get_context("spawn").Pool(min(workers, len(tasks)))
            # In order, so the caller merges each shard while the workers go on.
            summaries = pool.imap(_run_shard_star, args)
        for summary in summaries:
            rows += summary["counts"].get("rows_read", 0)
            bar.set_postfix(rows=rows, rows_s=int(rows / max(1e-9, time.monotonic() - started)))
            bar.update(1)
            yield summary
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()

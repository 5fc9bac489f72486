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
from ocrl.prepare.config import PrepareConfig, worker_count
from ocrl.prepare.problem import ProblemResult, process_problem
from ocrl.prepare.schema import HISTOGRAM_BINS, SAMPLE_COLUMNS, ShardTask, schemas
from ocrl.prepare.sources.codenet import codenet_problems
from ocrl.prepare.sources.table import table_problems

WORK_DIR = ".prepare-work"


def shard_paths(work: Path, index: int) -> tuple[Path, Path, Path]:
    stem = work / f"shard-{index:05d}"
    return (stem.with_suffix(".samples.parquet"), stem.with_suffix(".groups.parquet"),
            stem.with_suffix(".json"))


def _stat(path: str) -> list[int]:
    stat = os.stat(path)
    return [stat.st_size, stat.st_mtime_ns]


def run_shard(task: ShardTask, config: PrepareConfig, work: str, fingerprint: str) -> dict:
    """Process one shard and write its three files; returns the shard summary."""
    import pyarrow as pa

    samples_path, groups_path, summary_path = shard_paths(Path(work), task.index)
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
        problem_stream = codenet_problems(task, config, counts)
    else:
        problem_stream = table_problems(task)
    for info, submissions in problem_stream:
        collect(process_problem(info, submissions, config))
    write_parquet_atomic(samples_path, pa.Table.from_pydict(
        sample_columns, schema=schemas().shard_samples), compression="zstd")
    write_parquet_atomic(groups_path, pa.Table.from_pylist(group_rows, schema=schemas().groups),
                         compression="zstd")
    summary = {"fingerprint": fingerprint, "inputs": inputs, "index": task.index,
               "counts": dict(counts),
               "histogram": histogram, "problems": problems,
               "samples": len(sample_columns["problem_id"]), "groups": len(group_rows)}
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

"""Finished shards -> samples.parquet, groups.parquet, problems.parquet and the manifest."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ocrl import __version__
from ocrl.atomic import write_json_atomic, write_parquet_atomic
from ocrl.grouping import SPLITS, difficulty_buckets, split_of
from ocrl.prepare.config import PrepareConfig
from ocrl.prepare.schema import HISTOGRAM_BINS, ProblemInfo, reward_range, schemas
from ocrl.prepare.shards import shard_paths


def _shift_list(column, offset: int):
    """A list<int64> column with ``offset`` added to every element."""
    import pyarrow as pa
    import pyarrow.compute as pc

    chunks = []
    shift = pa.scalar(offset, pa.int64())
    for chunk in column.chunks:
        chunks.append(pa.ListArray.from_arrays(chunk.offsets, pc.add(chunk.values, shift)))
    return pa.chunked_array(chunks, type=pa.list_(pa.int64()))


@dataclass
class Merged:
    """What the merge saw: totals for the manifest."""

    counts: Counter = field(default_factory=Counter)
    histogram: list[int] = field(default_factory=lambda: [0] * HISTOGRAM_BINS)
    problems: list[dict] = field(default_factory=list)
    samples: int = 0
    groups: int = 0
    reward_sum: float = 0.0
    resumed: int = 0
    split_samples: Counter = field(default_factory=Counter)


def merge_shards(summaries: Iterable[dict], work: Path, out: Path,
                 keep_ungrouped: bool = False) -> Merged:
    """Append each shard's samples and groups as it arrives, in shard order: sample ids are
    row numbers of samples.parquet, and each shard's split is its own row group (a reader of
    one split skips the others' by their statistics). Writes ``*.parquet.tmp``;
    `write_dataset` moves them."""
    import contextlib

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    merged = Merged()
    with contextlib.ExitStack() as stack:
        sample_writer = stack.enter_context(pq.ParquetWriter(
            out / "samples.parquet.tmp", schemas().samples, compression="zstd"))
        group_writer = stack.enter_context(pq.ParquetWriter(
            out / "groups.parquet.tmp", schemas().groups, compression="zstd"))
        ungrouped_writer = stack.enter_context(pq.ParquetWriter(
            out / "ungrouped.parquet.tmp", schemas().shard_samples,
            compression="zstd")) if keep_ungrouped else None
        for summary in summaries:
            merged.resumed += bool(summary.get("resumed"))
            merged.groups += summary["groups"]
            merged.counts.update(summary["counts"])
            merged.histogram = [a + b for a, b in zip(merged.histogram, summary["histogram"])]
            merged.problems.extend(summary["problems"])
            samples_path, groups_path, _, ungrouped_path = shard_paths(work, summary["index"])
            samples = pq.read_table(samples_path, schema=schemas().shard_samples)
            offset = merged.samples
            ids = pa.array(range(offset, offset + samples.num_rows), pa.int64())
            samples = samples.add_column(0, "sample_id", ids)
            start = 0
            for split in SPLITS:
                rows = summary["split_rows"][split]
                if rows:
                    sample_writer.write_table(samples.slice(start, rows))
                    merged.split_samples[split] += rows
                start += rows
            merged.reward_sum += pc.sum(samples.column("reward")).as_py() or 0.0
            groups = pq.read_table(groups_path, schema=schemas().groups)
            if groups.num_rows:
                groups = groups.set_column(3, "sample_ids",
                                           _shift_list(groups.column("sample_ids"), offset))
                group_writer.write_table(groups)
            if ungrouped_writer is not None:
                ungrouped_writer.write_table(pq.read_table(ungrouped_path,
                                                           schema=schemas().shard_samples))
            merged.samples += samples.num_rows
            del samples, groups
    return merged


def _problem_row(info: ProblemInfo, config: PrepareConfig) -> dict:
    """problems.parquet row of a problem without samples (evaluation still needs it)."""
    cluster = info.cluster_id or info.problem_id
    return {"problem_id": info.problem_id, "cluster_id": cluster, "prompt": info.prompt,
            "style": info.style,
            "split": split_of(cluster, config.split_seed, config.split_fractions),
            "difficulty": None, "pass_rate": None, "rating": info.rating,
            "n_samples": 0, "n_accepted": 0, "n_groups": 0, "n_in_groups": 0,
            "tests": info.tests, "entry_point": info.entry_point, "test": info.test,
            "canonical_solution": info.canonical_solution, "time_limit_ms": info.time_limit_ms,
            "memory_limit_kb": info.memory_limit_kb, "name": info.name, "dataset": info.dataset}


def write_dataset(merged: Merged, extra_problems: dict[str, ProblemInfo],
                  config: PrepareConfig, out: Path) -> None:
    """problems.parquet with difficulty buckets, then the merged files moved into place."""
    import pyarrow as pa

    problems = merged.problems
    problems.extend(_problem_row(info, config) for info in extra_problems.values())
    problems.sort(key=lambda p: p["problem_id"])
    buckets = difficulty_buckets({p["problem_id"]: p["pass_rate"] for p in problems},
                                 {p["problem_id"]: p["rating"] for p in problems},
                                 config.difficulty_from, config.difficulty_quantiles)
    for problem in problems:
        problem["difficulty"] = buckets.get(problem["problem_id"])
    write_parquet_atomic(out / "problems.parquet",
                         pa.Table.from_pylist(problems, schema=schemas().problems),
                         compression="zstd")
    names = ["samples", "groups"] + (["ungrouped"] if config.keep_ungrouped else [])
    for name in names:
        os.replace(out / f"{name}.parquet.tmp", out / f"{name}.parquet")
    if not config.keep_ungrouped:
        (out / "ungrouped.parquet").unlink(missing_ok=True)  # an earlier run's


def _section(counts: Counter, prefix: str) -> dict[str, int]:
    return {k[len(prefix):]: v for k, v in sorted(counts.items()) if k.startswith(prefix)}


def build_manifest(merged: Merged, source: dict, config: PrepareConfig, shards: int,
                   elapsed: float) -> dict:
    counts, problems = merged.counts, merged.problems
    splits = {name: {"problems": 0, "samples": 0, "groups": 0} for name in SPLITS}
    for problem in problems:
        split = splits[problem["split"]]
        split["problems"] += 1
        split["groups"] += problem["n_groups"]
    for name, rows in merged.split_samples.items():
        splits[name]["samples"] = rows
    low, high = reward_range(config.reward)
    grouped = {k.split("/", 1)[1]: v for k, v in counts.items() if k.startswith("groups/")}
    return {
        "ocrl_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "sources": [source],
        "config": config.to_dict(),
        "counts": {
            "rows_read": counts.get("rows_read", 0),
            "samples": merged.samples,
            "groups": merged.groups,
            "problems": len(problems),
            "dropped": _section(counts, "dropped/"),
            "fixed": _section(counts, "fixed/"),
            "problems_detail": _section(counts, "problems/"),
            "group_building": grouped,
            "samples_deduplicated": counts.get("samples/deduplicated", 0),
            "samples_ungrouped": counts.get("samples/ungrouped", 0),
            "samples_outside_any_group_size": counts.get("samples/outside_any_group_size", 0),
            "dedup": _section(counts, "dedup/"),
            "statuses": _section(counts, "status/"),
        },
        "splits": splits,
        "difficulty": dict(Counter(p["difficulty"] for p in problems if p["difficulty"])),
        "reward_histogram": {"edges": [low + (high - low) * i / HISTOGRAM_BINS
                                       for i in range(HISTOGRAM_BINS + 1)],
                             "counts": merged.histogram},
        "reward_mean": merged.reward_sum / merged.samples if merged.samples else None,
        "shards": shards,
        "shards_resumed": merged.resumed,
        "elapsed_s": round(elapsed, 3),
        "rows_per_s": round(counts.get("rows_read", 0) / elapsed, 1) if elapsed else None,
    }


def write_manifest(manifest: dict, out: Path) -> None:
    # Written last: a directory with a manifest is a complete dataset.
    write_json_atomic(out / "manifest.json", manifest, indent=2)

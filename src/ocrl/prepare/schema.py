"""What flows between the stages of `ocrl prepare`: the Arrow schemas of the dataset files, the
per-problem facts (`ProblemInfo`), a shard of work (`ShardTask`) and the reward histogram."""

from __future__ import annotations

import functools
import types
from dataclasses import dataclass, field

from ocrl.rewards import RewardConfig

HISTOGRAM_BINS = 20
# No prompt here: it is a problem's, stored once in problems.parquet (the loaders join it).
SAMPLE_COLUMNS = ("problem_id", "split", "completion", "status", "interpreter", "functional", "syntactic", "runtime", "custom", "reward", "cpu_time_ms",
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
        ("problem_id", pa.string()), ("cluster_id", pa.string()), ("prompt", pa.string()),
        ("style", pa.string()), ("split", pa.string()), ("difficulty", pa.string()),
        ("pass_rate", pa.float64()), ("rating", pa.float64()), ("n_samples", pa.int64()),
        ("n_accepted", pa.int64()), ("n_groups", pa.int64()), ("n_in_groups", pa.int64()),
        ("tests", tests), ("entry_point", pa.string()),
        ("test", pa.string()), ("canonical_solution", pa.string()),
        ("time_limit_ms", pa.int64()), ("memory_limit_kb", pa.int64()), ("name", pa.string()),
        ("dataset", pa.string())])
    partition = pa.schema([("problem_id", pa.string()), ("completion", pa.string()),
                           ("status", pa.string()), ("cpu_time_ms", pa.float64()),
                           ("memory_kb", pa.float64()), ("tests_passed", pa.int64()),
                           ("tests_total", pa.int64()), ("origin_id", pa.string()),
                           ("source", pa.string()), ("interpreter", pa.string())])
    return types.SimpleNamespace(shard_samples=pa.schema(sample_fields),
                                 samples=pa.schema([("sample_id", pa.int64())] + sample_fields),
                                 groups=groups, problems=problems, partition=partition)


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
    cluster_id: str | None = None  # twins share one (see twins.py); None: the problem's own id


@dataclass
class ShardTask:
    index: int
    kind: str                      # "codenet" or "table"
    inputs: list[str]              # metadata CSVs, or one partition Parquet
    problems: dict[str, ProblemInfo]
    root: str = ""
    statements: str | None = None
    source_name: str = ""
    clusters: dict[str, str] = field(default_factory=dict)  # codenet: problem id -> cluster id


def reward_range(config: RewardConfig) -> tuple[float, float]:
    weights = (config.functional_weight, config.syntactic_weight, config.runtime_weight)
    low, high = sum(min(0.0, w) for w in weights), sum(max(0.0, w) for w in weights)
    return low, high if high > low else low + 1.0


def histogram(rewards: list[float], config: RewardConfig) -> list[int]:
    low, high = reward_range(config)
    counts = [0] * HISTOGRAM_BINS
    for r in rewards:
        index = int((r - low) / (high - low) * HISTOGRAM_BINS)
        counts[min(HISTOGRAM_BINS - 1, max(0, index))] += 1
    return counts

"""`PrepareConfig`: every option of `ocrl prepare`; YAML keys and CLI flags share its names."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ocrl import __version__
from ocrl.config_files import reject_unknown_keys
from ocrl.errors import InputError
from ocrl.prepare.dedup import INTERPRETER_RULES as INTERPRETER_DEDUP
from ocrl.prepare.twins import METHODS as TWIN_METHODS
from ocrl.rewards import RewardConfig

SOURCES = ("codenet", "labelled", "table")
TABLE_FIELDS = ("problem_id", "completion", "status", "passed", "prompt", "style", "cpu_time_ms",
                "memory_kb", "tests_passed", "tests_total", "origin_id", "source", "interpreter")
MIXED_ON = ("functional", "reward")

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
    # What must differ inside a group for it to count as mixed (and what the deal stratifies
    # on): "functional" (the functional part; all-Accepted groups differing only in runtime
    # are zero-variance) or "reward" (the total).
    mixed_on: str = "functional"
    dedup: bool = True
    # One copy per program ("prefer_cpython": the CPython verdict wins over PyPy's) or one per
    # program and interpreter ("per_interpreter").
    interpreter_dedup: str = "prefer_cpython"
    # Twin problems share a split: "auto" (CodeNet's derived/duplicates list, else statement
    # similarity), "derived", "statements" or "none".
    twins: str = "auto"
    twin_similarity: float = 0.9
    # Also write the deduplicated samples that are in no kept group (ungrouped.parquet).
    keep_ungrouped: bool = False
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
        for name, allowed in (("mixed_on", MIXED_ON), ("interpreter_dedup", INTERPRETER_DEDUP),
                              ("twins", TWIN_METHODS)):
            if getattr(self, name) not in allowed:
                raise InputError(f"must be one of {', '.join(allowed)}, got "
                                 f"{getattr(self, name)!r}", field=name)
        if not 0 < self.twin_similarity <= 1:
            raise InputError("a Jaccard similarity in (0, 1]", field="twin_similarity")
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


def fingerprint(config: PrepareConfig) -> str:
    """Hash of everything that decides the output (options and the inputs' size and mtime):
    finished shards are reused only under the same fingerprint."""
    values = {k: v for k, v in config.to_dict().items() if k not in _NOT_FINGERPRINTED}
    for key in ("path", "problems", "statements"):
        if values.get(key) and Path(values[key]).exists():
            stat = Path(values[key]).stat()
            values[f"{key}_stat"] = [stat.st_size, stat.st_mtime_ns]
    values["version"] = __version__
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def worker_count(config: PrepareConfig) -> int:
    """Processes to use: the configured number, or every core this process may run on."""
    if config.workers:
        return config.workers
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1

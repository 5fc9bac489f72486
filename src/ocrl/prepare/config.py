"""`PrepareConfig`: every option of `ocrl prepare`; YAML keys and CLI flags share its names."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ocrl import __version__
from ocrl.config_files import option as _option
from ocrl.config_files import reject_unknown_keys
from ocrl.errors import InputError
from ocrl.prepare.dedup import INTERPRETER_RULES as INTERPRETER_DEDUP
from ocrl.prepare.twins import METHODS as TWIN_METHODS
from ocrl.rewards import RewardConfig

SOURCES = ("codenet", "labelled", "table")
TABLE_FIELDS = ("problem_id", "completion", "status", "passed", "prompt", "style", "cpu_time_ms",
                "memory_kb", "tests_passed", "tests_total", "origin_id", "source", "interpreter")
MIXED_ON = ("functional", "reward")

# Shape of the shard files: a work directory of another shape is never resumed.
_SHARD_LAYOUT = 2
# Options that change how the work is done, not what it produces.
_NOT_FINGERPRINTED = {"workers", "out", "resume", "keep_work", "progress"}


@dataclass
class PrepareConfig:
    """Everything `ocrl prepare` needs; YAML keys and CLI flags share these names."""

    source: str = _option("codenet", "codenet (a Project CodeNet tree), labelled (`ocrl label` "
                          "Parquet) or table (JSONL/Parquet with --columns).")
    path: str = _option("", "The source: CodeNet root directory, or the table file.")
    out: str = _option("", "Dataset directory to write.")
    problems: str | None = _option(None, "Problems JSONL (labelled/table): prompts and tests.")
    statements: str | None = _option(None, "CodeNet statements directory or tarball (default: "
                                           "PATH/problem_descriptions).")
    # A mapping in YAML; FIELD=COLUMN items on the command line.
    columns: dict[str, str] = _option(dict, "Column mapping FIELD=COLUMN ..., fields: " +
                                      ", ".join(TABLE_FIELDS) + " (status or passed).")
    source_name: str | None = _option(None, "Recorded in samples.source (default: "
                                            "codenet:<language> or the file name).")
    group_size: str = _option("4", "Samples per group: an integer, 'all' (one group per "
                                   "problem) or 'variable' (min..max_group_size).")
    min_group_size: int = _option(2, "Smallest group with --group-size variable.")
    max_group_size: int = _option(8, "Largest group with --group-size variable.")
    max_groups_per_problem: int = _option(16, "Cap on groups per problem (0: none).")
    prefer_mixed: bool = _option(True, "Deal samples so groups mix good and bad ones, and keep "
                                       "mixed groups first.")
    drop_zero_variance: bool = _option(True, "Drop groups that are not mixed (counted).")
    mixed_on: str = _option("functional", "What must differ in a group for it to be mixed (and "
                                          "what the deal stratifies on): functional (the "
                                          "functional part: all-Accepted groups differing only "
                                          "in runtime are not mixed) or reward (the total).")
    dedup: bool = _option(True, "Keep one copy of programs equal but for comments and layout "
                                "(same compiled code, else same tokens, indentation kept).")
    interpreter_dedup: str = _option("prefer_cpython", "prefer_cpython (one copy per program, "
                                     "the CPython verdict over PyPy's) or per_interpreter (one "
                                     "per program and interpreter).")
    twins: str = _option("auto", "Twin problems share a split: auto (CodeNet's "
                                 "derived/duplicates list, else statement similarity), derived, "
                                 "statements or none.")
    twin_similarity: float = _option(0.9, "Jaccard similarity of statement word 3-shingles "
                                          "from which two problems are twins.")
    keep_ungrouped: bool = _option(False, "Also write the deduplicated samples in no kept group "
                                          "(ungrouped.parquet).")
    require_statement: bool = _option(True, "codenet: drop problems without a statement (else "
                                            "the name is the prompt).")
    seed: int = _option(0, "Seed of group sampling.")
    split_seed: int = _option(0, "Seed of the split hash (of each twin cluster).")
    split_fractions: list[float] = _option(lambda: [0.8, 0.1, 0.1], "train validation test "
                                           "fractions.")
    difficulty_from: str = _option("pass_rate", "pass_rate or rating (CodeNet's, where present).")
    difficulty_quantiles: list[float] = _option(lambda: [1 / 3, 2 / 3], "Two quantiles cutting "
                                                "easy/medium/hard.")
    shard_rows: int = _option(20000, "Rows per unit of parallel, resumable work.")
    workers: int = _option(0, "Processes (0: all cores).")
    resume: bool = _option(True, "Reuse shards finished by an earlier run with the same config.")
    keep_work: bool = _option(False, "Keep the per-shard work directory after merging.")
    progress: bool = _option(True, "Show a progress bar.")
    # Flags: --reward-<field>; `reward.functions` (mappings) is set in YAML or Python only.
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
    values["shard_layout"] = _SHARD_LAYOUT
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def worker_count(config: PrepareConfig) -> int:
    """Processes to use: the configured number, or every core this process may run on."""
    if config.workers:
        return config.workers
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1

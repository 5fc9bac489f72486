"""The reward schema: r = w_f * functional + w_s * syntactic + w_t * runtime.

Each part is a pure function with a hand-checked unit test; ``score_problem`` applies them to
the samples of one problem (the runtime part compares a sample with the other accepted samples
of the same problem, so it needs them all).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ocrl.codenet.python3 import compiles
from ocrl.config_files import reject_unknown_keys
from ocrl.errors import InputError
from ocrl.sandbox.verdict import ACCEPTED

RUNTIME_MODES = ("rank", "time_limit", "none")


@dataclass
class RewardConfig:
    """Weights and options of the reward; defaults are a starting point to ablate."""

    functional_weight: float = 1.0
    syntactic_weight: float = 0.1
    runtime_weight: float = 0.1
    # Functional part of a rejected sample = tests passed / total where the judge says so.
    partial_credit: bool = False
    # "rank": 1 - rank/(n-1) among the problem's accepted samples (fastest 1, slowest 0);
    # "time_limit": 1 - cpu_time/time_limit; "none": no runtime term.
    runtime: str = "rank"

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIME_MODES:
            raise InputError(f"must be one of {', '.join(RUNTIME_MODES)}, got {self.runtime!r}",
                             field="reward.runtime")

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, path: str | None = None) -> RewardConfig:
        reject_unknown_keys(values, cls, path=path, what="reward option", field_prefix="reward.")
        return cls(**values)

    @classmethod
    def from_yaml(cls, path: str) -> RewardConfig:
        """Read a YAML file holding the options at top level or under ``reward:``."""
        from ocrl.config_files import read_yaml_mapping

        data = read_yaml_mapping(path)
        return cls.from_dict(data.get("reward", data), path=path)


def functional_reward(status: str, tests_passed: int | None = None,
                      tests_total: int | None = None, partial_credit: bool = False) -> float:
    """1 for Accepted; else 0, or tests_passed / tests_total with partial credit."""
    if status == ACCEPTED:
        return 1.0
    if partial_credit and tests_passed is not None and tests_total:
        return max(0.0, min(1.0, tests_passed / tests_total))
    return 0.0


def parses(code: str) -> bool:
    """Whether the code compiles as Python, checked as the interpreter does before running (a
    misplaced ``from __future__`` fails here as it fails the judge); nothing is executed."""
    return compiles(code)


def syntactic_reward(code: str) -> float:
    return 1.0 if parses(code) else 0.0


def runtime_rewards(cpu_times_ms: Sequence[float | None], accepted: Sequence[bool],
                    mode: str = "rank", time_limit_ms: float | None = None) -> list[float]:
    """Runtime part for each sample of one problem; 0 for rejected samples and for accepted
    ones whose cpu time is unknown.

    rank: accepted samples with a known time are ranked fastest first, ties sharing their mean
    rank; reward = 1 - rank / (n - 1), and 1 for a lone accepted sample.
    time_limit: reward = clip(1 - cpu_time / time_limit, 0, 1); 0 without a limit.
    """
    if len(cpu_times_ms) != len(accepted):
        raise ValueError("cpu_times_ms and accepted differ in length")
    rewards = [0.0] * len(cpu_times_ms)
    timed = [i for i, (t, ok) in enumerate(zip(cpu_times_ms, accepted)) if ok and t is not None]
    if mode == "none" or not timed:
        return rewards
    if mode == "time_limit":
        if not time_limit_ms or time_limit_ms <= 0:
            return rewards
        for i in timed:
            rewards[i] = max(0.0, min(1.0, 1.0 - cpu_times_ms[i] / time_limit_ms))
        return rewards
    if mode != "rank":
        raise ValueError(f"unknown runtime mode {mode!r}")
    if len(timed) == 1:
        rewards[timed[0]] = 1.0
        return rewards
    order = sorted(timed, key=lambda i: cpu_times_ms[i])
    times = [cpu_times_ms[i] for i in order]
    position = 0
    while position < len(order):
        end = position
        while end + 1 < len(order) and times[end + 1] == times[position]:
            end += 1
        mean_rank = (position + end) / 2
        for i in order[position:end + 1]:
            rewards[i] = 1.0 - mean_rank / (len(order) - 1)
        position = end + 1
    return rewards


def total_reward(functional: float, syntactic: float, runtime: float,
                 config: RewardConfig) -> float:
    return (config.functional_weight * functional + config.syntactic_weight * syntactic
            + config.runtime_weight * runtime)


@dataclass
class RewardParts:
    functional: float
    syntactic: float
    runtime: float
    reward: float


def score_problem(statuses: Sequence[str], programs_parse: Sequence[bool],
                  cpu_times_ms: Sequence[float | None], config: RewardConfig,
                  tests_passed: Sequence[int | None] | None = None,
                  tests_total: Sequence[int | None] | None = None,
                  time_limit_ms: float | None = None) -> list[RewardParts]:
    """Reward parts of every sample of one problem."""
    n = len(statuses)
    tests_passed = tests_passed or [None] * n
    tests_total = tests_total or [None] * n
    accepted = [s == ACCEPTED for s in statuses]
    runtime = runtime_rewards(cpu_times_ms, accepted, config.runtime, time_limit_ms)
    parts = []
    for i in range(n):
        f = functional_reward(statuses[i], tests_passed[i], tests_total[i], config.partial_credit)
        s = 1.0 if programs_parse[i] else 0.0
        parts.append(RewardParts(f, s, runtime[i], total_reward(f, s, runtime[i], config)))
    return parts

"""The reward schema: r = w_f * functional + w_s * syntactic + w_t * runtime + sum_k w_k * f_k.

Each built-in part is a pure function with a hand-checked unit test; ``score_problem`` applies
them to the samples of one problem (the runtime part compares a sample with the other accepted
samples of the same problem, so it needs them all). The f_k are the user's own reward
functions, as TRL takes them: ``f(prompts, completions, verdicts, **columns) -> list[float]``,
one call per problem, given by import path (``"my_pkg.rewards:brevity"``, usable from YAML)
or as a callable, each with its weight (`RewardConfig.functions`).
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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
    # The user's reward terms: [{"function": "pkg.module:name" or a callable, "weight": w}].
    functions: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.runtime not in RUNTIME_MODES:
            raise InputError(f"must be one of {', '.join(RUNTIME_MODES)}, got {self.runtime!r}",
                             field="reward.runtime")
        reward_functions(self)  # a bad import path fails here, before any work

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, path: str | None = None) -> RewardConfig:
        reject_unknown_keys(values, cls, path=path, what="reward option", field_prefix="reward.")
        try:
            return cls(**values)
        except InputError as exc:
            if path is None or exc.path is not None:
                raise
            raise InputError(str(exc), path=path) from None

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


RewardFunction = Callable[..., Sequence[float]]


def is_finite_number(value: Any) -> bool:
    """A reward or a weight: an int or float (not a bool), neither NaN nor infinite."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def _import_function(path: str, where: str) -> RewardFunction:
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise InputError(f"must be 'package.module:function', got {path!r}", field=where)
    try:
        value = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"cannot import {path!r}: {exc}", field=where) from None
    if not callable(value):
        raise InputError(f"{path!r} is not callable", field=where)
    return value


def reward_functions(config: RewardConfig) -> list[tuple[str, RewardFunction, float]]:
    """(name, function, weight) of each user reward term, imported where given by path."""
    out = []
    for index, entry in enumerate(config.functions):
        where = f"reward.functions[{index}]"
        if not isinstance(entry, dict) or "function" not in entry:
            raise InputError("needs a 'function' (import path or callable) and a 'weight'",
                             field=where)
        unknown = set(entry) - {"function", "weight", "name"}
        if unknown:
            raise InputError(f"unknown key(s) {sorted(unknown)}", field=where)
        weight = entry.get("weight", 1.0)
        if not is_finite_number(weight):
            raise InputError(f"weight must be a finite number, got {weight!r}",
                             field=f"{where}.weight")
        function = entry["function"]
        if isinstance(function, str):
            function = _import_function(function, f"{where}.function")
        elif not callable(function):
            raise InputError("must be an import path or a callable", field=f"{where}.function")
        name = entry.get("name") or getattr(function, "__name__", f"function_{index}")
        out.append((str(name), function, float(weight)))
    return out


def custom_rewards(config: RewardConfig, prompts: Sequence[str], completions: Sequence[str],
                   verdicts: Sequence[dict[str, Any]], **columns: Sequence[Any]) -> list[float]:
    """The weighted sum of the user's reward terms for each sample (0 without any).

    Each function gets the samples' prompts, completions, verdicts (dicts with status, passed,
    cpu_time_ms, memory_kb, tests_passed, tests_total) and any other columns, and must return
    one finite number per sample."""
    totals = [0.0] * len(completions)
    for name, function, weight in reward_functions(config):
        values = list(function(list(prompts), list(completions), list(verdicts), **columns))
        if len(values) != len(completions):
            raise InputError(f"returned {len(values)} rewards for {len(completions)} samples",
                             field=f"reward function {name}")
        for index, value in enumerate(values):
            if not is_finite_number(value):
                raise InputError(f"returned {value!r} for sample {index}: rewards must be "
                                 "finite numbers", field=f"reward function {name}")
            totals[index] += weight * float(value)
    return totals


def total_reward(functional: float, syntactic: float, runtime: float,
                 config: RewardConfig, custom: float = 0.0) -> float:
    return (config.functional_weight * functional + config.syntactic_weight * syntactic
            + config.runtime_weight * runtime + custom)


@dataclass
class RewardParts:
    functional: float
    syntactic: float
    runtime: float
    reward: float
    custom: float = 0.0  # the weighted sum of the user's terms


def score_problem(statuses: Sequence[str], programs_parse: Sequence[bool],
                  cpu_times_ms: Sequence[float | None], config: RewardConfig,
                  tests_passed: Sequence[int | None] | None = None,
                  tests_total: Sequence[int | None] | None = None,
                  time_limit_ms: float | None = None,
                  custom: Sequence[float] | None = None) -> list[RewardParts]:
    """Reward parts of every sample of one problem; ``custom``: the user's terms, already
    weighted and summed (`custom_rewards`)."""
    n = len(statuses)
    custom = custom or [0.0] * n
    tests_passed = tests_passed or [None] * n
    tests_total = tests_total or [None] * n
    accepted = [s == ACCEPTED for s in statuses]
    runtime = runtime_rewards(cpu_times_ms, accepted, config.runtime, time_limit_ms)
    parts = []
    for i in range(n):
        f = functional_reward(statuses[i], tests_passed[i], tests_total[i], config.partial_credit)
        s = 1.0 if programs_parse[i] else 0.0
        parts.append(RewardParts(f, s, runtime[i],
                                 total_reward(f, s, runtime[i], config, custom[i]), custom[i]))
    return parts

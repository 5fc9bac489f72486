"""One problem's judged samples -> deduplicated, scored, split and grouped. Runs in the workers.

Problem statistics (``n_samples``, ``n_accepted``, ``pass_rate``) count the deduplicated
samples: a program submitted ten times is one program, and its copies would pull the pass rate
towards whatever was resubmitted most.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass

from ocrl.codenet.reader import Submission
from ocrl.grouping import form_groups, group_sizes, pass_rate, select_groups, split_of
from ocrl.prepare.config import PrepareConfig
from ocrl.prepare.dedup import deduplicate
from ocrl.prepare.schema import ProblemInfo, histogram
from ocrl.rewards import RewardParts, custom_rewards, parses, score_problem
from ocrl.sandbox.programs import assert_program
from ocrl.sandbox.verdict import ACCEPTED


@dataclass
class ProblemResult:
    samples: dict[str, list]    # samples in a kept group, group order of first appearance
    ungrouped: dict[str, list]  # the other deduplicated samples (kept only when asked)
    groups: list[dict]          # sample_ids index ``samples``
    problem: dict | None
    counts: Counter
    histogram: list[int]        # rewards of ``samples``


def _syntax(info: ProblemInfo, submissions: list[Submission]) -> list[bool]:
    if info.style == "assert" and info.test is not None and info.entry_point:
        # The syntax that matters is the program the judge ran: a body dangling a decorator
        # still compiles once the test's `def check` follows it.
        return [parses(assert_program(info.prompt, s.completion, info.test, info.entry_point))
                for s in submissions]
    if info.style == "assert":
        return [parses(info.prompt + s.completion) for s in submissions]
    return [s.syntax_ok if s.syntax_ok is not None else parses(s.completion)
            for s in submissions]


def _score(info: ProblemInfo, submissions: list[Submission], config: PrepareConfig,
           parse_ok: list[bool]) -> list[RewardParts]:
    """Reward parts; the runtime part ranks samples only against samples run by the same
    interpreter (PyPy's times are not CPython's)."""
    custom = [0.0] * len(submissions)
    if config.reward.functions and submissions:
        n = len(submissions)
        custom = custom_rewards(
            config.reward, [info.prompt] * n, [s.completion for s in submissions],
            [{"status": s.status, "passed": s.status == ACCEPTED, "cpu_time_ms": s.cpu_time_ms,
              "memory_kb": s.memory_kb, "tests_passed": s.tests_passed,
              "tests_total": s.tests_total} for s in submissions],
            problem_id=[info.problem_id] * n, style=[info.style] * n,
            source=[s.source for s in submissions], syntax_ok=parse_ok)
    by_interpreter: dict[str | None, list[int]] = {}
    for index, s in enumerate(submissions):
        by_interpreter.setdefault(s.interpreter, []).append(index)
    parts: list[RewardParts | None] = [None] * len(submissions)
    for members in by_interpreter.values():
        scored = score_problem([submissions[i].status for i in members],
                               [parse_ok[i] for i in members],
                               [submissions[i].cpu_time_ms for i in members], config.reward,
                               [submissions[i].tests_passed for i in members],
                               [submissions[i].tests_total for i in members],
                               info.time_limit_ms, [custom[i] for i in members])
        for i, part in zip(members, scored):
            parts[i] = part
    return parts


def _columns(submissions: list[Submission], parts: list[RewardParts], indices: list[int],
             problem_id: str, split: str, group_of: dict[int, str]) -> dict[str, list]:
    picked = [submissions[i] for i in indices]
    scored = [parts[i] for i in indices]
    n = len(indices)
    return {
        "problem_id": [problem_id] * n, "split": [split] * n,
        "completion": [s.completion for s in picked], "status": [s.status for s in picked],
        "interpreter": [s.interpreter for s in picked],
        "functional": [p.functional for p in scored], "syntactic": [p.syntactic for p in scored],
        "runtime": [p.runtime for p in scored], "custom": [p.custom for p in scored],
        "reward": [p.reward for p in scored],
        "cpu_time_ms": [s.cpu_time_ms for s in picked], "memory_kb": [s.memory_kb for s in picked],
        "tests_passed": [s.tests_passed for s in picked],
        "tests_total": [s.tests_total for s in picked],
        "source": [s.source for s in picked], "origin_id": [s.origin_id for s in picked],
        "group_id": [group_of.get(i) for i in indices],
    }


def process_problem(info: ProblemInfo, submissions: list[Submission],
                    config: PrepareConfig) -> ProblemResult:
    """Dedup, score, split and group the judged samples of one problem."""
    counts: Counter = Counter()
    split = split_of(info.cluster_id or info.problem_id, config.split_seed,
                     config.split_fractions)
    if info.prompt is None:
        counts["dropped/no_statement"] += len(submissions)
        submissions = []
    if config.dedup and submissions:
        keep, dedup_counts = deduplicate([s.completion for s in submissions],
                                         [s.status for s in submissions],
                                         [s.interpreter for s in submissions],
                                         config.interpreter_dedup)
        counts.update(dedup_counts)
        submissions = [submissions[i] for i in keep]
    parts = _score(info, submissions, config, _syntax(info, submissions))
    rewards = [p.reward for p in parts]
    # Whether a group is mixed (and how samples are dealt so that groups mix) is decided on
    # the functional part by default: runtime ranks of all-Accepted groups are CPU-time noise.
    mixed_on = [p.functional for p in parts] if config.mixed_on == "functional" else rewards
    rng = random.Random(f"{config.seed}:{info.problem_id}")
    sizes = group_sizes(len(submissions), config.group_size, config.min_group_size,
                        config.max_group_size)
    formed = form_groups(mixed_on, sizes, rng, stratify=config.prefer_mixed)
    chosen = select_groups(formed, mixed_on, rng, config.max_groups_per_problem,
                           config.drop_zero_variance, config.prefer_mixed)
    counts["samples/deduplicated"] += len(submissions)
    counts["samples/outside_any_group_size"] += len(submissions) - sum(sizes)
    counts["groups/formed"] += len(formed)
    counts["groups/dropped_zero_variance"] += chosen.zero_variance
    counts["groups/dropped_over_cap"] += chosen.over_cap
    counts["groups/kept"] += len(chosen.groups)
    group_of: dict[int, str] = {}
    grouped: list[int] = []
    groups = []
    for number, members in enumerate(chosen.groups):
        group_id = f"{info.problem_id}#{number}"
        values = [rewards[i] for i in members]
        mean = sum(values) / len(values)
        groups.append({"group_id": group_id, "problem_id": info.problem_id, "split": split,
                       "sample_ids": list(range(len(grouped), len(grouped) + len(members))),
                       "rewards": values, "size": len(members),
                       "reward_std": math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))})
        for i in members:
            group_of[i] = group_id
        grouped.extend(members)
    in_group = set(grouped)
    outside = [i for i in range(len(submissions)) if i not in in_group]
    counts["samples/grouped"] += len(grouped)
    counts["samples/ungrouped"] += len(outside)
    for s in submissions:
        counts[f"status/{s.status}"] += 1
    problem = None
    if info.prompt is not None:
        n_accepted = sum(1 for s in submissions if s.status == ACCEPTED)
        problem = {"problem_id": info.problem_id, "cluster_id": info.cluster_id or info.problem_id,
                   "prompt": info.prompt, "style": info.style, "split": split,
                   "difficulty": None, "pass_rate": pass_rate([s.status for s in submissions]),
                   "rating": info.rating, "n_samples": len(submissions),
                   "n_accepted": n_accepted, "n_groups": len(groups),
                   "n_in_groups": len(grouped), "tests": info.tests,
                   "entry_point": info.entry_point, "test": info.test,
                   "canonical_solution": info.canonical_solution,
                   "time_limit_ms": info.time_limit_ms, "memory_limit_kb": info.memory_limit_kb,
                   "name": info.name, "dataset": info.dataset}
    samples = _columns(submissions, parts, grouped, info.problem_id, split, group_of)
    ungrouped = (_columns(submissions, parts, outside, info.problem_id, split, group_of)
                 if config.keep_ungrouped else {})
    return ProblemResult(samples, ungrouped, groups, problem, counts,
                         histogram(samples["reward"], config.reward))

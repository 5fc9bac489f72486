"""One problem's judged samples -> deduplicated, scored, split and grouped. Runs in the workers."""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass

from ocrl.codenet.reader import Submission
from ocrl.grouping import first_unique, form_groups, group_sizes, pass_rate, select_groups, split_of
from ocrl.prepare.config import PrepareConfig
from ocrl.prepare.schema import ProblemInfo, histogram
from ocrl.rewards import custom_rewards, parses, score_problem
from ocrl.sandbox.programs import assert_program
from ocrl.sandbox.verdict import ACCEPTED


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
    return ProblemResult(samples, groups, problem, counts, histogram(rewards, config.reward))

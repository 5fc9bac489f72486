"""From one problem's scored samples to training groups; problem-level splits and difficulty.

Everything here is a pure function of its inputs (randomness comes in as a seeded
``random.Random``), so the same data and seed give the same groups on any machine and with any
number of worker processes.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

SPLITS = ("train", "validation", "test")
BUCKETS = ("easy", "medium", "hard")

# The one tolerance below which rewards count as equal and advantages as zero, used by
# grouping (here), the advantage estimators and the trainer's group preparation. Rewards are
# sums of a few parts of order 1, so float rounding (RLOO of equal rewards gives ~1e-17)
# stays far below it and any real difference far above it.
ZERO_TOLERANCE = 1e-9


def is_zero_variance(rewards: Sequence[float]) -> bool:
    """All rewards equal (within ZERO_TOLERANCE): every baselined advantage of the group is 0,
    so the group teaches nothing."""
    return max(rewards) - min(rewards) <= ZERO_TOLERANCE


def is_zero_advantage(advantages: Sequence[float]) -> bool:
    """Every advantage is 0 within ZERO_TOLERANCE: the samples carry no gradient."""
    return all(abs(a) <= ZERO_TOLERANCE for a in advantages)


def group_sizes(n: int, group_size: int | str, min_size: int = 2, max_size: int = 8) -> list[int]:
    """Sizes of the disjoint groups that n samples make.

    An integer k gives n // k groups of k (the rest are left out); "all" one group of every
    sample; "variable" as few groups as keep each at most ``max_size``, sizes differing by at
    most one, none below ``min_size``.
    """
    if group_size == "all":
        return [n] if n >= max(2, min_size) else []
    if group_size == "variable":
        if n < min_size or n < 2:
            return []
        count = math.ceil(n / max_size)
        if n // count < min_size:
            count = n // min_size
        base, extra = divmod(n, count)
        return [base + 1] * extra + [base] * (count - extra)
    k = int(group_size)
    if k < 2:
        raise ValueError("a group needs at least 2 samples")
    return [k] * (n // k)


def form_groups(rewards: Sequence[float], sizes: Sequence[int], rng: random.Random,
                stratify: bool = True) -> list[list[int]]:
    """Deal sample indices into groups of the given sizes.

    Samples that fit in no group are chosen at random. With ``stratify`` the rest are sorted by
    reward (random order among equals) and dealt round-robin, so each group draws one sample
    from each reward stratum: as many groups as possible hold both good and bad samples.
    Without it the deal is a plain random partition.
    """
    order = list(range(len(rewards)))
    rng.shuffle(order)
    used = order[:sum(sizes)]
    if not stratify:
        groups, start = [], 0
        for size in sizes:
            groups.append(sorted(used[start:start + size]))
            start += size
        return groups
    used.sort(key=lambda i: rewards[i])  # stable: the shuffle breaks ties at random
    groups = [[] for _ in sizes]
    # Largest groups first, so round-robin gives each its exact size.
    slots = sorted(range(len(sizes)), key=lambda g: -sizes[g])
    position = 0
    for index in used:
        while len(groups[slots[position % len(slots)]]) >= sizes[slots[position % len(slots)]]:
            position += 1
        groups[slots[position % len(slots)]].append(index)
        position += 1
    return [sorted(g) for g in groups]


@dataclass
class Selection:
    groups: list[list[int]]
    zero_variance: int = 0
    over_cap: int = 0


def select_groups(groups: list[list[int]], rewards: Sequence[float], rng: random.Random,
                  max_groups: int = 0, drop_zero_variance: bool = True,
                  prefer_mixed: bool = True) -> Selection:
    """Drop all-equal groups (counted), then keep at most ``max_groups`` (0: no cap), mixed
    groups first when ``prefer_mixed``, the rest in random order."""
    zero = [g for g in groups if is_zero_variance([rewards[i] for i in g])]
    mixed = [g for g in groups if not is_zero_variance([rewards[i] for i in g])]
    dropped = 0
    if drop_zero_variance:
        dropped, zero = len(zero), []
    rng.shuffle(mixed)
    rng.shuffle(zero)
    ranked = mixed + zero
    if not prefer_mixed:
        rng.shuffle(ranked)
    over = 0
    if max_groups and len(ranked) > max_groups:
        over, ranked = len(ranked) - max_groups, ranked[:max_groups]
    ranked.sort(key=lambda g: g[0])
    return Selection(ranked, zero_variance=dropped, over_cap=over)


def split_of(problem_id: str, seed: int = 0,
             fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> str:
    """train / validation / test from a hash of (seed, problem id): stable across runs,
    machines and datasets, and never two splits for one problem."""
    if len(fractions) != len(SPLITS) or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ValueError("split fractions must be three non-negative numbers")
    digest = hashlib.blake2b(f"{seed}:{problem_id}".encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") / 2 ** 64 * sum(fractions)
    edge = 0.0
    for name, fraction in zip(SPLITS, fractions):
        edge += fraction
        if point < edge:
            return name
    return SPLITS[-1]


def pass_rate(statuses: Sequence[str]) -> float | None:
    if not statuses:
        return None
    return sum(1 for s in statuses if s == "Accepted") / len(statuses)


def quantile_buckets(scores: dict[str, float], quantiles: Sequence[float] = (1 / 3, 2 / 3),
                     names: Sequence[str] = BUCKETS) -> dict[str, str]:
    """Bucket ids by where their score (higher = harder) falls among the others' quantiles.

    Cut points are order statistics (the score at rank floor(q * (n - 1))); equal scores share
    a bucket, the lower one.
    """
    if len(names) != len(quantiles) + 1:
        raise ValueError("need one bucket name more than quantiles")
    if not scores:
        return {}
    ordered = sorted(scores.values())
    cuts = [ordered[int(math.floor(q * (len(ordered) - 1)))] for q in quantiles]
    result = {}
    for key, score in scores.items():
        bucket = len(cuts)
        for index, cut in enumerate(cuts):
            if score <= cut:
                bucket = index
                break
        result[key] = names[bucket]
    return result


def difficulty_buckets(pass_rates: dict[str, float | None], ratings: dict[str, float | None],
                       source: str = "pass_rate",
                       quantiles: Sequence[float] = (1 / 3, 2 / 3)) -> dict[str, str | None]:
    """easy / medium / hard per problem. ``source`` "pass_rate" ranks problems by the share of
    accepted samples (lower = harder); "rating" ranks rated problems by CodeNet's rating and
    the unrated ones by pass rate. Problems with neither get None.

    A pass rate of 0 is always hard: logs of a weak model leave many problems unsolved, and
    quantile cuts through that many ties (equal scores share the lower bucket) would call
    them medium, or all of them easy when nothing passed anywhere."""
    by_pass = quantile_buckets({k: 1.0 - v for k, v in pass_rates.items() if v is not None},
                               quantiles)
    by_pass.update({k: BUCKETS[-1] for k, v in pass_rates.items() if v == 0.0})
    result: dict[str, str | None] = {k: by_pass.get(k) for k in pass_rates}
    if source == "rating":
        rated = {k: float(v) for k, v in ratings.items() if v is not None}
        result.update(quantile_buckets(rated, quantiles))
    elif source != "pass_rate":
        raise ValueError(f"difficulty source must be 'pass_rate' or 'rating', got {source!r}")
    return result

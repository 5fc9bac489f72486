"""Dedup, group formation and selection, splits and difficulty buckets."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from ocrl.grouping import (difficulty_buckets, form_groups, group_sizes, is_zero_variance,
                           quantile_buckets, select_groups, split_of)


def test_group_sizes():
    assert group_sizes(10, 4) == [4, 4]
    assert group_sizes(10, "4") == [4, 4]
    assert group_sizes(3, 4) == []
    assert group_sizes(5, "all") == [5]
    assert group_sizes(1, "all") == []
    # variable: ceil(10 / 4) = 3 groups of sizes differing by at most one.
    assert group_sizes(10, "variable", 2, 4) == [4, 3, 3]
    assert group_sizes(3, "variable", 2, 8) == [3]
    assert group_sizes(1, "variable", 2, 8) == []
    with pytest.raises(ValueError):
        group_sizes(10, 1)


def test_stratified_groups_mix_rewards():
    rewards = [0.0] * 4 + [1.0] * 4
    for seed in range(20):
        groups = form_groups(rewards, [4, 4], random.Random(seed), stratify=True)
        assert sorted(i for g in groups for i in g) == list(range(8))
        assert all(not is_zero_variance([rewards[i] for i in g]) for g in groups)
    # A plain random partition sometimes puts all the good samples together.
    unmixed = sum(any(is_zero_variance([rewards[i] for i in g])
                      for g in form_groups(rewards, [4, 4], random.Random(seed), stratify=False))
                  for seed in range(200))
    assert unmixed > 0


def test_groups_are_disjoint_with_exact_sizes():
    rewards = [random.Random(1).random() for _ in range(23)]
    sizes = group_sizes(23, "variable", 2, 5)
    groups = form_groups(rewards, sizes, random.Random(0))
    assert sorted(len(g) for g in groups) == sorted(sizes)
    members = [i for g in groups for i in g]
    assert len(members) == len(set(members)) == 23


def test_select_drops_zero_variance_and_caps_mixed_first():
    rewards = [0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1]
    groups = [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11], [12, 13, 14, 15]]
    chosen = select_groups(groups, rewards, random.Random(0), max_groups=1)
    assert chosen.zero_variance == 2 and chosen.over_cap == 1
    assert len(chosen.groups) == 1 and chosen.groups[0] in ([0, 1, 2, 3], [12, 13, 14, 15])
    kept = select_groups(groups, rewards, random.Random(0), max_groups=3,
                         drop_zero_variance=False, prefer_mixed=True)
    assert kept.zero_variance == 0 and kept.over_cap == 1
    assert [0, 1, 2, 3] in kept.groups and [12, 13, 14, 15] in kept.groups


def test_split_is_deterministic_disjoint_and_proportional():
    ids = [f"p{i:05d}" for i in range(20000)]
    splits = [split_of(p, seed=0) for p in ids]
    assert splits == [split_of(p, seed=0) for p in ids]
    shares = Counter(splits)
    assert abs(shares["train"] / 20000 - 0.8) < 0.015
    assert abs(shares["validation"] / 20000 - 0.1) < 0.01
    assert abs(shares["test"] / 20000 - 0.1) < 0.01
    other = [split_of(p, seed=1) for p in ids]
    assert sum(a != b for a, b in zip(splits, other)) > 2000
    assert {split_of(p, 0, (0, 0, 1)) for p in ids[:100]} == {"test"}


def test_unsolved_problems_are_always_hard():
    # Sorted 1 - rate: 0.1, 0.5, 0.8, 0.9, 1, 1 -> cuts at index 1 (0.5) and 3 (0.9); the two
    # unsolved problems tie at the top, where the quantile rule alone would say medium.
    rates = {"a": 0.0, "b": 0.0, "c": 0.1, "d": 0.2, "e": 0.5, "f": 0.9}
    assert difficulty_buckets(rates, {}) == {
        "a": "hard", "b": "hard", "c": "medium", "d": "medium", "e": "easy", "f": "easy"}
    assert set(difficulty_buckets({"a": 0.0, "b": 0.0, "c": 0.0}, {}).values()) == {"hard"}


def test_quantile_buckets_hand_computed():
    # Three scores: cuts at ranks floor(1/3 * 2) = 0 and floor(2/3 * 2) = 1.
    assert quantile_buckets({"a": 0.1, "b": 0.5, "c": 0.9}) == \
        {"a": "easy", "b": "medium", "c": "hard"}
    # Equal scores share a bucket.
    buckets = quantile_buckets({"a": 0.2, "b": 0.2, "c": 0.2, "d": 0.9})
    assert buckets == {"a": "easy", "b": "easy", "c": "easy", "d": "hard"}


def test_difficulty_from_pass_rate_and_rating():
    rates = {"a": 0.9, "b": 0.5, "c": 0.1, "d": None}
    assert difficulty_buckets(rates, {}) == {"a": "easy", "b": "medium", "c": "hard", "d": None}
    ratings = {"a": 2400.0, "b": None, "c": 100.0, "d": 1200.0}
    by_rating = difficulty_buckets(rates, ratings, source="rating")
    assert by_rating == {"a": "hard", "b": "medium", "c": "easy", "d": "medium"}

"""Advantage estimators against values computed by hand (see the comments for the arithmetic)."""

from __future__ import annotations

import math

import pytest
import torch

from ocrl.algos.advantages import (
    ADVANTAGE_ESTIMATORS,
    clip_advantages,
    compute_advantages,
    get_advantage_estimator,
    register_advantage,
    zero_variance_groups,
)

EPS = 1e-4
# Four groups, interleaved and with non-contiguous ids, to exercise the indexing:
#   group 7: rewards 1, 0, 0, 1     (mixed)
#   group 3: rewards 0.5, 0.5       (zero variance)
#   group 9: reward 0.7             (a single sample)
#   group 1: rewards 3, 1, 2        (mixed, k=3)
REWARDS = torch.tensor([1.0, 0.5, 0.0, 3.0, 0.7, 0.0, 1.0, 0.5, 1.0, 2.0], dtype=torch.float64)
GROUPS = torch.tensor([7, 3, 7, 1, 9, 7, 1, 3, 7, 1])

# group 7: mean 0.5; sample std = sqrt(4 * 0.25 / 3) = 0.5773503
STD7 = math.sqrt(1 / 3)
# group 1: mean 2; sample std = sqrt((1 + 1 + 0) / 2) = 1


def test_rloo_by_hand():
    a = get_advantage_estimator("rloo")(REWARDS, GROUPS, eps=EPS)
    # group 7: 1 - (0+0+1)/3 = 2/3 ; 0 - (1+0+1)/3 = -2/3
    # group 1: 3 - (1+2)/2 = 1.5 ; 1 - (3+2)/2 = -1.5 ; 2 - (3+1)/2 = 0
    # group 3 (zero variance) and group 9 (single sample): 0
    expected = [2 / 3, 0.0, -2 / 3, 1.5, 0.0, -2 / 3, -1.5, 0.0, 2 / 3, 0.0]
    assert torch.allclose(a, torch.tensor(expected, dtype=torch.float64), atol=1e-9)


def test_grpo_by_hand():
    a = get_advantage_estimator("grpo")(REWARDS, GROUPS, eps=EPS)
    up7 = 0.5 / (STD7 + EPS)   # (1 - 0.5) / (0.57735 + 1e-4) = 0.865876
    up1 = 1.0 / (1.0 + EPS)    # (3 - 2) / (1 + 1e-4) = 0.99990
    expected = [up7, 0.0, -up7, up1, 0.0, -up7, -up1, 0.0, up7, 0.0]
    assert torch.allclose(a, torch.tensor(expected, dtype=torch.float64), atol=1e-9)
    assert abs(up7 - 0.865876) < 1e-6


def test_rloo_std_by_hand():
    a = get_advantage_estimator("rloo_std")(REWARDS, GROUPS, eps=EPS)
    r7 = (2 / 3) / (STD7 + EPS)  # 0.6666667 / 0.5774503 = 1.1545006
    r1 = 1.5 / (1.0 + EPS)
    expected = [r7, 0.0, -r7, r1, 0.0, -r7, -r1, 0.0, r7, 0.0]
    assert torch.allclose(a, torch.tensor(expected, dtype=torch.float64), atol=1e-9)
    assert abs(r7 - 1.1545006) < 1e-6


def test_none_is_the_raw_reward():
    a = get_advantage_estimator("none")(REWARDS, GROUPS, eps=EPS)
    assert torch.equal(a, REWARDS)
    a[0] = 42.0  # a copy, not a view of the rewards
    assert REWARDS[0] == 1.0


@pytest.mark.parametrize("name", ["rloo", "grpo", "rloo_std"])
def test_baselined_estimators_zero_for_zero_variance_and_single_sample(name):
    a = get_advantage_estimator(name)(REWARDS, GROUPS, eps=EPS)
    assert torch.all(a[GROUPS == 3] == 0)  # all rewards equal
    assert torch.all(a[GROUPS == 9] == 0)  # one sample: no baseline, no spread
    single = get_advantage_estimator(name)(torch.tensor([5.0]), torch.tensor([0]), eps=EPS)
    assert single.tolist() == [0.0]


@pytest.mark.parametrize("name", ["rloo", "grpo", "rloo_std"])
def test_baselined_advantages_sum_to_zero_per_group(name):
    a = get_advantage_estimator(name)(REWARDS, GROUPS, eps=EPS)
    for g in GROUPS.unique():
        assert abs(float(a[GROUPS == g].sum())) < 1e-9


def test_float32_in_float32_out():
    a = get_advantage_estimator("grpo")(REWARDS.float(), GROUPS, eps=EPS)
    assert a.dtype == torch.float32


def test_clipping_both_sides():
    a = torch.tensor([2 / 3, -2 / 3, 1.5, -1.5, 0.0])
    assert torch.allclose(clip_advantages(a, 1.0), torch.tensor([2 / 3, -2 / 3, 1.0, -1.0, 0.0]))
    assert clip_advantages(a, None) is a
    with pytest.raises(ValueError):
        clip_advantages(a, 0.0)


def test_compute_advantages_clips_after_estimating():
    a = compute_advantages(REWARDS, GROUPS, "rloo", clip=1.0)
    # group 1's +-1.5 clipped to +-1; group 7's +-2/3 untouched
    assert torch.allclose(a[GROUPS == 1], torch.tensor([1.0, -1.0, 0.0], dtype=torch.float64))
    assert torch.allclose(a[GROUPS == 7], torch.tensor([2, -2, -2, 2], dtype=torch.float64) / 3)


def test_zero_variance_flags():
    flags = zero_variance_groups(REWARDS, GROUPS)
    # group 3 (0.5, 0.5) and the single-sample group 9 have all rewards equal
    assert flags.tolist() == [False, True, False, False, True, False, False, True, False, False]


def test_registry():
    assert set(ADVANTAGE_ESTIMATORS) >= {"rloo", "grpo", "rloo_std", "none"}
    with pytest.raises(ValueError, match="unknown advantage estimator 'nope'"):
        get_advantage_estimator("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_advantage("rloo")(lambda r, g, eps=0: r)

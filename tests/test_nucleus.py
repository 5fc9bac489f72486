"""Nucleus sampling without a sort (ocrl.evaluation.nucleus): hand-computed sets, and the same
kept tokens as transformers' TopPLogitsWarper."""

from __future__ import annotations

import math

import pytest
import torch

from ocrl.evaluation.nucleus import nucleus, sample


def _logits(probabilities):
    return torch.tensor([[math.log(p) for p in probabilities]])


def test_the_nucleus_keeps_tokens_while_the_mass_above_them_is_below_top_p():
    # Sorted 0.5, 0.3, 0.15, 0.05. top_p 0.8: mass above each: 0, 0.5, 0.8, 0.95 -> keep
    # 0.5 and 0.3 (0.8 is not below 0.8), renormalised to 0.625 and 0.375.
    probs, ids = nucleus(_logits([0.15, 0.5, 0.05, 0.3]), temperature=1.0, top_p=0.8,
                         candidates=4)
    assert ids[0].tolist() == [1, 3, 0, 2]
    torch.testing.assert_close(probs[0], torch.tensor([0.625, 0.375, 0.0, 0.0]))
    # top_p 0.81: 0.15 joins (mass above it 0.8 < 0.81).
    probs, _ = nucleus(_logits([0.15, 0.5, 0.05, 0.3]), temperature=1.0, top_p=0.81,
                       candidates=4)
    torch.testing.assert_close(probs[0], torch.tensor([0.5, 0.3, 0.15, 0.0]) / 0.95)
    # The most likely token always stays, whatever top_p.
    probs, ids = nucleus(_logits([0.15, 0.5, 0.05, 0.3]), temperature=1.0, top_p=0.01,
                         candidates=4)
    assert probs[0].tolist() == [1.0, 0.0, 0.0, 0.0] and ids[0, 0] == 1


def test_temperature_divides_the_logits():
    # Logits log 0.8 and log 0.2 at temperature 0.5: probabilities 0.64 / 0.68 and 0.04 / 0.68.
    probs, ids = nucleus(_logits([0.8, 0.2]), temperature=0.5, top_p=1.0)
    torch.testing.assert_close(probs[0], torch.tensor([0.64, 0.04]) / 0.68)
    assert ids[0].tolist() == [0, 1]


def test_candidates_grow_until_they_hold_top_p():
    """A flat distribution over 1,000 tokens: the first 64 candidates hold 6.4% of the mass, so
    K grows (64 -> 512 -> 1,000) and the nucleus holds 950 tokens."""
    probs, ids = nucleus(torch.zeros(1, 1000), temperature=1.0, top_p=0.95, candidates=64)
    assert probs.shape[-1] == 1000
    # The mass above the 950th token is 0.949 < 0.95, above the 951st 0.95 (not below).
    assert int((probs > 0).sum()) in (950, 951)  # float rounding of 0.001 sums


@pytest.mark.parametrize("seed", range(5))
def test_the_kept_tokens_are_transformers_top_p_tokens(seed):
    from transformers import TemperatureLogitsWarper, TopPLogitsWarper

    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(8, 5000, generator=generator) * 4  # peaked, as a model's are
    for temperature, top_p in ((0.8, 0.95), (1.0, 0.9), (0.2, 0.5)):
        expected = TopPLogitsWarper(top_p)(None, TemperatureLogitsWarper(temperature)(
            None, logits.clone()))
        probs, ids = nucleus(logits, temperature, top_p)
        kept = torch.zeros_like(logits, dtype=torch.bool)
        kept.scatter_(1, ids, probs > 0)
        assert torch.equal(kept, torch.isfinite(expected))
        dense = torch.zeros_like(logits).scatter_(1, ids, probs)
        torch.testing.assert_close(dense, torch.softmax(expected, dim=-1))


def test_sample_draws_token_ids_by_their_probability():
    probs = torch.tensor([[0.7, 0.3, 0.0]]).expand(20_000, 3)
    ids = torch.tensor([[42, 7, 9]]).expand(20_000, 3)
    drawn = sample(probs, ids, torch.Generator().manual_seed(0))
    assert set(drawn.tolist()) == {42, 7}
    assert abs((drawn == 42).float().mean().item() - 0.7) < 0.015  # 4.6 standard errors

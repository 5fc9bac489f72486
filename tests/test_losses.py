"""Policy losses, the KL penalty and the three aggregations against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from ocrl.algos.losses import (
    POLICY_LOSSES,
    aggregate,
    aggregation_units,
    get_aggregation,
    get_policy_loss,
    kl_penalty,
    loss_needs_reference,
    offline_rl_loss,
    register_policy_loss,
)

# Two completions of 3 token slots; the second slot row of the first is 2 tokens + padding.
LOGP = torch.tensor([[-1.0, -2.0, -9.0], [-0.5, -0.5, -0.5]])
MASK = torch.tensor([[1, 1, 0], [1, 1, 1]])
ADV = torch.tensor([2.0, -1.0])


def test_pg_per_token_and_gradient():
    per_token, clipped = get_policy_loss("pg")(LOGP, ADV)
    assert torch.allclose(per_token, torch.tensor([[2.0, 4.0, 18.0], [-0.5, -0.5, -0.5]]))
    assert not clipped.any()
    logp = LOGP.clone().requires_grad_(True)
    loss = aggregate(get_policy_loss("pg")(logp, ADV)[0], MASK, "token_mean")
    loss.backward()
    # d/dlogp of -A*logp / 5 tokens: -2/5 on the first row, +1/5 on the second, 0 on padding
    assert torch.allclose(logp.grad, torch.tensor([[-0.4, -0.4, 0.0], [0.2, 0.2, 0.2]]))


def test_aggregations_by_hand():
    per_token = get_policy_loss("pg")(LOGP, ADV)[0]
    # masked token losses: row 0: 2, 4 ; row 1: -0.5 x3 ; total 4.5 over 5 tokens
    assert aggregate(per_token, MASK, "token_mean").item() == pytest.approx(0.9)
    # sequence means 3 and -0.5, mean 1.25
    assert aggregate(per_token, MASK, "sequence_mean").item() == pytest.approx(1.25)
    # 4.5 / (2 sequences * max length 4)
    assert aggregate(per_token, MASK, "sum_over_max_length", max_length=4).item() == \
        pytest.approx(0.5625)
    with pytest.raises(ValueError, match="max_length"):
        aggregate(per_token, MASK, "sum_over_max_length")


def test_group_mean_averages_within_groups_first_and_sequence_mean_does_not():
    per_token = torch.tensor([[3.0, 3.0], [-0.5, 0.0], [1.0, 1.0]])
    mask = torch.tensor([[1, 1], [1, 0], [1, 1]])
    groups = torch.tensor([5, 5, 2])
    # sequence means 3, -0.5, 1 ; groups {5: 3, -0.5 -> 1.25}, {2: 1} -> (1.25 + 1) / 2
    assert aggregate(per_token, mask, "group_mean", group_index=groups).item() == \
        pytest.approx(1.125)
    # a true per-sequence mean: every sequence weighs 1/3 whatever its group's size
    assert aggregate(per_token, mask, "sequence_mean", group_index=groups).item() == \
        pytest.approx(3.5 / 3)
    assert aggregate(per_token, mask, "group_mean").item() == pytest.approx(3.5 / 3)


def test_units_and_step_normaliser_by_hand():
    groups = torch.tensor([0, 0])
    # 5 tokens, 2 sequences, 1 group, 2 sequences * max length 4
    expected = {"token_mean": 5.0, "sequence_mean": 2.0, "group_mean": 1.0,
                "sum_over_max_length": 8.0}
    per_token = get_policy_loss("pg")(LOGP, ADV)[0]
    numerators = {"token_mean": 4.5, "sequence_mean": 2.5, "group_mean": 1.25,
                  "sum_over_max_length": 4.5}
    for mode, units in expected.items():
        assert aggregation_units(MASK, mode, group_index=groups, max_length=4).item() == units
        # over a step of 10 units the batch contributes its numerator / 10
        value = aggregate(per_token, MASK, mode, group_index=groups, max_length=4,
                          normalizer=torch.tensor(10.0))
        assert value.item() == pytest.approx(numerators[mode] / 10)


@pytest.mark.parametrize("mode", ["token_mean", "sequence_mean", "group_mean",
                                  "sum_over_max_length"])
def test_micro_batches_over_the_step_normaliser_sum_to_the_whole_batch(mode):
    torch.manual_seed(0)
    per_token = torch.randn(6, 5)
    mask = (torch.rand(6, 5) > 0.3).int()
    mask[:, 0] = 1
    groups = torch.tensor([0, 0, 0, 1, 2, 2])
    whole = aggregate(per_token, mask, mode, group_index=groups, max_length=5)
    parts = [slice(0, 3), slice(3, 4), slice(4, 6)]  # micro-batches keep groups whole
    units = sum(aggregation_units(mask[p], mode, group_index=groups[p], max_length=5)
                for p in parts)
    split = sum(aggregate(per_token[p], mask[p], mode, group_index=groups[p], max_length=5,
                          normalizer=units) for p in parts)
    assert split.item() == pytest.approx(whole.item(), rel=1e-6)


def _ref_for_ratios(logp, ratios):
    return logp - torch.log(ratios)


def test_ref_clip_clips_both_sides():
    logp = torch.full((2, 3), -1.0, requires_grad=True)
    ratios = torch.tensor([[1.5, 0.5, 1.1], [0.5, 1.5, 1.0]])
    ref = _ref_for_ratios(logp.detach(), ratios)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    per_token, clipped = get_policy_loss("ref_clip")(logp, ADV, ref, epsilon_low=0.2,
                                                     epsilon_high=0.2)
    # A=2:  rho 1.5 -> -min(3.0, 1.2*2) = -2.4 (clipped above) ; rho 0.5 -> -min(1.0, 1.6) = -1.0
    #       rho 1.1 -> -2.2 (inside the band)
    # A=-1: rho 0.5 -> -min(-0.5, -0.8) = 0.8 (clipped below) ; rho 1.5 -> -min(-1.5, -1.2) = 1.5
    expected = torch.tensor([[-2.4, -1.0, -2.2], [0.8, 1.5, 1.0]])
    assert torch.allclose(per_token, expected, atol=1e-6)
    assert clipped.tolist() == [[True, False, False], [True, False, False]]
    (per_token * mask).sum().backward()
    # gradient of -rho*A w.r.t. logp is -rho*A where unclipped, 0 where clipped
    assert torch.allclose(logp.grad, torch.tensor([[0.0, -1.0, -2.2], [0.0, 1.5, 0.0]]),
                          atol=1e-6)


def test_ref_clip_asymmetric_band():
    logp = torch.zeros(1, 2)
    ref = _ref_for_ratios(logp, torch.tensor([[1.25, 0.75]]))
    per_token, clipped = get_policy_loss("ref_clip")(logp, torch.tensor([1.0]), ref,
                                                     epsilon_low=0.1, epsilon_high=0.3)
    # rho 1.25 inside (0.9, 1.3) -> -1.25 ; rho 0.75 -> -min(0.75, 0.9) = -0.75 (not clipped, A>0)
    assert torch.allclose(per_token, torch.tensor([[-1.25, -0.75]]), atol=1e-6)
    assert not clipped.any()
    per_token, clipped = get_policy_loss("ref_clip")(logp, torch.tensor([-1.0]), ref,
                                                     epsilon_low=0.1, epsilon_high=0.3)
    # A=-1: rho 1.25 -> 1.25 ; rho 0.75 -> -min(-0.75, -0.9) = 0.9, clipped below
    assert torch.allclose(per_token, torch.tensor([[1.25, 0.9]]), atol=1e-6)
    assert clipped.tolist() == [[False, True]]


def test_ref_clip_at_reference_equals_pg_gradient():
    logp = torch.tensor([[-1.0, -2.0], [-0.3, -0.7]], requires_grad=True)
    ref = logp.detach().clone()
    mask = torch.ones(2, 2)
    loss, _ = offline_rl_loss(logp, mask, ADV, loss="ref_clip", ref_logp=ref)
    (grad_clip,) = torch.autograd.grad(loss, logp)
    loss, _ = offline_rl_loss(logp, mask, ADV, loss="pg")
    (grad_pg,) = torch.autograd.grad(loss, logp)
    assert torch.allclose(grad_clip, grad_pg)


def test_ref_clip_needs_reference():
    with pytest.raises(ValueError, match="reference"):
        get_policy_loss("ref_clip")(LOGP, ADV, None)


def test_kl_penalty_by_hand():
    logp = torch.tensor([-1.0, math.log(0.5), -2.0])
    ref = torch.tensor([-1.0, math.log(0.25), -1.0])
    # delta = ref - logp: 0 -> 0 ; log(0.5) -> 0.5 + 0.693147 - 1 ; 1 -> e - 2
    expected = torch.tensor([0.0, 0.5 + math.log(2) - 1, math.e - 2])
    assert torch.allclose(kl_penalty(logp, ref), expected, atol=1e-6)
    assert (kl_penalty(torch.randn(100), torch.randn(100)) >= 0).all()


def test_kl_penalty_stays_finite_for_huge_log_ratios():
    logp = torch.tensor([-200.0, 0.0, -1.0], requires_grad=True)
    ref = torch.tensor([0.0, -200.0, -1.0])
    kl = kl_penalty(logp, ref)
    assert torch.isfinite(kl).all()
    # d = ref - logp = 200 is held at 20: e^20 - 20 - 1 ; d = -200 at -20: e^-20 + 20 - 1
    assert kl[0].item() == pytest.approx(math.exp(20) - 21, rel=1e-6)
    assert kl[1].item() == pytest.approx(math.exp(-20) + 19, rel=1e-6)
    kl.sum().backward()
    assert torch.isfinite(logp.grad).all()
    loss, stats = offline_rl_loss(logp[None], torch.ones(1, 3), torch.tensor([-1.0]),
                                  loss="ref_clip", ref_logp=ref[None], kl_beta=0.1)
    assert math.isfinite(loss.item()) and math.isfinite(stats["kl"].item())


def test_ref_clip_is_bounded_below_where_pg_is_not():
    """The default objective cannot push a negative sample's log-prob towards -inf: once
    its ratio leaves the band the loss is flat, at (1 - eps) |A| per token."""
    ref = torch.zeros(1, 1)
    adv = torch.tensor([-1.0])
    for logp_value in (-1.0, -10.0, -100.0):
        logp = torch.tensor([[logp_value]], requires_grad=True)
        value, _ = offline_rl_loss(logp, torch.ones(1, 1), adv, loss="ref_clip", ref_logp=ref)
        assert value.item() == pytest.approx(0.8)
        value.backward()
        assert logp.grad.item() == 0.0
        pg, _ = offline_rl_loss(logp.detach(), torch.ones(1, 1), adv, loss="pg")
        assert pg.item() == pytest.approx(logp_value)  # pg keeps falling with the log-prob


def test_needs_reference_comes_from_the_registry():
    assert loss_needs_reference("ref_clip") and not loss_needs_reference("pg")
    register_policy_loss("test_needs_ref", needs_reference=True)(
        lambda logp, adv, ref=None, **_: (logp * 0, torch.zeros_like(logp, dtype=torch.bool)))
    try:
        assert loss_needs_reference("test_needs_ref")
        from ocrl.trainer.config import OfflineRLConfig

        args = OfflineRLConfig(output_dir="x", loss="test_needs_ref", use_cpu=True)
        assert args.needs_reference
    finally:
        del POLICY_LOSSES["test_needs_ref"]


def test_offline_rl_loss_with_kl_and_stats():
    logp = torch.tensor([[-1.0, -2.0]])
    ref = torch.tensor([[-1.0, -1.0]])
    mask = torch.ones(1, 2)
    loss, stats = offline_rl_loss(logp, mask, torch.tensor([1.0]), loss="pg", ref_logp=ref,
                                  kl_beta=0.5, aggregation="token_mean")
    # pg tokens: 1, 2 ; KL tokens: 0, e-2 ; loss = mean(1 + 0, 2 + 0.5(e-2))
    assert loss.item() == pytest.approx((1 + 2 + 0.5 * (math.e - 2)) / 2, rel=1e-6)
    assert stats["kl"].item() == pytest.approx((math.e - 2) / 2, rel=1e-6)
    assert "clip_fraction" not in stats
    loss, stats = offline_rl_loss(torch.tensor([[-1.0, -1.0]]), mask, torch.tensor([1.0]),
                                  loss="ref_clip", ref_logp=torch.tensor([[-2.0, -1.0]]))
    # ratio e on the first token (clipped above, A>0), 1 on the second
    assert stats["clip_fraction"].item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="kl_beta"):
        offline_rl_loss(logp, mask, torch.tensor([1.0]), loss="pg", kl_beta=0.1)


def test_zero_advantages_give_zero_gradient():
    logp = torch.randn(3, 4, requires_grad=True)
    for loss_name, ref in (("pg", None), ("ref_clip", torch.randn(3, 4))):
        for aggregation in ("sequence_mean", "group_mean", "token_mean", "sum_over_max_length"):
            loss, _ = offline_rl_loss(logp, torch.ones(3, 4), torch.zeros(3), loss=loss_name,
                                      ref_logp=ref, aggregation=aggregation, max_length=8)
            (grad,) = torch.autograd.grad(loss, logp)
            assert torch.count_nonzero(grad) == 0

"""Policy losses, the KL penalty and loss aggregation, as pure functions of tensors.

Shapes: ``logp`` and ``ref_logp`` (N, T) are per-token log-probs of N completions (padded to
T tokens), ``mask`` (N, T) is 1 on completion tokens and 0 on padding, ``advantages`` (N,) is
one number per completion, ``group_index`` (N,) names each completion's group.

A policy loss returns ``(per_token_loss, clipped)``, where ``clipped`` (N, T) flags the tokens
whose gradient the ratio clipping switched off. An aggregation turns per-token losses into
``(numerator, units)``: the loss of the whole optimizer step is the sum of the numerators of
all its micro-batches (on every process) divided by the sum of their units, so the update does
not depend on how the step is cut into micro-batches or processes. Register new ones with
``@register_policy_loss`` and ``@register_aggregation``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

PolicyLossFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]
AggregationFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class PolicyLoss:
    fn: PolicyLossFn
    needs_reference: bool  # the loss reads ref_logp, the frozen starting model's log-probs


POLICY_LOSSES: dict[str, PolicyLoss] = {}
AGGREGATIONS: dict[str, AggregationFn] = {}
# The papers' names for the aggregation modes. GRPO's 1/G sum_i 1/|o_i| sum_t is a mean over
# sequences of per-sequence token means (TRL's loss_type="grpo").
AGGREGATION_ALIASES = {"grpo": "sequence_mean", "dr_grpo": "sum_over_max_length",
                       "dapo": "token_mean"}
# exp of a log-ratio overflows float32 past about 88 nats: k3's exp(ref - logp) and ref_clip's
# ratio clamp the log-ratio at this bound (past it the term is held constant and its gradient
# stops, as verl clamps its KL estimates).
KL_LOG_RATIO_BOUND = 20.0


def register_policy_loss(name: str, *, needs_reference: bool = False
                         ) -> Callable[[PolicyLossFn], PolicyLossFn]:
    def decorator(fn: PolicyLossFn) -> PolicyLossFn:
        if name in POLICY_LOSSES:
            raise ValueError(f"policy loss {name!r} is already registered")
        POLICY_LOSSES[name] = PolicyLoss(fn, needs_reference)
        return fn
    return decorator


def register_aggregation(name: str) -> Callable[[AggregationFn], AggregationFn]:
    def decorator(fn: AggregationFn) -> AggregationFn:
        if name in AGGREGATIONS or name in AGGREGATION_ALIASES:
            raise ValueError(f"aggregation {name!r} is already registered")
        AGGREGATIONS[name] = fn
        return fn
    return decorator


def _policy_loss(name: str) -> PolicyLoss:
    try:
        return POLICY_LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown policy loss {name!r}; choose one of "
                         f"{', '.join(sorted(POLICY_LOSSES))}") from None


def get_policy_loss(name: str) -> PolicyLossFn:
    return _policy_loss(name).fn


def loss_needs_reference(name: str) -> bool:
    """Does the policy loss registered as ``name`` read reference log-probs?"""
    return _policy_loss(name).needs_reference


def get_aggregation(name: str) -> AggregationFn:
    name = AGGREGATION_ALIASES.get(name, name)
    try:
        return AGGREGATIONS[name]
    except KeyError:
        raise ValueError(f"unknown aggregation {name!r}; choose one of "
                         f"{', '.join(sorted([*AGGREGATIONS, *AGGREGATION_ALIASES]))}") from None


# ---- policy losses --------------------------------------------------------------------------

@register_policy_loss("pg")
def pg_loss(logp: torch.Tensor, advantages: torch.Tensor, ref_logp: torch.Tensor | None = None,
            *, epsilon_low: float = 0.2, epsilon_high: float = 0.2):
    """Ratio fixed at 1: -A * log pi(y_t), the advantage-weighted likelihood.

    Unbounded below on negative advantages: it can push a logged sample's log-probability
    towards -inf, which is how long runs collapse (RESULTS.md section 7)."""
    per_token = -advantages.unsqueeze(1) * logp
    return per_token, torch.zeros_like(logp, dtype=torch.bool)


@register_policy_loss("ref_clip", needs_reference=True)
def ref_clip_loss(logp: torch.Tensor, advantages: torch.Tensor,
                  ref_logp: torch.Tensor | None = None, *, epsilon_low: float = 0.2,
                  epsilon_high: float = 0.2):
    """-min(rho A, clip(rho, 1-eps_low, 1+eps_high) A) with rho = pi/pi_ref per token.

    The reference is the frozen starting model (A-LoL style); its log-probs come precomputed.
    At the start rho = 1 and the gradient equals that of `pg`; once a sample's likelihood has
    moved more than eps in the direction its advantage asks for, its gradient stops. Bounded:
    the per-token loss is at least -(1+eps_high) A for A > 0 and (1-eps_low) |A| for A < 0."""
    if ref_logp is None:
        raise ValueError("the ref_clip loss needs reference log-probs (ref_logp)")
    a = advantages.unsqueeze(1)
    ratio = torch.exp((logp - ref_logp).clamp(max=KL_LOG_RATIO_BOUND))
    unclipped = ratio * a
    clipped_ratio = ratio.clamp(1.0 - epsilon_low, 1.0 + epsilon_high)
    per_token = -torch.minimum(unclipped, clipped_ratio * a)
    clipped = ((a > 0) & (ratio > 1.0 + epsilon_high)) | ((a < 0) & (ratio < 1.0 - epsilon_low))
    return per_token, clipped


def kl_penalty(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token KL(pi || pi_ref) estimate (k3) e^d - d - 1 with d = ref - logp (always >= 0).

    d is clamped to +-KL_LOG_RATIO_BOUND so the estimate stays finite (unclamped it is inf
    for d above about 88 in float32, and one inf token makes the whole loss inf)."""
    delta = (ref_logp - logp).clamp(-KL_LOG_RATIO_BOUND, KL_LOG_RATIO_BOUND)
    return torch.exp(delta) - delta - 1.0


# ---- aggregation ----------------------------------------------------------------------------

def _sequence_means(per_token: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (per_token * mask).sum(1) / mask.sum(1).clamp(min=1.0)


@register_aggregation("sequence_mean")
def sequence_mean(per_token: torch.Tensor, mask: torch.Tensor, *,
                  group_index: torch.Tensor | None = None, max_length: int | None = None):
    """GRPO: each sequence's token mean, averaged over sequences (every sequence weighs the
    same, whatever its group's size). Per token, long sequences weigh less than short ones."""
    mask = mask.to(per_token.dtype)
    per_sequence = _sequence_means(per_token, mask)
    return per_sequence.sum(), torch.tensor(float(per_token.shape[0]), dtype=per_token.dtype,
                                            device=per_token.device)


@register_aggregation("group_mean")
def group_mean(per_token: torch.Tensor, mask: torch.Tensor, *,
               group_index: torch.Tensor | None = None, max_length: int | None = None):
    """Each sequence's token mean, averaged within its group, then over groups: every group
    weighs the same, so a sequence of a group of k weighs 1/k (without groups: sequence_mean)."""
    if group_index is None:
        return sequence_mean(per_token, mask)
    mask = mask.to(per_token.dtype)
    per_sequence = _sequence_means(per_token, mask)
    _, dense = torch.unique(group_index, return_inverse=True)
    n_groups = int(dense.max()) + 1
    sizes = torch.zeros(n_groups, dtype=per_sequence.dtype, device=per_sequence.device)
    sizes = sizes.index_add(0, dense, torch.ones_like(per_sequence))
    return (per_sequence / sizes[dense]).sum(), torch.tensor(
        float(n_groups), dtype=per_token.dtype, device=per_token.device)


@register_aggregation("sum_over_max_length")
def sum_over_max_length(per_token: torch.Tensor, mask: torch.Tensor, *,
                        group_index: torch.Tensor | None = None, max_length: int | None = None):
    """Dr. GRPO: sum of token losses / (number of sequences * a constant max length), so that
    long and short sequences are not re-weighted by their own length."""
    if max_length is None or max_length <= 0:
        raise ValueError("sum_over_max_length needs a positive max_length")
    return (per_token * mask.to(per_token.dtype)).sum(), torch.tensor(
        float(per_token.shape[0] * max_length), dtype=per_token.dtype, device=per_token.device)


@register_aggregation("token_mean")
def token_mean(per_token: torch.Tensor, mask: torch.Tensor, *,
               group_index: torch.Tensor | None = None, max_length: int | None = None):
    """DAPO: mean over every completion token of the step; every token weighs the same."""
    mask = mask.to(per_token.dtype)
    return (per_token * mask).sum(), mask.sum()


def aggregation_units(mask: torch.Tensor, mode: str, *, group_index: torch.Tensor | None = None,
                      max_length: int | None = None) -> torch.Tensor:
    """What ``mode`` divides by for this batch (tokens, sequences, groups, ...): summed over
    the micro-batches of an optimizer step, it is that step's normaliser."""
    zeros = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
    return get_aggregation(mode)(zeros, mask, group_index=group_index, max_length=max_length)[1]


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, mode: str, *,
              group_index: torch.Tensor | None = None, max_length: int | None = None,
              normalizer: torch.Tensor | float | None = None) -> torch.Tensor:
    """The aggregated loss: this batch's numerator over ``normalizer`` (the units of the whole
    optimizer step) or, when it is not given, over this batch's own units."""
    numerator, units = get_aggregation(mode)(per_token, mask, group_index=group_index,
                                             max_length=max_length)
    denominator = units if normalizer is None else normalizer
    denominator = torch.as_tensor(denominator, dtype=numerator.dtype, device=numerator.device)
    # An empty batch (no tokens) has numerator 0: any positive denominator gives loss 0.
    return numerator / denominator.clamp(min=1.0)


# ---- everything together --------------------------------------------------------------------

def offline_rl_loss(logp: torch.Tensor, mask: torch.Tensor, advantages: torch.Tensor, *,
                    group_index: torch.Tensor | None = None, loss: str = "ref_clip",
                    ref_logp: torch.Tensor | None = None, kl_beta: float = 0.0,
                    epsilon_low: float = 0.2, epsilon_high: float = 0.2,
                    aggregation: str = "token_mean", max_length: int | None = None,
                    normalizer: torch.Tensor | float | None = None):
    """The scalar loss and detached statistics (kl: token-mean KL estimate, clip_fraction).

    per-token loss = policy loss + kl_beta * KL estimate, aggregated as asked (over
    ``normalizer`` units when given, see `aggregate`)."""
    spec = _policy_loss(loss)
    per_token, clipped = spec.fn(logp, advantages, ref_logp, epsilon_low=epsilon_low,
                                 epsilon_high=epsilon_high)
    stats: dict[str, torch.Tensor] = {}
    maskf = mask.to(logp.dtype)
    n_tokens = maskf.sum().clamp(min=1.0)
    if ref_logp is not None:
        kl = kl_penalty(logp, ref_logp)
        stats["kl"] = ((kl * maskf).sum() / n_tokens).detach()
        if kl_beta:
            per_token = per_token + kl_beta * kl
    elif kl_beta:
        raise ValueError("kl_beta > 0 needs reference log-probs (ref_logp)")
    if spec.needs_reference:
        stats["clip_fraction"] = ((clipped.to(logp.dtype) * maskf).sum() / n_tokens).detach()
    value = aggregate(per_token, mask, aggregation, group_index=group_index,
                      max_length=max_length, normalizer=normalizer)
    return value, stats

"""Policy losses, the KL penalty and loss aggregation, as pure functions of tensors.

Shapes: ``logp`` and ``ref_logp`` (N, T) are per-token log-probs of N completions (padded to
T tokens), ``mask`` (N, T) is 1 on completion tokens and 0 on padding, ``advantages`` (N,) is
one number per completion, ``group_index`` (N,) names each completion's group.

A policy loss returns ``(per_token_loss, clipped)``, where ``clipped`` (N, T) flags the tokens
whose gradient the ratio clipping switched off. An aggregation turns per-token losses into
the scalar that is differentiated. Register new ones with ``@register_policy_loss`` and
``@register_aggregation``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

PolicyLossFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]
AggregationFn = Callable[..., torch.Tensor]
POLICY_LOSSES: dict[str, PolicyLossFn] = {}
AGGREGATIONS: dict[str, AggregationFn] = {}
# The papers' names for the aggregation modes.
AGGREGATION_ALIASES = {"grpo": "sequence_mean", "dr_grpo": "sum_over_max_length",
                       "dapo": "token_mean"}
# Losses that need the reference log-probs.
NEEDS_REFERENCE = {"ref_clip"}


def register_policy_loss(name: str) -> Callable[[PolicyLossFn], PolicyLossFn]:
    def decorator(fn: PolicyLossFn) -> PolicyLossFn:
        if name in POLICY_LOSSES:
            raise ValueError(f"policy loss {name!r} is already registered")
        POLICY_LOSSES[name] = fn
        return fn
    return decorator


def register_aggregation(name: str) -> Callable[[AggregationFn], AggregationFn]:
    def decorator(fn: AggregationFn) -> AggregationFn:
        if name in AGGREGATIONS:
            raise ValueError(f"aggregation {name!r} is already registered")
        AGGREGATIONS[name] = fn
        return fn
    return decorator


def get_policy_loss(name: str) -> PolicyLossFn:
    try:
        return POLICY_LOSSES[name]
    except KeyError:
        raise ValueError(f"unknown policy loss {name!r}; choose one of "
                         f"{', '.join(sorted(POLICY_LOSSES))}") from None


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
    """Ratio fixed at 1: -A * log pi(y_t), the advantage-weighted likelihood."""
    per_token = -advantages.unsqueeze(1) * logp
    return per_token, torch.zeros_like(logp, dtype=torch.bool)


@register_policy_loss("ref_clip")
def ref_clip_loss(logp: torch.Tensor, advantages: torch.Tensor,
                  ref_logp: torch.Tensor | None = None, *, epsilon_low: float = 0.2,
                  epsilon_high: float = 0.2):
    """-min(rho A, clip(rho, 1-eps_low, 1+eps_high) A) with rho = pi/pi_ref per token.

    The reference is the frozen starting model (A-LoL style); its log-probs come precomputed.
    At the start rho = 1 and the gradient equals that of `pg`; once a sample's likelihood has
    moved more than eps in the direction its advantage asks for, its gradient stops."""
    if ref_logp is None:
        raise ValueError("the ref_clip loss needs reference log-probs (ref_logp)")
    a = advantages.unsqueeze(1)
    ratio = torch.exp(logp - ref_logp)
    unclipped = ratio * a
    clipped_ratio = ratio.clamp(1.0 - epsilon_low, 1.0 + epsilon_high)
    per_token = -torch.minimum(unclipped, clipped_ratio * a)
    clipped = ((a > 0) & (ratio > 1.0 + epsilon_high)) | ((a < 0) & (ratio < 1.0 - epsilon_low))
    return per_token, clipped


def kl_penalty(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Per-token KL(pi || pi_ref) estimate e^{ref-logp} - (ref-logp) - 1 (always >= 0)."""
    delta = ref_logp - logp
    return torch.exp(delta) - delta - 1.0


# ---- aggregation ----------------------------------------------------------------------------

@register_aggregation("sequence_mean")
def sequence_mean(per_token: torch.Tensor, mask: torch.Tensor, *,
                  group_index: torch.Tensor | None = None, max_length: int | None = None):
    """GRPO: mean over each sequence's tokens, then mean within each group, then over groups."""
    mask = mask.to(per_token.dtype)
    per_sequence = (per_token * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    if group_index is None:
        return per_sequence.mean()
    _, dense = torch.unique(group_index, return_inverse=True)
    n_groups = int(dense.max()) + 1
    sums = torch.zeros(n_groups, dtype=per_sequence.dtype, device=per_sequence.device)
    sums = sums.index_add(0, dense, per_sequence)
    sizes = torch.zeros_like(sums).index_add(0, dense, torch.ones_like(per_sequence))
    return (sums / sizes).mean()


@register_aggregation("sum_over_max_length")
def sum_over_max_length(per_token: torch.Tensor, mask: torch.Tensor, *,
                        group_index: torch.Tensor | None = None, max_length: int | None = None):
    """Dr. GRPO: sum of token losses / (number of sequences * a constant max length), so that
    long and short sequences are not re-weighted by their own length."""
    if max_length is None or max_length <= 0:
        raise ValueError("sum_over_max_length needs a positive max_length")
    return (per_token * mask.to(per_token.dtype)).sum() / (per_token.shape[0] * max_length)


@register_aggregation("token_mean")
def token_mean(per_token: torch.Tensor, mask: torch.Tensor, *,
               group_index: torch.Tensor | None = None, max_length: int | None = None):
    """DAPO: mean over every completion token in the batch."""
    mask = mask.to(per_token.dtype)
    return (per_token * mask).sum() / mask.sum().clamp(min=1.0)


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, mode: str, *,
              group_index: torch.Tensor | None = None, max_length: int | None = None):
    return get_aggregation(mode)(per_token, mask, group_index=group_index, max_length=max_length)


# ---- everything together --------------------------------------------------------------------

def offline_rl_loss(logp: torch.Tensor, mask: torch.Tensor, advantages: torch.Tensor, *,
                    group_index: torch.Tensor | None = None, loss: str = "pg",
                    ref_logp: torch.Tensor | None = None, kl_beta: float = 0.0,
                    epsilon_low: float = 0.2, epsilon_high: float = 0.2,
                    aggregation: str = "sequence_mean", max_length: int | None = None):
    """The scalar loss and detached statistics (kl: token-mean KL estimate, clip_fraction).

    per-token loss = policy loss + kl_beta * KL estimate, aggregated as asked."""
    per_token, clipped = get_policy_loss(loss)(logp, advantages, ref_logp,
                                              epsilon_low=epsilon_low, epsilon_high=epsilon_high)
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
    if loss in NEEDS_REFERENCE:
        stats["clip_fraction"] = ((clipped.to(logp.dtype) * maskf).sum() / n_tokens).detach()
    value = aggregate(per_token, mask, aggregation, group_index=group_index,
                      max_length=max_length)
    return value, stats

"""Advantage estimators: per-sample advantages from the rewards of groups of samples.

Every estimator has the signature ``fn(rewards, group_index, *, eps) -> advantages`` on flat
tensors: ``rewards`` (N,) float, ``group_index`` (N,) integer naming the group (problem) of each
sample. Groups may differ in size. Register a new one with ``@register_advantage("name")``.

Conventions (chosen so that every formula is defined for every group):
- std is the sample standard deviation (Bessel-corrected, as torch.std, TRL and verl use);
- a group of one sample has no leave-one-out baseline and no spread, so every baselined
  estimator gives it advantage 0;
- a group whose rewards are equal within `ocrl.grouping.ZERO_TOLERANCE` gets advantages of
  exactly 0 from every baselined estimator (not float residue such as 1e-17).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ocrl.grouping import ZERO_TOLERANCE

AdvantageFn = Callable[..., torch.Tensor]
ADVANTAGE_ESTIMATORS: dict[str, AdvantageFn] = {}


def register_advantage(name: str) -> Callable[[AdvantageFn], AdvantageFn]:
    def decorator(fn: AdvantageFn) -> AdvantageFn:
        if name in ADVANTAGE_ESTIMATORS:
            raise ValueError(f"advantage estimator {name!r} is already registered")
        ADVANTAGE_ESTIMATORS[name] = fn
        return fn
    return decorator


def get_advantage_estimator(name: str) -> AdvantageFn:
    try:
        return ADVANTAGE_ESTIMATORS[name]
    except KeyError:
        raise ValueError(f"unknown advantage estimator {name!r}; choose one of "
                         f"{', '.join(sorted(ADVANTAGE_ESTIMATORS))}") from None


def _group_moments(rewards: torch.Tensor, group_index: torch.Tensor):
    """Per-sample (group size, group sum, group mean, group sample std), in float64."""
    _, dense = torch.unique(group_index, return_inverse=True)
    r = rewards.to(torch.float64)
    n_groups = int(dense.max()) + 1 if dense.numel() else 0
    sizes = torch.zeros(n_groups, dtype=torch.float64, device=r.device).index_add_(
        0, dense, torch.ones_like(r))
    sums = torch.zeros(n_groups, dtype=torch.float64, device=r.device).index_add_(0, dense, r)
    means = sums / sizes
    squares = torch.zeros(n_groups, dtype=torch.float64, device=r.device).index_add_(
        0, dense, (r - means[dense]) ** 2)
    std = torch.sqrt(squares / (sizes - 1).clamp(min=1))
    return sizes[dense], sums[dense], means[dense], std[dense]


def _baselined(advantages: torch.Tensor, rewards: torch.Tensor, group_index: torch.Tensor,
               size: torch.Tensor) -> torch.Tensor:
    """Exactly 0 where the group has one sample or equal rewards."""
    zero = (size <= 1) | zero_variance_groups(rewards, group_index)
    return torch.where(zero, torch.zeros_like(advantages), advantages)


def _rloo(rewards: torch.Tensor, group_index: torch.Tensor) -> torch.Tensor:
    size, total, _, _ = _group_moments(rewards, group_index)
    r = rewards.to(torch.float64)
    baseline = (total - r) / (size - 1).clamp(min=1)
    return _baselined(r - baseline, rewards, group_index, size)


@register_advantage("rloo")
def rloo_advantages(rewards: torch.Tensor, group_index: torch.Tensor, *,
                    eps: float = 1e-4) -> torch.Tensor:
    """A_i = r_i - mean_{j != i} r_j (REINFORCE leave-one-out)."""
    return _rloo(rewards, group_index).to(rewards.dtype)


@register_advantage("grpo")
def grpo_advantages(rewards: torch.Tensor, group_index: torch.Tensor, *,
                    eps: float = 1e-4) -> torch.Tensor:
    """A_i = (r_i - mean(r)) / (std(r) + eps) within the group."""
    size, _, mean, std = _group_moments(rewards, group_index)
    r = rewards.to(torch.float64)
    advantages = (r - mean) / (std + eps)
    return _baselined(advantages, rewards, group_index, size).to(rewards.dtype)


@register_advantage("rloo_std")
def rloo_std_advantages(rewards: torch.Tensor, group_index: torch.Tensor, *,
                        eps: float = 1e-4) -> torch.Tensor:
    """RLOO advantage divided by the group's reward spread: A_i / (std(r) + eps)."""
    _, _, _, std = _group_moments(rewards, group_index)
    return (_rloo(rewards, group_index) / (std + eps)).to(rewards.dtype)


@register_advantage("none")
def raw_reward_advantages(rewards: torch.Tensor, group_index: torch.Tensor, *,
                          eps: float = 1e-4) -> torch.Tensor:
    """No baseline: the advantage is the reward itself (reward-weighted regression)."""
    return rewards.clone()


def clip_advantages(advantages: torch.Tensor, clip: float | None) -> torch.Tensor:
    """Clip advantages to [-clip, clip]; None leaves them as they are."""
    if clip is None:
        return advantages
    if clip <= 0:
        raise ValueError(f"advantage clip must be positive, got {clip}")
    return advantages.clamp(-clip, clip)


def compute_advantages(rewards: torch.Tensor, group_index: torch.Tensor, estimator: str, *,
                       eps: float = 1e-4, clip: float | None = None) -> torch.Tensor:
    """The estimator picked by name, then the optional clipping."""
    advantages = get_advantage_estimator(estimator)(rewards, group_index, eps=eps)
    return clip_advantages(advantages, clip)


def zero_variance_groups(rewards: torch.Tensor, group_index: torch.Tensor) -> torch.Tensor:
    """Per-sample flag: are this sample's group's rewards all equal (within ZERO_TOLERANCE,
    the rule of `ocrl.grouping.is_zero_variance`)?"""
    _, dense = torch.unique(group_index, return_inverse=True)
    n_groups = int(dense.max()) + 1 if dense.numel() else 0
    r = rewards.to(torch.float64)
    high = torch.full((n_groups,), -torch.inf, dtype=torch.float64, device=r.device)
    low = torch.full((n_groups,), torch.inf, dtype=torch.float64, device=r.device)
    high = high.scatter_reduce(0, dense, r, reduce="amax")
    low = low.scatter_reduce(0, dense, r, reduce="amin")
    return (high - low <= ZERO_TOLERANCE)[dense]

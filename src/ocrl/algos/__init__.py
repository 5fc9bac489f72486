"""The math of offline RL as small pure functions of tensors, registered by name.

`advantages` turns the rewards of groups into per-sample advantages; `losses` turns per-token
log-probs and advantages into a scalar loss. A config string picks each one (see
`OfflineRLConfig.advantage`, `.loss`, `.aggregation`).
"""

from __future__ import annotations

from ocrl.algos.advantages import (
    ADVANTAGE_ESTIMATORS,
    clip_advantages,
    compute_advantages,
    get_advantage_estimator,
    register_advantage,
    zero_variance_groups,
)
from ocrl.algos.losses import (
    AGGREGATIONS,
    POLICY_LOSSES,
    aggregate,
    get_policy_loss,
    kl_penalty,
    offline_rl_loss,
    register_aggregation,
    register_policy_loss,
)

__all__ = [
    "ADVANTAGE_ESTIMATORS", "AGGREGATIONS", "POLICY_LOSSES", "aggregate", "clip_advantages",
    "compute_advantages", "get_advantage_estimator", "get_policy_loss", "kl_penalty",
    "offline_rl_loss", "register_advantage", "register_aggregation", "register_policy_loss",
    "zero_variance_groups",
]

"""ocrl: offline reinforcement learning for code-generating language models.

The public Python API, imported lazily (``import ocrl`` loads neither torch nor transformers):

- `OfflineRLConfig`, `OfflineRLTrainer`: offline RL as a `transformers.Trainer`, on a
  `datasets.Dataset` (or a list of dicts) of logged ``prompt, completion, reward[, group]``
  rows, a dataset directory of `ocrl prepare`'s groups, or a prepared dataset. The baselines
  have their own configs, run by `build_trainer` / `run_training`: `OcrlSFTConfig` (sft,
  sft_all), `OcrlDPOConfig` (TRL's DPOTrainer) and `OcrlOnlineGRPOConfig` (TRL's GRPOTrainer,
  with `SandboxReward` as its reward function); `config_class(method)` names the one.
- `Judge`, `Limits`, `Verdict`, `Problem`: run untrusted code in the sandbox from Python.
- `EvalConfig`, `run_eval`: sample, judge and score a model (pass@k); `build_report`.
- `load_model_and_tokenizer`: a model by path, hub id or embedded name (``smollm2-135m``).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "OfflineRLConfig": "ocrl.trainer.config",
    "OcrlSFTConfig": "ocrl.trainer.config",
    "OcrlDPOConfig": "ocrl.trainer.config",
    "OcrlOnlineGRPOConfig": "ocrl.trainer.config",
    "config_class": "ocrl.trainer.config",
    "OfflineRLTrainer": "ocrl.trainer.trainer",
    "build_trainer": "ocrl.trainer.pipeline",
    "run_training": "ocrl.trainer.pipeline",
    "SandboxReward": "ocrl.trainer.online",
    "Judge": "ocrl.sandbox.judge",
    "Limits": "ocrl.sandbox.limits",
    "Verdict": "ocrl.sandbox.verdict",
    "Problem": "ocrl.problems",
    "EvalConfig": "ocrl.evaluation.run",
    "run_eval": "ocrl.evaluation.run",
    "build_report": "ocrl.report",
    "load_model_and_tokenizer": "ocrl.models",
    "InputError": "ocrl.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'ocrl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])

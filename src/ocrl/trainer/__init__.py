"""Offline RL training on logged, reward-labelled groups (`ocrl train`).

base_config.py (what every method reads), config.py (one config per method, parse_config),
groups.py (tokenize + advantages), collator.py (group batches), logprobs.py (one forward ->
per-token log-probs), ref_logprobs.py (cached reference), trainer.py (OfflineRLTrainer),
baselines.py (SFT, DPO), online.py (online GRPO), pipeline.py (the command's body).
Heavy modules are imported from their own files, not here, so `import ocrl.trainer` is cheap.
"""

from __future__ import annotations

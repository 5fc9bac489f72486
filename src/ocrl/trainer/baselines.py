"""The baselines of the paper, on the same data and through the same command.

* ``sft``: supervised fine-tuning on Accepted samples only; ``sft_all``: on every sample. Both
  run through `OfflineRLTrainer` with reward 1 for every kept sample and the fixed loss
  settings of `OcrlSFTConfig`, which make it exactly token-averaged cross-entropy on those
  samples. Same tokenization, prompt format and batching as offline RL, so the comparison is
  fair.
* ``dpo``: TRL's `DPOTrainer` on (accepted, rejected) pairs of the same problem
  (`OcrlDPOConfig`).
"""

from __future__ import annotations

import copy
import random
from collections import defaultdict
from typing import TYPE_CHECKING

from ocrl.sandbox.verdict import ACCEPTED

if TYPE_CHECKING:
    from ocrl.trainer.config import OcrlDPOConfig


def sft_groups(groups, *, accepted_only: bool) -> list[dict]:
    """Groups reduced to the samples SFT trains on, each with reward 1."""
    out = []
    for row in groups:
        keep = [i for i, status in enumerate(row["statuses"])
                if not accepted_only or status == ACCEPTED]
        if not keep:
            continue
        out.append({**row, "completions": [row["completions"][i] for i in keep],
                    "rewards": [1.0] * len(keep),
                    "statuses": [row["statuses"][i] for i in keep]})
    return out


def dpo_pairs(groups, tokenizer, *, prompt_format: str, pairs_per_problem: int = 4,
              seed: int = 0) -> list[dict[str, str]]:
    """(prompt, chosen, rejected) texts: an Accepted and a non-Accepted sample of one problem.

    Samples of all of a problem's groups are pooled; distinct pairs are drawn at random
    (seeded), at most ``pairs_per_problem`` per problem so popular problems do not dominate."""
    from ocrl import prompting

    by_problem: dict[str, dict] = {}
    for row in groups:
        entry = by_problem.setdefault(str(row["problem_id"]), {
            "prompt": row["prompt"], "style": row.get("style") or "assert",
            "accepted": [], "rejected": []})
        for completion, status in zip(row["completions"], row["statuses"]):
            bucket = entry["accepted"] if status == ACCEPTED else entry["rejected"]
            if completion not in bucket:
                bucket.append(completion)
    rng = random.Random(seed)
    pairs = []
    for problem_id in sorted(by_problem):
        entry = by_problem[problem_id]
        candidates = [(a, r) for a in entry["accepted"] for r in entry["rejected"]]
        rng.shuffle(candidates)
        prompt = prompting.build_prompt(tokenizer, entry["prompt"], prompt_format, entry["style"])
        eos = tokenizer.eos_token or ""
        for accepted, rejected in candidates[:pairs_per_problem]:
            pairs.append({
                "prompt": prompt,
                "chosen": prompting.build_target(entry["prompt"], accepted, prompt_format,
                                                 entry["style"]) + eos,
                "rejected": prompting.build_target(entry["prompt"], rejected, prompt_format,
                                                   entry["style"]) + eos})
    return pairs


def reference_precomputed(n_pairs: int, max_steps: int, pairs_per_step: int) -> bool:
    """Whether TRL should compute every pair's reference log-probs before training.

    Precomputing saves holding a second model, but costs a forward pass over *every* pair;
    when training stops before it has seen each pair once (``max_steps`` x pairs per step
    below the pair count), computing them on the fly for the pairs actually trained is
    cheaper (experiment A: 470 pairs, 256 used, a 35-minute precomputation on this CPU).
    ``max_steps`` <= 0 means whole epochs: every pair is used."""
    return max_steps <= 0 or max_steps * pairs_per_step >= n_pairs


def dpo_config_from(args: OcrlDPOConfig, *, precompute_ref_log_probs: bool = True):
    """A TRL `DPOConfig` carrying every TrainingArguments setting of ``args``."""
    from trl import DPOConfig

    from ocrl.trainer.config import training_arguments_of

    shared = training_arguments_of(args)
    shared["include_num_input_tokens_seen"] = "non_padding"  # for train_summary.json
    return DPOConfig(**shared, beta=args.dpo_beta,
                     max_length=args.max_prompt_length + args.max_completion_length,
                     precompute_ref_log_probs=precompute_ref_log_probs)


def build_dpo_trainer(args: OcrlDPOConfig, model, tokenizer, groups, *, prompt_format: str):
    """TRL's DPOTrainer on pairs from ``groups``; reference log-probs precomputed by TRL (no
    second model held during training) unless training uses fewer pairs than there are."""
    from datasets import Dataset
    from trl import DPOTrainer

    pairs = dpo_pairs(groups, tokenizer, prompt_format=prompt_format,
                      pairs_per_problem=args.dpo_pairs_per_problem, seed=args.seed)
    if not pairs:
        from ocrl.errors import InputError

        raise InputError("DPO needs problems with both an Accepted and a rejected sample; "
                         "this dataset has none", path=args.data_dir)
    counts = defaultdict(int)
    counts["pairs"] = len(pairs)
    pairs_per_step = (args.per_device_train_batch_size * args.gradient_accumulation_steps
                      * max(args.world_size, 1))
    precompute = reference_precomputed(len(pairs), args.max_steps, pairs_per_step)
    counts["reference_log_probs"] = "precomputed" if precompute else "on_the_fly"
    ref_model = None
    if not precompute and not args.use_lora:
        # Left to itself TRL reloads the reference from the model's path, which needs
        # `architectures` in its config (SmolLM2 converted from GGUF has none); a frozen copy
        # of the weights in hand is the same reference.
        ref_model = copy.deepcopy(model).eval().requires_grad_(False)
    trainer = DPOTrainer(model=model, ref_model=ref_model,
                         args=dpo_config_from(args, precompute_ref_log_probs=precompute),
                         train_dataset=Dataset.from_list(pairs), processing_class=tokenizer)
    return trainer, dict(counts)

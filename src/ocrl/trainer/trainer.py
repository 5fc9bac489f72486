"""`OfflineRLTrainer`: a `transformers.Trainer` whose loss is offline RL on logged groups.

Everything but the loss (optimizer, schedule, mixed precision, gradient accumulation,
checkpoints and resume, DDP/FSDP/DeepSpeed through accelerate, TensorBoard) is Trainer's own.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict

import torch
from transformers import Trainer

from ocrl.algos.losses import aggregation_units, offline_rl_loss
from ocrl.errors import InputError
from ocrl.trainer.collator import GroupCollator
from ocrl.trainer.config import GROUP_TRAINED_CONFIGS, OcrlSFTConfig, OfflineRLConfig
from ocrl.trainer.logprobs import accepts_logits_to_keep, completion_logps

logger = logging.getLogger(__name__)


def fp32_master_weights(model) -> bool:
    """Upcast half-precision trainable weights to fp32 (in place); True when it did.

    Full fine-tuning updates every weight by about lr per step, below bf16's resolution: a
    weight of 0.02 stored in bf16 (spacing 1.2e-4 there) never moves under AdamW at lr 1e-5.
    The fp32 copy is the master weight; bf16/fp16 compute comes from autocast (--bf16/--fp16).
    Adapters (peft) are created in fp32 over a frozen base and need none of this."""
    half = {torch.bfloat16, torch.float16}
    low = sorted({str(p.dtype) for p in model.parameters() if p.requires_grad and p.dtype in half})
    if not low:
        return False
    logger.warning("full fine-tuning: upcasting the model's %s weights to float32 master weights "
                   "(use --bf16 true for bf16 compute, or LoRA to keep the base in %s)",
                   "/".join(low), "/".join(low))
    model.float()
    return True


class OfflineRLTrainer(Trainer):
    """Train a causal LM on prepared groups (see `ocrl.trainer.groups.prepare_groups`).

    The loss is normalised over the whole optimizer step: `get_batch_samples` counts the
    aggregation's units (tokens, sequences or groups) in every micro-batch of the step and on
    every process, and each micro-batch divides its summed loss by that total, as TRL does with
    ``num_items_in_batch``. So the update is the same however the step is cut into
    micro-batches (gradient accumulation) and processes."""

    loss_is_scaled_for_ga = True

    def __init__(self, model, args: OfflineRLConfig | OcrlSFTConfig | None = None,
                 train_dataset=None, processing_class=None, data_collator=None, *,
                 peft_config=None, prompt_format: str | None = None,
                 data_source: str = "train_dataset", **kwargs):
        """As TRL's trainers: ``model`` is a loaded causal LM or a path / hub id / embedded
        name; ``train_dataset`` holds logged rows (``prompt, completion, reward[, group]``),
        ocrl groups or a prepared dataset (see `ocrl.trainer.data.training_dataset`);
        ``processing_class`` is the tokenizer (loaded with the model when ``model`` is a
        name); ``peft_config`` (a peft config) trains adapters. ``prompt_format`` renders ocrl
        groups' problem statements (default: the chat template when the tokenizer has one);
        ``data_source`` names the data in error messages."""
        from ocrl.trainer.data import training_dataset

        if args is None:
            name = model if isinstance(model, str) else getattr(
                getattr(model, "config", None), "_name_or_path", "model")
            args = OfflineRLConfig(output_dir=f"{str(name).rstrip('/').split('/')[-1]}-ocrl")
        if not isinstance(args, GROUP_TRAINED_CONFIGS):
            raise InputError(f"OfflineRLTrainer trains an OfflineRLConfig or an OcrlSFTConfig, "
                             f"not a {type(args).__name__}: use ocrl.build_trainer, or TRL's "
                             "DPOTrainer / GRPOTrainer (with ocrl.SandboxReward as the reward "
                             "function)", field="method")
        # SFT's loss settings are constants of OcrlSFTConfig; only offline RL has a reference.
        self._needs_reference = isinstance(args, OfflineRLConfig) and args.needs_reference
        if isinstance(model, str):
            from ocrl.models import load_model_and_tokenizer

            model, tokenizer = load_model_and_tokenizer(model, dtype=args.model_dtype)
            processing_class = processing_class or tokenizer
        if processing_class is None:
            raise ValueError("processing_class (the tokenizer) is needed with a loaded model")
        if processing_class.pad_token_id is None:
            processing_class.pad_token = processing_class.eos_token
        model.config.use_cache = False
        if peft_config is None:
            fp32_master_weights(model)
        # Prepared before the model is wrapped: the reference log-probs are the starting model's.
        train_dataset, self.data_info = training_dataset(
            args, model, processing_class, train_dataset, prompt_format=prompt_format,
            source=data_source)
        if peft_config is not None:
            from peft import get_peft_model

            model = get_peft_model(model, peft_config)
        if data_collator is None:
            data_collator = GroupCollator(pad_token_id=processing_class.pad_token_id,
                                          share_prompt=args.share_prompt)
        super().__init__(model=model, args=args, train_dataset=train_dataset,
                         data_collator=data_collator, processing_class=processing_class,
                         **kwargs)
        self._logits_to_keep = accepts_logits_to_keep(model)
        self._window: dict[str, list[float]] = defaultdict(list)
        self._window_start: float | None = None
        # Tokens trained on by this process group since it started (a resumed run's
        # state.num_input_tokens_seen also counts the tokens before the checkpoint).
        self.session_tokens = 0

    def create_accelerator_and_postprocess(self) -> None:
        super().create_accelerator_and_postprocess()
        from ocrl.trainer.engines import enable_cpu_fsdp, require_deepspeed

        require_deepspeed(self.accelerator)
        if enable_cpu_fsdp(self.accelerator, self.args):
            self.is_fsdp_enabled = True  # Trainer read the flag before the plugin was put back

    def _remove_unused_columns(self, dataset, description=None):
        # Every column of a prepared group feeds the collator, none the model directly, so
        # Trainer's signature-based pruning (remove_unused_columns) would drop them all.
        return dataset

    # ---- the loss -------------------------------------------------------------------------

    def _units(self, batch) -> torch.Tensor:
        return aggregation_units(batch["target_mask"], self.args.aggregation,
                                 group_index=batch["group_index"],
                                 max_length=self.args.max_completion_length)

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        """The micro-batches of one optimizer step and the step's normaliser: the units of
        the aggregation summed over those micro-batches and over all processes."""
        batch_samples, _ = super().get_batch_samples(epoch_iterator, num_batches, device)
        units = sum((self._units(batch) for batch in batch_samples),
                    torch.zeros((), dtype=torch.float32))
        units = units.to(device)
        if self.accelerator.num_processes > 1:
            units = self.accelerator.gather(units.reshape(1)).sum()
        return batch_samples, units

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        args: OfflineRLConfig | OcrlSFTConfig = self.args
        logp = completion_logps(model, inputs, logits_to_keep=self._logits_to_keep)
        ref_logp = inputs.get("ref_logps") if self._needs_reference else None
        loss, stats = offline_rl_loss(
            logp, inputs["target_mask"], inputs["advantages"].to(logp.dtype),
            group_index=inputs["group_index"], loss=args.loss, ref_logp=ref_logp,
            kl_beta=args.kl_beta, epsilon_low=args.epsilon_low, epsilon_high=args.epsilon_high,
            aggregation=args.aggregation, max_length=args.max_completion_length,
            normalizer=num_items_in_batch)
        if num_items_in_batch is not None:
            # DDP averages gradients over processes; the loss is already this process's share
            # of the step's total, so undo that average. (Without a normaliser, as in
            # evaluation, the batch is normalised by its own units.)
            loss = loss * self.accelerator.num_processes
        if model.training:
            self._record(inputs, stats)
        return (loss, {"logps": logp.detach()}) if return_outputs else loss

    # ---- metrics --------------------------------------------------------------------------

    def _record(self, inputs, stats) -> None:
        if self._window_start is None:
            self._window_start = time.perf_counter()
        window = self._window
        window["reward"] += inputs["rewards"].detach().float().cpu().tolist()
        window["advantage"] += inputs["advantages"].detach().float().cpu().tolist()
        window["completion_length"] += inputs["target_mask"].sum(1).float().cpu().tolist()
        window["num_tokens"].append(float(inputs["num_tokens"]))
        for name, value in stats.items():
            window[name].append(float(value))

    def _flush_window(self) -> dict[str, float]:
        """Statistics of everything trained on since the last log, over all processes.

        Collective: every process must call it (Trainer logs on every process)."""
        from accelerate.utils import gather_object

        windows = gather_object([dict(self._window)])
        elapsed = time.perf_counter() - self._window_start if self._window_start else 0.0
        self._window = defaultdict(list)
        self._window_start = time.perf_counter()
        merged: dict[str, list[float]] = defaultdict(list)
        for window in windows:
            for name, values in window.items():
                merged[name] += values
        if not merged:
            return {}
        metrics: dict[str, float] = {}
        for name in ("reward", "advantage"):
            values = torch.tensor(merged[name], dtype=torch.float64)
            if values.numel():
                metrics[f"{name}/mean"] = values.mean().item()
                metrics[f"{name}/std"] = values.std().item() if values.numel() > 1 else 0.0
        adv = torch.tensor(merged["advantage"], dtype=torch.float64)
        if adv.numel():
            metrics["advantage/min"] = adv.min().item()
            metrics["advantage/max"] = adv.max().item()
        if merged["completion_length"]:
            metrics["completion_length"] = float(sum(merged["completion_length"]) /
                                                 len(merged["completion_length"]))
        for name in ("kl", "clip_fraction"):
            if merged[name]:
                metrics[name] = float(sum(merged[name]) / len(merged[name]))
        tokens = int(sum(merged["num_tokens"]))
        self.state.num_input_tokens_seen += tokens
        self.session_tokens += tokens
        metrics["num_tokens"] = float(self.state.num_input_tokens_seen)
        if elapsed > 0:
            metrics["tokens_per_second"] = tokens / elapsed
        return {k: v for k, v in metrics.items() if math.isfinite(v)}

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        # Training logs (they carry "loss") and the end-of-training summary flush the window.
        if "loss" in logs or "train_runtime" in logs:
            logs = {**logs, **self._flush_window()}
        super().log(logs, start_time)

"""`OfflineRLConfig`: every knob of `ocrl train`, as a `transformers.TrainingArguments`.

Loaded from YAML (``--config c.yaml``) and then from the command line, where every field of
this class and of TrainingArguments is a ``--name value`` flag that wins over the file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainingArguments

from ocrl.errors import InputError

METHODS = ("offline_rl", "sft", "sft_all", "dpo", "grpo_online")
ZERO_ADVANTAGE_POLICIES = ("drop_groups", "drop_samples", "keep")
PROMPT_FORMATS = ("auto", "chat", "plain")


@dataclass
class OfflineRLConfig(TrainingArguments):
    """Configuration of `ocrl train`. ``per_device_train_batch_size`` counts *groups*: each
    group brings all of its k completions into the batch."""

    # ---- what to train, on what ----
    model_name_or_path: str = field(default="smollm2-135m", metadata={
        "aliases": ["--model"],
        "help": "Causal LM to train: a local directory, a hub id, or an embedded model name."})
    data_dir: str | None = field(default=None, metadata={
        "aliases": ["--data"], "help": "Dataset directory written by `ocrl prepare`."})
    train_split: str = field(default="train", metadata={
        "help": "Split of the dataset to train on."})
    method: str = field(default="offline_rl", metadata={
        "help": "offline_rl (ours), sft (accepted samples only), sft_all (every sample), dpo, "
                "or grpo_online (TRL GRPOTrainer, sandbox reward).",
        "choices": METHODS})
    prompt_format: str = field(default="auto", metadata={
        "help": "auto (chat template if the tokenizer has one), chat or plain.",
        "choices": PROMPT_FORMATS})
    model_dtype: str = field(default="auto", metadata={
        "help": "dtype the weights are loaded in (auto keeps the stored one; float32, bfloat16). "
                "Full fine-tuning keeps fp32 master weights: half-precision weights are upcast "
                "(bf16 compute comes from --bf16)."})
    max_prompt_length: int = field(default=512, metadata={
        "help": "Groups whose prompt has more tokens are dropped (counted in "
                "train_summary.json), never cut."})
    max_completion_length: int = field(default=512, metadata={
        "help": "Completions with more tokens (EOS included) are dropped (counted), never cut: a "
                "cut answer teaches the model not to stop. Also the constant of "
                "sum_over_max_length."})

    # ---- the algorithm ----
    advantage: str = field(default="rloo", metadata={
        "help": "Advantage estimator: rloo, grpo, rloo_std or none (the raw reward)."})
    advantage_eps: float = field(default=1e-4, metadata={"help": "eps of the std division."})
    advantage_clip: float | None = field(default=None, metadata={
        "help": "Clip advantages to [-c, c]; unset = no clipping."})
    zero_advantage: str = field(default="drop_groups", metadata={
        "help": "drop_groups: drop groups whose advantages are all 0 (e.g. all rewards equal); "
                "drop_samples: also drop single samples with advantage 0; keep: train on all.",
        "choices": ZERO_ADVANTAGE_POLICIES})
    loss: str = field(default="ref_clip", metadata={
        "help": "Policy loss: ref_clip (ratio to the frozen starting model, clipped: bounded, the "
                "default) or pg (ratio fixed at 1: unbounded below, can collapse a long run)."})
    aggregation: str = field(default="token_mean", metadata={
        "help": "How token losses become the step's loss, normalised over the whole optimizer "
                "step: token_mean (DAPO; every token weighs the same), sequence_mean (GRPO; every "
                "sequence), group_mean (every group), sum_over_max_length (Dr. GRPO)."})
    kl_beta: float = field(default=0.0, metadata={
        "help": "Weight of the per-token KL penalty to the frozen reference (0 = off)."})
    epsilon_low: float = field(default=0.2, metadata={"help": "ref_clip: lower clip 1 - eps."})
    epsilon_high: float = field(default=0.2, metadata={"help": "ref_clip: upper clip 1 + eps."})
    share_prompt: bool = field(default=True, metadata={
        "help": "Run each group's prompt once and attend all k completions to it (a block "
                "attention mask); off = one padded row per completion."})
    ref_cache_dir: str | None = field(default=None, metadata={
        "help": "Where reference log-probs are cached (default: $OCRL_CACHE/ref_logprobs)."})
    ref_batch_size: int = field(default=4, metadata={
        "help": "Groups per forward pass when computing reference log-probs."})

    # ---- LoRA ----
    use_lora: bool = field(default=False, metadata={"help": "Train LoRA adapters (peft)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: str = field(default="all-linear", metadata={
        "help": "Modules to adapt: all-linear or a comma-separated list of names."})
    merge_lora: bool = field(default=True, metadata={
        "help": "Save merged weights at the end (else the adapter plus a pointer to its base)."})

    # ---- DPO baseline ----
    dpo_beta: float = field(default=0.1, metadata={"help": "DPO beta."})
    dpo_pairs_per_problem: int = field(default=4, metadata={
        "help": "At most this many (accepted, rejected) pairs per problem."})

    # ---- online GRPO baseline (method grpo_online) ----
    num_generations: int = field(default=4, metadata={
        "help": "grpo_online: completions sampled per prompt (the group size)."})
    generation_temperature: float = field(default=0.8, metadata={
        "help": "grpo_online: sampling temperature of the fresh completions."})

    # ---- resuming ----
    auto_resume: bool = field(default=True, metadata={
        "help": "Resume from the last checkpoint in output_dir when there is one."})
    keep_checkpoints: bool = field(default=True, metadata={
        "help": "Keep output_dir/checkpoint-* once training has finished and the final model "
                "is saved. They exist to resume a stopped run; each holds the weights and the "
                "optimizer state (about 3x the model), so demos and sweeps turn this off."})

    # ---- TrainingArguments defaults that suit this trainer ----
    learning_rate: float = field(default=1e-5, metadata={"help": "Initial learning rate."})
    per_device_train_batch_size: int = field(default=2, metadata={
        "help": "Groups (not sequences) per device per step."})
    num_train_epochs: float = field(default=1.0, metadata={"help": "Epochs over the groups."})
    logging_steps: float = field(default=1, metadata={"help": "Log every N optimizer steps."})
    save_steps: float = field(default=50, metadata={"help": "Checkpoint every N steps."})
    save_total_limit: int | None = field(default=2, metadata={"help": "Checkpoints kept."})
    report_to: None | str | list[str] = field(default="tensorboard", metadata={
        "help": "Where metrics go (tensorboard, none, ...)."})
    remove_unused_columns: bool = field(default=False, metadata={
        "help": "Kept False: the collator needs every column of the prepared groups."})
    bf16: bool | None = field(default=None, metadata={
        "help": "bf16 mixed precision; unset = on where the hardware supports it."})

    def __post_init__(self):
        if self.bf16 is None:
            self.bf16 = _bf16_available() and not self.use_cpu and not self.fp16
        for name, choices in (("method", METHODS), ("zero_advantage", ZERO_ADVANTAGE_POLICIES),
                              ("prompt_format", PROMPT_FORMATS)):
            if getattr(self, name) not in choices:
                raise InputError(f"must be one of {', '.join(choices)}, got "
                                 f"{getattr(self, name)!r}", field=name)
        # Names are checked here, not at the first step, so a typo fails before any loading.
        from ocrl.algos.advantages import ADVANTAGE_ESTIMATORS
        from ocrl.algos.losses import AGGREGATION_ALIASES, AGGREGATIONS, POLICY_LOSSES

        for name, registry in (("advantage", ADVANTAGE_ESTIMATORS), ("loss", POLICY_LOSSES),
                               ("aggregation", {**AGGREGATIONS, **AGGREGATION_ALIASES})):
            if getattr(self, name) not in registry:
                raise InputError(f"unknown {name} {getattr(self, name)!r}; choose one of "
                                 f"{', '.join(sorted(registry))}", field=name)
        if self.max_prompt_length < 1 or self.max_completion_length < 1:
            raise InputError("must be at least 1", field="max_completion_length")
        if self.kl_beta < 0:
            raise InputError("must be >= 0", field="kl_beta")
        super().__post_init__()

    @property
    def needs_reference(self) -> bool:
        from ocrl.algos.losses import loss_needs_reference

        return self.method == "offline_rl" and (loss_needs_reference(self.loss) or
                                                self.kl_beta > 0)


def training_arguments_of(args: TrainingArguments) -> dict[str, Any]:
    """Every `TrainingArguments` setting of ``args``, to build another trainer's config (TRL's
    DPOConfig, GRPOConfig) from an `ocrl train` config: the one way settings are carried over,
    so a TrainingArguments field is never silently dropped."""
    # The deprecated gradient_checkpointing* aliases are left out: TRL defaults them to True,
    # and the resolved activation_checkpointing is what counts.
    aliases = ("gradient_checkpointing", "gradient_checkpointing_kwargs")
    shared = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainingArguments)
              if f.init and f.name not in aliases}
    if hasattr(args, "activation_checkpointing"):
        shared["activation_checkpointing"] = args.activation_checkpointing
    shared["report_to"] = args.report_to or "none"
    return shared


def _bf16_available() -> bool:
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def _field_names() -> set[str]:
    return {f.name for f in dataclasses.fields(OfflineRLConfig) if f.init}


def read_yaml_config(path: str | Path) -> dict[str, Any]:
    """The YAML file's settings, checked against the config's fields."""
    from ocrl.config_files import read_yaml_mapping

    data = read_yaml_mapping(path)
    # Short names the command line also accepts.
    for short, long in (("model", "model_name_or_path"), ("data", "data_dir")):
        if short in data:
            data[long] = data.pop(short)
    unknown = sorted(set(data) - _field_names())
    if unknown:
        raise InputError("unknown setting (not a field of OfflineRLConfig or "
                         "TrainingArguments)", path=str(path), field=unknown[0])
    return data


def parse_config(argv: list[str]) -> OfflineRLConfig:
    """Build the config from ``[--config c.yaml] [--field value ...]``: file, then flags."""
    from ocrl.config_files import parse_flags, take_config_path

    argv = list(argv)
    config_path = take_config_path(argv, ("--config", "--config_file"))
    return parse_flags(OfflineRLConfig, argv, prog="ocrl train",
                       defaults=read_yaml_config(config_path) if config_path else {},
                       unknown_hint="every OfflineRLConfig and TrainingArguments field is a "
                                    "--name value flag")

"""`OcrlTrainingArguments`: the settings every `ocrl train` method reads, as a
`transformers.TrainingArguments`; each method's own config (`ocrl.trainer.config`) extends it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from transformers import TrainingArguments

from ocrl.errors import InputError

METHODS = ("offline_rl", "sft", "sft_all", "dpo", "grpo_online")
PROMPT_FORMATS = ("auto", "chat", "plain")
# What train_summary.json records of the shared settings, next to every setting of the method.
SUMMARY_SETTINGS = ("learning_rate", "per_device_train_batch_size",
                    "gradient_accumulation_steps", "max_prompt_length", "max_completion_length",
                    "use_lora", "seed")


def method_field(default: str):
    """The ``--method`` field: every method's class declares it with its own default."""
    return field(default=default, metadata={
        "help": "offline_rl (ours), sft (accepted samples only), sft_all (every sample), dpo, "
                "or grpo_online (TRL GRPOTrainer, sandbox reward). Each has its own settings: "
                "`ocrl train --method M --help` lists M's.",
        "choices": METHODS})


def require_choice(config, name: str, choices) -> None:
    value = getattr(config, name)
    if value not in choices:
        raise InputError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}",
                         field=name)


@dataclass
class OcrlTrainingArguments(TrainingArguments):
    """What every `ocrl train` method reads. Not a method's config itself: build
    `ocrl.trainer.config.config_class(method)`."""

    # The methods a class configures; `ocrl.trainer.config.config_class` looks them up.
    methods: ClassVar[tuple[str, ...]] = ()

    # ---- what to train, on what ----
    model_name_or_path: str = field(default="smollm2-135m", metadata={
        "aliases": ["--model"],
        "help": "Causal LM to train: a local directory, a hub id, or an embedded model name."})
    data_dir: str | None = field(default=None, metadata={
        "aliases": ["--data"], "help": "Dataset directory written by `ocrl prepare`."})
    train_split: str = field(default="train", metadata={
        "help": "Split of the dataset to train on."})
    method: str = method_field("offline_rl")
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

    # ---- LoRA ----
    use_lora: bool = field(default=False, metadata={"help": "Train LoRA adapters (peft)."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    lora_target_modules: str = field(default="all-linear", metadata={
        "help": "Modules to adapt: all-linear or a comma-separated list of names."})
    merge_lora: bool = field(default=True, metadata={
        "help": "Save merged weights at the end (else the adapter plus a pointer to its base)."})

    # ---- resuming ----
    auto_resume: bool = field(default=True, metadata={
        "help": "Resume from the last checkpoint in output_dir when there is one."})
    keep_checkpoints: bool = field(default=True, metadata={
        "help": "Keep output_dir/checkpoint-* once training has finished and the final model "
                "is saved. They exist to resume a stopped run; each holds the weights and the "
                "optimizer state (about 3x the model), so demos and sweeps turn this off."})

    # ---- TrainingArguments defaults that suit these trainers ----
    learning_rate: float = field(default=1e-5, metadata={"help": "Initial learning rate."})
    per_device_train_batch_size: int = field(default=2, metadata={
        "help": "Groups (not sequences; DPO: pairs) per device per step."})
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
        require_choice(self, "method", METHODS)
        if self.method not in self.methods:
            from ocrl.trainer.config import config_class

            raise InputError(f"method {self.method} is configured by "
                             f"{config_class(self.method).__name__}, not {type(self).__name__}",
                             field="method")
        require_choice(self, "prompt_format", PROMPT_FORMATS)
        if self.max_prompt_length < 1 or self.max_completion_length < 1:
            raise InputError("must be at least 1", field="max_completion_length")
        super().__post_init__()

    def summary_settings(self) -> dict[str, Any]:
        """The settings train_summary.json records: the shared ones that shape a run, and
        every setting of the method."""
        shared = {f.name for f in dataclasses.fields(OcrlTrainingArguments)}
        own = [f.name for f in dataclasses.fields(self) if f.name not in shared]
        return {name: getattr(self, name) for name in (*SUMMARY_SETTINGS, *own)}


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

"""What `ocrl train` does, start to finish: load, prepare, train, save, summarise."""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocrl.atomic import write_json_atomic
from ocrl.errors import InputError
from ocrl.trainer.config import (
    OcrlDPOConfig,
    OcrlOnlineGRPOConfig,
    OcrlSFTConfig,
    OcrlTrainingArguments,
)

logger = logging.getLogger(__name__)
SUMMARY_FILE = "train_summary.json"


def resolve_prompt_format(requested: str, tokenizer, model_dir: Path) -> str:
    """The prompt format to train in: as asked; else the one the model was trained in; else
    the chat template when the tokenizer has one."""
    from ocrl import prompting
    from ocrl.models import read_model_info

    if requested != "auto":
        return requested
    recorded = read_model_info(model_dir).get("prompt_format")
    return recorded or prompting.detect_format(tokenizer)


def load_training_groups(args: OcrlTrainingArguments):
    if not args.data_dir:
        raise InputError("--data is required: a dataset directory written by `ocrl prepare`",
                         field="data_dir")
    from ocrl.dataset import load_groups

    return load_groups(args.data_dir, split=args.train_split)


def last_checkpoint(args: OcrlTrainingArguments) -> str | None:
    """The checkpoint to resume from: the one asked for, else the newest *complete* one in
    output_dir. Trainer writes trainer_state.json last, so a run killed while saving leaves
    a checkpoint without it, which is skipped rather than resumed from."""
    if args.resume_from_checkpoint:
        return args.resume_from_checkpoint
    if not (args.auto_resume and os.path.isdir(args.output_dir)):
        return None
    steps = []
    for path in Path(args.output_dir).glob("checkpoint-*"):
        if path.is_dir() and path.name.split("-", 1)[1].isdigit():
            steps.append((int(path.name.split("-", 1)[1]), path))
    for _, path in sorted(steps, reverse=True):
        if (path / "trainer_state.json").is_file():
            return str(path)
        logger.warning("skipping %s: incomplete (the run was stopped while saving it)", path)
    return None


def lora_config(args: OcrlTrainingArguments):
    from peft import LoraConfig

    targets: Any = args.lora_target_modules
    if targets != "all-linear":
        targets = [name.strip() for name in targets.split(",") if name.strip()]
    return LoraConfig(r=args.lora_r, lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout,
                      target_modules=targets, task_type="CAUSAL_LM")


def wrap_lora(model, args: OcrlTrainingArguments):
    from peft import get_peft_model

    return get_peft_model(model, lora_config(args))


def save_final_model(trainer, args: OcrlTrainingArguments, tokenizer, *, base_dir: Path,
                     prompt_format: str) -> dict[str, Any]:
    """Write loadable weights to output_dir (merged LoRA by default) and ocrl_model.json."""
    from ocrl.models import write_model_info

    out = Path(args.output_dir)
    adapter = False
    sharded = getattr(trainer, "is_fsdp_enabled", False) or \
        getattr(trainer, "is_deepspeed_enabled", False)
    if args.use_lora and args.merge_lora and sharded:
        # Merging needs whole weights, which no process holds here: save the adapter and let
        # the loader (ocrl.models.load_model_and_tokenizer) merge it onto its base.
        logger.warning("LoRA under FSDP/DeepSpeed: saving the adapter, not merged weights")
    if args.use_lora and args.merge_lora and not sharded:
        merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
        if trainer.is_world_process_zero():
            merged.save_pretrained(out)
            tokenizer.save_pretrained(out)
    else:
        trainer.save_model(str(out))  # full weights, or the adapter alone
        adapter = args.use_lora
        if adapter and trainer.is_world_process_zero():
            tokenizer.save_pretrained(out)
    info = {"method": args.method, "prompt_format": prompt_format,
            "base_model": str(base_dir), "adapter": adapter}
    if trainer.is_world_process_zero():
        write_model_info(out, **info)
    return info


@dataclass
class PreparedRun:
    trainer: Any
    tokenizer: Any
    base_dir: Path
    prompt_format: str
    extra: dict[str, Any]


def build_trainer(args: OcrlTrainingArguments, *, groups=None, model=None,
                  tokenizer=None) -> PreparedRun:
    """Load (unless given), prepare the data for the method ``args`` configures (its class:
    `ocrl.trainer.config.config_class`) and build its trainer.

    ``groups`` (rows as `ocrl.dataset.load_groups` returns them), ``model`` and ``tokenizer``
    may be given directly; otherwise they come from ``args.data_dir`` and
    ``args.model_name_or_path``."""
    from ocrl.models import load_model_and_tokenizer, resolve_model
    from ocrl.trainer.baselines import build_dpo_trainer, sft_groups
    from ocrl.trainer.trainer import OfflineRLTrainer

    if not args.output_dir:
        raise InputError("--output_dir is required", field="output_dir")
    online = isinstance(args, OcrlOnlineGRPOConfig)
    if groups is None and not online:
        groups = load_training_groups(args)
    base_dir = Path(args.model_name_or_path)
    if model is None:
        base_dir = resolve_model(args.model_name_or_path)
        model, tokenizer = load_model_and_tokenizer(base_dir, dtype=args.model_dtype)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.config.use_cache = False
    prompt_format = resolve_prompt_format(args.prompt_format, tokenizer, base_dir)
    source = str(Path(args.data_dir) / "groups.parquet") if args.data_dir else "groups"
    extra: dict[str, Any] = {}

    if online:
        from ocrl.trainer.online import build_grpo_trainer

        if args.use_lora:
            model = wrap_lora(model, args)
        trainer, extra = build_grpo_trainer(args, model, tokenizer, prompt_format=prompt_format)
        return PreparedRun(trainer, tokenizer, base_dir, prompt_format, extra)

    if isinstance(args, OcrlDPOConfig):
        if args.use_lora:
            model = wrap_lora(model, args)
        trainer, extra = build_dpo_trainer(args, model, tokenizer, groups,
                                           prompt_format=prompt_format)
        return PreparedRun(trainer, tokenizer, base_dir, prompt_format, extra)

    if isinstance(args, OcrlSFTConfig):
        groups = sft_groups(groups, accepted_only=args.accepted_only)
    trainer = OfflineRLTrainer(model=model, args=args, train_dataset=groups,
                               processing_class=tokenizer, prompt_format=prompt_format,
                               peft_config=lora_config(args) if args.use_lora else None,
                               data_source=source)
    trainer.data_info.setdefault("groups", {})
    logger.info("groups: %s", trainer.data_info["groups"])
    extra.update(trainer.data_info)
    return PreparedRun(trainer, tokenizer, base_dir, prompt_format, extra)


def end_distributed() -> None:
    """Leave the process group cleanly once every process is done: a process that exits with
    gloo's threads still up can die in `std::terminate` (SIGABRT) after its work is saved,
    failing the launch. A no-op without a process group."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def run_training(args: OcrlTrainingArguments, *, groups=None, model=None, tokenizer=None) -> dict:
    """Train as ``args`` says, save the model, and return the summary also written to
    OUT/train_summary.json. Resumes from OUT's last checkpoint when there is one."""
    started = time.time()
    run = build_trainer(args, groups=groups, model=model, tokenizer=tokenizer)
    trainer = run.trainer
    checkpoint = last_checkpoint(args)
    if checkpoint:
        logger.warning("resuming from %s", checkpoint)
    train_started = time.time()
    result = trainer.train(resume_from_checkpoint=checkpoint)
    train_seconds = time.time() - train_started
    info = save_final_model(trainer, args, run.tokenizer, base_dir=run.base_dir,
                            prompt_format=run.prompt_format)

    history = [entry for entry in trainer.state.log_history if "loss" in entry]
    tokens = int(trainer.state.num_input_tokens_seen)
    session_tokens = getattr(trainer, "session_tokens", tokens)
    summary = {
        "method": args.method, "model": str(args.model_name_or_path), **info,
        "global_step": trainer.state.global_step, "epochs": trainer.state.epoch,
        "resumed_from": checkpoint, "tokens_seen": tokens,
        "train_seconds": round(train_seconds, 3), "wall_time_s": round(time.time() - started, 3),
        "tokens_this_session": session_tokens,
        "tokens_per_second": (session_tokens / train_seconds
                              if session_tokens and train_seconds > 0 else None),
        "final_metrics": history[-1] if history else {}, "train_metrics": result.metrics,
        "distributed": distributed_setup(trainer.accelerator),
        "settings": args.summary_settings(),
        **run.extra,
    }
    if trainer.is_world_process_zero():
        write_json_atomic(Path(args.output_dir) / SUMMARY_FILE, summary, sort_keys=True)
        if not args.keep_checkpoints:
            # Only after the summary: a run stopped in between is finished, not half-deleted.
            remove_checkpoints(args.output_dir)
    return summary


def distributed_setup(accelerator) -> dict[str, Any]:
    """What actually ran, read from the accelerator rather than the config asked for: the
    engine (NO, MULTI_CPU / MULTI_GPU for DDP, FSDP, DEEPSPEED), the processes, the mixed
    precision, and whether the weights were sharded across processes."""
    from accelerate.utils import DistributedType

    kind = accelerator.distributed_type
    sharded = False
    if kind == DistributedType.FSDP:
        plugin = accelerator.state.fsdp_plugin
        strategy = str(getattr(plugin, "sharding_strategy", "") or "")
        version = getattr(plugin, "fsdp_version", 1)
        sharded = version == 2 or "NO_SHARD" not in strategy
    elif kind == DistributedType.DEEPSPEED:
        plugin = accelerator.state.deepspeed_plugin
        sharded = int(getattr(plugin, "zero_stage", 0) or 0) >= 3
    return {"type": str(kind.value if hasattr(kind, "value") else kind),
            "processes": accelerator.num_processes,
            "mixed_precision": str(accelerator.mixed_precision), "sharded": sharded}


def remove_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """Delete the checkpoint-* directories of a finished run; return what was deleted."""
    removed = [path for path in sorted(Path(output_dir).glob("checkpoint-*")) if path.is_dir()]
    for path in removed:
        shutil.rmtree(path)
    if removed:
        logger.info("removed %d checkpoint(s) of the finished run in %s", len(removed),
                    output_dir)
    return removed

"""One process of the FSDP-on-CPU test (launched by accelerate; see test_trainer_distributed).

Three plain-SGD steps of offline RL (ref_clip + KL) on a tiny model, 4 groups per step in all
(4 on one process, 2 on each of two). Each process writes OUT/<tag>_rank<i>.pt: how its
parameters are held after training (DTensor or not, local and full element counts), what
the accelerator says ran, the groups it saw, and (main process) the final full weights, also
saved by Trainer.save_model to OUT/<tag>/final."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from tiny_lm import pattern_groups  # noqa: E402

from ocrl.trainer.config import parse_config  # noqa: E402
from ocrl.trainer.pipeline import build_trainer, distributed_setup, end_distributed  # noqa: E402,E501


def holding(model) -> dict:
    """Per parameter: (is a DTensor, elements held here, elements in the whole tensor)."""
    from torch.distributed.tensor import DTensor

    return {name: (isinstance(p, DTensor),
                   (p.to_local() if isinstance(p, DTensor) else p).numel(), p.numel())
            for name, p in model.named_parameters()}


def main(out: str, model_dir: str, tag: str) -> None:
    args = parse_config([
        "--model", model_dir, "--output_dir", f"{out}/{tag}", "--use_cpu", "true",
        "--max_steps", "3", "--per_device_train_batch_size", "4", "--optim", "sgd",
        "--learning_rate", "0.5", "--weight_decay", "0", "--max_grad_norm", "0",
        "--lr_scheduler_type", "constant", "--report_to", "none", "--save_strategy", "no",
        "--loss", "ref_clip", "--kl_beta", "0.1", "--prompt_format", "plain",
        "--ref_cache_dir", f"{out}/{tag}_ref", "--disable_tqdm", "true", "--seed", "0"])
    args.per_device_train_batch_size = 4 // args.world_size
    run = build_trainer(args, groups=pattern_groups(16))
    trainer = run.trainer
    seen: list[list[tuple[int, ...]]] = []
    collate = trainer.data_collator

    def recording_collator(features):
        seen.append([tuple(feature["prompt_ids"]) for feature in features])
        return collate(features)

    trainer.data_collator = recording_collator
    trainer.train()
    held = holding(trainer.model)  # the trained model as accelerate prepared it
    state = trainer.accelerator.get_state_dict(trainer.model)  # collective under FSDP
    trainer.save_model(f"{out}/{tag}/final")  # what `ocrl train` saves: whole weights
    torch.save({"world_size": args.world_size, "distributed": distributed_setup(trainer.accelerator),
                "held": held, "seen": seen,
                "state": {k: v.detach().cpu().clone() for k, v in state.items()}
                if args.process_index == 0 else None},
               Path(out) / f"{tag}_rank{args.process_index}.pt")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
    end_distributed()  # a clean exit: gloo's threads down before the interpreter

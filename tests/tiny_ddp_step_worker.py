"""One process of the 1-vs-2-process update test (see test_trainer_distributed).

For every aggregation, one plain-SGD step over the same 4 uneven groups from the same start;
the main process writes the weight changes to OUT/updates_<world size>.pt."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from tiny_lm import uneven_groups  # noqa: E402

from ocrl.trainer.config import parse_config  # noqa: E402
from ocrl.trainer.pipeline import build_trainer, end_distributed  # noqa: E402

AGGREGATIONS = ("token_mean", "sequence_mean", "group_mean", "sum_over_max_length")


def main(out: str, model_dir: str) -> None:
    updates = {}
    for aggregation in AGGREGATIONS:
        args = parse_config([
            "--model", model_dir, "--output_dir", f"{out}/{aggregation}", "--use_cpu", "true",
            "--max_steps", "1", "--per_device_train_batch_size", "4", "--optim", "sgd",
            "--learning_rate", "1.0", "--weight_decay", "0", "--max_grad_norm", "0",
            "--lr_scheduler_type", "constant", "--report_to", "none", "--save_strategy", "no",
            "--loss", "pg", "--aggregation", aggregation, "--prompt_format", "plain",
            "--disable_tqdm", "true", "--seed", "0"])
        # 4 groups per step in all: 4 on one process, 2 on each of two
        args.per_device_train_batch_size = 4 // args.world_size
        run = build_trainer(args, groups=uneven_groups(4))
        model = run.trainer.accelerator.unwrap_model(run.trainer.model)
        before = {k: v.detach().clone() for k, v in model.state_dict().items()}
        run.trainer.train()
        model = run.trainer.accelerator.unwrap_model(run.trainer.model)
        updates[aggregation] = {k: v.detach() - before[k] for k, v in model.state_dict().items()}
    if args.process_index == 0:
        torch.save(updates, Path(out) / f"updates_{args.world_size}.pt")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
    end_distributed()  # a clean exit: gloo's threads down before the interpreter

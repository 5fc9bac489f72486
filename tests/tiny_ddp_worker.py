"""One process of the two-process CPU test (launched by accelerate; see test_trainer_distributed).

Trains offline RL (ref_clip + KL, so the reference path runs too) on a tiny model and writes
this replica's final weights and the groups it saw to OUT/rank<i>.pt."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from tiny_lm import pattern_groups  # noqa: E402

from ocrl.trainer.config import parse_config  # noqa: E402
from ocrl.trainer.pipeline import build_trainer, end_distributed  # noqa: E402


def main(out: str, model_dir: str) -> None:
    args = parse_config([
        "--model", model_dir, "--output_dir", out, "--use_cpu", "true", "--max_steps", "3",
        "--per_device_train_batch_size", "2", "--learning_rate", "1e-2", "--report_to", "none",
        "--save_strategy", "no", "--loss", "ref_clip", "--kl_beta", "0.1", "--prompt_format",
        "plain", "--ref_cache_dir", f"{out}/ref", "--disable_tqdm", "true", "--seed", "0"])
    run = build_trainer(args, groups=pattern_groups(12))
    seen: list[list[tuple[int, ...]]] = []
    collate = run.trainer.data_collator

    def recording_collator(features):
        seen.append([tuple(feature["prompt_ids"]) for feature in features])
        return collate(features)

    run.trainer.data_collator = recording_collator
    run.trainer.train()
    model = run.trainer.accelerator.unwrap_model(run.trainer.model)
    from ocrl.trainer.pipeline import distributed_setup

    torch.save({"rank": args.process_index, "world_size": args.world_size,
                "distributed": distributed_setup(run.trainer.accelerator),
                "backend": args.distributed_state.backend, "seen": seen,
                "state": {k: v.detach().cpu() for k, v in model.state_dict().items()}},
               Path(out) / f"rank{args.process_index}.pt")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
    end_distributed()  # a clean exit: gloo's threads down before the interpreter

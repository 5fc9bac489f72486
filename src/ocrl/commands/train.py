"""`ocrl train`: offline RL (or a baseline) on a prepared dataset.

Every field of the method's config (`ocrl.trainer.config`: OfflineRLConfig, OcrlSFTConfig,
OcrlDPOConfig, OcrlOnlineGRPOConfig, each a transformers.TrainingArguments) is a ``--name value``
flag, so this verb forwards its arguments to HfArgumentParser instead of declaring typer
options.
Several processes: ``accelerate launch --config_file configs/accelerate/ddp.yaml
-m ocrl.commands.train --model M --data DIR --output_dir OUT``.
"""

from __future__ import annotations

import sys

from ocrl.commands.common import exit_on_input_error, flag_verb, print_table

USAGE = """Usage: ocrl train --model M --data DIR --method offline_rl --output_dir OUT
                  [--config c.yaml] [--FIELD VALUE ...]

Train on a dataset directory written by `ocrl prepare`. --method: offline_rl (default),
sft (Accepted samples only), sft_all (every sample), dpo (TRL's DPOTrainer on pairs),
grpo_online (TRL's GRPOTrainer, rewarded by the sandbox). Each method has its own settings:
the flags below are the ones of the method asked for (`ocrl train --method dpo --help` lists
dpo's), and another method's setting is an error.
Settings come from --config (YAML), then from flags; every field below is a flag.
OUT ends with the trained model (loadable by `ocrl eval --model OUT`), ocrl_model.json,
train_summary.json, checkpoints (a rerun resumes from the last) and TensorBoard logs (OUT/runs).
"""


@flag_verb("train", "Offline RL (RLOO/GRPO advantages on logged samples), SFT or DPO. --help "
                    "lists every flag.")
def main(argv: list[str]) -> dict | None:
    from ocrl.config_files import show_help
    from ocrl.trainer.config import config_class, parse_config, requested_method

    if show_help(argv, config_class(requested_method(argv)), prog="ocrl train", usage=USAGE):
        return None
    from ocrl.trainer.pipeline import end_distributed, run_training

    config = parse_config(argv)
    summary = run_training(config)
    end_distributed()
    if config.process_index == 0:
        metrics = summary.get("final_metrics", {})
        rows = [("method", summary["method"]), ("optimizer steps", str(summary["global_step"])),
                ("tokens seen", str(summary["tokens_seen"])),
                ("train seconds", f"{summary['train_seconds']:.1f}"),
                ("tokens/s", f"{summary['tokens_per_second'] or 0:.1f}")]
        rows += [(name, f"{metrics[name]:.4g}") for name in ("loss", "reward/mean", "kl",
                                                             "clip_fraction") if name in metrics]
        if "groups" in summary:
            g = summary["groups"]
            rows.append(("groups kept / read", f"{g['groups_kept']} / {g['groups_in']}"))
        print_table(f"ocrl train -> {config.output_dir}", ["", "value"], rows)
    return summary


if __name__ == "__main__":  # `accelerate launch -m ocrl.commands.train ...`
    exit_on_input_error(main)(sys.argv[1:])

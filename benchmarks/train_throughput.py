"""Training throughput: `ocrl train` (offline RL, pg, full fine-tuning) vs TRL's SFTTrainer.

Both train SmolLM2-135M (the embedded default) on the same logged samples, in the same prompt
format (the model's chat template), with the same number of sequences per optimizer step, the
same optimizer, precision (fp32) and no gradient checkpointing, for one epoch each, one after
the other in this process. Data: the first ``--problems`` HumanEval problems with ``--k``
logged CodeGen-16B samples each (../shared/data/humaneval), cut at the Codex stop sequences.
The reward is static syntactic validity (`ast`), so nothing is executed; every group is kept
(``zero_advantage=keep``) so both trainers see exactly the same samples.

tokens/s = tokens of the training sequences (prompt + completion of every sample, no padding,
as each trainer tokenized them) / wall time of ``trainer.train()``. "steady" leaves out the
first optimizer step (allocator and thread-pool warm-up).

    .venv/bin/python benchmarks/train_throughput.py            # ~4 minutes on 2 CPU cores
    .venv/bin/python benchmarks/train_throughput.py --problems 16 --rounds 2 --ablation
"""

from __future__ import annotations

import argparse
import ast
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "humaneval"


def load_groups(problems: int, k: int) -> list[dict]:
    from ocrl.prompting import ASSERT_STOPS, truncate_at_stops

    if not SHARED.is_dir():
        sys.exit(f"needs the logged HumanEval samples in {SHARED}")
    with open(SHARED / "problems.jsonl", encoding="utf-8") as handle:
        by_prompt = {row["prompt"]: row for row in map(json.loads, handle)}
    groups = []
    with gzip.open(SHARED / "codegen16b_samples.jsonl.gz", "rt", encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            problem = by_prompt.get(row["prompt"])
            if problem is None:
                continue
            completions = []
            for sample in row["samples"]:
                code = truncate_at_stops(sample, ASSERT_STOPS)
                if code.strip() and code not in completions:
                    completions.append(code)
                if len(completions) == k:
                    break
            rewards = []
            for code in completions:
                try:
                    ast.parse(row["prompt"] + code)
                    rewards.append(1.0)
                except SyntaxError:
                    rewards.append(0.0)
            groups.append({"group_id": problem["task_id"], "problem_id": problem["task_id"],
                           "prompt": row["prompt"], "style": "assert", "completions": completions,
                           "rewards": rewards,
                           "statuses": ["Accepted" if r else "Compile Error" for r in rewards]})
            if len(groups) == problems:
                break
    return groups


class StepTimer:
    """Wall time of every optimizer step (a transformers TrainerCallback)."""

    def __init__(self):
        from transformers import TrainerCallback

        timer = self

        class _Callback(TrainerCallback):
            def on_step_begin(self, args, state, control, **kwargs):
                timer.begin = time.perf_counter()

            def on_step_end(self, args, state, control, **kwargs):
                timer.steps.append(time.perf_counter() - timer.begin)

        self.begin = 0.0
        self.steps: list[float] = []
        self.callback = _Callback()


def common_settings(args, out: str) -> dict:
    return dict(output_dir=out, learning_rate=1e-5, optim="adamw_torch", bf16=False,
                activation_checkpointing=False, report_to="none", save_strategy="no",
                logging_steps=1, use_cpu=True, disable_tqdm=True, seed=0,
                lr_scheduler_type="constant", dataloader_num_workers=0)


def run_ocrl(args, groups, model_dir, share_prompt: bool) -> dict:
    from ocrl.models import load_model_and_tokenizer
    from ocrl.trainer.config import OfflineRLConfig
    from ocrl.trainer.pipeline import build_trainer

    model, tokenizer = load_model_and_tokenizer(model_dir)
    with tempfile.TemporaryDirectory() as out:
        config = OfflineRLConfig(
            **common_settings(args, out), model_name_or_path=str(model_dir), method="offline_rl",
            loss="pg", advantage="rloo", zero_advantage="keep", share_prompt=share_prompt,
            per_device_train_batch_size=args.groups_per_step,
            max_steps=len(groups) // args.groups_per_step,
            max_prompt_length=args.max_prompt_length,
            max_completion_length=args.max_completion_length)
        run = build_trainer(config, groups=groups, model=model, tokenizer=tokenizer)
        data = run.trainer.train_dataset
        tokens = sum(len(row["prompt_ids"]) + len(c) for row in data for c in row["completion_ids"])
        sequences = sum(len(row["completion_ids"]) for row in data)
        timer = StepTimer()
        run.trainer.add_callback(timer.callback)
        started = time.perf_counter()
        run.trainer.train()
        seconds = time.perf_counter() - started
        logged = run.trainer.state.num_input_tokens_seen
    counts = run.extra["groups"]
    dropped = counts["groups_dropped_prompt_too_long"] + counts["completions_dropped_too_long"]
    return {"name": "ocrl offline_rl pg" + ("" if share_prompt else " (share_prompt off)"),
            "tokens": tokens, "tokens_counted_by_trainer": logged, "sequences": sequences,
            "steps": len(timer.steps), "seconds": seconds, "step_seconds": timer.steps,
            "dropped_too_long": dropped, "format": run.prompt_format}


def run_trl(args, groups, model_dir) -> dict:
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from ocrl import prompting
    from ocrl.models import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(model_dir)
    fmt = prompting.detect_format(tokenizer)
    rows = []
    for group in groups:
        prompt = prompting.build_prompt(tokenizer, group["prompt"], fmt, group["style"])
        for completion in group["completions"]:
            target = prompting.build_target(group["prompt"], completion, fmt, group["style"])
            rows.append({"prompt": prompt, "completion": target + tokenizer.eos_token})
    with tempfile.TemporaryDirectory() as out:
        config = SFTConfig(**common_settings(args, out),
                           per_device_train_batch_size=args.groups_per_step * args.k,
                           max_steps=len(groups) // args.groups_per_step,
                           max_length=args.max_prompt_length + args.max_completion_length,
                           completion_only_loss=True, packing=False)
        trainer = SFTTrainer(model=model, args=config, train_dataset=Dataset.from_list(rows),
                             processing_class=tokenizer)
        lengths = [len(ids) for ids in trainer.train_dataset["input_ids"]]
        timer = StepTimer()
        trainer.add_callback(timer.callback)
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
    return {"name": "TRL SFTTrainer", "tokens": sum(lengths), "sequences": len(lengths),
            "steps": len(timer.steps), "seconds": seconds, "step_seconds": timer.steps,
            "truncated": sum(n >= config.max_length for n in lengths), "format": fmt}


def rates(result: dict) -> dict:
    steady = result["step_seconds"][1:]
    per_step_tokens = result["tokens"] / max(result["steps"], 1)
    return {**result, "tokens_per_second": result["tokens"] / result["seconds"],
            "steady_tokens_per_second": (per_step_tokens / statistics.mean(steady)
                                         if steady else None)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=6, help="groups (problems) to train on")
    parser.add_argument("--k", type=int, default=4, help="samples per group")
    parser.add_argument("--groups-per-step", type=int, default=2,
                        help="groups per optimizer step (TRL gets groups x k sequences)")
    parser.add_argument("--max-prompt-length", type=int, default=512)
    parser.add_argument("--max-completion-length", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=1, help="repeat both runs, alternating")
    parser.add_argument("--ablation", action="store_true",
                        help="also run ocrl with share_prompt off")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "train_throughput.json")
    args = parser.parse_args(argv)

    import torch

    from ocrl.models import resolve_model

    model_dir = resolve_model("smollm2-135m")
    groups = load_groups(args.problems, args.k)
    if len(groups) < args.groups_per_step:
        sys.exit("not enough groups")
    print(f"SmolLM2-135M ({model_dir}), {len(groups)} groups x {args.k} HumanEval samples, "
          f"{args.groups_per_step} groups = {args.groups_per_step * args.k} sequences per step, "
          f"fp32, torch threads {torch.get_num_threads()}", flush=True)
    results = []
    for round_index in range(args.rounds):
        for runner in (lambda: run_trl(args, groups, model_dir),
                       lambda: run_ocrl(args, groups, model_dir, share_prompt=True),
                       *([lambda: run_ocrl(args, groups, model_dir, share_prompt=False)]
                         if args.ablation else [])):
            result = rates(runner())
            result["round"] = round_index
            results.append(result)
            print(f"  round {round_index}: {result['name']:<36} {result['tokens']:>6} tokens "
                  f"{result['seconds']:7.1f} s  {result['tokens_per_second']:7.1f} tok/s  "
                  f"steady {result['steady_tokens_per_second'] or 0:7.1f} tok/s", flush=True)

    def mean_rate(prefix: str, key: str) -> float:
        values = [r[key] for r in results if r["name"] == prefix and r[key]]
        return statistics.mean(values) if values else float("nan")

    trl = mean_rate("TRL SFTTrainer", "tokens_per_second")
    ours = mean_rate("ocrl offline_rl pg", "tokens_per_second")
    summary = {"ratio_ocrl_over_trl": ours / trl,
               "steady_ratio_ocrl_over_trl":
                   mean_rate("ocrl offline_rl pg", "steady_tokens_per_second") /
                   mean_rate("TRL SFTTrainer", "steady_tokens_per_second"),
               "settings": {k: (str(v) if isinstance(v, Path) else v)
                            for k, v in vars(args).items()},
               "runs": results}
    print(f"\n{'run':<38}{'tokens':>8}{'seconds':>9}{'tok/s':>9}{'steady tok/s':>14}")
    for r in results:
        print(f"{r['name']:<38}{r['tokens']:>8}{r['seconds']:>9.1f}{r['tokens_per_second']:>9.1f}"
              f"{r['steady_tokens_per_second'] or 0:>14.1f}")
    print(f"\nocrl / TRL tokens/s: {summary['ratio_ocrl_over_trl']:.2f}x "
          f"(steady state {summary['steady_ratio_ocrl_over_trl']:.2f}x; goal >= 1.0x)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"written to {args.out}")
    return summary


if __name__ == "__main__":
    main()

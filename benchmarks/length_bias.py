"""Which loss aggregation biases the length of answers, and by how much (issue 11, point 6).

On the quickstart's own offline dataset, the training half is split once more (seeded): a
validation part whose problems are never trained on, and the rest, whose groups each variant
trains on for the quickstart's budget (24 steps of one group, lr 1e-5, seed 0). Every variant
is then evaluated greedily on the validation problems with the quickstart's token cap, beside
the untouched base model: pass@1, mean generated tokens and the share of answers cut at the cap.
The held-out half of the quickstart is never looked at.

Two measurements:
- analytic, from the training data alone: within each group, the per-token weight (per unit
  of advantage) the aggregation gives its longest rejected completion over the one it gives
  its shortest, averaged over groups. Below 1, long wrong answers are pushed down less per
  token than short ones, which rewards running on;
- empirical: what a short training run with each aggregation does to generated length.

Variants: pg with group_mean (the former default, averaged within a group first), pg with
token_mean (DAPO), pg with sum_over_max_length (Dr. GRPO), and the default objective
(ref_clip, token_mean). With one group per step sequence_mean and group_mean are the same
function, so only one of them is trained.

Run after `bash scripts/quickstart.sh` (it needs outputs/quickstart/data):
    .venv/bin/python benchmarks/length_bias.py [--quickstart outputs/quickstart] [--out ...]
    [--analytic-only]
Every stage resumes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

from ocrl.atomic import write_json_atomic

VARIANTS = {
    "pg_group_mean": {"loss": "pg", "aggregation": "group_mean"},
    "pg_token_mean": {"loss": "pg", "aggregation": "token_mean"},
    "pg_sum_over_max_length": {"loss": "pg", "aggregation": "sum_over_max_length"},
    "default": {},
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quickstart", default="outputs/quickstart",
                   help="a finished (at least past its dataset stage) quickstart directory")
    p.add_argument("--out", default="outputs/length_bias")
    p.add_argument("--validation-problems", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=24)
    p.add_argument("--learning-rate", type=float, default=1e-5)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--analytic-only", action="store_true",
                   help="only the measurement from the training data (seconds, no training)")
    return p.parse_args(argv)


def split_training_half(problems: list[dict], count: int, seed: int):
    """(validation, training) problems of the quickstart's training half, by a seeded shuffle."""
    order = sorted(problems, key=lambda p: p["task_id"])
    random.Random(f"validation:{seed}").shuffle(order)
    return order[:count], order[count:]


def per_token_weights(groups: list[dict], aggregation: str, max_length: int) -> list[tuple]:
    """(completion length, per-token weight per unit of advantage, group) of every rejected
    completion when each group is one optimizer step, as the quickstart trains. Dividing by
    |A| leaves what the aggregation itself does to a token's weight."""
    out = []
    for row in groups:
        lengths = [len(c) for c in row["completion_ids"]]
        k, tokens = len(lengths), sum(lengths)
        for length, advantage in zip(lengths, row["advantages"]):
            if advantage >= 0:
                continue
            weight = {"token_mean": 1 / tokens, "sequence_mean": 1 / (length * k),
                      "group_mean": 1 / (length * k),
                      "sum_over_max_length": 1 / (k * max_length)}[aggregation]
            out.append((length, weight, row["group_id"]))
    return out


def long_short_ratio(weights: list[tuple]) -> float | None:
    """Mean per-token weight of the longer rejected completions over that of the shorter ones,
    comparing completions of the same group (the longer and shorter of each pair)."""
    by_group: dict[str, list[tuple]] = {}
    for length, weight, group in weights:
        by_group.setdefault(group, []).append((length, weight))
    ratios = []
    for items in by_group.values():
        items.sort()
        if len(items) >= 2 and items[0][0] < items[-1][0]:
            ratios.append(items[-1][1] / items[0][1])
    return sum(ratios) / len(ratios) if ratios else None


def main(argv=None) -> dict:
    args = parse_args(argv)
    from ocrl.dataset import load_groups
    from ocrl.evaluation.run import EvalConfig, run_eval
    from ocrl.jsonl import read_jsonl, write_jsonl
    from ocrl.models import load_model_and_tokenizer, resolve_model
    from ocrl.problems import problem_from_dict
    from ocrl.prompting import detect_format
    from ocrl.quickstart import answer_token_cap
    from ocrl.report import build_report
    from ocrl.trainer.config import OfflineRLConfig
    from ocrl.trainer.groups import prepare_groups
    from ocrl.trainer.pipeline import run_training

    quickstart, out = Path(args.quickstart), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary_qs = json.loads((quickstart / "quickstart_config.json").read_text())
    problems = [row for _, row in read_jsonl(quickstart / "train_problems.jsonl")]
    validation, training = split_training_half(problems, args.validation_problems, args.seed)
    validation_file = out / "validation_problems.jsonl"
    write_jsonl(validation_file, validation)
    keep = {p["task_id"] for p in training}
    groups = [g for g in load_groups(quickstart / "data", split="train")
              if g["problem_id"] in keep]
    model_dir = resolve_model(summary_qs.get("model", "smollm2-135m"))
    _, tokenizer = load_model_and_tokenizer(model_dir)
    fmt = detect_format(tokenizer)
    # The quickstart's own cap: sized from the whole training half's canonical answers.
    cap = answer_token_cap([problem_from_dict(p) for p in problems], tokenizer, fmt)

    # analytic: per-token weights of rejected completions under each aggregation
    data, stats = prepare_groups(groups, tokenizer, prompt_format=fmt,
                                 max_prompt_length=1024, max_completion_length=cap)
    rows = [data[i] for i in range(len(data))]
    analytic = {mode: long_short_ratio(per_token_weights(rows, mode, cap))
                for mode in ("token_mean", "sequence_mean", "group_mean",
                             "sum_over_max_length")}

    # The former quickstart's fixed limits against whole canonical answers in this format:
    # training kept 256 completion tokens, evaluation generated 160.
    def longer_than(problem_file: Path, limit: int) -> dict[str, int]:
        lengths = [answer_token_cap([problem_from_dict(p)], tokenizer, fmt, multiple=1)
                   for _, p in read_jsonl(problem_file) if p.get("canonical_solution")]
        return {"problems": len(lengths), f"over_{limit}_tokens": sum(n > limit
                                                                     for n in lengths)}

    former_limits = {"training_half_vs_256": longer_than(
        quickstart / "train_problems.jsonl", 256), "held_out_half_vs_160": longer_than(
        quickstart / "heldout_problems.jsonl", 160)}
    if args.analytic_only:
        summary = {"training_groups": len(rows), "token_cap": cap, "groups": stats.to_dict(),
                   "analytic_long_over_short_per_token_weight": analytic,
                   "canonical_answers_vs_former_limits": former_limits,
                   "date": time.strftime("%Y-%m-%d")}
        write_json_atomic(out / "length_bias_analytic.json", summary, sort_keys=True)
        print(json.dumps({"analytic": analytic, "former_limits": former_limits}, indent=2))
        return summary

    runs = {"base": model_dir}
    timings = {}
    for name in args.variants:
        run_dir = out / "train" / name
        started = time.time()
        if not (run_dir / "train_summary.json").exists():
            run_training(OfflineRLConfig(
                output_dir=str(run_dir), model_name_or_path=str(model_dir),
                method="offline_rl", max_steps=args.max_steps, learning_rate=args.learning_rate,
                seed=args.seed, per_device_train_batch_size=1, keep_checkpoints=False,
                save_steps=max(1, args.max_steps // 2), max_completion_length=cap,
                max_prompt_length=1024, use_cpu=True, **VARIANTS[name]), groups=groups)
        timings[f"train_{name}"] = round(time.time() - started, 1)
        runs[name] = run_dir
    evals = []
    for name, model_path in runs.items():
        eval_dir = out / "eval" / name
        started = time.time()
        if not (eval_dir / "metrics.json").exists():
            run_eval(EvalConfig(model=str(model_path), problems=str(validation_file), n=1,
                                temperature=0.0, max_new_tokens=cap, seed=args.seed),
                     eval_dir)
        timings[f"eval_{name}"] = round(time.time() - started, 1)
        evals.append(eval_dir)
    report = build_report(evals, out / "report",
                          train_dirs=[runs[n] for n in args.variants])
    results = {}
    for eval_dir in evals:
        metrics = json.loads((eval_dir / "metrics.json").read_text())
        results[eval_dir.name] = {"pass@1": metrics["pass@1"], **(metrics.get("generation") or {})}
    summary = {"validation_problems": len(validation), "training_groups": len(rows),
               "token_cap": cap, "analytic_long_over_short_per_token_weight": analytic,
               "validation": results, "comparisons": report["comparisons"],
               "timings_s": timings, "load_average": os.getloadavg(),
               "date": time.strftime("%Y-%m-%d"), "groups": stats.to_dict()}
    write_json_atomic(out / "length_bias.json", summary, sort_keys=True)
    print(json.dumps({k: summary[k] for k in ("analytic_long_over_short_per_token_weight",
                                              "validation")}, indent=2))
    return summary


if __name__ == "__main__":
    main()

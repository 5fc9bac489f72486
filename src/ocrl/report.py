"""Compare evaluation runs: Markdown tables, paired bootstrap intervals, and plots.

The difference in pass@1 between a run and the first (the baseline) is paired over problems:
both runs answered the same problems, so resampling problems (with replacement) and taking
the mean of per-problem differences gives an interval that accounts for problem difficulty
being shared by the two runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ocrl.config_files import Repeatable, option
from ocrl.errors import InputError
from ocrl.evaluation.run import load_metrics
from ocrl.sandbox.verdict import (ACCEPTED, COMPILE_ERROR, RUNTIME_ERROR, TIME_LIMIT,
                                  WRONG_ANSWER)

VERDICT_COLUMNS = (ACCEPTED, WRONG_ANSWER, RUNTIME_ERROR, COMPILE_ERROR, TIME_LIMIT)
SHORT_VERDICT = {ACCEPTED: "AC", WRONG_ANSWER: "WA", RUNTIME_ERROR: "RE", COMPILE_ERROR: "CE",
                 TIME_LIMIT: "TLE"}


@dataclass
class Run:
    name: str
    path: Path
    metrics: dict[str, Any]

    @property
    def per_problem(self) -> dict[str, float]:
        return self.metrics.get("per_problem_pass@1", {})


@dataclass
class Comparison:
    run: str
    baseline: str
    problems: int  # problems both runs answered
    difference: float  # mean over shared problems of (run - baseline) pass@1
    low: float
    high: float


@dataclass
class ReportConfig:
    """What `ocrl report` compares, and how (`build_report`'s arguments); every field is one of
    its flags."""

    # On the command line the leading positional arguments (`ocrl report RUN1 RUN2 ...`).
    runs: list[str] = option(help_text="`ocrl eval` output directories; the first is the "
                                       "baseline the others are compared with.")
    out: str = option("report", "Directory for report.md, summary.json and the PNG plots.")
    train_dirs: list[str] = option(list, "Training output directory whose TensorBoard logs to "
                                         "plot (--train-dir A --train-dir B).",
                                   aliases=["--train-dir", "--train_dir"], action=Repeatable)
    # "percent", not the sign: argparse %-formats help text.
    resamples: int = option(10_000, "Bootstrap resamples for the 95 percent intervals.")
    seed: int = option(0, "Bootstrap seed.")
    difficulty_from: str | None = option(None, "An `ocrl eval` directory (e.g. the base model "
                                               "at --n 5) whose own pass rate buckets the "
                                               "problems: hard (never passed), medium, easy "
                                               "(half or more).")


# --- statistics ----------------------------------------------------------------------------

def paired_bootstrap(baseline: dict[str, float], other: dict[str, float], *,
                     resamples: int = 10_000, seed: int = 0,
                     confidence: float = 0.95) -> tuple[float, float, float, int]:
    """(mean difference other - baseline, interval low, high, problems) over shared problems.

    Percentile bootstrap: problems are resampled with replacement ``resamples`` times; the
    interval holds the central ``confidence`` mass of the resampled mean differences."""
    shared = sorted(set(baseline) & set(other))
    if not shared:
        raise ValueError("the two runs have no problem in common")
    diffs = np.array([other[p] - baseline[p] for p in shared], dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = np.empty(resamples)
    # Chunks keep memory small for large problem sets and many resamples.
    step = max(1, 2_000_000 // len(diffs))
    for start in range(0, resamples, step):
        count = min(step, resamples - start)
        picks = rng.integers(0, len(diffs), size=(count, len(diffs)))
        means[start:start + count] = diffs[picks].mean(axis=1)
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(diffs.mean()), float(low), float(high), len(shared)


def compare_to_first(runs: list[Run], *, resamples: int = 10_000,
                     seed: int = 0) -> list[Comparison]:
    baseline = runs[0]
    comparisons = []
    for run in runs[1:]:
        try:
            diff, low, high, shared = paired_bootstrap(baseline.per_problem, run.per_problem,
                                                       resamples=resamples, seed=seed)
        except ValueError:
            raise InputError(f"shares no problem with the first run ({baseline.path}); "
                             "compare runs on the same problems", path=str(run.path)) from None
        comparisons.append(Comparison(run.name, baseline.name, shared, diff, low, high))
    return comparisons


# --- loading ---------------------------------------------------------------------------------

def load_runs(directories: list[str | Path]) -> list[Run]:
    if not directories:
        raise InputError("give at least one `ocrl eval` output directory")
    runs, names = [], set()
    for directory in directories:
        path = Path(directory)
        metrics = load_metrics(path)
        if "pass@1" not in metrics or "per_problem_pass@1" not in metrics:
            raise InputError("metrics.json lacks pass@1 or per_problem_pass@1",
                             path=str(path / "metrics.json"), field="pass@1")
        name = path.resolve().name or str(path)
        while name in names:  # two runs in directories with the same last component
            name = f"{path.resolve().parent.name}/{name}"
        names.add(name)
        runs.append(Run(name, path, metrics))
    return runs


# --- tables ----------------------------------------------------------------------------------

def _fmt(value, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _markdown(header: list[str], rows: list[list[str]], text_columns: int = 1) -> str:
    """A Markdown table; the first ``text_columns`` columns left-aligned, numbers right."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join(["---"] * text_columns + ["---:"] * (len(header) - text_columns))
             + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main_table(runs: list[Run], comparisons: list[Comparison]) -> str:
    ks = sorted({int(key.split("@")[1]) for run in runs for key in run.metrics
                 if key.startswith("pass@") and key[5:].isdigit()})
    by_run = {c.run: c for c in comparisons}
    header = ["run", "model", "format", "problems", "n"] + [f"pass@{k}" for k in ks] + \
        [f"Δ pass@1 vs {runs[0].name} [95% CI]"]
    rows = []
    for index, run in enumerate(runs):
        m = run.metrics
        if index == 0:
            delta = "(baseline)"
        else:
            c = by_run[run.name]
            delta = f"{c.difference:+.3f} [{c.low:+.3f}, {c.high:+.3f}]"
            if c.problems != len(runs[0].per_problem):
                delta += f" on {c.problems} shared"
        model = m.get("model", {})
        rows.append([run.name, str(model.get("name", "?")), str(model.get("prompt_format", "?")),
                     str(m.get("problems")), str(m.get("samples_per_problem"))]
                    + [_fmt(m.get(f"pass@{k}")) for k in ks] + [delta])
    return _markdown(header, rows, text_columns=3)


def difficulty_table(runs: list[Run]) -> str:
    buckets = sorted({b for run in runs for b in run.metrics.get("pass@1_by_difficulty", {})},
                     key=_bucket_order)
    header = ["run"] + [f"{b} ({_bucket_size(runs, b)})" for b in buckets]
    rows = [[run.name] + [_fmt(run.metrics.get("pass@1_by_difficulty", {}).get(b, {})
                               .get("pass@1")) for b in buckets] for run in runs]
    return _markdown(header, rows)


def pass_rate_buckets(rates: dict[str, float], *, easy_from: float = 0.5) -> dict[str, str]:
    """hard / medium / easy per problem from a reference run's own pass rate over its samples:
    hard if it never passed, easy from ``easy_from`` up, medium between.

    Fixed cut points rather than the tertiles `ocrl.grouping.difficulty_buckets` ranks logged
    data by: n samples give n + 1 possible pass rates, and a weak model sampled 5 times passes
    most problems 0 times, so tertiles would cut through ties, not between difficulties."""
    if not 0.0 < easy_from <= 1.0:
        raise ValueError(f"easy_from must be in (0, 1], got {easy_from}")
    return {problem: "hard" if rate <= 0.0 else ("easy" if rate >= easy_from else "medium")
            for problem, rate in rates.items()}


def bucketed_comparison(runs: list[Run], buckets: dict[str, str], *, resamples: int = 10_000,
                        seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """{bucket: {run: {problems, pass@1, difference, low, high}}}: each run's pass@1 on the
    problems of a bucket and its paired bootstrap difference to the first run there."""
    result: dict[str, dict[str, dict[str, float]]] = {}
    for bucket in sorted(set(buckets.values()), key=_bucket_order):
        members = {p for p, b in buckets.items() if b == bucket}
        first = {p: v for p, v in runs[0].per_problem.items() if p in members}
        rows = {}
        for run in runs:
            mine = {p: v for p, v in run.per_problem.items() if p in members}
            if not mine:
                continue
            row = {"problems": len(mine), "pass@1": sum(mine.values()) / len(mine)}
            if run is not runs[0] and first:
                row["difference"], row["low"], row["high"], _ = paired_bootstrap(
                    first, mine, resamples=resamples, seed=seed)
            rows[run.name] = row
        result[bucket] = rows
    return result


def bucketed_table(comparison: dict[str, dict[str, dict[str, float]]], runs: list[Run]) -> str:
    header = ["run"] + [f"{bucket} ({max(r['problems'] for r in rows.values())})"
                        for bucket, rows in comparison.items()]
    table = []
    for run in runs:
        cells = []
        for rows in comparison.values():
            row = rows.get(run.name)
            if row is None:
                cells.append("–")
            elif "difference" in row:
                cells.append(f"{row['pass@1']:.3f} ({row['difference']:+.3f} "
                             f"[{row['low']:+.3f}, {row['high']:+.3f}])")
            else:
                cells.append(f"{row['pass@1']:.3f}")
        table.append([run.name] + cells)
    return _markdown(header, table)


def verdict_table(runs: list[Run]) -> str:
    header = ["run"] + [SHORT_VERDICT[v] for v in VERDICT_COLUMNS] + ["other",
                                                                      "cpu ms (passing)"]
    rows = []
    for run in runs:
        verdicts = run.metrics.get("verdicts", {})
        shares = [verdicts.get(v, {}).get("share", 0.0) for v in VERDICT_COLUMNS]
        other = sum(row.get("share", 0.0) for name, row in verdicts.items()
                    if name not in VERDICT_COLUMNS)
        rows.append([run.name] + [f"{s:.1%}" for s in shares] + [f"{other:.1%}",
                    _fmt(run.metrics.get("mean_cpu_time_ms_passing"), 1)])
    return _markdown(header, rows)


def length_table(runs: list[Run]) -> str:
    """Generated length, the share of answers cut at the token cap, and how those were
    judged: a trained model that no longer stops shows as a longer, more-capped run."""
    header = ["run", "mean tokens generated", "cut at the cap", "verdicts of cut answers"]
    rows = []
    for run in runs:
        g = run.metrics.get("generation")
        if not g:
            rows.append([run.name, "–", "–", "–"])
            continue
        verdicts = ", ".join(f"{SHORT_VERDICT.get(v, v)} {n}"
                             for v, n in g["capped_verdicts"].items()) or "–"
        rows.append([run.name, f"{g['mean_tokens']:.1f}",
                     f"{g['capped_share']:.1%} ({g['capped']} of {g['answers']})", verdicts])
    return _markdown(header, rows)


def diversity_table(runs: list[Run]) -> str:
    header = ["run", "distinct-1", "distinct-2", "distinct-4", "pairwise edit distance",
              "distinct ASTs"]
    rows = []
    for run in runs:
        d = run.metrics.get("diversity", {})
        rows.append([run.name] + [_fmt(d.get(key)) for key in (
            "distinct_1", "distinct_2", "distinct_4", "edit_distance", "distinct_ast")])
    return _markdown(header, rows)


def _bucket_order(bucket: str):
    order = {"easy": 0, "medium": 1, "hard": 2, "unrated": 99}
    return (order.get(bucket, 50), bucket)


def _bucket_size(runs: list[Run], bucket: str) -> str:
    sizes = {run.metrics["pass@1_by_difficulty"].get(bucket, {}).get("problems")
             for run in runs if bucket in run.metrics.get("pass@1_by_difficulty", {})}
    return "/".join(str(s) for s in sorted(sizes))


# --- everything ------------------------------------------------------------------------------

def build_report(run_dirs: list[str | Path], out: str | Path, *,
                 train_dirs: list[str | Path] = (), resamples: int = 10_000,
                 seed: int = 0, difficulty_from: str | Path | None = None) -> dict[str, Any]:
    """Write report.md, summary.json and the plots into ``out``; return the summary.

    ``difficulty_from``: an `ocrl eval` directory (usually the base model sampled n times)
    whose own per-problem pass rate buckets the problems (`pass_rate_buckets`); the report
    then adds each run's pass@1 and difference to the first run per bucket."""
    from ocrl.report_plots import plot_pass1_by_difficulty, plot_training_curves

    runs = load_runs(list(run_dirs))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    comparisons = compare_to_first(runs, resamples=resamples, seed=seed)
    plot = plot_pass1_by_difficulty(runs, out / "pass1_by_difficulty.png")
    curves = plot_training_curves(list(train_dirs), out / "training_curves.png") \
        if train_dirs else None
    sections = [
        "# ocrl report", "",
        f"Runs: {', '.join(f'`{r.name}` ({r.path})' for r in runs)}. Δ pass@1 is each run "
        f"minus `{runs[0].name}`, averaged over shared problems; the interval is a paired "
        f"percentile bootstrap over problems ({resamples} resamples, seed {seed}).", "",
        "## pass@k", "", main_table(runs, comparisons), "",
        "## pass@1 by difficulty (problems per bucket in parentheses)", "",
        difficulty_table(runs), "", f"![pass@1 by difficulty]({plot.name})", "",
        "## Verdicts (share of samples) and runtime of passing samples", "",
        verdict_table(runs), "",
        "## Generated length and answers cut at the token cap", "", length_table(runs), "",
        "## Diversity among a problem's samples (needs n >= 2)", "", diversity_table(runs), "",
    ]
    by_reference = None
    if difficulty_from is not None:
        reference = load_runs([difficulty_from])[0]
        buckets = pass_rate_buckets(reference.per_problem)
        missing = sorted({p for run in runs for p in run.per_problem} - set(buckets))
        if missing:
            raise InputError(f"has no result for {len(missing)} problem(s) of the compared runs "
                             f"(first: {missing[0]}); bucket with a run on the same problems",
                             path=str(reference.path))
        by_reference = bucketed_comparison(runs, buckets, resamples=resamples, seed=seed)
        samples = reference.metrics.get("samples_per_problem", "?")
        sections += [
            f"## pass@1 by difficulty from `{reference.name}`'s own pass rate "
            f"({reference.path}, {samples} samples per problem)", "",
            "hard: it never passed; medium: below half its samples; easy: half or more "
            "(problems per bucket in parentheses). Each cell: pass@1 (difference to "
            f"`{runs[0].name}` [paired bootstrap 95% interval within the bucket]).", ""]
        if any(run.path.resolve() == reference.path.resolve() for run in runs):
            # Buckets chosen on a run's own samples: its pass@1 in "hard" is 0 by construction
            # and every other run's differences there lean positive (selection on noise).
            sections += [f"**Biased:** `{reference.name}` is both the reference and a compared "
                         "run, so the buckets were chosen on its own samples; compare runs on "
                         "samples other than the ones that set the buckets (e.g. greedy runs "
                         "against a sampled reference).", ""]
        sections += [bucketed_table(by_reference, runs), ""]
    if curves is not None:
        sections += ["## Training curves", "", f"![training curves]({curves.name})", ""]
    markdown = "\n".join(sections)
    tmp = out / "report.md.tmp"
    tmp.write_text(markdown, encoding="utf-8")
    tmp.replace(out / "report.md")
    summary = {
        "runs": [{"name": r.name, "path": str(r.path), "pass@1": r.metrics["pass@1"]}
                 for r in runs],
        "comparisons": [c.__dict__ for c in comparisons],
        "plots": [str(p) for p in (plot, curves) if p is not None],
        "by_reference_difficulty": by_reference,
        "markdown": markdown,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary

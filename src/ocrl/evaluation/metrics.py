"""Evaluation metrics computed from judged samples: pass@k, per-difficulty pass@1, verdict
histogram, runtime of passing samples, and the diversity of a problem's n samples.

Every function here is pure: it takes sample records (dicts with at least ``task_id``,
``completion``, ``status``; optionally ``difficulty``, ``cpu_time_ms``) and returns numbers.
"""

from __future__ import annotations

import ast
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from itertools import combinations

import numpy as np

from ocrl.evaluation.passk import DEFAULT_KS, ks_for, mean_pass_at_k
from ocrl.sandbox.verdict import ACCEPTED, STATUSES

UNRATED = "unrated"
NGRAM_SIZES = (1, 2, 3, 4)
MAX_PAIRS_PER_PROBLEM = 45  # all pairs of 10 samples; more samples get a fixed random subset

_CODE_TOKEN = re.compile(r"[A-Za-z_]\w*|\d+(?:\.\d+)?|\S")


# --- pass@k ------------------------------------------------------------------------------

def per_problem_counts(samples: Iterable[dict]) -> dict[str, dict]:
    """{task_id: {"n", "c", "difficulty"}} from sample records."""
    table: dict[str, dict] = {}
    for sample in samples:
        row = table.setdefault(str(sample["task_id"]), {
            "n": 0, "c": 0, "difficulty": sample.get("difficulty") or UNRATED})
        row["n"] += 1
        row["c"] += int(sample["status"] == ACCEPTED)
    return table


def pass_at_ks(counts: dict[str, dict], ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """{"pass@k": mean over problems} for every k the smallest n allows."""
    pairs = [(row["n"], row["c"]) for row in counts.values()]
    if not pairs:
        return {}
    return {f"pass@{k}": mean_pass_at_k(pairs, k) for k in ks_for(min(n for n, _ in pairs), ks)}


def pass1_by_difficulty(counts: dict[str, dict]) -> dict[str, dict]:
    """{bucket: {"pass@1", "problems"}}; problems without a difficulty go to "unrated"."""
    buckets: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for row in counts.values():
        buckets[str(row["difficulty"])].append((row["n"], row["c"]))
    return {bucket: {"pass@1": mean_pass_at_k(pairs, 1), "problems": len(pairs)}
            for bucket, pairs in sorted(buckets.items())}


def problem_pass1(counts: dict[str, dict]) -> dict[str, float]:
    """Per-problem pass@1 (= c / n), the unit that the paired bootstrap resamples."""
    return {task_id: row["c"] / row["n"] for task_id, row in counts.items()}


# --- verdicts and runtime ----------------------------------------------------------------

def verdict_histogram(samples: Iterable[dict]) -> dict[str, dict]:
    """{status: {"count", "share"}} over all samples, every known status listed."""
    counter = Counter(sample["status"] for sample in samples)
    total = sum(counter.values())
    statuses = list(STATUSES) + sorted(set(counter) - set(STATUSES))
    return {status: {"count": counter.get(status, 0),
                     "share": counter.get(status, 0) / total if total else 0.0}
            for status in statuses}


def mean_cpu_time_of_passing(samples: Iterable[dict]) -> float | None:
    times = [float(s["cpu_time_ms"]) for s in samples
             if s["status"] == ACCEPTED and s.get("cpu_time_ms") is not None]
    return sum(times) / len(times) if times else None


# --- diversity ---------------------------------------------------------------------------

def code_tokens(code: str) -> list[str]:
    """A language-agnostic split into identifiers, numbers and single symbols."""
    return _CODE_TOKEN.findall(code)


def distinct_ngrams(token_lists: Sequence[Sequence[str]], n: int) -> float | None:
    """Distinct-n: unique n-grams / all n-grams, pooled over the samples (None if none)."""
    grams = [tuple(tokens[i:i + n]) for tokens in token_lists
             for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else None


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance; each row of the table is computed with numpy in O(len(b))."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    vocabulary: dict = {}
    a_ids = np.array([vocabulary.setdefault(x, len(vocabulary)) for x in a])
    b_ids = np.array([vocabulary.setdefault(x, len(vocabulary)) for x in b])
    offsets = np.arange(len(b) + 1)
    previous = offsets.copy()
    for i, token in enumerate(a_ids, start=1):
        substitution = previous[:-1] + (b_ids != token)
        deletion = previous[1:] + 1
        best = np.empty(len(b) + 1, dtype=np.int64)
        best[0] = i
        best[1:] = np.minimum(substitution, deletion)
        # Insertions chain left to right: row[j] = min(best[j], row[j-1] + 1), i.e. a running
        # minimum of best[j] - j, shifted back by j.
        previous = np.minimum.accumulate(best - offsets) + offsets
    return int(previous[-1])


def normalised_edit_distance(a: Sequence, b: Sequence) -> float:
    longest = max(len(a), len(b))
    return edit_distance(a, b) / longest if longest else 0.0


def mean_pairwise_edit_distance(token_lists: Sequence[Sequence[str]], *, seed: int = 0,
                                max_pairs: int = MAX_PAIRS_PER_PROBLEM) -> float | None:
    pairs = list(combinations(range(len(token_lists)), 2))
    if not pairs:
        return None
    if len(pairs) > max_pairs:
        pairs = random.Random(seed).sample(pairs, max_pairs)
    return sum(normalised_edit_distance(token_lists[i], token_lists[j])
               for i, j in pairs) / len(pairs)


class _Canonicalise(ast.NodeTransformer):
    """Rename local identifiers in order of appearance and drop docstrings, so that two
    programs differing only in names, comments or layout get the same AST."""

    def __init__(self):
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        return self.names.setdefault(name, f"v{len(self.names)}")

    def _strip_docstring(self, node):
        body = getattr(node, "body", None)
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]

    def visit_Module(self, node):
        self._strip_docstring(node)
        return self.generic_visit(node)

    def visit_FunctionDef(self, node):
        self._strip_docstring(node)
        node.name = self._name(node.name)
        node.returns = None
        return self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self._strip_docstring(node)
        node.name = self._name(node.name)
        return self.generic_visit(node)

    def visit_arg(self, node):
        node.arg = self._name(node.arg)
        node.annotation = None
        return node

    def visit_Name(self, node):
        node.id = self._name(node.id)
        return node


def normalised_ast(code: str) -> str | None:
    """A canonical dump of the code's AST, or None when it does not parse."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError):
        return None
    try:
        tree = _Canonicalise().visit(tree)
        return ast.dump(tree, annotate_fields=False, include_attributes=False)
    except RecursionError:
        return None


def distinct_ast_share(codes: Sequence[str]) -> float | None:
    """Distinct normalised programs / samples. Unparsable samples count by their text with
    whitespace collapsed (two identical broken samples are one program)."""
    if not codes:
        return None
    keys = set()
    for code in codes:
        tree = normalised_ast(code)
        keys.add(("ast", tree) if tree is not None else ("text", " ".join(code.split())))
    return len(keys) / len(codes)


def problem_diversity(codes: Sequence[str], *, seed: int = 0) -> dict[str, float | None]:
    """Diversity among one problem's samples (all None for fewer than two samples)."""
    names = [f"distinct_{n}" for n in NGRAM_SIZES] + ["edit_distance", "distinct_ast"]
    if len(codes) < 2:
        return dict.fromkeys(names)
    tokens = [code_tokens(code) for code in codes]
    result: dict[str, float | None] = {
        f"distinct_{n}": distinct_ngrams(tokens, n) for n in NGRAM_SIZES}
    result["edit_distance"] = mean_pairwise_edit_distance(tokens, seed=seed)
    result["distinct_ast"] = distinct_ast_share(codes)
    return result


def diversity(samples: Iterable[dict], *, seed: int = 0) -> dict[str, float | None]:
    """Per-problem diversity averaged over problems (problems with < 2 samples are skipped)."""
    by_problem: dict[str, list[str]] = defaultdict(list)
    for sample in samples:
        by_problem[str(sample["task_id"])].append(sample["completion"])
    per_problem = [problem_diversity(codes, seed=seed) for codes in by_problem.values()
                   if len(codes) >= 2]
    names = [f"distinct_{n}" for n in NGRAM_SIZES] + ["edit_distance", "distinct_ast"]
    result: dict[str, float | None] = {}
    for name in names:
        values = [row[name] for row in per_problem if row[name] is not None]
        result[name] = sum(values) / len(values) if values else None
    result["problems"] = len(per_problem)
    return result


# --- everything together -----------------------------------------------------------------

def generation_lengths(samples: Sequence[dict]) -> dict | None:
    """Mean generated tokens, the share of answers cut at the token cap (``finish ==
    "length"``) and the verdicts of those cut answers; None when the records carry no
    ``n_tokens``/``finish`` (older runs). A model that learned to run on shows here first."""
    rows = [s for s in samples if s.get("n_tokens") is not None and s.get("finish")]
    if not rows:
        return None
    capped = [s for s in rows if s["finish"] == "length"]
    return {"mean_tokens": float(np.mean([s["n_tokens"] for s in rows])),
            "capped_share": len(capped) / len(rows), "capped": len(capped),
            "answers": len(rows),
            "capped_verdicts": dict(sorted(Counter(s["status"] for s in capped).items()))}


def compute_metrics(samples: Sequence[dict], ks: Sequence[int] = DEFAULT_KS,
                    seed: int = 0) -> dict:
    """All metrics of one evaluation run, as stored in metrics.json."""
    counts = per_problem_counts(samples)
    n_values = sorted({row["n"] for row in counts.values()})
    return {
        **pass_at_ks(counts, ks),
        "problems": len(counts),
        "samples": len(samples),
        "samples_per_problem": n_values[0] if len(n_values) == 1 else n_values,
        "pass@1_by_difficulty": pass1_by_difficulty(counts),
        "verdicts": verdict_histogram(samples),
        "mean_cpu_time_ms_passing": mean_cpu_time_of_passing(samples),
        "generation": generation_lengths(samples),
        "diversity": diversity(samples, seed=seed),
        "per_problem_pass@1": problem_pass1(counts),
    }

"""Twin problems: the same task under several ids (CodeNet holds AIZU and AtCoder copies of one
problem, and re-posted problems). Splitting by problem id would put twins in different splits
and leak test problems into training, so splits are drawn per cluster of twins.

Clusters come from CodeNet's own list where the tree has it
(``derived/duplicates/identical_problem_clusters``: one cluster per line, ids comma-separated),
else from statement similarity: Jaccard similarity of word 3-shingles at or above a threshold,
candidates found by MinHash banding and every candidate pair checked exactly, so the result does
not depend on the hashing. `cluster_problems` is the one entry point; other scripts (the CodeNet
experiment) import it to split the same way.
"""

from __future__ import annotations

import html
import re
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

DERIVED_CLUSTERS = Path("derived") / "duplicates" / "identical_problem_clusters"
METHODS = ("auto", "derived", "statements", "none")
_TAG = re.compile(r"<[^>]*>")
_WORD = re.compile(r"\w+")
_SHINGLE = 3
_BANDS, _ROWS = 8, 4  # P(sharing a band) at Jaccard 0.9: 0.9998; at 0.5: 0.40
_MARGIN = 0.25  # 32 values estimate J = 0.9 to +-0.053: 0.65 is ~5 standard deviations below
_PRIME = (1 << 31) - 1


class _Components:
    """Union-find over hashable items; each component is named by its smallest item."""

    def __init__(self) -> None:
        self.parent: dict = {}

    def root(self, item):
        self.parent.setdefault(item, item)
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def join(self, a, b) -> None:
        ra, rb = self.root(a), self.root(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def read_identical_clusters(path: str | Path) -> list[list[str]]:
    """CodeNet's identical_problem_clusters file: one list of problem ids per line."""
    clusters = []
    for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():
        ids = [p.strip() for p in line.split(",") if p.strip()]
        if len(ids) > 1:
            clusters.append(ids)
    return clusters


def statement_words(text: str) -> list[str]:
    """Lower-case words of a statement, HTML tags and entities resolved."""
    return _WORD.findall(html.unescape(_TAG.sub(" ", text)).lower())


def _shingles(words: list[str]) -> set[int]:
    if len(words) < _SHINGLE:
        return {zlib.crc32(" ".join(words).encode())}
    return {zlib.crc32(" ".join(words[i:i + _SHINGLE]).encode())
            for i in range(len(words) - _SHINGLE + 1)}


def _signatures(sets: list[set[int]]):
    """MinHash signature (one row of _BANDS * _ROWS values) of each shingle set."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.integers(1, _PRIME, _BANDS * _ROWS, dtype=np.uint64)
    b = rng.integers(0, _PRIME, _BANDS * _ROWS, dtype=np.uint64)
    rows = []
    for shingles in sets:
        values = np.fromiter(shingles, dtype=np.uint64, count=len(shingles)) % _PRIME
        rows.append(((values[:, None] * a[None, :] + b[None, :]) % _PRIME).min(axis=0))
    return np.stack(rows) if rows else np.zeros((0, _BANDS * _ROWS), np.uint64)


def _candidate_pairs(signatures, threshold: float) -> set[tuple[int, int]]:
    """Pairs sharing a band whose signatures agree on at least threshold - _MARGIN of their
    values (the share of equal MinHash values estimates the Jaccard similarity). Templated
    statements fill a band's bucket by the hundred, so the estimate, one numpy comparison per
    block of rows, screens them before any exact check."""
    import numpy as np

    buckets: dict[tuple, list[int]] = {}
    for index, signature in enumerate(signatures.tolist()):
        for band in range(_BANDS):
            buckets.setdefault((band, *signature[band * _ROWS:(band + 1) * _ROWS]),
                               []).append(index)
    pairs: set[tuple[int, int]] = set()
    for members in buckets.values():
        if len(members) < 2:
            continue
        members = np.array(members)
        block = signatures[members]
        for start in range(0, len(members), 256):
            agree = (block[start:start + 256, None, :] == block[None, :, :]).mean(axis=2)
            for x, y in zip(*np.nonzero(agree >= threshold - _MARGIN)):
                i, j = int(members[start + x]), int(members[y])
                if i < j:
                    pairs.add((i, j))
    return pairs


def similar_statements(statements: Mapping[str, str], threshold: float = 0.9) -> list[list[str]]:
    """Statements whose shingle sets have Jaccard similarity >= threshold, as clusters
    (connected components), each sorted, singletons left out. Every pair is checked exactly;
    MinHash only proposes them (a pair at 0.9 is missed with probability < 1e-3)."""
    ids = sorted(statements)
    sets = [_shingles(statement_words(statements[i])) for i in ids]
    joined = _Components()
    for i, j in sorted(_candidate_pairs(_signatures(sets), threshold)):
        if joined.root(i) == joined.root(j):
            continue
        union = len(sets[i] | sets[j])
        if union and len(sets[i] & sets[j]) / union >= threshold:
            joined.join(i, j)
    components: dict[int, list[str]] = {}
    for index, problem_id in enumerate(ids):
        components.setdefault(joined.root(index), []).append(problem_id)
    return [sorted(c) for c in components.values() if len(c) > 1]


def cluster_problems(problem_ids: Iterable[str], *, root: str | Path | None = None,
                     statements: Mapping[str, str] | None = None, method: str = "auto",
                     threshold: float = 0.9) -> tuple[dict[str, str], str]:
    """({problem id: cluster id}, how) for every id given; a cluster's id is its smallest
    member's id, a problem without twins is its own cluster.

    ``method`` "auto": CodeNet's list under ``root`` when the file exists, else statement
    similarity (when ``statements`` is given), else none; "derived", "statements", "none" force
    one. ``statements``: id -> statement text or HTML. ``how`` says which was used.
    """
    if method not in METHODS:
        raise ValueError(f"twin method must be one of {METHODS}, got {method!r}")
    wanted = sorted(set(problem_ids))
    derived = Path(root) / DERIVED_CLUSTERS if root is not None else None
    if method == "auto":
        if derived is not None and derived.is_file():
            method = "derived"
        elif statements:
            method = "statements"
        else:
            method = "none"
    if method == "derived":
        if derived is None or not derived.is_file():
            raise FileNotFoundError(f"no {DERIVED_CLUSTERS} under {root}")
        clusters = read_identical_clusters(derived)
    elif method == "statements":
        known = set(wanted)
        clusters = similar_statements({k: v for k, v in (statements or {}).items()
                                       if k in known and v}, threshold)
    else:
        clusters = []
    joined = _Components()
    for cluster in clusters:  # clusters sharing a member become one
        for member in cluster[1:]:
            joined.join(cluster[0], member)
    return {problem_id: joined.root(problem_id) for problem_id in wanted}, method


def summary(clusters: Mapping[str, str], how: str) -> dict:
    """The manifest's account of a clustering."""
    sizes: dict[str, int] = {}
    for cluster in clusters.values():
        sizes[cluster] = sizes.get(cluster, 0) + 1
    shared = {c: n for c, n in sizes.items() if n > 1}
    return {"method": how, "clusters_with_twins": len(shared),
            "problems_with_twins": sum(shared.values())}

"""The pure parts of benchmarks/codenet_collect.py (experiment B's problem pool and split)."""

from __future__ import annotations

import pytest
from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def collect():
    return load_benchmark("codenet_collect")


@pytest.mark.parametrize("text, expected", [
    ("If there are multiple solutions, print any of them.", True),
    ("If there exist several answers, you may print any.", True),
    ("Any valid answer will be accepted.", True),
    ("答えが複数存在する場合、どれを出力しても構いません。", True),
    ("Print the sum of a and b.", False),
    ("Print the number of ways, modulo 10^9+7.", False),
    ("If there are multiple solutions, any of them may be printed.", True),
    ("If there are multiple possible solutions, print any one of them.", True),
    # from real statements: unique outputs despite the words
    ("You may print any number of digits after the decimal point.", False),
    ("If there are more than one such string, find the lexicographically smallest one.", False),
    ("If there are multiple such boxes, any of them can be chosen.", False),
])
def test_non_unique_statements(collect, text, expected):
    assert collect.non_unique(text) is expected


def test_pool_entry_reasons(collect):
    two = [{"input": "1\n", "output": "2\n"}, {"input": "2\n", "output": "3\n"}]
    same = [{"input": "1\n", "output": "Yes\n"}, {"input": "2\n", "output": " Yes"}]
    kw = {"max_prompt_tokens": 400, "min_tests": 2}
    assert "excluded" not in collect.pool_entry({"prompt": "Add one.", "tests": two}, 120, **kw)
    assert collect.pool_entry({"prompt": "Add one.", "tests": two}, 401, **kw)["excluded"] \
        == "long_prompt"
    assert collect.pool_entry({"prompt": "Add one.", "tests": two[:1]}, 50, **kw)["excluded"] \
        == "few_tests"
    # outputs equal as the judge reads them (whitespace-split): a constant would pass
    entry = collect.pool_entry({"prompt": "Say yes.", "tests": same}, 50, **kw)
    assert entry["distinct_outputs"] == 1 and entry["excluded"] == "one_output"
    assert collect.pool_entry({"prompt": "Print any of them.", "tests": two}, 50,
                              **kw)["excluded"] == "non_unique"


def test_split_keeps_twin_clusters_together_and_is_stable(collect):
    clusters = {f"p{i:05d}": f"p{i - i % 3:05d}" for i in range(300)}  # clusters of three
    parts = collect.split_clusters(clusters, [0.6, 0.15, 0.25], seed=0)
    for problem, cluster in clusters.items():
        assert parts[problem] == parts[cluster]
    shares = {name: sum(v == name for v in parts.values()) / 300
              for name in ("train", "validation", "test")}
    assert 0.45 < shares["train"] < 0.75 and shares["validation"] > 0.05
    # adding problems never moves another cluster; another seed does move some
    more = {**clusters, "p99999": "p99999"}
    assert {p: v for p, v in collect.split_clusters(more, [0.6, 0.15, 0.25], 0).items()
            if p in parts} == parts
    assert collect.split_clusters(clusters, [0.6, 0.15, 0.25], seed=1) != parts
    with pytest.raises(ValueError):
        collect.split_clusters(clusters, [0.0, 0.0, 0.0], seed=0)

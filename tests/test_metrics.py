from __future__ import annotations

import pytest

from ocrl.evaluation import metrics as M
from ocrl.sandbox.verdict import ACCEPTED, COMPILE_ERROR, RUNTIME_ERROR, WRONG_ANSWER


def sample(task, status, completion="x = 1\n", difficulty=None, cpu=None):
    return {"task_id": task, "status": status, "completion": completion,
            "difficulty": difficulty, "cpu_time_ms": cpu}


SAMPLES = [
    sample("a", ACCEPTED, difficulty="easy", cpu=10.0),
    sample("a", ACCEPTED, difficulty="easy", cpu=30.0),
    sample("a", WRONG_ANSWER, difficulty="easy", cpu=5.0),
    sample("a", RUNTIME_ERROR, difficulty="easy", cpu=1.0),
    sample("b", COMPILE_ERROR, difficulty="hard"),
    sample("b", WRONG_ANSWER, difficulty="hard"),
    sample("b", WRONG_ANSWER, difficulty="hard"),
    sample("b", ACCEPTED, difficulty="hard", cpu=20.0),
]


def test_pass_at_k_and_difficulty_buckets():
    counts = M.per_problem_counts(SAMPLES)
    assert counts["a"] == {"n": 4, "c": 2, "difficulty": "easy"}
    assert counts["b"] == {"n": 4, "c": 1, "difficulty": "hard"}
    scores = M.pass_at_ks(counts)
    assert list(scores) == ["pass@1"]  # n = 4 cannot estimate pass@5
    assert scores["pass@1"] == pytest.approx((2 / 4 + 1 / 4) / 2)
    buckets = M.pass1_by_difficulty(counts)
    assert buckets == {"easy": {"pass@1": 0.5, "problems": 1},
                       "hard": {"pass@1": 0.25, "problems": 1}}
    assert M.problem_pass1(counts) == {"a": 0.5, "b": 0.25}


def test_problems_without_difficulty_are_unrated():
    counts = M.per_problem_counts([sample("x", ACCEPTED), sample("y", WRONG_ANSWER)])
    assert M.pass1_by_difficulty(counts) == {"unrated": {"pass@1": 0.5, "problems": 2}}


def test_verdict_histogram_counts_and_shares():
    histogram = M.verdict_histogram(SAMPLES)
    assert histogram[ACCEPTED] == {"count": 3, "share": 3 / 8}
    assert histogram[WRONG_ANSWER] == {"count": 3, "share": 3 / 8}
    assert histogram[COMPILE_ERROR]["count"] == 1
    assert histogram[RUNTIME_ERROR]["count"] == 1
    assert histogram["Time Limit Exceeded"] == {"count": 0, "share": 0.0}
    assert sum(row["count"] for row in histogram.values()) == 8


def test_mean_cpu_time_only_counts_passing_samples():
    assert M.mean_cpu_time_of_passing(SAMPLES) == pytest.approx(20.0)
    assert M.mean_cpu_time_of_passing([sample("a", WRONG_ANSWER, cpu=3.0)]) is None


def test_distinct_ngrams_hand_computed():
    tokens = [["a", "b", "a"], ["a", "b"]]
    # unigrams: a b a a b -> 2 distinct of 5; bigrams: ab ba ab -> 2 of 3
    assert M.distinct_ngrams(tokens, 1) == pytest.approx(2 / 5)
    assert M.distinct_ngrams(tokens, 2) == pytest.approx(2 / 3)
    assert M.distinct_ngrams(tokens, 4) is None


@pytest.mark.parametrize("a, b, expected", [
    ("kitten", "sitting", 3), ("", "abc", 3), ("abc", "", 3), ("abc", "abc", 0),
    ("flaw", "lawn", 2), ("intention", "execution", 5), ("ab", "ba", 2),
])
def test_edit_distance(a, b, expected):
    assert M.edit_distance(list(a), list(b)) == expected
    assert M.edit_distance(list(b), list(a)) == expected


def test_edit_distance_matches_a_plain_dynamic_programme():
    import random

    def reference(a, b):
        table = list(range(len(b) + 1))
        for i, x in enumerate(a, 1):
            previous, table[0] = table[0], i
            for j, y in enumerate(b, 1):
                previous, table[j] = table[j], min(table[j] + 1, table[j - 1] + 1,
                                                   previous + (x != y))
        return table[-1]

    rng = random.Random(0)
    for _ in range(200):
        a = [rng.choice("abc") for _ in range(rng.randint(0, 12))]
        b = [rng.choice("abc") for _ in range(rng.randint(0, 12))]
        assert M.edit_distance(a, b) == reference(a, b)


def test_normalised_edit_distance_and_pairwise_mean():
    assert M.normalised_edit_distance(list("kitten"), list("sitting")) == pytest.approx(3 / 7)
    assert M.normalised_edit_distance([], []) == 0.0
    # pairs: (aa, aa)=0, (aa, bb)=1, (aa, bb)=1 -> mean 2/3
    assert M.mean_pairwise_edit_distance([list("aa"), list("aa"), list("bb")]) == \
        pytest.approx(2 / 3)
    assert M.mean_pairwise_edit_distance([list("aa")]) is None


def test_normalised_ast_ignores_names_comments_docstrings_and_layout():
    one = 'def f(x):\n    """Doc."""\n    # add one\n    return x + 1\n'
    two = "def g(value: int) -> int:\n    return (value +\n            1)\n"
    three = "def f(x):\n    return x - 1\n"
    assert M.normalised_ast(one) == M.normalised_ast(two)
    assert M.normalised_ast(one) != M.normalised_ast(three)
    assert M.normalised_ast("def broken(:\n") is None


def test_distinct_ast_share():
    same_a = "def f(x):\n    return x + 1\n"
    same_b = "def f(y):  # renamed\n    return y + 1\n"
    other = "def f(x):\n    return x * 2\n"
    assert M.distinct_ast_share([same_a, same_b, other, other]) == pytest.approx(2 / 4)
    # Broken samples count by their text: two identical ones are one program.
    assert M.distinct_ast_share(["def (", "def  (", "return"]) == pytest.approx(2 / 3)


def test_diversity_averages_over_problems_with_two_or_more_samples():
    samples = [sample("a", ACCEPTED, "x = 1"), sample("a", ACCEPTED, "x = 1"),
               sample("b", ACCEPTED, "y = 2"), sample("b", ACCEPTED, "z = 3 + 4"),
               sample("c", ACCEPTED, "only one")]
    result = M.diversity(samples)
    assert result["problems"] == 2
    # a: identical -> distinct ASTs 1/2, edit distance 0; b: different -> 1, and
    # tokens [y,=,2] vs [z,=,3,+,4]: 4 edits over 5 tokens.
    assert result["distinct_ast"] == pytest.approx((0.5 + 1.0) / 2)
    assert result["edit_distance"] == pytest.approx((0.0 + 4 / 5) / 2)
    # a: unigrams x = 1 x = 1 -> 3/6; b: y = 2 z = 3 + 4 -> 7/8
    assert result["distinct_1"] == pytest.approx((3 / 6 + 7 / 8) / 2)


def test_compute_metrics_bundles_everything():
    result = M.compute_metrics(SAMPLES)
    assert result["pass@1"] == pytest.approx(0.375)
    assert result["problems"] == 2 and result["samples"] == 8
    assert result["samples_per_problem"] == 4
    assert result["per_problem_pass@1"] == {"a": 0.5, "b": 0.25}
    assert result["diversity"]["problems"] == 2


def test_generation_lengths_hand_computed():
    rows = [{**s, "n_tokens": n, "finish": f} for s, n, f in zip(
        SAMPLES[:4], (10, 160, 30, 160), ("stop", "length", "stop", "length"))]
    result = M.generation_lengths(rows)
    # mean of 10, 160, 30, 160 ; 2 of 4 cut at the cap: one Accepted, one Runtime Error
    assert result == {"mean_tokens": 90.0, "capped_share": 0.5, "capped": 2, "answers": 4,
                      "capped_verdicts": {ACCEPTED: 1, RUNTIME_ERROR: 1}}
    assert M.generation_lengths(SAMPLES) is None  # records without lengths (older runs)
    assert M.compute_metrics(rows)["generation"]["capped"] == 2

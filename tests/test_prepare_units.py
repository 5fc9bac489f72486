"""ocrl.prepare's pure parts: the dedup key and rule, and twin-problem clustering."""

from __future__ import annotations

import pytest

from ocrl.prepare.dedup import deduplicate, duplicate_classes, stripped_code, token_key
from ocrl.prepare.twins import (DERIVED_CLUSTERS, cluster_problems, read_identical_clusters,
                                similar_statements)

LOOP_BODY = "s = 0\nfor i in range(3):\n    s += i\n    print(s)\n"
AFTER_LOOP = "s = 0\nfor i in range(3):\n    s += i\nprint(s)\n"


def test_layout_and_comments_do_not_make_a_new_program():
    a = "def f(x):\n    # add one\n    return x + 1\n"
    b = "def f(x):  # tidy\n\n  return x+1   \n"  # two-space indent: the same blocks
    assert token_key(a) == token_key(b)
    assert duplicate_classes([a, "print(1)", b, "print( 1 )", "print(2)"]) == \
        [[0, 2], [1, 3], [4]]


def test_indentation_and_token_boundaries_make_a_new_program():
    # The old key (all whitespace stripped) merged these: print inside the loop and after it.
    assert stripped_code(LOOP_BODY) == stripped_code(AFTER_LOOP)
    assert token_key(LOOP_BODY) != token_key(AFTER_LOOP)
    assert duplicate_classes([LOOP_BODY, AFTER_LOOP]) == [[0], [1]]
    assert stripped_code("print(not x)") == stripped_code("print(notx)")
    assert token_key("print(not x)") != token_key("print(notx)")
    assert token_key('print("a b")') != token_key('print("ab")')
    assert token_key('print("# not a comment")') != token_key("print()")


def test_code_the_tokenizer_rejects_still_has_a_key():
    # An unclosed bracket fails only at the end: copies differing in layout still collapse.
    assert token_key("print((1)\n") == token_key("print(( 1 )  # x\n\n")
    assert token_key("print((1)\n") != token_key("print((2)\n")
    bad_indent = "if x:\n        a = 1\n    b = 2\n"  # dedent to no outer level
    assert token_key(bad_indent) != token_key("if x:\n        a = 1\nb = 2\n")


def test_deduplicate_counts_disagreeing_verdicts_and_prefers_cpython():
    codes = ["print(1)\n", "print(1)  # again\n", "print( 1 )\n", "print(2)\n"]
    statuses = ["Accepted", "Time Limit Exceeded", "Accepted", "Wrong Answer"]
    interpreters = ["pypy", "cpython", "cpython", "cpython"]
    keep, counts = deduplicate(codes, statuses, interpreters, "prefer_cpython")
    # The first CPython copy (index 1) stands for the program, not the earlier PyPy one.
    assert keep == [1, 3]
    assert counts == {"dropped/near_duplicate": 2, "dedup/verdict_disagreements": 2,
                      "dedup/cross_interpreter": 1}
    keep, counts = deduplicate(codes, statuses, interpreters, "per_interpreter")
    assert keep == [0, 1, 3]
    # Only the CPython copy 2 is dropped, against CPython copy 1 (TLE vs Accepted).
    assert counts == {"dropped/near_duplicate": 1, "dedup/verdict_disagreements": 1,
                      "dedup/cross_interpreter": 0}
    with pytest.raises(ValueError, match="interpreter rule"):
        deduplicate(codes, statuses, interpreters, "first")


def test_twins_from_codenets_list(tmp_path):
    path = tmp_path / DERIVED_CLUSTERS
    path.parent.mkdir(parents=True)
    path.write_text("p00002,p00007\np00007,p00011\np00003\n")
    assert read_identical_clusters(path) == [["p00002", "p00007"], ["p00007", "p00011"]]
    clusters, how = cluster_problems(["p00001", "p00002", "p00007", "p00011"], root=tmp_path)
    assert how == "derived"
    # Chained lines are one cluster, named by its smallest id; p00001 is its own.
    assert clusters == {"p00001": "p00001", "p00002": "p00002", "p00007": "p00002",
                        "p00011": "p00002"}
    assert cluster_problems(["p00002", "p00007"], root=tmp_path, method="none")[0] == \
        {"p00002": "p00002", "p00007": "p00007"}


def test_twins_from_statement_similarity():
    words = " ".join(f"word{i}" for i in range(60))
    statements = {
        "p1": f"<h1>Sum</h1><p>{words} sample 1 2</p>",
        "p2": f"<H1>sum</H1>\n<p>{words}   SAMPLE 1 2</p>",          # same words, other markup
        "p3": f"<p>{words} sample 1 2 plus a few more words at the end</p>",  # J = 61/69
        "p4": "<p>an unrelated statement about graphs and trees</p>",
    }
    assert similar_statements(statements, 0.9) == [["p1", "p2"]]
    assert similar_statements(statements, 0.8) == [["p1", "p2", "p3"]]
    clusters, how = cluster_problems(statements, statements=statements, threshold=0.9)
    assert how == "statements"
    assert clusters == {"p1": "p1", "p2": "p1", "p3": "p3", "p4": "p4"}


def test_programs_that_compile_are_compared_by_their_code():
    from ocrl.prepare.dedup import program_key

    assert program_key("x = 1;\nprint(x)") == program_key("x = 1\nprint( x )  # same\n")
    assert program_key(LOOP_BODY) != program_key(AFTER_LOOP)
    # Parsing or not is never the same program, whatever the stripped text says.
    assert program_key("print(1)\n") != program_key("print(1\n")

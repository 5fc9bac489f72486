"""`ocrl prepare` on small CodeNet-layout trees where every sample of one problem is known:
dedup by tokens, interpreters apart, groups mixed on the functional part, problem statistics
after dedup, twin problems in one split, and the leaner dataset layout."""

from __future__ import annotations

import shutil

import pyarrow.parquet as pq
import pytest

from ocrl.codenet.fixture import FixtureSpec, Row, write_codenet_tree, write_submissions
from ocrl.dataset import load_groups, load_samples
from ocrl.grouping import split_of
from ocrl.prepare import PrepareConfig, prepare
from ocrl.prepare.twins import DERIVED_CLUSTERS

LOOP_BODY = "s = 0\nfor i in range(3):\n    s += i\n    print(s)\n"
AFTER_LOOP = "s = 0\nfor i in range(3):\n    s += i\nprint(s)\n"
CPYTHON, PYPY = "Python (3.8.2)", "PyPy3 (2.4.0)"


@pytest.fixture()
def tree(tmp_path):
    # dirt=False: no planted duplicates, so every dedup count below comes from the rows written.
    return write_codenet_tree(tmp_path / "codenet", FixtureSpec(problems=6, submissions=240,
                                                                seed=1, dirt=False)).root


def _prepare(root, out, **options):
    options = {"workers": 1, "progress": False, "shard_rows": 100, **options}
    return prepare(PrepareConfig(source="codenet", path=str(root), out=str(out), **options))


def _rows(out, problem_id):
    names = ["samples.parquet"] + (["ungrouped.parquet"] if (out / "ungrouped.parquet").is_file()
                                   else [])
    return [r for name in names for r in pq.read_table(out / name).to_pylist()
            if r["problem_id"] == problem_id]


def _problem(out, problem_id):
    return next(p for p in pq.read_table(out / "problems.parquet").to_pylist()
                if p["problem_id"] == problem_id)


def test_dedup_keeps_indentation_and_reports_disagreeing_verdicts(tree, tmp_path):
    write_submissions(tree, "p00000", [
        Row(LOOP_BODY, "Accepted"), Row(AFTER_LOOP, "Wrong Answer"),
        Row("print(7)\n", "Accepted"), Row("print( 7 )  # same program\n", "Wrong Answer")])
    manifest = _prepare(tree, tmp_path / "out", keep_ungrouped=True)
    codes = {r["completion"]: r["status"] for r in _rows(tmp_path / "out", "p00000")}
    assert codes == {LOOP_BODY: "Accepted", AFTER_LOOP: "Wrong Answer", "print(7)\n": "Accepted"}
    assert manifest["counts"]["dropped"]["near_duplicate"] == 1
    assert manifest["counts"]["dedup"] == {"verdict_disagreements": 1, "cross_interpreter": 0}


def test_runtime_is_ranked_within_an_interpreter(tree, tmp_path):
    rows = [Row("p = 1\nprint(p)\n", "Accepted", PYPY, 10),
            Row("p = 1\nprint(p)  # resubmitted\n", "Time Limit Exceeded", CPYTHON, 2000),
            Row("print(2)\n", "Accepted", PYPY, 20), Row("print(3)\n", "Accepted", PYPY, 30),
            Row("print(4)\n", "Accepted", CPYTHON, 300),
            Row("print(5)\n", "Accepted", CPYTHON, 100)]
    write_submissions(tree, "p00000", rows)
    manifest = _prepare(tree, tmp_path / "a", keep_ungrouped=True)
    got = {r["completion"]: (r["interpreter"], r["status"], r["runtime"])
           for r in _rows(tmp_path / "a", "p00000")}
    # One copy of the resubmitted program: CPython's verdict (ocrl's judge runs CPython).
    # Ranked across interpreters, 20, 30, 100, 300 ms would give 1, 2/3, 1/3, 0.
    assert got == {rows[1].code: ("cpython", "Time Limit Exceeded", 0.0),
                   "print(2)\n": ("pypy", "Accepted", 1.0),
                   "print(3)\n": ("pypy", "Accepted", 0.0),
                   "print(4)\n": ("cpython", "Accepted", 0.0),
                   "print(5)\n": ("cpython", "Accepted", 1.0)}
    assert manifest["counts"]["dedup"] == {"verdict_disagreements": 1, "cross_interpreter": 1}
    _prepare(tree, tmp_path / "b", keep_ungrouped=True, interpreter_dedup="per_interpreter")
    got = {(r["completion"], r["interpreter"]): r["runtime"]
           for r in _rows(tmp_path / "b", "p00000")}
    assert got[(rows[0].code, "pypy")] == 1.0 and got[("print(2)\n", "pypy")] == 0.5
    assert (rows[1].code, "cpython") in got


def test_groups_differing_only_in_runtime_are_not_mixed(tree, tmp_path):
    write_submissions(tree, "p00000", [Row(f"print({i})\n", "Accepted", CPYTHON, 100 + 10 * i)
                                       for i in range(8)])
    _prepare(tree, tmp_path / "f")
    assert _problem(tmp_path / "f", "p00000")["n_groups"] == 0
    _prepare(tree, tmp_path / "r", mixed_on="reward")
    assert _problem(tmp_path / "r", "p00000")["n_groups"] == 2
    groups = [g for g in load_groups(tmp_path / "r", split="all") if g["problem_id"] == "p00000"]
    assert all(set(g["statuses"]) == {"Accepted"} for g in groups)


def test_problem_statistics_count_deduplicated_samples(tree, tmp_path):
    write_submissions(tree, "p00000", [
        Row("print(1)\n", "Accepted"), Row("print(1)  # a\n", "Accepted"),
        Row("print(1)  # b\n", "Accepted"), Row("print(1)  # c\n", "Accepted"),
        Row("print(2)\n", "Wrong Answer"), Row("print(3)\n", "Wrong Answer")])
    _prepare(tree, tmp_path / "out")
    problem = _problem(tmp_path / "out", "p00000")
    # Before dedup the pass rate would be 4/6; the statistics agree on 3 distinct programs.
    assert (problem["n_samples"], problem["n_accepted"]) == (3, 1)
    assert problem["pass_rate"] == pytest.approx(1 / 3)
    for p in pq.read_table(tmp_path / "out" / "problems.parquet").to_pylist():
        assert p["pass_rate"] == pytest.approx(p["n_accepted"] / p["n_samples"])


def test_twin_problems_share_a_split(tree, tmp_path):
    pages = tree / "problem_descriptions"
    shutil.copy(pages / "p00001.html", pages / "p00005.html")
    # A seed under which the twins' own ids would land in different splits.
    seed = next(s for s in range(100)
                if split_of("p00001", s, [0.4, 0.3, 0.3]) != split_of("p00005", s, [0.4, 0.3, 0.3]))
    options = {"split_seed": seed, "split_fractions": [0.4, 0.3, 0.3]}
    manifest = _prepare(tree, tmp_path / "s", **options)
    # The generated statements differ in a few numbers only: none but the copy is a twin.
    assert manifest["sources"][0]["twins"] == {"method": "statements", "clusters_with_twins": 1,
                                               "problems_with_twins": 2}
    problems = {p["problem_id"]: p for p in
                pq.read_table(tmp_path / "s" / "problems.parquet").to_pylist()}
    assert problems["p00005"]["cluster_id"] == "p00001"
    assert problems["p00005"]["split"] == problems["p00001"]["split"] == \
        split_of("p00001", seed, [0.4, 0.3, 0.3])
    assert {r["split"] for r in _rows(tmp_path / "s", "p00005")} == {problems["p00001"]["split"]}
    # CodeNet's own list wins where the tree has it.
    (tree / DERIVED_CLUSTERS).parent.mkdir(parents=True)
    (tree / DERIVED_CLUSTERS).write_text("p00002,p00004\n")
    manifest = _prepare(tree, tmp_path / "d", **options)
    assert manifest["sources"][0]["twins"]["method"] == "derived"
    problems = {p["problem_id"]: p for p in
                pq.read_table(tmp_path / "d" / "problems.parquet").to_pylist()}
    assert problems["p00004"]["cluster_id"] == "p00002"
    assert problems["p00005"]["cluster_id"] == "p00005"


def test_dataset_layout_is_lean_and_split_readable(tree, tmp_path):
    out = tmp_path / "out"
    manifest = _prepare(tree, out, split_fractions=[0.4, 0.3, 0.3], shard_rows=60)
    assert not (out / "ungrouped.parquet").exists()
    assert "prompt" not in pq.read_schema(out / "samples.parquet").names
    assert manifest["counts"]["samples_ungrouped"] > 0
    samples = pq.ParquetFile(out / "samples.parquet")
    column = samples.schema_arrow.names.index("split")
    splits_seen = set()
    for index in range(samples.num_row_groups):
        stats = samples.metadata.row_group(index).column(column).statistics
        assert stats.min == stats.max  # one split per row group: a split reader skips the rest
        splits_seen.add(stats.min)
    assert splits_seen == {"train", "validation", "test"}
    everything = load_groups(out, split="all").to_list()
    for split in ("train", "validation", "test"):
        wanted = [g for g in everything
                  if _problem(out, g["problem_id"])["split"] == split]
        assert load_groups(out, split=split).to_list() == wanted
        rows = load_samples(out, split=split)
        assert len(rows) == manifest["splits"][split]["samples"]
        assert all(r["prompt"] for r in rows)

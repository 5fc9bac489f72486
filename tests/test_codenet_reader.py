"""Reading CodeNet metadata and sources: Python 3 detection and every kind of dirt, counted."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from ocrl.codenet.fixture import FixtureSpec, write_codenet_tree
from ocrl.codenet.python3 import looks_python2, python_version, version_from_language
from ocrl.codenet.reader import COLUMNS, decode_source, metadata_files, read_submissions


@pytest.mark.parametrize("language, version", [
    ("Python (2.7.6)", 2), ("Python (3.4.3)", 3), ("Python3", 3), ("Python2", 2),
    ("PyPy3 (2.4.0)", 3),   # PyPy's own version in parentheses, Python 3
    ("PyPy2 (5.6.0)", 2), ("Python", None), ("", None), (None, None),
])
def test_version_from_language(language, version):
    assert version_from_language(language) == version


def test_silent_language_decided_by_the_code():
    assert looks_python2('print "x"\n', parses_as_python3=False)
    assert looks_python2("try:\n    f()\nexcept ValueError, e:\n    pass\n", False)
    assert looks_python2("n = int(raw_input())\n", parses_as_python3=True)
    # A Python 3 program with a syntax error stays Python 3 (a Compile Error sample).
    assert not looks_python2("print((1)\n", parses_as_python3=False)
    assert not looks_python2("print(sum(range(10)))\n", parses_as_python3=True)
    assert python_version("Python (3.4.3)", "n = raw_input()", True) == 3  # stated wins


def test_decode_source():
    assert decode_source("print('é')\n".encode()) == ("print('é')\n", False)
    assert decode_source(b"\xef\xbb\xbfprint(1)\n") == ("print(1)\n", False)  # BOM
    cookie = "# -*- coding: cp932 -*-\n# 日本語\nprint(1)\n"
    assert decode_source(cookie.encode("cp932")) == (cookie, True)
    assert decode_source(b"# r\xe9sum\xe9\nprint(1)\n") == (None, False)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("codenet")
    return write_codenet_tree(root, FixtureSpec(problems=8, submissions=2500, seed=3))


def test_fixture_tree_has_the_codenet_layout(tree):
    root = tree.root
    assert (root / "metadata" / "problem_list.csv").is_file()
    first = next(iter(sorted((root / "data").iterdir())))
    assert (first / "Python").is_dir() and any((first / "Python").glob("s*.py"))
    header = (root / "metadata" / "p00000.csv").read_text().splitlines()[0]
    assert header.split(",") == list(COLUMNS)
    # Every kind of dirt is present at least once.
    for key in ("dropped/bad_row", "dropped/uninformative_status", "dropped/unknown_status",
                "dropped/missing_source", "dropped/source_not_utf8", "dropped/python2",
                "dropped/empty_source", "fixed/cpu_time_missing", "fixed/cpu_time_negative",
                "fixed/memory_missing", "fixed/accuracy_malformed",
                "fixed/source_declared_encoding", "expected/near_duplicates"):
        assert tree.counts[key] > 0, key


def test_reader_counts_every_kind_of_dirt_exactly(tree):
    counts: Counter = Counter()
    submissions = []
    for path in metadata_files(tree.root):
        submissions.extend(read_submissions(tree.root, path, counts))
    expected = {k: v for k, v in tree.counts.items() if not k.startswith("expected/")}
    assert dict(counts) == expected
    assert len(submissions) == expected["kept/python3"]
    codes = [s.completion for s in submissions]
    assert not any("raw_input" in c or 'print "' in c or "\ufffd" in c for c in codes)
    assert {s.status for s in submissions} <= {
        "Accepted", "Wrong Answer", "Runtime Error", "Time Limit Exceeded",
        "Memory Limit Exceeded", "Compile Error", "Output Limit Exceeded",
        "WA: Presentation Error"}
    assert all(s.cpu_time_ms is None or s.cpu_time_ms >= 0 for s in submissions)
    # Compile Error samples were planted as code that does not parse (planted near-duplicates,
    # "# copied", draw their status independently of the code they copy).
    originals = [s for s in submissions if not s.completion.startswith("# copied")]
    assert all(s.syntax_ok is (s.status != "Compile Error") for s in originals)
    aizu = [s for s in submissions if s.tests_total is not None]
    assert aizu and all(0 <= s.tests_passed <= s.tests_total for s in aizu)


def test_zero_byte_and_headerless_metadata(tmp_path):
    root = tmp_path
    (root / "metadata").mkdir()
    (root / "metadata" / "p00001.csv").write_bytes(b"")
    data = root / "data" / "p00002" / "Python"
    data.mkdir(parents=True)
    (data / "s000000001.py").write_text("print(1)\n")
    (root / "metadata" / "p00002.csv").write_text(
        "s000000001,p00002,u1,1,Python,Python3,py,Accepted,10,100,9,\n")
    counts: Counter = Counter()
    found = [s for p in metadata_files(root) for s in read_submissions(root, p, counts)]
    assert [s.origin_id for s in found] == ["s000000001"]
    assert [p.name for p in metadata_files(root)] == ["p00001.csv", "p00002.csv"]


def test_fixture_generation_is_deterministic_and_parallel_safe(tmp_path):
    one = write_codenet_tree(tmp_path / "a", FixtureSpec(problems=6, submissions=400, seed=9))
    two = write_codenet_tree(tmp_path / "b", FixtureSpec(problems=6, submissions=400, seed=9,
                                                         workers=2))
    assert one.counts == two.counts
    for path in (tmp_path / "a" / "metadata").iterdir():
        assert path.read_bytes() == (tmp_path / "b" / "metadata" / path.name).read_bytes()
    assert Path(one.root).name == "a"


def test_python2_stated_by_the_metadata_is_dropped_before_reading_or_compiling(tmp_path,
                                                                              monkeypatch):
    import ocrl.codenet.reader as reader
    from ocrl.codenet.fixture import Row, write_submissions

    report = write_codenet_tree(tmp_path / "t", FixtureSpec(problems=2, submissions=20, seed=0,
                                                            dirt=False))
    write_submissions(report.root, "p00000", [
        Row('print "stated"\n', "Accepted", "Python (2.7.6)", write_source=False),
        Row('print "pypy2"\n', "Accepted", "PyPy2 (5.6.0)"),
        Row('print "silent"\n', "Accepted", "Python"),   # only the code can tell
        Row("print(3)\n", "Accepted", "PyPy3 (2.4.0)")])
    compiled = []
    real = reader.compiles
    monkeypatch.setattr(reader, "compiles", lambda code: compiled.append(code) or real(code))
    counts = Counter()
    kept = list(read_submissions(report.root, report.root / "metadata" / "p00000.csv", counts))
    assert [(s.completion, s.interpreter) for s in kept] == [("print(3)\n", "pypy")]
    # The stated rows were not even read: a missing source is not "missing_source".
    assert counts["dropped/python2"] == 3 and counts["dropped/missing_source"] == 0
    assert compiled == ['print "silent"\n', "print(3)\n"]

"""CodeNet HTML statements: sample tests, English preference, prompt text, limits, real pages."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ocrl.cli import app
from ocrl.codenet.statements import iter_statement_files, parse_statement
from ocrl.problems import load_problems

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "codenet"
TARBALL = SHARED / "problem_descriptions.tar.gz"

ATCODER = """
<span class="lang-ja"><h3>問題文</h3><p>和を出力せよ。</p>
<h3>入力例 1</h3><pre>9 9
</pre><h3>出力例 1</h3><pre>18
</pre></span>
<span class="lang-en"><p>Score : <var>100</var> points</p>
<div class="part"><section><h3>Problem Statement</h3><p>Print <var>A+B</var>.</p>
<ul><li><var>1 \\leq A \\leq 100</var></li></ul></section></div>
<div class="part"><section><h3>Sample Input 1</h3><pre>1 2
</pre></section></div>
<div class="part"><section><h3>Sample Output 1</h3><pre>3
</pre><p>Because 1+2=3.</p></section></div>
<div class="part"><section><h3>Sample Input 2</h3><pre>10 20
</pre></section></div>
<div class="part"><section><h3>Sample Output 2</h3><pre>30
</pre></section></div></span>
"""

AIZU = """
<script>MathJax.Hub.Config({});</script>
<H1>Grid</H1>
<!-- Time Limit: 2 sec
Memory Limit: 128 MB -->
<p>Count the cells &amp; print s<sub>1</sub>.</p>
<H2>Input</H2>
<pre>
n
</pre>
<H2>Sample Input</H2>
<pre>
3
#.&#.#
..#
</pre>
<H2>Output for the Sample Input</H2>
<pre>
2
</pre>
"""

COMBINED = """
<h2>入出力例</h2>
<h3>入力1</h3><pre>5
</pre>
<h3>出力1</h3><pre>25
</pre>
<h3>入力2</h3><pre>2
</pre>
<h3>出力2</h3><pre>4
</pre>
"""

PARAGRAPH_LABELS = """
<h1>入出力例</h1>
<h2>入力例 1</h2>
<p>入力例 1:</p>
<pre>1 1
</pre>
<p>入力例 1 に対する出力例:</p>
<pre>2
</pre>
"""


def test_atcoder_page_keeps_english_and_pairs_samples():
    statement = parse_statement(ATCODER, "p09001")
    assert statement.language == "en"
    assert statement.tests == [{"input": "1 2\n", "output": "3\n"},
                               {"input": "10 20\n", "output": "30\n"}]
    assert "和を出力" not in statement.prompt
    assert "## Problem Statement" in statement.prompt
    assert "- 1 \\leq A \\leq 100" in statement.prompt
    assert "```\n1 2\n```" in statement.prompt


def test_aizu_page_survives_bare_ampersand_and_reads_limits_from_comment():
    statement = parse_statement(AIZU, "p09002")
    # "&#" inside the grid must not swallow the rest of the page.
    assert statement.tests == [{"input": "3\n#.&#.#\n..#\n", "output": "2\n"}]
    assert statement.time_limit_ms == 2000
    assert statement.memory_limit_kb == 128 * 1024
    assert "MathJax" not in statement.prompt
    assert "s_1" in statement.prompt and "&amp;" not in statement.prompt


def test_combined_sample_section_and_paragraph_labels():
    assert parse_statement(COMBINED).tests == [{"input": "5\n", "output": "25\n"},
                                               {"input": "2\n", "output": "4\n"}]
    assert parse_statement(PARAGRAPH_LABELS).tests == [{"input": "1 1\n", "output": "2\n"}]


def test_format_blocks_are_not_tests():
    html = "<h2>Input</h2><pre>N\nA B</pre><h2>Output</h2><pre>X</pre>"
    assert parse_statement(html).tests == []


def test_problems_codenet_command_on_directory_and_tarball(tmp_path):
    pages = tmp_path / "problem_descriptions"
    pages.mkdir()
    (pages / "p09001.html").write_text(ATCODER, encoding="utf-8")
    (pages / "p09002.html").write_text(AIZU, encoding="utf-8")
    (pages / "p09003.html").write_text("<p>Problem is available from here.</p>",
                                       encoding="utf-8")
    with tarfile.open(tmp_path / "pages.tar.gz", "w:gz") as archive:
        archive.add(pages, arcname="problem_descriptions")
    runner = CliRunner()
    for source in (pages, tmp_path / "pages.tar.gz"):
        out = tmp_path / f"{source.name}.jsonl"
        result = runner.invoke(app, ["problems", "codenet", str(source), "--out", str(out),
                                     "--workers", "1"])
        assert result.exit_code == 0, result.output
        problems = load_problems(out)
        assert sorted(problems) == ["p09001", "p09002"]  # no tests, not written
        assert problems["p09001"].style == "stdio"
        assert problems["p09001"].tests[1].output == "30\n"
        assert problems["p09002"].time_limit_ms == 2000
        assert "statements read" in result.output
    result = runner.invoke(app, ["problems", "codenet", str(pages), "--out",
                                 str(tmp_path / "all.jsonl"), "--keep-untested", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert len(load_problems(tmp_path / "all.jsonl")) == 3


def test_missing_path_is_a_located_error(tmp_path):
    result = CliRunner().invoke(app, ["problems", "codenet", str(tmp_path / "nope"), "--out",
                                      str(tmp_path / "x.jsonl")])
    assert result.exit_code == 2
    assert "nope" in result.output


@pytest.mark.skipif(not TARBALL.is_file(), reason="../shared/data/codenet not present")
def test_real_codenet_statements_mostly_yield_tests(tmp_path):
    from ocrl.codenet.convert import convert_statements

    rows, counts = convert_statements(TARBALL, workers=2, progress=False)
    print(f"real CodeNet statements: {counts}")
    assert counts["statements"] == 3999
    # The format notes say about 3,400 pages hold sample sections.
    assert counts["with_tests"] >= 3400
    assert len(rows) == counts["with_tests"]
    first = next(iter_statement_files(TARBALL))
    assert first[0].startswith("p")
    by_id = {r["task_id"]: r for r in rows}
    # p03139 (AtCoder, bilingual): English prompt, three samples.
    assert by_id["p03139"]["tests"][0] == {"input": "10 3 5\n", "output": "3 0\n"}
    assert len(by_id["p03139"]["tests"]) == 3
    assert "Problem Statement" in by_id["p03139"]["prompt"]
    # p00156 (AIZU): a grid with "&#" that once hid the sample output.
    assert by_id["p00156"]["tests"][0]["output"] == "1\n2\n0\n0\n"


def test_prose_and_broken_markup_do_not_make_false_tests():
    # Prose that mentions "入力例" and ends in a colon explains a block; it is not a label.
    prose = ("<h2>Sample Input</h2><pre>1\n</pre><h2>Output for the Sample Input</h2><pre>2\n"
             "</pre><h2>Note</h2><p>入力例のデータにおいて、整列すると：</p><pre>9\n</pre>")
    assert parse_statement(prose).tests == [{"input": "1\n", "output": "2\n"}]
    # "<h3>入力例２</3>" never closes: the heading swallows the blocks after it.
    unclosed = ("<h2>入出力例</h2><h3>入力例１</h3><pre>1\n</pre><h3>出力例１</h3><pre>2\n</pre>"
                "<h3>入力例２</3><pre>3\n</pre><h3>出力例２</h3><pre>4\n</pre>")
    assert parse_statement(unclosed).tests == [{"input": "1\n", "output": "2\n"},
                                               {"input": "3\n", "output": "4\n"}]
    # "<H1>..</H2>" never closes either: the whole page sits inside the title.
    swallowed = ("<H1>Title</H2><p>text</p><H2>Input</H2><pre>a b\n</pre>"
                 "<H2>Sample Input 1</H2><pre>4 12\n</pre><H2>Sample Output 1</H2><pre>1 0\n</pre>")
    assert parse_statement(swallowed).tests == [{"input": "4 12\n", "output": "1 0\n"}]


def test_numbered_samples_pair_by_number_when_one_is_missing():
    html = ("<h3>Sample Input 1</h3><pre>1\n</pre><h3>Sample Output 1</h3><pre>10\n</pre>"
            "<h3>Sample Input 2</h3><pre>2\n</pre>"
            "<h3>Sample Input 3</h3><pre>3\n</pre><h3>Sample Output 3</h3><pre>30\n</pre>")
    assert parse_statement(html).tests == [{"input": "1\n", "output": "10\n"},
                                           {"input": "3\n", "output": "30\n"}]

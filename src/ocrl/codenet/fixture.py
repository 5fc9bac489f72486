"""Write Project-CodeNet-layout trees with every kind of dirt the format notes describe.

The full archive is not on these machines, so tests and the scale benchmark run on generated
trees. Each tree comes with the counts a correct reader must report (rows with the wrong column
count, judge-side statuses, Python 2 code, missing or non-UTF-8 sources, empty or negative
cpu_time, near-duplicate code, ...), so tests can check exact numbers, not just "no crash".
Problems are generated independently from (seed, problem index), so a big tree can be written by
several processes.
"""

from __future__ import annotations

import csv
import io
import random
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ocrl.codenet.reader import COLUMNS, UNINFORMATIVE_STATUSES

# Share of Python rows per kind of dirt (the rest are clean Python 3 rows).
DIRT_RATES = {
    "bad_row": 0.01,
    "uninformative_status": 0.015,
    "unknown_status": 0.003,
    "missing_source": 0.01,
    "source_not_utf8": 0.01,
    "source_declared_encoding": 0.005,
    "python2_stated": 0.03,
    "python2_syntax": 0.01,
    "python2_builtins": 0.005,
    "empty_source": 0.003,
    "cpu_time_missing": 0.01,
    "cpu_time_negative": 0.01,
    "memory_missing": 0.005,
    "accuracy_malformed": 0.005,
    "near_duplicate": 0.05,
}
CLEAN_STATUSES = (("Accepted", 0.50), ("Wrong Answer", 0.30), ("Runtime Error", 0.08),
                  ("Time Limit Exceeded", 0.06), ("Memory Limit Exceeded", 0.01),
                  ("Compile Error", 0.03), ("Output Limit Exceeded", 0.005),
                  ("WA: Presentation Error", 0.015))
PY3_LANGUAGES = ("Python (3.4.3)", "Python3", "PyPy3 (2.4.0)", "Python (3.8.2)", "Python")
PY2_LANGUAGES = ("Python (2.7.6)", "PyPy2 (5.6.0)", "Python2")
OTHER_LANGUAGES = (("C++", "C++14 (GCC 5.4.1)", "cpp"), ("Java", "Java8 (OpenJDK 1.8.0)", "java"),
                   ("JavaScript", "JavaScript", "js"), ("C", "C (GCC 5.4.1)", "c"))


@dataclass
class FixtureSpec:
    problems: int = 12
    submissions: int = 600          # metadata rows over all problems, every language
    seed: int = 0
    python_share: float = 0.8
    dirt: bool = True
    imbalance: float = 0.9          # Zipf exponent of submissions per problem
    statements: bool = True
    workers: int = 1


@dataclass
class FixtureReport:
    """What a correct reader must find in the tree."""

    root: Path
    counts: Counter = field(default_factory=Counter)   # reader-style keys: dropped/..., fixed/...
    per_problem: dict[str, Counter] = field(default_factory=dict)
    problems_with_statement: int = 0
    problem_ids: list[str] = field(default_factory=list)
    orphan_problem: str | None = None    # a metadata CSV missing from problem_list.csv
    listed_only_problem: str | None = None  # in problem_list.csv, no metadata CSV
    statementless_problem: str | None = None


def _allocation(total: int, problems: int, exponent: float) -> list[int]:
    weights = [1.0 / (i + 1) ** exponent for i in range(problems)]
    scale = total / sum(weights)
    counts = [int(w * scale) for w in weights]
    for i in range(total - sum(counts)):
        counts[i % problems] += 1
    return counts


def _program(rng: random.Random, unique: int) -> str:
    """A small Python 3 program, unique by ``unique`` (so only planted duplicates collapse)."""
    name = rng.choice(("n", "x", "m", "k", "num"))
    seq = rng.choice(("a", "arr", "values", "xs"))
    lines = [f"{name} = int(input())",
             f"{seq} = list(map(int, input().split()))"]
    body = rng.choice((
        [f"print(sum({seq}) + {unique})"],
        [f"best = max({seq}) - {unique}", "print(best)"],
        ["total = 0", f"for v in {seq}:", f"    total += v * {unique}", "print(total)"],
        [f"def solve({seq}):", f"    return sorted({seq})[len({seq}) // 2] + {unique}",
         f"print(solve({seq}))"],
        ["from collections import Counter", f"c = Counter({seq})",
         f"print(c.most_common(1)[0][0], {unique})"],
    ))
    if rng.random() < 0.3:
        lines.insert(0, f"# solution {unique}")
    return "\n".join(lines + body) + "\n"


def _near_duplicate(code: str, rng: random.Random) -> str:
    """Same code after stripping comments and whitespace: what dedup must collapse."""
    lines = [line for line in code.split("\n") if not line.lstrip().startswith("#")]
    lines = [line.replace(" = ", "=").replace(", ", ",") for line in lines]
    return "# copied\n" + "\n".join(lines).rstrip("\n") + "  # tail comment\n\n"


_PY2_CODES = ('n = input()\nprint "answer", n\n',
              'import sys\nfor line in sys.stdin:\n    print line.strip()\n',
              'try:\n    x = int(input())\nexcept ValueError, e:\n    print e\n')


def _statement_html(problem_id: str, dataset: str, rng: random.Random) -> str:
    a, b = rng.randint(1, 99), rng.randint(1, 99)
    if dataset == "AtCoder":
        return (f'<span class="lang-ja"><h3>問題文</h3><p>整数を足してください。</p>'
                f"<h3>入力例 1</h3><pre>{a} {b}\n</pre><h3>出力例 1</h3><pre>{a + b}\n</pre>"
                f'</span><span class="lang-en"><div class="part"><section><h3>Problem Statement'
                f"</h3><p>Given <var>A</var> and <var>B</var>, print <var>A+B</var>.</p>"
                f"</section></div><div class=\"part\"><section><h3>Sample Input 1</h3>"
                f"<pre>{a} {b}\n"
                f"</pre></section></div><div class=\"part\"><section><h3>Sample Output 1</h3>"
                f"<pre>{a + b}\n</pre></section></div><div class=\"part\"><section>"
                f"<h3>Sample Input 2</h3><pre>1 1\n</pre></section></div><div class=\"part\">"
                f"<section><h3>Sample Output 2</h3><pre>2\n</pre></section></div></span>")
    # AIZU style: loose headings, a grid with a bare "&#" that trips naive parsers.
    return (f"<H1>Sum {problem_id}</H1>\n<p>Read two integers and print their sum. "
            f"The grid <var>#.&#.#</var> is decoration.</p>\n<H2>Input</H2>\n<pre>\na b\n</pre>\n"
            f"<H2>Sample Input</H2>\n<pre>\n{a} {b}\n</pre>\n"
            f"<H2>Output for the Sample Input</H2>\n<pre>\n{a + b}\n</pre>\n")


def _pick(rng: random.Random, weighted) -> str:
    roll, acc = rng.random(), 0.0
    for value, weight in weighted:
        acc += weight
        if roll < acc:
            return value
    return weighted[0][0]


def _write_problem(root: Path, problem_index: int, problem_id: str, rows: int, first_id: int,
                   dataset: str, write_statement: bool, spec: FixtureSpec) -> Counter:
    rng = random.Random(f"{spec.seed}:{problem_index}")
    counts: Counter = Counter()
    data_dir = root / "data" / problem_id
    written_dirs: set[Path] = set()
    metadata = io.StringIO()
    writer = csv.writer(metadata, lineterminator="\n")
    writer.writerow(COLUMNS)
    kept_codes: list[str] = []
    dirt = list(DIRT_RATES.items()) if spec.dirt else []
    for j in range(rows):
        counts["rows_read"] += 1
        submission_id = f"s{first_id + j:09d}"
        date = 1300000000 + first_id + j
        user = f"u{rng.randrange(10 ** 9):09d}"
        if rng.random() >= spec.python_share:
            language, original, ext = rng.choice(OTHER_LANGUAGES)
            status = _pick(rng, CLEAN_STATUSES)
            source = f"// {submission_id}\nint main() {{ return 0; }}\n".encode()
            counts["dropped/other_language"] += 1
            row = [submission_id, problem_id, user, date, language, original, ext, status,
                   rng.randint(0, 500), rng.randint(1000, 60000), len(source), ""]
            _write_source(data_dir / language, f"{submission_id}.{ext}", source, written_dirs)
            writer.writerow(row)
            continue
        kind = _pick(rng, dirt + [("clean", 1.0)]) if dirt else "clean"
        if kind == "near_duplicate" and not kept_codes:
            kind = "clean"
        status = _pick(rng, CLEAN_STATUSES)
        original = rng.choice(PY3_LANGUAGES)
        code = _program(rng, first_id + j)
        if status == "Compile Error":
            code = code.replace("print(", "print((", 1)  # unbalanced: fails ast.parse
        cpu: object = rng.randint(10, 2000) if status != "Compile Error" else rng.randint(0, 30)
        memory: object = rng.randint(3000, 60000)
        accuracy = ""
        if dataset == "AIZU":
            total = rng.randint(1, 20)
            accuracy = f"{total if status == 'Accepted' else rng.randint(0, total - 1)}/{total}"
        encoded: bytes | None = None
        outcome = "kept/python3"
        if kind == "bad_row":
            outcome = "dropped/bad_row"
        elif kind == "uninformative_status":
            status = rng.choice(UNINFORMATIVE_STATUSES)
            outcome = "dropped/uninformative_status"
            counts[f"dropped/uninformative_status/{status}"] += 1
        elif kind == "unknown_status":
            status = "Judging (3/7)"
            outcome = "dropped/unknown_status"
        elif kind == "missing_source":
            outcome = "dropped/missing_source"
        elif kind == "source_not_utf8":
            encoded = b"# r\xe9sum\xe9 \xff\xfe\nprint(1)\n"
            outcome = "dropped/source_not_utf8"
        elif kind == "source_declared_encoding":
            code = "# -*- coding: cp932 -*-\n# 入力を読む\n" + code
            encoded = code.encode("cp932")
            counts["fixed/source_declared_encoding"] += 1
        elif kind == "python2_stated":
            original = rng.choice(PY2_LANGUAGES)
            outcome = "dropped/python2"
        elif kind == "python2_syntax":
            original, code = "Python", rng.choice(_PY2_CODES)
            outcome = "dropped/python2"
        elif kind == "python2_builtins":
            original = "Python"
            code = f"n = int(raw_input())\nfor i in xrange(n):\n    print(i + {j})\n"
            outcome = "dropped/python2"
        elif kind == "empty_source":
            code = "\n  \n"
            outcome = "dropped/empty_source"
        elif kind == "cpu_time_missing":
            cpu = ""
            counts["fixed/cpu_time_missing"] += 1
        elif kind == "cpu_time_negative":
            cpu = -1
            counts["fixed/cpu_time_negative"] += 1
        elif kind == "memory_missing":
            memory = ""
            counts["fixed/memory_missing"] += 1
        elif kind == "accuracy_malformed":
            if dataset == "AIZU":
                accuracy = "n/a"
                counts["fixed/accuracy_malformed"] += 1
        elif kind == "near_duplicate":
            code = _near_duplicate(rng.choice(kept_codes), rng)
            counts["expected/near_duplicates"] += 1
        counts[outcome] += 1
        if outcome == "kept/python3" and kind != "near_duplicate":
            kept_codes.append(code)
        if encoded is None:
            encoded = code.encode("utf-8")
        row = [submission_id, problem_id, user, date, "Python", original, "py", status, cpu, memory,
               len(encoded), accuracy]
        if kind == "bad_row":
            row = row[:-2] if rng.random() < 0.5 else row + ["extra"]
        writer.writerow(row)
        if kind != "missing_source":
            _write_source(data_dir / "Python", f"{submission_id}.py", encoded, written_dirs)
    (root / "metadata" / f"{problem_id}.csv").write_text(metadata.getvalue(), encoding="utf-8")
    if write_statement:
        (root / "problem_descriptions" / f"{problem_id}.html").write_text(
            _statement_html(problem_id, dataset, rng), encoding="utf-8")
    return counts


def _write_source(directory: Path, name: str, data: bytes, made: set[Path]) -> None:
    if directory not in made:
        directory.mkdir(parents=True, exist_ok=True)
        made.add(directory)
    with open(directory / name, "wb") as handle:
        handle.write(data)


def _write_chunk(args) -> dict[str, Counter]:
    root, jobs, spec = args
    return {job[1]: _write_problem(root, *job, spec) for job in jobs}


def write_codenet_tree(root: str | Path, spec: FixtureSpec | None = None) -> FixtureReport:
    """Write a CodeNet-layout tree under ``root`` and return what a reader must find in it."""
    spec = spec or FixtureSpec()
    root = Path(root)
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    if spec.statements:
        (root / "problem_descriptions").mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{spec.seed}:tree")
    problem_ids = [f"p{i:05d}" for i in range(spec.problems)]
    per_problem = _allocation(spec.submissions, spec.problems, spec.imbalance)
    report = FixtureReport(root=root, problem_ids=problem_ids)
    listed = []
    jobs = []
    first_id = 100000000
    for index, problem_id in enumerate(problem_ids):
        dataset = "AIZU" if index % 2 == 0 else "AtCoder"
        write_statement = spec.statements and not (spec.dirt and index == spec.problems - 1)
        if not write_statement:
            report.statementless_problem = problem_id
        else:
            report.problems_with_statement += 1
        jobs.append((index, problem_id, per_problem[index], first_id, dataset, write_statement))
        first_id += per_problem[index]
        if spec.dirt and index == spec.problems - 2 and spec.problems > 2:
            report.orphan_problem = problem_id  # has submissions, missing from problem_list
            continue
        rating = rng.choice(("", "", str(rng.randint(100, 2800)))) if dataset == "AtCoder" else ""
        time_limit, memory_limit = (1000, 65536) if dataset == "AIZU" else (2000, 262144)
        listed.append([problem_id, f"Problem {problem_id}", dataset, time_limit, memory_limit,
                       rating, "", ""])
    if spec.dirt:
        report.listed_only_problem = f"p{spec.problems:05d}"
        listed.append([report.listed_only_problem, "No submissions", "AIZU", "", "", "", "", ""])
    with open(root / "metadata" / "problem_list.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["id", "name", "dataset", "time_limit", "memory_limit", "rating", "tags",
                         "complexity"])
        writer.writerows(listed)
    workers = max(1, spec.workers)
    chunks = [jobs[i::workers] for i in range(workers)]
    if workers == 1:
        report.per_problem = _write_chunk((root, jobs, spec))
    else:
        with ProcessPoolExecutor(workers) as pool:
            for part in pool.map(_write_chunk, [(root, chunk, spec) for chunk in chunks]):
                report.per_problem.update(part)
    for counts in report.per_problem.values():
        report.counts.update(counts)
    if spec.dirt:
        # A zero-byte metadata file, as a truncated download leaves behind.
        (root / "metadata" / f"p{spec.problems + 1:05d}.csv").write_bytes(b"")
    return report


@dataclass
class Row:
    """One hand-written submission for `write_submissions`."""

    code: str
    status: str = "Accepted"
    original_language: str = "Python (3.8.2)"
    cpu_time: object = 100
    write_source: bool = True


def write_submissions(root: str | Path, problem_id: str, rows: list[Row],
                      first_id: int = 900000000) -> None:
    """Replace one problem's metadata CSV and sources with exactly ``rows`` (in that order), for
    tests that need to know every sample of a problem."""
    root = Path(root)
    data_dir = root / "data" / problem_id / "Python"
    data_dir.mkdir(parents=True, exist_ok=True)
    for old in data_dir.glob("*.py"):
        old.unlink()
    metadata = io.StringIO()
    writer = csv.writer(metadata, lineterminator="\n")
    writer.writerow(COLUMNS)
    for offset, row in enumerate(rows):
        submission_id = f"s{first_id + offset:09d}"
        data = row.code.encode("utf-8")
        writer.writerow([submission_id, problem_id, "u000000001", 1400000000 + offset, "Python",
                         row.original_language, "py", row.status, row.cpu_time, 9000, len(data),
                         ""])
        if row.write_source:
            (data_dir / f"{submission_id}.py").write_bytes(data)
    (root / "metadata" / f"{problem_id}.csv").write_text(metadata.getvalue(), encoding="utf-8")

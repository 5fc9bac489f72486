"""`ocrl problems codenet`: CodeNet HTML statements -> stdio problems JSONL."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ocrl.cli import problems_app
from ocrl.commands.common import exit_on_input_error, print_table


def _parse(item: tuple[str, bytes]):
    from ocrl.codenet.statements import parse_statement_bytes

    return parse_statement_bytes(*item)


def convert_statements(path: Path, problem_list: Path | None = None, keep_untested: bool = False,
                       workers: int = 0, progress: bool = True) -> tuple[list[dict], dict]:
    """Parse every statement under ``path``; returns (problem rows, counts)."""
    import multiprocessing
    import os
    from collections import Counter

    from tqdm import tqdm

    from ocrl.codenet.statements import iter_statement_files, read_problem_list

    listed = {}
    default_list = path / "metadata" / "problem_list.csv"
    if problem_list is None and path.is_dir() and default_list.is_file():
        problem_list = default_list
    if problem_list is not None:
        listed = read_problem_list(problem_list)
    counts: Counter = Counter()
    rows = []
    workers = workers or len(os.sched_getaffinity(0))
    items = iter_statement_files(path)
    pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else None
    try:
        parsed = pool.imap(_parse, items, chunksize=32) if pool else map(_parse, items)
        for statement in tqdm(parsed, desc="statements", unit="page", disable=not progress):
            counts["statements"] += 1
            counts[f"language/{statement.language}"] += 1
            meta = listed.get(statement.problem_id, {})
            time_limit = _positive_int(meta.get("time_limit")) or statement.time_limit_ms
            memory_limit = _positive_int(meta.get("memory_limit")) or statement.memory_limit_kb
            if statement.tests:
                counts["with_tests"] += 1
                counts["tests"] += len(statement.tests)
            if time_limit:
                counts["with_time_limit"] += 1
            if not statement.tests and not keep_untested:
                continue
            row = {"task_id": statement.problem_id, "prompt": statement.prompt,
                   "tests": statement.tests, "time_limit_ms": time_limit,
                   "memory_limit_kb": memory_limit, "language": statement.language}
            if meta.get("name") or statement.title:
                row["name"] = meta.get("name") or statement.title
            if meta.get("dataset"):
                row["dataset"] = meta["dataset"]
            if meta.get("rating"):
                row["rating"] = meta["rating"]
            rows.append(row)
    finally:
        if pool is not None:
            pool.terminate()
    rows.sort(key=lambda r: r["task_id"])
    return rows, dict(counts)


def _positive_int(value) -> int | None:
    try:
        number = int(float(value))
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


@problems_app.command("codenet")
@exit_on_input_error
def codenet_command(
    path: Path = typer.Argument(..., help="problem_descriptions/ directory, a tarball of it, or a "
                                "Project_CodeNet root."),
    out: Path = typer.Option(Path("problems.jsonl"), help="Problems JSONL to write."),
    problem_list: Optional[Path] = typer.Option(None, help="metadata/problem_list.csv for time "
                                                "and memory limits (found automatically under a "
                                                "CodeNet root)."),
    keep_untested: bool = typer.Option(False, help="Also write statements without sample "
                                       "tests (they cannot be judged)."),
    workers: int = typer.Option(0, help="Parsing processes (0: all cores)."),
) -> None:
    """Parse CodeNet HTML statements into stdio problems: prompt text, limits, sample tests.

    English is kept where a page has both languages.
    """
    from ocrl.jsonl import write_jsonl

    rows, counts = convert_statements(path, problem_list, keep_untested, workers)
    write_jsonl(out, rows)
    total = counts.get("statements", 0)
    table = [("statements read", str(total), ""),
             ("with >= 1 sample test", str(counts.get("with_tests", 0)),
              f"{counts.get('with_tests', 0) / total:.1%}" if total else ""),
             ("sample tests", str(counts.get("tests", 0)), ""),
             ("English / Japanese", f"{counts.get('language/en', 0)} / "
                                    f"{counts.get('language/ja', 0)}", ""),
             ("with a time limit", str(counts.get("with_time_limit", 0)), ""),
             ("problems written", str(len(rows)), "")]
    print_table(f"CodeNet statements -> {out}", ["", "count", "share"], table)

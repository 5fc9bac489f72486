"""CodeNet statements -> ocrl stdio problems: every page parsed (in parallel), limits taken from
metadata/problem_list.csv where it has them, and pages without a sample test left out unless
kept. `ocrl problems codenet` is `write_problems`; every `CodenetProblemsConfig` field is one of
its flags and a key of its ``--config`` YAML file (`ocrl.config_files`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ocrl.config_files import option


@dataclass
class CodenetProblemsConfig:
    """What `ocrl problems codenet` converts, and where to."""

    # On the command line the leading positional argument (`ocrl problems codenet PATH`).
    path: str = option(help_text="problem_descriptions/ directory, a tarball of it, or a "
                                 "Project_CodeNet root.")
    out: str = option("problems.jsonl", "Problems JSONL to write.")
    problem_list: str | None = option(None, "metadata/problem_list.csv for time and memory "
                                            "limits (found automatically under a CodeNet root).")
    keep_untested: bool = option(False, "Also write statements without sample tests (they "
                                        "cannot be judged).")
    workers: int = option(0, "Parsing processes (0: all cores).")


def write_problems(config: CodenetProblemsConfig) -> tuple[list[dict], dict]:
    """Convert ``config.path`` and write the problems to ``config.out``; (rows, counts) as
    `convert_statements` returns them."""
    from ocrl.jsonl import write_jsonl

    rows, counts = convert_statements(
        Path(config.path), None if config.problem_list is None else Path(config.problem_list),
        keep_untested=config.keep_untested, workers=config.workers)
    write_jsonl(config.out, rows)
    return rows, counts


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

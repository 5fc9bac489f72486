"""Problems: the unit that code is judged against, in assert (HumanEval) or stdio (CodeNet) style."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocrl.errors import InputError
from ocrl.jsonl import read_jsonl, require


@dataclass
class StdioTest:
    input: str
    output: str


@dataclass
class Problem:
    """One task. ``style`` is "assert" (prompt + completion + test + check(entry_point))
    or "stdio" (the completion is a whole program run on each test input)."""

    task_id: str
    prompt: str
    style: str
    entry_point: str | None = None
    test: str | None = None
    tests: list[StdioTest] = field(default_factory=list)
    canonical_solution: str | None = None
    time_limit_ms: int | None = None
    memory_limit_kb: int | None = None
    difficulty: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        row = {"task_id": self.task_id, "prompt": self.prompt}
        if self.style == "assert":
            row.update(entry_point=self.entry_point, test=self.test)
        else:
            row["tests"] = [{"input": t.input, "output": t.output} for t in self.tests]
        for name in ("canonical_solution", "time_limit_ms", "memory_limit_kb", "difficulty"):
            if getattr(self, name) is not None:
                row[name] = getattr(self, name)
        row.update(self.extra)
        return row


_KNOWN = {"task_id", "prompt", "entry_point", "test", "tests", "canonical_solution",
          "time_limit_ms", "memory_limit_kb", "difficulty"}


def problem_from_dict(row: dict[str, Any], *, path: str = "<memory>", line: int = 0) -> Problem:
    task_id = require(row, "task_id", (str, int), path=path, line=line)
    prompt = require(row, "prompt", str, path=path, line=line)
    extra = {k: v for k, v in row.items() if k not in _KNOWN}
    common = dict(task_id=str(task_id), prompt=prompt,
                  canonical_solution=row.get("canonical_solution"),
                  time_limit_ms=row.get("time_limit_ms"), memory_limit_kb=row.get("memory_limit_kb"),
                  difficulty=row.get("difficulty"), extra=extra)
    if "tests" in row:
        tests = require(row, "tests", list, path=path, line=line)
        parsed = []
        for index, case in enumerate(tests):
            where = f"tests[{index}]"
            if not isinstance(case, dict) or not isinstance(case.get("input"), str) \
                    or not isinstance(case.get("output"), str):
                raise InputError("each test needs string 'input' and 'output'", path=path,
                                 line=line, field=where)
            parsed.append(StdioTest(case["input"], case["output"]))
        return Problem(style="stdio", tests=parsed, **common)
    if "test" not in row and "entry_point" not in row:
        raise InputError("a problem needs either 'test' and 'entry_point' (assert style) or "
                         "'tests' (stdio style)", path=path, line=line, field="test")
    entry_point = require(row, "entry_point", str, path=path, line=line)
    test = require(row, "test", str, path=path, line=line)
    return Problem(style="assert", entry_point=entry_point, test=test, **common)


def load_problems(path: str | Path) -> dict[str, Problem]:
    """Read a problems JSONL (assert or stdio style, may be mixed) keyed by task_id."""
    problems: dict[str, Problem] = {}
    for line, row in read_jsonl(path):
        problem = problem_from_dict(row, path=str(path), line=line)
        if problem.task_id in problems:
            raise InputError(f"duplicate task_id {problem.task_id!r}", path=str(path), line=line,
                             field="task_id")
        problems[problem.task_id] = problem
    if not problems:
        raise InputError("no problems in file", path=str(path))
    return problems

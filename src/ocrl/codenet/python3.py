"""Tell Python 3 submissions from Python 2 ones.

CodeNet maps both to ``language=Python``; ``original_language`` usually says which
("Python (2.7.6)", "Python (3.4.3)", "Python3", "PyPy2 (5.6.0)", "PyPy3 (2.4.0)"; in PyPy's
strings the number in parentheses is PyPy's own version, not Python's). Where it says nothing
("Python"), the code decides: Python-2-only syntax fails to parse under Python 3, and a few
Python-2-only builtins give away code that happens to parse.
"""

from __future__ import annotations

import re
import warnings

_NAMED = re.compile(r"(?:python|pypy|cpython)\s*([23])", re.I)
_VERSIONED = re.compile(r"python\s*\(\s*([23])\.", re.I)
_PY2_SYNTAX = re.compile(
    r"^\s*print\s+[^\s(=.,)\]]|^\s*print\s*$|^\s*exec\s+[\"'a-zA-Z]|except\s+[\w.]+\s*,\s*\w+\s*:"
    r"|`[^`\n]+`|<>|\bur[\"']|^\s*raise\s+\w+\s*,", re.M)
_PY2_NAMES = re.compile(r"\b(?:raw_input|xrange|unichr|basestring|iteritems|itervalues|iterkeys"
                        r"|has_key|execfile)\b|\bunicode\(|\blong\(|\.sort\(\s*cmp\s*=")

PY2 = 2
PY3 = 3
CPYTHON = "cpython"
PYPY = "pypy"


def interpreter(original_language: str | None) -> str:
    """"pypy" for PyPy submissions ("PyPy3 (2.4.0)"), else "cpython": the two run the same code
    at very different speeds, so times and time-limit verdicts only compare within one."""
    return PYPY if original_language and "pypy" in original_language.lower() else CPYTHON


def version_from_language(original_language: str | None) -> int | None:
    """2, 3, or None when the string does not say (e.g. plain "Python")."""
    if not original_language:
        return None
    match = _NAMED.search(original_language) or _VERSIONED.search(original_language)
    return int(match.group(1)) if match else None


def compiles(code: str) -> bool:
    """Whether this interpreter's Python 3 compiles the code: parsed and checked the way the
    interpreter does before running anything (so a misplaced ``from __future__`` import counts
    as the syntax error it is), and never executed."""
    try:
        with warnings.catch_warnings():
            # Old submissions are full of invalid escape sequences; they still compile.
            warnings.simplefilter("ignore")
            compile(code, "<submission>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


def looks_python2(code: str, parses_as_python3: bool) -> bool:
    """Judge code whose language string is silent. Code that fails to parse is Python 2 when it
    shows Python-2-only syntax (else it is Python 3 with a syntax error, which is training
    signal); code that parses is Python 2 when it leans on Python-2-only builtins."""
    if not parses_as_python3:
        return _PY2_SYNTAX.search(code) is not None
    return _PY2_NAMES.search(code) is not None


def python_version(original_language: str | None, code: str,
                   parses_as_python3: bool) -> int:
    stated = version_from_language(original_language)
    if stated is not None:
        return stated
    return PY2 if looks_python2(code, parses_as_python3) else PY3

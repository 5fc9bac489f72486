"""Near-duplicate programs of one problem: the same program, comments and layout aside.

Two programs are duplicates when their text with comments and whitespace stripped is equal
(a cheap first pass: `print` inside a loop and after it still look alike there) and, on top of
that, they compile to the same code (bytecode, constants and names, line numbers removed) where
both compile, or else their token streams are equal: comments and blank lines dropped, INDENT
and DEDENT kept, the width of an indent ignored, string literals verbatim. Either way the block
structure counts, and equal code runs the same. Compiled code stands in for the AST because it
is as exact about behaviour and ~5x cheaper than ``ast.dump`` (pure Python); tokenizing costs
~10x more again. Both run only for programs whose stripped text collides with another's.
"""

from __future__ import annotations

import hashlib
import io
import marshal
import re
import tokenize
import types
import warnings
from collections import Counter
from collections.abc import Sequence

from ocrl.codenet.python3 import CPYTHON

INTERPRETER_RULES = ("prefer_cpython", "per_interpreter")
# String literals (kept verbatim: whitespace inside them is content) and comments.
_STRING_OR_COMMENT = re.compile(
    r"((?:[rRbBuUfF]{0,2})(?:'{3}[\s\S]*?'{3}|\"{3}[\s\S]*?\"{3}|'(?:\\.|[^'\\\n])*'"
    r"|\"(?:\\.|[^\"\\\n])*\"))|#[^\n]*")
_SKIPPED = {tokenize.COMMENT, tokenize.NL, tokenize.ENDMARKER}
_MARKERS = {tokenize.INDENT: "\x01I", tokenize.DEDENT: "\x01D", tokenize.NEWLINE: "\x01N"}


def stripped_code(code: str) -> str:
    """The code with comments and all whitespace outside string literals removed: equal for
    every pair of token-equal programs (and for some others, which `token_key` then tells
    apart)."""
    if "#" not in code and "'" not in code and '"' not in code:
        return "".join(code.split())
    # re.split alternates: code, string-or-None (None for a comment), code, ...
    pieces = _STRING_OR_COMMENT.split(code)
    out = []
    for index, piece in enumerate(pieces):
        if index % 2:
            if piece:
                out.append(piece)
        elif piece:
            out.append("".join(piece.split()))
    return "".join(out)


def _digest_bytes(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def _digest(text: str) -> bytes:
    return _digest_bytes(text.encode("utf-8", "surrogatepass"))


def token_key(code: str) -> bytes:
    """Hash of the token stream without comments and blank lines, block structure kept."""
    parts = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            if token.type in _SKIPPED:
                continue
            parts.append(_MARKERS.get(token.type, token.string))
    except (tokenize.TokenError, SyntaxError) as exc:
        # The tokens before the error are sound (an unclosed bracket fails only at the end);
        # from the failing line on, the text itself, trailing blanks aside, is the key.
        line = exc.args[1][0] if isinstance(exc, tokenize.TokenError) else exc.lineno or 1
        rest = code.splitlines()[max(0, line - 1):]
        parts.append("\x02" + "\n".join(text.rstrip() for text in rest).rstrip())
    return _digest("\x00".join(parts))


def _without_lines(code: types.CodeType) -> types.CodeType:
    consts = tuple(_without_lines(c) if isinstance(c, types.CodeType) else c
                   for c in code.co_consts)
    return code.replace(co_consts=consts, co_linetable=b"", co_firstlineno=1,
                        co_filename="")


def program_key(code: str) -> bytes:
    """Hash of the compiled code without line numbers where the code compiles (`token_key`
    where it does not)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes in old code: still compiles
            compiled = compile(code, "<submission>", "exec", dont_inherit=True)
        return _digest_bytes(b"\x03" + marshal.dumps(_without_lines(compiled)))
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return token_key(code)


def duplicate_classes(codes: Sequence[str]) -> list[list[int]]:
    """Indices of equal programs (`program_key` within equal stripped text), each class in
    order, classes by their first member."""
    by_stripped: dict[bytes, list[int]] = {}
    for index, code in enumerate(codes):
        by_stripped.setdefault(_digest(stripped_code(code)), []).append(index)
    classes: list[list[int]] = []
    for members in by_stripped.values():
        if len(members) == 1:
            classes.append(members)
            continue
        by_tokens: dict[bytes, list[int]] = {}
        for index in members:
            by_tokens.setdefault(program_key(codes[index]), []).append(index)
        classes.extend(by_tokens.values())
    classes.sort(key=lambda c: c[0])
    return classes


def deduplicate(codes: Sequence[str], statuses: Sequence[str],
                interpreters: Sequence[str | None],
                rule: str = "prefer_cpython") -> tuple[list[int], Counter]:
    """Indices to keep (ascending) and counts of what was dropped.

    ``rule`` "prefer_cpython": one copy per program; where the same program was judged under
    CPython and PyPy the CPython verdict is kept, being the interpreter ocrl's own judge runs
    (a PyPy Accepted can be a CPython Time Limit Exceeded). "per_interpreter": one copy per
    program and interpreter. Otherwise the first copy is kept. Counts: ``dropped/near_duplicate``
    (copies dropped), ``dedup/verdict_disagreements`` (dropped copies whose verdict differs from
    the kept one's), ``dedup/cross_interpreter`` (dropped copies judged under another
    interpreter than the kept one).
    """
    if rule not in INTERPRETER_RULES:
        raise ValueError(f"interpreter rule must be one of {INTERPRETER_RULES}, got {rule!r}")
    counts: Counter = Counter()
    keep = []
    for members in duplicate_classes(codes):
        if rule == "per_interpreter":
            buckets: dict[str | None, list[int]] = {}
            for index in members:
                buckets.setdefault(interpreters[index], []).append(index)
            chosen = [bucket[0] for bucket in buckets.values()]
        else:
            chosen = [next((i for i in members if interpreters[i] == CPYTHON), members[0])]
        keep.extend(chosen)
        for index in members:
            if index in chosen:
                continue
            kept = next((c for c in chosen if interpreters[c] == interpreters[index]), chosen[0])
            counts["dropped/near_duplicate"] += 1
            counts["dedup/verdict_disagreements"] += statuses[index] != statuses[kept]
            counts["dedup/cross_interpreter"] += interpreters[index] != interpreters[kept]
    keep.sort()
    return keep, counts

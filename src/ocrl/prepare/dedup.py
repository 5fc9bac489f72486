"""Near-duplicate programs of one problem: the same tokens, comments and layout aside.

Two programs are duplicates when their token streams are equal after dropping comments and
blank lines: INDENT and DEDENT stay (so `print` inside a loop and after it differ), the width
of an indent does not, and string literals count verbatim. Tokenizing every sample costs about
15x the old whitespace-stripping key, so that cheap key runs first: equal tokens imply equal
stripped text, so only programs whose stripped text collides with another's are tokenized.
Code the tokenizer rejects is compared by its text with trailing blanks removed.
"""

from __future__ import annotations

import hashlib
import io
import re
import tokenize
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


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


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


def duplicate_classes(codes: Sequence[str]) -> list[list[int]]:
    """Indices grouped by token key, each class in order, classes by their first member."""
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
            by_tokens.setdefault(token_key(codes[index]), []).append(index)
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

"""CodeNet HTML problem statements -> clean prompt text, limits and sample stdin/stdout tests.

The 3,999 statements come from two judges and two decades of hand-written HTML: AtCoder pages
wrap each language in ``<span class="lang-en">`` / ``<span class="lang-ja">``; AIZU pages are
loose ``<h2>`` + ``<pre>`` sequences in English or Japanese, with a dozen spellings of
"Sample Input" ("Output for the Sample Input 2", "入力例１", "サンプル出力 3", "入出力例", ...).
The parser walks headings and ``<pre>`` blocks in document order: a sample-input heading claims
the next ``<pre>`` as an input, a sample-output heading the next one as an output, and a
combined heading ("Sample Input and Output", "入出力例") lets the following blocks alternate.
"""

from __future__ import annotations

import io
import re
import tarfile
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bs4 import BeautifulSoup, Comment, NavigableString, Tag

from ocrl.errors import InputError

PROBLEM_FILE = re.compile(r"(p\d{5})\.html?$")
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_BLOCKS = {"p", "div", "section", "center", "blockquote", "ul", "ol", "table", "dl", "form", "hr"}
_LABELS = {"pre", "p", "b", "strong"}
_PARAGRAPH_LABEL = re.compile(r"(?:(?:sample|example)\s*(?:input|output)\s*#?\s*\d*"
                              r"|(?:入力|出力)例\s*\d*|入力例\s*\d*\s*に対する出力の?例?)\s*[:：]?")
_BARE_AMPERSAND = re.compile(r"&(?![a-zA-Z][a-zA-Z0-9]*;|#[0-9]+;|#[xX][0-9a-fA-F]+;)")
_DROP = {"script", "style", "head", "title", "meta", "link", "noscript"}
_TIME_LIMIT = re.compile(r"time\s*limit\s*:\s*([\d.]+)\s*(ms|msec|sec|s|seconds?)\b", re.I)
_MEMORY_LIMIT = re.compile(r"memory\s*limit\s*:\s*([\d.]+)\s*(kb|mb|gb|kib|mib|gib)\b", re.I)


@dataclass
class Statement:
    problem_id: str
    prompt: str
    tests: list[dict[str, str]] = field(default_factory=list)
    title: str | None = None
    language: str = "en"
    time_limit_ms: int | None = None
    memory_limit_kb: int | None = None


def _heading_kind(text: str, in_samples: bool = False) -> str | None:
    """'in', 'out', 'both' for sample headings; None for every other heading.

    Inside a samples section ("Sample Input and Output", "入出力例") the sub-headings drop the
    word: "Input #1", "出力1".
    """
    t = unicodedata.normalize("NFKC", text).lower().strip().rstrip(":")
    if not ("sample" in t or "example" in t or "例" in t or "サンプル" in t):
        if in_samples and re.fullmatch(r"(input|output|入力|出力)\s*#?\s*\d+", t):
            return "in" if t.startswith(("input", "入力")) else "out"
        return None
    if any(word in t for word in ("code", "program", "explanation", "説明", "解説")):
        return None
    if "入出力" in t:
        return "both"
    if t.startswith("output") or t.startswith("sample output"):
        return "out"  # "Output for the Sample Input 2", "Sample Output 1 for Input 1"
    has_in = "input" in t or "入力" in t
    has_out = "output" in t or "出力" in t
    if has_in and has_out and re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", t):
        # Japanese puts the head noun last: "入力例 1 に対する出力例" is an output.
        return "out" if t.rfind("出力") > t.rfind("入力") else "in"
    if has_in and has_out:
        return "both"  # "Sample Input and Output", "Sample Input / Output 2"
    if has_out:
        return "out"
    if has_in:
        return "in"
    return "both"  # "Samples", "Example 1"


def _pre_text(tag: Tag) -> str:
    text = tag.get_text().replace("\r\n", "\n").replace("\r", "\n")
    # HTML drops one newline right after <pre>; authors often leave blank lines around samples.
    text = text.strip("\n")
    text = "\n".join(line.rstrip() for line in text.split("\n")).rstrip()
    return text + "\n" if text else ""


def _own_label(node: Tag) -> str:
    """A heading's own text: a heading left unclosed (``<h3>入力例２</3>``) swallows the blocks
    that follow it, and their text must not decide what the heading says."""
    parts = []
    for child in node.children:
        if isinstance(child, Tag) and (child.name in _HEADINGS or child.name in _BLOCKS
                                       or child.name == "pre"):
            break
        parts.append(child.get_text(" ") if isinstance(child, Tag) else str(child))
    return " ".join(" ".join(parts).split())


def _number(label: str) -> int | None:
    match = re.search(r"\d+", unicodedata.normalize("NFKC", label))
    return int(match.group()) if match else None


def _pair(inputs: list[tuple[int | None, str]],
          outputs: list[tuple[int | None, str]]) -> list[dict[str, str]]:
    """Numbered samples pair by number (a sample missing its output shifts nothing); others
    pair in order, whether interleaved or listed all-inputs-first."""
    numbered = all(n is not None for n, _ in inputs + outputs)
    if numbered and len({n for n, _ in inputs}) == len(inputs):
        answers: dict[int, str] = {}
        for number, text in outputs:
            answers.setdefault(number, text)
        pairs = [(text, answers[n]) for n, text in inputs if n in answers]
    else:
        pairs = [(i, o) for (_, i), (_, o) in zip(inputs, outputs)]
    return [{"input": i, "output": o} for i, o in pairs if i.strip()]


def _sample_tests(root: Tag) -> list[dict[str, str]]:
    inputs: list[tuple[int | None, str]] = []
    outputs: list[tuple[int | None, str]] = []
    expect: str | None = None
    number: int | None = None
    in_samples = False
    for node in root.find_all(lambda t: t.name in _HEADINGS or t.name in _LABELS):
        if node.name == "pre":
            if expect is None:
                continue
            text = _pre_text(node)
            if expect == "in":
                inputs.append((number, text))
                expect = None
            elif expect == "out":
                outputs.append((number, text))
                expect = None
            else:  # a combined section: blocks alternate input, output
                (inputs if len(inputs) == len(outputs) else outputs).append((None, text))
            continue
        if node.name in _HEADINGS:
            label = _own_label(node)
            # An unclosed heading can hold the whole page; only a short one is a label.
            expect = _heading_kind(label, in_samples) if len(label) <= 60 else None
            if expect is not None:
                in_samples = True
        else:
            # Some pages label samples with a paragraph ("入力例 1:") instead of a heading. Only
            # a paragraph that is nothing but such a label counts: prose mentioning "入力例"
            # ("入力例のデータにおいて...：") must not claim the next block.
            label = node.get_text(" ", strip=True)
            if node.find("pre") is not None or not _PARAGRAPH_LABEL.fullmatch(
                    unicodedata.normalize("NFKC", label).lower().strip()):
                continue
            expect = _heading_kind(label, in_samples)
        number = _number(label)
    return _pair(inputs, outputs)


def _render(node, out: list[str], pres: list[str]) -> None:
    for child in node.children:
        if isinstance(child, Comment):
            continue
        if isinstance(child, NavigableString):
            out.append(re.sub(r"\s+", " ", str(child)))
            continue
        if not isinstance(child, Tag) or child.name in _DROP:
            continue
        name = child.name
        if name in _HEADINGS:
            out.append("\n\n## " + child.get_text(" ", strip=True) + "\n\n")
        elif name == "pre":
            # A placeholder keeps the block's whitespace out of the layout clean-up.
            out.append(f"\n\n\x00{len(pres)}\x00\n\n")
            pres.append(_pre_text(child))
        elif name == "br":
            out.append("\n")
        elif name == "li":
            out.append("\n- ")
            _render(child, out, pres)
        elif name == "img":
            alt = child.get("alt")
            out.append(f"[image: {alt}]" if alt else "[image]")
        elif name == "sub":
            out.append("_")
            _render(child, out, pres)
        elif name == "sup":
            out.append("^")
            _render(child, out, pres)
        elif name in ("td", "th"):
            _render(child, out, pres)
            out.append(" | ")
        elif name == "tr":
            out.append("\n| ")
            _render(child, out, pres)
        elif name in _BLOCKS:
            out.append("\n\n")
            _render(child, out, pres)
            out.append("\n\n")
        else:
            _render(child, out, pres)


def _render_text(root: Tag) -> str:
    parts: list[str] = []
    pres: list[str] = []
    _render(root, parts, pres)
    text = "\n".join(line.strip(" \t") for line in "".join(parts).split("\n"))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    text = re.sub("\x00(\\d+)\x00", lambda m: "```\n" + pres[int(m.group(1))] + "```", text)
    return text + "\n"


def _limits(text: str) -> tuple[int | None, int | None]:
    time_ms = memory_kb = None
    if match := _TIME_LIMIT.search(text):
        amount, unit = float(match.group(1)), match.group(2).lower()
        time_ms = int(round(amount * (1 if unit.startswith("ms") else 1000)))
    if match := _MEMORY_LIMIT.search(text):
        scale = {"kb": 1, "kib": 1, "mb": 1024, "mib": 1024, "gb": 1024 ** 2, "gib": 1024 ** 2}
        memory_kb = int(round(float(match.group(1)) * scale[match.group(2).lower()]))
    return time_ms, memory_kb


def parse_statement(html: str, problem_id: str = "") -> Statement:
    """Parse one statement page; English is kept where the page holds both languages."""
    # A bare "&#" inside a sample grid ("#.#&#.#") makes html.parser swallow the rest of the page.
    soup = BeautifulSoup(_BARE_AMPERSAND.sub("&amp;", html), "html.parser")
    for dropped in soup.find_all(_DROP):
        dropped.decompose()
    root = soup.find("span", class_="lang-en")
    language = "en"
    if root is None:
        root = soup.find("span", class_="lang-ja") or soup
        text_probe = root.get_text()
        language = "ja" if re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", text_probe) else "en"
    title_tag = root.find(list(_HEADINGS))
    title = title_tag.get_text(" ", strip=True) if title_tag else None
    prompt = _render_text(root)
    time_ms, memory_kb = _limits(html)  # limits sometimes sit in an HTML comment
    return Statement(problem_id=problem_id, prompt=prompt, tests=_sample_tests(root), title=title,
                     language=language, time_limit_ms=time_ms, memory_limit_kb=memory_kb)


def decode_statement(data: bytes) -> str:
    """Statement HTML as text: UTF-8, else Shift-JIS (cp932, older AIZU pages)."""
    for encoding in ("utf-8", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("utf-8", errors="replace")


def statements_dir(path: str | Path) -> Path | None:
    """The problem_descriptions directory for a CodeNet root or the directory itself."""
    path = Path(path)
    if (path / "problem_descriptions").is_dir():
        return path / "problem_descriptions"
    if path.is_dir():
        return path
    return None


def iter_statement_files(path: str | Path) -> Iterator[tuple[str, bytes]]:
    """Yield (problem_id, html bytes) from a directory, a CodeNet root or a .tar(.gz) archive,
    in problem-id order for directories and archive order for tarballs (streamed, never
    unpacked to disk)."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file or directory", path=str(path))
    if path.is_file():
        try:
            archive = tarfile.open(path, "r:*")
        except tarfile.TarError as exc:
            raise InputError(f"not a directory or a tar archive of statements ({exc})",
                             path=str(path)) from None
        with archive:
            for member in archive:
                match = PROBLEM_FILE.search(member.name)
                if member.isfile() and match:
                    handle = archive.extractfile(member)
                    if handle is not None:
                        yield match.group(1), handle.read()
        return
    directory = statements_dir(path)
    for file in sorted(directory.iterdir()):
        match = PROBLEM_FILE.fullmatch(file.name)
        if match and file.is_file():
            yield match.group(1), file.read_bytes()


def read_statement(directory: Path, problem_id: str) -> Statement | None:
    file = directory / f"{problem_id}.html"
    if not file.is_file():
        return None
    return parse_statement(decode_statement(file.read_bytes()), problem_id)


def parse_statement_bytes(problem_id: str, data: bytes) -> Statement:
    return parse_statement(decode_statement(data), problem_id)


def read_problem_list(path: str | Path) -> dict[str, dict]:
    """metadata/problem_list.csv -> {id: row}; a missing file gives an empty mapping."""
    import csv

    path = Path(path)
    if not path.is_file():
        return {}
    rows: dict[str, dict] = {}
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        for row in csv.DictReader(io.StringIO(handle.read())):
            pid = (row.get("id") or "").strip()
            if pid:
                rows[pid] = row
    return rows

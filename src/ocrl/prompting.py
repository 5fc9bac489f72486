"""Prompt formats: how a problem becomes model input, and how model output becomes judged code.

Two formats, and training and evaluation must use the same one (it is recorded with the model):

* ``plain``: the model continues the problem prompt (a function signature + docstring, or a
  statement); the completion is cut at stop sequences. Right for base models.
* ``chat``: the problem is the user message of the model's chat template; the model answers
  with the code in one fenced ```python block. Right for instruct models, which answer in prose
  when given a bare prompt.

Problem ``style`` is "assert" (HumanEval-like: the judged program is prompt + completion + test)
or "stdio" (the completion is a whole program reading stdin).

When tokenizing a string from :func:`build_prompt`, pass ``add_special_tokens=False`` in chat
format (the template already holds the special tokens) and True in plain format; see
:func:`add_special_tokens`.
"""

from __future__ import annotations

import ast
import re
import textwrap

from ocrl.samples import truncate

PLAIN, CHAT = "plain", "chat"
FORMATS = (PLAIN, CHAT)
ASSERT, STDIO = "assert", "stdio"

# The stops of the Codex paper for function completion (a new top-level statement ends the
# body), plus a closing fence, which base models trained on Markdown often emit.
ASSERT_STOPS = ("\nclass", "\ndef", "\n#", "\nif", "\nprint", "\n```")
# A stdio completion is a whole program, so top-level statements are legitimate; only a
# closing fence or a long run of blank lines means the program is over.
STDIO_STOPS = ("\n```", "\n\n\n\n")

_ASSERT_INSTRUCTION = ("Complete the following Python function. Answer with the whole function "
                       "in one ```python code block.")
_STDIO_INSTRUCTION = ("Solve the following problem with a Python 3 program that reads from "
                      "standard input and writes to standard output. Answer with the whole "
                      "program in one ```python code block.")

_PYTHON_TAGS = {"python", "py", "python3", "py3"}
_FENCE_LINE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([\w.+#-]*)[^\n`]*$")


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown prompt format {fmt!r}; expected one of {FORMATS}")


def detect_format(tokenizer) -> str:
    """"chat" when the tokenizer carries a chat template (instruct models), else "plain"."""
    return CHAT if getattr(tokenizer, "chat_template", None) else PLAIN


def add_special_tokens(fmt: str) -> bool:
    """Whether to let the tokenizer add BOS etc. when encoding a prompt of this format."""
    _check_format(fmt)
    return fmt == PLAIN


def user_message(problem_prompt: str, style: str) -> str:
    """The user turn of a chat prompt: a one-line instruction, then the problem."""
    if style == STDIO:
        return f"{_STDIO_INSTRUCTION}\n\n{problem_prompt.strip()}"
    return f"{_ASSERT_INSTRUCTION}\n\n```python\n{problem_prompt.strip(chr(10))}\n```"


def build_prompt(tokenizer, problem_prompt: str, fmt: str, style: str) -> str:
    """The text the model is conditioned on (a chat prompt ends with the assistant header)."""
    _check_format(fmt)
    if fmt == PLAIN:
        return problem_prompt
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("chat format needs a tokenizer with a chat template; use the plain "
                         "format for this model")
    messages = [{"role": "user", "content": user_message(problem_prompt, style)}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def stop_sequences(fmt: str, style: str) -> tuple[str, ...]:
    """Strings that end a generation in this format (chat answers end at EOS or a closed block)."""
    _check_format(fmt)
    if fmt == CHAT:
        return ()
    return STDIO_STOPS if style == STDIO else ASSERT_STOPS


truncate_at_stops = truncate  # the same cut as for logged samples


# --- fenced code blocks -----------------------------------------------------------------

def _code_blocks(text: str) -> list[tuple[str, str, bool]]:
    """Fenced blocks in order, as (language tag, code, closed). An unterminated block (the
    generation ran out of tokens) runs to the end of the text."""
    blocks = []
    lines = text.split("\n")
    index = 0
    while index < len(lines):
        match = _FENCE_LINE.match(lines[index])
        if not match:
            index += 1
            continue
        fence, tag = match.group(1), match.group(2).lower()
        body: list[str] = []
        index += 1
        closed = False
        while index < len(lines):
            stripped = lines[index].strip()
            if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
                closed = True
                index += 1
                break
            body.append(lines[index])
            index += 1
        blocks.append((tag, "\n".join(body), closed))
    return blocks


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _pick_block(blocks: list[tuple[str, str, bool]]) -> tuple[str, str, bool] | None:
    """The first python-tagged block; else the first untagged one; else the first that parses."""
    for block in blocks:
        if block[0] in _PYTHON_TAGS:
            return block
    for block in blocks:
        if block[0] == "":
            return block
    for block in blocks:
        if _parses(block[1]):
            return block
    return None


_CODE_START = re.compile(r"^(?:def |class |import |from \S+ import |@|async def )")


def _code_without_fence(text: str) -> str:
    """Code in an answer without any fence: all of it if it parses; else the longest stretch
    that parses, starting at the first line that looks like code."""
    if _parses(text) and text.strip():
        return text
    lines = text.split("\n")
    starts = [i for i, line in enumerate(lines) if _CODE_START.match(line)]
    if not starts:
        return text
    start = starts[0]
    for end in range(len(lines), start, -1):
        candidate = "\n".join(lines[start:end])
        if _parses(candidate):
            return candidate
    return "\n".join(lines[start:])


def extract_fenced_code(answer: str) -> str:
    """The code of a chat answer: the chosen fenced block, or the code-looking part without one."""
    block = _pick_block(_code_blocks(answer))
    if block is not None:
        return block[1]
    return _code_without_fence(answer)


def has_closed_code_block(answer: str) -> bool:
    """True once the block :func:`extract_fenced_code` would pick is complete, so generation
    can stop there instead of running on into explanations."""
    block = _pick_block(_code_blocks(answer))
    return block is not None and block[2] and block[0] in _PYTHON_TAGS | {""}


def should_stop(generated: str, fmt: str, style: str) -> bool:
    """Whether a generation in progress is finished (besides EOS)."""
    if fmt == CHAT:
        return has_closed_code_block(generated)
    return any(stop in generated for stop in stop_sequences(fmt, style))


# --- HumanEval-style bodies and whole functions -----------------------------------------

def _first_code_line(code: str) -> str | None:
    for line in code.split("\n"):
        if line.strip():
            return line
    return None


def is_body_only(completion: str) -> bool:
    """A HumanEval-style completion: an indented function body, no signature."""
    first = _first_code_line(completion)
    return first is not None and first[0] in " \t"


def target_function(problem_prompt: str) -> str | None:
    """Name of the function a HumanEval-style prompt asks for (its last top-level def)."""
    names = re.findall(r"^(?:async\s+)?def\s+(\w+)\s*\(", problem_prompt, flags=re.MULTILINE)
    return names[-1] if names else None


def whole_function(problem_prompt: str, completion: str) -> str:
    """Signature and docstring from the prompt, then the body (and anything after it)."""
    return problem_prompt.rstrip("\n") + "\n" + completion.strip("\n")


def _drop_main_guard(code: str) -> str:
    """Remove top-level ``if __name__ == "__main__":`` blocks: assert-style judging runs the code
    as a script, where a demo block that reads input() would fail a correct function."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return code
    lines = code.split("\n")
    drop: list[tuple[int, int]] = []
    for node in tree.body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare) and \
                isinstance(node.test.left, ast.Name) and node.test.left.id == "__name__":
            drop.append((node.lineno - 1, node.end_lineno))
    for start, end in reversed(drop):
        del lines[start:end]
    return "\n".join(lines)


def build_target(problem_prompt: str, completion: str, fmt: str, style: str) -> str:
    """The text a model should produce after :func:`build_prompt` for a known completion.

    Plain: the completion itself. Chat: the code as one fenced python block; a body-only
    completion (HumanEval logs) becomes the whole function first. The caller appends EOS."""
    _check_format(fmt)
    if fmt == PLAIN:
        return completion
    code = extract_fenced_code(completion) if "```" in completion else completion
    if style == ASSERT and is_body_only(code):
        code = whole_function(problem_prompt, code)
    return f"```python\n{code.strip(chr(10))}\n```"


def extract_code(generated: str, problem_prompt: str, fmt: str, style: str) -> str:
    """The completion the sandbox judges, from the model's generated text (prompt excluded).

    Plain: the text cut at the stop sequences. Chat: the code of the answer (first python
    block, an unterminated block up to the end, or the code part of an unfenced answer). For
    assert-style problems the judged program is prompt + completion + test, so whole functions
    are returned after a newline (redefining the function is fine), bodies stay indented, and
    a bare body written at column 0 is indented under the prompt's signature."""
    _check_format(fmt)
    if fmt == PLAIN:
        return truncate_at_stops(generated, stop_sequences(fmt, style))
    code = extract_fenced_code(generated).strip("\n")
    if style != ASSERT:
        return code + "\n" if code else code
    if not code.strip() or is_body_only(code):
        return code + "\n" if code else code
    name = target_function(problem_prompt)
    defines_target = name is not None and re.search(
        rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, flags=re.MULTILINE)
    if name is not None and not defines_target and not _compiles(code):
        # e.g. "return sorted(x)" on its own: a body the model forgot to indent.
        return textwrap.indent(code, "    ") + "\n"
    return "\n" + _drop_main_guard(code).strip("\n") + "\n"


def _compiles(code: str) -> bool:
    try:
        compile(code, "<completion>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True

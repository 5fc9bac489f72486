from __future__ import annotations

import pytest

from ocrl import prompting as P

HE_PROMPT = (
    "from typing import List\n\n\n"
    "def add(xs: List[int], y: int) -> List[int]:\n"
    '    """Add y to every element.\n    >>> add([1], 2)\n    [3]\n    """\n'
)
BODY = "    return [x + y for x in xs]\n"


class FakeChatTokenizer:
    """Applies a ChatML-like template without needing any tokenizer files."""

    chat_template = "chatml"

    def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
        assert tokenize is False
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")


class FakePlainTokenizer:
    chat_template = None


def run_judged_program(prompt, completion, entry_point="add"):
    """What the sandbox runs for an assert-style problem (here in-process: the code is ours)."""
    namespace: dict = {}
    exec(prompt + completion, namespace)  # noqa: S102 - trusted test strings only
    return namespace[entry_point]


# --- formats and prompts ------------------------------------------------------------------

def test_detect_format():
    assert P.detect_format(FakeChatTokenizer()) == "chat"
    assert P.detect_format(FakePlainTokenizer()) == "plain"


def test_plain_prompt_is_the_problem_prompt():
    assert P.build_prompt(FakePlainTokenizer(), HE_PROMPT, "plain", "assert") == HE_PROMPT
    assert P.add_special_tokens("plain") is True
    assert P.add_special_tokens("chat") is False


def test_chat_prompt_puts_the_problem_in_the_user_turn():
    text = P.build_prompt(FakeChatTokenizer(), HE_PROMPT, "chat", "assert")
    assert text.startswith("<|im_start|>user\n")
    assert text.endswith("<|im_end|>\n<|im_start|>assistant\n")
    assert HE_PROMPT.strip() in text
    stdio = P.build_prompt(FakeChatTokenizer(), "Read N and print N+1.", "chat", "stdio")
    assert "Read N and print N+1." in stdio and "standard input" in stdio


def test_chat_needs_a_template_and_formats_are_checked():
    with pytest.raises(ValueError, match="chat template"):
        P.build_prompt(FakePlainTokenizer(), HE_PROMPT, "chat", "assert")
    with pytest.raises(ValueError, match="unknown prompt format"):
        P.build_prompt(FakePlainTokenizer(), HE_PROMPT, "markdown", "assert")


def test_chat_prompt_with_a_real_template():
    from transformers import PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models

    tokenizer = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(
        {"[UNK]": 0}, unk_token="[UNK]")))
    tokenizer.chat_template = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}"
                               "{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}")
    assert P.detect_format(tokenizer) == "chat"
    text = P.build_prompt(tokenizer, "def f():\n", "chat", "assert")
    assert text.startswith("<user>") and text.endswith("<assistant>")


# --- targets --------------------------------------------------------------------------------

def test_plain_target_is_the_completion():
    assert P.build_target(HE_PROMPT, BODY, "plain", "assert") == BODY


def test_chat_target_turns_a_body_into_the_whole_function():
    target = P.build_target(HE_PROMPT, BODY, "chat", "assert")
    assert target.startswith("```python\nfrom typing import List\n")
    assert target.endswith("    return [x + y for x in xs]\n```")
    assert target.count("```") == 2
    code = P.extract_fenced_code(target)
    assert run_judged_program("", code)([1, 2], 3) == [4, 5]


def test_chat_target_keeps_whole_programs_and_refences_fenced_answers():
    program = "n = int(input())\nprint(n + 1)\n"
    assert P.build_target("Read n.", program, "chat", "stdio") == \
        "```python\nn = int(input())\nprint(n + 1)\n```"
    answer = "Sure!\n```py\nprint(1)\n```\nThis prints one."
    assert P.build_target("p", answer, "chat", "stdio") == "```python\nprint(1)\n```"


def test_target_round_trips_through_extraction():
    for completion in (BODY, "def add(xs, y):\n    return [x + y for x in xs]\n"):
        target = P.build_target(HE_PROMPT, completion, "chat", "assert")
        extracted = P.extract_code(target, HE_PROMPT, "chat", "assert")
        assert run_judged_program(HE_PROMPT, extracted)([1], 1) == [2]


# --- stop sequences ---------------------------------------------------------------------------

def test_truncate_at_the_earliest_stop():
    text = "    return 1\n\nprint(add([1], 2))\ndef other():\n"
    assert P.truncate_at_stops(text, P.ASSERT_STOPS) == "    return 1\n"
    assert P.truncate_at_stops("no stop here", P.ASSERT_STOPS) == "no stop here"
    assert P.truncate_at_stops("abc", ()) == "abc"


def test_indented_statements_do_not_stop_a_function_body():
    body = "    # comment\n    if x:\n        print(x)\n    def inner():\n        pass\n"
    assert P.truncate_at_stops(body, P.ASSERT_STOPS) == body


def test_plain_extraction_cuts_at_stops_per_style():
    generated = BODY + "\n\ndef test():\n    assert add([1], 1) == [2]\n"
    assert P.extract_code(generated, HE_PROMPT, "plain", "assert") == BODY + "\n"
    program = "import sys\nprint(sys.stdin.read())\nif True:\n    pass\n```\nExplanation"
    # Top-level statements are fine in a whole program; the closing fence ends it.
    assert P.extract_code(program, "", "plain", "stdio") == \
        "import sys\nprint(sys.stdin.read())\nif True:\n    pass"


def test_should_stop():
    assert P.should_stop("    return 1\ndef g", "plain", "assert")
    assert not P.should_stop("    return 1\n    x", "plain", "assert")
    assert not P.should_stop("Here:\n```python\ndef f():\n    return 1\n", "chat", "assert")
    assert P.should_stop("Here:\n```python\ndef f():\n    return 1\n```", "chat", "assert")
    # A closed shell block is not the code we want: keep generating.
    assert not P.should_stop("Run:\n```bash\npip install x\n```\n", "chat", "assert")
    assert P.stop_sequences("chat", "assert") == ()


# --- chat extraction ------------------------------------------------------------------------

def test_first_python_block_wins():
    answer = ("Install it:\n```bash\npip install numpy\n```\nThen:\n```python\n"
              "def add(xs, y):\n    return [x + y for x in xs]\n```\nOr:\n```python\nprint(2)\n```")
    code = P.extract_code(answer, HE_PROMPT, "chat", "assert")
    assert "pip" not in code and "print(2)" not in code
    assert run_judged_program(HE_PROMPT, code)([1], 1) == [2]


def test_python_tag_variants_and_untagged_blocks():
    assert P.extract_fenced_code("```Python3\nx = 1\n```") == "x = 1"
    assert P.extract_fenced_code("```py\nx = 2\n```") == "x = 2"
    assert P.extract_fenced_code("text\n```\nx = 3\n```\nmore") == "x = 3"
    assert P.extract_fenced_code("```text\nhello world\n```\n```\nx = 4\n```") == "x = 4"
    assert P.extract_fenced_code("~~~python\nx = 5\n~~~") == "x = 5"


def test_unterminated_fence_runs_to_the_end():
    answer = "Sure:\n```python\ndef add(xs, y):\n    return [x + y for x in xs]\n"
    code = P.extract_code(answer, HE_PROMPT, "chat", "assert")
    assert run_judged_program(HE_PROMPT, code)([2], 2) == [4]


def test_inner_backticks_do_not_close_the_block():
    answer = '```python\ndef f():\n    return "``` not a fence"\n```'
    assert P.extract_fenced_code(answer) == 'def f():\n    return "``` not a fence"'


def test_no_fence_whole_code_or_code_after_prose():
    whole = "def add(xs, y):\n    return [x + y for x in xs]\n"
    assert P.extract_fenced_code(whole) == whole
    prose = ("Here is the function you asked for.\n"
             "def add(xs, y):\n    return [x + y for x in xs]\n"
             "This adds y to each element.")
    assert P.extract_fenced_code(prose) == "def add(xs, y):\n    return [x + y for x in xs]"
    assert P.extract_fenced_code("I cannot help with that.") == "I cannot help with that."


def test_chat_whole_function_is_returned_after_a_newline():
    answer = "```python\ndef add(xs, y):\n    return [x + y for x in xs]\n```"
    code = P.extract_code(answer, HE_PROMPT.rstrip("\n"), "chat", "assert")
    assert code.startswith("\ndef add")
    # Even a prompt without a trailing newline gives a valid program.
    assert run_judged_program(HE_PROMPT.rstrip("\n"), code)([0], 5) == [5]


def test_chat_body_only_answers_stay_bodies():
    answer = "```python\n    return [x + y for x in xs]\n```"
    code = P.extract_code(answer, HE_PROMPT, "chat", "assert")
    assert run_judged_program(HE_PROMPT, code)([1], 1) == [2]


def test_chat_unindented_bare_body_is_indented():
    answer = "```python\nresult = [x + y for x in xs]\nreturn result\n```"
    code = P.extract_code(answer, HE_PROMPT, "chat", "assert")
    assert code == "    result = [x + y for x in xs]\n    return result\n"
    assert run_judged_program(HE_PROMPT, code)([1], 1) == [2]


def test_chat_main_guard_is_dropped_for_assert_problems():
    answer = ("```python\ndef add(xs, y):\n    return [x + y for x in xs]\n\n"
              "if __name__ == '__main__':\n    print(add(eval(input()), 1))\n```")
    code = P.extract_code(answer, HE_PROMPT, "chat", "assert")
    assert "__main__" not in code and "input()" not in code
    assert run_judged_program(HE_PROMPT, code)([1], 1) == [2]


def test_chat_stdio_program_is_kept_whole():
    answer = ("```python\nimport sys\n\ndef main():\n    print(int(input()) + 1)\n\n"
              "if __name__ == '__main__':\n    main()\n```\nExplanation follows.")
    code = P.extract_code(answer, "Read n, print n+1.", "chat", "stdio")
    assert code == ("import sys\n\ndef main():\n    print(int(input()) + 1)\n\n"
                    "if __name__ == '__main__':\n    main()\n")


def test_helpers():
    assert P.target_function(HE_PROMPT) == "add"
    assert P.target_function("def helper():\n    pass\n\ndef main_one(x):\n") == "main_one"
    assert P.target_function("Read n.") is None
    assert P.is_body_only(BODY) and not P.is_body_only("def f(): pass")
    assert not P.is_body_only("\n\n")
    assert P.whole_function(HE_PROMPT, BODY) == HE_PROMPT + BODY.rstrip("\n")

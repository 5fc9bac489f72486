import gzip
import json

import pytest

from ocrl.errors import InputError
from ocrl.problems import Problem, StdioTest, load_problems
from ocrl.samples import CODET_STOPS, read_samples, truncate

PROBLEMS = {
    "t/0": Problem(task_id="t/0", prompt="def f(x):\n    \"\"\"doc\"\"\"\n", style="assert",
                   entry_point="f", test="def check(c):\n    assert c(1) == 1\n"),
    "s/0": Problem(task_id="s/0", prompt="echo", style="stdio", tests=[StdioTest("1", "1")]),
}


def test_truncate_cuts_at_the_earliest_stop():
    raw = "    return x\n\n\ndef g():\n    pass\n\nprint(f(1))\n"
    assert truncate(raw, CODET_STOPS) == "    return x\n\n"
    assert truncate("    return x\n# trailing comment\n", CODET_STOPS) == "    return x"
    assert truncate("    if x:\n        return 1\n", CODET_STOPS) == "    if x:\n        return 1\n"
    assert truncate("no stop here", CODET_STOPS) == "no stop here"
    assert truncate("abc", ()) == "abc"


def _write(path, rows, gz=False):
    opener = gzip.open if gz else open
    with opener(path, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    return path


def test_logged_rows_match_by_prompt_and_cut(tmp_path):
    path = _write(tmp_path / "s.jsonl.gz", [
        {"prompt": PROBLEMS["t/0"].prompt, "samples": ["    return x\ndef extra(): pass\n",
                                                       "    return 2\n"]}], gz=True)
    samples = list(read_samples(path, PROBLEMS))
    assert [(s.row_id, s.task_id, s.sample_index) for s in samples] == [(0, "t/0", 0),
                                                                         (1, "t/0", 1)]
    assert samples[0].completion == "    return x"
    assert samples[0].raw_completion.endswith("def extra(): pass\n")


def test_flat_rows_carry_extra_fields_and_stdio_is_not_cut(tmp_path):
    program = "def main():\n    print(1)\nmain()\n"
    path = _write(tmp_path / "s.jsonl", [{"task_id": "s/0", "completion": program,
                                          "model": "m1", "temperature": 0.8}])
    (sample,) = read_samples(path, PROBLEMS)
    assert sample.completion == program
    assert sample.extra == {"model": "m1", "temperature": 0.8}


def test_extracted_rows_are_not_cut_again(tmp_path):
    """Rows of `ocrl sample` hold code already extracted from an answer (a whole function with
    its imports): the raw-sample stops would cut it to its first line."""
    code = "import math\n\ndef f(x):\n    return math.floor(x)\n"
    path = _write(tmp_path / "s.jsonl", [{"task_id": "t/0", "completion": code,
                                          "extracted": True},
                                         {"task_id": "t/0", "completion": code}])
    kept, cut = read_samples(path, PROBLEMS)
    assert kept.completion == code
    assert cut.completion == "import math\n"  # a raw sample: cut at "\ndef"


@pytest.mark.parametrize("rows, line, field", [
    (['{"task_id": "t/0", "completion": "x"}', "{not json"], 2, None),
    ([{"task_id": "nope", "completion": "x"}], 1, "task_id"),
    ([{"task_id": "t/0"}], 1, "completion"),
    ([{"task_id": "t/0", "completion": 3}], 1, "completion"),
    ([{"prompt": "unknown prompt", "samples": ["x"]}], 1, "prompt"),
    ([{"task_id": "t/0", "samples": ["x", 5]}], 1, "samples[1]"),
    ([{"completion": "x"}], 1, "task_id"),
])
def test_bad_rows_name_file_line_and_field(tmp_path, rows, line, field):
    path = _write(tmp_path / "bad.jsonl", rows)
    with pytest.raises(InputError) as info:
        list(read_samples(path, PROBLEMS))
    assert info.value.path == str(path) and info.value.line == line
    assert info.value.field == field
    assert str(path) in str(info.value) and f"line {line}" in str(info.value)


def test_problem_file_errors(tmp_path):
    path = _write(tmp_path / "p.jsonl", [{"task_id": "a", "prompt": "x", "entry_point": "f"}])
    with pytest.raises(InputError, match="line 1, field 'test': missing required field"):
        load_problems(path)
    path = _write(tmp_path / "q.jsonl", [{"task_id": "a", "prompt": "x", "tests": [{"input": 1}]}])
    with pytest.raises(InputError, match=r"tests\[0\]"):
        load_problems(path)
    with pytest.raises(InputError, match="file not found"):
        load_problems(tmp_path / "missing.jsonl")

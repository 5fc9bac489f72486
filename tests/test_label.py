"""`ocrl label`: the command, its output, resuming after a kill, and located input errors."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from ocrl.cli import app
from ocrl.label import LabelConfig, label

EXAMPLES = Path(__file__).resolve().parent.parent / "src" / "ocrl" / "examples"
runner = CliRunner()


def test_builtin_example_gives_every_expected_verdict(tmp_path):
    out = tmp_path / "labels.parquet"
    result = runner.invoke(app, ["label", "--out", str(out), "--timeout", "1"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(out).to_pylist()
    statuses = {(r["task_id"], r["completion"].strip().splitlines()[-1].strip()): r["status"]
                for r in table}
    assert statuses[("example/add", "return a + b")] == "Accepted"
    assert statuses[("example/add", "return a - b")] == "Wrong Answer"
    assert statuses[("example/add", "return a +")] == "Compile Error"
    assert statuses[("example/add", "pass")] == "Time Limit Exceeded"
    assert statuses[("example/is_palindrome", "sys.exit(0)")] == "Wrong Answer"
    assert statuses[("example/sum_stdin", "print(a + b)")] == "Accepted"
    assert statuses[("example/sum_stdin", "print(undefined_name)")] == "Runtime Error"
    required = {"task_id", "completion", "status", "passed", "cpu_time_ms", "memory_kb",
                "sandbox", "judged_by", "tests_passed", "tests_total", "stderr_tail", "source"}
    assert required <= set(table[0])
    assert [r["row_id"] for r in table] == list(range(10))
    assert "Accepted" in result.output and "Wrong Answer" in result.output  # summary table
    assert not (tmp_path / "labels.parquet.parts").exists()


def test_bad_input_exits_with_located_message(tmp_path):
    samples = tmp_path / "s.jsonl"
    samples.write_text('{"task_id": "example/add", "completion": "    return a + b\\n"}\n'
                       '{"task_id": "example/nope", "completion": "x"}\n')
    result = runner.invoke(app, ["label", "--samples", str(samples), "--out",
                                 str(tmp_path / "o.parquet")])
    assert result.exit_code == 2
    assert f"{samples}, line 2, field 'task_id'" in result.output
    assert not (tmp_path / "o.parquet").exists()


def _slow_samples(path: Path, n: int) -> None:
    with open(path, "w") as handle:
        for i in range(n):
            body = f"    import time\n    time.sleep(0.15)\n    return a + b + {i % 2}\n"
            handle.write(json.dumps({"task_id": "example/add", "completion": body}) + "\n")


def test_killed_run_resumes_without_losing_or_repeating(tmp_path):
    samples, out = tmp_path / "slow.jsonl", tmp_path / "labels.parquet"
    _slow_samples(samples, 24)
    script = (f"from ocrl.label import LabelConfig, label\n"
              f"label(LabelConfig(problems={str(EXAMPLES / 'problems.jsonl')!r}, "
              f"samples={str(samples)!r}, out={str(out)!r}, workers=1, part_rows=2), "
              f"progress=False)\n")
    child = subprocess.Popen([sys.executable, "-c", script])
    parts = Path(str(out) + ".parts")
    deadline = time.time() + 60
    while time.time() < deadline and len(list(parts.glob("part-*.parquet"))) < 3:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    kept = sum(pq.read_table(p).num_rows for p in parts.glob("part-*.parquet"))
    assert 6 <= kept < 24 and not out.exists()

    judged = []
    from ocrl.sandbox import judge as judge_module

    original = judge_module.Judge.judge

    def spy(self, problem, completion):
        judged.append(completion)
        return original(self, problem, completion)

    judge_module.Judge.judge = spy
    try:
        table = label(LabelConfig(problems=str(EXAMPLES / "problems.jsonl"),
                                  samples=str(samples), out=str(out), workers=2), progress=False)
    finally:
        judge_module.Judge.judge = original
    assert len(judged) == 24 - kept  # only what was missing
    rows = table.to_pylist()
    assert [r["row_id"] for r in rows] == list(range(24))
    assert [r["status"] for r in rows] == ["Accepted", "Wrong Answer"] * 12


def test_resume_refuses_parts_from_other_inputs(tmp_path):
    samples, out = tmp_path / "s.jsonl", tmp_path / "labels.parquet"
    _slow_samples(samples, 2)
    parts = Path(str(out) + ".parts")
    parts.mkdir()
    (parts / "meta.json").write_text(json.dumps({"fingerprint": "something-else"}))
    with pytest.raises(Exception, match="other inputs or settings"):
        label(LabelConfig(problems=str(EXAMPLES / "problems.jsonl"), samples=str(samples),
                          out=str(out)), progress=False)

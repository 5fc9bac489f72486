"""`ocrl quickstart` end to end with a tiny random model (the real default runs from the README)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_lm import save_tiny_model  # noqa: E402

from ocrl.cli import app  # noqa: E402
from ocrl.evaluation.problem_sources import humaneval_problems  # noqa: E402
from ocrl.quickstart import split_halves  # noqa: E402


def test_split_halves_is_seeded_disjoint_and_complete():
    problems = humaneval_problems()
    train, held_out = split_halves(problems, seed=0)
    assert len(train) == len(held_out) == 82
    assert not {p.task_id for p in train} & {p.task_id for p in held_out}
    again, _ = split_halves(list(reversed(problems)), seed=0)
    assert [p.task_id for p in again] == [p.task_id for p in train]  # input order is irrelevant
    other, _ = split_halves(problems, seed=1)
    assert [p.task_id for p in other] != [p.task_id for p in train]


def test_quickstart_runs_every_stage_and_resumes(tmp_path):
    model = save_tiny_model(tmp_path / "tiny-chat", seed=3, chat=True)
    out = tmp_path / "qs"
    args = ["quickstart", "--out", str(out), "--model", str(model), "--train-problems", "3",
            "--eval-problems", "2", "--samples-per-problem", "2", "--max-new-tokens", "8",
            "--max-steps", "1", "--timeout", "2", "--collection-dtype", "bfloat16"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "quickstart_summary.json").read_text())
    assert [run["name"] for run in summary["runs"]] == ["base", "sft", "offline_rl"]
    for name in ("base", "sft", "offline_rl"):
        metrics = json.loads((out / "eval" / name / "metrics.json").read_text())
        assert metrics["problems"] == 2 and metrics["samples"] == 2
        assert 0.0 <= metrics["pass@1"] <= 1.0
    for method in ("offline_rl", "sft"):
        trained = json.loads((out / "train" / method / "train_summary.json").read_text())
        assert trained["global_step"] == 1 and trained["method"] == method
    manifest = json.loads((out / "data" / "manifest.json").read_text())
    assert manifest["counts"]["groups"] >= 1  # canonical (accepted) vs the tiny model's noise
    assert (out / "report" / "report.md").read_text().startswith("# ocrl report")
    # training data sampled in bf16 (asked for here), every evaluation in the stored float32
    base_train = json.loads((out / "base_samples_train" / "metrics.json").read_text())
    assert base_train["model"]["dtype"] == "bfloat16"
    assert {json.loads((out / "eval" / n / "metrics.json").read_text())["model"]["dtype"]
            for n in ("base", "sft", "offline_rl")} == {"float32"}
    assert (out / "report" / "pass1_by_difficulty.png").stat().st_size > 1000
    # A second run finds every stage done and redoes none of the work.
    stamp = (out / "train" / "sft" / "train_summary.json").stat().st_mtime
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert (out / "train" / "sft" / "train_summary.json").stat().st_mtime == stamp


def test_collection_dtype_is_bf16_only_where_the_cpu_multiplies_it():
    from ocrl.quickstart import collection_dtype

    assert collection_dtype("auto", {"avx2", "avx512_bf16"}, has_gpu=False) == "bfloat16"
    assert collection_dtype("auto", {"amx_bf16"}, has_gpu=False) == "bfloat16"
    assert collection_dtype("auto", {"avx2", "avx512f"}, has_gpu=False) == "auto"
    assert collection_dtype("auto", {"avx512_bf16"}, has_gpu=True) == "auto"
    assert collection_dtype("float32", {"avx512_bf16"}, has_gpu=False) == "float32"


def test_answer_token_cap_fits_the_whole_function_the_chat_format_asks_for():
    from tiny_lm import make_tokenizer

    from ocrl.problems import Problem
    from ocrl.quickstart import answer_token_cap

    tokenizer = make_tokenizer(chat=True)  # one token per character
    short = Problem("a", "def f():\n", "assert", canonical_solution="    return 1\n")
    long = Problem("b", 'def g():\n    """Doc."""\n', "assert",
                   canonical_solution="    return 22\n")
    # "```python\n" (10) + 'def g():\n' (9) + '    """Doc."""\n' (15) + '    return 22' (13)
    # + "\n```" (4) + EOS (1)
    assert answer_token_cap([short, long], tokenizer, "chat", multiple=1) == 52
    assert answer_token_cap([short, long], tokenizer, "chat") == 64  # rounded up to 32s
    # plain: the body alone, "    return 22\n" (14) + EOS
    assert answer_token_cap([long], tokenizer, "plain", multiple=1) == 15

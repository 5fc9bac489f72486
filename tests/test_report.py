from __future__ import annotations

import json
from pathlib import Path

import pytest

from ocrl.errors import InputError
from ocrl.evaluation.metrics import compute_metrics
from ocrl.report import build_report, paired_bootstrap
from ocrl.report_plots import read_training_scalars


def test_bootstrap_of_identical_runs_is_zero():
    scores = {"a": 0.2, "b": 1.0, "c": 0.0}
    assert paired_bootstrap(scores, dict(scores)) == (0.0, 0.0, 0.0, 3)


def test_bootstrap_of_a_constant_shift_is_exact():
    base = {"a": 0.0, "b": 0.5, "c": 0.25}
    other = {k: v + 0.25 for k, v in base.items()}
    diff, low, high, shared = paired_bootstrap(base, other)
    assert (diff, low, high, shared) == pytest.approx((0.25, 0.25, 0.25, 3))


def test_bootstrap_interval_hand_computed():
    # Differences [1, 0, 0, 0]: a resampled mean is k/4 with k ~ Binomial(4, 1/4).
    # P(k=0) = 0.316 > 2.5%  -> low = 0;  P(k>=3) = 0.0508 > 2.5% but P(k=4) = 0.0039 < 2.5%
    # -> high = 0.75.
    base = {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0}
    other = {"a": 1.0, "b": 0.0, "c": 0.0, "d": 0.0}
    diff, low, high, _ = paired_bootstrap(base, other, resamples=20_000, seed=1)
    assert diff == pytest.approx(0.25)
    assert low == pytest.approx(0.0) and high == pytest.approx(0.75)
    # Two problems, differences [1, 0]: means 0, 0.5, 1 with 1/4, 1/2, 1/4 -> [0, 1].
    assert paired_bootstrap({"a": 0, "b": 0}, {"a": 1, "b": 0}, seed=2)[1:3] == (0.0, 1.0)


def test_bootstrap_is_paired_and_uses_shared_problems_only():
    # Problem difficulty varies a lot but the gain is constant: pairing gives a zero-width
    # interval where an unpaired comparison would not.
    base = {"a": 0.0, "b": 0.9, "c": 0.1, "extra": 1.0}
    other = {"a": 0.1, "b": 1.0, "c": 0.2}
    diff, low, high, shared = paired_bootstrap(base, other)
    assert shared == 3
    assert (diff, low, high) == pytest.approx((0.1, 0.1, 0.1))
    with pytest.raises(ValueError):
        paired_bootstrap({"a": 1.0}, {"b": 1.0})


def test_bootstrap_is_reproducible_with_a_seed():
    base = {str(i): (i % 3) / 2 for i in range(30)}
    other = {str(i): ((i + 1) % 3) / 2 for i in range(30)}
    assert paired_bootstrap(base, other, seed=5) == paired_bootstrap(base, other, seed=5)
    _, low, high, _ = paired_bootstrap(base, other, seed=5)
    assert low < high


def write_run(directory: Path, model: str, passing: dict[str, int], n: int = 4) -> Path:
    """A finished eval directory whose metrics come from compute_metrics on fake samples."""
    samples = []
    for index, (task, correct) in enumerate(passing.items()):
        for j in range(n):
            samples.append({"task_id": task, "completion": f"def f():\n    return {j * index}\n",
                            "status": "Accepted" if j < correct else "Wrong Answer",
                            "difficulty": "easy" if index % 2 else "hard",
                            "cpu_time_ms": 12.0, "n_tokens": 40 + 100 * (j == 0),
                            "finish": "length" if j == 0 else "stop"})
    metrics = compute_metrics(samples)
    metrics.update(model={"name": model, "prompt_format": "chat"}, seed=0)
    directory.mkdir(parents=True)
    (directory / "metrics.json").write_text(json.dumps(metrics))
    return directory


def write_training_logs(directory: Path) -> Path:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(directory / "runs" / "exp"))
    for step in range(1, 6):
        writer.add_scalar("train/loss", 1.0 / step, step)
        writer.add_scalar("train/reward/mean", 0.1 * step, step)
        writer.add_scalar("train/kl", 0.01 * step, step)
    writer.close()
    return directory


def test_build_report_writes_tables_and_readable_plots(tmp_path):
    tasks = [f"t{i}" for i in range(6)]
    base = write_run(tmp_path / "base", "smollm2-135m", dict.fromkeys(tasks, 1))
    tuned = write_run(tmp_path / "offline_rl", "out/rl", {t: 2 for t in tasks})
    train = write_training_logs(tmp_path / "train")
    summary = build_report([base, tuned], tmp_path / "report", train_dirs=[train])

    report = (tmp_path / "report" / "report.md").read_text()
    assert "| base | smollm2-135m | chat | 6 | 4 | 0.250 | (baseline) |" in report
    # Every problem gains exactly 0.25, so the interval collapses onto it.
    assert "| offline_rl | out/rl | chat | 6 | 4 | 0.500 | +0.250 [+0.250, +0.250] |" in report
    assert "easy (3)" in report and "hard (3)" in report
    # answer 0 of each problem ran to the cap (140 tokens; it is the Accepted one): the mean
    # is (140 + 3 * 40) / 4
    assert "| base | 65.0 | 25.0% (6 of 24) | AC 6 |" in report
    assert "![pass@1 by difficulty](pass1_by_difficulty.png)" in report
    assert "![training curves](training_curves.png)" in report
    assert summary["comparisons"][0]["difference"] == pytest.approx(0.25)
    for name in ("pass1_by_difficulty.png", "training_curves.png"):
        data = (tmp_path / "report" / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert json.loads((tmp_path / "report" / "summary.json").read_text())["runs"][1][
        "pass@1"] == pytest.approx(0.5)


def test_training_scalars_are_read_back(tmp_path):
    scalars = read_training_scalars(write_training_logs(tmp_path / "train"))
    assert scalars["train/loss"] == [(s, pytest.approx(1.0 / s)) for s in range(1, 6)]


def test_report_cli(tmp_path):
    from typer.testing import CliRunner

    from ocrl.cli import app

    base = write_run(tmp_path / "a", "m", {"x": 1, "y": 0})
    other = write_run(tmp_path / "b", "m", {"x": 3, "y": 1})
    result = CliRunner().invoke(app, ["report", str(base), str(other),
                                      "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert "+0.375" in result.output
    assert (tmp_path / "r" / "report.md").is_file()


def test_bad_run_directories_are_named(tmp_path):
    with pytest.raises(InputError, match="metrics.json"):
        build_report([tmp_path / "nothing"], tmp_path / "r")
    a = write_run(tmp_path / "a", "m", {"x": 1})
    b = write_run(tmp_path / "b", "m", {"z": 1})
    with pytest.raises(InputError, match="shares no problem"):
        build_report([a, b], tmp_path / "r")


def test_pass_rate_buckets_hand_computed():
    from ocrl.report import pass_rate_buckets

    rates = {"a": 0.0, "b": 0.2, "c": 0.4, "d": 0.6, "e": 1.0}
    assert pass_rate_buckets(rates) == {"a": "hard", "b": "medium", "c": "medium",
                                        "d": "easy", "e": "easy"}
    assert pass_rate_buckets(rates, easy_from=0.4)["c"] == "easy"
    with pytest.raises(ValueError):
        pass_rate_buckets(rates, easy_from=0.0)


def test_report_buckets_by_a_reference_runs_own_pass_rate(tmp_path):
    # reference (n=4): x never passes, y passes 1 of 4, z 3 of 4 -> hard, medium, easy
    reference = write_run(tmp_path / "base_n4", "m", {"x": 0, "y": 1, "z": 3})
    base = write_run(tmp_path / "base", "m", {"x": 0, "y": 1, "z": 4}, n=1)
    tuned = write_run(tmp_path / "tuned", "m", {"x": 1, "y": 0, "z": 4}, n=1)
    summary = build_report([base, tuned], tmp_path / "r", difficulty_from=reference)
    by = summary["by_reference_difficulty"]
    assert by["hard"]["tuned"]["pass@1"] == 1.0 and by["hard"]["base"]["pass@1"] == 0.0
    # one problem per bucket: every bootstrap resample is that problem, so the interval is
    # the difference itself
    assert (by["hard"]["tuned"]["difference"], by["hard"]["tuned"]["low"]) == (1.0, 1.0)
    assert by["medium"]["tuned"]["difference"] == -1.0
    assert by["easy"]["tuned"]["difference"] == 0.0 and "difference" not in by["easy"]["base"]
    report = (tmp_path / "r" / "report.md").read_text()
    assert "own pass rate" in report
    # columns easy, medium, hard
    assert ("| tuned | 1.000 (+0.000 [+0.000, +0.000]) | 0.000 (-1.000 [-1.000, -1.000]) | "
            "1.000 (+1.000 [+1.000, +1.000]) |") in report
    assert "hard (1)" in report

    assert "Biased" not in report
    # the reference among the compared runs: its own samples chose the buckets, said so
    build_report([reference, tuned], tmp_path / "r3", difficulty_from=reference)
    assert "**Biased:**" in (tmp_path / "r3" / "report.md").read_text()

    partial = write_run(tmp_path / "partial", "m", {"x": 0})
    with pytest.raises(InputError, match="no result for 2 problem"):
        build_report([base, tuned], tmp_path / "r2", difficulty_from=partial)

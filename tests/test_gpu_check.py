"""benchmarks/gpu_check.py on a CPU machine: it says there is nothing to check and exits 0,
and the training routine its GPU checks call works (here without bf16)."""

from __future__ import annotations

import json

import pytest
from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def gpu_check():
    return load_benchmark("gpu_check")


def test_without_a_gpu_there_is_nothing_to_check(gpu_check, tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = tmp_path / "report.json"
    assert gpu_check.main(["--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["gpu"] is None and "nothing to check" in report["checks"]


def test_the_training_check_trains_and_reports_what_ran(gpu_check, tmp_path):
    model_dir = gpu_check.small_model_dir(tmp_path / "model")
    result = gpu_check.train_steps(model_dir, tmp_path / "run", steps=2, bf16=False)
    assert result["finite"] and len(result["losses"]) == 2
    assert 0 < result["parameters_moved"] <= result["parameters"]
    assert result["master_dtypes"] == ["torch.float32"]
    assert result["distributed"]["processes"] == 1

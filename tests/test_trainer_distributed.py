"""Two CPU processes over gloo via `accelerate launch`: DDP replicas end with the same weights;
FSDP2 really shards and matches one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from tiny_lm import save_tiny_model

ROOT = Path(__file__).resolve().parent.parent


def _launch(worker: str, processes: int, *arguments: Path | str, config: str = "ddp.yaml",
            mixed_precision: str | None = None) -> None:
    accelerate = Path(sys.executable).with_name("accelerate")
    config_file = ROOT / "configs" / "accelerate" / config
    command = [str(accelerate), "launch", "--config_file", str(config_file), "--num_processes",
               str(processes), "--main_process_port", "0",
               *(["--mixed_precision", mixed_precision] if mixed_precision else []),
               str(ROOT / "tests" / worker), *map(str, arguments)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_two_processes_over_gloo_end_with_identical_weights(tmp_path):
    from safetensors.torch import load_file

    model_dir = save_tiny_model(tmp_path / "tiny")
    out = tmp_path / "out"
    _launch("tiny_ddp_worker.py", 2, out, model_dir)

    ranks = [torch.load(out / f"rank{i}.pt", weights_only=False) for i in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2]
    assert all(r["backend"] == "gloo" for r in ranks)
    assert ranks[0]["distributed"] == {"type": "MULTI_CPU", "processes": 2,
                                       "mixed_precision": "no", "sharded": False}
    # the replicas trained on different groups at every step ...
    assert len(ranks[0]["seen"]) == len(ranks[1]["seen"]) == 3
    for mine, theirs in zip(ranks[0]["seen"], ranks[1]["seen"]):
        assert not set(mine) & set(theirs)
    # ... yet end identical, and different from where they started: gradients were averaged
    start = load_file(str(model_dir / "model.safetensors"))
    for name, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][name]), name
    assert any(not torch.equal(ranks[0]["state"][n], start[n]) for n in start)
    assert len(list((out / "ref").iterdir())) == 1  # one reference cache, written by rank 0


def test_one_and_two_processes_make_the_same_update_for_every_aggregation(tmp_path):
    """The loss is normalised over the whole step on all processes, so one step over the same
    4 uneven groups moves the weights the same on one process and on two."""
    model_dir = save_tiny_model(tmp_path / "tiny", seed=3)
    out = tmp_path / "out"
    _launch("tiny_ddp_step_worker.py", 1, out, model_dir)
    _launch("tiny_ddp_step_worker.py", 2, out, model_dir)
    one = torch.load(out / "updates_1.pt", weights_only=False)
    two = torch.load(out / "updates_2.pt", weights_only=False)
    assert set(one) == set(two) == {"token_mean", "sequence_mean", "group_mean",
                                    "sum_over_max_length"}
    for aggregation in one:
        norm = torch.sqrt(sum((v ** 2).sum() for v in one[aggregation].values()))
        assert norm > 0, aggregation
        difference = torch.sqrt(sum(((one[aggregation][k] - two[aggregation][k]) ** 2).sum()
                                    for k in one[aggregation]))
        assert difference / norm < 1e-5, (aggregation, float(difference / norm))


def test_fsdp_config_shards_over_gloo_and_matches_one_process(tmp_path):
    """configs/accelerate/fsdp.yaml on 2 CPU processes runs FSDP2 (it used to fall back to DDP
    silently): every parameter is a DTensor of which each rank holds about half, and three SGD
    steps of 4 groups each end where one process with the same 4 groups per step ends."""
    from safetensors.torch import load_file

    model_dir = save_tiny_model(tmp_path / "tiny", seed=5)
    out = tmp_path / "out"
    _launch("tiny_fsdp_worker.py", 2, out, model_dir, "fsdp", config="fsdp.yaml",
            mixed_precision="no")
    _launch("tiny_fsdp_worker.py", 1, out, model_dir, "single")
    ranks = [torch.load(out / f"fsdp_rank{i}.pt", weights_only=False) for i in (0, 1)]
    single = torch.load(out / "single_rank0.pt", weights_only=False)

    for rank in ranks:
        assert rank["distributed"] == {"type": "FSDP", "processes": 2, "mixed_precision": "no",
                                       "sharded": True}
        assert rank["held"] and all(is_dtensor for is_dtensor, _, _ in rank["held"].values())
        local = sum(held for _, held, _ in rank["held"].values())
        total = sum(whole for _, _, whole in rank["held"].values())
        assert 0.45 < local / total < 0.55, local / total
    assert single["distributed"]["sharded"] is False
    assert not any(is_dtensor for is_dtensor, _, _ in single["held"].values())
    # the same 4 groups at every step: 2 + 2 across ranks, 4 on one process
    for step, groups in enumerate(single["seen"]):
        assert sorted(groups) == sorted(ranks[0]["seen"][step] + ranks[1]["seen"][step])

    sharded, alone = ranks[0]["state"], single["state"]
    start = load_file(str(model_dir / "model.safetensors"))
    assert set(sharded) == set(alone) == set(start)
    saved = load_file(str(out / "fsdp" / "final" / "model.safetensors"))
    assert all(torch.equal(saved[k], sharded[k]) for k in start)  # a plain, whole checkpoint
    moved = torch.sqrt(sum(((alone[k] - start[k]) ** 2).sum() for k in start))
    difference = torch.sqrt(sum(((sharded[k] - alone[k]) ** 2).sum() for k in start))
    assert moved > 0.1
    # fp32 sums reduced in another order (reduce-scatter vs one process): 1.5e-7 measured
    assert difference / moved < 1e-5, float(difference / moved)


def test_reference_pass_is_shared_between_processes(tmp_path):
    """Two processes each compute part of the reference log-probs (whole batches of the
    one-process pass) and end with all of them, equal bit for bit to one process's; a second
    call finds the cache and computes nothing."""
    model_dir = save_tiny_model(tmp_path / "tiny", seed=4)
    out = tmp_path / "out"
    _launch("tiny_ref_worker.py", 1, out, model_dir, "one")
    _launch("tiny_ref_worker.py", 2, out, model_dir, "two")
    one = torch.load(out / "one_rank0.pt", weights_only=False)
    two = [torch.load(out / f"two_rank{i}.pt", weights_only=False) for i in (0, 1)]

    assert one["computed"] == [[10], []]
    # 10 groups in batches of 3: batches 0 and 2 on rank 0, batches 1 and 3 on rank 1
    assert [rank["computed"] for rank in two] == [[[6], []], [[4], []]]
    assert two[0]["ref_logps"] == two[1]["ref_logps"] == one["ref_logps"]
    assert len(one["ref_logps"]) == 10 and all(one["ref_logps"])
    assert two[0]["cache"] == two[1]["cache"]
    assert Path(two[0]["cache"]).name == Path(one["cache"]).name  # same key, separate dirs

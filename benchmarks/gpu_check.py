"""The checks that need a GPU, in one command of at most about ten minutes (issue 15).

On a machine with a CUDA GPU:

* ``bf16_training``: a few OfflineRLTrainer steps of a small Llama under bf16 autocast:
  finite losses, weights that move, master weights kept in fp32;
* ``sampler_agreement``: greedy answers of the transformers sampler on the GPU against vLLM's
  on the same prompts (needs vLLM and ``--model``, a model directory);
* ``fsdp_two_gpus``: when two GPUs exist, two OfflineRLTrainer steps under
  ``accelerate launch --config_file configs/accelerate/fsdp.yaml --num_processes 2``; the
  report says what the accelerator ran (type, processes, sharded).

It writes one JSON report (--out). On a machine without a GPU it says there is nothing to
check, writes a report saying so, and exits 0; a failed check exits 1.

    .venv/bin/python benchmarks/gpu_check.py --model ~/.cache/ocrl/models/smollm2-135m

Status: written without a GPU (none was lent to this project when it was written); the CPU
branch is exercised by the test suite, the GPU branches have not run yet.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ANSWERS = {"def add(a, b):\n    return a + b": 1.0, "def add(a, b):\n    return a - b": 0.0,
           "def add(a, b):\n    return b + a": 1.0, "def add(a, b):\n    print(a + b)": 0.0}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None,
                        help="model directory for the sampler check (skipped without it)")
    parser.add_argument("--prompts", type=int, default=8, help="HumanEval prompts compared")
    parser.add_argument("--out", default="gpu_check.json")
    parser.add_argument("--fsdp-worker", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def training_rows():
    ask = [{"role": "user", "content": "Write a Python function add(a, b) that returns a + b."}]
    return [{"prompt": ask, "completion": f"```python\n{code}\n```", "reward": reward}
            for code, reward in ANSWERS.items()]


def small_model_dir(root: Path) -> Path:
    """A randomly initialised 4-layer Llama with a chat tokenizer, built without the hub."""
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_lm import make_model, make_tokenizer

    tokenizer = make_tokenizer(chat=True)
    model = make_model(len(tokenizer), seed=0, hidden=128, layers=4)
    model.save_pretrained(root)
    tokenizer.save_pretrained(root)
    return root


def train_steps(model_dir: Path, out: Path, *, steps: int, bf16: bool) -> dict:
    """A few optimizer steps; what moved, the losses and what the accelerator ran."""
    import torch

    from ocrl import OfflineRLConfig, OfflineRLTrainer
    from ocrl.rewards import is_finite_number
    from ocrl.trainer.pipeline import distributed_setup

    args = OfflineRLConfig(output_dir=str(out), max_steps=steps, report_to="none",
                           learning_rate=1e-3, bf16=bf16, logging_steps=1, save_strategy="no")
    trainer = OfflineRLTrainer(model=str(model_dir), args=args, train_dataset=training_rows())
    before = {n: p.detach().float().clone() for n, p in trainer.model.named_parameters()}
    trainer.train()
    moved = sum(int(not torch.equal(before[n], p.detach().float().to(before[n].device)))
                for n, p in trainer.model.named_parameters() if n in before)
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    ratios = [e[k] for e in trainer.state.log_history for k in e if "ratio" in k]
    return {"losses": losses, "finite": all(map(is_finite_number, losses)),
            "parameters_moved": moved, "parameters": len(before),
            "master_dtypes": sorted({str(p.dtype) for p in trainer.model.parameters()}),
            "logged_ratios": ratios[:4],
            "distributed": distributed_setup(trainer.accelerator)}


def check_bf16(tmp: Path) -> dict:
    result = train_steps(small_model_dir(tmp / "model"), tmp / "bf16", steps=3, bf16=True)
    result["ok"] = (result["finite"] and result["parameters_moved"] > 0
                    and result["master_dtypes"] == ["torch.float32"])
    return result


def check_sampler(model: str | None, prompts: int) -> dict:
    from ocrl.evaluation.vllm_sampler import vllm_available

    if model is None or not vllm_available():
        return {"skipped": "needs --model and vLLM installed"}
    import torch

    from ocrl import prompting
    from ocrl.evaluation.problem_sources import humaneval_problems
    from ocrl.evaluation.sampler import SamplingConfig, TransformersSampler
    from ocrl.evaluation.vllm_sampler import VLLMSampler
    from ocrl.models import load_model_and_tokenizer

    model_obj, tokenizer = load_model_and_tokenizer(model, dtype=torch.float32)
    model_obj.to("cuda")
    fmt = prompting.detect_format(tokenizer)
    texts = [prompting.build_prompt(tokenizer, p.prompt, fmt, p.style)
             for p in humaneval_problems()[:prompts]]
    config = SamplingConfig(max_new_tokens=128)
    add = prompting.add_special_tokens(fmt)
    ours = TransformersSampler(model_obj, tokenizer, add_special_tokens=add).generate(texts, config)
    del model_obj
    theirs = VLLMSampler(model, tokenizer, add_special_tokens=add).generate(texts, config)
    same = sum(a[0].text == b[0].text for a, b in zip(ours, theirs))
    return {"prompts": len(texts), "identical_greedy": same, "ok": same == len(texts)}


def check_fsdp(tmp: Path) -> dict:
    import torch

    if torch.cuda.device_count() < 2:
        return {"skipped": f"{torch.cuda.device_count()} GPU(s); needs 2"}
    model_dir = small_model_dir(tmp / "fsdp_model")
    report = tmp / "fsdp.json"
    command = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
               str(ROOT / "configs" / "accelerate" / "fsdp.yaml"), "--num_processes", "2",
               __file__, "--fsdp-worker", json.dumps({"model": str(model_dir),
                                                      "out": str(tmp / "fsdp_run"),
                                                      "report": str(report)})]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if finished.returncode != 0:
        return {"ok": False, "stderr_tail": finished.stderr[-2000:]}
    result = json.loads(report.read_text())
    result["ok"] = result["distributed"]["type"] == "FSDP" and result["distributed"]["sharded"]
    return result


def fsdp_worker(spec: str) -> None:
    settings = json.loads(spec)
    result = train_steps(Path(settings["model"]), Path(settings["out"]), steps=2, bf16=True)
    if int(os.environ.get("RANK", "0")) == 0:
        Path(settings["report"]).write_text(json.dumps(result, indent=2))


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.fsdp_worker:
        fsdp_worker(args.fsdp_worker)
        return 0
    import torch

    report: dict = {"date": time.strftime("%Y-%m-%dT%H:%M:%S"), "torch": torch.__version__}
    if not torch.cuda.is_available():
        report["gpu"] = None
        report["checks"] = "nothing to check: no CUDA GPU on this machine"
        print(report["checks"])
        Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
        return 0
    report["gpu"] = {"name": torch.cuda.get_device_name(0), "count": torch.cuda.device_count()}
    checks = {"bf16_training": check_bf16,
              "sampler_agreement": lambda tmp: check_sampler(args.model, args.prompts),
              "fsdp_two_gpus": check_fsdp}
    report["checks"] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, check in checks.items():
            began = time.time()
            try:
                result = check(Path(tmp))
            except Exception:  # every check reports, one failure does not hide the others
                result = {"ok": False, "error": traceback.format_exc()[-3000:]}
            result["seconds"] = round(time.time() - began, 1)
            report["checks"][name] = result
            print(f"{name}: {'skipped' if 'skipped' in result else result['ok']}", flush=True)
            Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    failed = [n for n, r in report["checks"].items() if r.get("ok") is False]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

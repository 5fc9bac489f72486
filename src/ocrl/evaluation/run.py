"""One evaluation run: sample n completions per problem, judge them in the sandbox, measure.

Work is split into chunks of problems fixed in advance; each finished chunk is written
atomically to ``DIR/chunks/``, so a killed run resumes at the first missing chunk. Each chunk's
seed derives from (seed, chunk index), so a resumed run samples what an uninterrupted one
would have. At the end ``DIR/samples.parquet`` and ``DIR/metrics.json`` are written
(atomically) and the chunks removed.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ocrl import __version__
from ocrl.atomic import write_json_atomic, write_parquet_atomic
from ocrl.errors import InputError
# Still importable from here, where benchmarks, tests and `ocrl.EvalConfig` look for them.
from ocrl.evaluation.config import EvalConfig, SampleConfig  # noqa: F401
from ocrl.evaluation.metrics import compute_metrics
from ocrl.evaluation.problem_sources import load_eval_problems, problems_fingerprint
from ocrl.evaluation.sampler import SamplingConfig
from ocrl.problems import Problem

logger = logging.getLogger(__name__)

STATE_FILE = "eval_state.json"
METRICS_FILE = "metrics.json"
SAMPLES_FILE = "samples.parquet"
CHUNKS_DIR = "chunks"
BATCHES_PER_CHUNK = 4

SAMPLE_SCHEMA = pa.schema([
    ("task_id", pa.string()), ("sample_index", pa.int32()), ("difficulty", pa.string()),
    ("style", pa.string()), ("prompt", pa.string()), ("entry_point", pa.string()),
    ("model_input", pa.string()), ("generated", pa.string()), ("completion", pa.string()),
    ("n_tokens", pa.int32()), ("finish", pa.string()),
    ("status", pa.string()), ("passed", pa.bool_()), ("cpu_time_ms", pa.float64()),
    ("memory_kb", pa.int64()), ("tests_passed", pa.int32()), ("tests_total", pa.int32()),
    ("stderr_tail", pa.string()), ("sandbox", pa.string()), ("judged_by", pa.string()),
    ("source", pa.string()),
])


def plan_chunks(n_problems: int, n: int, batch_size: int) -> list[tuple[int, int]]:
    """[start, end) problem ranges, each a few generate batches' worth of samples."""
    per_chunk = max(1, (batch_size * BATCHES_PER_CHUNK) // n)
    return [(start, min(start + per_chunk, n_problems))
            for start in range(0, n_problems, per_chunk)]


def resolve_format(config: SampleConfig, model_dir: Path, tokenizer) -> tuple[str, str]:
    """(format, where it came from): the flag, the model's ocrl_model.json, or its tokenizer."""
    from ocrl.models import read_model_info
    from ocrl.prompting import FORMATS, detect_format

    if config.prompt_format != "auto":
        return config.prompt_format, "flag"
    recorded = read_model_info(model_dir).get("prompt_format")
    if recorded is not None:
        if recorded not in FORMATS:
            raise InputError(f"unknown prompt_format {recorded!r}",
                             path=str(model_dir / "ocrl_model.json"), field="prompt_format")
        return recorded, "ocrl_model.json"
    return detect_format(tokenizer), "tokenizer"


def _identity(config: EvalConfig, model_hash: str, problems_hash: str, fmt: str) -> dict:
    """What must match for a run directory to be resumed rather than refused."""
    keys = ("n", "temperature", "top_p", "max_new_tokens", "batch_size", "draft_tokens", "seed",
            "timeout_s", "memory_mb")
    return {"model_hash": model_hash, "problems_hash": problems_hash, "prompt_format": fmt,
            **{key: getattr(config, key) for key in keys}}


def _prepare_out_dir(out: Path, identity: dict, overwrite: bool) -> None:
    state_path = out / STATE_FILE
    if out.exists() and overwrite:
        for name in (STATE_FILE, METRICS_FILE, SAMPLES_FILE):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / CHUNKS_DIR, ignore_errors=True)
    if state_path.is_file():
        previous = json.loads(state_path.read_text(encoding="utf-8")).get("identity")
        if previous != identity:
            changed = sorted(k for k in identity if (previous or {}).get(k) != identity[k])
            raise InputError(f"holds an evaluation with different settings ({', '.join(changed)}"
                             "); use another --out or pass --overwrite", path=str(out))
    elif (out / METRICS_FILE).exists():
        raise InputError("holds a finished evaluation from an unknown run; use another --out "
                         "or pass --overwrite", path=str(out))
    (out / CHUNKS_DIR).mkdir(parents=True, exist_ok=True)
    write_json_atomic(state_path, {"identity": identity})


def _chunk_path(out: Path, index: int) -> Path:
    return out / CHUNKS_DIR / f"chunk-{index:05d}.parquet"


def use_vllm(config: SampleConfig) -> bool:
    from ocrl.evaluation.vllm_sampler import vllm_available

    if config.backend == "vllm" and not vllm_available():
        raise InputError("backend vllm needs the vllm package and a CUDA GPU", field="backend")
    return config.backend == "vllm" or (config.backend == "auto" and vllm_available())


def load_sampler(config: SampleConfig, problems: list[Problem]):
    """(model directory, tokenizer, prompt format, where the format came from, sampler,
    backend name) for ``config``: what `ocrl eval` and `ocrl sample` both start with."""
    from ocrl.models import resolve_model

    model_dir = resolve_model(config.model)
    if config.threads:
        import torch

        torch.set_num_threads(config.threads)
    vllm = use_vllm(config)
    model, tokenizer = _load(config, model_dir, vllm)
    fmt, format_source = resolve_format(config, model_dir, tokenizer)
    sampler = _make_sampler(model, tokenizer, model_dir, fmt, {p.style for p in problems})
    return model_dir, tokenizer, fmt, format_source, sampler, "vllm" if vllm else "transformers"


def weights_dtype(sampler, requested: str) -> str:
    """The precision the sampler's weights are in ("float32", "bfloat16", ...): what produced
    the answers, recorded with them (vLLM, which loads its own weights: the dtype asked for)."""
    weights = getattr(getattr(sampler, "model", None), "dtype", None)
    return str(weights).removeprefix("torch.") if weights is not None else requested


def _load(config: SampleConfig, model_dir: Path, vllm: bool):
    """(model or None, tokenizer); vLLM loads the weights itself."""
    if vllm:
        from transformers import AutoTokenizer

        if (model_dir / "adapter_config.json").is_file():
            raise InputError("the vLLM backend needs merged weights, not an adapter; use "
                             "--backend transformers", path=str(model_dir), field="backend")
        return None, AutoTokenizer.from_pretrained(model_dir)
    import torch

    from ocrl.models import cpu_flags, load_model_and_tokenizer, slow_half_precision

    model, tokenizer = load_model_and_tokenizer(model_dir, dtype=config.dtype)
    if torch.cuda.is_available():
        model.to("cuda")
    slow = slow_half_precision(model.dtype, cpu_flags(), torch.cuda.is_available())
    if slow:
        logger.warning("%s", slow)
    return model, tokenizer


def decode_profile(sampler) -> dict:
    """The transformers sampler's per-decode-step means (rows, cache width, ms) for this
    process; empty for a backend that does not measure them (vLLM)."""
    stats = getattr(sampler, "stats", None)
    return stats.decode_profile() if hasattr(stats, "decode_profile") else {}


def _make_sampler(model, tokenizer, model_dir: Path, fmt: str, styles: set[str]):
    from ocrl import prompting
    from ocrl.evaluation.sampler import TransformersSampler
    from ocrl.evaluation.vllm_sampler import VLLMSampler

    add_special = prompting.add_special_tokens(fmt)
    if model is None:
        # vLLM takes one list of stop strings per call; mixed styles keep only the common ones.
        stops = set.intersection(*(set(prompting.stop_sequences(fmt, s)) for s in styles))
        return VLLMSampler(str(model_dir), tokenizer, add_special_tokens=add_special,
                           stop=sorted(stops))
    return TransformersSampler(model, tokenizer, add_special_tokens=add_special)


WORKER_DIED = "the sandbox worker died"


def _judge_chunk(judge, problems: list[Problem], records: list[dict]) -> None:
    pairs = [(problems[r["problem_index"]], r["completion"]) for r in records]
    verdicts = dict(judge.judge_many(pairs))
    # A worker that died mid-run says nothing about the program most of the time (the pool
    # restarts it); judge those once more before recording a Runtime Error.
    retry = [index for index, verdict in verdicts.items()
             if verdict.stderr_tail.startswith(WORKER_DIED)]
    if retry:
        logger.warning("re-judging %d sample(s) whose sandbox worker died", len(retry))
        for position, verdict in judge.judge_many([pairs[index] for index in retry]):
            verdicts[retry[position]] = verdict
    for index, verdict in verdicts.items():
        row = verdict.to_dict()
        records[index].update({key: row[key] for key in (
            "status", "passed", "cpu_time_ms", "memory_kb", "tests_passed", "tests_total",
            "stderr_tail", "sandbox", "judged_by")})


def _chunk_table(records: list[dict]) -> pa.Table:
    columns = {field.name: [r.get(field.name) for r in records] for field in SAMPLE_SCHEMA}
    return pa.table(columns, schema=SAMPLE_SCHEMA)


def _read_chunk_timing(path: Path) -> dict:
    metadata = pq.read_schema(path).metadata or {}
    return json.loads(metadata.get(b"ocrl_timing", b"{}"))


def generate_records(sampler, tokenizer, fmt: str, chunk: list[Problem], start: int,
                     sampling: SamplingConfig, *, seed_key: str, progress=None,
                     source: str) -> tuple[list[dict], float]:
    """Sample ``sampling.n`` answers to each problem of ``chunk`` (whose first problem is
    number ``start``); (one record per answer with its extracted code, generate seconds).
    Shared by `ocrl eval` (which then judges them) and `ocrl sample` (which logs them)."""
    from ocrl import prompting

    inputs = [prompting.build_prompt(tokenizer, p.prompt, fmt, p.style) for p in chunk]
    styles = [p.style for p in chunk]
    began = time.perf_counter()
    # One generate call per style: the stop rule depends on it.
    generations: list = [None] * len(chunk)
    for style in sorted(set(styles)):
        positions = [i for i, s in enumerate(styles) if s == style]
        outputs = sampler.generate(
            [inputs[i] for i in positions], sampling,
            is_done=lambda text, style=style: prompting.should_stop(text, fmt, style),
            seed_key=f"{seed_key}:{style}", progress=progress)
        for position, output in zip(positions, outputs):
            generations[position] = output
    seconds = time.perf_counter() - began
    records = []
    for offset, (problem, outputs) in enumerate(zip(chunk, generations)):
        for sample_index, generation in enumerate(outputs):
            records.append({
                "problem_index": start + offset, "task_id": problem.task_id,
                "sample_index": sample_index, "difficulty": problem.difficulty,
                "style": problem.style, "prompt": problem.prompt,
                "entry_point": problem.entry_point,
                "model_input": inputs[offset], "generated": generation.text,
                "completion": prompting.extract_code(generation.text, problem.prompt, fmt,
                                                     problem.style),
                "n_tokens": generation.n_tokens, "finish": generation.finish,
                "source": source})
    return records, seconds


def run_eval(config: EvalConfig, out: str | Path, *, overwrite: bool = False,
             show_progress: bool = True) -> dict:
    """Evaluate ``config.model`` on ``config.problems``; returns the metrics written."""
    from tqdm.auto import tqdm

    from ocrl.models import model_fingerprint
    from ocrl.sandbox import Judge, Limits

    config.check()
    began = time.perf_counter()
    out = Path(out)
    problems = load_eval_problems(config.problems, config.split, config.limit)
    model_dir, tokenizer, fmt, format_source, sampler, backend = load_sampler(config, problems)
    model_hash = model_fingerprint(model_dir)
    identity = _identity(config, model_hash, problems_fingerprint(problems), fmt)
    _prepare_out_dir(out, identity, overwrite)

    chunks = plan_chunks(len(problems), config.n, config.batch_size)
    done = {index for index in range(len(chunks)) if _chunk_path(out, index).is_file()}
    total_samples = len(problems) * config.n
    done_samples = sum((end - start) * config.n for i, (start, end) in enumerate(chunks)
                       if i in done)
    sampling = config.sampling()
    limits = Limits(timeout_s=config.timeout_s, memory_mb=config.memory_mb)
    bar = tqdm(total=total_samples, initial=done_samples, unit="sample", desc="eval",
               disable=not show_progress, dynamic_ncols=True)
    try:
        with Judge(workers=config.workers, limits=limits, mode=config.sandbox) as judge:
            for index, (start, end) in enumerate(chunks):
                if index in done:
                    continue
                chunk_began = time.perf_counter()
                records, generate_seconds = generate_records(
                    sampler, tokenizer, fmt, problems[start:end], start, sampling,
                    seed_key=f"chunk{index}", progress=bar, source=f"ocrl-eval:{config.model}")
                judge_began = time.perf_counter()
                bar.set_postfix_str("judging")
                _judge_chunk(judge, problems, records)
                bar.set_postfix_str("")
                timing = {"generate_seconds": generate_seconds,
                          "judge_seconds": time.perf_counter() - judge_began,
                          "chunk_seconds": time.perf_counter() - chunk_began,
                          "generated_tokens": sum(r["n_tokens"] for r in records)}
                table = _chunk_table(records).replace_schema_metadata(
                    {"ocrl_timing": json.dumps(timing)})
                write_parquet_atomic(_chunk_path(out, index), table)
    finally:
        bar.close()

    return _finish(config, out, chunks, model_dir, model_hash, fmt, format_source, backend,
                   weights_dtype(sampler, config.dtype),
                   resumed_chunks=len(done), wall_seconds=time.perf_counter() - began,
                   decode=decode_profile(sampler))


def _finish(config: EvalConfig, out: Path, chunks, model_dir: Path, model_hash: str, fmt: str,
            format_source: str, backend: str, dtype: str, *, resumed_chunks: int,
            wall_seconds: float, decode: dict) -> dict:
    paths = [_chunk_path(out, index) for index in range(len(chunks))]
    table = pa.concat_tables([pq.read_table(path).replace_schema_metadata(None)
                              for path in paths])
    timings = [_read_chunk_timing(path) for path in paths]
    samples = table.select(["task_id", "completion", "status", "difficulty",
                            "cpu_time_ms", "n_tokens", "finish"]).to_pylist()
    metrics = compute_metrics(samples, config.ks, seed=config.seed)
    generate_seconds = sum(t.get("generate_seconds", 0.0) for t in timings)
    generated_tokens = sum(t.get("generated_tokens", 0) for t in timings)
    result = {
        **metrics,
        "config": {**asdict(config), "ks": list(config.ks)},
        "model": {"name": config.model, "path": str(model_dir), "hash": model_hash,
                  "prompt_format": fmt, "prompt_format_source": format_source,
                  "dtype": dtype},
        "seed": config.seed,
        "backend": backend,
        "timing": {
            # This invocation only; a resumed run also spent the earlier chunks' time.
            "wall_seconds": wall_seconds,
            "chunk_seconds_all_invocations": sum(t.get("chunk_seconds", 0.0) for t in timings),
            "chunks": len(chunks),
            "chunks_resumed": resumed_chunks,
            "generate_seconds": generate_seconds,
            "judge_seconds": sum(t.get("judge_seconds", 0.0) for t in timings),
            "generated_tokens": generated_tokens,
            "tokens_per_second": generated_tokens / generate_seconds if generate_seconds else None,
            "decode_profile": decode,  # this invocation's decode steps
            "finished_length_share": (sum(f == "length" for f in table.column("finish")
                                          .to_pylist()) / table.num_rows) if table.num_rows
            else None,
        },
        "environment": {"ocrl": __version__, "python": platform.python_version(),
                        "host_cpus": os.cpu_count()},
    }
    write_parquet_atomic(out / SAMPLES_FILE, table)
    write_json_atomic(out / METRICS_FILE, result)
    shutil.rmtree(out / CHUNKS_DIR, ignore_errors=True)
    return result


def load_metrics(run_dir: str | Path) -> dict:
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        raise InputError("no metrics.json: not a finished `ocrl eval` directory", path=str(path))
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg})", path=str(path), line=exc.lineno) from None

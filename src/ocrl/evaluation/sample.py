"""`ocrl sample`: logs from a model, collected once, for teams that have none.

Samples n answers per problem with the same problem inputs, prompt format, stop rules and code
extraction as `ocrl eval` (which is built on the same `generate_records`), and writes flat rows
that `ocrl label` reads unchanged: ``task_id, completion`` (the extracted code, as `ocrl eval`
judges it; ``extracted: true`` tells `ocrl label` not to cut it again) plus ``generated`` (the
raw text), ``model, dtype, temperature, top_p, seed, prompt_format, finish, n_tokens,
sample_index`` (``dtype``: the weights' precision the samples came from; bf16 is faster on
some CPUs but samples other answers than fp32, so a resumed run refuses another dtype).

Work is cut into chunks of problems fixed in advance; each finished chunk is written atomically
to ``OUT.parts/``, so a killed run resumes at the first missing chunk and samples what an
uninterrupted run would have (a chunk's seed derives from the seed and its index). The output
is written atomically at the end (gzip when it ends in .gz) and the parts removed.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from ocrl.atomic import write_json_atomic
from ocrl.errors import InputError
from ocrl.evaluation import run as eval_run
from ocrl.evaluation.config import SampleConfig

STATE_FILE = "sample_state.json"


def _parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _row(record: dict, config: SampleConfig, fmt: str, dtype: str) -> dict:
    return {"task_id": record["task_id"], "completion": record["completion"],
            "extracted": True, "generated": record["generated"], "model": config.model,
            "dtype": dtype,
            "temperature": config.temperature, "top_p": config.top_p, "seed": config.seed,
            "prompt_format": fmt, "finish": record["finish"], "n_tokens": record["n_tokens"],
            "sample_index": record["sample_index"]}


def _write_rows(path: Path, rows: list[dict]) -> None:
    """Atomically, gzip-compressed when the name ends in .gz."""
    tmp = path.with_name(path.name + ".tmp")
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(tmp, "wt", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def run_sample(config: SampleConfig, out: str | Path, *, show_progress: bool = True) -> dict:
    """Sample, write ``out``; return what was done (rows, tokens, seconds, tokens/s)."""
    from tqdm.auto import tqdm

    from ocrl.evaluation.problem_sources import load_eval_problems, problems_fingerprint
    from ocrl.models import model_fingerprint

    config.check()
    out = Path(out)
    if out.exists():
        raise InputError("exists already; sampling never overwrites a log (remove it or choose "
                         "another --out)", path=str(out))
    began = time.perf_counter()
    problems = load_eval_problems(config.problems, config.split, config.limit)
    model_dir, tokenizer, fmt, _, sampler, _ = eval_run.load_sampler(config, problems)
    dtype = eval_run.weights_dtype(sampler, config.dtype)
    identity = {"model_hash": model_fingerprint(model_dir), "prompt_format": fmt,
                "problems_hash": problems_fingerprint(problems),
                **{k: v for k, v in asdict(config).items() if k not in ("threads", "dtype")},
                "dtype": dtype}
    parts = _parts_dir(out)
    state = parts / STATE_FILE
    if state.is_file():
        previous = json.loads(state.read_text(encoding="utf-8"))
        if previous != identity:
            changed = sorted(k for k in identity if previous.get(k) != identity[k])
            raise InputError(f"holds a stopped run with other settings ({', '.join(changed)}); "
                             "remove it to start again", path=str(parts))
    parts.mkdir(parents=True, exist_ok=True)
    write_json_atomic(state, identity)

    chunks = eval_run.plan_chunks(len(problems), config.n, config.batch_size)
    sampling = config.sampling()
    done = {i for i in range(len(chunks)) if (parts / f"chunk-{i:05d}.jsonl").is_file()}
    bar = tqdm(total=len(problems) * config.n, unit="sample", desc="sample",
               initial=sum((e - s) * config.n for i, (s, e) in enumerate(chunks) if i in done),
               disable=not show_progress, dynamic_ncols=True)
    tokens, seconds = 0, 0.0
    try:
        for index, (start, end) in enumerate(chunks):
            if index in done:
                continue
            records, spent = eval_run.generate_records(
                sampler, tokenizer, fmt, problems[start:end], start, sampling,
                seed_key=f"chunk{index}", progress=bar, source=f"ocrl-sample:{config.model}")
            tokens += sum(r["n_tokens"] for r in records)
            seconds += spent
            _write_rows(parts / f"chunk-{index:05d}.jsonl",
                        [_row(r, config, fmt, dtype) for r in records])
    finally:
        bar.close()
    rows = []
    for index in range(len(chunks)):
        with open(parts / f"chunk-{index:05d}.jsonl", encoding="utf-8") as handle:
            rows += [json.loads(line) for line in handle]
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_rows(out, rows)
    shutil.rmtree(parts, ignore_errors=True)
    return {"rows": len(rows), "problems": len(problems), "out": str(out),
            "generated_tokens_this_run": tokens, "generate_seconds_this_run": round(seconds, 2),
            "tokens_per_second": tokens / seconds if seconds else None,
            "chunks_resumed": len(done), "wall_seconds": round(time.perf_counter() - began, 2),
            "decode_profile": eval_run.decode_profile(sampler)}

"""`ocrl label`: judge every logged sample once in the sandbox, resumably, into one Parquet file.

Verdicts are written in small atomic Parquet parts beside the output (``OUT.parts/``); a killed
run keeps every finished part and, when started again with the same inputs, judges only what is
missing. The final file is assembled atomically and the parts removed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ocrl.atomic import write_parquet_atomic
from ocrl.config_files import Repeatable, option
from ocrl.errors import InputError
from ocrl.problems import load_problems
from ocrl.samples import CODET_STOPS, Sample, read_samples
from ocrl.sandbox import Judge, Limits
from ocrl.sandbox.judge import JUDGE_VERSION
from ocrl.sandbox.verdict import STATUSES

PART_ROWS = 256
EXAMPLES = Path(__file__).resolve().parent / "examples"
FLUSH_SECONDS = 10.0


@dataclass
class LabelConfig:
    """What `ocrl label` judges, and how; every field is one of its flags. The defaults label a
    small built-in example."""

    problems: str = option(str(EXAMPLES / "problems.jsonl"), "Problems JSONL: HumanEval layout "
                           "(task_id, prompt, entry_point, test) or stdio (task_id, prompt, "
                           "tests: [{input, output}]).")
    samples: str = option(str(EXAMPLES / "samples.jsonl"), "Samples JSONL(.gz): flat rows "
                          "{task_id, completion, ...} or logged rows {task_id or prompt, "
                          "samples: [...]}.")
    out: str = option("labels.parquet", "Output Parquet, one row per sample.")
    timeout_s: float = option(3.0, "Wall-clock seconds per run (per test for stdio).",
                              aliases=["--timeout"])
    memory_mb: int = option(1024, "Address-space limit per run, MiB.")
    workers: int | None = option(None, "Sandbox workers (default: CPU cores).")
    # As typed: `stop_sequences` turns them into the cut actually made.
    stops: list[str] = option(list, "Stop sequence cutting a raw sample to one function body "
                                    "(--stop A --stop B). Default: CodeT's.",
                              aliases=["--stop"], action=Repeatable)
    no_stops: bool = option(False, "Judge samples exactly as logged.")
    sandbox: str = option("auto", "auto | bwrap | rlimits")
    python: str | None = option(None, "Interpreter that runs the programs; a virtual "
                                      "environment's gives them its packages. Default: the "
                                      "system's python3 (standard library).")
    part_rows: int = option(PART_ROWS, "Verdicts per atomic part file: at most this many are "
                                       "lost to a kill.")

    def stop_sequences(self) -> tuple[str, ...] | None:
        return resolve_stops(self.stops, self.no_stops)


def _fingerprint(config: LabelConfig) -> str:
    digest = hashlib.sha256()
    for path in (config.problems, config.samples):
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    settings = {k: v for k, v in asdict(config).items()
                if k not in ("out", "workers", "part_rows", "no_stops")}
    settings["stops"] = config.stop_sequences()  # the cut made, however it was asked for
    # Verdicts of another judge are not mixed into this one's (the judge's rules changed before).
    settings["judge"] = JUDGE_VERSION
    digest.update(json.dumps(settings, sort_keys=True, default=list).encode())
    return digest.hexdigest()[:16]


def _parts_dir(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def _open_parts(parts: Path, fingerprint: str) -> set[int]:
    """Row ids already judged by an earlier run with the very same inputs and settings."""
    meta = parts / "meta.json"
    if parts.exists():
        if not meta.exists() or json.loads(meta.read_text()).get("fingerprint") != fingerprint:
            raise InputError(
                f"{parts} holds partial results from a run with other inputs or settings; "
                "delete it to start over", path=str(parts))
    else:
        parts.mkdir(parents=True)
        meta.write_text(json.dumps({"fingerprint": fingerprint}))
    done: set[int] = set()
    for part in sorted(parts.glob("part-*.parquet")):
        done.update(pq.read_table(part, columns=["row_id"]).column("row_id").to_pylist())
    return done


def _table(rows: list[dict]) -> pa.Table:
    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Carried-through fields of mixed types: keep them, as JSON text.
        base = {"row_id", "task_id", "sample_index", "completion", "raw_completion", "status",
                "passed", "cpu_time_ms", "memory_kb", "tests_passed", "tests_total",
                "stderr_tail", "sandbox", "judged_by"}
        return pa.Table.from_pylist([{k: (v if k in base else json.dumps(v)) for k, v in r.items()}
                                     for r in rows])


def _write_part(parts: Path, rows: list[dict]) -> None:
    name = f"part-{min(r['row_id'] for r in rows):09d}-{len(rows)}.parquet"
    write_parquet_atomic(parts / name, _table(rows))


def _row(sample: Sample, verdict) -> dict:
    row = {"row_id": sample.row_id, "task_id": sample.task_id,
           "sample_index": sample.sample_index, "completion": sample.completion,
           "raw_completion": sample.raw_completion}
    row.update(verdict.to_dict())
    for key, value in sample.extra.items():
        row.setdefault(key, value)
    return row


def _assemble(parts: Path, out: Path) -> pa.Table:
    tables = [pq.read_table(p) for p in sorted(parts.glob("part-*.parquet"))]
    table = pa.concat_tables(tables, promote_options="default").sort_by("row_id")
    write_parquet_atomic(out, table)
    shutil.rmtree(parts)
    return table


def label(config: LabelConfig, progress: bool = True) -> pa.Table:
    """Judge all samples of ``config.samples`` against ``config.problems``; returns the table."""
    out = Path(config.out)
    problems = load_problems(config.problems)
    # Read and validate every sample before judging any: bad input fails fast, losing nothing.
    samples = list(read_samples(config.samples, problems, config.stop_sequences()))
    if not samples:
        raise InputError("no samples in file", path=config.samples)
    out.parent.mkdir(parents=True, exist_ok=True)
    parts = _parts_dir(out)
    done = _open_parts(parts, _fingerprint(config))
    todo = [s for s in samples if s.row_id not in done]
    limits = Limits(timeout_s=config.timeout_s, memory_mb=config.memory_mb)
    buffer: list[dict] = []
    with Judge(workers=config.workers, limits=limits, mode=config.sandbox,
               python=config.python) as judge, \
            tqdm(total=len(samples), initial=len(done), desc="judging", unit="sample",
                 disable=not progress) as bar:
        pairs = [(problems[s.task_id], s.completion) for s in todo]
        last_flush = time.monotonic()
        try:
            for index, verdict in judge.judge_many(pairs):
                buffer.append(_row(todo[index], verdict))
                bar.update(1)
                if len(buffer) >= config.part_rows or time.monotonic() - last_flush > FLUSH_SECONDS:
                    _write_part(parts, buffer)
                    buffer, last_flush = [], time.monotonic()
        finally:
            # Interrupted or not, what was judged is kept for the next run.
            if buffer:
                _write_part(parts, buffer)
    return _assemble(parts, out)


def verdict_counts(table: pa.Table) -> Counter:
    return Counter(table.column("status").to_pylist())


def summary_rows(table: pa.Table) -> list[tuple[str, int, float]]:
    counts = verdict_counts(table)
    total = max(1, table.num_rows)
    order = [s for s in STATUSES if s in counts] + sorted(set(counts) - set(STATUSES))
    return [(status, counts[status], counts[status] / total) for status in order]


def resolve_stops(stops: Sequence[str] | None, no_stops: bool) -> tuple[str, ...] | None:
    if no_stops:
        return None
    if stops:
        # Shell users type "\n" as two characters.
        return tuple(s.encode().decode("unicode_escape") for s in stops)
    return CODET_STOPS

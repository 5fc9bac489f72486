"""A table of judged samples as a source: `ocrl label` Parquet ("labelled") or any JSONL/Parquet
with a column mapping ("table"). Rows are validated while being hash-partitioned by problem into
Parquet parts; each part is a shard."""

from __future__ import annotations

import json
import math
import os
import shutil
import zlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from ocrl.atomic import write_json_atomic
from ocrl.codenet.python3 import CPYTHON
from ocrl.codenet.reader import UNINFORMATIVE_STATUSES, Submission, finite_number
from ocrl.errors import InputError
from ocrl.prepare import twins
from ocrl.prepare.config import TABLE_FIELDS, PrepareConfig, worker_count
from ocrl.prepare.schema import ProblemInfo, ShardTask, schemas
from ocrl.sandbox.verdict import ACCEPTED, STATUSES, WRONG_ANSWER

# Column mapping of `ocrl label` output: ocrl field -> column.
LABEL_COLUMNS = {"problem_id": "task_id", "completion": "completion", "status": "status",
                 "cpu_time_ms": "cpu_time_ms", "memory_kb": "memory_kb",
                 "tests_passed": "tests_passed", "tests_total": "tests_total",
                 "origin_id": "sample_index", "source": "source"}


def _iter_table_rows(path: Path, wanted: list[str] | None) -> Iterator[tuple[int, dict]]:
    """(row number from 1, row) from a Parquet or JSONL(.gz) file, streamed in batches."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ocrl.jsonl import read_jsonl

    if path.suffix == ".parquet":
        try:
            parquet = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise InputError(f"not a readable Parquet file ({exc})", path=str(path)) from None
        names = parquet.schema_arrow.names
        present = names if wanted is None else [c for c in wanted if c in names]
        number = 0
        for batch in parquet.iter_batches(batch_size=20000, columns=present):
            for row in batch.to_pylist():
                number += 1
                yield number, row
    else:
        yield from read_jsonl(path)


def _numeric(row: dict, columns: dict[str, str], name: str, kind: type, where: dict):
    """A mapped numeric field of a table row; None when unmapped or empty."""
    value = row.get(columns.get(name, "\0"))
    if value is None or value == "":
        return None
    try:
        value = kind(value)
    except (TypeError, ValueError):
        raise InputError(f"expected a number, got {value!r}", field=columns[name],
                         **where) from None
    return value if kind is int or math.isfinite(value) else None


def _table_columns(config: PrepareConfig) -> dict[str, str]:
    columns = dict(LABEL_COLUMNS) if config.source == "labelled" else {}
    columns.update(config.columns)
    if config.source == "table" and not config.columns:
        columns = {name: name for name in TABLE_FIELDS}
    return columns


def _problem_info(problem) -> ProblemInfo:
    return ProblemInfo(problem_id=problem.task_id, prompt=problem.prompt, style=problem.style,
                       tests=[{"input": t.input, "output": t.output} for t in problem.tests],
                       entry_point=problem.entry_point, test=problem.test,
                       canonical_solution=problem.canonical_solution,
                       time_limit_ms=problem.time_limit_ms,
                       memory_limit_kb=problem.memory_limit_kb,
                       rating=finite_number(problem.extra.get("rating")),
                       name=problem.extra.get("name"), dataset=problem.extra.get("dataset"))


def _assign_twins(infos: list[ProblemInfo], config: PrepareConfig) -> dict:
    """Cluster the problems by prompt similarity (a table has no list of twins)."""
    if config.twins == "derived":
        raise InputError("twins: derived is CodeNet's list; a table has none (use auto, "
                         "statements or none)", field="twins")
    clusters, how = twins.cluster_problems(
        [info.problem_id for info in infos], statements={i.problem_id: i.prompt for i in infos},
        method=config.twins, threshold=config.twin_similarity)
    for info in infos:
        info.cluster_id = clusters[info.problem_id]
    return twins.summary(clusters, how)


def plan_table(config: PrepareConfig, work: Path) -> tuple[list[ShardTask], dict, Counter]:
    """Validate the table while hash-partitioning it by problem into Parquet parts."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ocrl.problems import load_problems

    path = Path(config.path)
    if not path.is_file():
        raise InputError("file not found", path=str(path), field="path")
    columns = _table_columns(config)
    if config.source == "table" and "problem_id" not in config.columns:
        # ocrl's own files call it task_id; accept either without a mapping.
        first = next(_iter_table_rows(path, None), None)
        if first is not None and "problem_id" not in first[1] and "task_id" in first[1]:
            columns["problem_id"] = "task_id"
    for needed in ("problem_id", "completion"):
        if needed not in columns:
            raise InputError(f"map the {needed!r} field to a column (--columns "
                             f"{needed}=COLUMN)", path=str(path), field="columns")
    if "status" not in columns and "passed" not in columns:
        raise InputError("map 'status' or 'passed' to a column", path=str(path), field="columns")
    problems = load_problems(config.problems) if config.problems else None
    if config.source == "labelled" and problems is None:
        raise InputError("labelled samples need --problems (the problems JSONL they were judged "
                         "against)", field="problems")
    source_name = config.source_name or f"{config.source}:{path.name}"
    # `ocrl label` judges with the CPython running it; a table says so in a column, or not.
    interpreter = CPYTHON if config.source == "labelled" else None
    if path.suffix == ".parquet":
        rows_estimate = pq.ParquetFile(path).metadata.num_rows
    else:
        rows_estimate = path.stat().st_size // (100 if path.suffix == ".gz" else 400)
    parts = math.ceil(rows_estimate / max(1, config.shard_rows))
    if rows_estimate >= 4000:  # enough work to be worth every core
        parts = max(parts, 2 * worker_count(config))
    parts = max(1, min(256, parts))
    part_dir = work / "partitions"
    marker = part_dir / "complete.json"
    counts: Counter = Counter()
    if config.resume and marker.is_file():
        state = json.loads(marker.read_text(encoding="utf-8"))
        counts.update(state["counts"])
        seen = {int(k): v for k, v in state["problems"].items()}
        prompts = state["prompts"]
        parts = state["parts"]
    else:
        shutil.rmtree(part_dir, ignore_errors=True)
        part_dir.mkdir(parents=True)
        writers: dict[int, pq.ParquetWriter] = {}
        buffers: dict[int, list[dict]] = {i: [] for i in range(parts)}
        seen: dict[int, list[str]] = {i: [] for i in range(parts)}
        seen_sets: dict[int, set[str]] = {i: set() for i in range(parts)}
        prompts: dict[str, str] = {}
        schema = schemas().partition

        def flush(part: int) -> None:
            if not buffers[part]:
                return
            if part not in writers:
                writers[part] = pq.ParquetWriter(part_dir / f"part-{part:05d}.parquet.tmp",
                                                 schema, compression="zstd")
            writers[part].write_table(pa.Table.from_pylist(buffers[part], schema=schema))
            buffers[part] = []

        wanted = list(dict.fromkeys(columns.values()))
        for number, row in _iter_table_rows(path, wanted):
            counts["rows_read"] += 1
            where = dict(path=str(path), line=number)
            problem_id = row.get(columns["problem_id"])
            if problem_id is None or problem_id == "":
                raise InputError("missing problem id", field=columns["problem_id"], **where)
            problem_id = str(problem_id)
            completion = row.get(columns["completion"])
            if not isinstance(completion, str):
                raise InputError(f"expected a string, got {type(completion).__name__}",
                                 field=columns["completion"], **where)
            if "status" in columns and row.get(columns["status"]) is not None:
                status = row[columns["status"]]
                if status in UNINFORMATIVE_STATUSES:
                    counts["dropped/uninformative_status"] += 1
                    counts[f"dropped/uninformative_status/{status}"] += 1
                    continue
                if status not in STATUSES:
                    raise InputError(f"unknown status {status!r} (expected one of "
                                     f"{', '.join(STATUSES)}; or map a boolean 'passed' column)",
                                     field=columns["status"], **where)
            elif "passed" in columns and row.get(columns["passed"]) is not None:
                status = ACCEPTED if row[columns["passed"]] else WRONG_ANSWER
            else:
                raise InputError("no verdict (status or passed)",
                                 field=columns.get("status", columns.get("passed")), **where)
            if problems is not None and problem_id not in problems:
                counts["dropped/unknown_problem"] += 1
                continue
            if problems is None and problem_id not in prompts:
                prompt = row.get(columns.get("prompt", "\0"))
                if not isinstance(prompt, str):
                    raise InputError("no prompt: give --problems or map a 'prompt' column",
                                     field=columns.get("prompt", "prompt"), **where)
                style = row.get(columns.get("style", "\0")) or "stdio"
                prompts[problem_id] = json.dumps({"prompt": prompt, "style": style})

            origin = row.get(columns.get("origin_id", "\0"))
            part = zlib.crc32(problem_id.encode()) % parts
            if problem_id not in seen_sets[part]:
                seen_sets[part].add(problem_id)
                seen[part].append(problem_id)
            buffers[part].append({
                "problem_id": problem_id, "completion": completion, "status": status,
                "cpu_time_ms": _numeric(row, columns, "cpu_time_ms", float, where),
                "memory_kb": _numeric(row, columns, "memory_kb", float, where),
                "tests_passed": _numeric(row, columns, "tests_passed", int, where),
                "tests_total": _numeric(row, columns, "tests_total", int, where),
                "origin_id": str(origin if origin is not None else number),
                "source": str(row.get(columns.get("source", "\0")) or source_name),
                "interpreter": row.get(columns.get("interpreter", "\0")) or interpreter})
            if len(buffers[part]) >= 5000:
                flush(part)
        for part in range(parts):
            flush(part)
        for part, writer in writers.items():
            writer.close()
            os.replace(part_dir / f"part-{part:05d}.parquet.tmp",
                       part_dir / f"part-{part:05d}.parquet")
        write_json_atomic(marker, {"counts": dict(counts), "problems": seen,
                                   "prompts": prompts, "parts": parts}, indent=None)
    if counts["rows_read"] == 0:
        raise InputError("no rows in table", path=str(path))
    tasks = []
    for part in range(parts):
        part_file = part_dir / f"part-{part:05d}.parquet"
        if not seen.get(part) or not part_file.is_file():
            continue
        infos = {}
        for problem_id in seen[part]:
            if problems is not None:
                infos[problem_id] = _problem_info(problems[problem_id])
            else:
                meta = json.loads(prompts[problem_id])
                infos[problem_id] = ProblemInfo(problem_id, prompt=meta["prompt"],
                                                style=meta["style"])
        tasks.append(ShardTask(len(tasks), "table", [str(part_file)], infos,
                               source_name=source_name))
    if not tasks:
        raise InputError("no usable samples (every row dropped; see counts: "
                         f"{dict(counts)})", path=str(path))
    # Problems without samples still belong in problems.parquet (evaluation needs them).
    extra = {}
    if problems is not None:
        with_samples = {p for ids in seen.values() for p in ids}
        extra = {pid: _problem_info(p) for pid, p in problems.items() if pid not in with_samples}
    how = _assign_twins([info for task in tasks for info in task.problems.values()]
                        + list(extra.values()), config)
    source = {"kind": config.source, "path": str(path), "problems": config.problems,
              "columns": columns, "partitions": parts, "twins": how,
              "problems_without_samples": extra}
    return tasks, source, counts


def table_problems(task: ShardTask) -> Iterator[tuple[ProblemInfo, list[Submission]]]:
    """Each problem of one partition with its samples (a partition fits in memory by design)."""
    import pyarrow.parquet as pq

    table = pq.read_table(task.inputs[0])
    rows: dict[str, list[Submission]] = {}
    columns = table.to_pydict()
    for i in range(table.num_rows):
        rows.setdefault(columns["problem_id"][i], []).append(Submission(
            problem_id=columns["problem_id"][i], completion=columns["completion"][i],
            status=columns["status"][i], cpu_time_ms=columns["cpu_time_ms"][i],
            memory_kb=columns["memory_kb"][i], tests_passed=columns["tests_passed"][i],
            tests_total=columns["tests_total"][i], origin_id=columns["origin_id"][i],
            source=columns["source"][i], interpreter=columns["interpreter"][i]))
    del table, columns
    for problem_id in sorted(rows):
        yield task.problems[problem_id], rows.pop(problem_id)

"""`ocrl prepare`: judged code -> reward-labelled groups in a dataset directory.

Sources: a Project CodeNet tree ("codenet", `sources/codenet.py`), the Parquet that `ocrl label`
writes ("labelled") or any JSONL/Parquet table with a column mapping ("table"; both
`sources/table.py`). Work is split into shards of whole problems (runs of metadata CSVs for
CodeNet; hash partitions of the table otherwise), so that memory holds one shard per worker,
never the whole source, and every core works (`shards.py`); each problem is deduplicated,
scored and grouped on its own (`problem.py`). Finished shards are written atomically with a
fingerprint of the config (`config.py`): a killed run resumes with the shards still to do. The
shards are then merged (`merge.py`) into

    samples.parquet   one row per sample in a kept group: ids, completion, verdict, interpreter,
                      reward parts, reward (the prompt is the problem's, in problems.parquet)
    groups.parquet    group_id, problem_id, split, sample_ids, rewards
    problems.parquet  problem_id, cluster_id, prompt, style, split, difficulty, pass_rate, ...
    ungrouped.parquet the other deduplicated samples, only with keep_ungrouped
    manifest.json     sources, config, counts of everything kept and dropped and why, histogram

Deduplication is `dedup.py`, twin problems (one split per cluster) `twins.py`.
README.md ("prepare") lists every column and manifest field.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from ocrl.errors import InputError
from ocrl.prepare.config import SOURCES, TABLE_FIELDS, PrepareConfig, fingerprint, load_config
from ocrl.prepare.merge import build_manifest, merge_shards, write_dataset, write_manifest
from ocrl.prepare.problem import ProblemResult, process_problem
from ocrl.prepare.schema import SAMPLE_COLUMNS, ProblemInfo, ShardTask, schemas
from ocrl.prepare.shards import WORK_DIR, run_shard, run_shards
from ocrl.prepare.sources.codenet import plan_codenet
from ocrl.prepare.sources.table import LABEL_COLUMNS, plan_table

__all__ = ["LABEL_COLUMNS", "SAMPLE_COLUMNS", "SOURCES", "TABLE_FIELDS", "WORK_DIR",
           "PrepareConfig", "ProblemInfo", "ProblemResult", "ShardTask", "load_config",
           "prepare", "process_problem", "run_shard", "schemas"]


def _work_dir(config: PrepareConfig, out: Path, stamp_value: str) -> Path:
    """The per-run work directory, emptied when an earlier run used another config."""
    work = out / WORK_DIR
    stamp = work / "fingerprint"
    if work.is_dir() and (not config.resume or not stamp.is_file()
                          or stamp.read_text() != stamp_value):
        shutil.rmtree(work)  # a different config: nothing there can be reused
    work.mkdir(parents=True, exist_ok=True)
    stamp.write_text(stamp_value)
    return work


def prepare(config: PrepareConfig) -> dict:
    """Run the whole stage; returns the manifest (also written to OUT/manifest.json)."""
    if not config.path:
        raise InputError("give the source with --path", field="path")
    if not config.out:
        raise InputError("give the output directory with --out", field="out")
    started = time.monotonic()
    out = Path(config.out)
    stamp = fingerprint(config)
    work = _work_dir(config, out, stamp)
    # Until the new manifest lands, the directory must not pass for a finished dataset.
    (out / "manifest.json").unlink(missing_ok=True)
    plan = plan_codenet if config.source == "codenet" else plan_table
    tasks, source, counts = plan(config, work)
    extra_problems = source.pop("problems_without_samples", {})
    merged = merge_shards(run_shards(tasks, config, work, stamp), work, out,
                          config.keep_ungrouped)
    merged.counts.update(counts)
    write_dataset(merged, extra_problems, config, out)
    manifest = build_manifest(merged, source, config, len(tasks), time.monotonic() - started)
    write_manifest(manifest, out)
    if not config.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    return manifest

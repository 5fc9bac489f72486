"""Reference log-probs: computed once per (dataset, model), cached on disk, reused.

The reference is the model before training. Its per-token log-probs of every logged
completion are all the `ref_clip` loss and the KL penalty need, so they are computed in one
pass before training and stored; training then never holds a second model in memory. The
cache key hashes the token ids of the prepared groups and the model's weights, so a changed
dataset, prompt format, truncation or model can never reuse stale numbers. With several
processes the pass is split between them (`shard_of`, `merge_shards`; driven by
`ocrl.trainer.data.reference_for`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import torch

from ocrl.trainer.collator import collate_groups
from ocrl.trainer.logprobs import completion_logps

logger = logging.getLogger(__name__)
CACHE_VERSION = "ref-logps-v2"


def default_cache_dir() -> Path:
    from ocrl.models import cache_root

    return cache_root() / "ref_logprobs"


def dataset_fingerprint(dataset) -> str:
    """Hash of the token ids of every prompt and completion, in order."""
    digest = hashlib.blake2b(digest_size=16)
    for row in dataset.select_columns(["prompt_ids", "completion_ids"]):
        digest.update(torch.tensor(row["prompt_ids"], dtype=torch.int64).numpy().tobytes())
        for completion in row["completion_ids"]:
            digest.update(b"|")
            digest.update(torch.tensor(completion, dtype=torch.int64).numpy().tobytes())
        digest.update(b"#")
    return digest.hexdigest()


def model_fingerprint(model) -> str:
    """Hash of the model's class, config and every weight (names, dtypes, shapes, bytes)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(type(model).__name__.encode())
    config = getattr(model, "config", None)
    if config is not None:
        settings = config.to_dict()
        settings.pop("use_cache", None)  # generation-time only; trainers switch it off
        digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        if tensor.numel():
            # Viewed as bytes (numpy has no bfloat16) and hashed in place, without a copy.
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def cache_key(dataset, model, *, precision: str = "fp32", share_prompt: bool = True) -> str:
    """Everything the numbers depend on: the token ids, the weights, the precision the
    forward ran in, and the layout (shared prompt or not: equal in exact arithmetic, not
    bit for bit)."""
    return hashlib.sha256(f"{CACHE_VERSION}:{dataset_fingerprint(dataset)}:"
                          f"{model_fingerprint(model)}:{precision}:{int(share_prompt)}"
                          .encode()).hexdigest()[:32]


PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def precision_of(args) -> str:
    """The mixed precision a TrainingArguments trains in: fp32, bf16 or fp16."""
    return "bf16" if getattr(args, "bf16", False) else "fp16" if getattr(args, "fp16", False) \
        else "fp32"


def load_cached_logps(path: str | Path, dataset):
    """``dataset`` with the ``ref_logps`` column stored at ``path``."""
    from datasets import load_from_disk

    cached = load_from_disk(str(path))
    if len(cached) != len(dataset):
        raise ValueError(f"reference log-probs in {path} are for {len(cached)} groups, "
                         f"not {len(dataset)}")
    return dataset.add_column("ref_logps", cached["ref_logps"])


@torch.no_grad()
def compute_reference_logps(model, dataset, *, pad_token_id: int, share_prompt: bool = True,
                            batch_size: int = 4, device=None, progress: bool = True,
                            precision: str = "fp32"):
    """Per group, per completion, the list of per-token log-probs under ``model``, computed
    under the autocast the training forward runs in (accelerate's, for bf16/fp16), so the
    ratio to the reference is exactly 1 at the first step."""
    import contextlib

    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    if device is not None:
        model.to(device)
    device = next(model.parameters()).device
    out: list[list[list[float]]] = []
    starts = range(0, len(dataset), batch_size)
    try:
        for start in tqdm(starts, desc="reference log-probs", disable=not progress):
            features = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
            batch = collate_groups(features, pad_token_id=pad_token_id, share_prompt=share_prompt)
            batch = {k: v.to(device) for k, v in batch.items()}
            dtype = PRECISIONS[precision]
            with (torch.autocast(device_type=device.type, dtype=dtype) if dtype is not None
                  else contextlib.nullcontext()):
                logp = completion_logps(model, batch).float().cpu()
            lengths = batch["target_mask"].sum(1).cpu().tolist()
            row = 0
            for feature in features:
                group = []
                for _ in feature["completion_ids"]:
                    group.append(logp[row, :lengths[row]].tolist())
                    row += 1
                out.append(group)
    finally:
        model.train(was_training)
    return out


def reference_cache_path(model, dataset, *, cache_dir: str | Path | None,
                         share_prompt: bool = True, precision: str = "fp32") -> Path:
    """Where the reference log-probs of ``dataset`` under ``model`` are (or will be) cached."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    return cache_dir / cache_key(dataset, model, precision=precision, share_prompt=share_prompt)


def read_cache(path: Path, dataset):
    """``dataset`` with the cached ``ref_logps``, or None when there is no usable cache (a
    cache for another number of groups is removed)."""
    if not (path / "dataset_info.json").is_file():
        return None
    try:
        with_ref = load_cached_logps(path, dataset)
    except ValueError as exc:
        logger.warning("%s; recomputing", exc)
        shutil.rmtree(path, ignore_errors=True)
        return None
    logger.info("reference log-probs: reusing %s", path)
    return with_ref


def write_cache(path: Path, values) -> None:
    from datasets import Dataset

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    Dataset.from_dict({"ref_logps": values}).save_to_disk(str(tmp))
    try:
        tmp.rename(path)  # atomic: a killed run never leaves a half-written cache
    except OSError:  # someone else published it first
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("reference log-probs: cached in %s", path)


def attach_reference_logps(model, dataset, *, pad_token_id: int, cache_dir: str | Path | None,
                           share_prompt: bool = True, batch_size: int = 4, device=None,
                           precision: str = "fp32"):
    """``dataset`` with a ``ref_logps`` column, from the cache or computed (then cached), by
    this process alone (see `shard_of` for the pass split across processes)."""
    path = reference_cache_path(model, dataset, cache_dir=cache_dir, share_prompt=share_prompt,
                                precision=precision)
    with_ref = read_cache(path, dataset)
    if with_ref is not None:
        return with_ref, path
    values = compute_reference_logps(model, dataset, pad_token_id=pad_token_id,
                                     share_prompt=share_prompt, batch_size=batch_size,
                                     device=device, precision=precision)
    write_cache(path, values)
    return dataset.add_column("ref_logps", values), path


def shard_of(n_groups: int, batch_size: int, rank: int, world: int) -> list[int]:
    """The groups process ``rank`` of ``world`` computes: whole batches of the one-process
    pass, dealt round-robin, so that every batch (and its padding) is the one a single
    process would run and the numbers are the same bit for bit."""
    return [i for start in range(rank * batch_size, n_groups, world * batch_size)
            for i in range(start, min(start + batch_size, n_groups))]


def merge_shards(n_groups: int, shards) -> list:
    """The per-group values in dataset order, from (indices, values) pairs of every process."""
    merged: list = [None] * n_groups
    for indices, values in shards:
        for index, value in zip(indices, values):
            merged[index] = value
    missing = [i for i, value in enumerate(merged) if value is None]
    if missing:
        raise RuntimeError(f"reference log-probs: no process computed groups {missing[:10]}")
    return merged

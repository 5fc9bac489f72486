"""What a trainer trains on, from whatever the user holds, in one place for the API and the CLI.

`training_dataset` takes logged rows (``prompt, completion, reward[, group]``, TRL style; see
`ocrl.trainer.rows`), ocrl groups (``completions, rewards`` per problem, as `ocrl prepare`
writes them) or an already prepared dataset (``prompt_ids, completion_ids, advantages``), and
returns the prepared dataset with advantages, the zero-variance and length policies applied,
the groups a ``max_steps`` run visits, and the reference log-probs where the loss needs them.
"""

from __future__ import annotations

from typing import Any

from ocrl.errors import InputError
from ocrl.trainer.config import OcrlSFTConfig, OcrlTrainingArguments, OfflineRLConfig

PREPARED_COLUMNS = ("prompt_ids", "completion_ids", "advantages")


def is_prepared(data) -> bool:
    columns = getattr(data, "column_names", None) or []
    return all(c in columns for c in PREPARED_COLUMNS)


def training_dataset(args: OfflineRLConfig | OcrlSFTConfig, model, tokenizer, data, *,
                     prompt_format: str | None = None,
                     source: str = "train_dataset") -> tuple[Any, dict[str, Any]]:
    """(prepared datasets.Dataset, what happened to the data: counts, reference cache)."""
    from ocrl import prompting
    from ocrl.trainer.groups import prepare_groups
    from ocrl.trainer.rows import groups_from_rows, is_logged_rows

    info: dict[str, Any] = {}
    if data is None:
        raise InputError("a train_dataset is needed", field="train_dataset")
    if not hasattr(data, "column_names") and not isinstance(data, list):
        data = list(data)  # any iterable of dicts, read once
    if is_prepared(data):
        dataset = data
    else:
        if is_logged_rows(data):
            groups, prompt_format = groups_from_rows(
                data, tokenizer, allow_single=args.advantage == "none", source=source)
        else:
            groups = data
            prompt_format = prompt_format or prompting.detect_format(tokenizer)
        dataset, stats = prepare_groups(
            groups, tokenizer, prompt_format=prompt_format, advantage=args.advantage,
            advantage_eps=args.advantage_eps, advantage_clip=args.advantage_clip,
            zero_advantage=args.zero_advantage, max_prompt_length=args.max_prompt_length,
            max_completion_length=args.max_completion_length, source=source)
        dataset = visited_groups(args, dataset)
        info["groups"] = {**stats.to_dict(), "visited": len(dataset)}
    needs_reference = isinstance(args, OfflineRLConfig) and args.needs_reference
    if needs_reference and "ref_logps" not in dataset.column_names:
        dataset, cache_path = reference_for(args, model, dataset, tokenizer)
        info["reference_cache"] = str(cache_path)
    return dataset, info


def visited_groups(args: OcrlTrainingArguments, dataset):
    """The groups a run bounded by ``max_steps`` will train on, when that is fewer than all:
    a random subset (seeded by ``args.seed``) of exactly one step's worth per step, so the
    reference pass, which runs before step 1, is spent only on groups that are used."""
    if args.max_steps is None or args.max_steps <= 0:
        return dataset
    needed = (args.max_steps * args.per_device_train_batch_size *
              args.gradient_accumulation_steps * max(1, args.world_size))
    if needed >= len(dataset):
        return dataset
    return dataset.shuffle(seed=args.seed).select(range(needed)).flatten_indices()


def only_main_holds_weights() -> bool:
    """Under FSDP with memory-efficient loading (fsdp_cpu_ram_efficient_loading), transformers
    loads real weights on the main process only; the others hold placeholders until FSDP
    broadcasts them at preparation, after the reference pass."""
    import os

    return all(os.environ.get(name, "false").lower() == "true"
               for name in ("ACCELERATE_USE_FSDP", "FSDP_CPU_RAM_EFFICIENT_LOADING"))


def reference_for(args: OfflineRLConfig, model, dataset, tokenizer):
    """Attach reference log-probs; the model is still the untouched starting point.

    The main process hashes the model and looks for a cached pass. Without one, every process
    computes its share of the groups (`shard_of`) and all shares are gathered on every
    process; the main process writes the cache. Where only the main process holds real
    weights (see `only_main_holds_weights`) it computes them all and the others read its
    cache."""
    from transformers.integrations import is_deepspeed_zero3_enabled

    from ocrl.trainer import ref_logprobs as ref

    if is_deepspeed_zero3_enabled():
        raise InputError("ref_clip / kl_beta need reference log-probs, which ocrl computes "
                         "before training with whole weights; under DeepSpeed ZeRO-3 no process "
                         "holds them. Use ZeRO-2 or FSDP, or ZeRO-3 with loss pg and kl_beta 0.",
                         field="loss")
    settings = {"share_prompt": args.share_prompt, "precision": ref.precision_of(args)}
    compute = {**settings, "pad_token_id": tokenizer.pad_token_id,
               "batch_size": args.ref_batch_size, "device": args.device}
    if args.world_size <= 1:
        return ref.attach_reference_logps(model, dataset, cache_dir=args.ref_cache_dir, **compute)
    from accelerate.utils import broadcast_object_list, gather_object

    if only_main_holds_weights():
        path = None
        if args.process_index == 0:
            dataset_with, path = ref.attach_reference_logps(
                model, dataset, cache_dir=args.ref_cache_dir, **compute)
        path = broadcast_object_list([path])[0]
        if args.process_index != 0:
            dataset_with = ref.load_cached_logps(path, dataset)
        return dataset_with, path
    found = None
    if args.process_index == 0:
        path = ref.reference_cache_path(model, dataset, cache_dir=args.ref_cache_dir, **settings)
        found = ref.read_cache(path, dataset) is not None
    path, found = broadcast_object_list([path if args.process_index == 0 else None, found])
    if found:
        return ref.load_cached_logps(path, dataset), path
    mine = ref.shard_of(len(dataset), args.ref_batch_size, args.process_index, args.world_size)
    values = ref.compute_reference_logps(model, dataset.select(mine), **compute,
                                         progress=args.process_index == 0)
    values = ref.merge_shards(len(dataset), gather_object([(mine, values)]))
    if args.process_index == 0:
        ref.write_cache(path, values)
    return dataset.add_column("ref_logps", values), path

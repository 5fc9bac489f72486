"""The engine the launcher asked for is the one that runs, or the run stops.

FSDP2 on CPU processes (gloo), which accelerate itself does not offer:

`accelerate launch --config_file configs/accelerate/fsdp.yaml` sets ACCELERATE_USE_FSDP, but
when the processes run on CPU (``--use_cpu true``, or no GPU) accelerate's state becomes
MULTI_CPU and drops the FSDP plugin: the run silently trains as DDP. Here the plugin is put
back, so the model is sharded with torch's ``fully_shard`` over gloo exactly as on GPUs (the
same accelerate code path prepares it). FSDP features with no CPU meaning are refused, not
ignored.

This sets two attributes of accelerate's shared state (``distributed_type``, ``fsdp_plugin``)
that accelerate's own constructor would have set on GPUs: tested with accelerate 1.16 (see
tests/test_trainer_distributed.py), so CPU FSDP refuses to run under any release outside
``TESTED_ACCELERATE`` rather than guess at another release's internals (GPU runs, which use
accelerate's own path, are not gated).
"""

from __future__ import annotations

import os

from ocrl.errors import InputError

TESTED_ACCELERATE = ((1, 16), (1, 17))  # [low, high): releases CPU FSDP was tested with


def check_accelerate_release(version: str) -> None:
    """Refuse CPU FSDP under an accelerate release its internals were not tested with."""
    major_minor = tuple(int(part) for part in version.split(".")[:2])
    (low, high) = TESTED_ACCELERATE
    if not low <= major_minor < high:
        raise InputError(f"FSDP on CPU processes reaches inside accelerate and is tested with "
                         f"accelerate >={low[0]}.{low[1]},<{high[0]}.{high[1]}; this is "
                         f"{version}: install a tested release or train with ddp.yaml",
                         field="accelerate")


def fsdp_requested(args) -> bool:
    """Whether the run asked for FSDP: accelerate's launcher (config file) or TrainingArguments."""
    return (os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
            or getattr(args, "fsdp_plugin_args", None) is not None)


def cpu_fsdp_plugin(args, mixed_precision: str):
    """The FSDP plugin the run asked for, checked for what runs on CPU."""
    from accelerate.utils import FullyShardedDataParallelPlugin

    plugin = (FullyShardedDataParallelPlugin(**args.fsdp_plugin_args)
              if getattr(args, "fsdp_plugin_args", None) is not None
              else FullyShardedDataParallelPlugin())  # from accelerate launch's environment
    if plugin.fsdp_version != 2:
        raise InputError("FSDP on CPU runs only as FSDP2 (fsdp_version: 2 in "
                         "configs/accelerate/fsdp.yaml); FSDP1 is GPU-only here",
                         field="fsdp_version")
    from torch.distributed.fsdp import CPUOffloadPolicy

    if isinstance(plugin.cpu_offload, CPUOffloadPolicy):
        raise InputError("fsdp_offload_params offloads to CPU memory, which a CPU run already "
                         "uses: set fsdp_offload_params: false for CPU processes",
                         field="fsdp_offload_params")
    if mixed_precision != "no":
        plugin.set_mixed_precision(mixed_precision)
    return plugin


def enable_cpu_fsdp(accelerator, args) -> bool:
    """Make a CPU run that asked for FSDP run FSDP2; True when it did. A no-op on GPUs (where
    accelerate already runs FSDP) and when FSDP was not asked for."""
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType

    if not fsdp_requested(args) or accelerator.distributed_type == DistributedType.FSDP:
        return False
    if accelerator.distributed_type not in (DistributedType.MULTI_CPU, DistributedType.NO) \
            or accelerator.device.type != "cpu":
        raise InputError(f"FSDP was asked for but accelerate runs {accelerator.distributed_type} "
                         f"on {accelerator.device}: refusing to train unsharded", field="fsdp")
    if accelerator.num_processes < 2:
        raise InputError("FSDP on CPU needs at least 2 processes (accelerate launch "
                         "--num_processes 2); one process has nothing to shard with",
                         field="num_processes")
    import accelerate

    check_accelerate_release(accelerate.__version__)
    state = accelerator.state
    state.fsdp_plugin = cpu_fsdp_plugin(args, str(state.mixed_precision))
    state.distributed_type = DistributedType.FSDP
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP
    return True


def require_deepspeed(accelerator) -> None:
    """DeepSpeed asked for (a deepspeed_*.yaml config) but not running is an error: on CPU
    processes accelerate drops it and would train as DDP. DeepSpeed's CPU path was tried with
    accelerate 1.16 and deepspeed 0.19.8 and does not run (README, "Several processes")."""
    from accelerate.utils import DistributedType

    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true" \
            and accelerator.distributed_type != DistributedType.DEEPSPEED:
        raise InputError(f"a DeepSpeed config was launched but accelerate runs "
                         f"{accelerator.distributed_type} on {accelerator.device}: DeepSpeed needs "
                         "GPUs here (use configs/accelerate/fsdp.yaml or ddp.yaml on CPU)",
                         field="distributed_type")

"""The engine a config asks for runs or the run stops: FSDP features with no CPU meaning and
DeepSpeed without its engine are refused by name, not silently replaced by DDP."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ocrl.errors import InputError
from ocrl.trainer.engines import (TESTED_ACCELERATE, check_accelerate_release, cpu_fsdp_plugin,
                                  fsdp_requested, require_deepspeed)


def _launcher_env(monkeypatch, **settings):
    # what `accelerate launch --config_file configs/accelerate/fsdp.yaml` exports
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    for name, value in {"FSDP_VERSION": "2", "FSDP_OFFLOAD_PARAMS": "false", **settings}.items():
        monkeypatch.setenv(name, value)


def test_fsdp2_from_the_launcher_is_accepted(monkeypatch):
    _launcher_env(monkeypatch)
    args = SimpleNamespace(fsdp_plugin_args=None)
    assert fsdp_requested(args)
    assert cpu_fsdp_plugin(args, "no").fsdp_version == 2


def test_fsdp1_on_cpu_is_refused(monkeypatch):
    _launcher_env(monkeypatch, FSDP_VERSION="1")
    with pytest.raises(InputError, match="fsdp_version.*FSDP2"):
        cpu_fsdp_plugin(SimpleNamespace(fsdp_plugin_args=None), "no")


def test_param_offload_on_cpu_is_refused(monkeypatch):
    _launcher_env(monkeypatch, FSDP_OFFLOAD_PARAMS="true")
    with pytest.raises(InputError, match="fsdp_offload_params"):
        cpu_fsdp_plugin(SimpleNamespace(fsdp_plugin_args=None), "no")


def test_no_fsdp_asked(monkeypatch):
    monkeypatch.delenv("ACCELERATE_USE_FSDP", raising=False)
    assert not fsdp_requested(SimpleNamespace(fsdp_plugin_args=None))


def test_deepspeed_config_without_deepspeed_running_is_refused(monkeypatch):
    from accelerate.utils import DistributedType

    fell_back = SimpleNamespace(distributed_type=DistributedType.MULTI_CPU, device="cpu")
    monkeypatch.delenv("ACCELERATE_USE_DEEPSPEED", raising=False)
    require_deepspeed(fell_back)  # nothing asked, nothing to refuse
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    with pytest.raises(InputError, match="DeepSpeed needs GPUs"):
        require_deepspeed(fell_back)
    require_deepspeed(SimpleNamespace(distributed_type=DistributedType.DEEPSPEED, device="cuda"))


def test_cpu_fsdp_is_gated_to_the_tested_accelerate_releases():
    import accelerate

    check_accelerate_release(accelerate.__version__)  # the installed one is the tested one
    (low, high) = TESTED_ACCELERATE
    check_accelerate_release(f"{low[0]}.{low[1]}.0")  # both ends of the range
    check_accelerate_release(f"{high[0]}.{high[1] - 1}.9")
    for outside in (f"{high[0]}.{high[1]}.0", f"{low[0]}.{low[1] - 1}.3", "2.0.0"):
        with pytest.raises(InputError, match="tested with accelerate"):
            check_accelerate_release(outside)

"""FSDP features with no CPU meaning are refused by name, not silently dropped."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ocrl.errors import InputError
from ocrl.trainer.cpu_fsdp import cpu_fsdp_plugin, fsdp_requested


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

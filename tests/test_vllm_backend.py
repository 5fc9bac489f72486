"""The vLLM backend's selection and output mapping, with a stand-in `vllm` module (no GPU here:
the real engine is never loaded in CI)."""

from __future__ import annotations

import sys
import types

import pytest

from ocrl.errors import InputError
from ocrl.evaluation import vllm_sampler as sampler_module
from ocrl.evaluation.run import EvalConfig, use_vllm
from ocrl.evaluation.sampler import SamplingConfig
from ocrl.evaluation.vllm_sampler import VLLMSampler


class _Tokenizer:
    def __call__(self, text, add_special_tokens=True):
        return types.SimpleNamespace(input_ids=[ord(c) for c in text])


@pytest.fixture
def fake_vllm(monkeypatch):
    calls = {}

    class LLM:
        def __init__(self, model, tokenizer, seed):
            calls["init"] = (model, tokenizer, seed)

        def generate(self, inputs, params, use_tqdm):
            calls["inputs"], calls["params"] = inputs, params
            choice = lambda text, reason: types.SimpleNamespace(  # noqa: E731
                text=text, token_ids=list(range(len(text))), finish_reason=reason)
            return [types.SimpleNamespace(outputs=[choice("ab", "stop"), choice("abcd", "length")])
                    for _ in inputs]

    class SamplingParams:
        def __init__(self, **kwargs):
            self.__dict__.update(kwargs)

    module = types.ModuleType("vllm")
    module.LLM, module.SamplingParams = LLM, SamplingParams
    monkeypatch.setitem(sys.modules, "vllm", module)
    return calls


def test_auto_uses_vllm_only_with_the_package_and_a_gpu(monkeypatch):
    monkeypatch.setattr(sampler_module, "vllm_available", lambda: False)
    assert use_vllm(EvalConfig(backend="auto")) is False
    assert use_vllm(EvalConfig(backend="transformers")) is False
    with pytest.raises(InputError, match="vllm package and a CUDA GPU"):
        use_vllm(EvalConfig(backend="vllm"))
    monkeypatch.setattr(sampler_module, "vllm_available", lambda: True)
    assert use_vllm(EvalConfig(backend="auto")) is True
    assert use_vllm(EvalConfig(backend="transformers")) is False


def test_vllm_available_needs_cuda_even_when_installed(fake_vllm, monkeypatch):
    import importlib.util

    import torch

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert sampler_module.vllm_available() is False
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert sampler_module.vllm_available() is True


def test_vllm_outputs_map_to_generations(fake_vllm):
    sampler = VLLMSampler("/models/m", _Tokenizer(), stop=["\n\n\n"])
    config = SamplingConfig(n=2, temperature=0.0, top_p=0.9, max_new_tokens=7, seed=3)
    results = sampler.generate(["hi", "yo"], config, seed_key="k")
    assert [[g.text for g in row] for row in results] == [["ab", "abcd"], ["ab", "abcd"]]
    assert [g.finish for g in results[0]] == ["stop", "length"]
    assert [g.n_tokens for g in results[0]] == [2, 4]
    assert sampler.stats.generated_tokens == 12
    params = fake_vllm["params"]
    # Greedy: temperature 0 and no nucleus cut; the seed is the sampler's derived one.
    assert (params.n, params.temperature, params.top_p, params.max_tokens) == (2, 0.0, 1.0, 7)
    assert params.seed == sampler_module.derive_seed(3, "k") and params.stop == ["\n\n\n"]
    assert fake_vllm["inputs"][0] == {"prompt_token_ids": [ord("h"), ord("i")]}

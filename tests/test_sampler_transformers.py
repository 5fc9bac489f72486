"""The continuous-batching sampler runs only on the transformers releases it is tested with.

Its cache layer subclasses transformers' DynamicLayer, so a new release may change what it
relies on without any error. These tests fail loudly when the installed transformers is
outside the pinned range (widen the range only after tests/test_eval.py's sampler checks pass
with the new release), and check that the sampler calls no deprecated transformers API."""

from __future__ import annotations

import re
import tomllib
import warnings
from pathlib import Path

import pytest
import torch

from tiny_lm import make_model, make_tokenizer

ROOT = Path(__file__).resolve().parent.parent


def _pinned_range() -> str:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (spec,) = [d for d in dependencies if re.match(r"transformers\b", d)]
    return spec[len("transformers"):]


def test_installed_transformers_is_one_the_sampler_was_tested_with():
    import transformers
    from packaging.specifiers import SpecifierSet

    from ocrl.evaluation.sampler import TESTED_TRANSFORMERS

    assert SpecifierSet(_pinned_range()) == SpecifierSet(TESTED_TRANSFORMERS), (
        "pyproject.toml's transformers range and the sampler's TESTED_TRANSFORMERS differ")
    assert transformers.__version__ in SpecifierSet(TESTED_TRANSFORMERS), (
        f"transformers {transformers.__version__} is outside {TESTED_TRANSFORMERS}, the range "
        "the sampler's DynamicLayer subclass is tested with: run tests/test_eval.py with it "
        "and widen TESTED_TRANSFORMERS and pyproject.toml together")


def test_greedy_sampling_uses_no_deprecated_transformers_api():
    """transformers deprecates forward's ``past_key_values`` (removed in 5.40) with a
    FutureWarning; the sampler's decoding raises none, and still matches model.generate."""
    from ocrl.evaluation.sampler import SamplingConfig, TransformersSampler

    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer), seed=2)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    prompts = ["def f(x):\n    return", "a = 1\n", "x"]
    config = SamplingConfig(n=2, temperature=0.0, max_new_tokens=8, batch_size=2)
    sampler = TransformersSampler(model, tokenizer, engine="continuous")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        results = sampler.generate(prompts, config)
    for prompt, row in zip(prompts, results):
        encoded = tokenizer(prompt, return_tensors="pt")
        with torch.no_grad():
            output = model.generate(**encoded, max_new_tokens=8, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id)
        expected = tokenizer.decode(output[0, encoded.input_ids.shape[1]:],
                                    skip_special_tokens=True)
        assert [g.text for g in row] == [expected, expected]


@pytest.mark.parametrize("version", ["5.23.0", "5.25.0", "6.0.0"])
def test_versions_outside_the_range_are_caught(version):
    """The ends as tested: 5.24.0 by the whole suite. 5.25.0 passed the sampler's tests too
    but is outside until the whole suite has run with it."""
    from packaging.specifiers import SpecifierSet

    from ocrl.evaluation.sampler import TESTED_TRANSFORMERS

    assert version not in SpecifierSet(TESTED_TRANSFORMERS)


def test_decode_profile_accounts_for_every_generated_token():
    """Each sequence's first token comes from its prefill and every later one from a decode
    step in which it was live (one token, or more with kept drafts), so the profile's decode
    tokens plus one per sequence is the token count; the rows carried (finished ones ride along
    until dropped) are at least the live ones."""
    from ocrl.evaluation.sampler import SamplingConfig, TransformersSampler

    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer), seed=3)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    prompts = ["def f(x):\n    return", "a = 1\n", "x", "print(1)"]
    config = SamplingConfig(n=3, temperature=1.0, max_new_tokens=12, batch_size=4)
    sampler = TransformersSampler(model, tokenizer, engine="continuous")
    assert sampler.stats.decode_profile() == {}
    results = sampler.generate(prompts, config)
    stats = sampler.stats
    sequences = len(prompts) * config.n
    assert sum(g.n_tokens for row in results for g in row) == stats.generated_tokens
    assert stats.generated_tokens == sequences + stats.decode_tokens
    assert stats.decode_live_rows <= stats.decode_tokens <= \
        stats.decode_live_rows + stats.draft_kept
    assert stats.decode_live_rows <= stats.decode_rows <= config.batch_size * stats.decode_steps
    profile = stats.decode_profile()
    assert profile["steps"] == stats.decode_steps > 0
    assert profile["live_rows"] == stats.decode_live_rows / stats.decode_steps
    assert profile["cache_columns"] >= 2  # at least a prompt token and a generated one
    assert profile["decode_seconds"] + profile["prefill_seconds"] <= stats.generate_seconds


def test_in_place_gqa_attention_matches_sdpa_without_repeating_kv_heads(monkeypatch):
    """The sampler's attention (ocrl.evaluation.attention) for a multi-token query with a mask
    over a cache: the same logits as transformers' sdpa, without sdpa's copy of every KV head
    (repeat_kv), and the model's own attention restored after the block."""
    import transformers.integrations.sdpa_attention as sdpa
    from transformers import DynamicCache

    from ocrl.evaluation.attention import in_place_gqa
    from ocrl.evaluation.sampler import _cache_argument

    model = make_model(40, seed=4).eval()
    cache_arg = _cache_argument(model)
    assert model.config.num_key_value_heads < model.config.num_attention_heads
    repeats = []
    real_repeat_kv = sdpa.repeat_kv
    monkeypatch.setattr(sdpa, "repeat_kv", lambda *a: repeats.append(1) or real_repeat_kv(*a))
    prompt = torch.tensor([[0, 0, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14]])
    prompt_mask = torch.tensor([[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]])
    step = torch.tensor([[20, 21, 22], [23, 24, 25]])
    mask = torch.cat([prompt_mask, torch.ones(2, 3, dtype=torch.long)], dim=1)
    positions = torch.tensor([[4, 5, 6], [6, 7, 8]])

    def step_logits():
        cache = DynamicCache(config=model.config)
        with torch.no_grad():
            model(input_ids=prompt, attention_mask=prompt_mask,
                  position_ids=(prompt_mask.cumsum(-1) - 1).clamp(min=0), **{cache_arg: cache})
            return model(input_ids=step, attention_mask=mask, position_ids=positions,
                         **{cache_arg: cache}).logits

    expected = step_logits()
    assert repeats, "transformers' sdpa no longer repeats KV heads: attention.py may be moot"
    repeats.clear()
    with in_place_gqa(model):
        assert model.config._attn_implementation != "sdpa"
        got = step_logits()
    assert not repeats
    assert model.config._attn_implementation == "sdpa"
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)

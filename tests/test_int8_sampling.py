"""benchmarks/int8_sampling.py's variants: which linear layers each quantizes, and that a
quantized model still samples (the benchmark's numbers are in README "Measured")."""

from __future__ import annotations

import pytest
import torch

from benchmark_scripts import load_benchmark
from tiny_lm import make_model, make_tokenizer


def test_each_variant_quantizes_its_layers():
    script = load_benchmark("int8_sampling")
    model = make_model(40, layers=2)
    names = {variant: script.quantized_layers(model, variant) for variant in script.VARIANTS}
    per_layer = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                 "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]
    every = [f"model.layers.{i}.{name}" for i in range(2) for name in per_layer] + ["lm_head"]
    assert names["float32"] == []
    assert names["int8-output"] == ["lm_head"]
    assert names["int8-all"] == every
    assert names["int8-no-down"] == [name for name in every if not name.endswith("down_proj")]
    with pytest.raises(ValueError, match="unknown variant"):
        script.quantized_layers(model, "int4")


def test_a_quantized_model_samples_and_keeps_float32_embeddings():
    from ocrl.evaluation.sampler import SamplingConfig, TransformersSampler

    script = load_benchmark("int8_sampling")
    tokenizer = make_tokenizer()
    model = script.quantize(make_model(len(tokenizer), seed=1).eval(), "int8-no-down")
    assert "quantized" in type(model.model.layers[0].mlp.up_proj).__module__
    assert type(model.model.layers[0].mlp.down_proj) is torch.nn.Linear
    assert model.model.embed_tokens.weight.dtype == torch.float32
    out = TransformersSampler(model, tokenizer, engine="continuous").generate(
        ["def f(x):", "a = 1"], SamplingConfig(max_new_tokens=6, batch_size=2))
    assert [len(row) for row in out] == [1, 1] and all(row[0].n_tokens >= 1 for row in out)

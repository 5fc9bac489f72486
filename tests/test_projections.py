"""The sampler's linear layers as transposed products (ocrl.evaluation.projections): the same
products (bit for bit on SmolLM2's shapes in the rows where it is used, to float rounding on
others) and the same answers."""

from __future__ import annotations

import pytest
import torch

from tiny_lm import make_model, make_tokenizer


@pytest.mark.parametrize("shape", [(1, 24), (16, 24), (4, 5, 24), (65, 24)])
@pytest.mark.parametrize("bias", [False, True])
def test_transposed_linear_is_linear(shape, bias):
    """To float rounding inside the rows it applies to; outside them it is ``linear`` itself."""
    from ocrl.evaluation.projections import MAX_ROWS, MIN_ROWS, transposed_linear

    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(*shape, generator=generator)
    weight = torch.randn(40, 24, generator=generator)
    b = torch.randn(40, generator=generator) if bias else None
    expected = torch.nn.functional.linear(hidden, weight, b)
    got = transposed_linear(hidden, weight, b)
    assert got.shape == expected.shape and got.is_contiguous()
    rows = hidden.numel() // hidden.shape[-1]
    if MIN_ROWS <= rows <= MAX_ROWS:
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    else:
        assert torch.equal(got, expected)


@pytest.mark.parametrize("rows", [16, 17, 33, 48, 64])
@pytest.mark.parametrize("shape", [(576, 576), (192, 576), (1536, 576), (576, 1536)])
def test_smollm2s_projections_are_bit_identical(rows, shape):
    """SmolLM2-135M's projection shapes (q/o, k/v, gate/up, down) give the very products of
    ``linear`` for the row counts the transposed product is used at: the sampler's greedy
    answers cannot move. (The weight's values do not matter to which kernel runs.)"""
    from ocrl.evaluation.projections import transposed_linear

    generator = torch.Generator().manual_seed(rows)
    weight = torch.randn(*shape, generator=generator) * 0.05
    hidden = torch.randn(rows, 1, shape[1], generator=generator)
    with torch.no_grad():
        assert torch.equal(transposed_linear(hidden, weight),
                           torch.nn.functional.linear(hidden, weight))


def test_transposed_linear_keeps_the_graph_where_autograd_needs_it():
    from ocrl.evaluation.projections import transposed_linear

    weight = torch.randn(10, 4, requires_grad=True)
    transposed_linear(torch.randn(32, 4), weight).sum().backward()
    assert weight.grad is not None and weight.grad.shape == weight.shape


def test_sampler_answers_are_unchanged_and_the_layers_restored(monkeypatch):
    """With the row range opened to the tiny model's rows, greedy answers (with drafts) and
    sampled ones are those of plain ``linear``; every decoder projection ran the transposed
    product and the output layer did not; after the call the forwards are the layers' own."""
    from ocrl.evaluation import projections
    from ocrl.evaluation.sampler import SamplingConfig, TransformersSampler

    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer), seed=3)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    prompts = ["x", "def f(x):\n    return x + x + x", "a = 1\nb", "print(1)"]
    weights = []
    transposed = projections.transposed_linear

    def counting(hidden, weight, bias=None):
        weights.append(weight)
        return transposed(hidden, weight, bias)

    monkeypatch.setattr(projections, "transposed_linear", counting)

    def run(config, min_rows):
        monkeypatch.setattr(projections, "MIN_ROWS", min_rows)
        out = TransformersSampler(model, tokenizer, engine="continuous").generate(prompts, config)
        return [[(g.text, g.n_tokens) for g in row] for row in out]

    linears = [m for m in model.modules() if type(m) is torch.nn.Linear]
    for config in (SamplingConfig(max_new_tokens=16, batch_size=3, draft_tokens=4),
                   SamplingConfig(n=2, temperature=0.8, max_new_tokens=16, batch_size=3)):
        plain = run(config, 10**9)  # no row count reaches it: linear throughout
        weights.clear()
        assert run(config, 1) == plain
        used = {id(w) for w in weights}
        assert used == {id(m.weight) for m in linears if m is not model.lm_head}
        assert all("forward" not in vars(m) for m in linears)


def test_only_plain_float32_cpu_linears_are_switched():
    from ocrl.evaluation.projections import transposed_projections

    model = make_model(40, layers=1)

    class Scaled(torch.nn.Linear):
        pass

    attention = model.model.layers[0].self_attn
    attention.q_proj = Scaled(attention.q_proj.in_features, attention.q_proj.out_features,
                              bias=False)
    attention.k_proj = attention.k_proj.to(torch.float64)
    with transposed_projections(model):
        switched = {name for name, m in model.named_modules() if "forward" in vars(m)}
    assert switched == {"model.layers.0.self_attn.v_proj", "model.layers.0.self_attn.o_proj",
                        "model.layers.0.mlp.gate_proj", "model.layers.0.mlp.up_proj",
                        "model.layers.0.mlp.down_proj"}
    assert not any("forward" in vars(m) for m in model.modules())

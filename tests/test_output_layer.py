"""The sampler's output layer in slices of the vocabulary (ocrl.evaluation.output_layer): the
same logits (bit for bit on SmolLM2's shapes, to float rounding on others) and the same
answers."""

from __future__ import annotations

import pytest
import torch

from tiny_lm import make_model, make_tokenizer


@pytest.mark.parametrize("shape", [(1, 24), (5, 24), (3, 2, 24)])
@pytest.mark.parametrize("bias", [False, True])
def test_sliced_linear_is_linear(shape, bias):
    """Equal to float rounding: a narrow slice may take another kernel than the whole product
    (here 2e-6 apart with slices of 7 words), one slice is the product itself."""
    from ocrl.evaluation.output_layer import sliced_linear

    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(*shape, generator=generator)
    weight = torch.randn(50, 24, generator=generator)
    b = torch.randn(50, generator=generator) if bias else None
    expected = torch.nn.functional.linear(hidden, weight, b)
    for slice_rows in (7, 16):  # uneven last slice
        torch.testing.assert_close(sliced_linear(hidden, weight, b, slice_rows=slice_rows),
                                   expected, rtol=1e-5, atol=1e-5)
    for slice_rows in (50, 64):  # one slice
        assert torch.equal(sliced_linear(hidden, weight, b, slice_rows=slice_rows), expected)


@pytest.mark.parametrize("rows", [1, 4, 16, 64])
def test_slices_of_smollm2s_output_layer_are_bit_identical(rows):
    """SmolLM2's output layer (49,152 words x 576) in the default slices gives the very logits
    of the one product, for the row counts of decode steps: the sampler's greedy answers cannot
    move. (The weight's values do not matter to which kernel runs; its shape does.)"""
    from ocrl.evaluation.output_layer import MIN_ROWS, SLICE_ROWS, sliced_linear

    generator = torch.Generator().manual_seed(rows)
    weight = torch.randn(49152, 576, generator=generator) * 0.05
    hidden = torch.randn(rows, 1, 576, generator=generator)
    assert weight.shape[0] >= MIN_ROWS and weight.shape[0] % SLICE_ROWS == 0
    with torch.no_grad():
        assert torch.equal(sliced_linear(hidden, weight), torch.nn.functional.linear(hidden, weight))


def test_sliced_linear_keeps_the_graph_where_autograd_needs_it():
    from ocrl.evaluation.output_layer import sliced_linear

    weight = torch.randn(10, 4, requires_grad=True)
    out = sliced_linear(torch.randn(2, 4), weight, slice_rows=3)
    out.sum().backward()
    assert weight.grad is not None and weight.grad.shape == weight.shape


def test_sampler_answers_and_logits_are_unchanged_and_the_layer_restored(monkeypatch):
    """With slices of 7 words (the tiny vocabulary is sliced unevenly) greedy answers and
    sampled ones are those of the one product, the forward is the layer's own again after the
    call, and a model whose output layer is not a plain Linear is left alone."""
    from ocrl.evaluation import output_layer
    from ocrl.evaluation.sampler import SamplingConfig, TransformersSampler

    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer), seed=3)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    prompts = ["x", "def f(x):\n    return x + x + x", "a = 1\nb", "print(1)"]
    layer = model.get_output_embeddings()
    calls = []
    sliced = output_layer.sliced_linear

    def counting(*args, **kwargs):
        calls.append(args[0].shape)
        return sliced(*args, **kwargs)

    def run(config, slice_rows, min_rows):
        monkeypatch.setattr(output_layer, "SLICE_ROWS", slice_rows)
        monkeypatch.setattr(output_layer, "MIN_ROWS", min_rows)
        monkeypatch.setattr(output_layer, "sliced_linear", counting)
        out = TransformersSampler(model, tokenizer, engine="continuous").generate(prompts, config)
        return [[(g.text, g.n_tokens) for g in row] for row in out]

    for config in (SamplingConfig(max_new_tokens=16, batch_size=3, draft_tokens=4),
                   SamplingConfig(n=2, temperature=0.8, max_new_tokens=16, batch_size=3)):
        calls.clear()
        whole = run(config, 7, 10**9)  # vocabulary below MIN_ROWS: not sliced
        assert not calls
        assert run(config, 7, 1) == whole
        assert calls  # the sliced product did run
        assert "forward" not in vars(layer)

    with torch.no_grad():
        ids = torch.randint(3, len(tokenizer), (2, 5), generator=torch.Generator().manual_seed(1))
        expected = model(ids).logits
        with output_layer.sliced_output_layer(model):
            assert "forward" in vars(layer)
            got = model(ids).logits
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)

    # An output layer that is not a plain float32 nn.Linear is not touched.
    class Scaled(torch.nn.Linear):
        pass

    model.lm_head = Scaled(layer.in_features, layer.out_features, bias=False)
    with output_layer.sliced_output_layer(model):
        assert "forward" not in vars(model.lm_head)

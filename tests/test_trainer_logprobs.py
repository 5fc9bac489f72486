"""Log-probs of half-precision logits, taken without a float32 copy of (N, T, vocab)."""

from __future__ import annotations

import torch

from tiny_lm import make_model, make_tokenizer, pattern_groups

from ocrl.trainer import logprobs
from ocrl.trainer.collator import collate_groups
from ocrl.trainer.groups import prepare_groups
from ocrl.trainer.logprobs import completion_logps, model_inputs


def _plain_bf16_logps(model, batch):
    """The straightforward computation: all logits, upcast whole, log_softmax, gather."""
    logits = model(**model_inputs(model, batch)).logits
    logp = logits.float().log_softmax(-1)
    rows = batch["source_row"].unsqueeze(1).expand_as(batch["source_pos"])
    return logp[rows, batch["source_pos"], batch["target_ids"]] * batch["target_mask"]


def _whole_upcast_logps(model, batch):
    """What completion_logps did before: logit - logsumexp(logits.float()), whole."""
    logits = model(**model_inputs(model, batch)).logits
    rows = batch["source_row"].unsqueeze(1).expand_as(batch["source_pos"])
    log_norm = torch.logsumexp(logits.float(), dim=-1)
    target = logits[rows, batch["source_pos"], batch["target_ids"]].float()
    return (target - log_norm[rows, batch["source_pos"]]) * batch["target_mask"]


def _relative(got, expected):
    return float(torch.sqrt(sum(((got[k] - expected[k]) ** 2).sum() for k in expected)) /
                 torch.sqrt(sum((expected[k] ** 2).sum() for k in expected)))


def _grads(model, logp, weights):
    model.zero_grad()
    (logp * weights).sum().backward()
    return {name: p.grad.detach().clone() for name, p in model.named_parameters()}


def test_bf16_logprobs_in_slices_equal_the_whole_upcast(monkeypatch):
    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer), seed=1)
    data, _ = prepare_groups(pattern_groups(3), tokenizer, prompt_format="plain")
    batch = collate_groups([data[i] for i in range(3)], pad_token_id=0, share_prompt=True)
    weights = torch.randn(batch["target_mask"].shape, generator=torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected = _plain_bf16_logps(model, batch)
        expected_grads = _grads(model, expected, weights)
        before_grads = _grads(model, _whole_upcast_logps(model, batch), weights)
        logits = model(**model_inputs(model, batch)).logits
        assert logits.dtype == torch.bfloat16
        rows, length, vocab = logits.shape
        # 3 positions a slice: several slices, the last one short
        monkeypatch.setattr(logprobs, "UPCAST_CHUNK_ELEMENTS", 3 * rows * vocab)
        saved: list[tuple[torch.dtype, int]] = []

        def pack(tensor):
            saved.append((tensor.dtype, tensor.numel()))
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            got = completion_logps(model, batch, logits_to_keep=False)
        got_grads = _grads(model, got, weights)

    assert length > 6
    assert got.dtype == torch.float32
    # Same bf16 logits, fp32 arithmetic either way: 1e-5 absolute (measured ~1e-6)
    assert torch.allclose(got, expected, atol=1e-5, rtol=0), float((got - expected).abs().max())
    # Gradients: bit for bit those of the whole upcast; 0.6% (relative norm) from the plain
    # log_softmax's, whose logit gradient is rounded to bf16 once instead of per term
    for name, grad in before_grads.items():
        assert torch.equal(got_grads[name], grad), name
    assert _relative(got_grads, expected_grads) < 0.02, _relative(got_grads, expected_grads)
    # nothing kept for backward is a float32 tensor the size of the logits (the old
    # logsumexp(logits.float()) kept exactly that)
    assert not [n for dtype, n in saved if dtype == torch.float32 and n >= rows * length * vocab]


def test_fp32_logits_are_not_sliced(monkeypatch):
    logits = torch.randn(2, 5, 7)
    monkeypatch.setattr(logprobs, "UPCAST_CHUNK_ELEMENTS", 1)
    assert torch.equal(logprobs.log_normalizer(logits), torch.logsumexp(logits, dim=-1))
    half = logits.to(torch.bfloat16)
    assert torch.allclose(logprobs.log_normalizer(half),
                          torch.logsumexp(half.float(), dim=-1), atol=0, rtol=0)

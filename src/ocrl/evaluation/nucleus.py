"""Temperature and nucleus (top-p) sampling without sorting the vocabulary.

transformers' ``TopPLogitsWarper`` sorts all 49,152 scores of every row and the sampler then
drew from the full vocabulary: 52 ms and 28 ms a step for 21 rows against 7 ms here
(benchmarks/sampler_step_parts.py, fp32, 2 threads, 2026-12-07). The nucleus of a code model's
next-token distribution is a handful of tokens, so the top K probabilities (``torch.topk``) hold
it whenever their mass reaches top_p; K grows only when they do not. The tokens kept are
transformers' own: a token stays when the probability mass ranked above it is below top_p
(``TopPLogitsWarper`` removes a token when the ascending cumulative mass up to it is at most 1 -
top_p: the same set), the most likely token always.
"""

from __future__ import annotations

# First K tried; multiplied by 8 while the top K's mass is below top_p.
NUCLEUS_CANDIDATES = 64


def nucleus(logits, temperature: float, top_p: float, candidates: int = NUCLEUS_CANDIDATES):
    """(probabilities, token ids) of the nucleus of each row of ``logits`` (..., vocab) at
    ``temperature``: probabilities renormalised over the kept tokens, zero for the candidates
    outside the nucleus; both (..., K) with K the candidates examined."""
    import torch

    probs = torch.softmax(logits.float() / temperature, dim=-1)
    vocab = probs.shape[-1]
    if top_p >= 1.0:
        ids = torch.arange(vocab, device=probs.device).expand_as(probs)
        return probs, ids
    k = min(candidates, vocab)
    while True:
        top, ids = probs.topk(k, dim=-1)
        if k == vocab or bool((top.sum(dim=-1) >= top_p).all()):
            break
        k = min(vocab, k * 8)
    top = top * ((top.cumsum(dim=-1) - top) < top_p)
    return top / top.sum(dim=-1, keepdim=True), ids


def sample(probs, ids, generator):
    """One token id per row from ``nucleus``'s (probabilities, token ids) of shape (rows, K)."""
    import torch

    return ids.gather(1, torch.multinomial(probs, 1, generator=generator)).squeeze(1)

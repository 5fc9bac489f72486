"""Prompt-lookup drafting: several tokens per decode step, verified by the model itself.

A decode step of a small model on a CPU costs mostly the reading of its weights, whatever the
rows it carries, and a batch spends most of its steps drained to a few long answers (the
sampler's decode profile). Code repeats its prompt and itself (names, signatures, loops of a
capped answer), so the tokens that followed an earlier occurrence of the current n-gram are a
cheap guess of what comes next. The model scores the pending token and the guess in one
forward pass; the longest prefix of the guess that the model would have produced itself is
kept, plus one token of its own. Greedy: a draft token is kept when it is the argmax. Sampled:
kept with probability p(token) and, at the first rejection, the next token is drawn from p with
the rejected token removed, which leaves every token's distribution exactly p (speculative
sampling with a point-mass draft).

Pure functions, each tested on hand-computed values in tests/test_drafting.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from ocrl.evaluation import nucleus

# Longest n-gram first: a longer match is a better guess; 1-grams still find the continuation
# of a repetition loop. Replayed on SmolLM2-135M's 167 greedy MBPP answers (chat prompts, 8
# draft tokens, benchmarks/draft_lookup_replay.py): tokens per step 2.23 with (3, 2, 1), 2.09
# with (3, 2), 2.22 with (2, 1); the earliest occurrence beat the latest (2.23 against 2.03: a
# loop's latest occurrence has fewer tokens after it than the draft wants).
DRAFT_NGRAMS = (3, 2, 1)

# What a decode step costs beyond its tokens, in tokens' worth of compute (2.4 ms a token):
# reading the weights once, about 60 ms (SmolLM2-135M, fp32, 2 threads:
# benchmarks/results/decode_step.json). A step of one row and one token runs its matrix products
# as matrix-vector products, cheaper than those of 2 to 4 tokens; from 4 tokens on the cost
# grows with the tokens as counted here. Charging that jump (17 tokens' worth) made drafting
# rarer and no faster end to end (48 HumanEval prompts, greedy, single runs the same day: 74.5 s
# against 69.0 s without the charge; two runs of identical work there differed by 7%), so it is
# not charged.
STEP_COST_IN_TOKENS = 25.0

# Prior for the share of draft tokens kept given the ones before them were, before a call has
# verified any, and its weight in draft tokens. Too low a prior never drafts, so never learns
# better (0.3 kept drafting off on 48 HumanEval prompts); greedy SmolLM2-135M kept 0.56 to
# 0.66 of its draft tokens there.
PRIOR_ACCEPTANCE, PRIOR_WEIGHT = 0.6, 20


class LookupIndex:
    """A sequence's tokens and, for each n-gram of ``ngrams``, the end of its earliest
    occurrence (the latest with ``earliest=False``, measured and not used: see
    ``DRAFT_NGRAMS``), extended as tokens are appended."""

    def __init__(self, tokens: Sequence[int], ngrams: Sequence[int] = DRAFT_NGRAMS,
                 earliest: bool = True):
        self.tokens = list(tokens)
        self.ngrams = tuple(ngrams)
        self.earliest = earliest
        self._ends: dict[tuple[int, ...], int] = {}
        self._indexed = 0  # occurrences ending at positions up to here are in _ends

    def append(self, tokens: Sequence[int]) -> None:
        self.tokens.extend(tokens)

    def draft(self, limit: int) -> list[int]:
        """Up to ``limit`` tokens that followed the earliest (or latest) earlier occurrence of
        the longest n-gram ending the sequence; [] when none occurred before."""
        tokens, length = self.tokens, len(self.tokens)
        if limit <= 0 or length < 2:
            return []
        # Occurrences ending before the last position: the suffix itself is not a match.
        for end in range(self._indexed + 1, length):
            for n in self.ngrams:
                if end >= n:
                    gram = tuple(tokens[end - n:end])
                    if not self.earliest or gram not in self._ends:
                        self._ends[gram] = end
        self._indexed = max(self._indexed, length - 1)
        for n in self.ngrams:
            if length > n:
                end = self._ends.get(tuple(tokens[length - n:]))
                if end is not None:
                    return tokens[end:end + limit]
        return []


def expected_kept(draft_length: int, acceptance: float) -> float:
    """Expected draft tokens kept when each is kept with probability ``acceptance`` given the
    ones before it were: acceptance + acceptance**2 + ... (draft_length terms)."""
    return sum(acceptance ** i for i in range(1, draft_length + 1))


def step_draft_length(available: Sequence[int], live: int, acceptance: float, limit: int,
                      step_cost: float = STEP_COST_IN_TOKENS) -> int:
    """How many draft columns a decode step should carry.

    Every row of the batch is fed the same number of columns (its pending token and up to k
    draft tokens, padded), so k costs ``len(available) * (k + 1)`` tokens of compute plus the
    step's fixed ``step_cost``, and gains the expected kept tokens of the rows' drafts
    (``available[r]`` tokens each) beside the ``live`` rows' own next tokens. Returns the k in
    0..``limit`` with the most tokens per unit of cost (the smallest k on ties)."""
    rows = len(available)
    best_k, best_rate = 0, live / (step_cost + rows)
    for k in range(1, limit + 1):
        gain = live + sum(expected_kept(min(k, a), acceptance) for a in available)
        rate = gain / (step_cost + rows * (k + 1))
        if rate > best_rate + 1e-12:
            best_k, best_rate = k, rate
    return best_k


def verify_greedy(logits, drafts, draft_lengths):
    """Greedy verification. ``logits`` (rows, k + 1, vocab) score the pending token and k draft
    columns; ``drafts`` (rows, k) hold the guesses, of which the first ``draft_lengths[r]``
    are real. Returns (kept draft tokens per row, the model's next token per row)."""
    import torch

    targets = logits.argmax(dim=-1)
    k = drafts.shape[1]
    real = torch.arange(k, device=drafts.device)[None, :] < draft_lengths[:, None]
    kept = ((targets[:, :k] == drafts) & real).int().cumprod(dim=1).sum(dim=1)
    return kept, targets.gather(1, kept[:, None]).squeeze(1)


def verify_sampled(probs, drafts, draft_lengths, generator, ids=None):
    """Speculative-sampling verification of point-mass drafts. ``probs`` (rows, k + 1, K) are
    the model's (warped) next-token probabilities of the token ids ``ids`` (the same shape;
    None: K is the vocabulary, in order), as ``nucleus.nucleus`` gives them. Draft token i is
    kept with probability p(token) at position i when all before it were; at the first
    rejection the next token is drawn from that position's distribution without the rejected
    token, after k kept drafts from the next position's. Returns (kept draft tokens per row,
    next token per row)."""
    import torch

    rows, k = drafts.shape
    if ids is None:
        ids = torch.arange(probs.shape[2], device=probs.device).expand_as(probs)
    real = torch.arange(k, device=drafts.device)[None, :] < draft_lengths[:, None]
    chance = (probs[:, :k] * (ids[:, :k] == drafts[:, :, None])).sum(dim=2)
    draws = torch.rand(rows, k, generator=generator, device=probs.device, dtype=probs.dtype)
    kept = ((draws < chance) & real).int().cumprod(dim=1).sum(dim=1)
    at = kept[:, None, None].expand(-1, 1, probs.shape[2])
    at_probs, at_ids = probs.gather(1, at).squeeze(1), ids.gather(1, at).squeeze(1)
    rejected = kept < draft_lengths
    if bool(rejected.any()):
        token = drafts.gather(1, kept.clamp(max=k - 1)[:, None])
        residual = at_probs.masked_fill(rejected[:, None] & (at_ids == token), 0)
        # A draft token holding all the mass is rejected only by rounding (a draw in
        # [0.99999994, 1)): it is the token drawn then.
        at_probs = torch.where((residual.sum(dim=1) > 0)[:, None], residual, at_probs)
    return kept, nucleus.sample(at_probs, at_ids, generator)


class AcceptanceEstimate:
    """The share of draft tokens kept, given the ones before them were (a geometric model's
    estimate: kept / (kept + first rejections)), starting from ``PRIOR_ACCEPTANCE``."""

    def __init__(self, prior: float = PRIOR_ACCEPTANCE, weight: float = PRIOR_WEIGHT):
        self.kept = prior * weight
        self.rejected = (1 - prior) * weight

    def update(self, kept: Sequence[int], lengths: Sequence[int]) -> None:
        for k, length in zip(kept, lengths):
            if length:
                self.kept += k
                self.rejected += k < length

    @property
    def value(self) -> float:
        return self.kept / (self.kept + self.rejected)

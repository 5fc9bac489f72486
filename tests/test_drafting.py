"""Prompt-lookup drafts and their verification (ocrl.evaluation.drafting), on hand-computed
values; and the sampler with drafts against the sampler without them."""

from __future__ import annotations

import pytest
import torch

from ocrl.evaluation.drafting import (AcceptanceEstimate, LookupIndex, expected_kept,
                                      step_draft_length, verify_greedy, verify_sampled)


def test_lookup_drafts_what_followed_the_earliest_occurrence_of_the_longest_ngram():
    #            0  1  2  3  4  5  6  7  8  9
    index = LookupIndex([5, 6, 7, 8, 9, 5, 6, 7, 1, 5, 6, 7])
    # The 3-gram (5, 6, 7) ends the sequence; it ended at 3 first (and at 8): tokens 3.. follow.
    assert index.draft(4) == [8, 9, 5, 6]
    assert index.draft(1) == [8]
    assert index.draft(0) == []
    # The latest occurrence instead (measured by the replay benchmark, not used): it ended at 8.
    latest = LookupIndex([5, 6, 7, 8, 9, 5, 6, 7, 1, 5, 6, 7], earliest=False)
    assert latest.draft(4) == [1, 5, 6, 7]


def test_lookup_falls_back_to_shorter_ngrams_and_to_nothing():
    assert LookupIndex([1, 2, 3, 9, 3]).draft(5) == [9, 3]  # only the 1-gram (3,) recurs
    assert LookupIndex([1, 2, 3, 4]).draft(5) == []  # nothing recurs
    assert LookupIndex([7]).draft(5) == []
    # The suffix itself is no match: (4, 4) ends at 2 first, then 2 tokens follow.
    assert LookupIndex([4, 4, 4]).draft(5) == [4]


def test_lookup_index_grows_with_appended_tokens():
    index = LookupIndex([1, 2, 3])
    assert index.draft(3) == []
    index.append([1, 2])  # 1 2 3 1 2: (1, 2) ended at 2 first
    assert index.draft(3) == [3, 1, 2]
    index.append([8])  # 1 2 3 1 2 8: nothing recurs
    assert index.draft(3) == []
    index.append([2, 8])  # ... 2 8 2 8: (2, 8) ended at 6 first -> 2 8
    assert index.draft(3) == [2, 8]


def test_expected_kept_is_a_geometric_sum():
    assert expected_kept(0, 0.5) == 0
    assert expected_kept(3, 0.5) == pytest.approx(0.5 + 0.25 + 0.125)
    assert expected_kept(4, 1.0) == 4


def test_step_draft_length_weighs_kept_tokens_against_columns():
    # One live row of one, a 4-token draft kept entirely (acceptance 1): k draft columns cost
    # 25 + (1 + k) against 25 + 1 without: (1 + k) / (26 + k) grows up to k = 4.
    assert step_draft_length([4], live=1, acceptance=1.0, limit=8, step_cost=25) == 4
    # Nothing to draft, or drafts never kept: no draft columns.
    assert step_draft_length([0, 0], live=2, acceptance=0.9, limit=8) == 0
    assert step_draft_length([8], live=1, acceptance=0.0, limit=8) == 0
    # 10 rows, one with a draft kept at 0.5: k=1 gives (10 + 0.5) / (25 + 20) = 0.233 <
    # 10 / 35 = 0.286: padding nine rows costs more than the draft brings.
    assert step_draft_length([8] + [0] * 9, live=10, acceptance=0.5, limit=8,
                             step_cost=25) == 0


def test_step_draft_length_balances_the_geometric_gain():
    # One row, acceptance 0.5: k=1: 1.5 / 27 = 0.0556 > 1 / 26; k=2: 1.75 / 28 = 0.0625;
    # k=3: 1.875 / 29 = 0.0647; k=4: 1.9375 / 30 = 0.0646: k=3.
    assert step_draft_length([8], live=1, acceptance=0.5, limit=8, step_cost=25) == 3
    # The same with a dearer step (a bigger model, or a GPU): longer drafts pay. step_cost
    # 100: k=5: 1.96875 / 106 = 0.01857; k=6: 1.984 / 107 = 0.01854; k=4: 1.9375 / 105 =
    # 0.01845: k=5.
    assert step_draft_length([8], live=1, acceptance=0.5, limit=8, step_cost=100) == 5
    # The draft available caps what k can gain: 2 tokens, so no k beyond 2.
    assert step_draft_length([2], live=1, acceptance=0.9, limit=8, step_cost=25) == 2


def test_verify_greedy_keeps_the_matching_prefix_and_adds_the_models_token():
    vocab = 6
    # Row 0: argmaxes 2, 3, 4 against draft 2, 3: both kept, next 4.
    # Row 1: argmaxes 1, 5, 0 against draft 1, 4: one kept, next 5.
    # Row 2: argmaxes 3, 3, 3 against draft 3 (one real token, one padding column): next 3.
    # Row 3: argmax 0 against draft 2: none kept, next 0.
    argmaxes = [[2, 3, 4], [1, 5, 0], [3, 3, 3], [0, 1, 1]]
    logits = torch.nn.functional.one_hot(torch.tensor(argmaxes), vocab).float()
    drafts = torch.tensor([[2, 3], [1, 4], [3, 3], [2, 1]])
    lengths = torch.tensor([2, 2, 1, 2])
    kept, following = verify_greedy(logits, drafts, lengths)
    assert kept.tolist() == [2, 1, 1, 0]
    assert following.tolist() == [4, 5, 3, 0]


def test_verify_sampled_with_certain_and_impossible_drafts():
    generator = torch.Generator().manual_seed(0)
    # Position distributions over 3 tokens. Row 0's draft tokens have probability 1: kept,
    # then the third position decides (all mass on 2). Row 1's first draft token has
    # probability 0: rejected, the next token is drawn from the first position without it.
    probs = torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
                          [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])
    drafts = torch.tensor([[1, 0], [0, 0]])
    kept, following = verify_sampled(probs, drafts, torch.tensor([2, 2]), generator)
    assert kept.tolist() == [2, 0]
    assert following[0].item() == 2 and following[1].item() in (1, 2)


def test_verify_sampled_leaves_the_distribution_unchanged():
    """A point-mass draft d with p(d) = 0.3: the first token is d with probability 0.3 and any
    other token x with p(x), as if sampled from p directly (speculative sampling)."""
    p = torch.tensor([0.3, 0.5, 0.2])
    trials = 40_000
    probs = p.expand(trials, 2, 3).contiguous()
    drafts = torch.zeros(trials, 1, dtype=torch.long)
    kept, following = verify_sampled(probs, drafts, torch.ones(trials, dtype=torch.long),
                                     torch.Generator().manual_seed(1))
    first = torch.where(kept == 1, drafts[:, 0], following)
    shares = torch.bincount(first, minlength=3).float() / trials
    # Binomial standard error at 40,000 trials is at most 0.0025: 4 of them.
    assert torch.allclose(shares, p, atol=0.01), shares
    assert (following[kept == 0] != 0).all()  # a rejected draft token is never drawn again


def test_verify_sampled_over_a_nucleus_of_token_ids():
    """Probabilities over candidate ids (as nucleus() gives them): a draft token outside the
    nucleus has probability 0, so it is rejected and the next token comes from the nucleus."""
    probs = torch.tensor([[[0.6, 0.4], [1.0, 0.0]]])
    ids = torch.tensor([[[30, 31], [32, 33]]])
    kept, following = verify_sampled(probs, torch.tensor([[99]]), torch.tensor([1]),
                                     torch.Generator().manual_seed(0), ids)
    assert kept.tolist() == [0] and following.item() in (30, 31)
    # Draft 30 kept with probability 0.6, then the next position gives 32.
    outcomes = [verify_sampled(probs, torch.tensor([[30]]), torch.tensor([1]),
                               torch.Generator().manual_seed(seed), ids) for seed in range(200)]
    kept_ones = [f.item() for k, f in outcomes if k.item() == 1]
    rejected = [f.item() for k, f in outcomes if k.item() == 0]
    assert set(kept_ones) == {32} and set(rejected) == {31}
    assert 0.45 < len(kept_ones) / 200 < 0.75


def test_acceptance_estimate_counts_kept_tokens_and_first_rejections():
    estimate = AcceptanceEstimate(prior=0.5, weight=2)  # 1 kept, 1 rejected
    estimate.update(kept=[3, 0, 2], lengths=[3, 4, 0])  # row 2 had no draft: ignored
    # kept 1 + 3 + 0, rejected 1 + 0 (all 3 kept) + 1
    assert estimate.value == pytest.approx(4 / 6)


def _sampler_outputs(draft_tokens: int, temperature: float, prompts, seed=2):
    from tiny_lm import make_model, make_tokenizer

    from ocrl.evaluation.sampler import SamplingConfig, TransformersSampler

    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer), seed=seed)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    config = SamplingConfig(n=2 if temperature else 1, temperature=temperature,
                            max_new_tokens=40, batch_size=4, draft_tokens=draft_tokens)
    sampler = TransformersSampler(model, tokenizer, engine="continuous")
    results = sampler.generate(prompts, config)
    return results, sampler.stats


PROMPTS = ["def f(x):\n    return x + x + x + x", "a = 1\nb = 1\nc = 1\n", "x x x x x",
           "print(1)", "for i in range(3):\n    for j in range(3):\n"]


def test_greedy_outputs_are_the_same_with_and_without_drafts():
    """A random tiny model repeats itself, so drafts are proposed and kept; what it generates
    is the same as one token per step, and every generated token is accounted for."""
    plain, plain_stats = _sampler_outputs(0, 0.0, PROMPTS)
    drafted, stats = _sampler_outputs(8, 0.0, PROMPTS)
    assert [[(g.text, g.n_tokens, g.finish) for g in row] for row in drafted] == \
        [[(g.text, g.n_tokens, g.finish) for g in row] for row in plain]
    assert stats.draft_kept > 0 and plain_stats.draft_tokens == 0
    assert stats.decode_steps < plain_stats.decode_steps
    sequences = len(PROMPTS)
    assert stats.generated_tokens == sequences + stats.decode_tokens
    assert stats.decode_live_rows < stats.decode_tokens <= \
        stats.decode_live_rows + stats.draft_kept
    assert stats.decode_profile()["tokens_per_live_row"] > 1


def test_sampled_outputs_with_drafts_are_reproducible_and_complete():
    first, stats = _sampler_outputs(8, 1.0, PROMPTS)
    again, _ = _sampler_outputs(8, 1.0, PROMPTS)
    assert [[g.text for g in row] for row in first] == [[g.text for g in row] for row in again]
    assert all(len(row) == 2 for row in first)
    assert stats.generated_tokens == 2 * len(PROMPTS) + stats.decode_tokens
    assert all(g.n_tokens <= 40 for row in first for g in row)


def test_a_step_is_as_wide_as_its_longest_draft_and_shorter_ones_are_padded(tmp_path):
    """Rows' drafts differ in length; the step's width comes from the chooser, not from the
    first row (a first row with a shorter draft once broke the padding)."""
    from ocrl.evaluation.sampler import SamplingConfig, TransformersSampler, _Row

    short = _Row(0, 0, [7], lookup=LookupIndex([7, 3, 7]))  # (7,) ended at 1: draft 3 7
    long = _Row(1, 0, [1], lookup=LookupIndex([1, 2, 3, 4, 5, 6, 1]))  # draft 2 3 4 5 6 1
    done = _Row(2, 0, [9], finished=True, lookup=LookupIndex([9, 9, 9]))
    config = SamplingConfig(draft_tokens=8, max_new_tokens=100)
    drafts, width = TransformersSampler._drafts([short, long, done], config,
                                                AcceptanceEstimate(prior=0.95))
    assert width > 2
    assert drafts == [[3, 7], [2, 3, 4, 5, 6, 1][:width], []]
    # The token cap bounds a draft: one token left to generate leaves no room for guesses.
    capped = SamplingConfig(draft_tokens=8, max_new_tokens=2)
    assert TransformersSampler._drafts([short, long], capped, AcceptanceEstimate(0.95)) == \
        ([], 0)


def test_greedy_outputs_are_unchanged_when_rows_drafts_differ_in_length(monkeypatch):
    """The first row's draft cut to one token at every step, the others' left as chosen: the
    shorter drafts are padded to the step's width and the answers stay those of one token per
    step."""
    from ocrl.evaluation.sampler import TransformersSampler

    real = TransformersSampler._drafts
    ragged = []

    def first_row_short(rows, config, acceptance):
        drafts, width = real(rows, config, acceptance)
        if width > 1 and drafts[0]:
            drafts[0] = drafts[0][:1]
            ragged.append(width)
        return drafts, width

    monkeypatch.setattr(TransformersSampler, "_drafts", staticmethod(first_row_short))
    drafted, _ = _sampler_outputs(8, 0.0, PROMPTS)
    monkeypatch.undo()
    plain, _ = _sampler_outputs(0, 0.0, PROMPTS)
    assert ragged
    assert [[g.text for g in row] for row in drafted] == [[g.text for g in row] for row in plain]


def test_the_replay_benchmark_counts_steps_as_the_sampler_would():
    """benchmarks/draft_lookup_replay.py: prompt 1 2 3, answer 1 2 3 4. Step 1: nothing
    recurs, the model adds 1. Step 2: (1,) occurred at the start, 2 3 follow (cut to the 2
    tokens the answer still has before its last) and both match; the model adds 4."""
    from benchmark_scripts import load_benchmark

    replay = load_benchmark("draft_lookup_replay").replay
    assert replay([1, 2, 3], [1, 2, 3, 4], 8, (3, 2, 1), earliest=True) == (2, 2, 2)
    # A one-token limit: step 2 proposes 2 (kept) and the model adds 3; step 3 has only the
    # answer's last token left, so it proposes nothing and the model adds 4.
    assert replay([1, 2, 3], [1, 2, 3, 4], 1, (3, 2, 1), earliest=True) == (3, 1, 1)
    # No drafts at all: one step per token.
    assert replay([7], [1, 2, 3], 0, (3, 2, 1), earliest=True) == (3, 0, 0)


def test_compacting_the_cache_keeps_each_rows_columns_in_order():
    """Row 0 attends columns 1, 3, 4 of 5; row 1 columns 0, 1 (then two rejected draft
    columns and one more): 3 columns are left, row 1's right-aligned after one hidden one."""
    from ocrl.evaluation.sampler import _compact_columns, _new_cache

    cache = _new_cache(1)
    keys = torch.arange(2 * 5, dtype=torch.float).reshape(2, 1, 5, 1)
    cache.layers[0].update(keys, -keys)
    mask = torch.tensor([[0, 1, 0, 1, 1], [1, 1, 0, 0, 1]])
    compacted = _compact_columns(cache, mask)
    assert compacted.tolist() == [[1, 1, 1], [1, 1, 1]]
    assert cache.layers[0].keys[:, 0, :, 0].tolist() == [[1, 3, 4], [5, 6, 9]]
    assert cache.layers[0].values[:, 0, :, 0].tolist() == [[-1, -3, -4], [-5, -6, -9]]
    # Width 2: row 1 (keys 5, 6, 9) attends only 5; its last hidden column (9) fills the slot.
    mask = torch.tensor([[0, 1, 1], [1, 0, 0]])
    compacted = _compact_columns(cache, mask)
    assert compacted.tolist() == [[1, 1], [0, 1]]
    assert cache.layers[0].keys[:, 0, :, 0].tolist() == [[3, 4], [9, 5]]
    # Nothing to drop: the cache is left as it is.
    assert _compact_columns(cache, torch.ones(2, 2, dtype=torch.long)).shape == (2, 2)
    assert cache.layers[0].keys.shape[2] == 2

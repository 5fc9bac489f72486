"""Row windows: attention reads each group of rows from its first unmasked column
(ocrl.evaluation.attention.row_windows), chosen by plan_windows."""

from __future__ import annotations

import pytest
import torch

from tiny_lm import make_model, make_tokenizer


def test_plan_windows_splits_where_the_padding_saved_outweighs_a_group():
    from ocrl.evaluation.attention import plan_windows

    # One group: 10 + 4 * 100 = 410. Rows 0-1 from 0 and 2-3 from 90: 10 + 200 + 10 + 2 * 10
    # = 240. Rows 2 and 3 apart: 10 + 200 + 10 + 10 + 10 + 5 = 245.
    assert plan_windows([0, 0, 90, 95], 100, group_cost=10) == [(0, 2, 0), (2, 4, 90)]
    # Dearer groups: one (1,400) beats two (2,000 + 20).
    assert plan_windows([0, 0, 90, 95], 100, group_cost=1000) == [(0, 4, 0)]


def test_plan_windows_keeps_row_order_and_reads_from_a_groups_earliest_row():
    from ocrl.evaluation.attention import plan_windows

    # Rows are views, never reordered: [90, 0, 95] costs 10 + 10 + 10 + 100 + 10 + 5 = 145 in
    # three groups, against 225 for (0-1, 2) and 230 for (0, 1-2).
    assert plan_windows([90, 0, 95], 100, group_cost=10) == [(0, 1, 90), (1, 2, 0), (2, 3, 95)]
    assert plan_windows([90, 0], 100, group_cost=500) == [(0, 2, 0)]
    assert plan_windows([], 100) == []


def _cached_step(model, windows, query_tokens: int):
    """Logits of a step of ``query_tokens`` tokens per row after a left-padded prompt, with the
    sampler's attention and the given row windows."""
    from ocrl.evaluation.attention import in_place_gqa, row_windows
    from ocrl.evaluation.sampler import _cache_argument, _new_cache

    cache_arg = _cache_argument(model)
    lengths = torch.tensor([3, 9, 2, 8])
    width = int(lengths.max())
    prompt_mask = (torch.arange(width)[None, :] >= width - lengths[:, None]).long()
    prompt = torch.randint(3, 40, (4, width), generator=torch.Generator().manual_seed(0))
    step = torch.randint(3, 40, (4, query_tokens), generator=torch.Generator().manual_seed(1))
    mask = torch.cat([prompt_mask, torch.ones(4, query_tokens, dtype=torch.long)], dim=1)
    positions = lengths[:, None] + torch.arange(query_tokens)
    cache = _new_cache(model.config.num_hidden_layers)
    with torch.no_grad(), in_place_gqa(model):
        model(input_ids=prompt, attention_mask=prompt_mask,
              position_ids=(prompt_mask.cumsum(-1) - 1).clamp(min=0), **{cache_arg: cache})
        with row_windows(windows):
            return model(input_ids=step, attention_mask=mask, position_ids=positions,
                         **{cache_arg: cache}).logits


@pytest.mark.parametrize("query_tokens", [1, 3])
def test_attention_in_row_windows_equals_attention_over_the_whole_cache(query_tokens):
    """Rows 0-1 and 2-3 read from their group's first unmasked column (6 and 1 of 9 + the
    step's): the logits are those of reading every column. A window that does not cover the
    batch's rows is not applied."""
    model = make_model(40, seed=5).eval()
    whole = _cached_step(model, None, query_tokens)
    windowed = _cached_step(model, [(0, 1, 6), (1, 2, 0), (2, 4, 1)], query_tokens)
    torch.testing.assert_close(windowed, whole, rtol=0, atol=1e-6)
    # Reading from past a row's first column would change its logits: the windows are applied.
    wrong = _cached_step(model, [(0, 1, 6), (1, 2, 3), (2, 4, 1)], query_tokens)
    assert not torch.allclose(wrong[1], whole[1], atol=1e-4)
    torch.testing.assert_close(_cached_step(model, [(0, 3, 0)], query_tokens), whole,
                               rtol=0, atol=0)


def test_sampler_outputs_are_the_same_with_a_window_per_row(monkeypatch):
    """With groups costing nothing the sampler reads every row from its own first column
    (prompts of 1 to 30 tokens, rows dropped and admitted, drafts kept and rejected): the same
    greedy answers as one window, and fewer columns read."""
    from ocrl.evaluation import attention
    from ocrl.evaluation.sampler import SamplingConfig, TransformersSampler

    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer), seed=2)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    prompts = ["x", "def f(x):\n    return x + x + x + x + x + x + x + x + x", "a = 1\nb",
               "print(1)", "for i in range(3):\n    for j in range(3):\n        print(i)", "y"]
    config = SamplingConfig(max_new_tokens=24, batch_size=4, draft_tokens=4)

    def run(cost):
        monkeypatch.setattr(attention, "WINDOW_COST_IN_COLUMNS", cost)
        sampler = TransformersSampler(model, tokenizer, engine="continuous")
        return sampler.generate(prompts, config), sampler.stats

    one, one_stats = run(10**9)
    each, each_stats = run(0)
    assert [[(g.text, g.n_tokens) for g in row] for row in each] == \
        [[(g.text, g.n_tokens) for g in row] for row in one]
    assert each_stats.read_columns < one_stats.read_columns
    assert one_stats.read_columns == one_stats.decode_columns  # one window reads everything

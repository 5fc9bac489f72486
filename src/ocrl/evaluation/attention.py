"""Attention over the sampler's KV cache on CPU: GQA heads read in place, and each row's
padding skipped.

transformers' sdpa path serves a one-token query of a grouped-query model (SmolLM2: 9 query
heads, 3 KV heads) without copying the cache, but repeats every KV head for a longer query when
a mask is given (``repeat_kv``): a copy of the whole cache per layer and step. torch's CPU
kernel reads the KV heads in place with ``enable_gqa=True``: a 16-row step over 400 cached
tokens with one draft token took 213 ms against 303, with identical logits
(benchmarks/sampler_step_parts.py, SmolLM2-135M, fp32, 2 threads, 2026-12-07). transformers
enables that only where it knows the kernel handles a mask (XPU, MPS); this registers it for the
sampler's CPU steps through the public ``AttentionInterface`` and leaves every other call to
transformers' sdpa.

Rows of one batch hold prompts of very different lengths (CodeNet statements run from 100 to
4,000 tokens), all left-padded to the longest, and a step reads every cached column of every
row. Within ``row_windows`` the rows are taken in contiguous groups, each attending from its
first unmasked column on (a view, no copy), so a step reads about the columns the rows use;
``plan_windows`` chooses the groups (benchmarks/sampler_step_parts.py --parts windows: 16 rows
of 250 to 4,000 cached tokens, 466 ms a step over the whole cache, 337 ms in row windows,
2026-12-07).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import warnings
from collections.abc import Sequence

NAME = "ocrl_sdpa_gqa"

# A group of rows costs a kernel call per layer whatever its size; counted as reading this
# many cached columns of one row (see plan_windows). Set by judgement, not tuned: splitting
# pays only where a group would skip more padding than a few hundred columns.
WINDOW_COST_IN_COLUMNS = 256

# (first row, end row, first column) per group, set by row_windows for the sampler's steps.
_WINDOWS: contextvars.ContextVar[tuple | None] = contextvars.ContextVar("ocrl_row_windows",
                                                                       default=None)


def plan_windows(starts: Sequence[int], width: int,
                 group_cost: int = WINDOW_COST_IN_COLUMNS) -> list[tuple[int, int, int]]:
    """Contiguous groups of rows, each read from its earliest row's first unmasked column:
    ``starts[i]`` is row i's first column the mask shows, ``width`` the cache's. Minimises the
    columns read (rows of a group times the width from its first column) plus ``group_cost``
    per group, over all partitions into contiguous groups (rows are not reordered: the groups
    are views of the cache). Returns [(first row, end row, first column), ...]."""
    rows = len(starts)
    best = [0.0] + [float("inf")] * rows  # best[j]: cost of rows [0, j)
    cut = [0] * (rows + 1)
    for end in range(1, rows + 1):
        first_column = width
        for begin in range(end - 1, -1, -1):
            first_column = min(first_column, starts[begin])
            cost = best[begin] + group_cost + (end - begin) * (width - first_column)
            if cost < best[end]:
                best[end], cut[end] = cost, begin
    windows, end = [], rows
    while end:
        begin = cut[end]
        windows.append((begin, end, min(starts[begin:end])))
        end = begin
    return windows[::-1]


@contextlib.contextmanager
def row_windows(windows: Sequence[tuple[int, int, int]] | None):
    """Within the block, the sampler's attention reads rows [a, b) of the cache from column c
    on, for each (a, b, c) of ``windows`` (which must cover the batch's rows in order; every
    row's mask must hide the columns before its group's c). Has no effect on other
    attention implementations, or on calls whose batch is not the windows' rows."""
    token = _WINDOWS.set(tuple(windows) if windows else None)
    try:
        yield
    finally:
        _WINDOWS.reset(token)


def _attention(module, query, key, value, attention_mask, dropout: float = 0.0,
               scaling=None, is_causal=None, **kwargs):
    import torch

    windows = _WINDOWS.get()
    if (windows is None or windows[-1][1] != query.shape[0] or dropout
            or kwargs.get("position_bias") is not None):
        return _attention_in_place(module, query, key, value, attention_mask, dropout,
                                   scaling, is_causal, **kwargs)
    outputs = []
    for begin, end, column in windows:
        mask = attention_mask
        if mask is not None:
            mask = mask[begin:end] if mask.shape[0] > 1 else mask
            mask = mask[..., column:]
        outputs.append(_attention_in_place(
            module, query[begin:end], key[begin:end, :, column:], value[begin:end, :, column:],
            mask, dropout, scaling, is_causal, **kwargs)[0])
    return (outputs[0] if len(outputs) == 1 else torch.cat(outputs)), None


def _attention_in_place(module, query, key, value, attention_mask, dropout: float = 0.0,
                        scaling=None, is_causal=None, **kwargs):
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    groups = getattr(module, "num_key_value_groups", 1)
    if (query.shape[2] == 1 or groups == 1 or attention_mask is None or dropout
            or query.device.type != "cpu" or kwargs.get("position_bias") is not None):
        return sdpa_attention_forward(module, query, key, value, attention_mask,
                                      dropout=dropout, scaling=scaling, is_causal=is_causal,
                                      **kwargs)
    output = torch.nn.functional.scaled_dot_product_attention(
        query, key, value, attn_mask=attention_mask, scale=scaling, enable_gqa=True)
    return output.transpose(1, 2).contiguous(), None


@functools.cache
def registered_name() -> str:
    from transformers import AttentionInterface, AttentionMaskInterface
    from transformers.masking_utils import sdpa_mask

    AttentionInterface.register(NAME, _attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return NAME


@contextlib.contextmanager
def in_place_gqa(model):
    """Within the block, a model on transformers' sdpa attention runs ``_attention`` (the
    same masks, the KV heads read in place); other models are left as they are."""
    switched = getattr(model.config, "_attn_implementation", None) == "sdpa"
    if switched:
        try:
            model.set_attn_implementation(registered_name())
        except (AttributeError, ValueError) as error:  # a model that cannot switch
            warnings.warn(f"sampling with transformers' sdpa attention as is: {error}")
            switched = False
    try:
        yield
    finally:
        if switched:
            model.set_attn_implementation("sdpa")

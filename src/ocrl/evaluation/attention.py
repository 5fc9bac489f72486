"""Attention for queries of several tokens over a long KV cache on CPU, as the sampler's
prefills and draft verification run them.

transformers' sdpa path serves a one-token query of a grouped-query model (SmolLM2: 9 query
heads, 3 KV heads) without copying the cache, but repeats every KV head for a longer query when
a mask is given (``repeat_kv``): a copy of the whole cache per layer and step. torch's CPU
kernel reads the KV heads in place with ``enable_gqa=True``: a 16-row step over 400 cached
tokens with one draft token took 213 ms against 303, with identical logits
(benchmarks/sampler_step_parts.py, SmolLM2-135M, fp32, 2 threads, 2026-12-07). transformers
enables that only where it knows the kernel handles a mask (XPU, MPS); this registers it for the
sampler's CPU steps through the public ``AttentionInterface`` and leaves every other call to
transformers' sdpa.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

NAME = "ocrl_sdpa_gqa"


def _attention(module, query, key, value, attention_mask, dropout: float = 0.0,
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

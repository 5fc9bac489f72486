"""The output layer's product on CPU in slices of the vocabulary, with the same numbers.

SmolLM2's output layer is a 49,152 x 576 float32 matrix (113 MB, a fifth of the model), and a
decode step multiplies it by a few rows of hidden states. The CPU GEMM does that one skinny
product far from both the memory and the compute limit (39.5 ms for 16 rows, where reading the
weight once takes about 12 and the arithmetic about 9); in slices of ``SLICE_ROWS`` words, each
slice's weight small enough to stay in cache while it is used, it took 31.3 ms for 16 rows,
37.4 against 48.6 for 32, 45.6 against 74.7 for 64, and longer for a single row (13.3 against
12.0), which keeps the one product (AVX2-only EPYC, 2 threads, 2026-12-07, load average 2.0;
``benchmarks/sampler_step_parts.py --parts output_layer``). Each logit is still one dot product
over the whole hidden size; on SmolLM2's shapes the slices give bit-identical logits (tested),
on others a narrow slice may take another kernel and differ by float rounding.
"""

from __future__ import annotations

import contextlib

from ocrl.evaluation.linear_forward import (forwards_replaced, needs_graph,
                                           plain_float32_cpu_linear)

SLICE_ROWS = 1024
# Smaller output layers keep the one product (only SmolLM2's 49,152 words were measured).
MIN_ROWS = 4 * SLICE_ROWS


def sliced_linear(hidden, weight, bias=None, slice_rows: int | None = None):
    """``torch.nn.functional.linear(hidden, weight, bias)``, computed ``slice_rows`` (default
    ``SLICE_ROWS``) output features at a time (one product for a single row, or where autograd
    needs the graph)."""
    import torch

    slice_rows = slice_rows or SLICE_ROWS
    flat = hidden.reshape(-1, hidden.shape[-1])
    if flat.shape[0] == 1 or needs_graph(hidden, weight):
        # One row: slices are slower. Autograd: out= products keep no graph.
        return torch.nn.functional.linear(hidden, weight, bias)
    out = flat.new_empty(flat.shape[0], weight.shape[0])
    for start in range(0, weight.shape[0], slice_rows):
        torch.mm(flat, weight[start:start + slice_rows].t(), out=out[:, start:start + slice_rows])
    if bias is not None:
        out += bias
    return out.view(*hidden.shape[:-1], weight.shape[0])


def _sliceable(layer) -> bool:
    return plain_float32_cpu_linear(layer) and layer.weight.shape[0] >= MIN_ROWS


@contextlib.contextmanager
def sliced_output_layer(model):
    """Within the block, the model's output layer (a plain float32 ``nn.Linear`` on the CPU
    with a large vocabulary) runs :func:`sliced_linear`; any other model is left as it is.
    Meant for sampling, under ``torch.no_grad``."""
    layer = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    with forwards_replaced([layer] if layer is not None and _sliceable(layer) else [],
                           sliced_linear):
        yield

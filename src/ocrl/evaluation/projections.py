"""The decoder's projections (q, k, v, o, gate, up, down) of a sampler step on CPU, as the
transposed product ``(W @ x.T).T``: the same numbers, sooner.

A decode step multiplies every layer's weights by a few dozen rows (rows times the tokens fed
per row), reading all 425 MB of SmolLM2-135M's projection weights from memory. This CPU reads
them in 29 ms (``torch.sum``), but the BLAS behind ``torch.nn.functional.linear`` streams them
at 1.9 to 4.5 GB/s for 2 to 64 rows (95 ms for 2 rows, 103 for 16, 226 for 64). The transposed
product takes another of MKL's kernels: 16 rows 103 → 78 ms, 32: 142 → 110, 48: 167 → 136,
64: 226 → 182; less at 12 (99 → 87) and 96 (294 → 265), where an earlier, scratch run of the
same comparison found 0.94x and 1.03x (AVX2-only EPYC, 2 threads, 2026-12-07, the ways timed in
alternation; ``benchmarks/matmul_rows.py``). On SmolLM2's weight shapes it gives bit-identical
products for 1 row and for 12 rows or more (every count to 199, and 256 to 512, in a scratch
check; the tests check 16 to 64) and differs by float rounding for 2 to 11, so it is used from
``MIN_ROWS`` to ``MAX_ROWS`` rows only, where it was both faster (1.17–1.34x in two runs) and
identical. Other shapes or CPUs may take other kernels (the tests hold it to float rounding on
arbitrary shapes). oneDNN with weights reordered per row count was faster still at 8 to 64
rows but never bit-identical, so it is not used.
"""

from __future__ import annotations

import contextlib

from ocrl.evaluation.linear_forward import (forwards_replaced, needs_graph,
                                           plain_float32_cpu_linear)

MIN_ROWS = 16
MAX_ROWS = 64


def transposed_linear(hidden, weight, bias=None):
    """``torch.nn.functional.linear(hidden, weight, bias)``, computed as ``(weight @ rows.T).T``
    for ``MIN_ROWS`` to ``MAX_ROWS`` rows; as ``linear`` otherwise, or where autograd needs the
    graph."""
    import torch

    flat = hidden.reshape(-1, hidden.shape[-1])
    if not MIN_ROWS <= flat.shape[0] <= MAX_ROWS or needs_graph(hidden, weight):
        return torch.nn.functional.linear(hidden, weight, bias)
    out = torch.mm(weight, flat.t()).t().contiguous()
    if bias is not None:
        out += bias
    return out.view(*hidden.shape[:-1], weight.shape[0])


@contextlib.contextmanager
def transposed_projections(model):
    """Within the block, every plain float32 ``nn.Linear`` of ``model`` on the CPU but its
    output layer (``output_layer.sliced_output_layer``'s) runs :func:`transposed_linear`.
    Meant for sampling, under ``torch.no_grad``; other layers and devices are left as they are."""
    output = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    with forwards_replaced([layer for layer in model.modules()
                            if plain_float32_cpu_linear(layer) and layer is not output],
                           transposed_linear):
        yield

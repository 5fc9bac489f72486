"""Swapping the forward of a model's linear layers for the span of a sampling call: the one
mechanism behind ``output_layer`` (slices of the vocabulary) and ``projections`` (transposed
products), each of which gives the same numbers as ``torch.nn.functional.linear``."""

from __future__ import annotations

import contextlib


def plain_float32_cpu_linear(layer) -> bool:
    """A plain ``nn.Linear`` (no subclass) with float32 weights on the CPU whose forward is
    not swapped already."""
    import torch

    return (type(layer) is torch.nn.Linear and layer.weight.device.type == "cpu"
            and layer.weight.dtype == torch.float32 and "forward" not in vars(layer))


def needs_graph(hidden, weight) -> bool:
    """Whether autograd needs the product's graph: the swapped forwards are meant for sampling
    under ``torch.no_grad`` and fall back to ``linear`` where it does."""
    import torch

    return torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad)


@contextlib.contextmanager
def forwards_replaced(layers, product):
    """Within the block each of ``layers`` computes ``product(hidden, weight, bias)``; their own
    forwards are back afterwards."""
    for layer in layers:
        layer.forward = (lambda layer: lambda hidden: product(hidden, layer.weight,
                                                               layer.bias))(layer)
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward

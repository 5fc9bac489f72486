"""The one timing rule of the benchmarks' micro-measurements: warm-up calls, then the median
of ``repeats`` timed calls; several ways of doing the same thing are timed in alternation, so
a slow spell of a shared 2-core VM hits them all alike."""

from __future__ import annotations

import statistics
import time


def alternating_medians_ms(calls: dict, repeats: int, warmups: int = 1) -> dict[str, float]:
    """Median wall time in milliseconds of each ``calls[name]()``, after ``warmups`` untimed
    calls of each (first touches of fresh memory, kernel selection); the timed calls go round
    the names ``repeats`` times."""
    for call in calls.values():
        for _ in range(warmups):
            call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            began = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - began)
    return {name: 1000 * statistics.median(spent) for name, spent in times.items()}


def median_ms(call, repeats: int, warmups: int = 1) -> float:
    """Median wall time of ``call()`` in milliseconds, after ``warmups`` untimed calls."""
    return alternating_medians_ms({"call": call}, repeats, warmups)["call"]


def read_rate(tensors, repeats: int) -> tuple[float, float]:
    """(milliseconds, GB/s) of reading ``tensors`` once (``torch.sum`` over each): this
    machine's memory read rate for bytes too many for any cache, the limit of a product that
    must read them."""
    megabytes = sum(t.numel() * t.element_size() for t in tensors) / 1e6
    read_ms = median_ms(lambda: [t.sum() for t in tensors], repeats)
    return read_ms, megabytes / read_ms

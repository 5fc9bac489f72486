"""benchmarks/timing.py's rule and benchmarks/matmul_rows.py's ways of computing a layer's
product (the benchmark's numbers are in README "Measured")."""

from __future__ import annotations

import pytest
import torch

from benchmark_scripts import load_benchmark


def test_median_ms_warms_up_then_takes_the_median_of_the_timed_calls(monkeypatch):
    timing = load_benchmark("timing")
    clock = iter([0.0, 0.010, 1.0, 1.030, 2.0, 2.020])  # timed calls of 10, 30, 20 ms
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    calls = []
    assert timing.median_ms(lambda: calls.append(1), repeats=3, warmups=2) == pytest.approx(20.0)
    assert len(calls) == 5  # two untimed warm-ups, three timed


def test_alternating_medians_time_the_ways_in_turn(monkeypatch):
    timing = load_benchmark("timing")
    clock = iter([0, 10, 10, 50, 50, 80, 80, 110, 110, 130, 130, 180])  # a b a b a b, in ms
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock) / 1000)
    order = []
    medians = timing.alternating_medians_ms({"a": lambda: order.append("a"),
                                             "b": lambda: order.append("b")}, repeats=3)
    assert order == ["a", "b"] + ["a", "b"] * 3  # one warm-up each, then in turn
    assert medians == {"a": pytest.approx(20.0), "b": pytest.approx(40.0)}  # a 10 30 20, b 40 30 50


def test_read_rate_is_the_bytes_over_the_median_time_of_summing_them(monkeypatch):
    timing = load_benchmark("timing")
    clock = iter([0.0, 0.004, 1.0, 1.002, 2.0, 2.003])  # timed calls of 4, 2, 3 ms
    monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
    tensors = [torch.zeros(250_000), torch.zeros(500_000, dtype=torch.float16)]  # 1 MB + 1 MB
    read_ms, gb_per_s = timing.read_rate(tensors, repeats=3)
    assert read_ms == pytest.approx(3.0)
    assert gb_per_s == pytest.approx(2 / 3)  # 2 MB in 3 ms


def test_every_way_computes_the_linear_product():
    script = load_benchmark("matmul_rows")
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(48, 32, generator=generator)
    for rows in (1, 4, 16):
        x = torch.randn(rows, 32, generator=generator)
        want = torch.nn.functional.linear(x, weight)
        for name, (prepare, apply) in script.ways(torch).items():
            got = apply(x, weight, prepare(weight, rows))
            assert got.shape == want.shape and got.is_contiguous(), name
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5, msg=name)

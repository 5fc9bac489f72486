"""benchmarks/step_limits.py: the floors a decode step is measured against, and the split of
its profile (the benchmark's numbers are in README "Measured")."""

from __future__ import annotations

import pytest

from benchmark_scripts import load_benchmark


def test_product_floor_is_the_slower_of_arithmetic_and_reading_the_weights():
    script = load_benchmark("step_limits")
    # 1e6 weights: 4 MB to read at 10 GB/s = 0.4 ms; 2 rows x 2 flops x 1e6 at 100 GFLOP/s = 0.04
    assert script.product_floor_ms(2, 1_000_000, 100.0, 10.0) == pytest.approx(0.4)
    # 1,000 rows: 2e9 flops at 100 GFLOP/s = 20 ms, beyond the 0.4 ms of reading
    assert script.product_floor_ms(1000, 1_000_000, 100.0, 10.0) == pytest.approx(20.0)


def test_attention_floor_reads_every_cached_key_and_value_once():
    script = load_benchmark("step_limits")
    # 2 rows x 100 columns x 3 layers x (key + value) x 2 heads x 8 dims x 4 bytes = 76,800 bytes
    assert script.attention_floor_ms(2, 100, 3, 2, 8, read_gb_s=1.0) == pytest.approx(0.0768)


def test_profile_split_counts_attention_whole_and_other_events_by_their_own_time():
    script = load_benchmark("step_limits")
    events = [("aten::mm", 3000.0, 3000.0, False), ("aten::linear", 1000.0, 4000.0, False),
              ("aten::scaled_dot_product_attention", 500.0, 2500.0, False),
              ("aten::_scaled_dot_product_flash_attention_for_cpu", 2000.0, 2000.0, True),
              ("aten::bmm", 700.0, 700.0, True),  # a math kernel's product: attention's
              ("aten::add", 1000.0, 1000.0, False), ("aten::mm_out_not_a_product", 10.0, 10.0, False)]
    parts = script.split_self_times_ms(events, steps=2)
    assert parts == pytest.approx({"products": 2.0, "attention": 1.25, "other_ops": 0.505})


def test_shapes_parse_as_rows_by_columns():
    script = load_benchmark("step_limits")
    assert script.parse_shape("46x750") == (46, 750)
    assert script.parse_shape("1X300") == (1, 300)
    with pytest.raises(ValueError):
        script.parse_shape("46")


def test_a_step_of_a_tiny_model_is_split_and_set_against_its_floors():
    import torch
    from tiny_lm import make_model

    script = load_benchmark("step_limits")
    model = make_model(64, seed=0).eval()
    rates = {"matmul_gflops": 100.0, "read_gb_per_s": 10.0}
    part = script.step_part(model, torch, rows=3, columns=20, rates=rates, steps=2)
    assert part["rows"] == 3 and part["cached_columns"] == 20
    assert part["products_ms"] > 0 and part["attention_ms"] > 0
    # tiny model: 2 layers of q, k, v, o (32x32, 16x32 twice, 32x32) and gate, up, down (64x32
    # three times), output layer 64x32 -> 2 * (1024 + 512 + 512 + 1024 + 3 * 2048) + 2048
    weights = 2 * (1024 + 512 + 512 + 1024 + 3 * 2048) + 2048
    assert part["products_floor_ms"] == pytest.approx(
        script.product_floor_ms(3, weights, 100.0, 10.0), abs=0.05)
    # 3 rows x 20 columns x 2 layers x 2 x 2 KV heads x 8 dims x 4 bytes at 10 GB/s
    assert part["attention_floor_ms"] == pytest.approx(3 * 20 * 2 * 2 * 2 * 8 * 4 / 1e7, abs=0.05)
    assert part["step_ms"] == pytest.approx(
        part["products_ms"] + part["attention_ms"] + part["rest_ms"], abs=0.2)

"""A sampler decode step against this machine's limits: how far each part of a step is from
the time the hardware needs for it.

A step of SmolLM2-135M is measured with every switch the sampler uses (in-place grouped-query
attention, transposed projections, the sliced output layer) over a cache of random keys and
values (the time does not depend on them), profiled by ``torch.profiler`` into matrix products,
attention and the rest. Each part gets a floor:

* products: the larger of their arithmetic at the machine's fp32 matmul rate (the fastest
  product of 512 rows by one of the model's weight shapes) and one read of every weight at its
  memory read rate (``torch.sum`` over the weights);
* attention: one read of the cached keys and values at the same read rate (its arithmetic
  takes a fifth of that here).

The ratio measured / floor says how much a faster kernel could still win on each part.

    .venv/bin/python benchmarks/step_limits.py [--shapes 1x300 16x400 46x750 64x400]
    # writes benchmarks/results/step_limits.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from sampler_step_parts import random_cache
from timing import median_ms, read_rate

ROOT = Path(__file__).resolve().parent.parent
BYTES_PER_FLOAT = 4
ATTENTION_EVENTS = ("scaled_dot_product",)
PRODUCT_EVENTS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::matmul", "aten::linear")


def product_floor_ms(rows: int, weight_count: int, gflops: float, read_gb_s: float) -> float:
    """A step's matrix products cannot beat their arithmetic (2 flops per weight and row) at
    the machine's matmul rate, nor one read of every float32 weight at its read rate."""
    arithmetic = 2 * rows * weight_count / (gflops * 1e6)
    reading = weight_count * BYTES_PER_FLOAT / (read_gb_s * 1e6)
    return max(arithmetic, reading)


def attention_floor_ms(rows: int, columns: int, layers: int, kv_heads: int, head_dim: int,
                       read_gb_s: float) -> float:
    """One read of every cached key and value that the step's rows attend to."""
    return rows * columns * layers * 2 * kv_heads * head_dim * BYTES_PER_FLOAT / (read_gb_s * 1e6)


def split_self_times_ms(events, steps: int) -> dict[str, float]:
    """Per-step CPU time of profiler events as products, attention and the rest. ``events``:
    (name, self microseconds, total microseconds, called inside attention) for every event;
    attention counts whole (its kernel may be built of products), the others their own time."""
    parts = {"products": 0.0, "attention": 0.0, "other_ops": 0.0}
    for name, self_micros, total_micros, inside_attention in events:
        if inside_attention:
            continue
        if _is_attention(name):
            parts["attention"] += total_micros
        elif name in PRODUCT_EVENTS:
            parts["products"] += self_micros
        else:
            parts["other_ops"] += self_micros
    return {name: total / 1000 / steps for name, total in parts.items()}


def _is_attention(name: str) -> bool:
    return any(key in name for key in ATTENTION_EVENTS)


def flat_events(profiled) -> list[tuple[str, float, float, bool]]:
    """The profile's events for split_self_times_ms."""
    flat = []
    for event in profiled.events():
        parent, inside = event.cpu_parent, False
        while parent is not None and not inside:
            inside, parent = _is_attention(parent.name), parent.cpu_parent
        flat.append((event.name, event.self_cpu_time_total, event.cpu_time_total, inside))
    return flat


def parse_shape(text: str) -> tuple[int, int]:
    rows, columns = text.lower().split("x")
    return int(rows), int(columns)


def machine_rates(model, torch, repeats: int, rows: int = 512) -> dict:
    """The fastest fp32 matmul rate over the model's own weight shapes at ``rows`` rows (a
    batch large enough to reach the hardware's peak), and the rate of reading every weight."""
    shapes = sorted({tuple(m.weight.shape) for m in model.modules()
                     if isinstance(m, torch.nn.Linear)})
    rates = {}
    for out_features, in_features in shapes:
        x, w = torch.randn(rows, in_features), torch.randn(in_features, out_features)
        ms = median_ms(lambda: torch.mm(x, w), repeats)
        rates[f"{in_features}x{out_features}"] = round(2 * rows * in_features * out_features
                                                        / (ms * 1e6), 1)
    _, read_gb_per_s = read_rate(list(model.parameters()), repeats)
    return {"matmul_gflops": max(rates.values()), "matmul_gflops_by_shape": rates,
            "matmul_rows": rows, "read_gb_per_s": round(read_gb_per_s, 2)}


def step_part(model, torch, rows: int, columns: int, rates: dict, steps: int) -> dict:
    from torch.profiler import profile

    from ocrl.evaluation.attention import in_place_gqa
    from ocrl.evaluation.output_layer import sliced_output_layer
    from ocrl.evaluation.projections import transposed_projections
    from ocrl.evaluation.sampler import _cache_argument, _plain_cache_layers

    config = model.config
    head_dim = config.hidden_size // config.num_attention_heads
    layers = _plain_cache_layers(model)
    generator = torch.Generator().manual_seed(0)
    cache_argument = {_cache_argument(model): random_cache(model, rows, columns, generator)}
    state = {"mask": torch.ones(rows, columns, dtype=torch.long), "position": columns}

    def step():
        state["mask"] = torch.cat([state["mask"], torch.ones(rows, 1, dtype=torch.long)], 1)
        position = torch.full((rows, 1), state["position"])
        state["position"] += 1
        model(input_ids=torch.randint(config.vocab_size, (rows, 1), generator=generator),
              attention_mask=state["mask"], position_ids=position, logits_to_keep=1,
              **cache_argument)

    with torch.no_grad(), in_place_gqa(model), transposed_projections(model), \
            sliced_output_layer(model):
        wall_ms = median_ms(step, steps)
        with profile() as profiled:
            for _ in range(steps):
                step()
    parts = split_self_times_ms(flat_events(profiled), steps)
    # The profiler's own bookkeeping inflates "other ops"; the rest is what the median wall
    # time leaves after the two parts with a floor.
    parts["rest"] = wall_ms - parts["products"] - parts["attention"]
    linear_weights = sum(m.weight.numel() for m in model.modules()
                         if isinstance(m, torch.nn.Linear))
    floors = {
        "products": product_floor_ms(rows, linear_weights, rates["matmul_gflops"],
                                     rates["read_gb_per_s"]),
        "attention": attention_floor_ms(rows, columns, layers, config.num_key_value_heads,
                                        head_dim, rates["read_gb_per_s"])}
    # Microseconds kept: a small model's attention takes well under 0.1 ms a step.
    part = {"rows": rows, "cached_columns": columns, "step_ms": round(wall_ms, 3),
            "tokens_per_s": round(rows / wall_ms * 1000, 1),
            **{f"{name}_ms": round(value, 3) for name, value in parts.items()},
            **{f"{name}_floor_ms": round(value, 3) for name, value in floors.items()},
            **{f"{name}_over_floor": round(parts[name] / floors[name], 2) for name in floors},
            "step_over_floors": round(wall_ms / sum(floors.values()), 2)}
    print(json.dumps(part), flush=True)
    return part


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shapes", nargs="+", type=parse_shape,
                        default=[(1, 300), (16, 400), (46, 750), (64, 400)],
                        help="ROWSxCOLUMNS: rows decoding, cached columns each attends to")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "step_limits.json"))
    args = parser.parse_args(argv)
    import torch

    from ocrl.models import load_model_and_tokenizer

    model, _ = load_model_and_tokenizer("smollm2-135m", dtype=torch.float32)
    model.eval()
    result = {"model": "smollm2-135m", "dtype": "float32", "torch": torch.__version__,
              "torch_threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d %H:%M"),
              "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
    result["machine"] = machine_rates(model, torch, repeats=9)
    print(json.dumps(result["machine"]), flush=True)
    result["steps"] = [step_part(model, torch, rows, columns, result["machine"], args.steps)
                       for rows, columns in args.shapes]
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()

"""Why a decode step is far from this CPU's limits: SmolLM2-135M's 30 layers of projection
weights (q, k, v, o, gate, up, down: 425 MB in float32, too big for any cache, as in a
forward pass) applied to M rows, for the row counts a sampler step carries.

For each M: `torch.nn.functional.linear` (what every transformers layer runs) and two other
ways to compute the same product: the transposed product `W @ x.T` (MKL picks another kernel)
and oneDNN with the weights reordered once for M rows (`torch.ops.mkldnn`), each timed as
the median of --repeats passes over all 210 weights (the ways in alternation), with the rate
at which each streams the weights (GB/s) and its arithmetic rate (GFLOP/s), and whether its
result equals `linear`'s bit for bit. The machine's read rate for the same bytes (`torch.sum`
over every weight) is the memory limit a one-row product could reach.

    .venv/bin/python benchmarks/matmul_rows.py [--rows 1 2 4 ...] [--repeats 7]
    # writes benchmarks/results/matmul_rows.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from timing import alternating_medians_ms, read_rate

ROOT = Path(__file__).resolve().parent.parent
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def ways(torch) -> dict:
    """name -> (prepare(weight, rows) -> prepared weight, apply(x, weight, prepared))."""
    linear = torch.nn.functional.linear
    return {
        "linear": (lambda weight, rows: None, lambda x, weight, _: linear(x, weight)),
        # The product ocrl.evaluation.projections.transposed_linear takes from 16 to 64 rows.
        "transposed": (lambda weight, rows: None,
                       lambda x, weight, _: torch.mm(weight, x.t()).t().contiguous()),
        "onednn_reordered": (
            lambda weight, rows: torch.ops.mkldnn._reorder_linear_weight(weight, rows),
            lambda x, _, prepared: torch.ops.mkldnn._linear_pointwise(x, prepared, None,
                                                                      "none", [], "")),
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+",
                        default=[1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "matmul_rows.json"))
    args = parser.parse_args(argv)
    import torch

    from ocrl.models import load_model_and_tokenizer

    model, _ = load_model_and_tokenizer("smollm2-135m", dtype=torch.float32)
    weights = [module.weight.detach() for name, module in model.named_modules()
               if name.rsplit(".", 1)[-1] in PROJECTIONS]
    megabytes = sum(w.numel() for w in weights) * 4 / 1e6
    flops_per_row = 2 * sum(w.numel() for w in weights)
    read_ms, read_gb_per_s = read_rate(weights, args.repeats)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load_average_before": os.getloadavg()[0], "machine": platform.processor()
              or platform.machine(), "torch": torch.__version__,
              "threads": torch.get_num_threads(), "weights": len(weights),
              "weight_megabytes": round(megabytes, 1),
              "read_all_weights_ms": round(read_ms, 1),
              "read_gb_per_s": round(read_gb_per_s, 2), "rows": []}
    generator = torch.Generator().manual_seed(0)
    for rows in args.rows:
        inputs = {size: torch.randn(rows, size, generator=generator)
                  for size in {w.shape[1] for w in weights}}
        entry = {"rows": rows}
        reference = [torch.nn.functional.linear(inputs[w.shape[1]], w) for w in weights]
        passes, equal = {}, {}
        for name, (prepare, apply) in ways(torch).items():
            pairs = [(w, prepare(w, rows)) for w in weights]
            passes[name] = (lambda apply, pairs: lambda: [apply(inputs[w.shape[1]], w, p)
                                                          for w, p in pairs])(apply, pairs)
            equal[name] = all(torch.equal(apply(inputs[w.shape[1]], w, p), want)
                              for (w, p), want in zip(pairs, reference))
        for name, milliseconds in alternating_medians_ms(passes, args.repeats).items():
            entry[name] = {"ms": round(milliseconds, 1),
                           "weights_gb_per_s": round(megabytes / milliseconds, 2),
                           "gflop_per_s": round(rows * flops_per_row / milliseconds / 1e6, 1),
                           "equal_to_linear": equal[name]}
        result["rows"].append(entry)
        print(json.dumps(entry), flush=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return result


if __name__ == "__main__":
    main()

"""Whether this CPU multiplies half precision natively: one decode-sized matmul of
SmolLM2-135M (64 rows x 576 @ 576 x 1536, its MLP shape) timed in float32, bfloat16 and
float16 on one thread, beside the CPU flags `ocrl.models.slow_half_precision` reads.

    .venv/bin/python benchmarks/half_precision_matmul.py
    # writes benchmarks/results/half_precision_matmul.json
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent


def gflops(dtype: torch.dtype, repeats: int) -> float:
    a, b = torch.randn(64, 576, dtype=dtype), torch.randn(576, 1536, dtype=dtype)
    for _ in range(3):
        a @ b
    began = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * 64 * 576 * 1536 * repeats / (time.perf_counter() - began) / 1e9


def main() -> dict:
    from ocrl.models import NATIVE_HALF_FLAGS, cpu_flags

    torch.set_num_threads(1)
    flags = cpu_flags()
    result = {"threads": 1, "shape": "64x576 @ 576x1536",
              "gflops": {name: round(gflops(getattr(torch, name), 200), 2)
                         for name in ("float32", "bfloat16", "float16")},
              "native_flags_present": {name: sorted(flags & native)
                                       for name, native in NATIVE_HALF_FLAGS.items()},
              "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
              "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__}
    out = ROOT / "benchmarks" / "results" / "half_precision_matmul.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
    return result


if __name__ == "__main__":
    main()

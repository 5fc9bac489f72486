"""Per-step cost of SmolLM2-135M on this machine: where sampling time goes (issue 16).

Prefill throughput (8 prompts x 300 tokens), and the time of one decode step for a few batch
sizes and cache lengths, with transformers' concatenating DynamicCache and with the sampler's
in-place growing cache. fp32, torch's threads, 8 timed steps each after the prefill.

    .venv/bin/python benchmarks/decode_step.py
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHAPES = [(1, 300), (32, 50), (32, 800)]
STEPS = 8


def main() -> dict:
    import torch
    from transformers import DynamicCache

    from ocrl.evaluation.sampler import _new_cache, _plain_cache_layers
    from ocrl.models import load_model_and_tokenizer

    model, _ = load_model_and_tokenizer("smollm2-135m", dtype=torch.float32)
    model.eval()
    layers = _plain_cache_layers(model)
    result = {"date": time.strftime("%Y-%m-%d"), "torch_threads": torch.get_num_threads(),
              "decode_ms_per_step": {}}
    with torch.no_grad():
        tokens = torch.randint(0, 40000, (8, 300))
        began = time.perf_counter()
        model(input_ids=tokens, use_cache=True, logits_to_keep=1)
        result["prefill_tokens_per_second"] = round(tokens.numel() / (time.perf_counter() - began))
        for rows, length in SHAPES:
            for kind in ("concatenated", "in_place"):
                cache = DynamicCache(config=model.config) if kind == "concatenated" \
                    else _new_cache(layers)
                model(input_ids=torch.randint(0, 40000, (rows, length)), cache=cache,
                      use_cache=True, logits_to_keep=1)
                token = torch.randint(0, 40000, (rows, 1))
                began = time.perf_counter()
                for _ in range(STEPS):
                    model(input_ids=token, cache=cache, use_cache=True)
                milliseconds = (time.perf_counter() - began) / STEPS * 1000
                result["decode_ms_per_step"][f"{rows}x{length} {kind}"] = round(milliseconds)
                print(f"{rows} rows, {length} cached, {kind}: {milliseconds:.0f} ms/step",
                      flush=True)
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    out = ROOT / "benchmarks" / "results" / "decode_step.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()

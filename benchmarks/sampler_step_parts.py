"""Two parts of a sampler step, each timed against what it replaced, side by side:

* a decode step of 16 rows over 400 cached tokens feeding 1 + k tokens a row (k draft
  tokens), with transformers' sdpa attention and with the sampler's in-place grouped-query
  attention (`ocrl.evaluation.attention.in_place_gqa`), and whether their logits are equal;
* choosing the next token of 21 rows at T=0.8, top-p 0.95: transformers' warpers and a draw
  over the whole vocabulary, against `ocrl.evaluation.nucleus`.

SmolLM2-135M, float32, torch's threads, medians of 5 steps.

    .venv/bin/python benchmarks/sampler_step_parts.py
    # writes benchmarks/results/sampler_step_parts.json
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> dict:
    import torch
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

    from ocrl.evaluation import nucleus
    from ocrl.evaluation.attention import in_place_gqa
    from ocrl.evaluation.sampler import _cache_argument, _new_cache, _plain_cache_layers
    from ocrl.models import load_model_and_tokenizer

    model, _ = load_model_and_tokenizer("smollm2-135m", dtype=torch.float32)
    model.eval()
    layers, cache_arg = _plain_cache_layers(model), _cache_argument(model)

    def step_ms(rows: int, drafts: int, cached: int = 400, steps: int = 5):
        torch.manual_seed(0)
        cache = _new_cache(layers)
        mask = torch.ones(rows, cached, dtype=torch.long)
        mask[:, 0] = 0  # a padding column, as the sampler's batches have
        with torch.no_grad():
            model(input_ids=torch.randint(100, 20000, (rows, cached)), attention_mask=mask,
                  logits_to_keep=1, **{cache_arg: cache})
        times, width = [], cached
        for _ in range(steps):
            fed = torch.randint(100, 20000, (rows, 1 + drafts))
            mask = torch.cat([mask, torch.ones(rows, 1 + drafts, dtype=torch.long)], dim=1)
            positions = torch.arange(width, width + 1 + drafts).expand(rows, -1)
            width += 1 + drafts
            began = time.perf_counter()
            with torch.no_grad():
                logits = model(input_ids=fed, attention_mask=mask, position_ids=positions,
                               **{cache_arg: cache}).logits
            times.append(time.perf_counter() - began)
        return 1000 * statistics.median(times), logits

    steps = []
    for drafts in (0, 1, 4):
        sdpa, expected = step_ms(16, drafts)
        with in_place_gqa(model):
            gqa, got = step_ms(16, drafts)
        steps.append({"rows": 16, "cached_tokens": 400, "draft_tokens": drafts,
                      "sdpa_ms": round(sdpa, 1), "in_place_gqa_ms": round(gqa, 1),
                      "logits_equal": bool(torch.equal(expected, got))})
        print(json.dumps(steps[-1]), flush=True)

    logits = torch.randn(21, model.config.vocab_size, generator=torch.Generator().manual_seed(0))
    logits = logits * 4  # peaked, as a model's are
    generator = torch.Generator().manual_seed(0)
    warpers = LogitsProcessorList([TemperatureLogitsWarper(0.8), TopPLogitsWarper(0.95)])

    def timed(choose, repeats: int = 10) -> float:
        choose()
        began = time.perf_counter()
        for _ in range(repeats):
            choose()
        return 1000 * (time.perf_counter() - began) / repeats

    scores = warpers(None, logits.clone())
    probs = torch.softmax(scores, dim=-1)
    choosing = {
        "transformers_warpers_ms": round(timed(lambda: warpers(None, logits.clone())), 1),
        "draw_over_vocabulary_ms": round(timed(
            lambda: torch.multinomial(probs, 1, generator=generator)), 1),
        "ocrl_nucleus_and_draw_ms": round(timed(lambda: nucleus.sample(
            *nucleus.nucleus(logits, 0.8, 0.95), generator)), 1)}
    print(json.dumps(choosing), flush=True)
    result = {"model": "smollm2-135m", "dtype": "float32",
              "torch_threads": torch.get_num_threads(), "decode_steps": steps,
              "choosing_21_rows": choosing,
              "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
              "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__}
    out = ROOT / "benchmarks" / "results" / "sampler_step_parts.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()

"""Three parts of a sampler step, each timed against what it replaced, side by side:

* a decode step of 16 rows over 400 cached tokens feeding 1 + k tokens a row (k draft
  tokens), with transformers' sdpa attention and with the sampler's in-place grouped-query
  attention (`ocrl.evaluation.attention.in_place_gqa`), and whether their logits are equal;
* choosing the next token of 21 rows at T=0.8, top-p 0.95: transformers' warpers and a draw
  over the whole vocabulary, against `ocrl.evaluation.nucleus`;
* a decode step of 16 rows whose cached lengths run from 250 to 4,000 tokens (log-spaced, as
  CodeNet statements do), left-padded to the longest: attention over every column against
  the sampler's row windows (`ocrl.evaluation.attention.row_windows`, groups chosen by
  `plan_windows`), and whether their logits agree;
* the output layer (49,152 words) applied to 1 to 64 rows of hidden states, and a decode step
  of 16 rows over 400 cached tokens, with the layer's one product against the sampler's
  slices of the vocabulary (`ocrl.evaluation.output_layer.sliced_output_layer`), and whether
  the logits are equal.

SmolLM2-135M, float32, torch's threads, medians of 5 steps (9 for the windows).

    .venv/bin/python benchmarks/sampler_step_parts.py [--parts attention choosing windows output_layer]
    # updates the parts run in benchmarks/results/sampler_step_parts.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
from pathlib import Path

from timing import median_ms

ROOT = Path(__file__).resolve().parent.parent


PARTS = ("attention", "choosing", "windows", "output_layer")


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    args = parser.parse_args(argv)
    import torch

    from ocrl.evaluation import nucleus
    from ocrl.evaluation.attention import in_place_gqa, plan_windows, row_windows
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

    out = ROOT / "benchmarks" / "results" / "sampler_step_parts.json"
    result = json.loads(out.read_text()) if out.exists() else {}
    earlier = {key: result.pop(key) for key in ("load_average_at_end", "date") if key in result}
    if earlier:  # one stamp for the whole file once; now each part keeps its run's own
        if "decode_steps" in result:
            result["decode_steps_run"] = earlier
        if "choosing_21_rows" in result:
            result["choosing_21_rows"].update(earlier)
    result.update({"model": "smollm2-135m", "dtype": "float32",
                   "torch_threads": torch.get_num_threads(), "torch": torch.__version__})

    def stamp() -> dict:
        return {"load_average_at_end": [round(x, 2) for x in os.getloadavg()],
                "date": time.strftime("%Y-%m-%d")}

    if "attention" in args.parts:
        result["decode_steps"] = attention_part(model, step_ms, in_place_gqa, torch)
        result["decode_steps_run"] = stamp()
    if "choosing" in args.parts:
        result["choosing_21_rows"] = {**choosing_part(model, nucleus, torch), **stamp()}
    if "windows" in args.parts:
        result["row_windows"] = {
            **windows_part(model, cache_arg, in_place_gqa, plan_windows, row_windows,
                           torch), **stamp()}
    if "output_layer" in args.parts:
        result["output_layer"] = {**output_layer_part(model, step_ms, in_place_gqa, torch),
                                  **stamp()}
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


def output_layer_part(model, step_ms, in_place_gqa, torch, repeats: int = 15) -> dict:
    from ocrl.evaluation.output_layer import sliced_linear, sliced_output_layer

    weight = model.get_output_embeddings().weight
    generator = torch.Generator().manual_seed(0)
    part = {"vocabulary": weight.shape[0], "hidden": weight.shape[1], "layer_alone": []}
    for rows in (1, 4, 16, 32, 64):
        hidden = torch.randn(rows, weight.shape[1], generator=generator)
        times = {}
        for name, apply in (("one_product", torch.nn.functional.linear),
                            ("slices", sliced_linear)):
            with torch.no_grad():
                times[f"{name}_ms"] = round(median_ms(lambda: apply(hidden, weight), repeats), 2)
        with torch.no_grad():
            equal = torch.equal(torch.nn.functional.linear(hidden, weight),
                                sliced_linear(hidden, weight))
        part["layer_alone"].append({"rows": rows, **times, "equal": bool(equal)})
        print(json.dumps(part["layer_alone"][-1]), flush=True)
    with in_place_gqa(model):
        whole, expected = step_ms(16, 0)
        with sliced_output_layer(model):
            sliced, got = step_ms(16, 0)
    part["decode_step"] = {"rows": 16, "cached_tokens": 400, "one_product_ms": round(whole, 1),
                           "slices_ms": round(sliced, 1),
                           "logits_equal": bool(torch.equal(expected, got))}
    print(json.dumps(part["decode_step"]), flush=True)
    return part


def attention_part(model, step_ms, in_place_gqa, torch) -> list[dict]:
    steps = []
    for drafts in (0, 1, 4):
        sdpa, expected = step_ms(16, drafts)
        with in_place_gqa(model):
            gqa, got = step_ms(16, drafts)
        steps.append({"rows": 16, "cached_tokens": 400, "draft_tokens": drafts,
                      "sdpa_ms": round(sdpa, 1), "in_place_gqa_ms": round(gqa, 1),
                      "logits_equal": bool(torch.equal(expected, got))})
        print(json.dumps(steps[-1]), flush=True)
    return steps


def choosing_part(model, nucleus, torch) -> dict:
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

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
    return choosing


@contextlib.contextmanager
def eager_attention(model):
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation("sdpa")


def random_cache(model, rows: int, columns: int, generator):
    """The sampler's cache holding ``rows`` x ``columns`` random keys and values in every layer:
    a step's time does not depend on them, and a prefill that long would take minutes."""
    import torch

    from ocrl.evaluation.sampler import _new_cache, _plain_cache_layers

    config = model.config
    shape = (rows, config.num_key_value_heads, columns,
             config.hidden_size // config.num_attention_heads)
    cache = _new_cache(_plain_cache_layers(model))
    for layer in cache.layers:
        layer.update(torch.randn(shape, generator=generator),
                     torch.randn(shape, generator=generator))
    return cache


def windows_part(model, cache_arg, in_place_gqa, plan_windows, row_windows,
                 torch, rows: int = 16, steps: int = 9) -> dict:
    lengths = [round(250 * 16 ** (i / (rows - 1))) for i in range(rows)][::-1]
    width = max(lengths)
    starts = [width - length for length in lengths]
    part = {"rows": rows, "cached_lengths": lengths, "width": width,
            "windows": plan_windows(starts, width)}
    outputs = {}
    for name, windows in (("whole_cache", None), ("row_windows", part["windows"]),
                          ("eager", None)):
        generator = torch.Generator().manual_seed(0)
        cache = random_cache(model, rows, width, generator)
        mask = (torch.arange(width)[None, :] >= torch.tensor(starts)[:, None]).long()
        times, position = [], torch.tensor(lengths)[:, None]
        for _ in range(steps):
            fed = torch.randint(100, 20000, (rows, 1), generator=generator)
            mask = torch.cat([mask, torch.ones(rows, 1, dtype=torch.long)], dim=1)
            began = time.perf_counter()
            if name == "eager":
                with torch.no_grad(), eager_attention(model):
                    logits = model(input_ids=fed, attention_mask=mask, position_ids=position,
                                   **{cache_arg: cache}).logits
            else:
                with torch.no_grad(), in_place_gqa(model), row_windows(windows):
                    logits = model(input_ids=fed, attention_mask=mask, position_ids=position,
                                   **{cache_arg: cache}).logits
            times.append(time.perf_counter() - began)
            position = position + 1
        part[f"{name}_ms"] = round(1000 * statistics.median(times), 1)
        outputs[name] = logits
    # How far each path's logits are from transformers' eager attention (no kernel, no
    # windows) says whether the windows cost accuracy.
    for name in ("whole_cache", "row_windows"):
        part[f"{name}_vs_eager_max_logit_difference"] = float(
            (outputs[name] - outputs["eager"]).abs().max())
    part["max_logit_difference"] = float(
        (outputs["whole_cache"] - outputs["row_windows"]).abs().max())
    print(json.dumps(part), flush=True)
    return part


if __name__ == "__main__":
    main()

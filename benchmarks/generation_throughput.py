"""Generation throughput: ocrl's batched sampler vs a plain one-prompt-at-a-time loop.

Both generate for the same HumanEval prompts (chat format, as `ocrl eval` uses for
SmolLM2-135M-Instruct) with the same model, dtype and thread count, in one process:

* baseline: ``for prompt in prompts: for each of n samples: model.generate(**tokenizer(prompt),
  ...)``, one sequence at a time, with the same stop rule as ocrl (EOS, or the answer's code
  block closed) as a StoppingCriteria, so both do the same work;
* ocrl: ``TransformersSampler.generate`` (continuous batching with a KV cache, the chat
  template's common prefix computed once, prompts of similar length prefilled together, one
  prefill shared by a prompt's n samples, per-sequence stop once the answer's code block
  is closed).

Greedy with n=1 by default; ``--n 4 --temperature 0.8`` measures pass@k-style sampling.
Each side runs --repeats times, alternating, and the medians are reported. Reported: generated
tokens per second of each (the goal is ocrl >= 4x the loop), the wall
time each needed, and (greedy only) how many outputs are identical: the batched path must
not change what the model says.

    .venv/bin/python benchmarks/generation_throughput.py --prompts 16 --max-new-tokens 128
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--prompts", type=int, default=16, help="HumanEval problems used")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n", type=int, default=1, help="samples per prompt")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads for both (default: torch's)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs of each side, alternating; medians are reported")
    parser.add_argument("--out", default="benchmarks/results/generation_throughput.json")
    args = parser.parse_args()

    import torch

    from ocrl import prompting
    from ocrl.evaluation.problem_sources import humaneval_problems
    from ocrl.evaluation.sampler import (SamplingConfig, TransformersSampler,
                                         _make_text_stopping_criteria)
    from ocrl.models import load_model_and_tokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer = load_model_and_tokenizer(args.model, dtype=torch.float32)
    model.eval()
    fmt = prompting.detect_format(tokenizer)
    problems = humaneval_problems()[:args.prompts]
    prompts = [prompting.build_prompt(tokenizer, p.prompt, fmt, p.style) for p in problems]
    add_special = prompting.add_special_tokens(fmt)
    eos = tokenizer.eos_token_id

    def is_done(text: str) -> bool:
        return prompting.should_stop(text, fmt, "assert")

    # Warm-up outside the timings (first-call allocations, lazy inits).
    with torch.no_grad():
        model.generate(**tokenizer(prompts[0], return_tensors="pt",
                                   add_special_tokens=add_special),
                       max_new_tokens=4, do_sample=False, pad_token_id=eos)

    greedy = args.temperature <= 0
    sampling = {"do_sample": False} if greedy else {
        "do_sample": True, "temperature": args.temperature, "top_p": 0.95, "top_k": 0}
    def run_baseline():
        torch.manual_seed(args.seed)
        texts, tokens = [], 0
        began = time.perf_counter()
        with torch.no_grad():
            for prompt in prompts:
                encoded = tokenizer(prompt, return_tensors="pt", add_special_tokens=add_special)
                width = encoded["input_ids"].shape[1]
                for _ in range(args.n):
                    output = model.generate(
                        **encoded, max_new_tokens=args.max_new_tokens, pad_token_id=eos,
                        stopping_criteria=[_make_text_stopping_criteria(tokenizer, width,
                                                                        is_done)],
                        **sampling)
                    new = output[0, width:]
                    tokens += int(new.numel())
                    texts.append(tokenizer.decode(new, skip_special_tokens=True))
        return texts, tokens, time.perf_counter() - began

    config = SamplingConfig(n=args.n, temperature=args.temperature,
                            max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                            seed=args.seed)

    def run_ocrl():
        sampler = TransformersSampler(model, tokenizer, add_special_tokens=add_special)
        began = time.perf_counter()
        generations = sampler.generate(prompts, config, is_done=is_done)
        seconds = time.perf_counter() - began
        return ([g.text for row in generations for g in row],
                sum(g.n_tokens for row in generations for g in row), seconds)

    # Alternating repeats, so a burst of load from elsewhere hits both sides alike; the
    # medians are reported, every repeat's times too.
    baseline_times, ocrl_times = [], []
    for repeat in range(args.repeats):
        baseline_texts, baseline_tokens, seconds = run_baseline()
        baseline_times.append(seconds)
        ocrl_texts, ocrl_tokens, seconds = run_ocrl()
        ocrl_times.append(seconds)
        print(f"repeat {repeat + 1}/{args.repeats}: loop {baseline_times[-1]:.1f} s, "
              f"ocrl {ocrl_times[-1]:.1f} s, {baseline_times[-1] / ocrl_times[-1]:.2f}x",
              flush=True)
    baseline_seconds = statistics.median(baseline_times)
    ocrl_seconds = statistics.median(ocrl_times)

    agreeing = sum(a == b for a, b in zip(baseline_texts, ocrl_texts)) if greedy else None
    baseline_rate = baseline_tokens / baseline_seconds
    ocrl_rate = ocrl_tokens / ocrl_seconds
    result = {
        "model": args.model, "format": fmt, "prompts": len(prompts), "n": args.n,
        "temperature": args.temperature,
        "max_new_tokens": args.max_new_tokens, "batch_size": args.batch_size,
        "torch_threads": torch.get_num_threads(), "dtype": "float32",
        "repeats": args.repeats,
        "baseline_loop": {"tokens": baseline_tokens, "seconds": round(baseline_seconds, 2),
                          "tokens_per_second": round(baseline_rate, 2),
                          "seconds_each_repeat": [round(t, 2) for t in baseline_times]},
        "ocrl_batched": {"tokens": ocrl_tokens, "seconds": round(ocrl_seconds, 2),
                         "tokens_per_second": round(ocrl_rate, 2),
                         "seconds_each_repeat": [round(t, 2) for t in ocrl_times]},
        "speedup_each_repeat": [round(b / o, 2) for b, o in zip(baseline_times, ocrl_times)],
        "speedup_tokens_per_second": round(ocrl_rate / baseline_rate, 2),
        "speedup_wall_time_same_work": round(baseline_seconds / ocrl_seconds, 2),
        "greedy_outputs_identical": f"{agreeing}/{len(ocrl_texts)}" if greedy else "n/a",
        "load_average_at_end": os.getloadavg(), "cpus": os.cpu_count(),
        "torch": torch.__version__, "python": platform.python_version(),
        "command": "python benchmarks/generation_throughput.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
            if v is not None and k != "out"),
    }
    print(f"{'':22}{'tokens':>8}{'seconds':>10}{'tokens/s':>10}")
    print(f"{'one-at-a-time loop':22}{baseline_tokens:>8}{baseline_seconds:>10.1f}"
          f"{baseline_rate:>10.1f}")
    print(f"{'ocrl batched sampler':22}{ocrl_tokens:>8}{ocrl_seconds:>10.1f}{ocrl_rate:>10.1f}")
    print(f"speedup: {result['speedup_tokens_per_second']}x tokens/s, "
          f"{result['speedup_wall_time_same_work']}x wall time for the same work; "
          f"greedy outputs identical: {result['greedy_outputs_identical']}")
    out = Path(args.out)
    if args.n > 1 and args.out == parser.get_default("out"):
        out = out.with_name(f"{out.stem}_n{args.n}{out.suffix}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

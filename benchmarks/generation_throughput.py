"""Generation throughput of every sampling path on the same prompts, side by side in one run.

All sides generate for the same problems (chat format, as `ocrl eval` uses for
SmolLM2-135M-Instruct) with the same model, dtype and thread count, in one process, with the
same stop rule (EOS, or the answer's code block closed):

* ``loop``: ``model.generate`` one sequence at a time (what a hand-rolled eval does);
* ``generate``: batched ``model.generate`` (``TransformersSampler(engine="generate")``);
* ``baseline``: ocrl's sampler as it was at ``--baseline-rev`` (read with ``git show``), so
  a change to the sampler is measured against the code it replaces;
* ``ocrl``: ``TransformersSampler`` as it is now (continuous batching, in-place KV cache,
  prompt-lookup drafts of up to ``--draft-tokens`` verified per step);
* ``ocrl-nodraft``: the same without drafts (``--draft-tokens 0``), one step per token;
* ``ocrl-bf16``: the same sampler with the weights in bfloat16 (``ocrl eval/sample --dtype
  bfloat16``): faster where the CPU has bf16 matmul, but its answers differ from fp32's;
* ``ct2-float32``, ``ct2-int8``: CTranslate2 (``pip install ctranslate2``), the model
  converted once into a directory keyed by its weights' hash.

Sides run alternately --repeats times and medians are reported. Greedy runs also count how
many outputs are identical to the ``ocrl`` side's: a faithful backend changes nothing.

    .venv/bin/python benchmarks/generation_throughput.py --prompts 96 --max-new-tokens 512
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("loop", "generate", "baseline", "ocrl", "ocrl-nodraft", "ocrl-bf16", "ct2-float32",
         "ct2-int8")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--problems", default="humaneval",
                        help="humaneval, or a problems JSONL (e.g. from `ocrl problems codenet`)")
    parser.add_argument("--prompts", type=int, default=96, help="first N problems")
    parser.add_argument("--sample-seed", type=int, default=None,
                        help="shuffle the problems with random.Random(seed) before taking N")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--n", type=int, default=1, help="samples per prompt")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draft-tokens", type=int, default=None,
                        help="the ocrl side's draft tokens per step (default: the sampler's)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads for all sides (default: torch's)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="timed runs of each side, alternating; medians are reported")
    parser.add_argument("--sides", nargs="+", default=["generate", "baseline", "ocrl"],
                        choices=SIDES)
    parser.add_argument("--baseline-rev", default="6a53b73^",
                        help="git revision whose src/ocrl/evaluation/sampler.py is 'baseline'")
    parser.add_argument("--ct2-dir", default=str(Path.home() / ".cache" / "ocrl" / "ct2"))
    parser.add_argument("--out", default=None,
                        help="default: benchmarks/results/generation_throughput_<setting>.json")
    return parser.parse_args(argv)


def load_baseline_sampler(rev: str):
    """The sampler module as it was at ``rev``, imported under another name."""
    source = subprocess.run(["git", "show", f"{rev}:src/ocrl/evaluation/sampler.py"],
                            cwd=ROOT, check=True, capture_output=True, text=True).stdout
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"ocrl_sampler_{rev.replace('^', '_')}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("ocrl_baseline_sampler", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


def weights_key(model_dir: Path) -> str:
    """A hash of the model's weight files: a retrained model never reuses a conversion."""
    digest = hashlib.sha256()
    for path in sorted(model_dir.glob("*.safetensors")):
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 24), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def ct2_generator(model_dir: Path, quantization: str, root: Path, threads: int):
    import ctranslate2

    target = root / f"{weights_key(model_dir)}-{quantization}"
    if not (target / "model.bin").exists():
        partial = target.with_name(target.name + ".partial")
        ctranslate2.converters.TransformersConverter(str(model_dir)).convert(
            str(partial), quantization=quantization, force=True)
        partial.rename(target)
    return ctranslate2.Generator(str(target), device="cpu", compute_type=quantization,
                                 inter_threads=1, intra_threads=threads)


def main(argv=None) -> dict:
    args = parse_args(argv)
    import torch

    from ocrl import prompting
    from ocrl.evaluation.problem_sources import load_eval_problems
    from ocrl.evaluation.sampler import (SamplingConfig, TransformersSampler,
                                         _make_text_stopping_criteria)
    from ocrl.models import load_model_and_tokenizer, resolve_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model_dir = Path(resolve_model(args.model))
    model, tokenizer = load_model_and_tokenizer(args.model, dtype=torch.float32)
    model.eval()
    fmt = prompting.detect_format(tokenizer)
    problems = load_eval_problems(args.problems)
    if args.sample_seed is not None:
        import random

        random.Random(args.sample_seed).shuffle(problems)
    problems = problems[:args.prompts]
    styles = {p.style for p in problems}
    if len(styles) != 1:
        sys.exit(f"the problems mix styles {sorted(styles)}: give problems of one style")
    style = styles.pop()
    prompts = [prompting.build_prompt(tokenizer, p.prompt, fmt, p.style) for p in problems]
    add_special = prompting.add_special_tokens(fmt)
    prompt_tokens = [len(tokenizer(p, add_special_tokens=add_special).input_ids)
                     for p in prompts]
    eos = tokenizer.eos_token_id
    greedy = args.temperature <= 0

    def is_done(text: str) -> bool:
        return prompting.should_stop(text, fmt, style)

    config = SamplingConfig(n=args.n, temperature=args.temperature,
                            max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                            seed=args.seed)
    if args.draft_tokens is not None:
        config.draft_tokens = args.draft_tokens
    sampling = {"do_sample": False} if greedy else {
        "do_sample": True, "temperature": args.temperature, "top_p": 0.95, "top_k": 0}

    def run_loop():
        torch.manual_seed(args.seed)
        texts, tokens = [], 0
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
        return texts, tokens

    profiles: dict[str, dict] = {}  # the last repeat's decode loop, per side that has one

    def sampler_side(sampler_class, side_model=model, side="", side_config=config, **kwargs):
        def run():
            sampler = sampler_class(side_model, tokenizer, add_special_tokens=add_special,
                                    **kwargs)
            generations = sampler.generate(prompts, side_config, is_done=is_done)
            if hasattr(sampler.stats, "decode_profile"):
                profiles[side] = sampler.stats.decode_profile()
            return ([g.text for row in generations for g in row],
                    sum(g.n_tokens for row in generations for g in row))
        return run

    def ct2_side(quantization):
        generator = ct2_generator(model_dir, quantization, Path(args.ct2_dir),
                                  torch.get_num_threads())
        pieces = [tokenizer.convert_ids_to_tokens(
            tokenizer(p, add_special_tokens=add_special).input_ids) for p in prompts]

        def run():
            import ctranslate2

            ctranslate2.set_random_seed(args.seed)
            so_far: dict[tuple[int, int], list[int]] = {}

            def stop(step) -> bool:  # the same per-sequence stop rule as the other sides
                ids = so_far.setdefault((step.batch_id, step.hypothesis_id), [])
                ids.append(step.token_id)
                return is_done(tokenizer.decode(ids, skip_special_tokens=True))

            options = dict(sampling_topk=1) if greedy else dict(
                sampling_topk=0, sampling_topp=0.95, sampling_temperature=args.temperature)
            results = generator.generate_batch(
                pieces, max_length=args.max_new_tokens, include_prompt_in_result=False,
                end_token=[tokenizer.eos_token], callback=stop, num_hypotheses=args.n,
                max_batch_size=args.batch_size, **options)
            texts, tokens = [], 0
            for result in results:
                for ids in result.sequences_ids:
                    texts.append(tokenizer.decode(ids, skip_special_tokens=True))
                    tokens += len(ids)
            return texts, tokens
        return run

    runners = {}
    for side in args.sides:
        if side == "loop":
            runners[side] = run_loop
        elif side == "generate":
            runners[side] = sampler_side(TransformersSampler, engine="generate")
        elif side == "baseline":
            runners[side] = sampler_side(load_baseline_sampler(args.baseline_rev)
                                         .TransformersSampler)
        elif side == "ocrl":
            runners[side] = sampler_side(TransformersSampler, side=side)
        elif side == "ocrl-nodraft":
            runners[side] = sampler_side(TransformersSampler, side=side,
                                         side_config=dataclasses.replace(config, draft_tokens=0))
        elif side == "ocrl-bf16":
            runners[side] = sampler_side(TransformersSampler, side=side,
                                         side_model=load_model_and_tokenizer(
                args.model, dtype=torch.bfloat16)[0].eval())
        else:
            runners[side] = ct2_side(side.split("-", 1)[1])

    # Warm-up outside the timings (first-call allocations, lazy inits).
    TransformersSampler(model, tokenizer, add_special_tokens=add_special).generate(
        prompts[:2], SamplingConfig(max_new_tokens=4))

    times: dict[str, list[float]] = {side: [] for side in runners}
    outputs: dict[str, tuple[list[str], int]] = {}
    for repeat in range(args.repeats):
        for side, run in runners.items():
            began = time.perf_counter()
            outputs[side] = run()
            times[side].append(time.perf_counter() - began)
            print(f"repeat {repeat + 1}/{args.repeats} {side}: {outputs[side][1]} tokens, "
                  f"{times[side][-1]:.1f} s", flush=True)

    reference = outputs.get("ocrl")
    result = {
        "model": args.model, "problems": args.problems, "format": fmt, "style": style,
        "prompts": len(prompts), "prompt_tokens_mean": round(statistics.mean(prompt_tokens), 1),
        "n": args.n, "temperature": args.temperature, "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size, "torch_threads": torch.get_num_threads(),
        "dtype": "float32 (ocrl-bf16: bfloat16 weights; ct2-int8: int8 weights)",
        "draft_tokens": config.draft_tokens, "repeats": args.repeats,
        "baseline_rev": args.baseline_rev if "baseline" in runners else None, "sides": {}}
    for side in runners:
        texts, tokens = outputs[side]
        seconds = statistics.median(times[side])
        entry = {"tokens": tokens, "seconds": round(seconds, 2),
                 "tokens_per_second": round(tokens / seconds, 2),
                 "seconds_each_repeat": [round(t, 2) for t in times[side]]}
        if greedy and reference is not None:
            entry["greedy_outputs_identical_to_ocrl"] = \
                f"{sum(a == b for a, b in zip(texts, reference[0]))}/{len(texts)}"
        if profiles.get(side):
            entry["decode_profile"] = {k: round(v, 3) for k, v in profiles[side].items()}
        result["sides"][side] = entry
    if "ocrl" in runners:
        ocrl_rate = result["sides"]["ocrl"]["tokens_per_second"]
        for entry in result["sides"].values():
            entry["ocrl_speedup"] = round(ocrl_rate / entry["tokens_per_second"], 2)
    result.update({
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
        "torch": torch.__version__, "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
        "command": "python benchmarks/generation_throughput.py " + " ".join(
            f"--{k.replace('_', '-')} {' '.join(v) if isinstance(v, list) else v}"
            for k, v in vars(args).items() if v is not None and k not in ("out", "ct2_dir"))})
    print(f"{'side':14}{'tokens':>8}{'seconds':>10}{'tokens/s':>10}{'ocrl is':>9}  identical")
    for side, entry in result["sides"].items():
        print(f"{side:14}{entry['tokens']:>8}{entry['seconds']:>10.1f}"
              f"{entry['tokens_per_second']:>10.1f}{entry.get('ocrl_speedup', 0):>8.2f}x  "
              f"{entry.get('greedy_outputs_identical_to_ocrl', 'n/a')}")
    name = Path(args.problems).stem if args.problems != "humaneval" else "humaneval"
    out = Path(args.out or ROOT / "benchmarks" / "results" /
               f"generation_throughput_{name}_n{args.n}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()

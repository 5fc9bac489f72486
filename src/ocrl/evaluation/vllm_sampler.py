"""Sampling with vLLM: the sampler interface of ``sampler.py``, used when vLLM is installed and a
CUDA GPU is present (the GPU path; tested here only with a stand-in ``vllm`` module)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ocrl.evaluation.sampler import Generation, SamplerStats, SamplingConfig, derive_seed


class VLLMSampler:
    """The same interface on vLLM, used when vLLM is installed and a GPU is present.

    vLLM cannot stop on a predicate, so chat answers run to EOS and are cut afterwards."""

    def __init__(self, model_dir: str, tokenizer, *, add_special_tokens: bool = True,
                 stop: Sequence[str] = ()):
        from vllm import LLM

        self.llm = LLM(model=str(model_dir), tokenizer=str(model_dir), seed=0)
        self.tokenizer = tokenizer
        self.add_special_tokens = add_special_tokens
        self.stop = list(stop)
        self.stats = SamplerStats()

    def generate(self, prompts: Sequence[str], config: SamplingConfig,
                 is_done: Callable[[str], bool] | None = None, seed_key=0,
                 progress=None) -> list[list[Generation]]:
        from vllm import SamplingParams

        params = SamplingParams(
            n=config.n, temperature=max(config.temperature, 0.0),
            top_p=config.top_p if config.temperature > 0 else 1.0,
            max_tokens=config.max_new_tokens, stop=self.stop or None,
            seed=derive_seed(config.seed, seed_key))
        inputs = [{"prompt_token_ids": self.tokenizer(
            p, add_special_tokens=self.add_special_tokens).input_ids} for p in prompts]
        began = time.perf_counter()
        outputs = self.llm.generate(inputs, params, use_tqdm=False)
        self.stats.generate_seconds += time.perf_counter() - began
        self.stats.batches += 1
        results = []
        for output in outputs:
            row = []
            for choice in output.outputs:
                self.stats.generated_tokens += len(choice.token_ids)
                row.append(Generation(text=choice.text, n_tokens=len(choice.token_ids),
                                      finish="length" if choice.finish_reason == "length"
                                      else "stop"))
            results.append(row)
        if progress is not None:
            progress.update(len(prompts) * config.n)
        return results


def vllm_available() -> bool:
    """vLLM is used only when it is installed and a CUDA GPU is present."""
    import importlib.util

    if importlib.util.find_spec("vllm") is None:
        return False
    import torch

    return torch.cuda.is_available()

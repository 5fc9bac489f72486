"""`ocrl train`'s configs: one class per method, picked from --method or the YAML file, and a
setting of another method refused by name rather than silently ignored."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmark_scripts import load_benchmark

from ocrl.errors import InputError
from ocrl.trainer.config import (
    OcrlDPOConfig,
    OcrlOnlineGRPOConfig,
    OcrlSFTConfig,
    OfflineRLConfig,
    config_class,
    parse_config,
)

BASE = ["--output_dir", "o", "--use_cpu", "true", "--report_to", "none"]
CLASSES = {"offline_rl": OfflineRLConfig, "sft": OcrlSFTConfig, "sft_all": OcrlSFTConfig,
           "dpo": OcrlDPOConfig, "grpo_online": OcrlOnlineGRPOConfig}


@pytest.mark.parametrize("method", sorted(CLASSES))
def test_each_method_builds_its_own_class(method):
    args = parse_config([*BASE, "--method", method])
    assert type(args) is CLASSES[method] is config_class(method) and args.method == method
    assert parse_config([*BASE, f"--method={method}"]).method == method


def test_only_the_method_s_own_settings_are_fields():
    assert not hasattr(OcrlSFTConfig(output_dir="o", use_cpu=True), "dpo_beta")
    dpo = OcrlDPOConfig(output_dir="o", use_cpu=True).to_dict()
    assert "dpo_beta" in dpo and {"num_generations", "kl_beta", "share_prompt"}.isdisjoint(dpo)
    assert OcrlSFTConfig(output_dir="o", use_cpu=True, method="sft_all").accepted_only is False
    sft = OcrlSFTConfig(output_dir="o", use_cpu=True)
    assert sft.accepted_only and (sft.advantage, sft.loss, sft.kl_beta) == ("none", "pg", 0.0)


def test_defaults_of_offline_rl_are_unchanged():
    args = parse_config(BASE)
    assert type(args) is OfflineRLConfig and args.method == "offline_rl"
    assert (args.advantage, args.loss, args.aggregation, args.zero_advantage) == \
        ("rloo", "ref_clip", "token_mean", "drop_groups")
    assert (args.kl_beta, args.epsilon_low, args.epsilon_high, args.advantage_eps) == \
        (0.0, 0.2, 0.2, 1e-4)
    assert args.share_prompt and args.needs_reference and args.ref_batch_size == 4
    assert (args.learning_rate, args.per_device_train_batch_size, args.save_steps,
            args.save_total_limit, args.max_prompt_length, args.max_completion_length) == \
        (1e-5, 2, 50, 2, 512, 512)
    assert args.model_name_or_path == "smollm2-135m" and not args.use_lora


@pytest.mark.parametrize("method, argv, field, owners", [
    ("sft", ["--dpo_beta", "0.3"], "dpo_beta", "method dpo"),
    ("sft_all", ["--kl-beta=0.1"], "kl_beta", "methods offline_rl, grpo_online"),
    ("dpo", ["--no-share-prompt"], "share_prompt", "methods offline_rl, sft, sft_all"),
    ("offline_rl", ["--num_generations", "8"], "num_generations", "method grpo_online"),
    ("grpo_online", ["--ref_batch_size", "2"], "ref_batch_size", "method offline_rl"),
])
def test_a_flag_of_another_method_is_refused_by_name(method, argv, field, owners):
    with pytest.raises(InputError, match=f"field '{field}': {field} is a setting of {owners}, "
                                         f"not {method}"):
        parse_config([*BASE, "--method", method, *argv])


def test_the_yaml_file_picks_the_method_and_the_flags_win(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("method: dpo\ndpo_beta: 0.3\nlearning_rate: 3.0e-5\n")
    args = parse_config(["--config", str(config), *BASE])
    assert type(args) is OcrlDPOConfig and args.dpo_beta == 0.3 and args.learning_rate == 3e-5
    args = parse_config(["--config", str(config), *BASE, "--dpo_beta", "0.5",
                         "--learning_rate", "1e-6"])
    assert (args.dpo_beta, args.learning_rate) == (0.5, 1e-6)

    # --method beats the file's method; the file's dpo_beta then belongs to another method
    with pytest.raises(InputError, match=r"c\.yaml, field 'dpo_beta': dpo_beta is a setting of "
                                         "method dpo, not sft"):
        parse_config(["--config", str(config), *BASE, "--method", "sft"])
    config.write_text("method: sft\nshare_prompt: false\n")
    args = parse_config(["--config", str(config), *BASE, "--method", "sft_all"])
    assert type(args) is OcrlSFTConfig and args.method == "sft_all" and not args.share_prompt
    config.write_text("method: ppo\n")
    with pytest.raises(InputError, match="field 'method': unknown method 'ppo'"):
        parse_config(["--config", str(config), *BASE])


def test_a_config_built_for_another_method_is_refused():
    with pytest.raises(InputError, match="method sft is configured by OcrlSFTConfig, not "
                                         "OfflineRLConfig"):
        OfflineRLConfig(output_dir="o", use_cpu=True, method="sft")
    with pytest.raises(TypeError):
        OcrlSFTConfig(output_dir="o", use_cpu=True, loss="ref_clip")  # fixed for SFT


@pytest.mark.parametrize("argv, shown, hidden", [
    ([], "--kl_beta", "--dpo_beta"),
    (["--method", "dpo", "--help"], "--dpo_beta", "--kl_beta"),
    (["--method", "sft", "--help"], "--share_prompt", "--loss"),
    (["--method", "grpo_online", "-h"], "--num_generations", "--ref_cache_dir"),
])
def test_help_lists_the_method_s_flags(capsys, argv, shown, hidden):
    from ocrl.commands import train as train_command

    assert train_command.main(list(argv)) is None
    out = capsys.readouterr().out
    assert shown in out and f"{hidden} " not in out and "--learning_rate" in out


def test_paper_repro_builds_a_config_every_method_accepts(tmp_path):
    repro = load_benchmark("paper_repro")
    args = repro.parse_args(["--lora", "--methods", "sft", "sft_tokmatch", "dpo",
                             "dpo_tokmatch", "offline_rl", "offline_rl_ref",
                             "offline_rl_default", "offline_rl_grpo", "grpo_online"])
    for spec in repro.run_specs(args):
        config = repro.train_config(args, spec, tmp_path / "data", tmp_path / "model",
                                    tmp_path / spec["name"])
        assert type(config) is config_class(spec["method"]) and config.use_lora == \
            spec["use_lora"]
    online = next(s for s in repro.run_specs(args) if s["method"] == "grpo_online")
    assert repro.train_config(args, online, tmp_path, tmp_path, tmp_path).num_generations == 4


def test_accelerate_configs_load():
    from ocrl.config_files import read_yaml_mapping

    paths = sorted((Path(__file__).resolve().parent.parent / "configs").rglob("*.yaml"))
    assert paths
    for path in paths:
        assert read_yaml_mapping(path).get("distributed_type"), path

"""grpo_online: the sandbox reward on hand-made completions, and TRL's GRPOTrainer running on a
tiny random model with it (two optimizer steps)."""

from __future__ import annotations

import json

import pytest

from ocrl.problems import Problem
from ocrl.rewards import RewardConfig
from ocrl.trainer.online import SandboxReward, score_batch

ADD = Problem(task_id="t/add", prompt="def add(a, b):\n    \"\"\"Sum of a and b.\"\"\"\n",
              style="assert", entry_point="add",
              test="def check(candidate):\n    assert candidate(1, 2) == 3\n"
                   "    assert candidate(-1, 1) == 0\n")

CORRECT = "    return a + b\n"
WRONG = "    return a - b\n"
CRASH = "    return a + undefined_name\n"
SYNTAX_ERROR = "    return a +* b\n"


def test_score_batch_hand_computed():
    # Two problems interleaved; p has two accepted (10 ms, 30 ms) and one rejected sample.
    config = RewardConfig(functional_weight=1.0, syntactic_weight=0.1, runtime_weight=0.1)
    parts = score_batch(["p", "q", "p", "p"],
                        ["Accepted", "Accepted", "Accepted", "Wrong Answer"],
                        [True, True, True, False], [30.0, 5.0, 10.0, None], config)
    # p: slower accepted -> runtime 0 -> 1.1; faster -> runtime 1 -> 1.2; rejected unparsable 0.
    # q: lone accepted -> runtime 1 -> 1.2 (it is not ranked against p's samples).
    assert [round(p.reward, 6) for p in parts] == [1.1, 1.2, 1.2, 0.0]
    # the user's terms (already weighted) add to each sample's own reward, in batch order
    parts = score_batch(["p", "q", "p", "p"],
                        ["Accepted", "Accepted", "Accepted", "Wrong Answer"],
                        [True, True, True, False], [30.0, 5.0, 10.0, None], config,
                        custom=[0.5, 0.0, -0.5, 1.0])
    assert [round(p.reward, 6) for p in parts] == [1.6, 1.2, 0.7, 1.0]


def test_sandbox_reward_orders_hand_made_completions():
    reward = SandboxReward([ADD], prompt_format="plain", timeout_s=3.0, workers=1)
    try:
        values = reward(prompts=[ADD.prompt] * 4,
                        completions=[CORRECT, WRONG, CRASH, SYNTAX_ERROR],
                        task_id=[ADD.task_id] * 4)
    finally:
        reward.close()
    assert reward.last_statuses[0] == "Accepted"
    assert reward.last_statuses[1] == "Wrong Answer"
    assert reward.last_statuses[2] == "Runtime Error"
    # Default schema: accepted 1 + 0.1 syntax + 0.1 runtime (lone accepted sample);
    # wrong and crashing code parse (0.1); a syntax error earns nothing.
    assert values == pytest.approx([1.2, 0.1, 0.1, 0.0])
    assert values[0] == max(values) and values[3] == min(values) < values[1]


def test_sandbox_reward_rejects_unknown_task():
    from ocrl.errors import InputError

    reward = SandboxReward([ADD], prompt_format="plain")
    with pytest.raises(InputError, match="no problem"):
        reward(prompts=["x"], completions=[CORRECT], task_id=["t/missing"])


def test_grpo_online_two_steps_on_tiny_model(tmp_path):
    from tiny_lm import make_model, make_tokenizer

    from ocrl.trainer.config import OcrlOnlineGRPOConfig
    from ocrl.trainer.online import build_grpo_trainer

    tokenizer = make_tokenizer()
    model = make_model(len(tokenizer))
    args = OcrlOnlineGRPOConfig(output_dir=str(tmp_path / "out"), max_steps=2,
                                per_device_train_batch_size=1, num_generations=2,
                                max_completion_length=8, report_to="none", use_cpu=True,
                                save_strategy="no", learning_rate=1e-3)
    before = {k: v.clone() for k, v in model.named_parameters()}
    trainer, extra = build_grpo_trainer(args, model, tokenizer, prompt_format="plain",
                                        problems=[ADD])
    trainer.train()
    assert trainer.state.global_step == 2
    reward = trainer.ocrl_reward
    assert reward.calls >= 2  # every step judged fresh completions in the sandbox
    assert len(reward.last_parts) == 2 and reward.last_statuses
    logged = [e for e in trainer.state.log_history if "reward" in e]
    assert logged and all(0.0 <= e["reward"] <= 1.2 for e in logged)
    assert extra["online"]["num_generations"] == 2
    # Random completions of a random model are nearly always equal-reward (all 0 or all 0.1),
    # so the weights may legitimately stay put; the run must still complete its steps.
    json.dumps(extra)
    assert set(before) == {k for k, _ in model.named_parameters()}


def _config(**overrides):
    from ocrl.trainer.config import OcrlOnlineGRPOConfig

    return OcrlOnlineGRPOConfig(output_dir="unused", use_cpu=True, report_to="none",
                                **overrides)


def test_grpo_online_forwards_the_algorithm_flags():
    from ocrl.trainer.online import grpo_config

    config = grpo_config(_config())  # defaults: rloo, token_mean, no KL
    assert (config.scale_rewards, config.loss_type, config.beta) == ("none", "dapo", 0.0)
    config = grpo_config(_config(advantage="grpo", aggregation="sequence_mean", kl_beta=0.05,
                                 epsilon_low=0.1, epsilon_high=0.3, warmup_steps=3,
                                 max_grad_norm=0.5, per_device_train_batch_size=3,
                                 num_generations=4))
    assert (config.scale_rewards, config.loss_type, config.beta) == ("group", "grpo", 0.05)
    assert (config.epsilon, config.epsilon_high) == (0.1, 0.3)
    # TrainingArguments settings are carried over whole, not through a whitelist
    assert config.warmup_steps == 3 and config.max_grad_norm == 0.5
    assert config.per_device_train_batch_size == 12  # 3 groups of 4 generations
    assert grpo_config(_config(aggregation="dr_grpo")).loss_type == "dr_grpo"


def test_grpo_online_refuses_what_trl_cannot_do():
    from ocrl.errors import InputError
    from ocrl.trainer.config import parse_config

    # refused as the config is built, before any loading
    with pytest.raises(InputError, match="field 'advantage'.*cannot use advantage 'none'"):
        _config(advantage="none")
    with pytest.raises(InputError, match="field 'num_generations'"):
        _config(num_generations=1)
    # offline RL's settings without a TRL counterpart are not settings of grpo_online at all
    for flag, value in (("--advantage_clip", "1"), ("--zero_advantage", "drop_samples"),
                        ("--loss", "pg")):
        with pytest.raises(InputError, match=f"{flag[2:]} is a setting of method offline_rl, "
                                             "not grpo_online"):
            parse_config(["--method", "grpo_online", "--output_dir", "o", flag, value])

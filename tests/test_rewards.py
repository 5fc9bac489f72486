"""Reward parts on hand-computed values."""

from __future__ import annotations

import pytest

from ocrl.errors import InputError
from ocrl.rewards import (RewardConfig, custom_rewards, functional_reward, runtime_rewards,
                          score_problem, syntactic_reward, total_reward)


def test_functional_reward():
    assert functional_reward("Accepted") == 1.0
    assert functional_reward("Wrong Answer", 3, 4) == 0.0
    assert functional_reward("Wrong Answer", 3, 4, partial_credit=True) == 0.75
    assert functional_reward("Accepted", 3, 4, partial_credit=True) == 1.0
    assert functional_reward("Runtime Error", None, None, partial_credit=True) == 0.0
    assert functional_reward("Runtime Error", 0, 0, partial_credit=True) == 0.0


def test_syntactic_reward_is_static():
    assert syntactic_reward("def f(x):\n    return x\n") == 1.0
    assert syntactic_reward("def f(x)\n    return x\n") == 0.0
    # Parsing never runs the code: this would raise (and exit) if executed.
    assert syntactic_reward("raise SystemExit(3)\n") == 1.0
    assert syntactic_reward('print "python 2"\n') == 0.0
    # Parses as an AST, but the interpreter refuses it before running: a syntax error.
    assert syntactic_reward("x = 1\nfrom __future__ import division\n") == 0.0
    assert syntactic_reward("return 3\n") == 0.0


def test_runtime_rank_hand_computed():
    # Accepted with times 100, 50, unknown, 200 -> ranks 1, 0, -, 2 of n=3.
    rewards = runtime_rewards([100, 50, None, 200], [True, True, True, True], "rank")
    assert rewards == [0.5, 1.0, 0.0, 0.0]
    # Ties share their mean rank: (0 + 1) / 2 = 0.5 -> 1 - 0.5 / 2 = 0.75.
    assert runtime_rewards([10, 10, 30], [True, True, True]) == [0.75, 0.75, 0.0]
    # Rejected samples get nothing, whatever their time; a lone accepted sample gets 1.
    assert runtime_rewards([5, 1], [True, False]) == [1.0, 0.0]
    assert runtime_rewards([None, 7], [True, False]) == [0.0, 0.0]


def test_runtime_time_limit_and_none():
    assert runtime_rewards([500, 2500, 100], [True, True, False], "time_limit", 2000) == \
        [0.75, 0.0, 0.0]
    assert runtime_rewards([500], [True], "time_limit", None) == [0.0]
    assert runtime_rewards([500, 10], [True, True], "none") == [0.0, 0.0]


def test_total_and_score_problem():
    config = RewardConfig(functional_weight=1.0, syntactic_weight=0.1, runtime_weight=0.2)
    assert total_reward(1.0, 1.0, 0.5, config) == pytest.approx(1.2)
    parts = score_problem(["Accepted", "Accepted", "Wrong Answer", "Compile Error"],
                          [True, True, True, False], [30, 10, 5, None], config)
    assert [p.functional for p in parts] == [1.0, 1.0, 0.0, 0.0]
    assert [p.syntactic for p in parts] == [1.0, 1.0, 1.0, 0.0]
    assert [p.runtime for p in parts] == [0.0, 1.0, 0.0, 0.0]
    assert [p.reward for p in parts] == pytest.approx([1.1, 1.3, 0.1, 0.0])
    partial = score_problem(["Wrong Answer"], [True], [None],
                            RewardConfig(partial_credit=True), [1], [4])
    assert partial[0].functional == 0.25 and partial[0].reward == pytest.approx(0.35)


def test_config_from_yaml(tmp_path):
    path = tmp_path / "reward.yaml"
    path.write_text("reward:\n  functional_weight: 2.0\n  runtime: time_limit\n")
    config = RewardConfig.from_yaml(str(path))
    assert config.functional_weight == 2.0 and config.runtime == "time_limit"
    path.write_text("syntactic_weight: 0.5\n")
    assert RewardConfig.from_yaml(str(path)).syntactic_weight == 0.5
    path.write_text("reward:\n  functional_wieght: 2.0\n")
    with pytest.raises(InputError, match="functional_wieght"):
        RewardConfig.from_yaml(str(path))
    with pytest.raises(InputError, match="runtime"):
        RewardConfig(runtime="fastest")


def _length(prompts, completions, verdicts, **columns):
    return [float(len(c)) for c in completions]


def test_user_reward_functions_weighted_into_the_total():
    config = RewardConfig(functions=[
        {"function": _length, "weight": 0.5},
        {"function": lambda p, c, v, **k: [1.0 if x["passed"] else -1.0 for x in v],
         "weight": 2.0, "name": "pass_bonus"}])
    verdicts = [{"status": "Accepted", "passed": True}, {"status": "Wrong Answer",
                                                         "passed": False}]
    # 0.5 * len + 2 * (+-1): "ab" -> 1 + 2 = 3 ; "abcd" -> 2 - 2 = 0
    custom = custom_rewards(config, ["p", "p"], ["ab", "abcd"], verdicts)
    assert custom == [3.0, 0.0]
    parts = score_problem(["Accepted", "Wrong Answer"], [True, True], [5.0, None], config,
                          custom=custom)
    # Accepted: 1 + 0.1 (parses) + 0.1 (lone accepted: runtime 1) + 3 ; rejected: 0.1 + 0
    assert [p.reward for p in parts] == pytest.approx([4.2, 0.1])
    assert [p.custom for p in parts] == [3.0, 0.0]


def test_user_reward_function_errors_are_named():
    with pytest.raises(InputError, match=r"reward.functions\[0\].function.*no_such_module"):
        RewardConfig(functions=[{"function": "no_such_module:f"}])
    with pytest.raises(InputError, match=r"reward.functions\[0\].function.*'package.module"):
        RewardConfig(functions=[{"function": "just_a_name"}])
    with pytest.raises(InputError, match=r"reward.functions\[0\].weight"):
        RewardConfig(functions=[{"function": _length, "weight": float("nan")}])
    bad = RewardConfig(functions=[{"function": lambda p, c, v, **k: [1.0], "name": "short"}])
    with pytest.raises(InputError, match="short.*1 rewards for 2 samples"):
        custom_rewards(bad, ["p", "p"], ["a", "b"], [{}, {}])
    nan = RewardConfig(functions=[{"function": lambda p, c, v, **k: [float("nan")],
                                   "name": "nan"}])
    with pytest.raises(InputError, match="nan.*finite"):
        custom_rewards(nan, ["p"], ["a"], [{}])

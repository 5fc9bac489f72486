"""The pure parts of benchmarks/paper_repro.py: the run plan, eval tags, held-out parts."""

from __future__ import annotations


import pytest
from benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def repro():
    return load_benchmark("paper_repro")


def test_difficulty_is_grouping_s(repro):
    # one difficulty rule in the codebase (ocrl.grouping), tested in tests/test_grouping.py
    from ocrl import grouping

    assert repro.difficulty_buckets is grouping.difficulty_buckets


def test_run_plan_names_first_seed_plainly_and_lora_runs_apart(repro):
    args = repro.parse_args(["--seeds", "0", "1", "--lora", "--methods", "sft", "offline_rl"])
    names = [spec["name"] for spec in repro.run_specs(args)]
    assert names == ["sft", "offline_rl", "sft_s1", "offline_rl_s1",
                     "sft_lora", "offline_rl_lora", "sft_lora_s1", "offline_rl_lora_s1"]
    by_name = {spec["name"]: spec for spec in repro.run_specs(args)}
    assert by_name["offline_rl_lora_s1"]["seed"] == 1
    assert by_name["offline_rl_lora_s1"]["use_lora"] is True
    assert by_name["offline_rl"]["advantage"] == "rloo" and by_name["offline_rl"]["loss"] == "pg"


def test_token_matched_controls_take_more_per_step(repro):
    args = repro.parse_args(["--methods", "sft", "sft_tokmatch", "dpo", "dpo_tokmatch",
                             "--sft-token-groups", "3", "--dpo-token-pairs", "5"])
    specs = {spec["name"]: spec for spec in repro.run_specs(args)}
    assert specs["sft_tokmatch"]["method"] == "sft"
    assert specs["sft_tokmatch"]["groups_per_step"] == 3
    assert specs["dpo_tokmatch"]["method"] == "dpo"
    assert specs["dpo_tokmatch"]["groups_per_step"] == 5
    assert "groups_per_step" not in specs["sft"] and "groups_per_step" not in specs["dpo"]


def test_eval_tags_name_sampling_and_problem_count(repro):
    args = repro.parse_args(["--eval-problems", "82"])
    assert repro.eval_tag(args, 1, 0.0) == "greedy_p82"
    assert repro.eval_tag(args, 5, 0.8) == "n5_t0.8_p82"


def test_unknown_methods_are_refused(repro):
    with pytest.raises(SystemExit, match="unknown --methods"):
        repro.run_specs(repro.parse_args(["--methods", "ppo"]))


def test_seed_table_pairs_a_kinds_seeds_and_averages_them(repro):
    lines = repro.seed_table({"base": 0.1, "sft": 0.2, "sft_s1": 0.4, "offline_rl_lora": 0.3},
                             [0, 1])
    assert lines[0] == "| run | seed 0 | seed 1 | mean | mean − base |"
    assert "| base | 0.100 | – | 0.100 |  |" in lines
    assert "| sft | 0.200 | 0.400 | 0.300 | +0.200 |" in lines
    assert "| offline_rl_lora | 0.300 | – | 0.300 | +0.200 |" in lines


def test_cost_ratios_pair_online_and_offline_runs_of_the_same_seed_and_lora(repro):
    def row(train, wall, cpu, steps=10):
        return {"train_s_per_step": train, "wall_s": wall, "cpu_s": cpu, "optimizer_steps": steps}

    rows = {"offline_rl": row(5.0, 60, 100), "offline_rl_s1": row(4.0, 50, 80),
            "offline_rl_lora": row(2.0, 30, 40), "offline_rl_ref": row(1.0, 1, 1),
            "grpo_online": row(20.0, 240, 300), "grpo_online_s1": row(10.0, 100, 320, steps=20),
            "grpo_online_lora_s1": row(9.0, 9, 9)}
    ratios = repro.cost_ratios(rows)
    assert set(ratios) == {"grpo_online / offline_rl", "grpo_online_s1 / offline_rl_s1"}
    assert ratios["grpo_online / offline_rl"] == {
        "train s per step": 4.0, "wall per step": 4.0, "CPU per step": 3.0}
    # 20 steps online against 10 offline: per step, not in total
    assert ratios["grpo_online_s1 / offline_rl_s1"] == {
        "train s per step": 2.5, "wall per step": 1.0, "CPU per step": 2.0}


def test_mbpp_parts_are_fixed_by_the_split_seed_and_disjoint(repro, tmp_path):
    from ocrl.jsonl import write_jsonl

    path = tmp_path / "mbpp.jsonl"
    write_jsonl(path, [{"task_id": f"MbppEval/{i}", "prompt": f"def f{i}():\n",
                        "entry_point": f"f{i}", "test": "def check(c):\n    pass\n"}
                       for i in range(10)])
    args = repro.parse_args(["--heldout", "mbpp", "--mbpp", str(path),
                             "--validation-problems", "3", "--eval-problems", "0"])
    validation, test = repro.heldout_parts(args)
    again_validation, again_test = repro.heldout_parts(args)
    ids = lambda problems: [p.task_id for p in problems]  # noqa: E731
    assert ids(validation) == ids(again_validation) and ids(test) == ids(again_test)
    assert len(validation) == 3 and len(test) == 7
    assert not set(ids(validation)) & set(ids(test))
    assert sorted(ids(validation) + ids(test)) == sorted(f"MbppEval/{i}" for i in range(10))
    # Another split seed gives other parts; the names say which part was evaluated.
    other = repro.parse_args(["--heldout", "mbpp", "--mbpp", str(path), "--split-seed", "1",
                              "--validation-problems", "3"])
    assert ids(repro.heldout_parts(other)[0]) != ids(validation)
    assert repro.eval_tag(args, 1, 0.0) == "greedy_mbpp-validation-all"
    test_args = repro.parse_args(["--heldout", "mbpp", "--mbpp-split", "test",
                                  "--eval-problems", "0"])
    assert repro.eval_tag(test_args, 5, 0.8) == "n5_t0.8_mbpp-test-all"


def test_codenet_parts_come_from_the_collected_files(repro, tmp_path):
    from ocrl.jsonl import write_jsonl

    for part, ids in (("validation", ["p00002"]), ("test", ["p00003", "p00004"])):
        write_jsonl(tmp_path / f"{part}.jsonl", [
            {"task_id": i, "prompt": "Echo.", "tests": [{"input": "1\n", "output": "1\n"}]}
            for i in ids])
    args = repro.parse_args(["--heldout", "codenet", "--codenet-dir", str(tmp_path),
                             "--mbpp-split", "test", "--eval-problems", "0"])
    validation, test = repro.heldout_parts(args)
    assert [p.task_id for p in validation] == ["p00002"]
    assert [p.task_id for p in test] == ["p00003", "p00004"] and test[0].style == "stdio"
    assert repro.eval_tag(args, 1, 0.0) == "greedy_codenet-test-all"
    with pytest.raises(SystemExit, match="--codenet-dir"):
        repro.heldout_parts(repro.parse_args(["--heldout", "codenet"]))


def test_lookup_suspects_hold_a_test_input_verbatim(repro):
    tests = [{"input": "1819\n2003\n", "output": "2003\n"}, {"input": "7 8\n", "output": "15\n"}]
    assert repro.lookup_suspect("if s == '1819':\n    print(2003)\n", tests)
    assert not repro.lookup_suspect("a, b = map(int, input().split())\nprint(a + b)\n", tests)
    # a 3-character input line ("7 8") is too common to say anything
    assert not repro.lookup_suspect("print(sum(map(int, '7 8'.split())))\n", tests)


def test_prepared_groups_are_reused_only_with_the_same_rule(repro, tmp_path):
    import json

    data = tmp_path / "data"
    data.mkdir()
    (data / "manifest.json").write_text(json.dumps({"config": {
        "mixed_on": "functional", "reward": {"partial_credit": False}}}))
    same = repro.parse_args(["--out", str(tmp_path)])
    assert repro.ensure_prepared(same, tmp_path) == data
    other = repro.parse_args(["--out", str(tmp_path), "--mixed-on", "reward",
                              "--partial-credit"])
    with pytest.raises(SystemExit, match="prepared with"):
        repro.ensure_prepared(other, tmp_path)


def test_grpo_variant_divides_by_the_spread(repro):
    args = repro.parse_args(["--methods", "offline_rl_grpo"])
    (spec,) = repro.run_specs(args)
    assert spec["method"] == "offline_rl" and spec["advantage"] == "grpo"

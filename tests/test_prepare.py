"""`ocrl prepare` end to end: CodeNet fixture trees, labelled samples, generic tables, the CLI,
resuming after a kill, and loading the dataset back."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import ocrl.prepare as prepare_module
import ocrl.prepare.shards as shards_module
from ocrl.cli import app
from ocrl.codenet.fixture import FixtureSpec, write_codenet_tree
from ocrl.dataset import load_groups, load_manifest, load_problems, load_samples
from ocrl.errors import InputError
from ocrl.grouping import is_zero_variance
from ocrl.prepare import PrepareConfig, prepare

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
runner = CliRunner()


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return write_codenet_tree(tmp_path_factory.mktemp("codenet"),
                              FixtureSpec(problems=10, submissions=2400, seed=5))


@pytest.fixture(scope="module")
def prepared(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared") / "data"
    config = PrepareConfig(source="codenet", path=str(tree.root), out=str(out), workers=1,
                           shard_rows=250, max_groups_per_problem=12, progress=False)
    return out, prepare(config)


def _expected_kept(tree) -> int:
    return sum(c["kept/python3"] - c["expected/near_duplicates"]
               for pid, c in tree.per_problem.items() if pid != tree.statementless_problem)


def test_codenet_counts_match_what_the_fixture_planted(tree, prepared):
    out, manifest = prepared
    counts = manifest["counts"]
    planted = {k.split("/", 1)[1]: v for k, v in tree.counts.items() if k.startswith("dropped/")}
    dropped = dict(counts["dropped"])
    no_statement = dropped.pop("no_statement")
    near = dropped.pop("near_duplicate")
    assert dropped == planted
    assert no_statement == tree.per_problem[tree.statementless_problem]["kept/python3"]
    assert near == sum(c["expected/near_duplicates"] for pid, c in tree.per_problem.items()
                       if pid != tree.statementless_problem)
    assert counts["fixed"] == {k.split("/", 1)[1]: v for k, v in tree.counts.items()
                               if k.startswith("fixed/")}
    assert counts["rows_read"] == 2400
    assert counts["samples_deduplicated"] == _expected_kept(tree)
    # samples.parquet holds the grouped samples only; the rest are counted, not written.
    assert counts["samples"] == 4 * counts["groups"]
    assert counts["samples"] + counts["samples_ungrouped"] == counts["samples_deduplicated"]
    # The zero-byte metadata file is a problem with neither a statement nor a list entry.
    assert counts["problems_detail"] == {"listed_without_metadata": 1, "no_statement": 2,
                                         "not_in_problem_list": 2}
    assert sum(manifest["reward_histogram"]["counts"]) == counts["samples"]
    assert manifest["shards"] > 1


def test_samples_and_groups_are_consistent(prepared):
    out, manifest = prepared
    samples = pq.read_table(out / "samples.parquet").to_pylist()
    groups = pq.read_table(out / "groups.parquet").to_pylist()
    assert [s["sample_id"] for s in samples] == list(range(len(samples)))
    assert "prompt" not in samples[0] and all(s["group_id"] for s in samples)
    config = manifest["config"]["reward"]
    for s in samples:
        assert s["reward"] == pytest.approx(
            config["functional_weight"] * s["functional"]
            + config["syntactic_weight"] * s["syntactic"] + config["runtime_weight"] * s["runtime"])
        assert s["functional"] == (1.0 if s["status"] == "Accepted" else 0.0)
        assert s["runtime"] == 0.0 or s["status"] == "Accepted"
        assert s["interpreter"] in ("cpython", "pypy")
    used = Counter()
    per_problem = Counter()
    for g in groups:
        assert len(g["sample_ids"]) == 4
        members = [samples[i] for i in g["sample_ids"]]
        assert {m["problem_id"] for m in members} == {g["problem_id"]}
        assert {m["split"] for m in members} == {g["split"]}
        assert [m["reward"] for m in members] == g["rewards"]
        assert all(m["group_id"] == g["group_id"] for m in members)
        assert not is_zero_variance(g["rewards"])
        assert not is_zero_variance([m["functional"] for m in members])
        used.update(g["sample_ids"])
        per_problem[g["problem_id"]] += 1
    assert max(used.values()) == 1
    assert max(per_problem.values()) <= 12
    assert manifest["counts"]["groups"] == len(groups)
    assert manifest["counts"]["group_building"]["dropped_over_cap"] > 0  # imbalance capped


def test_problems_table_has_splits_difficulty_and_tests(tree, prepared):
    out, manifest = prepared
    problems = pq.read_table(out / "problems.parquet").to_pylist()
    ids = [p["problem_id"] for p in problems]
    assert tree.statementless_problem not in ids
    assert len(ids) == len(set(ids)) == manifest["counts"]["problems"]
    assert {p["difficulty"] for p in problems} == {"easy", "medium", "hard"}
    assert all(p["tests"] for p in problems)
    listed = [p for p in problems if p["problem_id"] != tree.orphan_problem]
    assert all(p["time_limit_ms"] in (1000, 2000) for p in listed)
    samples = pq.read_table(out / "samples.parquet", columns=["problem_id", "split"]).to_pylist()
    split_of = {p["problem_id"]: p["split"] for p in problems}
    assert all(split_of[s["problem_id"]] == s["split"] for s in samples)


def test_loaders_give_the_trainer_and_evaluation_what_they_need(prepared):
    out, manifest = prepared
    everything = load_groups(out, split="all")
    assert len(everything) == manifest["counts"]["groups"]
    row = everything[0]
    assert set(row) == {"group_id", "problem_id", "prompt", "style", "completions", "rewards",
                        "statuses"}
    samples = pq.read_table(out / "samples.parquet").to_pylist()
    group = next(g for g in pq.read_table(out / "groups.parquet").to_pylist()
                 if g["group_id"] == row["group_id"])
    assert row["completions"] == [samples[i]["completion"] for i in group["sample_ids"]]
    assert row["statuses"] == [samples[i]["status"] for i in group["sample_ids"]]
    for split in ("train", "validation", "test"):
        groups = load_groups(out, split=split)
        assert len(groups) == manifest["splits"][split]["groups"]
        assert len(load_samples(out, split=split)) == manifest["splits"][split]["samples"]
    problems = load_problems(out, split="all")
    assert problems and all(p.style == "stdio" and p.tests and p.difficulty for p in problems)
    with pytest.raises(InputError, match="split"):
        load_groups(out, split="dev")


def test_two_workers_give_the_same_dataset(tree, prepared, tmp_path):
    out, manifest = prepared
    config = PrepareConfig(source="codenet", path=str(tree.root), out=str(tmp_path / "par"),
                           workers=2, shard_rows=250, max_groups_per_problem=12, progress=False)
    parallel = prepare(config)
    for name in ("samples.parquet", "groups.parquet", "problems.parquet"):
        assert pq.read_table(tmp_path / "par" / name).equals(pq.read_table(out / name)), name
    assert parallel["counts"] == manifest["counts"]


def test_resume_after_a_kill_reuses_finished_shards(tree, prepared, tmp_path, monkeypatch):
    out, manifest = prepared
    config = PrepareConfig(source="codenet", path=str(tree.root), out=str(tmp_path / "r"),
                           workers=1, shard_rows=250, max_groups_per_problem=12, progress=False)
    real = shards_module._run_shard_star
    calls = []

    def dies_on_third_shard(args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(args)

    monkeypatch.setattr(shards_module, "_run_shard_star", dies_on_third_shard)
    with pytest.raises(KeyboardInterrupt):
        prepare(config)
    assert not (tmp_path / "r" / "manifest.json").exists()
    monkeypatch.setattr(shards_module, "_run_shard_star", real)
    resumed = prepare(config)
    assert resumed["shards_resumed"] == 2
    assert pq.read_table(tmp_path / "r" / "groups.parquet").equals(
        pq.read_table(out / "groups.parquet"))
    assert not (tmp_path / "r" / prepare_module.WORK_DIR).exists()


HUMANEVAL_STYLE = [
    {"task_id": "T/0", "prompt": "def add(a, b):\n    \"\"\"Add.\"\"\"\n", "entry_point": "add",
     "test": "def check(candidate):\n    assert candidate(1, 2) == 3\n"},
    {"task_id": "T/1", "prompt": "def neg(a):\n", "entry_point": "neg",
     "test": "def check(candidate):\n    assert candidate(1) == -1\n"},
    {"task_id": "T/2", "prompt": "def unused(a):\n", "entry_point": "unused",
     "test": "def check(candidate):\n    assert True\n"},
]


def _label_rows():
    rows = []
    bodies = [("    return a + b\n", "Accepted"), ("    return a - b\n", "Wrong Answer"),
              ("    return a+b  # same\n", "Accepted"), ("    return a +\n", "Compile Error"),
              ("    return b + a\n", "Accepted"), ("    return a * b\n", "Wrong Answer"),
              ("    raise ValueError\n", "Runtime Error"), ("    while True: pass\n",
                                                             "Time Limit Exceeded"),
              ("    return sum([a, b])\n", "Accepted"),
              # Dangles a decorator: compiles (and ran) only because the test's def follows.
              ("    return a * 1\n\n\n@decorate\n", "Runtime Error")]
    for index, (body, status) in enumerate(bodies):
        rows.append({"row_id": index, "task_id": "T/0", "sample_index": index,
                     "completion": body, "status": status, "passed": status == "Accepted",
                     "cpu_time_ms": 10.0 + index, "memory_kb": 9000, "tests_passed": None,
                     "tests_total": None, "stderr_tail": "", "sandbox": "bwrap",
                     "prompt": HUMANEVAL_STYLE[0]["prompt"]})
    for index, status in enumerate(["Accepted"] * 4 + ["Wrong Answer"] * 4):
        rows.append({"row_id": 100 + index, "task_id": "T/1", "sample_index": index,
                     "completion": f"    return -a + {index} * 0\n", "status": status,
                     "passed": status == "Accepted", "cpu_time_ms": 5.0, "memory_kb": 9000,
                     "tests_passed": None, "tests_total": None, "stderr_tail": "",
                     "sandbox": "bwrap", "prompt": HUMANEVAL_STYLE[1]["prompt"]})
    rows.append({**rows[0], "row_id": 999, "task_id": "T/404"})  # not in the problems file
    return rows


@pytest.fixture()
def labelled(tmp_path):
    problems = tmp_path / "problems.jsonl"
    problems.write_text("".join(json.dumps(p) + "\n" for p in HUMANEVAL_STYLE))
    labels = tmp_path / "labels.parquet"
    pq.write_table(pa.Table.from_pylist(_label_rows()), labels)
    return problems, labels


def test_labelled_samples_become_groups(labelled, tmp_path):
    problems, labels = labelled
    out = tmp_path / "he"
    result = runner.invoke(app, ["prepare", "--source", "labelled", "--path", str(labels),
                                 "--problems", str(problems), "--out", str(out),
                                 "--workers", "1", "--split-fractions", "1", "0", "0",
                                 "--no-progress", "--keep-ungrouped"])
    assert result.exit_code == 0, result.output
    assert "samples kept" in result.output and "reward histogram" in result.output
    manifest = load_manifest(out)
    counts = manifest["counts"]
    assert counts["rows_read"] == 19
    assert counts["dropped"] == {"near_duplicate": 1, "unknown_problem": 1}
    samples = {(s["problem_id"], s["origin_id"]): s
               for name in ("samples.parquet", "ungrouped.parquet")
               for s in pq.read_table(out / name).to_pylist()}
    assert len(samples) == counts["samples_deduplicated"] == 17
    assert pq.read_table(out / "ungrouped.parquet").num_rows == counts["samples_ungrouped"] == 1
    # Assert-style syntax is judged on prompt + completion: a bare body parses there.
    assert samples[("T/0", "0")]["syntactic"] == 1.0
    assert samples[("T/0", "3")]["syntactic"] == 0.0
    assert samples[("T/0", "9")]["syntactic"] == 1.0  # as the judge saw it
    assert ("T/0", "2") not in samples  # "a+b  # same" collapsed into sample 0
    # Runtime rank among accepted T/0 samples (times 10, 14, 18): 1, 0.5, 0.
    assert [samples[("T/0", i)]["runtime"] for i in ("0", "4", "8")] == [1.0, 0.5, 0.0]
    assert samples[("T/0", "0")]["source"].startswith("labelled:")
    groups = load_groups(out, split="train")
    assert len(groups) == 4  # T/0: 9 unique -> 2 groups; T/1: 8 -> 2 groups
    assert {g["style"] for g in groups} == {"assert"}
    assert all(len(set(g["rewards"])) > 1 for g in groups)
    problems_back = {p.task_id: p for p in load_problems(out, split="train")}
    assert set(problems_back) == {"T/0", "T/1", "T/2"}  # T/2 has no samples but is a problem
    assert problems_back["T/0"].entry_point == "add" and problems_back["T/0"].test
    assert problems_back["T/2"].difficulty is None


def test_generic_jsonl_table_with_column_mapping(tmp_path):
    path = tmp_path / "logs.jsonl.gz"
    rows = [{"pid": f"q{i % 3}", "code": f"print({i})\n", "ok": i % 2 == 0,
             "question": f"Print something for q{i % 3}."} for i in range(24)]
    with gzip.open(path, "wt") as handle:
        handle.writelines(json.dumps(r) + "\n" for r in rows)
    config = tmp_path / "prepare.yaml"
    config.write_text(f"source: table\npath: {path}\nout: {tmp_path / 'out'}\n"
                      "columns: {problem_id: pid, completion: code, passed: ok, "
                      "prompt: question}\nworkers: 1\nprogress: false\ngroup_size: all\n"
                      "reward:\n  syntactic_weight: 0.0\n  runtime: none\n")
    result = runner.invoke(app, ["prepare", "--config", str(config), "--split-seed", "3"])
    assert result.exit_code == 0, result.output
    manifest = load_manifest(tmp_path / "out")
    assert manifest["config"]["split_seed"] == 3 and manifest["config"]["group_size"] == "all"
    groups = load_groups(tmp_path / "out", split="all")
    assert len(groups) == 3 and all(len(g["completions"]) == 8 for g in groups)
    assert all(sorted(g["rewards"]) == [0.0] * 4 + [1.0] * 4 for g in groups)
    assert groups[0]["prompt"].startswith("Print something")


def test_bad_table_rows_are_located(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"task_id": "a", "completion": "x", "status": "Accepted",
                                "prompt": "p"}) + "\n"
                    + json.dumps({"task_id": "a", "completion": "y", "status": "passed",
                                  "prompt": "p"}) + "\n")
    config = PrepareConfig(source="table", path=str(path), out=str(tmp_path / "o"), workers=1,
                           progress=False)
    with pytest.raises(InputError) as error:
        prepare(config)
    message = str(error.value)
    assert "bad.jsonl" in message and "line 2" in message and "'status'" in message
    result = runner.invoke(app, ["prepare", "--source", "table", "--path", str(path),
                                 "--out", str(tmp_path / "o"), "--columns", "problem_id"])
    assert result.exit_code == 2 and "FIELD=COLUMN" in result.output
    result = runner.invoke(app, ["prepare", "--source", "labelled", "--path", str(path),
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--problems" in result.output


def test_every_config_field_is_a_cli_flag():
    from dataclasses import fields

    from transformers import HfArgumentParser

    from ocrl.commands.prepare import flags_class, parse_config
    from ocrl.rewards import RewardConfig

    parser = HfArgumentParser(flags_class())
    flags = {option for action in parser._actions for option in action.option_strings}
    expected = {f"--{f.name.replace('_', '-')}" for f in fields(PrepareConfig) if f.name != "reward"}
    # reward.functions (a list of {function, weight} mappings) is set in the YAML only
    expected |= {f"--reward-{f.name.replace('_', '-')}" for f in fields(RewardConfig)
                 if f.name != "functions"}
    assert expected <= flags
    config = parse_config(["--columns", "problem_id=pid", "completion=code", "--no-progress",
                           "--keep-ungrouped", "--split-fractions", "0.5", "0.5", "0",
                           "--reward-runtime", "none", "--group_size", "all"])
    assert config.columns == {"problem_id": "pid", "completion": "code"}
    assert (config.progress, config.keep_ungrouped, config.split_fractions) == \
        (False, True, [0.5, 0.5, 0.0])
    assert (config.reward.runtime, config.group_size) == ("none", "all")
    with pytest.raises(InputError, match="--typo"):
        parse_config(["--typo", "1"])


def test_config_file_errors_name_the_file_and_field(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("source: codenet\ngroup_sise: 4\n")
    result = runner.invoke(app, ["prepare", "--config", str(path)])
    assert result.exit_code == 2
    assert "bad.yaml" in result.output and "group_sise" in result.output
    result = runner.invoke(app, ["prepare", "--source", "codenet", "--path", str(tmp_path),
                                 "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "metadata" in result.output


@pytest.mark.skipif(not (SHARED / "humaneval" / "problems.jsonl").is_file(),
                    reason="../shared/data/humaneval not present")
def test_real_humaneval_samples_labelled_in_the_sandbox_then_prepared(tmp_path):
    """A slice of the real logged CodeGen-16B samples: judged by `ocrl label`, then grouped."""
    from ocrl.label import LabelConfig, label

    wanted = {"HumanEval/0", "HumanEval/2", "HumanEval/4"}
    problems = [json.loads(line) for line in
                (SHARED / "humaneval" / "problems.jsonl").read_text().splitlines()]
    chosen = [p for p in problems if p["task_id"] in wanted]
    problems_path = tmp_path / "problems.jsonl"
    problems_path.write_text("".join(json.dumps(p) + "\n" for p in chosen))
    prompts = {p["prompt"] for p in chosen}
    samples_path = tmp_path / "samples.jsonl"
    with gzip.open(SHARED / "humaneval" / "codegen16b_samples.jsonl.gz", "rt") as handle, \
            open(samples_path, "w") as out:
        for line in handle:
            row = json.loads(line)
            if row["prompt"] in prompts:
                out.write(json.dumps({"prompt": row["prompt"], "samples": row["samples"][:12]})
                          + "\n")
    labels = tmp_path / "labels.parquet"
    try:
        label(LabelConfig(problems=str(problems_path), samples=str(samples_path),
                          out=str(labels), workers=2, timeout_s=3.0), progress=False)
    except Exception as exc:  # pragma: no cover - a machine without a usable sandbox
        pytest.skip(f"sandbox unavailable: {exc}")
    manifest = prepare(PrepareConfig(source="labelled", path=str(labels),
                                     problems=str(problems_path), out=str(tmp_path / "he"),
                                     workers=1, progress=False, split_fractions=[1, 0, 0]))
    counts = manifest["counts"]
    assert counts["rows_read"] == 36
    assert counts["samples_deduplicated"] + counts["dropped"].get("near_duplicate", 0) == 36
    statuses = counts["statuses"]
    assert statuses.get("Accepted", 0) > 0
    assert sum(statuses.values()) == counts["samples_deduplicated"]
    groups = load_groups(tmp_path / "he", split="train")
    assert all(len(g["completions"]) == 4 and len(set(g["rewards"])) > 1 for g in groups)


def test_statements_from_a_tarball(tmp_path):
    import shutil
    import tarfile

    report = write_codenet_tree(tmp_path / "tree", FixtureSpec(problems=4, submissions=300,
                                                               seed=2, dirt=False))
    pages = report.root / "problem_descriptions"
    with tarfile.open(tmp_path / "pages.tar.gz", "w:gz") as archive:
        archive.add(pages, arcname="problem_descriptions")
    from_dir = prepare(PrepareConfig(source="codenet", path=str(report.root),
                                     out=str(tmp_path / "a"), workers=1, progress=False))
    shutil.rmtree(pages)
    from_tar = prepare(PrepareConfig(source="codenet", path=str(report.root),
                                     out=str(tmp_path / "b"), workers=1, progress=False,
                                     statements=str(tmp_path / "pages.tar.gz")))
    assert from_tar["counts"] == from_dir["counts"]
    assert from_tar["counts"]["problems"] == 4
    assert pq.read_table(tmp_path / "b" / "problems.parquet").equals(
        pq.read_table(tmp_path / "a" / "problems.parquet"))


def test_a_user_reward_function_by_import_path_from_yaml(labelled, tmp_path):
    """`reward.functions` in the YAML: imported in the workers, weighted into the reward."""
    problems, labels = labelled
    config = tmp_path / "prepare.yaml"
    config.write_text("reward:\n  functions:\n"
                      "    - {function: 'reward_plugins:no_minus', weight: 0.5}\n")
    out = tmp_path / "he"
    result = runner.invoke(app, ["prepare", "--config", str(config), "--source", "labelled",
                                 "--path", str(labels), "--problems", str(problems),
                                 "--out", str(out), "--workers", "1",
                                 "--split-fractions", "1", "0", "0", "--no-progress"])
    assert result.exit_code == 0, result.output
    for s in pq.read_table(out / "samples.parquet").to_pylist():
        expected = 0.0 if "-" in s["completion"] else 0.5
        assert s["custom"] == expected
        assert s["reward"] == pytest.approx(s["functional"] + 0.1 * s["syntactic"] +
                                            0.1 * s["runtime"] + expected)
    config.write_text("reward:\n  functions:\n    - {function: 'reward_plugins:nope'}\n")
    result = runner.invoke(app, ["prepare", "--config", str(config), "--source", "labelled",
                                 "--path", str(labels), "--out", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert "reward.functions[0].function" in result.output and "nope" in result.output

"""The one flag mechanism of `ocrl eval`, `sample`, `label`, `report`, `quickstart` and
`problems codenet`: config
fields as flags (aliases included), ``--config`` YAML under the flags, located errors, --help.

Nothing runs: each verb's run function is replaced by a stand-in that stops the command with
what it was given, so these tests load no model and judge nothing."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ocrl.cli import app
from ocrl.codenet.convert import CodenetProblemsConfig
from ocrl.evaluation.config import EvalConfig, SampleConfig
from ocrl.label import LabelConfig
from ocrl.quickstart import QuickstartConfig
from ocrl.samples import CODET_STOPS

RUN_FUNCTIONS = {"eval": "ocrl.evaluation.run.run_eval",
                 "sample": "ocrl.evaluation.sample.run_sample",
                 "label": "ocrl.label.label",
                 "report": "ocrl.report.build_report",
                 "quickstart": "ocrl.quickstart.run_quickstart",
                 "problems codenet": "ocrl.codenet.convert.write_problems"}
# Arguments each verb needs before any other flag is looked at.
REQUIRED = {"eval": ["--out", "o"], "sample": ["--out", "o.jsonl"], "label": [],
            "report": ["r1"], "quickstart": [], "problems codenet": ["pages"]}
# The start of one of each verb's flags: it must not pass for the flag.
ABBREVIATED = {"eval": "--max-new", "sample": "--max-new", "label": "--time",
               "report": "--resample", "quickstart": "--max-st",
               "problems codenet": "--keep-unt"}


class Ran(Exception):
    """Raised by a verb's stand-in run function, carrying the arguments it was called with."""


@pytest.fixture(autouse=True)
def stand_ins(monkeypatch):
    def stand_in(*args, **kwargs):
        raise Ran(args, kwargs)

    for target in RUN_FUNCTIONS.values():
        monkeypatch.setattr(target, stand_in)


def invoke(verb: str, *argv: str):
    """``ocrl VERB *argv``; a verb of a group comes as one string ("problems codenet")."""
    return CliRunner().invoke(app, [*verb.split(), *argv])


def ran(*argv: str) -> tuple[tuple, dict]:
    """(args, kwargs) the verb's run function got from ``ocrl *argv``."""
    result = invoke(*argv)
    assert isinstance(result.exception, Ran), result.output
    return result.exception.args


def one_line(text: str) -> str:
    return " ".join(text.split())  # help text is wrapped to the terminal


# ---- flags to fields, aliases ----

def test_eval_flags_fill_eval_config_and_run_dir():
    (config, out), kwargs = ran("eval", "--out", "runs/x", "--max-new-tokens", "7",
                                "--batch_size", "3", "--timeout", "2.5", "--threads", "1",
                                "--ks", "1", "2", "--overwrite")
    assert isinstance(config, EvalConfig) and out == "runs/x" and kwargs == {"overwrite": True}
    assert (config.max_new_tokens, config.batch_size, config.timeout_s, config.threads,
            config.ks) == (7, 3, 2.5, 1, [1, 2])
    assert config.temperature == 0.0  # EvalConfig's greedy default, not SampleConfig's
    (config, _), kwargs = ran("eval", "--out", "o", "--timeout_s", "4")
    assert config.timeout_s == 4.0 and kwargs == {"overwrite": False}


def test_sample_flags_fill_sample_config():
    (config, out), _ = ran("sample", "--out", "logs.jsonl.gz", "--n", "4", "--temperature",
                           "0.5", "--max_new_tokens", "9", "--dtype", "bfloat16")
    assert type(config) is SampleConfig and out == "logs.jsonl.gz"
    assert (config.n, config.temperature, config.max_new_tokens, config.dtype) == \
        (4, 0.5, 9, "bfloat16")


def test_label_flags_fill_label_config():
    (config,), _ = ran("label", "--timeout", "1", "--stop", r"\nX", "--stop", r"\nY",
                       "--python", "/usr/bin/python3", "--out", "l.parquet")
    assert (config.timeout_s, config.python, config.out) == (1.0, "/usr/bin/python3", "l.parquet")
    assert config.stop_sequences() == ("\nX", "\nY")  # typed escapes become the characters
    (config,), _ = ran("label", "--stops", "A", "B")
    assert config.stops == ["A", "B"]
    (config,), _ = ran("label", "--no-stops")
    assert config.stop_sequences() is None


def test_label_and_quickstart_without_arguments_run_on_the_defaults():
    (config,), _ = ran("label")
    assert config == LabelConfig() and config.stop_sequences() == CODET_STOPS
    assert config.problems.endswith("examples/problems.jsonl")  # the built-in example
    (config,), _ = ran("quickstart")
    assert config == QuickstartConfig()


def test_report_runs_come_first_positionally():
    (runs, out), kwargs = ran("report", "a", "b", "c", "--out", "rep", "--train-dir", "t1",
                              "--train-dir", "t2", "--difficulty-from", "d", "--seed", "5")
    assert (runs, out) == (["a", "b", "c"], "rep")
    assert kwargs == {"train_dirs": ["t1", "t2"], "resamples": 10_000, "seed": 5,
                      "difficulty_from": "d"}
    (runs, out), kwargs = ran("report", "--runs", "a", "--train_dirs", "t")
    assert (runs, out, kwargs["train_dirs"]) == (["a"], "report", ["t"])


def test_problems_codenet_path_comes_first_positionally():
    (config,), _ = ran("problems codenet", "pages.tar.gz", "--out", "p.jsonl", "--problem-list",
                       "list.csv", "--keep-untested", "--workers", "3")
    assert config == CodenetProblemsConfig(path="pages.tar.gz", out="p.jsonl",
                                           problem_list="list.csv", keep_untested=True,
                                           workers=3)
    (config,), _ = ran("problems codenet", "--path", "root", "--problem_list", "l.csv")
    assert (config.path, config.out, config.problem_list, config.keep_untested,
            config.workers) == ("root", "problems.jsonl", "l.csv", False, 0)


def test_quickstart_flags_fill_quickstart_config():
    (config,), _ = ran("quickstart", "--timeout", "2", "--max-steps", "1", "--train-problems",
                       "3", "--collection-dtype", "bfloat16")
    assert (config.timeout_s, config.max_steps, config.train_problems,
            config.collection_dtype) == (2.0, 1, 3, "bfloat16")


# ---- --config: defaults <- file <- flags ----

@pytest.mark.parametrize("verb, yaml, flags, read", [
    ("eval", "out: from_file\nn: 2\ntemperature: 0.5\ntimeout_s: 9\n", ["--n", "3"],
     lambda a, k: (a[1], a[0].n, a[0].temperature, a[0].timeout_s)),
    ("sample", "out: from_file.jsonl\nseed: 4\nlimit: 2\n", ["--limit", "5"],
     lambda a, k: (a[1], a[0].seed, a[0].limit)),
    ("label", "timeout_s: 7\nstops: [A, B]\nworkers: 2\n", ["--stop", "C"],
     lambda a, k: (a[0].timeout_s, a[0].stops, a[0].workers)),
    ("report", "runs: [x, y]\nseed: 3\ntrain_dirs: [t]\n", ["--seed", "4"],
     lambda a, k: (a[0], k["seed"], k["train_dirs"])),
    ("quickstart", "max_steps: 2\nseed: 1\n", ["--seed", "6"],
     lambda a, k: (a[0].max_steps, a[0].seed)),
    ("problems codenet", "path: from_file\nout: p.jsonl\nworkers: 2\n", ["--workers", "5"],
     lambda a, k: (a[0].path, a[0].out, a[0].workers)),
])
def test_config_file_under_flags(tmp_path, verb, yaml, flags, read):
    path = tmp_path / f"{verb.replace(' ', '_')}.yaml"
    path.write_text(yaml)
    expected = {"eval": ("from_file", 3, 0.5, 9.0), "sample": ("from_file.jsonl", 4, 5),
                "label": (7.0, ["C"], 2), "report": (["x", "y"], 4, ["t"]),
                "quickstart": (2, 6), "problems codenet": ("from_file", "p.jsonl", 5)}[verb]
    # Required values (eval's --out, report's runs, codenet's path) may come from the file
    # alone.
    assert read(*ran(verb, "--config", str(path), *flags)) == expected


@pytest.mark.parametrize("verb", sorted(RUN_FUNCTIONS))
def test_unknown_config_key_names_file_and_key(tmp_path, verb):
    path = tmp_path / "settings.yaml"
    path.write_text("out: x\nsamples_per_problme: 3\n")
    result = invoke(verb, *REQUIRED[verb], "--config", str(path))
    assert result.exit_code == 2, result.output
    assert "settings.yaml" in result.output and "samples_per_problme" in result.output


# ---- errors ----

@pytest.mark.parametrize("verb", sorted(RUN_FUNCTIONS))
def test_unknown_or_abbreviated_flag_fails_with_its_name(verb):
    result = invoke(verb, *REQUIRED[verb], "--bogus", "1")
    assert result.exit_code == 2, result.output
    assert "unknown arguments: --bogus 1" in one_line(result.output)
    assert f"ocrl {verb} --help" in result.output
    result = invoke(verb, *REQUIRED[verb], ABBREVIATED[verb], "1")
    assert result.exit_code == 2 and f"{ABBREVIATED[verb]} 1" in result.output


def test_bad_values_and_missing_required_flags_are_named():
    result = invoke("eval", "--out", "o", "--n", "many")
    assert result.exit_code == 2 and "argument --n: invalid int value: 'many'" in result.output
    result = invoke("sample", "--n", "2")
    assert result.exit_code == 2 and "required: --out" in result.output
    result = invoke("report", "--out", "r")
    assert result.exit_code == 2 and "required: --runs" in result.output
    result = invoke("problems codenet", "--out", "p.jsonl")
    assert result.exit_code == 2 and "required: --path" in result.output


# ---- help ----

@pytest.mark.parametrize("verb, help_text", [
    ("eval", "Sandbox wall-clock seconds per run."),
    ("sample", "Log to write: JSONL, or JSONL.gz when it ends in .gz."),
    ("label", "Judge samples exactly as logged."),
    ("report", "Bootstrap resamples for the 95 percent intervals."),
    ("quickstart", "Held-out-half problems evaluated."),
    ("problems codenet", "Also write statements without sample tests (they cannot be judged)."),
])
@pytest.mark.parametrize("ask", ["--help", "-h"])
def test_help_lists_every_field_with_its_help(verb, help_text, ask):
    result = invoke(verb, ask)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: ocrl {verb}")
    assert help_text in one_line(result.output) and "--config" in result.output


@pytest.mark.parametrize("verb", ["eval", "sample", "report", "problems codenet"])
def test_verbs_with_required_flags_show_help_without_arguments(verb):
    result = invoke(verb)
    assert result.exit_code == 0 and result.output.startswith(f"Usage: ocrl {verb}")

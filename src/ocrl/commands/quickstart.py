"""`ocrl quickstart`: the main job, end to end on a tiny budget.

Every QuickstartConfig field is a ``--name value`` flag and a key of the YAML file given with
``--config`` (`ocrl.config_files`); with no arguments it runs on the defaults.
"""

from __future__ import annotations

from ocrl.commands.common import flag_verb

USAGE = """Usage: ocrl quickstart [--out DIR] [--config quickstart.yaml] [--FIELD VALUE ...]

The whole pipeline on HumanEval, a demonstration on a tiny budget. Split HumanEval in halves;
build an offline dataset on one (canonical solutions + the base model's judged samples); train
offline RL and SFT; evaluate base, SFT and offline RL on the other half; print the comparison
and write the report. Every stage resumes.
"""


@flag_verb("quickstart", "The whole pipeline on HumanEval, a demonstration on a tiny budget. "
                         "--help lists every flag.")
def main(argv: list[str]):
    from ocrl.config_files import parse_verb, show_help
    from ocrl.quickstart import QuickstartConfig

    # No arguments is the README's main job, not a request for help.
    if show_help(argv, QuickstartConfig, prog="ocrl quickstart", usage=USAGE,
                 empty_is_help=False):
        return None
    from ocrl.quickstart import run_quickstart

    return run_quickstart(parse_verb(QuickstartConfig, argv, prog="ocrl quickstart"))

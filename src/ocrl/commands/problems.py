"""`ocrl problems codenet`: CodeNet HTML statements -> stdio problems JSONL.

Every CodenetProblemsConfig field is a ``--name value`` flag and a key of the YAML file given
with ``--config`` (`ocrl.config_files`); the statements path also comes positionally, first.
"""

from __future__ import annotations

from ocrl.cli import problems_app
from ocrl.commands.common import flag_verb, print_table

USAGE = """Usage: ocrl problems codenet PATH [--out problems.jsonl] [--problem-list CSV]
                             [--keep-untested] [--workers N] [--config codenet.yaml]

Parse CodeNet HTML statements into stdio problems: prompt text, limits, sample tests. English
is kept where a page has both languages. PATH is problem_descriptions/, a tarball of it, or a
Project_CodeNet root.
"""


@flag_verb("codenet", "Parse CodeNet HTML statements into stdio problems: prompt text, limits, "
                      "sample tests. --help lists every flag.", group=problems_app)
def main(argv: list[str]) -> tuple[list[dict], dict] | None:
    from ocrl.codenet.convert import CodenetProblemsConfig
    from ocrl.config_files import parse_verb, show_help, with_positionals

    prog = "ocrl problems codenet"
    if show_help(argv, CodenetProblemsConfig, prog=prog, usage=USAGE):
        return None
    from ocrl.codenet.convert import write_problems

    config = parse_verb(CodenetProblemsConfig, with_positionals(argv, "--path"), prog=prog)
    rows, counts = write_problems(config)
    total = counts.get("statements", 0)
    table = [("statements read", str(total), ""),
             ("with >= 1 sample test", str(counts.get("with_tests", 0)),
              f"{counts.get('with_tests', 0) / total:.1%}" if total else ""),
             ("sample tests", str(counts.get("tests", 0)), ""),
             ("English / Japanese", f"{counts.get('language/en', 0)} / "
                                    f"{counts.get('language/ja', 0)}", ""),
             ("with a time limit", str(counts.get("with_time_limit", 0)), ""),
             ("problems written", str(len(rows)), "")]
    print_table(f"CodeNet statements -> {config.out}", ["", "count", "share"], table)
    return rows, counts

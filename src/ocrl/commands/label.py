"""`ocrl label`: judge logged samples in the sandbox.

Every LabelConfig field is a ``--name value`` flag and a key of the YAML file given with
``--config`` (`ocrl.config_files`); with no arguments it labels the built-in example.
"""

from __future__ import annotations

from collections import Counter

from ocrl.commands.common import flag_verb, print_table

USAGE = """Usage: ocrl label [--problems problems.jsonl] [--samples samples.jsonl.gz]
                  [--out labels.parquet] [--config label.yaml] [--FIELD VALUE ...]

Execute every sample once in the sandbox and record its verdict. Resumes where a killed run
stopped. With no arguments, labels a small built-in example.
"""


@flag_verb("label", "Execute every sample once in the sandbox and record its verdict. --help "
                    "lists every flag.")
def main(argv: list[str]):
    from ocrl.config_files import parse_verb, show_help
    from ocrl.label import LabelConfig

    # No arguments is a real run: the built-in example.
    if show_help(argv, LabelConfig, prog="ocrl label", usage=USAGE, empty_is_help=False):
        return None
    from ocrl.label import label, summary_rows

    config = parse_verb(LabelConfig, argv, prog="ocrl label")
    table = label(config)
    modes = sorted(set(table.column("sandbox").to_pylist()))
    ways = Counter(table.column("judged_by").to_pylist())
    print_table(f"{table.num_rows} samples judged ({', '.join(modes)} sandbox; judged_by: "
                + ", ".join(f"{count} {way}" for way, count in sorted(ways.items()))
                + f") -> {config.out}",
                ["verdict", "samples", "share"],
                [(status, str(count), f"{share:.1%}") for status, count, share in
                 summary_rows(table)])
    return table

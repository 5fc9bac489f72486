"""Reading YAML config files into a mapping, with errors located by file and line, and
refusing keys a config dataclass does not have."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ocrl.errors import InputError


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    """The top-level mapping of a YAML file (empty file: {})."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InputError("config file not found", path=str(path))
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', None) or exc}",
                         path=str(path), line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise InputError("expected a mapping of option: value", path=str(path))
    return data


def reject_unknown_keys(values: dict[str, Any], config_class, *, path: str | Path | None,
                        what: str = "option", field_prefix: str = "") -> None:
    """InputError naming the first key of ``values`` that is not a field of
    ``config_class``, with the known ones listed."""
    known = {f.name for f in dataclasses.fields(config_class)}
    for key in values:
        if key not in known:
            raise InputError(f"unknown {what} (known: {', '.join(sorted(known))})",
                             path=None if path is None else str(path),
                             field=f"{field_prefix}{key}")


def take_config_path(argv: list[str], flags=("--config",)) -> str | None:
    """Remove ``--config PATH`` (any of ``flags``) from ``argv`` in place; return PATH."""
    path = None
    for flag in flags:
        if flag in argv:
            at = argv.index(flag)
            if at + 1 >= len(argv):
                raise InputError(f"{flag} needs a path")
            path = argv[at + 1]
            del argv[at:at + 2]
    return path


def _flags_parser(config_class, prog: str):
    from transformers import HfArgumentParser

    # No abbreviations: a mistyped flag must fail, not silently set a neighbour.
    return HfArgumentParser(config_class, prog=prog, allow_abbrev=False)


def show_help(argv: list[str], config_class, *, prog: str, usage: str) -> bool:
    """Print ``usage`` and every flag of ``config_class`` when ``argv`` is empty or asks for
    help; True when it did (the verb then has nothing else to do)."""
    if argv and "--help" not in argv and "-h" not in argv:
        return False
    print(usage)
    _flags_parser(config_class, prog).print_help()
    return True


def parse_flags(config_class, argv: list[str], *, prog: str, defaults: dict[str, Any],
                unknown_hint: str):
    """One ``config_class`` from ``--field value`` flags over ``defaults`` (a YAML file's
    values), by `transformers.HfArgumentParser`: the one flag mechanism of every verb, so a
    new config field is a new flag without another edit."""
    parser = _flags_parser(config_class, prog)
    parser.set_defaults(**defaults)
    try:
        config, extra = parser.parse_args_into_dataclasses(
            args=argv, return_remaining_strings=True, look_for_args_file=False)
    except SystemExit as exc:  # argparse reports bad values itself, then exits
        if exc.code == 0:
            raise
        raise InputError("invalid command-line arguments (see the message above)") from None
    if extra:
        raise InputError(f"unknown arguments: {' '.join(extra)} ({unknown_hint})")
    return config

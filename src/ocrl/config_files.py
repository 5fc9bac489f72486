"""Config dataclasses as command-line flags and YAML files: the one flag mechanism of every verb.

A field declared with `option` is a ``--field value`` flag (`transformers.HfArgumentParser`;
``--field-name`` too, plus its ``aliases``) and a YAML key of ``--config FILE``; its help text
is the field's metadata and its default the dataclass's. Flags override the file, which
overrides the defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from ocrl.errors import InputError


def option(default=dataclasses.MISSING, help_text: str = "", **metadata):
    """A config field with its --help text and any other HfArgumentParser metadata (``aliases``,
    ``action``); a callable default is a factory, none makes the field required."""
    metadata = {"help": help_text, **metadata}
    if callable(default):
        return dataclasses.field(default_factory=default, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class Repeatable(argparse.Action):
    """A list flag given as ``--flag A B`` or ``--flag A --flag B``. Its first use replaces the
    default (or the YAML file's list) instead of adding to it, as any other flag does."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = getattr(namespace, self.dest, None)
        start = [] if given is self.default else list(given)
        setattr(namespace, self.dest, start + list(values))


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
    ``config_class`` (or of any of a tuple of them), with the known ones listed."""
    classes = config_class if isinstance(config_class, tuple) else (config_class,)
    known = {f.name for cls in classes for f in dataclasses.fields(cls)}
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


def with_positionals(argv: list[str], flag: str) -> list[str]:
    """``A B ... --flags`` as ``flag A B ... --flags``: a verb's positional arguments are the
    ones before its first flag, and they fill the field ``flag`` names (`ocrl report`'s runs,
    `ocrl problems codenet`'s statements path)."""
    first_flag = next((i for i, arg in enumerate(argv) if arg.startswith("-")), len(argv))
    if first_flag == 0:
        return list(argv)
    return [flag, *argv[:first_flag], *argv[first_flag:]]


def _flags_parser(config_class, prog: str):
    from transformers import HfArgumentParser

    # No abbreviations: a mistyped flag must fail, not silently set a neighbour.
    return HfArgumentParser(config_class, prog=prog, allow_abbrev=False)


def show_help(argv: list[str], config_class, *, prog: str, usage: str,
              empty_is_help: bool = True) -> bool:
    """Print ``usage`` and every flag of ``config_class`` (a dataclass or a tuple of them) when
    ``argv`` asks for help, or is empty and ``empty_is_help`` (verbs that run on defaults alone
    set it False); True when it did (the verb then has nothing else to do)."""
    if "--help" not in argv and "-h" not in argv and (argv or not empty_is_help):
        return False
    print(usage)
    _flags_parser(config_class, prog).print_help()
    return True


def _bad_arguments(message: str):
    # Replaces argparse's print-usage-and-exit, so the message is the error's own.
    raise InputError(f"invalid command-line arguments: {message}")


def parse_flags(config_class, argv: list[str], *, prog: str, defaults: dict[str, Any],
                unknown_hint: str):
    """One ``config_class`` (one instance of each, for a tuple of classes) from ``--field value``
    flags over ``defaults`` (a YAML file's values), by `transformers.HfArgumentParser`: the one
    flag mechanism of every verb, so a new config field is a new flag without another edit."""
    parser = _flags_parser(config_class, prog)
    parser.set_defaults(**defaults)
    for action in parser._actions:
        if action.dest in defaults:  # a required field the YAML file gives is given
            action.required = False
    parser.error = _bad_arguments
    *configs, extra = parser.parse_args_into_dataclasses(
        args=argv, return_remaining_strings=True, look_for_args_file=False)
    if extra:
        raise InputError(f"unknown arguments: {' '.join(extra)} ({unknown_hint})")
    return configs[0] if len(configs) == 1 else tuple(configs)


def parse_verb(config_class, argv: list[str], *, prog: str):
    """``[--config FILE.yaml] [--field value ...]`` into ``config_class`` (or a tuple of
    instances, for a tuple of classes): defaults, then the file's keys, then the flags."""
    argv = list(argv)
    path = take_config_path(argv)
    values = {}
    if path is not None:
        values = read_yaml_mapping(path)
        reject_unknown_keys(values, config_class, path=path)
    return parse_flags(config_class, argv, prog=prog, defaults=values,
                       unknown_hint=f"`{prog} --help` lists every flag")

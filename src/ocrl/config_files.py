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

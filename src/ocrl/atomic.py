"""Files written whole or not at all: a killed writer never leaves a half-written result."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_json_atomic(path: str | os.PathLike, data: Any, *, indent: int | None = 2,
                      sort_keys: bool = False) -> Path:
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=indent, sort_keys=sort_keys, ensure_ascii=False,
                              default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_parquet_atomic(path: str | os.PathLike, table, **options) -> Path:
    import pyarrow.parquet as pq

    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp, **options)
    os.replace(tmp, path)
    return path

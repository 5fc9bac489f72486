"""Import a script of benchmarks/ as a module, for tests of its pure parts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
# The scripts import their shared helpers (timing.py) as run from benchmarks/.
if str(BENCHMARKS) not in sys.path:
    sys.path.append(str(BENCHMARKS))


def load_benchmark(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

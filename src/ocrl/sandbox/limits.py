"""Resource limits applied to every judged program."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Limits:
    timeout_s: float = 3.0  # wall clock, per run (per test case for stdio problems)
    cpu_time_s: float | None = None  # defaults to the wall-clock timeout
    memory_mb: int = 1024  # address space
    output_kb: int = 1024  # per output file (stdout, stderr, anything written)
    max_processes: int = 64  # a fork bomb stops here

    def request_fields(self) -> dict:
        cpu = self.cpu_time_s if self.cpu_time_s is not None else self.timeout_s
        return {
            "timeout_seconds": float(self.timeout_s),
            "cpu_seconds": max(1, math.ceil(cpu)),
            "memory_bytes": int(self.memory_mb) * 1024 * 1024,
            "output_bytes": int(self.output_kb) * 1024,
            "max_processes": int(self.max_processes),
        }

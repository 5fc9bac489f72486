"""The judge's verdict vocabulary (Project CodeNet's) and the record of one judged sample."""

from __future__ import annotations

from dataclasses import asdict, dataclass

ACCEPTED = "Accepted"
WRONG_ANSWER = "Wrong Answer"
RUNTIME_ERROR = "Runtime Error"
TIME_LIMIT = "Time Limit Exceeded"
MEMORY_LIMIT = "Memory Limit Exceeded"
COMPILE_ERROR = "Compile Error"
OUTPUT_LIMIT = "Output Limit Exceeded"
PRESENTATION_ERROR = "WA: Presentation Error"

STATUSES = (ACCEPTED, WRONG_ANSWER, RUNTIME_ERROR, TIME_LIMIT, MEMORY_LIMIT, COMPILE_ERROR,
            OUTPUT_LIMIT, PRESENTATION_ERROR)

# Which sandbox judged a sample: full namespaces, or resource limits only (no bubblewrap).
SANDBOX_BWRAP = "bwrap"
SANDBOX_RLIMITS = "rlimits"


@dataclass
class Verdict:
    status: str
    cpu_time_ms: float = 0.0
    memory_kb: int = 0
    tests_passed: int | None = None
    tests_total: int | None = None
    stderr_tail: str = ""
    sandbox: str = SANDBOX_BWRAP

    @property
    def passed(self) -> bool:
        return self.status == ACCEPTED

    def to_dict(self) -> dict:
        row = asdict(self)
        row["passed"] = self.passed
        return row

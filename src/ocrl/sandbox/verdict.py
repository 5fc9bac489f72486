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

# How a verdict was reached (Verdict.judged_by):
# the program's return values crossed to a process that never ran its code, where the test ran;
JUDGED_SPLIT = "split"
# the fallback for tests that pass the program more than plain data: test and program in one
# process, which a program written against the judge can fool (README, threat model);
JUDGED_IN_PROCESS = "in_process"
# stdio problems: the judge compares the program's stdout, outside the sandbox.
JUDGED_STDOUT = "stdout"


@dataclass
class Verdict:
    status: str
    cpu_time_ms: float = 0.0
    memory_kb: int = 0
    tests_passed: int | None = None
    tests_total: int | None = None
    stderr_tail: str = ""
    sandbox: str = SANDBOX_BWRAP
    judged_by: str = JUDGED_SPLIT

    @property
    def passed(self) -> bool:
        return self.status == ACCEPTED

    def to_dict(self) -> dict:
        row = asdict(self)
        row["passed"] = self.passed
        return row

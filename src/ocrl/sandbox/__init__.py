"""Execute untrusted code once, safely, and record a verdict.

Each worker is a long-lived process inside bubblewrap (network, PID, IPC, UTS and user
namespaces; read-only system, size-capped tmpfs for the run) that starts every run under
rlimits: a forked child for stdio programs; for assert-style tests the program in a fresh
interpreter and the test in a second process that never runs the program's code (harness.py),
so that no program can forge its own verdict. Without bubblewrap it falls back to rlimits only,
loudly, and says so in every verdict.
"""

from ocrl.sandbox.judge import Judge, classify
from ocrl.sandbox.limits import Limits
from ocrl.sandbox.verdict import Verdict

__all__ = ["Judge", "Limits", "Verdict", "classify"]

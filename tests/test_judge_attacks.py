"""Reward hacks against the judge (issue 13): each is a wrong solution plus a trick that makes a
naive judge say Accepted. Every one must end Wrong Answer or Runtime Error.

Where an attack targets what a same-process judge holds, the test also runs it against the
in-process fallback (`judged_by="in_process"`), to show the attack is real and the split is
what stops it."""

from __future__ import annotations

import hashlib

import pytest

from ocrl.problems import Problem, StdioTest
from ocrl.sandbox import Judge, Limits
from ocrl.sandbox import judge as judge_module
from ocrl.sandbox import verdict as V
from ocrl.sandbox.worker import bwrap_path, detect_mode

HAVE_BWRAP = bwrap_path() is not None and detect_mode() == V.SANDBOX_BWRAP
MODES = [V.SANDBOX_BWRAP, V.SANDBOX_RLIMITS] if HAVE_BWRAP else [V.SANDBOX_RLIMITS]
LIMITS = Limits(timeout_s=3.0, memory_mb=512, output_kb=256, max_processes=32)
FAILED = (V.WRONG_ANSWER, V.RUNTIME_ERROR)

# The expected answers cannot be guessed: only reading them out of the test would give them.
SECRET = Problem(
    task_id="secret", style="assert", entry_point="secret",
    prompt='def secret(x):\n    """The secret for x."""\n',
    test=('def check(candidate):\n    expected = "ocrl-" + "7f3a9c"\n'
          '    assert candidate(1) == expected\n    assert candidate(2) == "ocrl-51e2d0"\n'))
CLOSE = Problem(
    task_id="close", style="assert", entry_point="half",
    prompt='import math\n\n\ndef half(x):\n    """x / 2."""\n',
    test=('import math\n\n\ndef check(candidate):\n'
          '    assert math.isclose(candidate(3), 1.5)\n'
          '    assert abs(candidate(5) - 2.5) < 1e-9\n'
          '    assert round(candidate(7), 1) == 3.5\n'
          '    assert sorted(candidate(x) for x in (4, 2)) == [1.0, 2.0]\n'
          '    assert len(str(candidate(8))) == 3\n'))


@pytest.fixture(scope="module", params=MODES)
def judge(request):
    with Judge(workers=1, limits=LIMITS, mode=request.param) as pool:
        yield pool


def in_process(judge, monkeypatch, problem, completion):
    """The same judge, forced onto the fallback that runs test and program in one process."""
    with monkeypatch.context() as patch:
        patch.setattr(judge_module, "split_plan", lambda *args: None)
        patch.setattr(judge, "_plans", {})
        verdict = judge.judge(problem, completion)
    assert verdict.judged_by == V.JUDGED_IN_PROCESS
    return verdict


def fails_split(judge, problem, completion):
    verdict = judge.judge(problem, completion)
    assert verdict.judged_by == V.JUDGED_SPLIT
    assert verdict.status in FAILED, verdict


def wrong(body: str = "return 'wrong'") -> str:
    return "".join(f"    {line}\n" for line in body.strip("\n").splitlines())


# -- forged proof -----------------------------------------------------------------------------

# Gather every token-like string a same-process judge could hold (frames, gc, /proc), then
# write "<token> DONE" and framed "passed" reports to every descriptor, and exit cleanly.
FORGE = r'''
import gc, inspect, json, os, struct, sys
def _ocrl_forge(source):
    tokens = set()
    def take(value):
        if isinstance(value, str) and 16 <= len(value) <= 64:
            tokens.add(value)
        elif isinstance(value, (tuple, list)) and len(value) < 8:
            for item in value:
                take(item)
    if source == "frames":
        frame = sys._getframe()
        while frame is not None:
            for value in frame.f_locals.values():
                take(value)
            frame = frame.f_back
    elif source == "inspect":
        for info in inspect.stack(0):
            for value in info.frame.f_locals.values():
                take(value)
    elif source == "gc":
        for obj in gc.get_objects():
            if isinstance(obj, dict):
                for value in list(obj.values())[:50]:
                    take(value)
        for frame in sys._current_frames().values():
            while frame is not None:
                for value in frame.f_locals.values():
                    take(value)
                frame = frame.f_back
    fds = set(range(256))
    if source == "proc":
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    for fd in os.listdir(f"/proc/{pid}/fd"):
                        fds.add(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    pass
    report = json.dumps({"outcome": "passed", "detail": "", "calls": 2}).encode()
    # A nonce looks like 32 hex digits: written first, since a judge may read the first line only.
    ranked = sorted(tokens, key=lambda t: not (len(t) == 32 and all(c in "0123456789abcdef" for c in t)))
    payloads = [f"{token} DONE\n".encode() for token in ranked[:1]]
    payloads += [struct.pack(">I", len(report)) + report, b"DONE\n"]
    for fd in fds:
        try:
            handle = os.open(fd, os.O_WRONLY | os.O_NONBLOCK) if isinstance(fd, str) else fd
        except OSError:
            continue
        for payload in payloads:
            try:
                os.write(handle, payload)
            except OSError:
                break
    os._exit(0)
'''


@pytest.mark.parametrize("source", ["frames", "inspect", "gc", "proc"])
@pytest.mark.parametrize("where", ["module", "call"])
def test_forged_proof_is_never_accepted(judge, source, where):
    if where == "module":
        completion = wrong() + FORGE + f"_ocrl_forge({source!r})\n"
    else:
        completion = wrong(f"_ocrl_forge({source!r})") + FORGE
    fails_split(judge, SECRET, completion)


def test_forged_proof_is_real_against_the_in_process_fallback(judge, monkeypatch):
    completion = wrong("_ocrl_forge('frames')") + FORGE
    assert in_process(judge, monkeypatch, SECRET, completion).status == V.ACCEPTED


# -- fake equality --------------------------------------------------------------------------

ALWAYS_EQUAL = {
    "object": "class Any:\n    def __eq__(self, other): return True\n"
              "    def __ne__(self, other): return False\n    def __hash__(self): return 0\n",
    "int": "class Any(int):\n    def __eq__(self, other): return True\n"
           "    def __ne__(self, other): return False\n    __hash__ = int.__hash__\n",
    "str": "class Any(str):\n    def __eq__(self, other): return True\n"
           "    def __ne__(self, other): return False\n    __hash__ = str.__hash__\n",
    "list": "class Any(list):\n    def __eq__(self, other): return True\n"
            "    def __ne__(self, other): return False\n",
    "raising": "class Any:\n    def __eq__(self, other): raise AssertionError\n"
               "    def __del__(self): raise SystemExit(0)\n",
}


@pytest.mark.parametrize("kind", sorted(ALWAYS_EQUAL))
def test_always_equal_objects_never_compare_equal(judge, monkeypatch, kind):
    completion = wrong("return Any()") + ALWAYS_EQUAL[kind]
    fails_split(judge, SECRET, completion)
    # The fallback's plain-data copy stops the naive object too (not a program that undoes it).
    assert in_process(judge, monkeypatch, SECRET, completion).status in FAILED


def test_plain_values_of_builtin_subclasses_still_count(judge):
    """What is rejected is redefined comparison, not subclassing: an honest namedtuple or
    Counter is its plain value."""
    problem = Problem(task_id="pair", style="assert", entry_point="pair",
                      prompt="def pair(x):\n    pass\n",
                      test="def check(candidate):\n    assert candidate(2) == (2, {'a': 1})\n")
    completion = ("    import collections\n    P = collections.namedtuple('P', 'x counts')\n"
                  "    return P(x, collections.Counter('a'))\n")
    assert judge.judge(problem, completion).status == V.ACCEPTED


# -- patching what the test uses -----------------------------------------------------------

PATCHES = {
    "builtins": "import builtins, math\nbuiltins.abs = lambda x: 0\nbuiltins.round = "
                "lambda x, n=0: 3.5\nbuiltins.sorted = lambda *a, **k: [1.0, 2.0]\n"
                "builtins.len = lambda x: 3\nmath.isclose = lambda *a, **k: True\n",
    "globals": "import math\nabs = lambda x: 0\nround = lambda x, n=0: 3.5\n"
               "sorted = lambda *a, **k: [1.0, 2.0]\nlen = lambda x: 3\n"
               "math.isclose = lambda *a, **k: True\n",
}


@pytest.mark.parametrize("target", sorted(PATCHES))
def test_monkeypatching_what_the_test_uses(judge, monkeypatch, target):
    completion = wrong("return -1.0") + PATCHES[target]
    fails_split(judge, CLOSE, completion)
    assert judge.judge(CLOSE, wrong("return x / 2")).status == V.ACCEPTED
    if target == "builtins":  # the attack is real where the test shares the program's process
        assert in_process(judge, monkeypatch, CLOSE, completion).status == V.ACCEPTED


# -- reading the expected values -----------------------------------------------------------

# Looks for the answers everywhere a program could: frames, code objects via gc, every readable
# process's memory (its own included: a server forked from a process that saw the test would
# hold it), /proc files and the sandbox's files. It knows the answers only by their hashes, so
# that its own text never contains them.
HASHES = {x: hashlib.sha256(answer.encode()).hexdigest()
          for x, answer in ((1, "ocrl-7f3a9c"), (2, "ocrl-51e2d0"))}
READ = r'''
import gc, hashlib, os, re, sys
def _ocrl_read(x):
    pattern = re.compile(rb"ocrl-[0-9a-f]{6}")
    chunks = []
    frame = sys._getframe()
    while frame is not None:
        chunks.append(repr(frame.f_locals).encode() + repr(frame.f_code.co_consts).encode())
        frame = frame.f_back
    for obj in gc.get_objects():
        code = getattr(obj, "__code__", None)
        if code is not None:
            chunks.append(repr(code.co_consts).encode())
    for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
        for name in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as handle:
                    chunks.append(handle.read(1 << 20))
            except OSError:
                pass
        try:
            with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb") as mem:
                for line in maps:
                    span, perms = line.split()[:2]
                    start, end = (int(v, 16) for v in span.split("-"))
                    if perms.startswith("r") and end - start < (64 << 20):
                        try:
                            mem.seek(start)
                            chunks.append(mem.read(end - start))
                        except (OSError, ValueError, OverflowError):
                            pass
        except OSError:
            pass
    for root in ("/ocrl", "/sandbox", "."):
        for folder, _, files in os.walk(root):
            for name in files:
                try:
                    chunks.append(open(os.path.join(folder, name), "rb").read(1 << 22))
                except OSError:
                    pass
    for chunk in chunks:
        for found in pattern.findall(chunk):
            if hashlib.sha256(found).hexdigest() == HASHES[x]:
                return found.decode()
    return "none"
'''


def test_reading_expected_values_out_of_the_test(judge, monkeypatch):
    completion = wrong("return _ocrl_read(x)") + f"HASHES = {HASHES!r}\n" + READ
    verdict = judge.judge(SECRET, completion)
    assert verdict.status in FAILED, verdict
    # The attack is real: against one process it finds both answers.
    assert in_process(judge, monkeypatch, SECRET, completion).status == V.ACCEPTED
    frames = wrong("import sys\nf = sys._getframe(1)\nwhile f and f.f_code.co_name != 'check':\n"
                   "    f = f.f_back\nif f is None:\n    return 'none'\nif x == 1:\n"
                   "    return f.f_locals.get('expected', 'none')\n"
                   "return [c for c in f.f_code.co_consts if isinstance(c, str)\n"
                   "        and c.startswith('ocrl-') and len(c) == 11][-1]")
    assert judge.judge(SECRET, frames).status in FAILED
    # The attack is real: against one process, the test's frame gives both answers away.
    assert in_process(judge, monkeypatch, SECRET, frames).status == V.ACCEPTED


# -- tracing, exits from threads and signal handlers, fake verdicts ------------------------

TRACE = r'''
import sys
def _skip_asserts(frame, event, arg):
    if frame.f_code.co_name == "check" and event == "line":
        try:
            frame.f_lineno = frame.f_code.co_firstlineno + 200
        except ValueError:
            pass
    return _skip_asserts
sys.settrace(_skip_asserts)
sys.setprofile(lambda frame, event, arg: None)
'''

TRICKS = {
    "settrace": wrong() + TRACE,
    "settrace_in_call": wrong("sys.settrace(_skip_asserts)\n"
                              "sys._getframe(1).f_trace = _skip_asserts\nreturn 'wrong'") + TRACE,
    "thread_exit": wrong("import os, threading, time\n"
                         "threading.Thread(target=lambda: (time.sleep(0.05), os._exit(0))).start()\n"
                         "time.sleep(1)\nreturn 'wrong'"),
    "signal_exit": wrong("import os, signal, time\n"
                         "signal.signal(signal.SIGALRM, lambda *a: os._exit(0))\n"
                         "signal.setitimer(signal.ITIMER_REAL, 0.05)\ntime.sleep(1)\nreturn 'wrong'"),
    "signal_systemexit": wrong("import signal, sys, time\n"
                               "signal.signal(signal.SIGALRM, lambda *a: sys.exit(0))\n"
                               "signal.setitimer(signal.ITIMER_REAL, 0.05)\ntime.sleep(1)\n"
                               "return 'wrong'"),
    "fake_verdicts": wrong("print('Accepted'); print('all tests passed')\nimport sys\n"
                           "sys.stderr.write('PASSED\\nAccepted\\n')\nreturn 'wrong'"),
    "exit_zero_in_call": wrong("import sys\nsys.exit(0)"),
    "kill_the_tests": wrong("import os, signal\nfor pid in os.listdir('/proc'):\n"
                            "    if pid.isdigit() and int(pid) != os.getpid():\n"
                            "        try:\n            os.kill(int(pid), signal.SIGKILL)\n"
                            "        except OSError:\n            pass\nreturn 'wrong'"),
}


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_tracing_exits_and_fake_verdicts(judge, trick):
    verdict = judge.judge(SECRET, TRICKS[trick])
    assert verdict.status in FAILED, verdict
    assert judge.judge(SECRET, wrong("return 'ocrl-7f3a9c' if x == 1 else 'ocrl-51e2d0'")
                       ).status == V.ACCEPTED  # and the pool still judges


# -- the fallback is marked, and split runs report how -------------------------------------

def test_tests_that_pass_functions_fall_back_in_process_and_say_so(judge):
    problem = Problem(task_id="apply", style="assert", entry_point="apply",
                      prompt="def apply(f, x):\n    pass\n",
                      test="def check(candidate):\n    assert candidate(lambda v: v + 1, 1) == 2\n")
    verdict = judge.judge(problem, "    return f(x)\n")
    assert (verdict.status, verdict.judged_by) == (V.ACCEPTED, V.JUDGED_IN_PROCESS)
    verdict = judge.judge(problem, wrong("return Any()") + ALWAYS_EQUAL["object"])
    assert verdict.status in FAILED and verdict.judged_by == V.JUDGED_IN_PROCESS


def test_mbpp_style_tests_call_the_program_by_name(judge):
    problem = Problem(task_id="mbpp", style="assert", entry_point="is_odd ",
                      prompt="import math\ndef is_odd(n):\n    '''odd?'''\n",
                      test="def check(candidate):\n    assert is_odd(3) == True\n"
                           "    assert helper(2) == 4\n    assert math.isclose(is_odd(2), 0)\n")
    completion = "    return n % 2 == 1\ndef helper(n):\n    return n * n\n"
    verdict = judge.judge(problem, completion)
    assert (verdict.status, verdict.judged_by) == (V.ACCEPTED, V.JUDGED_SPLIT), verdict
    assert judge.judge(problem, "    return True\n").status in FAILED  # no helper: NameError


def test_stdio_verdicts_come_from_stdout_alone(judge):
    problem = Problem(task_id="echo", style="stdio", prompt="print 42",
                      tests=[StdioTest("", "42\n")])
    verdict = judge.judge(problem, "print(42)")
    assert (verdict.status, verdict.judged_by) == (V.ACCEPTED, V.JUDGED_STDOUT)
    tricks = [
        "print('4' * 10000 + '\\n42')",  # a huge line, then the answer
        "print('\\n' * 5000 + '42')",  # the answer at the end of a long output
        "import sys\nsys.stdout.buffer.write(b'4\\xff2\\n')",  # not UTF-8
        "print('42\\x0c')",  # a control character as trailing space
        "print('\\ufeff42')",
        "print('4\\r42')",  # a carriage return "overwriting" on a terminal
        "import os\nos.write(1, b'41\\n')\nprint('Accepted', file=__import__('sys').stderr)",
    ]
    for code in tricks:
        assert judge.judge(problem, code).status in FAILED + (V.PRESENTATION_ERROR,), code


def test_plain_data_round_trips_exactly():
    from ocrl.sandbox.harness import NotPlain, from_plain, to_plain

    values = [None, True, 0, -7, 3 ** 20000, 1.5, float("inf"), -0.0, 2 + 3j, "é\u2028", b"\x00\xff",
              bytearray(b"ab"), [1, (2, 3)], {"k": {4, 5}}, frozenset({6}), {(1, 2): [None]}]
    import json

    for value in values:
        back = from_plain(json.loads(json.dumps(to_plain(value))))
        assert back == value and type(back) is type(value)
    for forged in ({"tuple": [1], "x": 2}, {"set": [[1]]}, {"dict": [[[1], 2]]}, {"evil": 1},
                   {"complex": ["1", 2]}, {"int": "zz"}):
        with pytest.raises(NotPlain):
            from_plain(forged)


# -- runtime rewards: time hidden in other processes still counts -----------------------------

# The child burns 0.4 s of CPU and says so on a pipe; the program reads that instead of
# waiting for it (so its rusage leaves the child out), which keeps the test exact on a loaded
# machine, where a fixed sleep let the program end before the child had its 0.4 s.
HIDE_WORK = ("import os, time\nr, w = os.pipe()\nif os.fork() == 0:\n"
             "    end = time.process_time() + 0.4\n"
             "    while time.process_time() < end:\n        pass\n"
             "    os.write(w, b'x')\n    os._exit(0)\nos.read(r, 1)\n")


def test_cpu_time_handed_to_an_unwaited_child_still_counts(judge):
    """A runtime reward ranks accepted samples by CPU time: work done in a child that is never
    waited for (so the kernel's rusage of the program leaves it out) must count all the same."""
    problem = Problem(task_id="echo", style="stdio", prompt="print 42",
                      tests=[StdioTest("", "42\n")])
    stdio = judge.judge(problem, HIDE_WORK + "print(42)\n")
    assert stdio.status == V.ACCEPTED and stdio.cpu_time_ms >= 300, stdio
    answer = wrong(HIDE_WORK + "return 'ocrl-7f3a9c' if x == 1 else 'ocrl-51e2d0'")
    split = judge.judge(SECRET, answer)
    assert split.status == V.ACCEPTED and split.cpu_time_ms >= 300, split


def test_killing_its_parent_is_never_accepted(judge):
    """The program's parent (the template) reports its time and memory: a correct answer from a
    program that killed it would be rewarded for hiding its cost."""
    answer = wrong("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"
                   "return 'ocrl-7f3a9c' if x == 1 else 'ocrl-51e2d0'")
    assert judge.judge(SECRET, answer).status == V.RUNTIME_ERROR
    assert judge.judge(SECRET, wrong("return 'ocrl-7f3a9c' if x == 1 else 'ocrl-51e2d0'")
                       ).status == V.ACCEPTED  # a new template took its place


LOCK_NAMES = ("import os\nfor name in ('main.py', 'stdin.txt', 'left'):\n"
              "    if os.path.isfile(name):\n        os.remove(name)\n"
              "    os.makedirs(name + '/deep/deeper', exist_ok=True)\n"
              "    os.chmod(name + '/deep', 0)\n    os.chmod(name, 0)\n")


def test_a_run_directory_left_unusable_does_not_stop_the_judge(judge):
    """The next run writes main.py (and stdin.txt) where this one ran: a program that leaves
    locked directories by those names must not break the sample after it."""
    assert judge.judge(SECRET, wrong(LOCK_NAMES + "return 'wrong'")).status in FAILED
    assert judge.judge(SECRET, wrong("return 'ocrl-7f3a9c' if x == 1 else 'ocrl-51e2d0'")
                       ).status == V.ACCEPTED
    echo = Problem(task_id="echo", style="stdio", prompt="print 42",
                   tests=[StdioTest("1\n", "42\n")])
    assert judge.judge(echo, LOCK_NAMES + "print(41)").status in FAILED
    assert judge.judge(echo, "print(42)").status == V.ACCEPTED

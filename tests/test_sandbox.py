"""The sandbox: every verdict, every limit, every hostile behaviour, and a host left unharmed."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import psutil
import pytest

from ocrl.problems import Problem, StdioTest
from ocrl.sandbox import Judge, Limits
from ocrl.sandbox import verdict as V
from ocrl.sandbox.worker import bwrap_path, detect_mode

HAVE_BWRAP = bwrap_path() is not None and detect_mode() == V.SANDBOX_BWRAP
MODES = [V.SANDBOX_BWRAP, V.SANDBOX_RLIMITS] if HAVE_BWRAP else [V.SANDBOX_RLIMITS]
needs_bwrap = pytest.mark.skipif(not HAVE_BWRAP, reason="bubblewrap not usable here")

ADD = Problem(task_id="add", prompt="def add(a, b):\n", style="assert", entry_point="add",
              test="def check(candidate):\n    assert candidate(1, 2) == 3\n"
                   "    assert candidate(2, 2) == 4\n")
SUM = Problem(task_id="sum", prompt="print the sum", style="stdio",
              tests=[StdioTest("1 2\n", "3\n"), StdioTest("5 5\n", "10\n")])
LIMITS = Limits(timeout_s=2.0, memory_mb=512, output_kb=256, max_processes=32)


@pytest.fixture(scope="module", params=MODES)
def judge(request):
    with Judge(workers=1, limits=LIMITS, mode=request.param) as pool:
        yield pool


@pytest.fixture(scope="module")
def strict():
    if not HAVE_BWRAP:
        pytest.skip("bubblewrap not usable here")
    with Judge(workers=1, limits=LIMITS, mode=V.SANDBOX_BWRAP) as pool:
        yield pool


def body(code: str) -> str:
    return "".join(f"    {line}\n" for line in code.strip("\n").splitlines())


# -- verdicts -------------------------------------------------------------------------------

def test_accepted_records_resources(judge):
    verdict = judge.judge(ADD, body("return a + b"))
    assert verdict.status == V.ACCEPTED and verdict.passed
    assert verdict.tests_passed == verdict.tests_total == 2
    assert 0 < verdict.cpu_time_ms < 2000
    assert verdict.memory_kb > 1000  # a Python process is megabytes, not zero
    assert verdict.sandbox == judge.mode


def test_wrong_answer(judge):
    verdict = judge.judge(ADD, body("return a - b"))
    assert verdict.status == V.WRONG_ANSWER and not verdict.passed
    assert "AssertionError" in verdict.stderr_tail


def test_runtime_error(judge):
    verdict = judge.judge(ADD, body("return a / 0"))
    assert verdict.status == V.RUNTIME_ERROR
    assert "ZeroDivisionError" in verdict.stderr_tail


def test_compile_error(judge):
    assert judge.judge(ADD, body("return a +")).status == V.COMPILE_ERROR


def test_time_limit_busy_loop(judge):
    start = time.monotonic()
    assert judge.judge(ADD, body("while True:\n    pass")).status == V.TIME_LIMIT
    assert time.monotonic() - start < LIMITS.timeout_s + 3


def test_time_limit_sleep(judge):
    assert judge.judge(ADD, body("import time\ntime.sleep(60)")).status == V.TIME_LIMIT


def test_cpu_time_limit_below_wall_clock(judge):
    limits = Limits(timeout_s=10.0, cpu_time_s=1.0)
    with Judge(workers=1, limits=limits, mode=judge.mode) as tight:
        start = time.monotonic()
        assert tight.judge(ADD, body("while True:\n    pass")).status == V.TIME_LIMIT
        assert time.monotonic() - start < 5  # stopped by the CPU limit, not the wall clock


def test_memory_limit(judge):
    verdict = judge.judge(ADD, body("x = bytearray(2 * 1024 ** 3)"))
    assert verdict.status == V.MEMORY_LIMIT


def test_memory_limit_gradual(judge):
    verdict = judge.judge(ADD, body("x = []\nwhile True:\n    x.append(bytearray(10 ** 6))"))
    assert verdict.status == V.MEMORY_LIMIT


def test_output_limit(judge):
    verdict = judge.judge(ADD, body("while True:\n    print('x' * 1000)"))
    assert verdict.status == V.OUTPUT_LIMIT


def test_stdio_accepted_wrong_and_presentation(judge):
    ok = judge.judge(SUM, "a, b = map(int, input().split())\nprint(a + b)\n")
    assert ok.status == V.ACCEPTED and (ok.tests_passed, ok.tests_total) == (2, 2)
    wrong = judge.judge(SUM, "print(3)\n")
    assert wrong.status == V.WRONG_ANSWER and (wrong.tests_passed, wrong.tests_total) == (1, 2)
    layout = judge.judge(SUM, "a, b = map(int, input().split())\nprint(a + b, end=' ')\n"
                              "print()\nprint()\n")
    assert layout.status == V.ACCEPTED  # trailing whitespace and blank lines are tolerated
    split = judge.judge(Problem(task_id="p", prompt="", style="stdio",
                                tests=[StdioTest("", "1 2\n")]), "print(1)\nprint(2)\n")
    assert split.status == V.PRESENTATION_ERROR


def test_stdio_float_tolerance(judge):
    problem = Problem(task_id="f", prompt="", style="stdio", tests=[StdioTest("", "0.3333333\n")])
    assert judge.judge(problem, "print(1/3)\n").status == V.ACCEPTED
    assert judge.judge(problem, "print(0.334)\n").status == V.WRONG_ANSWER


def test_stdio_runtime_error_and_exit_code(judge):
    assert judge.judge(SUM, "raise ValueError('no')\n").status == V.RUNTIME_ERROR
    assert judge.judge(SUM, "import sys\nsys.exit(3)\n").status == V.RUNTIME_ERROR


# -- early exits never pass -----------------------------------------------------------------

@pytest.mark.parametrize("code", [
    "import sys\nsys.exit(0)",
    "raise SystemExit",
    "import os\nos._exit(0)",
    "import atexit, os\natexit.register(lambda: print('all tests passed'))\nos._exit(0)",
    "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
])
def test_early_exit_is_never_accepted(judge, code):
    assert judge.judge(ADD, body(code)).status != V.ACCEPTED


def test_module_level_exit_before_check(judge):
    completion = body("return a + b") + "\nimport sys\nsys.exit(0)\n"
    assert judge.judge(ADD, completion).status != V.ACCEPTED


# -- hostile behaviour; the host stays unharmed ----------------------------------------------

def _sandbox_processes() -> set[int]:
    """Processes of the sandbox user (programs run as nobody in both modes when root)."""
    return {p.pid for p in psutil.process_iter(["username"])
            if p.info["username"] in ("nobody",)}


def test_fork_bomb_is_contained(judge):
    before = _sandbox_processes()
    code = "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
    start = time.monotonic()
    assert judge.judge(ADD, body(code)).status == V.TIME_LIMIT
    assert time.monotonic() - start < 20
    time.sleep(0.2)
    leftovers = _sandbox_processes() - before
    # Only the long-lived workers may remain (a zygote, or bwrap and its init).
    assert len(leftovers) <= 3
    assert judge.judge(ADD, body("return a + b")).status == V.ACCEPTED  # the pool still works


def test_detached_children_do_not_survive(judge, tmp_path):
    code = ("import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
            "        time.sleep(1000)\n    os._exit(0)\nreturn a + b")
    before = _sandbox_processes()
    assert judge.judge(ADD, body(code)).status == V.ACCEPTED
    time.sleep(0.2)
    sleepers = [p for p in psutil.process_iter(["cmdline", "username"])
                if p.info["username"] == "nobody" and p.pid not in before
                and p.info["cmdline"] and "zygote" not in " ".join(p.info["cmdline"])
                and "bwrap" not in p.info["cmdline"][0]]
    assert sleepers == []


def test_killing_the_parent_harms_nothing(judge):
    host = os.getpid()
    code = (f"import os, signal\nfor pid in (os.getppid(), {host}, 1):\n    try:\n"
            "        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\nreturn a + b")
    verdict = judge.judge(ADD, body(code))
    assert verdict.status != V.ACCEPTED
    assert psutil.pid_exists(host)
    assert judge.judge(ADD, body("return a + b")).status == V.ACCEPTED  # the worker was replaced


def test_parent_environment_is_not_visible(judge, monkeypatch):
    monkeypatch.setenv("OCRL_TEST_SECRET", "hunter2-secret")
    host = os.getpid()
    code = ("import os, sys\nsys.stderr.write(repr(dict(os.environ)))\n"
            f"for path in ('/proc/{host}/environ', '/proc/1/environ', '/proc/self/environ'):\n"
            "    try:\n        sys.stderr.write(open(path, 'rb').read().decode('latin-1'))\n"
            "    except OSError:\n        pass\nraise SystemExit(1)")
    with Judge(workers=1, limits=LIMITS, mode=judge.mode) as fresh:  # started with the secret set
        verdict = fresh.judge(ADD, body(code))
    assert "hunter2-secret" not in verdict.stderr_tail
    assert "OCRL_TEST_SECRET" not in verdict.stderr_tail


def test_writes_outside_the_run_directory_fail(judge, tmp_path):
    target = tmp_path / "escaped.txt"
    os.chmod(tmp_path, 0o777)  # writable even for the sandbox user: only isolation stops it
    code = f"open({str(target)!r}, 'w').write('x')\nreturn a + b"
    verdict = judge.judge(ADD, body(code))
    if judge.mode == V.SANDBOX_BWRAP:
        assert not target.exists()
        assert verdict.status == V.RUNTIME_ERROR
    else:
        pytest.skip("rlimits-only mode has no filesystem isolation (documented)")


def test_run_directory_is_fresh_each_time(judge):
    write = body("open('left.txt', 'w').write('x')\nreturn a + b")
    check = body("import os\nassert not os.path.exists('left.txt')\nreturn a + b")
    assert judge.judge(ADD, write).status == V.ACCEPTED
    assert judge.judge(ADD, check).status == V.ACCEPTED


@needs_bwrap
def test_no_network(strict):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    code = (f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
            "return a + b")
    verdict = strict.judge(ADD, body(code))
    server.close()
    assert verdict.status == V.RUNTIME_ERROR
    assert not accepted
    outside = strict.judge(ADD, body("import socket\nsocket.create_connection(('1.1.1.1', 53), "
                                     "timeout=1)\nreturn a + b"))
    assert outside.status == V.RUNTIME_ERROR


@needs_bwrap
def test_system_is_read_only_and_host_files_hidden(strict):
    code = ("import os\nfor path in ('/usr/evil', '/etc/evil', '/evil'):\n    try:\n"
            "        open(path, 'w')\n        raise SystemExit(7)\n    except OSError:\n"
            "        pass\nassert not os.path.exists('/root') and not os.path.exists('/home')\n"
            "return a + b")
    assert strict.judge(ADD, body(code)).status == V.ACCEPTED
    assert not os.path.exists("/usr/evil")


@needs_bwrap
def test_host_processes_are_invisible(strict):
    code = "import os\nassert len([p for p in os.listdir('/proc') if p.isdigit()]) < 10\nreturn a+b"
    assert strict.judge(ADD, body(code)).status == V.ACCEPTED


def test_judge_many_spreads_over_workers():
    pairs = [(ADD, body("return a + b")), (ADD, body("return a - b"))] * 10
    with Judge(workers=2, limits=LIMITS) as pool:
        results = dict(pool.judge_many(pairs))
    assert sorted(results) == list(range(20))
    assert [results[i].status for i in range(4)] == [V.ACCEPTED, V.WRONG_ANSWER] * 2


def test_missing_bwrap_falls_back_loudly(monkeypatch, capsys):
    from ocrl.sandbox import worker

    monkeypatch.setattr(worker, "bwrap_path", lambda: None)
    monkeypatch.setattr(worker, "_MODE", {})
    with pytest.warns(RuntimeWarning, match="resource limits only"):
        assert worker.detect_mode("auto") == V.SANDBOX_RLIMITS
    assert "WARNING" in capsys.readouterr().err
    with pytest.raises(RuntimeError):
        worker.detect_mode(V.SANDBOX_BWRAP)
    with Judge(workers=1, limits=LIMITS) as weak:
        assert weak.judge(ADD, body("return a + b")).sandbox == V.SANDBOX_RLIMITS


def test_programs_can_use_a_chosen_virtual_environment():
    import shutil
    import subprocess
    import sys as _sys
    import tempfile

    system = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else _sys.executable
    # Not pytest's tmp_path: its parents are private to root, and the sandbox user must read it.
    root = tempfile.mkdtemp(prefix="ocrl-venv-test-")
    try:
        os.chmod(root, 0o755)
        venv = os.path.join(root, "env")
        subprocess.run([system, "-m", "venv", "--without-pip", venv], check=True)
        site = next(Path(venv).glob("lib/python3*/site-packages"))
        (site / "ocrl_probe_pkg.py").write_text("VALUE = 41\n")
        probe = body("import ocrl_probe_pkg\nreturn a + b + ocrl_probe_pkg.VALUE - 41")
        with Judge(workers=1, limits=LIMITS, python=os.path.join(venv, "bin", "python")) as pool:
            verdict = pool.judge(ADD, probe)
            assert verdict.status == V.ACCEPTED, verdict.stderr_tail
        with Judge(workers=1, limits=LIMITS) as default:
            verdict = default.judge(ADD, probe)
        assert verdict.status == V.RUNTIME_ERROR and "ModuleNotFoundError" in verdict.stderr_tail
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_a_worker_that_dies_for_the_host_is_retried_not_blamed(monkeypatch):
    from ocrl.sandbox import worker as worker_module

    original = worker_module.Worker.run
    failures = []

    def flaky(self, request, watchdog_s):
        if not failures:
            failures.append(1)
            self.restart()
            raise worker_module.WorkerDied("simulated: the sandbox failed to start")
        return original(self, request, watchdog_s)

    monkeypatch.setattr(worker_module.Worker, "run", flaky)
    with Judge(workers=1, limits=LIMITS) as pool:
        assert pool.judge(ADD, body("return a + b")).status == V.ACCEPTED
    assert failures == [1]

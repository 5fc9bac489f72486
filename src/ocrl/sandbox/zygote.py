"""The sandbox's worker: runs *inside* the sandbox, stdlib only, never imported by ocrl itself.

It starts once per worker (paying the interpreter's start-up once), then for every request forks
a child that runs the untrusted program under resource limits in a fresh directory, waits for it
with a wall-clock timeout, kills every process the run left behind, and answers with what happened.

For assert-style tests it runs the split judge's two sides instead (harness.py): the test in a
forked child, the program in a process the template forks.

Protocol on stdin/stdout: a 4-byte big-endian length, then that many bytes of JSON, each way.

Over 400 lines on purpose: it is shipped into the sandbox as one file (beside harness.py) and
must hold every step of a run, from the fork to the last kill, in the order they happen.
"""

import ctypes
import importlib.util
import json
import marshal
import os
import select
import shutil
import signal
import struct
import sys
import time
import traceback

# The split judge's two sides (see harness.py): its compiled code is what the candidate server
# runs (read now, before main() may drop privileges; compiled once, not at every start), the
# module is what the test runner runs.
HARNESS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "harness.py")
with open(HARNESS_PATH, encoding="utf-8") as _handle:
    HARNESS_CODE = marshal.dumps(compile(_handle.read(), "harness.py", "exec"))
_spec = importlib.util.spec_from_file_location("ocrl_harness", HARNESS_PATH)
harness = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(harness)
# -S: no `site` (30 ms a start here); the template sets the import path from its argv instead.
TEMPLATE_BOOT = ("import marshal, os\nparts = []\nwhile True:\n"
                 f"    part = os.read({harness.CODE_FD}, 65536)\n    if not part:\n"
                 f"        break\n    parts.append(part)\nos.close({harness.CODE_FD})\n"
                 "exec(marshal.loads(b''.join(parts)))\n")
TEMPLATE = None  # (pid, control socket) of the candidate servers' parent (harness.template)
REAPED_CPU_S = 0.0  # CPU seconds of every process of every run reaped so far (_account)

PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4
STDERR_TAIL_BYTES = 2048
PROOF_BYTES = 4096
RESULT_BYTES = 16384  # the test runner's report: an outcome and a short detail
OWN_PID_NAMESPACE = False  # set by main(): true inside bubblewrap's PID namespace


def _prctl(option, value):
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _read_message(stream):
    header = stream.read(4)
    if len(header) < 4:
        return None
    (size,) = struct.unpack(">I", header)
    return json.loads(stream.read(size))


def _write_message(stream, message):
    data = json.dumps(message).encode()
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def _descendants(root_pid):
    """Every live process whose parent chain leads to root_pid (orphans reparent to us: subreaper)."""
    parents = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
            # The command name may hold spaces or parentheses: split after the last ')'.
            parents[int(name)] = int(stat[stat.rindex(b")") + 2:].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found = set()
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if pid not in found and (ppid == root_pid or ppid in found):
                found.add(pid)
                changed = True
    return found


def _kill(pid):
    try:
        os.killpg(pid, signal.SIGKILL)  # the program's process group: its children at once
    except OSError:
        pass
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def _kill_all_descendants(group=None):
    """Kill every process the run left: all descendants but the template (harness.template),
    starting with the process group ``group`` when given."""
    me = os.getpid()
    spare = TEMPLATE[0] if TEMPLATE is not None else None
    if group is not None:
        _kill(group)
    if OWN_PID_NAMESPACE and spare is None:
        # Alone in a PID namespace, kill(-1) reaches every process but us and its init at once,
        # which outruns a fork bomb far better than one kill per process.
        for _ in range(3):
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                break
            _reap_zombies()
    for _ in range(10000):
        victims = _descendants(me) - {spare}
        if not victims:
            return
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        _reap_zombies()


def _reap_zombies():
    while True:
        try:
            pid, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _account(pid, usage)


def _account(pid, usage):
    """Count the CPU time of a process of a run, reaped here (the template is not one)."""
    global REAPED_CPU_S
    if TEMPLATE is None or pid != TEMPLATE[0]:
        REAPED_CPU_S += usage.ru_utime + usage.ru_stime


def _fresh_dir(path):
    if os.path.lexists(path):
        # A program may have left directories it made unreadable or unwritable: they are its
        # user's, so their modes can be put back before removing them.
        def force(function, target, _):
            for each in (os.path.dirname(target), target):
                try:
                    os.chmod(each, 0o700, follow_symlinks=False)
                except (OSError, NotImplementedError):
                    pass
            function(target)

        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, onerror=force)
        else:
            os.unlink(path)
    os.makedirs(path)


def _tail(path, size):
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            length = handle.tell()
            handle.seek(max(0, length - size))
            return handle.read().decode("utf-8", "replace"), length
    except OSError:
        return "", 0


def _run_child(request, workdir, proof_fd, nonce):
    """In the forked child: apply limits, wire up files, run the program. Never returns."""
    try:
        os.setpgid(0, 0)
        os.chdir(workdir)
        harness.limit(request)
        harness.wire({3: proof_fd}, "stdin.txt" if request.get("stdin") is not None else None, ".")
        proof_fd = 3
        sys.argv = ["main.py"]
        try:
            code = compile(request["program"], "main.py", "exec")
        except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError) as exc:
            sys.stderr.write("".join(traceback.format_exception_only(type(exc), exc)))
            sys.stderr.flush()
            os.write(proof_fd, f"{nonce} SYNTAX\n".encode())
            os._exit(0)
        del request
    except BaseException:  # noqa: BLE001 - set-up failure is the judge's, not the program's
        os._exit(120)
    exit_code = 0
    try:
        exec(code, {"__name__": "__main__", "__builtins__": __builtins__,
                    "__ocrl_plain_calls__": harness.plain_calls})
    except SystemExit as exc:
        # An exit before the last check ran is never proof of success.
        if exc.code is None or isinstance(exc.code, int):
            exit_code = exc.code or 0
        else:
            sys.stderr.write(str(exc.code) + "\n")
            exit_code = 1
        _flush_and_exit(exit_code)
    except BaseException:  # noqa: BLE001 - the program's own failure
        try:
            traceback.print_exc()
        except BaseException:  # noqa: BLE001
            pass
        _flush_and_exit(1)
    _flush_and_exit(0, proof=(proof_fd, nonce))


def _flush_and_exit(code, proof=None):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            code = code or 1
    if proof is not None and code == 0:
        os.write(proof[0], f"{proof[1]} DONE\n".encode())
    # os._exit skips atexit handlers: nothing may run after the proof is written.
    os._exit(code)


def _prepare(request, workdir):
    _fresh_dir(workdir)
    if request.get("clean_tmp"):  # the sandbox's private /tmp, never the host's
        for leftover in os.listdir("/tmp"):
            path = os.path.join("/tmp", leftover)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                _unlink(path)


def _outputs(request, workdir):
    stdout, stdout_size = _tail(os.path.join(workdir, "stdout.txt"), request["stdout_return_bytes"])
    stderr, stderr_size = _tail(os.path.join(workdir, "stderr.txt"), STDERR_TAIL_BYTES)
    return {"stdout": stdout, "stdout_size": stdout_size, "stderr_tail": stderr,
            "stderr_size": stderr_size}


def _run(request, workdir):
    if request.get("split"):
        return _run_split(request, workdir)
    _prepare(request, workdir)
    if request.get("stdin") is not None:
        with open(os.path.join(workdir, "stdin.txt"), "w", encoding="utf-8") as handle:
            handle.write(request["stdin"])
    nonce = os.urandom(16).hex()
    read_fd, write_fd = os.pipe()
    before = REAPED_CPU_S
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _run_child(request, workdir, write_fd, nonce)
    os.close(write_fd)
    deadline = started + request["timeout_seconds"]
    proof = bytearray()
    pidfd = os.pidfd_open(pid)
    status, usage, timed_out = _wait(pid, pidfd, deadline, read_fd, proof, PROOF_BYTES)
    wall = time.monotonic() - started
    os.close(pidfd)
    # Descendants may hold the proof pipe open: kill them first, then drain without blocking.
    _kill_all_descendants()
    _drain(read_fd, proof, PROOF_BYTES)
    proof_words = proof.decode("ascii", "replace").split()
    return {
        **_ending(status, usage.ru_maxrss if usage else 0),
        # Every process of the run, reaped here: work handed to a child it never waited for counts.
        "cpu_ms": (REAPED_CPU_S - before) * 1000.0,
        "timed_out": timed_out,
        "wall_ms": wall * 1000.0,
        "proof": proof_words[1] if len(proof_words) >= 2 and proof_words[0] == nonce else None,
        **_outputs(request, workdir),
    }


def _drain(fd, sink, limit):
    """What is left in pipe ``fd`` (read without blocking) into ``sink``, up to ``limit`` bytes;
    closes ``fd``."""
    os.set_blocking(fd, False)
    try:
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            sink.extend(chunk[: limit - len(sink)])
    except OSError:
        pass
    os.close(fd)


def _ending(status, maxrss_kb):
    """How a program's process ended: its exit code (negative: a signal) and peak memory."""
    return {"exit_code": os.waitstatus_to_exitcode(status) if status is not None else None,
            "maxrss_kb": maxrss_kb}


def _template():
    """The running template, started (a fresh interpreter, never given a test) if need be."""
    global TEMPLATE
    if TEMPLATE is None:
        import socket

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        code_r = harness.pipe_holding(HARNESS_CODE)
        pid = os.fork()
        if pid == 0:
            try:
                harness.wire({harness.TEMPLATE_FD: theirs.fileno(), harness.CODE_FD: code_r})
                os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", TEMPLATE_BOOT,
                                          "--template", os.pathsep.join(sys.path)])
            finally:
                os._exit(120)
        theirs.close()
        os.close(code_r)
        TEMPLATE = (pid, ours)
    return TEMPLATE


def _drop_template():
    global TEMPLATE
    if TEMPLATE is not None:
        pid, control = TEMPLATE
        TEMPLATE = None
        control.close()
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (OSError, ChildProcessError):
            pass


def _ask_template(message, fds, deadline):
    """Send an order (with ``fds``) or, with ``message`` None, only wait: the template's next
    answer as text, or None (no answer by ``deadline``: it is dropped, a new one starts later)."""
    import socket

    if TEMPLATE is None:
        return None
    _, control = TEMPLATE
    try:
        if message is not None:
            socket.send_fds(control, [message], fds)
        ready, _, _ = select.select([control], [], [], max(0.0, deadline - time.monotonic()))
        answer = control.recv(256) if ready else b""
    except OSError:
        answer = b""
    if not answer:
        _drop_template()
        return None
    return answer.decode("ascii", "replace")


def _start_candidate(request, workdir, calls_fd, replies_fd, deadline):
    """A candidate server forked by the template for this run: its pid, or None."""
    order = marshal.dumps({"workdir": workdir, **{key: request[key] for key in (
        "memory_bytes", "cpu_seconds", "output_bytes", "max_processes")}})
    for _ in range(2):  # a template a program killed is replaced once
        _template()
        answer = _ask_template(order, [calls_fd, replies_fd], deadline)
        if answer is not None and answer.isdigit():
            return int(answer)
    return None


def _start_tests(request, calls_fd, replies_fd, result_fd):
    """In the forked child: run the problem's test against the candidate server. Never returns."""
    try:
        os.setpgid(0, 0)
        harness.limit(request)
        harness.wire({3: calls_fd, 4: replies_fd, 5: result_fd})
    except BaseException:  # noqa: BLE001
        os._exit(120)
    harness.run_tests(request, 3, 4, 5)


def _wait(pid, pidfd, deadline, read_fd=None, sink=None, limit=0):
    """wait4 ``pid`` until ``deadline`` (SIGKILL then); bytes from ``read_fd`` go to ``sink``.
    Returns (status, usage, timed_out)."""
    watch = [pidfd] + ([read_fd] if read_fd is not None else [])
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            os.kill(pid, signal.SIGKILL)
            _, status, usage = os.wait4(pid, 0)
            _account(pid, usage)
            return status, usage, True
        ready, _, _ = select.select(watch, [], [], remaining)
        if read_fd is not None and read_fd in ready:
            chunk = os.read(read_fd, 65536)
            if chunk:
                sink.extend(chunk[: limit - len(sink)])
            else:
                watch.remove(read_fd)
        if pidfd in ready:
            _, status, usage = os.wait4(pid, 0)
            _account(pid, usage)
            return status, usage, False


def _run_split(request, workdir):
    """Program and test in two processes that share nothing but two pipes (harness.py)."""
    _prepare(request, workdir)
    with open(os.path.join(workdir, "main.py"), "w", encoding="utf-8") as handle:
        handle.write(request["program"])
    calls_r, calls_w = os.pipe()
    replies_r, replies_w = os.pipe()
    result_r, result_w = os.pipe()
    started = time.monotonic()
    deadline = started + request["timeout_seconds"]
    before = REAPED_CPU_S
    candidate = _start_candidate(request, workdir, calls_r, replies_w, deadline)
    if candidate is None:
        for fd in (calls_r, calls_w, replies_r, replies_w, result_r, result_w):
            os.close(fd)
        raise RuntimeError("the template could not start the program's process")
    tests = os.fork()
    if tests == 0:
        _start_tests(request, calls_w, replies_r, result_w)
    for fd in (calls_r, calls_w, replies_r, replies_w, result_w):
        os.close(fd)
    tests_fd = os.pidfd_open(tests)
    result = bytearray()
    _, tests_usage, timed_out = _wait(tests, tests_fd, deadline, result_r, result, RESULT_BYTES)
    os.close(tests_fd)
    _drain(result_r, result, RESULT_BYTES)
    try:
        harness_result = json.loads(result[4:]) if len(result) > 4 else None
    except ValueError:
        harness_result = None
    # A program that ended on its own (what the test runner saw as "candidate_ended") is waited
    # for, to learn how it ended; one still serving is no longer needed.
    ended = (harness_result or {}).get("outcome") == "candidate_ended"
    late = False
    if not ended:
        _kill(candidate)
    report = _ask_template(None, [], deadline if ended else time.monotonic() + 5)
    if report is None and ended:
        late = True
        _kill(candidate)
        report = _ask_template(None, [], time.monotonic() + 5)
    status, cpu_s, maxrss = report.split() if report and len(report.split()) == 3 \
        else (None, 0.0, 0)
    _kill_all_descendants(candidate)
    # The program's own time (the template's report) and its orphans', reaped here; not the test's.
    orphans_s = REAPED_CPU_S - before - (tests_usage.ru_utime + tests_usage.ru_stime)
    return {
        **_ending(int(status) if status else None, int(maxrss)),
        "cpu_ms": (float(cpu_s) + max(0.0, orphans_s)) * 1000.0,
        # No report: the program killed the process that accounts for it.
        "unaccounted": status is None and not (timed_out or late),
        "timed_out": timed_out or late,
        "wall_ms": (time.monotonic() - started) * 1000.0,
        "proof": None,
        "harness": harness_result,
        **_outputs(request, workdir),
    }


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def main():
    global OWN_PID_NAMESPACE
    workdir, isolation = sys.argv[1], sys.argv[2]
    OWN_PID_NAMESPACE = isolation == "pidns"
    drop_to = int(sys.argv[3]) if len(sys.argv) > 3 else -1
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    if drop_to >= 0 and os.getuid() == 0:
        # rlimits-only mode as root: run as nobody so programs cannot signal or read the host.
        os.makedirs(workdir, exist_ok=True)
        os.chown(workdir, drop_to, drop_to)
        os.setgroups([])
        os.setgid(drop_to)
        os.setuid(drop_to)
    _prctl(PR_SET_DUMPABLE, 0)  # children of the same uid may not ptrace or read our memory
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    # Programs must never write into our protocol stream.
    sys.stdout = sys.stderr
    while True:
        request = _read_message(stdin)
        if request is None:
            return
        try:
            reply = _run(request, workdir)
        except Exception as exc:  # noqa: BLE001 - report, keep serving
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        _write_message(stdout, reply)


if __name__ == "__main__":
    main()

"""Assert-style tests judged across a process boundary: stdlib only, runs inside the sandbox.

A judged program is the judge's adversary: whatever runs in its process can reach anything
that process holds (frames, `gc`, file descriptors, patched builtins). So the program and the
test never share a process:

- the *candidate server* runs the program, then answers each call with the return value as
  plain data (builtins only), in JSON. It is forked from the *template*, a fresh interpreter
  (exec'd, running this file's compiled code) that no test ever reaches, so the server holds
  nothing of any test either;
- the *test runner* is forked by the zygote and never executes a line of the program: it runs
  the problem's prompt and test with proxies in place of the program's functions, decodes each
  answer into fresh builtins, evaluates the test's own comparisons on them, and alone reports
  the outcome, through a pipe the program has no handle on.

The template imports as little as it can (no `site`, no `json`, whose `re` alone costs 8 ms
here), so that the servers forked from it start as light as a fresh interpreter would.

A test that passes the program anything but plain data (a function, an object of its own)
cannot be split this way: the runner says `unsplittable` and the judge falls back to running
test and program in one process, marking the verdict so (see the README's threat model).

Over 400 lines on purpose: this file's compiled code is the template's whole program (sent
through a pipe, stdlib only), so the plain-data codec, both sides and their framing live here.
"""

import builtins
import marshal
import os
import sys

CALLS_FD, REPLIES_FD = 3, 4  # the candidate server's end of the two pipes
TEMPLATE_FD, CODE_FD = 3, 4  # the template's control socket; this file's code, at its start
MAX_MESSAGE_BYTES = 16 * 1024 * 1024
MAX_DEPTH = 200
DETAIL_CHARS = 1500

_COMPARISON = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__cmp__")
# bool before int: isinstance(True, int).
_PLAIN = (bool, int, float, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset)
_TAGGED = {"tuple": tuple, "set": set, "frozenset": frozenset}


class NotPlain(TypeError):
    """A value that is not plain data: it cannot cross the process boundary."""


def _trusted_subclasses():
    """Subclasses of builtins that stand for their base's value although they define comparison:
    the standard library's own, whose comparisons agree with the base's on equal contents."""
    import collections

    return collections.Counter, collections.OrderedDict, collections.defaultdict


def _plain_base(value):
    kind = type(value)
    if kind in _PLAIN:
        return kind
    for base in _PLAIN:
        if isinstance(value, base):
            trusted = _trusted_subclasses()
            for klass in kind.__mro__:
                if klass is base:
                    return base
                if klass not in trusted and any(name in vars(klass) for name in _COMPARISON):
                    raise NotPlain(f"a {kind.__name__} redefines comparison or hashing")
    raise NotPlain(f"a value of type {kind.__module__}.{kind.__qualname__} is not plain data")


def to_plain(value, depth=0):
    """A JSON-able copy of ``value`` built from its builtin base's own methods (never the
    value's overridable ones); NotPlain for anything else."""
    if depth > MAX_DEPTH:
        raise NotPlain("nested too deeply")
    if value is None:
        return None
    base = _plain_base(value)
    if base is bool:
        return value
    if base is int:
        number = int.__int__(value)
        # Past ~4,300 digits int <-> decimal text is refused (CVE-2020-10735); hex is not.
        return number if number.bit_length() < 10000 else {"int": format(number, "x")}
    if base is float:
        return float.__float__(value)
    if base is str:
        return str.__str__(value)
    if base is complex:
        return {"complex": [complex.__complex__(value).real, complex.__complex__(value).imag]}
    if base in (bytes, bytearray):
        return {base.__name__: base.hex(value)}
    if base is dict:
        return {"dict": [[to_plain(k, depth + 1), to_plain(v, depth + 1)]
                         for k, v in dict.items(value)]}
    items = [to_plain(item, depth + 1) for item in base.__iter__(value)]
    return items if base is list else {base.__name__: items}


def from_plain(data, depth=0):
    """Fresh builtins from what `to_plain` wrote (or anything a program forged in its place):
    only exact JSON types and the known tags are accepted."""
    if depth > MAX_DEPTH:
        raise NotPlain("nested too deeply")
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is list:
        return [from_plain(item, depth + 1) for item in data]
    if kind is dict and len(data) == 1:
        (tag, inner), = data.items()
        try:
            if tag in _TAGGED and type(inner) is list:
                return _TAGGED[tag](from_plain(item, depth + 1) for item in inner)
            if tag == "dict" and type(inner) is list:
                pairs = [(from_plain(p[0], depth + 1), from_plain(p[1], depth + 1))
                         for p in inner if type(p) is list and len(p) == 2]
                if len(pairs) == len(inner):
                    return dict(pairs)
            if tag == "int" and type(inner) is str:
                return int(inner, 16)
            if tag in ("bytes", "bytearray") and type(inner) is str:
                return (bytes if tag == "bytes" else bytearray).fromhex(inner)
            if tag == "complex" and type(inner) is list and len(inner) == 2 \
                    and all(type(part) in (int, float) for part in inner):
                return complex(inner[0], inner[1])
        except (TypeError, ValueError) as exc:  # unhashable keys or members, bad hex
            raise NotPlain(str(exc)) from None
    raise NotPlain(f"not plain data: {str(data)[:80]}")


def plain_calls(function):
    """The in-process fallback's candidate: ``function`` with each result copied into fresh
    builtins, so that a naive always-equal object fails. A program written against the judge
    can undo this (it shares the process): hence the verdict's judged_by="in_process"."""
    def call(*args, **kwargs):
        return from_plain(to_plain(function(*args, **kwargs)))

    return call


# -- processes -----------------------------------------------------------------------------

def limit(request):
    """The run's resource limits, applied to the calling (forked) process."""
    import resource
    import signal

    memory = request["memory_bytes"]
    cpu = request["cpu_seconds"]
    output = request["output_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_FSIZE, (output, output))
    resource.setrlimit(resource.RLIMIT_NPROC, (request["max_processes"],) * 2)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Python ignores these at start-up; the judge wants the kernel's verdicts.
    for sig in (signal.SIGXFSZ, signal.SIGPIPE, signal.SIGXCPU):
        signal.signal(sig, signal.SIG_DFL)


def wire(keep, stdin_path=None, output_dir=None):
    """fds 0-2 to the run's files (or /dev/null) and sys.stdin/stdout/stderr on them, each
    ``keep`` target (contiguous from 3) to its source, every other descriptor closed."""
    stdin = os.open(stdin_path or os.devnull, os.O_RDONLY)
    if output_dir is None:
        stdout = os.open(os.devnull, os.O_WRONLY)
        stderr = os.open(os.devnull, os.O_WRONLY)
    else:
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        stdout = os.open(os.path.join(output_dir, "stdout.txt"), flags, 0o600)
        stderr = os.open(os.path.join(output_dir, "stderr.txt"), flags, 0o600)
    # Copies above every target first, so that no move overwrites a source still to be moved.
    import fcntl

    high = {target: fcntl.fcntl(source, fcntl.F_DUPFD, 256)
            for target, source in {0: stdin, 1: stdout, 2: stderr, **keep}.items()}
    for target, source in high.items():
        os.dup2(source, target)
    os.closerange(max(high) + 1, 65536)
    sys.stdin = open(0, "r", closefd=False)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)


def pipe_holding(data):
    """The read end of a pipe that already holds ``data``, its write end closed (the pipe is
    widened first when ``data`` would not fit the default 64 KiB)."""
    import fcntl

    read_fd, write_fd = os.pipe()
    try:
        if len(data) >= 65536:
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, len(data) + 4096)
        os.write(write_fd, data)
    finally:
        os.close(write_fd)
    return read_fd


# -- framing: a 4-byte big-endian length, then JSON --------------------------------------------

def json_text(data):
    """JSON for what `to_plain` returns, without the json module (see the module's docstring)."""
    import _json  # the C half of json: no `re`

    parts = []

    def put(item):
        kind = type(item)
        if item is None:
            parts.append("null")
        elif kind is bool:
            parts.append("true" if item else "false")
        elif kind is int:
            parts.append(int.__repr__(item))
        elif kind is float:
            parts.append(_FLOAT_WORDS.get(float.__repr__(item), None) or float.__repr__(item))
        elif kind is str:
            parts.append(_json.encode_basestring_ascii(item))
        elif kind is list:
            parts.append("[")
            for position, member in enumerate(item):
                if position:
                    parts.append(",")
                put(member)
            parts.append("]")
        elif kind is dict:
            parts.append("{")
            for position, (key, member) in enumerate(item.items()):
                if position:
                    parts.append(",")
                parts.append(_json.encode_basestring_ascii(key) + ":")
                put(member)
            parts.append("}")
        else:
            raise NotPlain(f"cannot write a {kind.__name__} as JSON")

    put(data)
    return "".join(parts)


_FLOAT_WORDS = {"inf": "Infinity", "-inf": "-Infinity", "nan": "NaN"}  # as json.dumps writes them


def send(fd, data: bytes):
    view = memoryview(len(data).to_bytes(4, "big") + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd, size):
    chunks, left = [], size
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(fd):
    """The next message's bytes, or None at end of file. NotPlain for a message too large."""
    header = _read_exact(fd, 4)
    if header is None:
        return None
    size = int.from_bytes(header, "big")
    if size > MAX_MESSAGE_BYTES:
        raise NotPlain(f"an answer of {size} bytes (the limit is {MAX_MESSAGE_BYTES})")
    return _read_exact(fd, size)


def receive_json(fd):
    """`receive`, parsed as JSON (only the judge's side reads JSON: it may come from a program)."""
    import json

    data = receive(fd)
    if data is None:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise NotPlain(f"an answer that is not JSON: {exc}") from None


# -- the candidate server: the program's side ----------------------------------------------

def _describe(exc):
    try:
        return str(exc)[:DETAIL_CHARS]
    except BaseException:  # noqa: BLE001 - a program's exception may fail even to print
        return "(unprintable)"


def template(path):
    """The candidate servers' parent: a fresh interpreter, started once per worker, that never
    receives a test (the zygote sends it none). For each order (limits and a run directory, the
    two pipe ends passed as SCM_RIGHTS) it forks a server, answers with its pid, waits for it
    and answers how it ended ("status cpu_seconds maxrss_kb"). A fork from here costs about a
    millisecond where a fresh interpreter costs twelve, and holds nothing of any test."""
    import _sitebuiltins
    import ctypes
    import socket

    sys.path[:] = [entry for entry in path.split(os.pathsep) if entry]
    sys.argv = ["main.py"]
    # What `site` would have added and programs use: exit() and quit().
    builtins.exit = _sitebuiltins.Quitter("exit", "Ctrl-D (i.e. EOF)")
    builtins.quit = _sitebuiltins.Quitter("quit", "Ctrl-D (i.e. EOF)")
    try:  # PR_SET_DUMPABLE 0: processes of the same user may not read this one's memory
        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    control = socket.socket(fileno=TEMPLATE_FD)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(control, 1 << 16, 2)
        except OSError:
            os._exit(0)
        if not message or len(fds) != 2:
            os._exit(0)
        order = marshal.loads(message)  # from the zygote: trusted
        pid = os.fork()
        if pid == 0:
            control.detach()  # fd 3 becomes the calls pipe: the socket object must not close it
            _become_server(order, fds)
        for fd in fds:
            os.close(fd)
        control.send(str(pid).encode())
        _, status, usage = os.wait4(pid, 0)
        control.send(f"{status} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss}".encode())


def _become_server(order, fds):
    try:
        os.setpgid(0, 0)
        os.chdir(order["workdir"])
        limit(order)
        wire({CALLS_FD: fds[0], REPLIES_FD: fds[1]}, None, ".")
    except BaseException:  # noqa: BLE001 - set-up failure is the judge's, not the program's
        os._exit(120)
    serve()


def serve():
    """Run ./main.py, then answer calls on fd 3 with replies on fd 4 until fd 3 closes."""
    try:
        with open("main.py", encoding="utf-8") as handle:
            code = compile(handle.read(), "main.py", "exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError, OverflowError) as exc:
        import traceback

        sys.stderr.write("".join(traceback.format_exception_only(type(exc), exc)))
        sys.stderr.flush()
        _reply({"compile_error": _describe(exc)})
        os._exit(0)
    namespace = {"__name__": "__main__", "__builtins__": builtins}
    try:
        exec(code, namespace)
    except SystemExit as exc:
        _exit(_exit_code(exc))
    except BaseException:  # noqa: BLE001 - the program's own failure
        _print_traceback()
        _exit(1)
    _reply({"ready": True})
    while True:
        try:
            data = receive(CALLS_FD)
        except NotPlain:
            data = None
        if data is None:
            _exit(0)
        call = marshal.loads(data)  # written by the test runner: trusted
        try:
            function = namespace[call["name"]]
        except KeyError:
            _reply({"raised": "NameError", "message": f"name {call['name']!r} is not defined"})
            continue
        try:
            value = function(*from_plain(call["args"]), **from_plain(call["kwargs"]))
            reply = {"value": to_plain(value)}
        except NotPlain as exc:
            reply = {"not_plain": _describe(exc)}
        except SystemExit as exc:  # the program ends here, as it would in one process
            _exit(_exit_code(exc))
        except BaseException as exc:  # noqa: BLE001 - reported to the test, as raised
            _print_traceback()
            reply = {"raised": type(exc).__name__, "message": _describe(exc)}
        _reply(reply)


def _reply(message):
    try:
        text = json_text(message)
    except (NotPlain, ValueError, RecursionError) as exc:
        text = json_text({"not_plain": _describe(exc)})
    send(REPLIES_FD, text.encode())


def _print_traceback():
    try:
        import traceback

        traceback.print_exc()
    except BaseException:  # noqa: BLE001
        pass


def _exit_code(exc):
    return exc.code if exc.code is None or isinstance(exc.code, int) else 1


def _exit(code):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass
    os._exit(code or 0)


# -- the test runner: the judge's side ------------------------------------------------------

class _Stop(BaseException):
    """Ends the test at once: a BaseException, so no `except Exception` in a test swallows it."""

    def __init__(self, outcome, detail):
        super().__init__(detail)
        self.outcome, self.detail = outcome, detail


class CandidateError(Exception):
    """An exception the program raised that is not one of Python's builtin exceptions."""


class _Candidate:
    def __init__(self, calls_fd, replies_fd):
        self.calls_fd, self.replies_fd = calls_fd, replies_fd
        self.count = 0

    def hello(self):
        message = self._receive()
        if message == {"ready": True}:
            return
        if isinstance(message, dict) and "compile_error" in message:
            raise _Stop("compile_error", str(message["compile_error"])[:DETAIL_CHARS])
        raise _Stop("not_plain", "the program's first message was not the expected one")

    def _receive(self):
        try:
            message = receive_json(self.replies_fd)
        except NotPlain as exc:
            raise _Stop("not_plain", str(exc)) from None
        if message is None:
            raise _Stop("candidate_ended", "the program ended before answering")
        return message

    def call(self, name, args, kwargs):
        try:
            encoded = marshal.dumps({"name": name, "args": to_plain(list(args)),
                                     "kwargs": to_plain(kwargs)})
        except NotPlain as exc:
            raise _Stop("unsplittable", f"the test passes {name} a value that is not plain "
                                        f"data ({exc})") from None
        self.count += 1
        try:
            send(self.calls_fd, encoded)
        except OSError:
            raise _Stop("candidate_ended", "the program ended before answering") from None
        reply = self._receive()
        if type(reply) is not dict or len(reply) not in (1, 2):
            raise _Stop("not_plain", "an answer of the wrong shape")
        if "value" in reply:
            try:
                return from_plain(reply["value"])
            except NotPlain as exc:
                raise _Stop("not_plain", f"{name} returned {exc}") from None
        if "not_plain" in reply:
            raise _Stop("not_plain", f"{name} returned {str(reply['not_plain'])[:DETAIL_CHARS]}")
        if "raised" in reply:
            raise _rebuilt_exception(str(reply["raised"]), str(reply.get("message", "")))
        raise _Stop("not_plain", "an answer of the wrong shape")


def _rebuilt_exception(name, message):
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            exc = kind(message)
        except Exception:  # noqa: BLE001 - UnicodeDecodeError and kin take other arguments
            exc = CandidateError(f"{name}: {message}")
    elif isinstance(kind, type) and issubclass(kind, BaseException):
        # SystemExit, KeyboardInterrupt: never re-raised here, where they would end the runner.
        return _Stop("candidate_raised", f"{name}: {message}")
    else:
        exc = CandidateError(f"{name}: {message}")
    exc.ocrl_from_candidate = True
    return exc


def _proxy(candidate, name):
    def call(*args, **kwargs):
        return candidate.call(name, args, kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def _format(exc, request):
    """The exception with the test's own frames only (the runner's are noise to a reader)."""
    import linecache
    import traceback

    for name in ("prompt", "test"):
        source = request[name]
        linecache.cache[f"{name}.py"] = (len(source), None, source.splitlines(True), f"{name}.py")
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__)
              if frame.filename in ("prompt.py", "test.py")]
    text = "".join(traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc))
    return text[-DETAIL_CHARS:]


def _is_stdlib_module(name):
    names = getattr(sys, "stdlib_module_names", None)  # Python 3.10+
    if names is not None:
        return name in names
    import importlib.util

    return importlib.util.find_spec(name) is not None


def run_tests(request, calls_fd, replies_fd, result_fd):
    """In the forked test runner: never returns. Writes {outcome, detail, calls} to result_fd."""
    outcome, detail = "error", ""
    candidate = _Candidate(calls_fd, replies_fd)
    try:
        namespace = {"__name__": "__ocrl_test__"}
        try:
            exec(compile(request["prompt"], "prompt.py", "exec"), namespace)
            for name in request["proxied"]:
                if name != request["entry_point"] and _is_stdlib_module(name):
                    # A module the program imported and the test uses (MBPP's `math`).
                    namespace[name] = __import__(name)
                else:
                    namespace[name] = _proxy(candidate, name)
            exec(compile(request["test"], "test.py", "exec"), namespace)
            check = namespace["check"]
        except _Stop:
            raise
        except BaseException as exc:  # noqa: BLE001 - the problem's own code, not the program's
            raise _Stop("unsplittable", "the prompt and test do not run on their own: "
                        + _format(exc, request)) from None
        candidate.hello()
        check(namespace[request["entry_point"]])
        outcome = "passed"
    except _Stop as stop:
        outcome, detail = stop.outcome, stop.detail
    except AssertionError as exc:
        outcome = "candidate_raised" if getattr(exc, "ocrl_from_candidate", False) else "failed"
        detail = _format(exc, request)
    except BaseException as exc:  # noqa: BLE001
        outcome = "candidate_raised" if getattr(exc, "ocrl_from_candidate", False) else "error"
        detail = _format(exc, request)
    try:
        import json

        send(result_fd, json.dumps({"outcome": outcome, "detail": detail[-DETAIL_CHARS:],
                                    "calls": candidate.count}).encode())
    finally:
        os._exit(0)


if __name__ == "__main__" and sys.argv[1:2] == ["--template"]:
    template(sys.argv[2])

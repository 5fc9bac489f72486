"""One sandbox worker: a zygote process inside bubblewrap (or under rlimits only), driven over pipes."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path

from ocrl.sandbox.harness import pipe_holding
from ocrl.sandbox.verdict import SANDBOX_BWRAP, SANDBOX_RLIMITS

ZYGOTE = Path(__file__).with_name("zygote.py")
# Files the zygote needs beside it inside the sandbox (sent through pipes, as the zygote is).
SANDBOX_FILES = (ZYGOTE, Path(__file__).with_name("harness.py"))
NOBODY = 65534
SANDBOX_DIR = "/sandbox"
# Each run's directory and /tmp live on size-capped tmpfs so that no program can fill the host's disk.
TMPFS_BYTES = 256 * 1024 * 1024


class WorkerDied(RuntimeError):
    """The zygote stopped answering (a program killed it, or it broke): restart and move on."""


def _world_accessible(path: str) -> bool:
    """Whether an unprivileged user (the sandbox's) can reach and read ``path``."""
    path = os.path.realpath(path)
    parts = Path(path).parents
    try:
        if any(not os.stat(parent).st_mode & 0o001 for parent in parts):
            return False
        return bool(os.stat(path).st_mode & 0o004)
    except OSError:
        return False


def interpreter() -> str:
    """The Python that runs programs: ours (its base, not a venv shim) when the unprivileged
    sandbox user can read it, else the system's python3."""
    ours = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    if os.getuid() != 0 or _world_accessible(ours) and _world_accessible(sys.base_prefix):
        return ours
    system = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if system and _world_accessible(system):
        return os.path.realpath(system)
    return ours


def bwrap_path() -> str | None:
    return shutil.which("bwrap")


def _bwrap_usable(path: str) -> bool:
    try:
        probe = subprocess.run([path, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/",
                                "--proc", "/proc", "--dev", "/dev", "true"],
                               capture_output=True, timeout=20,
                               **({"user": NOBODY, "group": NOBODY, "extra_groups": []}
                                  if os.getuid() == 0 else {}))
        return probe.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


_MODE_LOCK = threading.Lock()
_MODE: dict[str, str] = {}


def detect_mode(requested: str = "auto") -> str:
    """'bwrap' when bubblewrap works here, else 'rlimits' with a loud warning."""
    if requested == SANDBOX_RLIMITS:
        return SANDBOX_RLIMITS
    with _MODE_LOCK:
        if "mode" not in _MODE:
            path = bwrap_path()
            _MODE["mode"] = SANDBOX_BWRAP if path and _bwrap_usable(path) else SANDBOX_RLIMITS
            if _MODE["mode"] == SANDBOX_RLIMITS:
                message = ("bubblewrap (bwrap) is missing or unusable: untrusted code runs with "
                           "resource limits only, WITHOUT network, PID or filesystem isolation. "
                           "Install the 'bubblewrap' package for the full sandbox.")
                warnings.warn(message, RuntimeWarning, stacklevel=2)
                print(f"\n*** WARNING: {message} ***\n", file=sys.stderr)
    if requested == SANDBOX_BWRAP and _MODE["mode"] != SANDBOX_BWRAP:
        raise RuntimeError("sandbox mode 'bwrap' requested but bubblewrap is not usable here")
    return _MODE["mode"]


def _python_roots(python: str) -> list[str]:
    """Directories the sandbox must see for ``python`` to run: its installation and, for a
    virtual environment (whose packages programs may import), the environment itself."""
    roots = [str(Path(os.path.realpath(python)).parent.parent)]
    venv = Path(os.path.abspath(python)).parent.parent
    if (venv / "pyvenv.cfg").exists():
        roots.append(str(venv))
    return [root for root in roots if root != "/usr" and not root.startswith("/usr/")]


def _bwrap_command(python: str, file_fds: dict[str, int]) -> list[str]:
    command = [bwrap_path(), "--unshare-all", "--die-with-parent", "--new-session",
               "--uid", str(NOBODY), "--gid", str(NOBODY)]
    for top in ("usr", "bin", "lib", "lib64", "sbin"):
        path = Path("/") / top
        if path.is_symlink():
            command += ["--symlink", os.readlink(path), str(path)]
        elif path.exists():
            command += ["--ro-bind", str(path), str(path)]
    command += ["--proc", "/proc", "--dev", "/dev",
                "--size", str(TMPFS_BYTES), "--tmpfs", "/tmp",
                "--size", str(TMPFS_BYTES), "--tmpfs", SANDBOX_DIR]
    # After the tmpfs mounts, so that an interpreter living under /tmp is not hidden by them.
    for root in _python_roots(python):
        command += ["--ro-bind", root, root]
    for name, fd in file_fds.items():
        command += ["--perms", "0444", "--file", str(fd), f"/ocrl/{name}"]
    command += ["--remount-ro", "/",
                "--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
                "--setenv", "HOME", SANDBOX_DIR, "--setenv", "LANG", "C.UTF-8",
                "--setenv", "PYTHONHASHSEED", "0", "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
                "--chdir", SANDBOX_DIR,
                python, "-I", "/ocrl/zygote.py", f"{SANDBOX_DIR}/run", "pidns"]
    return command


class Worker:
    """Owns one zygote; `run(request)` sends a request and returns its reply dict."""

    def __init__(self, mode: str, python: str | None = None):
        self.mode = mode
        self.python = python or interpreter()
        self.process: subprocess.Popen | None = None
        self._scratch: str | None = None
        # Bubblewrap's and the zygote's own complaints, for the message when a worker dies.
        self._log = tempfile.TemporaryFile()

    def start(self) -> None:
        python = self.python
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
               "PYTHONDONTWRITEBYTECODE": "1"}
        as_root = os.getuid() == 0
        if self.mode == SANDBOX_BWRAP:
            # The sources travel through pipes, so no path of ours needs to be readable by the
            # sandbox user.
            file_fds = {path.name: pipe_holding(path.read_bytes()) for path in SANDBOX_FILES}
            # Started as root, bubblewrap's user namespace maps to root outside, and the kernel
            # exempts root from RLIMIT_NPROC: start it as nobody so a fork bomb stops at the cap.
            try:
                self.process = subprocess.Popen(
                    _bwrap_command(python, file_fds), stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=self._log, env=env, cwd="/",
                    start_new_session=True, pass_fds=tuple(file_fds.values()),
                    **({"user": NOBODY, "group": NOBODY, "extra_groups": []} if as_root else {}))
            finally:
                for fd in file_fds.values():
                    os.close(fd)
            return
        self._scratch = tempfile.mkdtemp(prefix="ocrl-sandbox-")
        os.chmod(self._scratch, 0o755)
        if as_root:
            os.chown(self._scratch, NOBODY, NOBODY)
        run_dir = os.path.join(self._scratch, "run")
        env.update(HOME=run_dir, TMPDIR=run_dir)
        drop = [str(NOBODY)] if as_root else []
        # The zygote gets a clean environment: no secret of ours reaches a program.
        self.process = subprocess.Popen([python, "-I", str(ZYGOTE), run_dir, "shared", *drop],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self._log, env=env, cwd=self._scratch,
                                        start_new_session=True)

    def run(self, request: dict, watchdog_s: float) -> dict:
        if self.process is None or self.process.poll() is not None:
            self.restart()
        data = json.dumps(request).encode()
        try:
            self.process.stdin.write(struct.pack(">I", len(data)) + data)
            self.process.stdin.flush()
            reply = self._read_reply(watchdog_s)
        except (OSError, ValueError) as exc:
            detail = self._log_tail()
            self.restart()
            raise WorkerDied(f"{exc}{detail}") from None
        if reply is None:
            detail = self._log_tail()
            self.restart()
            raise WorkerDied(f"the sandbox worker died during the run{detail}")
        return reply

    def _log_tail(self) -> str:
        try:
            self._log.seek(0)
            text = self._log.read()[-500:].decode("utf-8", "replace").strip()
            self._log.seek(0)
            self._log.truncate()
        except OSError:
            return ""
        return f" ({text})" if text else ""

    def _read_reply(self, watchdog_s: float) -> dict | None:
        result: list = []

        def read() -> None:
            header = self.process.stdout.read(4)
            if len(header) == 4:
                (size,) = struct.unpack(">I", header)
                result.append(json.loads(self.process.stdout.read(size)))

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(watchdog_s)
        if reader.is_alive():
            # The zygote itself hung: kill its whole sandbox; the reader ends at EOF.
            self._kill()
            reader.join(5)
            return None
        return result[0] if result else None

    def _kill(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, 9)
        except OSError:
            pass
        try:
            self.process.kill()
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            pass

    def restart(self) -> None:
        self.close()
        self.start()

    def close(self) -> None:
        if self.process is not None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._kill()
            self._kill()
            self.process = None
        if self._scratch:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

"""The judge: a pool of sandbox workers that turns (problem, completion) into a Verdict."""

from __future__ import annotations

import os
import queue
import signal
import threading
from collections.abc import Iterable, Iterator

from ocrl.problems import Problem
from ocrl.sandbox import verdict as V
from ocrl.sandbox.compare import MATCH, PRESENTATION, compare_output
from ocrl.sandbox.limits import Limits
from ocrl.sandbox.programs import count_check_asserts, in_process_program, split_plan
from ocrl.sandbox.worker import Worker, WorkerDied, detect_mode

STDERR_TAIL_LINES = 12
STDERR_TAIL_CHARS = 1500
WORKER_ATTEMPTS = 3
# Bumped whenever a change could turn a verdict: 2 = tests judged across a process boundary.
JUDGE_VERSION = 2


def _stderr_tail(text: str) -> str:
    lines = text.rstrip().splitlines()[-STDERR_TAIL_LINES:]
    return "\n".join(lines)[-STDERR_TAIL_CHARS:]


def _last_line(text: str) -> str:
    lines = text.rstrip().splitlines()
    return lines[-1] if lines else ""


def classify(reply: dict, request: dict, style: str) -> str:
    """The verdict of one run, before any output comparison (stdio runs that exit cleanly
    come back as ACCEPTED here and are compared by the caller)."""
    if reply.get("proof") == "SYNTAX":
        return V.COMPILE_ERROR
    if reply["timed_out"]:
        return V.TIME_LIMIT
    code = reply["exit_code"]
    stderr = reply["stderr_tail"]
    if code is not None and code < 0:
        sig = -code
        if sig == signal.SIGXCPU:
            return V.TIME_LIMIT
        if sig == signal.SIGXFSZ:
            return V.OUTPUT_LIMIT
        if sig == signal.SIGKILL and reply["maxrss_kb"] * 1024 >= 0.9 * request["memory_bytes"]:
            return V.MEMORY_LIMIT
        return V.RUNTIME_ERROR
    if max(reply["stdout_size"], reply["stderr_size"]) >= request["output_bytes"]:
        return V.OUTPUT_LIMIT
    if code != 0:
        last = _last_line(stderr)
        if last.startswith("MemoryError") or "MemoryError" in last:
            return V.MEMORY_LIMIT
        if style == "assert" and last.startswith("AssertionError"):
            return V.WRONG_ANSWER
        return V.RUNTIME_ERROR
    if style == "assert":
        # Positive proof is required: the harness writes it only after check() returned.
        return V.ACCEPTED if reply.get("proof") == "DONE" else V.WRONG_ANSWER
    return V.ACCEPTED


# The test runner's outcomes (harness.run_tests) that are verdicts in themselves.
_SPLIT_OUTCOMES = {"passed": V.ACCEPTED, "compile_error": V.COMPILE_ERROR,
                   "failed": V.WRONG_ANSWER, "not_plain": V.WRONG_ANSWER,
                   "candidate_raised": V.RUNTIME_ERROR, "error": V.RUNTIME_ERROR}


def classify_split(reply: dict, request: dict) -> tuple[str, str]:
    """(verdict, detail) of a split run. Only the test runner's own report can say Accepted;
    when the program ended before answering, how it ended decides."""
    outcome = reply.get("harness") or {}
    detail = str(outcome.get("detail", ""))
    if reply["timed_out"]:
        return V.TIME_LIMIT, detail
    if reply.get("unaccounted"):
        # Its time and memory unknown, a verdict would reward whatever hid them.
        return V.RUNTIME_ERROR, "the program's process was not accounted for (its parent was killed)"
    status = _SPLIT_OUTCOMES.get(outcome.get("outcome"))
    if status == V.RUNTIME_ERROR:  # named as one process would name it
        last = _last_line(detail)
        if last.startswith("AssertionError"):
            status = V.WRONG_ANSWER
        elif last.startswith("MemoryError"):
            status = V.MEMORY_LIMIT
    if status is not None:
        return status, detail
    if not outcome:
        return V.RUNTIME_ERROR, "the test runner ended without a report"
    # "candidate_ended": the program exited, was killed, or closed its end before answering.
    ended = classify({**reply, "proof": None}, request, "assert")
    return (V.WRONG_ANSWER if ended == V.ACCEPTED else ended), detail


class Judge:
    """A pool of sandboxed workers. Use as a context manager; safe to call from one thread."""

    def __init__(self, workers: int | None = None, limits: Limits | None = None,
                 mode: str = "auto", rel_tol: float = 1e-6, use_problem_limits: bool = True,
                 python: str | None = None):
        """``python``: the interpreter programs run with (default: one the sandbox user can read,
        usually the system's, standard library only); a virtual environment's interpreter
        gives programs that environment's packages (numpy, say)."""
        self.limits = limits or Limits()
        self.python = python
        self.mode = detect_mode(mode)
        self.rel_tol = rel_tol
        self.use_problem_limits = use_problem_limits
        self.n_workers = max(1, workers or os.cpu_count() or 1)
        self._workers: list[Worker] = []
        self._pool_lock = threading.Lock()
        self._free: queue.Queue[Worker] = queue.Queue()
        self._plans: dict[tuple, dict | None] = {}

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._pool_lock:
            for worker in self._workers:
                worker.close()
            self._workers.clear()
            self._free = queue.Queue()

    def _acquire(self) -> Worker:
        with self._pool_lock:
            if self._free.empty() and len(self._workers) < self.n_workers:
                worker = Worker(self.mode, self.python)
                worker.start()
                self._workers.append(worker)
                return worker
        return self._free.get()

    # -- judging ---------------------------------------------------------------------------
    def judge(self, problem: Problem, completion: str) -> V.Verdict:
        worker = self._acquire()
        try:
            return self._judge_on(worker, problem, completion)
        finally:
            self._free.put(worker)

    def judge_many(self, pairs: Iterable[tuple[Problem, str]]) -> Iterator[tuple[int, V.Verdict]]:
        """Judge all pairs across the pool; yields (index, verdict) as each finishes."""
        tasks: queue.Queue = queue.Queue(maxsize=self.n_workers * 4)
        results: queue.Queue = queue.Queue()
        done = object()

        def feed() -> None:
            try:
                for index, (problem, completion) in enumerate(pairs):
                    tasks.put((index, problem, completion))
            except BaseException as exc:  # noqa: BLE001 - surfaced in the caller's thread
                results.put(("error", exc))
            finally:
                for _ in range(self.n_workers):
                    tasks.put(done)

        def work() -> None:
            while True:
                task = tasks.get()
                if task is done:
                    results.put(done)
                    return
                index, problem, completion = task
                try:
                    results.put((index, self.judge(problem, completion)))
                except BaseException as exc:  # noqa: BLE001
                    results.put(("error", exc))

        threads = [threading.Thread(target=feed, daemon=True)]
        threads += [threading.Thread(target=work, daemon=True) for _ in range(self.n_workers)]
        for thread in threads:
            thread.start()
        finished = 0
        while finished < self.n_workers:
            item = results.get()
            if item is done:
                finished += 1
            elif item[0] == "error":
                raise item[1]
            else:
                yield item

    def _request(self, problem: Problem) -> dict:
        limits = self.limits
        if self.use_problem_limits and (problem.time_limit_ms or problem.memory_limit_kb):
            limits = Limits(**{**limits.__dict__})
            if problem.time_limit_ms:
                limits.timeout_s = max(limits.timeout_s, problem.time_limit_ms / 1000)
                limits.cpu_time_s = None
            if problem.memory_limit_kb:
                limits.memory_mb = max(limits.memory_mb, problem.memory_limit_kb // 1024)
        return {**limits.request_fields(), "clean_tmp": self.mode == V.SANDBOX_BWRAP}

    def _run(self, worker: Worker, request: dict) -> dict:
        # A worker can die for reasons of the host (a sandbox that failed to start under load)
        # as well as of the program (one that kills its parent): run again on a fresh worker,
        # and only a program that kills it every time gets the Runtime Error.
        broken = None
        for attempt in range(WORKER_ATTEMPTS):
            try:
                reply = worker.run(request, watchdog_s=request["timeout_seconds"] + 30)
            except WorkerDied as exc:
                failure = exc
                continue
            if "error" not in reply:
                return reply
            # The worker could not run it: a fresh one (fresh run directory, fresh template)
            # may; one that never can means the sandbox is broken, and no verdict is trusted.
            broken = failure = reply["error"]
            worker.restart()
        if broken is not None:
            raise RuntimeError(f"the sandbox failed to run a program: {broken}")
        return {"timed_out": False, "exit_code": -signal.SIGKILL, "cpu_ms": 0.0,
                "maxrss_kb": 0, "proof": None, "stdout": "", "stdout_size": 0,
                "stderr_tail": f"the sandbox worker died ({WORKER_ATTEMPTS} attempts): {failure}",
                "stderr_size": 0}

    def _judge_on(self, worker: Worker, problem: Problem, completion: str) -> V.Verdict:
        request = self._request(problem)
        if problem.style != "assert":
            return self._judge_stdio(worker, problem, completion, request)
        total = count_check_asserts(problem.test)
        plan = self._plan(problem)
        if plan is not None:
            reply = self._run(worker, {**request, **plan, "split": True,
                                       "program": f"{problem.prompt}{completion}",
                                       "stdin": None, "stdout_return_bytes": 0})
            if (reply.get("harness") or {}).get("outcome") != "unsplittable":
                status, detail = classify_split(reply, request)
                return self._assert_verdict(reply, status, total, detail, V.JUDGED_SPLIT)
        program = in_process_program(problem.prompt, completion, problem.test,
                                     problem.entry_point)
        reply = self._run(worker, {**request, "program": program, "stdin": None,
                                   "stdout_return_bytes": 0})
        return self._assert_verdict(reply, classify(reply, request, "assert"), total, "",
                                    V.JUDGED_IN_PROCESS)

    def _plan(self, problem: Problem) -> dict | None:
        key = (problem.prompt, problem.test, problem.entry_point)
        if key not in self._plans:
            self._plans[key] = split_plan(*key)
        return self._plans[key]

    def _assert_verdict(self, reply: dict, status: str, total: int | None, detail: str,
                        judged_by: str) -> V.Verdict:
        stderr = "\n".join(part for part in (reply["stderr_tail"].rstrip(), detail) if part)
        return V.Verdict(status=status, cpu_time_ms=round(reply["cpu_ms"], 3),
                         memory_kb=int(reply["maxrss_kb"]),
                         tests_passed=(total if status == V.ACCEPTED and total else None),
                         tests_total=total, stderr_tail=_stderr_tail(stderr),
                         sandbox=self.mode, judged_by=judged_by)

    def _judge_stdio(self, worker: Worker, problem: Problem, completion: str,
                     request: dict) -> V.Verdict:
        if not problem.tests:
            raise ValueError(f"problem {problem.task_id!r} has no stdio tests to judge with")
        passed, cpu_ms, memory_kb = 0, 0.0, 0
        first_failure, stderr = None, ""
        for test in problem.tests:
            returned = min(request["output_bytes"], 2 * len(test.output.encode()) + 4096)
            reply = self._run(worker, {**request, "program": completion, "stdin": test.input,
                                       "stdout_return_bytes": returned})
            cpu_ms += reply["cpu_ms"]
            memory_kb = max(memory_kb, int(reply["maxrss_kb"]))
            status = classify(reply, request, "stdio")
            if status == V.ACCEPTED and reply["stdout_size"] > returned:
                # Far longer than the answer: never judged on a tail the cut happened to leave.
                status = V.WRONG_ANSWER
            elif status == V.ACCEPTED:
                outcome = compare_output(reply["stdout"], test.output, self.rel_tol)
                status = {MATCH: V.ACCEPTED, PRESENTATION: V.PRESENTATION_ERROR}.get(
                    outcome, V.WRONG_ANSWER)
            if status == V.ACCEPTED:
                passed += 1
                continue
            if first_failure is None:
                first_failure, stderr = status, reply["stderr_tail"]
            if status in (V.COMPILE_ERROR, V.TIME_LIMIT, V.MEMORY_LIMIT, V.OUTPUT_LIMIT):
                break  # the remaining tests would fail the same way, slowly
        return V.Verdict(status=first_failure or V.ACCEPTED, cpu_time_ms=round(cpu_ms, 3),
                         memory_kb=memory_kb, tests_passed=passed, tests_total=len(problem.tests),
                         stderr_tail=_stderr_tail(stderr), sandbox=self.mode,
                         judged_by=V.JUDGED_STDOUT)

"""A pool of persistent worker processes that survives crashing and hanging jobs.

``concurrent.futures.ProcessPoolExecutor`` marks the whole pool broken when one worker
dies, which loses every other job of the batch.  Here each worker is a spawned process
with its own pipe: a job that overruns its timeout gets its worker killed and replaced,
a worker that dies (segfault, abort) is replaced, and in both cases only that job fails.
Workers are fresh interpreters (never forked: forking a process that already runs
TVM's thread pool can deadlock), started with ``subprocess`` rather than
``multiprocessing``'s spawn so that a user's script without an
``if __name__ == "__main__"`` guard is not re-executed in every worker.
"""
from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .._checks import check_callable, check_positive_int

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobOutcome:
    """What happened to one job: ``status`` is "ok", "error", "timeout" or "crash"."""

    status: str
    value: Any = None
    message: str = ""
    seconds: float = 0.0


def _worker_main(fd: int) -> None:
    conn = Connection(fd)
    initializer = conn.recv()
    if initializer is not None:
        initializer()
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        func, args = job
        try:
            reply = ("ok", func(*args), "")
        except BaseException as err:  # report everything; the worker keeps serving
            reply = ("error", None,
                     f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=4)}")
        conn.send(reply)


class _Worker:
    def __init__(self, initializer, extra_env):
        parent, child = socket.socketpair()
        env = dict(os.environ)
        env.update(extra_env)
        # The worker must import what the parent can (the job functions are pickled by name).
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        code = "import sys; from adatune.measure.worker_pool import _worker_main; " \
               "_worker_main(int(sys.argv[1]))"
        self.proc = subprocess.Popen([sys.executable, "-c", code, str(child.fileno())],
                                     pass_fds=(child.fileno(),), env=env)
        child.close()
        self.conn = Connection(parent.detach())
        self.conn.send(initializer)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.conn.close()


class WorkerPool:
    """``n_workers`` persistent processes running picklable module-level functions.

    Parameters
    ----------
    n_workers : int
        How many jobs run at once.
    initializer : callable, optional
        Run once in each new worker (e.g. to import TVM before the first job arrives).
    env : dict, optional
        Environment variables set in the workers on top of this process's.
    """

    def __init__(self, n_workers: int, initializer: Optional[Callable[[], None]] = None,
                 env: Optional[Dict[str, str]] = None):
        self.n_workers = check_positive_int(n_workers, "n_workers", "WorkerPool")
        self._initializer = check_callable(initializer, "initializer", "WorkerPool",
                                           allow_none=True)
        self._env = dict(env or {})
        self._workers: List[Optional[_Worker]] = [None] * n_workers

    def _get(self, slot: int) -> _Worker:
        worker = self._workers[slot]
        if worker is None or not worker.alive():
            if worker is not None:
                worker.kill()
            worker = self._workers[slot] = _Worker(self._initializer, self._env)
        return worker

    def _replace(self, slot: int) -> None:
        worker = self._workers[slot]
        if worker is not None:
            worker.kill()
        self._workers[slot] = None

    def map(self, func: Callable, jobs: Sequence[Tuple], timeout: float,
            first_timeout: Optional[float] = None) -> List[JobOutcome]:
        """Run ``func(*job)`` for every job; never raises for a job's failure.

        ``first_timeout`` (default ``timeout``) applies to a job that lands on a freshly
        started worker, which must first import its libraries.
        """
        outcomes: List[Optional[JobOutcome]] = [None] * len(jobs)
        pending = list(range(len(jobs)))[::-1]
        running = {}  # slot -> (job index, start time, deadline)
        while pending or running:
            for slot in range(self.n_workers):
                if slot in running or not pending:
                    continue
                fresh = self._workers[slot] is None or not self._workers[slot].alive()
                worker = self._get(slot)
                idx = pending.pop()
                worker.conn.send((func, jobs[idx]))
                limit = (first_timeout or timeout) if fresh else timeout
                now = time.monotonic()
                running[slot] = (idx, now, now + limit)
            # A dying worker closes its socket, so its connection turns readable too.
            conns = {self._workers[s].conn: s for s in running}
            next_deadline = min(d for _, _, d in running.values())
            ready = wait(list(conns), timeout=max(0.0, next_deadline - time.monotonic()))
            now = time.monotonic()
            done_slots = set()
            for obj in ready:
                slot = conns[obj]
                idx, start, _ = running[slot]
                try:
                    status, value, message = self._workers[slot].conn.recv()
                    outcomes[idx] = JobOutcome(status, value, message, now - start)
                except (EOFError, OSError):
                    outcomes[idx] = self._crash(slot, now - start)
                done_slots.add(slot)
            for slot, (idx, start, deadline) in list(running.items()):
                if slot in done_slots:
                    del running[slot]
                elif now >= deadline:
                    self._replace(slot)
                    outcomes[idx] = JobOutcome("timeout", None,
                                               f"timed out after {now - start:.1f} s",
                                               now - start)
                    del running[slot]
        return outcomes  # type: ignore[return-value]

    def _crash(self, slot: int, seconds: float) -> JobOutcome:
        worker = self._workers[slot]
        try:
            code = worker.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            code = None
        self._replace(slot)
        return JobOutcome("crash", None, f"worker process died (exit code {code})", seconds)

    def close(self) -> None:
        for slot, worker in enumerate(self._workers):
            if worker is None:
                continue
            try:
                worker.conn.send(None)
                worker.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                pass
            worker.kill()
            self._workers[slot] = None

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

"""A pool of persistent worker processes that survives crashing and hanging jobs.

``concurrent.futures.ProcessPoolExecutor`` marks the whole pool broken when one worker
dies, which loses every other job of the batch.  Here each worker is a spawned process
with its own pipe: a job that overruns its timeout gets its worker killed and replaced,
a worker that dies (segfault, abort) is replaced, and in both cases only that job fails.
Workers are spawned (never forked) because forking a process that already runs TVM's
thread pool can deadlock.
"""
from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Any, Callable, List, Optional, Sequence, Tuple

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobOutcome:
    """What happened to one job: ``status`` is "ok", "error", "timeout" or "crash"."""

    status: str
    value: Any = None
    message: str = ""
    seconds: float = 0.0


def _worker_main(conn, initializer: Optional[Callable[[], None]]) -> None:
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
            conn.send(("ok", func(*args), ""))
        except BaseException as err:  # report everything; the worker keeps serving
            conn.send(("error", None, f"{type(err).__name__}: {err}\n{traceback.format_exc(limit=4)}"))


class _Worker:
    def __init__(self, ctx, initializer):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, initializer), daemon=True)
        self.proc.start()
        child.close()

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=5)
        self.conn.close()


class WorkerPool:
    """``n_workers`` persistent processes running picklable module-level functions.

    Parameters
    ----------
    n_workers : int
        How many jobs run at once.
    initializer : callable, optional
        Run once in each new worker (e.g. to import TVM before the first job arrives).
    """

    def __init__(self, n_workers: int, initializer: Optional[Callable[[], None]] = None):
        if n_workers < 1:
            raise ValueError(f"n_workers must be >= 1, got {n_workers}")
        self.n_workers = n_workers
        self._ctx = mp.get_context("spawn")
        self._initializer = initializer
        self._workers: List[Optional[_Worker]] = [None] * n_workers

    def _get(self, slot: int) -> _Worker:
        worker = self._workers[slot]
        if worker is None or not worker.proc.is_alive():
            if worker is not None:
                worker.kill()
            worker = self._workers[slot] = _Worker(self._ctx, self._initializer)
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
                fresh = self._workers[slot] is None or not self._workers[slot].proc.is_alive()
                worker = self._get(slot)
                idx = pending.pop()
                worker.conn.send((func, jobs[idx]))
                limit = (first_timeout or timeout) if fresh else timeout
                now = time.monotonic()
                running[slot] = (idx, now, now + limit)
            conns = {self._workers[s].conn: s for s in running}
            sentinels = {self._workers[s].proc.sentinel: s for s in running}
            next_deadline = min(d for _, _, d in running.values())
            ready = wait(list(conns) + list(sentinels),
                         timeout=max(0.0, next_deadline - time.monotonic()))
            now = time.monotonic()
            done_slots = set()
            for obj in ready:
                slot = conns.get(obj, sentinels.get(obj))
                if slot in done_slots:
                    continue
                idx, start, _ = running[slot]
                worker = self._workers[slot]
                if worker.conn.poll():
                    try:
                        status, value, message = worker.conn.recv()
                        outcomes[idx] = JobOutcome(status, value, message, now - start)
                    except (EOFError, OSError):
                        outcomes[idx] = self._crash(slot, now - start)
                else:
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
        worker.proc.join(timeout=1)
        code = worker.proc.exitcode
        self._replace(slot)
        return JobOutcome("crash", None, f"worker process died (exit code {code})", seconds)

    def close(self) -> None:
        for slot, worker in enumerate(self._workers):
            if worker is None:
                continue
            try:
                worker.conn.send(None)
            except OSError:
                pass
            worker.proc.join(timeout=2)
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

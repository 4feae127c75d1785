"""Compile candidates in a persistent pool of worker processes.

Workers import TVM and the templates once, then compile job after job: nothing here
imports ``tvm.s_tir.tensor_intrin`` (25-40 s), which is what makes MetaSchedule's
default builder time out on these machines.  A candidate that raises, crashes its
worker or overruns ``timeout`` becomes a failed build; the rest of the batch is kept.
"""
from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .._checks import check_number, check_positive_int
from .measure import MeasureErrorNo, MeasureInput
from .worker_pool import WorkerPool

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildResult:
    """A compiled candidate: the shared library's path, or why there is none."""

    filename: Optional[str]
    error_no: int
    error_msg: str
    time_cost: float
    #: ``(shape, dtype)`` of each argument of what was built, when it differs from the
    #: task's signature (a kernel built with pre-packed parameters); None otherwise.
    arg_specs: Optional[Tuple[Tuple[Tuple[int, ...], str], ...]] = None

    @property
    def ok(self) -> bool:
        return self.error_no == MeasureErrorNo.NO_ERROR


def _worker_init() -> None:
    import tvm  # noqa: F401  (the expensive import, paid once per worker)

    import adatune.templates  # noqa: F401  (registers the built-in templates)


_TASKS: Dict[Any, Any] = {}


def _build_candidate(task: Any, index: int, out_dir: str, prepacked: bool = False) -> Dict[str, Any]:
    import tvm

    # Re-use the worker's copy of the task: its space is the expensive part.
    key = (getattr(task, "workload_key", None) or id(task), str(task.target))
    task = _TASKS.setdefault(key, task)
    start = time.perf_counter()
    try:
        config = task.config_space.get(index)
        func = task.instantiate(config)
    except Exception as err:
        return {"error_no": int(MeasureErrorNo.INSTANTIATION_ERROR),
                "msg": f"{type(err).__name__}: {err}", "seconds": time.perf_counter() - start}
    specs = None
    if prepacked:
        from ..templates._schedule import split_prepacked

        try:
            func, split = split_prepacked(func)
        except Exception as err:
            return {"error_no": int(MeasureErrorNo.INSTANTIATION_ERROR),
                    "msg": f"splitting the packing stages: {type(err).__name__}: {err}",
                    "seconds": time.perf_counter() - start}
        if split:
            specs = tuple((tuple(int(d) for d in p.shape), str(p.dtype)) for p in func.params)
    try:
        lib = tvm.compile(func, target=task.target)
        fd, path = tempfile.mkstemp(suffix=".so", prefix=f"cand{index}_", dir=out_dir)
        os.close(fd)
        lib.export_library(path)
    except Exception as err:
        return {"error_no": int(MeasureErrorNo.COMPILE_HOST),
                "msg": f"{type(err).__name__}: {err}", "seconds": time.perf_counter() - start}
    return {"error_no": 0, "path": path, "msg": "", "seconds": time.perf_counter() - start,
            "arg_specs": specs}


class LocalBuilder:
    """Build candidates in parallel, in persistent worker processes.

    Parameters
    ----------
    n_parallel : int, optional
        Worker processes (default: the number of CPUs).
    timeout : float
        Seconds one candidate may take to build.
    build_dir : str, optional
        Where shared libraries go (default: a temporary folder removed on ``close``).
    prepacked : bool, default False
        Build each candidate as a model deploys it when its parameters are constant
        weights: the packing stages of parameters split off (they run once, at compile
        time), so the timed kernel takes them packed and its time is the compute's.
        ``adatune.tune_model`` uses this; a standalone kernel (``adatune tune``) packs
        on every call, as its users call it.
    """

    def __init__(self, n_parallel: Optional[int] = None, timeout: float = 10.0,
                 build_dir: Optional[str] = None, prepacked: bool = False):
        n_parallel = check_positive_int(n_parallel, "n_parallel", "LocalBuilder", allow_none=True)
        self.timeout = check_number(timeout, "timeout", "LocalBuilder", low=0.0, low_open=True)
        self.n_parallel = n_parallel or os.cpu_count() or 1
        self.prepacked = bool(prepacked)
        self._own_dir = build_dir is None
        self.build_dir = build_dir or tempfile.mkdtemp(prefix="adatune_build_")
        os.makedirs(self.build_dir, exist_ok=True)
        self._pool: Optional[WorkerPool] = None

    def build(self, inputs: Sequence[MeasureInput]) -> List[BuildResult]:
        if self._pool is None:
            self._pool = WorkerPool(self.n_parallel, initializer=_worker_init)
        jobs = [(inp.task, inp.config.index, self.build_dir, self.prepacked) for inp in inputs]
        # A fresh worker first imports TVM and the templates (a few seconds).
        outcomes = self._pool.map(_build_candidate, jobs, timeout=self.timeout,
                                  first_timeout=self.timeout + 60.0)
        results = []
        for outcome in outcomes:
            if outcome.status == "ok":
                v = outcome.value
                results.append(BuildResult(v.get("path"), v["error_no"], v["msg"], v["seconds"],
                                           v.get("arg_specs")))
            elif outcome.status == "timeout":
                results.append(BuildResult(None, int(MeasureErrorNo.BUILD_TIMEOUT),
                                           outcome.message, outcome.seconds))
            else:  # the worker raised outside the guarded steps, or died
                results.append(BuildResult(None, int(MeasureErrorNo.COMPILE_HOST),
                                           outcome.message, outcome.seconds))
        return results

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._own_dir:
            shutil.rmtree(self.build_dir, ignore_errors=True)

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

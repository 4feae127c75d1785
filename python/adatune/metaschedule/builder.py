"""``FastBuilder``: MetaSchedule builds in persistent workers that skip the intrinsics import.

MetaSchedule's ``LocalBuilder`` starts a fresh pool of processes on every ``build`` call
and its ``default_build`` imports ``tvm.s_tir.tensor_intrin`` in each (25-40 s here), so
with its 30 s timeout whole batches fail.  ``FastBuilder`` keeps an
:class:`adatune.measure.worker_pool.WorkerPool` alive across batches: each worker imports
TVM once, imports the tensor intrinsics only when the target's design space uses them
(:func:`needs_tensor_intrin`), and a candidate that crashes or hangs its worker becomes a
failed build while the rest of the batch goes on.
"""
from __future__ import annotations

import logging
import os
import tempfile
from typing import Any, List, Optional

from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.builder import BuilderInput, BuilderResult, PyBuilder

from ..measure.worker_pool import WorkerPool
from ._intrin import import_tensor_intrin, needs_tensor_intrin
from .._checks import check_number, check_positive_int

logger = logging.getLogger(__name__)

__all__ = ["FastBuilder"]


def _init_worker() -> None:
    import tvm  # noqa: F401  (paid once per worker, before the first job)


def _init_worker_with_intrin() -> None:
    _init_worker()
    import_tensor_intrin()


def _build_one(mod_json: str, target_json: str, artifact_dir: str) -> str:
    """Build one candidate in a worker; returns the path of the exported tar."""
    import tvm
    from tvm.s_tir.transform import RemoveWeightLayoutRewriteBlock
    from tvm.support.tar import tar

    mod = tvm.ir.load_json(mod_json)
    target = tvm.ir.load_json(target_json)
    # As MetaSchedule's default_build: measure with the weights in their original layout.
    mod = RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    rt_mod = tvm.compile(mod, target=target)
    path = os.path.join(tempfile.mkdtemp(dir=artifact_dir), "tvm_tmp_mod." + tar.output_format)
    rt_mod.export_library(path, fcompile=tar)
    return path


@derived_object
class FastBuilder(PyBuilder):
    """A MetaSchedule builder backed by a persistent, crash-proof worker pool.

    Parameters
    ----------
    max_workers : int, optional
        Parallel builds; default: the number of CPUs (at least 1).
    timeout_sec : float, default 30
        Per-candidate build limit; a build that overruns it gets its worker killed.
    first_timeout_sec : float, optional
        Limit for a candidate that lands on a freshly started worker, which first imports
        TVM (and, for targets that need them, the tensor intrinsics).  Default:
        ``timeout_sec + 60``, or ``timeout_sec + 300`` when intrinsics are imported.
    artifact_dir : str, optional
        Where built libraries go (a fresh temporary directory by default).

    Notes
    -----
    Targets are told apart by their first build: a pool serves one "needs tensor
    intrinsics" setting; building for a target of the other setting restarts it.
    """

    def __init__(self, max_workers: Optional[int] = None, timeout_sec: float = 30.0,
                 first_timeout_sec: Optional[float] = None,
                 artifact_dir: Optional[str] = None) -> None:
        super().__init__()
        if max_workers is None:
            max_workers = max(1, os.cpu_count() or 1)
        owner = "FastBuilder"
        self.max_workers = check_positive_int(max_workers, "max_workers", owner)
        self.timeout_sec = check_number(timeout_sec, "timeout_sec", owner, low=0.0, low_open=True)
        first_timeout_sec = check_number(first_timeout_sec, "first_timeout_sec", owner, low=0.0, low_open=True,
                                         allow_none=True)
        self.first_timeout_sec = first_timeout_sec
        self.artifact_dir = artifact_dir or tempfile.mkdtemp(prefix="adatune_ms_build_")
        self._pool: Optional[WorkerPool] = None
        self._pool_intrin: Optional[bool] = None
        self._target_cache: dict = {}

    def _needs_intrin(self, target: Any) -> bool:
        key = str(target)
        if key not in self._target_cache:
            self._target_cache[key] = needs_tensor_intrin(target)
        return self._target_cache[key]

    def _get_pool(self, intrin: bool) -> WorkerPool:
        if self._pool is not None and self._pool_intrin != intrin:
            self._pool.close()
            self._pool = None
        if self._pool is None:
            init = _init_worker_with_intrin if intrin else _init_worker
            self._pool = WorkerPool(self.max_workers, initializer=init)
            self._pool_intrin = intrin
        return self._pool

    def build(self, build_inputs: List[BuilderInput]) -> List[BuilderResult]:
        import tvm

        results: List[Optional[BuilderResult]] = [None] * len(build_inputs)
        groups: dict = {}
        for i, inp in enumerate(build_inputs):
            if inp.params is not None and len(inp.params):
                results[i] = BuilderResult(None, "FastBuilder: params are not supported")
                continue
            groups.setdefault(self._needs_intrin(inp.target), []).append(i)
        for intrin, idx in groups.items():
            pool = self._get_pool(intrin)
            first = self.first_timeout_sec or self.timeout_sec + (300.0 if intrin else 60.0)
            jobs = [(tvm.ir.save_json(build_inputs[i].mod), tvm.ir.save_json(build_inputs[i].target),
                     self.artifact_dir) for i in idx]
            for i, out in zip(idx, pool.map(_build_one, jobs, self.timeout_sec, first)):
                if out.status == "ok":
                    results[i] = BuilderResult(out.value, None)
                else:
                    results[i] = BuilderResult(None, f"FastBuilder: build {out.status}: {out.message}")
        return results  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the worker processes (they also stop when the builder is collected)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

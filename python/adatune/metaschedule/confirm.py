"""Incumbent confirmation for MetaSchedule: re-measure a would-be new best before it counts.

A cheap measurement taken often crowns lucky schedules (the winner's curse), and the
database then tells ``compile_relax``/``MetaScheduleApplyDatabase`` to deploy them.
Here a candidate whose run time beats the best in the database for its workload is
timed again with a longer, tighter measurement (:func:`confirming_runner`) and the
*confirmation* is what goes into the database.  MetaSchedule's JSON database has no
room for a second measurement, so the first one is kept beside it, one JSON line per
confirmation in ``confirmations.jsonl`` (workload hash, schedule hash, first and
confirmed run seconds).

Two users: :class:`ConfirmedAddToDatabase`, a measure callback that replaces
MetaSchedule's ``AddToDatabase`` in :func:`adatune.metaschedule.tune_tir` and
``tune_relax``, and :class:`adatune.model.ms_task.MetaScheduleKernelTuner`, which drives
its rounds by hand.  Both call :func:`confirm_results`.
"""
from __future__ import annotations

import json
import math
import os
import time
from typing import Any, List, Optional, Sequence, Tuple

from .runner import AdaptiveEvaluator

__all__ = ["ConfirmedAddToDatabase", "commit_confirmed", "confirm_results", "confirming_runner",
           "device_type_name", "mean_secs"]

CONFIRMATIONS = "confirmations.jsonl"


def mean_secs(run_secs: Any) -> float:
    """Mean of a ``RunnerResult.run_secs`` / ``TuningRecord.run_secs``; inf when unusable."""
    secs = [float(s) for s in run_secs or []]
    if not secs or not all(math.isfinite(s) and s > 0 for s in secs):
        return math.inf
    return sum(secs) / len(secs)


def device_type_name(target: Any) -> str:
    """The device name a ``RunnerInput`` wants for ``target`` ("cpu" for llvm, not "llvm":
    the runner passes it to ``tvm.runtime.device``)."""
    import tvm

    return tvm.runtime.device(target.get_target_device_type(), 0).__str__().split(":")[0]


def confirming_runner(runner: Any) -> Any:
    """A runner that times like ``runner``, longer and tighter.

    For MetaSchedule's ``LocalRunner``/``RPCRunner`` with an :class:`AdaptiveEvaluator`
    (what :func:`adaptive_local_runner` and :func:`adaptive_rpc_runner` make), the same
    runner with :meth:`AdaptiveEvaluator.confirming`.  Any other runner is returned as
    it is: a second reading with the same settings is still free of selection bias.
    """
    from tvm.s_tir.meta_schedule.runner import LocalRunner, RPCRunner

    evaluator = getattr(runner, "f_run_evaluator", None)
    if not isinstance(evaluator, AdaptiveEvaluator):
        return runner
    rpc_config = getattr(runner, "rpc_config", None)
    if rpc_config is not None:
        return RPCRunner(rpc_config=rpc_config, evaluator_config=runner.evaluator_config,
                         max_workers=runner.max_workers, f_run_evaluator=evaluator.confirming())
    return LocalRunner(timeout_sec=runner.timeout_sec, evaluator_config=runner.evaluator_config,
                       f_run_evaluator=evaluator.confirming())


def confirm_results(runner: Any, device_type: str, candidates: Sequence[Any],
                    builder_results: Sequence[Any], runner_results: Sequence[Any],
                    best: float) -> Tuple[List[Any], List[int]]:
    """Re-time the candidates whose result beats ``best`` seconds.

    Returns the results with those replaced by their confirmation, and their indices.
    A confirmation that fails replaces the result too (a schedule that fails when timed
    again is no incumbent).
    """
    from tvm.s_tir.meta_schedule.runner import RunnerInput

    picks = [i for i, (b, r) in enumerate(zip(builder_results, runner_results))
             if b.error_msg is None and r.error_msg is None and mean_secs(r.run_secs) < best]
    out = list(runner_results)
    if not picks:
        return out, picks
    futures = runner.run([RunnerInput(builder_results[i].artifact_path, device_type,
                                      candidates[i].args_info) for i in picks])
    for i, fut in zip(picks, futures):
        out[i] = fut.result()
    return out, picks


def _note(work_dir: Optional[str], workload: Any, candidates: Sequence[Any], picks: Sequence[int],
          first: Sequence[Any], confirmed: Sequence[Any]) -> None:
    if not work_dir or not picks:
        return
    from tvm_ffi import structural_hash

    lines = []
    for i in picks:
        lines.append(json.dumps({
            "workload": str(int(workload.shash)) if hasattr(workload, "shash") else None,
            "schedule": str(int(structural_hash(candidates[i].sch.mod))),
            "first_run_secs": [float(s) for s in first[i].run_secs or []],
            "confirmed_run_secs": [float(s) for s in confirmed[i].run_secs or []],
            "confirmed_error": confirmed[i].error_msg,
            "timestamp": time.time()}) + "\n")
    os.makedirs(work_dir, exist_ok=True)
    with open(os.path.join(work_dir, CONFIRMATIONS), "a", encoding="utf-8") as f:
        f.writelines(lines)


def commit_confirmed(db: Any, workload: Any, target: Any, runner: Any, candidates: Sequence[Any],
                     builder_results: Sequence[Any], runner_results: Sequence[Any],
                     work_dir: Optional[str] = None, confirm: bool = True) -> List[Any]:
    """Confirm would-be new bests against ``db``'s best for ``workload``, then commit
    every timed candidate with its (confirmed) run seconds.  Returns the results."""
    import tvm.s_tir.meta_schedule as ms

    results = list(runner_results)
    if confirm:
        top = db.get_top_k(workload, 1)
        best = mean_secs(top[0].run_secs) if top else math.inf
        results, picks = confirm_results(runner, device_type_name(target), candidates, builder_results,
                                         runner_results, best)
        _note(work_dir, workload, candidates, picks, runner_results, results)
    for cand, res in zip(candidates, results):
        if res.error_msg is None and res.run_secs:
            db.commit_tuning_record(ms.database.TuningRecord(
                trace=cand.sch.trace, workload=workload, run_secs=res.run_secs, target=target,
                args_info=cand.args_info))
    return results


def _callback_class():
    from tvm.s_tir.meta_schedule.measure_callback import PyMeasureCallback
    from tvm.ir.utils import derived_object

    @derived_object
    class ConfirmedAddToDatabase(PyMeasureCallback):
        """MetaSchedule's ``AddToDatabase`` with incumbent confirmation (see the module)."""

        def __init__(self, runner: Any, work_dir: Optional[str] = None):
            super().__init__()
            self.runner = runner
            self.work_dir = work_dir

        def apply(self, task_scheduler, task_id, measure_candidates, builder_results,
                  runner_results) -> None:
            db = task_scheduler.database_
            if db is None:
                return
            ctx = task_scheduler.tasks_[task_id].ctx
            commit_confirmed(db, db.commit_workload(ctx.mod), ctx.target, self.runner,
                             measure_candidates, builder_results, runner_results, self.work_dir)

    return ConfirmedAddToDatabase


def __getattr__(name: str) -> Any:
    # The class derives from TVM's PyMeasureCallback: made on first use, so importing
    # this module does not import TVM.
    if name == "ConfirmedAddToDatabase":
        cls = _callback_class()
        globals()[name] = cls
        return cls
    raise AttributeError(name)

"""Several template tasks under one trial budget, on this machine or on a farm.

``adatune.tune_tasks([task_a, task_b], "rfei", n_trial=400, measure_option=mo, log=path)``
hands the budget out in rounds, as :func:`adatune.tune_model` does for a model's tasks
(:func:`.rounds.run_rounds`, :class:`.scheduler.TaskScheduler`): a short first round
each, then the task whose next round promises the largest cut of the weighted sum of
the tasks' best latencies. With a farm (:class:`adatune.farm.FarmMeasure`), rounds of
different tasks run at once, so the servers work on several tasks together. Every
task logs to the one AutoTVM log; a re-run resumes from it without re-measuring.
"""
from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Callable, List, Optional, Sequence

from .._checks import check_bool, check_callable, check_int, check_number, check_seed
from .._seeding import sub_seed
from ..errors import ArgumentError, ArgumentTypeError
from .rounds import ROUND, rounds_at_once, run_rounds, warm_up_size
from .scheduler import TaskScheduler
from .tasks import TemplateTask

__all__ = ["tune_tasks"]


def tune_tasks(tasks: Sequence[Any], tuner: str = "rfei", n_trial: int = 200, measure_option: Any = None,
               log: Optional[str] = None, *, weights: Optional[Sequence[float]] = None,
               seed: Any = None, confirm: bool = True,
               callbacks: Sequence[Callable] = (),
               on_round: Optional[Callable[[int, int], None]] = None) -> List[Any]:
    """Tune several template tasks under one budget of ``n_trial`` measurements.

    Parameters
    ----------
    tasks : sequence of Task
        Distinct tasks (:func:`adatune.task.create`).
    tuner : str, default "rfei"
        A tuner name (:data:`adatune.tuner.TUNERS`); each task gets its own.
    n_trial : int
        Measurements in all, over every task, resumed ones included.
    measure_option : MeasureBatch
        Required: ``adatune.measure.measure_option(...)`` or a farm's ``FarmMeasure``.
    log : path, optional
        The AutoTVM log every task appends to; an existing one is resumed. Without it
        the records go to a temporary file, removed at the end.
    weights : sequence of float, optional
        How much each task's latency counts (calls per run of the application); 1 each
        by default.
    seed : int or numpy Generator, optional
        Task ``i``'s tuner gets seed ``sub_seed(seed, i)``.
    confirm : bool, default True
        Re-measure a would-be new best before taking it (as :meth:`Tuner.tune`).
    callbacks : sequence of callables
        ``cb(tuner, inputs, results)`` after every batch of any task (on a farm, from
        that task's thread; the tuner's ``task`` says which). Callbacks with ``start`` or
        ``close`` are refused: they would be started once per round.
    on_round : callable, optional
        ``on_round(task_index, trials_done)`` after each round.

    Returns
    -------
    list of TuneSummary
        One per task, in the order given, over the whole run (resumed records included
        in ``n_trials`` and ``n_resumed``; ``wall_time`` is the whole run's; ``history``
        is left empty: the log holds every trial).
    """
    owner = "tune_tasks"
    tasks = list(tasks) if isinstance(tasks, (list, tuple)) else _not_a_list(tasks)
    if not tasks:
        raise ArgumentError("tune_tasks: tasks is empty")
    keys = [getattr(t, "workload_key", None) for t in tasks]
    if None in keys:
        raise ArgumentTypeError(f"tune_tasks: tasks[{keys.index(None)}] is not an adatune Task")
    for i, key in enumerate(keys):
        if key in keys[:i]:
            raise ArgumentError(f"tune_tasks: tasks[{i}] repeats tasks[{keys.index(key)}] ({key})")
    if not isinstance(tuner, str):
        raise ArgumentTypeError(f"tune_tasks: tuner must be a tuner name, got {type(tuner).__name__}")
    n_trial = check_int(n_trial, "n_trial", owner, low=1)
    if measure_option is None:
        raise ArgumentError("tune_tasks: measure_option is required (see adatune.measure.measure_option)")
    if weights is None:
        weights = [1.0] * len(tasks)
    weights = [check_number(w, f"weights[{i}]", owner, low=0.0) for i, w in enumerate(weights)]
    if len(weights) != len(tasks):
        raise ArgumentError(f"tune_tasks: {len(weights)} weights for {len(tasks)} tasks")
    seed = check_seed(seed, "seed", owner)
    confirm = check_bool(confirm, "confirm", owner)
    for cb in callbacks:
        check_callable(cb, "callbacks", owner)
        if hasattr(cb, "start") or hasattr(cb, "close"):
            raise ArgumentError(f"tune_tasks: callback {cb!r} has start/close; pass a plain callable "
                                "(adatune's progress_bar is per tune() call)")
    check_callable(on_round, "on_round", owner, allow_none=True)

    from ..tuner import create_tuner

    with tempfile.TemporaryDirectory(prefix="adatune-tasks-") as scratch:
        path = os.fspath(log) if log is not None else os.path.join(scratch, "records.log")
        work = [TemplateTask(t, [], create_tuner(tuner, t, seed=sub_seed(seed, i)), path, confirm=confirm,
                             callbacks=list(callbacks)) for i, t in enumerate(tasks)]
        start = time.time()
        resumed = [w.resume() for w in work]
        scheduler = TaskScheduler(weights)
        for i, w in enumerate(work):
            if w.trials:
                scheduler.record(i, w.trials, w.best_latency, w.exhausted)
        run_rounds(work, scheduler, n_trial, sum(resumed), warm_up_size(n_trial, len(work)), ROUND,
                   measure_option, on_round or (lambda i, done: None),
                   concurrency=rounds_at_once(measure_option))
        wall = time.time() - start
        return [_summary(w, r, wall) for w, r in zip(work, resumed)]


def _not_a_list(tasks: Any) -> List[Any]:
    if hasattr(tasks, "workload_key"):
        raise ArgumentTypeError("tune_tasks: tasks must be a list of tasks (use adatune.tune for one)")
    try:
        return list(tasks)
    except TypeError:
        raise ArgumentTypeError(f"tune_tasks: tasks must be a list of tasks, got {type(tasks).__name__}") from None


def _summary(work: TemplateTask, resumed: int, wall: float) -> Any:
    from ..tuner import TuneSummary

    tuner, rounds = work.tuner, work.summaries
    return TuneSummary(
        task_name=str(work.task.name), best_config=tuner.best_config,
        best_throughput=tuner.best_throughput, best_gflops=tuner.best_gflops,
        best_cost=work.best_latency,
        n_trials=work.trials, n_failed=sum(s.n_failed for s in rounds), n_resumed=resumed,
        wall_time=wall, measure_time=sum(s.measure_time for s in rounds),
        tuner_time=sum(s.tuner_time for s in rounds),
        n_confirmed=sum(s.n_confirmed for s in rounds), confirm_time=sum(s.confirm_time for s in rounds))

"""The tuning loop shared by every tuner."""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, List, Optional, Sequence, Set, Tuple, Union

import numpy as np

from ..measure.measure import MeasureInput, MeasureResult
from .._checks import check_bool, check_callable, check_int, check_positive_int, check_seed
from .._seeding import as_generator
from ..errors import ArgumentError, ArgumentTypeError

__all__ = ["Tuner", "TuneSummary", "throughput"]

logger = logging.getLogger(__name__)


def throughput(flop: float, result: MeasureResult) -> float:
    """``flop / mean cost`` of a result (``1 / cost`` when ``flop`` is 0); 0 on failure."""
    if result.error_no != 0:
        return 0.0
    cost = result.mean_cost
    if not math.isfinite(cost) or cost <= 0:
        return 0.0
    return (flop if flop > 0 else 1.0) / cost


@dataclass
class TuneSummary:
    """What a :meth:`Tuner.tune` call achieved.

    ``best_gflops`` is ``best_throughput / 1e9`` when the task's FLOP count is known,
    else ``None`` (``best_throughput`` is then ``1 / seconds``).
    """

    task_name: str
    best_config: Any
    best_throughput: float
    best_gflops: Optional[float]
    best_cost: float
    n_trials: int
    n_failed: int
    n_resumed: int
    wall_time: float
    measure_time: float
    tuner_time: float
    history: List[Tuple[int, float, float]] = field(default_factory=list, repr=False)
    """(trial number, throughput, seconds since start) for every trial measured here."""
    n_confirmed: int = 0
    """Candidates re-measured because their first measurement beat the best."""
    confirm_time: float = 0.0
    """Seconds those confirmations took (on top of ``measure_time``)."""


class Tuner:
    """Base tuner: proposes configs of ``task.config_space``, learns from their results.

    Subclasses implement :meth:`next_batch` and :meth:`has_next` and may extend
    :meth:`update` (call ``super().update`` first).

    Parameters
    ----------
    task : Task
        Needs ``config_space``, ``name``, ``args``, ``target`` and ``flop`` (0 if unknown).
    seed : int or numpy Generator, optional
        Makes the proposals reproducible.
    """

    def __init__(self, task: Any, seed: Union[None, int, np.random.Generator] = None):
        space = getattr(task, "config_space", None)
        if space is None or not hasattr(space, "sample"):
            raise ArgumentTypeError(f"{type(self).__name__}: task {task!r} has no config_space")
        self.task = task
        self.space = space
        self.rng = as_generator(check_seed(seed, "seed", type(self).__name__))
        self.flop = float(getattr(task, "flop", 0) or 0)
        self.visited: Set[int] = set()
        self.xs: List[int] = []
        self.ys: List[float] = []
        self.best_throughput = 0.0
        self.best_config: Any = None
        self.best_result: Optional[MeasureResult] = None
        self.best_iter = -1
        self.n_trials = 0
        self._warned_no_confirm = False

    # ------------------------------------------------------------------ protocol
    def has_next(self) -> bool:
        """Whether unmeasured configs remain."""
        return len(self.visited) < self.space.n_configs

    def next_batch(self, batch_size: int) -> List[Any]:
        """Up to ``batch_size`` unvisited configs (``ConfigEntity``) to measure next."""
        raise NotImplementedError

    def update(self, inputs: Sequence[MeasureInput], results: Sequence[MeasureResult]) -> None:
        """Record measured results (failures score 0)."""
        for inp, res in zip(inputs, results):
            idx = int(inp.config.index)
            score = throughput(self.flop, res)
            self.visited.add(idx)
            self.xs.append(idx)
            self.ys.append(score)
            if score > self.best_throughput:
                self.best_throughput = score
                self.best_config = inp.config
                self.best_result = res
                self.best_iter = self.n_trials
            self.n_trials += 1

    @property
    def epsilon(self) -> Optional[float]:
        """Share of random picks in use (model-based tuners); None for the others."""
        return None

    @property
    def best_gflops(self) -> Optional[float]:
        return self.best_throughput / 1e9 if self.flop > 0 else None

    # ------------------------------------------------------------------ history
    def _workload_key(self) -> str:
        from ..records import Record

        probe = Record.from_measure(MeasureInput(self.task.target, self.task, self.space.get(0)),
                                    MeasureResult((1.0,), 0, 0.0, 0.0))
        return probe.workload_key

    def load_history(self, records: Union[str, os.PathLike, Iterable[Any]]) -> int:
        """Learn from earlier records of the same workload (transfer / resume).

        Records of other workloads, or whose entity is not in this space, are skipped.
        Matching configs are marked visited, so they are never measured again.

        Parameters
        ----------
        records : path or iterable of ``adatune.records.Record``
            A log file (read with :func:`adatune.records.iter_records`) or records.

        Returns
        -------
        int
            The number of records used.
        """
        if isinstance(records, (str, os.PathLike)):
            from ..records import iter_records

            if not os.path.exists(records):
                raise ArgumentError(f"load_history: no such log file: {records}")
            records = iter_records(records)
        key = self._workload_key()
        # A task may be spelled several ways in old logs (a default argument left out).
        keys = set(getattr(self.task, "workload_keys", ())) | {key}
        used = 0
        inputs, results = [], []
        for rec in records:
            if rec.task_name != self.task.name or rec.workload_key not in keys:
                continue
            try:
                idx = self.space.index_of([list(e) for e in rec.entity])
            except ValueError:
                continue
            if idx in self.visited:
                continue
            inputs.append(MeasureInput(self.task.target, self.task, self.space.get(idx)))
            costs = tuple(rec.costs) if rec.error_no == 0 else ("from log",)
            results.append(MeasureResult(costs, int(rec.error_no), float(rec.all_cost), float(rec.timestamp)))
            used += 1
        if inputs:
            self._absorb_history(inputs, results)
        logger.info("load_history: %d records of %s used", used, key)
        return used

    def _absorb_history(self, inputs: List[MeasureInput], results: List[MeasureResult]) -> None:
        # History counts as measured data but not as trials of this run.
        n = self.n_trials
        Tuner.update(self, inputs, results)
        self.n_trials = n
        if self.best_iter >= n:
            self.best_iter = -1

    # ------------------------------------------------------------------ the loop
    def tune(self, n_trial: int, measure_option: Any, early_stopping: Optional[int] = None,
             callbacks: Sequence[Callable[["Tuner", List[MeasureInput], List[MeasureResult]], Any]] = (),
             resume_from: Union[None, str, os.PathLike] = None, confirm: bool = True) -> TuneSummary:
        """Measure up to ``n_trial`` configs, feeding results back after each batch.

        A cheap measurement taken often crowns lucky configs (the winner's curse): the
        best of many noisy readings is biased low.  With ``confirm`` (the default), a
        candidate whose measurement beats the best so far is measured again before it
        counts, with ``measure_option.confirm_batch`` (a longer, tighter measurement of
        the build just timed; a ``MeasureBatch`` without one is not confirmed).  The
        confirmation is an independent reading, so it carries no selection bias; it is
        the result the tuner, the callbacks (the log) and ``apply_best`` see, with the
        first reading kept as ``MeasureResult.first_costs`` (``"first_costs"`` in the
        log line's ``"adatune"`` field).  A candidate is one trial however often it is
        measured.

        Parameters
        ----------
        n_trial : int
            Trials for the whole run, including those recovered with ``resume_from``.
        measure_option : MeasureBatch
            ``measure_batch(inputs) -> results``; its ``n_parallel`` is the batch size.
        early_stopping : int, optional
            Stop when this many trials bring no better config.
        callbacks : sequence of callables
            ``callback(tuner, inputs, results)`` after every batch (e.g. :func:`log_to_file`).
        resume_from : path, optional
            A log of an earlier (interrupted) run of this task: its trials are loaded,
            count towards ``n_trial`` and are never re-measured. A missing file is
            treated as empty, so a run can always pass its own log.
        confirm : bool, default True
            Re-measure a would-be new best before taking it (see above); False keeps
            AutoTVM's behaviour: every candidate is measured once.

        Returns
        -------
        TuneSummary
        """
        n_trial = check_int(n_trial, "n_trial", "tune", low=0)
        if not hasattr(measure_option, "measure_batch"):
            raise ArgumentTypeError(f"tune: measure_option {measure_option!r} has no measure_batch()")
        early_stopping = check_positive_int(early_stopping, "early_stopping", "tune", allow_none=True)
        confirm = check_bool(confirm, "confirm", "tune")
        for cb in callbacks:
            check_callable(cb, "callbacks", "tune")
        start = time.time()
        n_resumed = 0
        if resume_from is not None and os.path.exists(resume_from):
            n_resumed = self.load_history(resume_from)
        batch_size = max(1, int(getattr(measure_option, "n_parallel", 1) or 1))
        measure_time = tuner_time = confirm_time = 0.0
        n_confirmed = 0
        done = n_resumed
        n_failed = 0
        history: List[Tuple[int, float, float]] = []
        first_trial = self.n_trials
        try:
            for cb in callbacks:
                if hasattr(cb, "start"):
                    cb.start(self, n_trial, n_resumed)
            while done < n_trial and self.has_next():
                t0 = time.time()
                configs = self.next_batch(min(batch_size, n_trial - done))
                tuner_time += time.time() - t0
                if not configs:
                    break
                inputs = [MeasureInput(self.task.target, self.task, c) for c in configs]
                t0 = time.time()
                results = list(measure_option.measure_batch(inputs))
                measure_time += time.time() - t0
                if len(results) != len(inputs):
                    raise ArgumentError(f"tune: measure_batch returned {len(results)} results "
                                        f"for {len(inputs)} inputs")
                if confirm:
                    t0 = time.time()
                    results, k = self._confirm(measure_option, inputs, results)
                    confirm_time += time.time() - t0
                    n_confirmed += k
                t0 = time.time()
                self.update(inputs, results)
                tuner_time += time.time() - t0
                now = time.time() - start
                for k, res in enumerate(results):
                    history.append((done + k, throughput(self.flop, res), now))
                    n_failed += res.error_no != 0
                done += len(results)
                for cb in callbacks:
                    cb(self, inputs, results)
                # best_iter is -1 when the best came from history (or nothing worked yet):
                # then the whole run so far counts as "without improvement".
                if early_stopping is not None and self.n_trials - 1 - self.best_iter >= early_stopping:
                    logger.info("early stopping: no improvement in %d trials", early_stopping)
                    break
        finally:
            for cb in callbacks:
                if hasattr(cb, "close"):
                    cb.close()
        best_cost = self.best_result.mean_cost if self.best_result is not None else math.inf
        return TuneSummary(
            task_name=str(self.task.name), best_config=self.best_config,
            best_throughput=self.best_throughput, best_gflops=self.best_gflops,
            best_cost=best_cost, n_trials=self.n_trials - first_trial + n_resumed, n_failed=n_failed,
            n_resumed=n_resumed, wall_time=time.time() - start, measure_time=measure_time,
            tuner_time=tuner_time, history=history, n_confirmed=n_confirmed,
            confirm_time=confirm_time)

    def _confirm(self, measure_option: Any, inputs: List[MeasureInput],
                 results: List[MeasureResult]) -> Tuple[List[MeasureResult], int]:
        """Re-measure the results that would beat the best so far (see :meth:`tune`)."""
        picks = [i for i, res in enumerate(results)
                 if throughput(self.flop, res) > self.best_throughput]
        if not picks:
            return results, 0
        again_fn = getattr(measure_option, "confirm_batch", None)
        if again_fn is None:
            # A MeasureBatch without confirm_batch (a user's own, an analytic one) is
            # taken at its word: measuring it again could count or cost twice.
            if not self._warned_no_confirm:
                logger.info("tune: %s has no confirm_batch(); new bests are not confirmed",
                            type(measure_option).__name__)
                self._warned_no_confirm = True
            return results, 0
        again = list(again_fn([inputs[i] for i in picks]))
        if len(again) != len(picks):
            raise ArgumentError(f"tune: confirming {len(picks)} candidates returned {len(again)} results")
        out = list(results)
        for i, second in zip(picks, again):
            first = results[i]
            out[i] = MeasureResult(second.costs, second.error_no, first.all_cost + second.all_cost,
                                   second.timestamp, first_costs=tuple(first.costs))
        logger.debug("confirmed %d candidates: %s", len(picks),
                     [(results[i].mean_cost, out[i].mean_cost) for i in picks])
        return out, len(picks)

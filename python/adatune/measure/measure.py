"""What a tuner hands to the measure layer and what it gets back.

The types follow AutoTVM's so its logs and habits carry over: a ``MeasureInput`` is a
(target, task, config) triple, a ``MeasureResult`` holds the costs in seconds, an
error code, the wall time the whole measurement took, and when it finished.
"""
from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from typing import Any, List, Optional, Protocol, Sequence, Tuple, runtime_checkable


class MeasureErrorNo(enum.IntEnum):
    """AutoTVM's error codes, kept numerically identical for log compatibility."""

    NO_ERROR = 0
    INSTANTIATION_ERROR = 1
    COMPILE_HOST = 2
    COMPILE_DEVICE = 3
    RUNTIME_DEVICE = 4
    WRONG_ANSWER = 5
    BUILD_TIMEOUT = 6
    RUN_TIMEOUT = 7
    UNKNOWN_ERROR = 8


@dataclass(frozen=True)
class MeasureInput:
    """One candidate to measure: a target, a task and one config of its space."""

    target: Any
    task: Any
    config: Any


@dataclass(frozen=True)
class MeasureResult:
    """The outcome of measuring one candidate.

    Attributes
    ----------
    costs : tuple of float
        Run times in seconds when ``error_no == 0``; otherwise a one-element tuple
        holding the error message (AutoTVM does the same).
    error_no : int
        A :class:`MeasureErrorNo` value.
    all_cost : float
        Seconds spent on this candidate, building and running.
    timestamp : float
        Unix time at which the measurement finished.
    first_costs : tuple of float, optional
        Set on a *confirmed* result (see :meth:`adatune.tuner.Tuner.tune`): the first,
        cheaper measurement that made the candidate look like a new best.  ``costs``
        then hold the confirmation and ``all_cost`` both measurements' time.
    """

    costs: Tuple[Any, ...]
    error_no: int
    all_cost: float
    timestamp: float = field(default_factory=time.time)
    first_costs: Optional[Tuple[float, ...]] = None

    @property
    def ok(self) -> bool:
        return self.error_no == MeasureErrorNo.NO_ERROR

    @property
    def mean_cost(self) -> float:
        """Mean run time in seconds, ``inf`` for a failed measurement."""
        if not self.ok or not self.costs:
            return float("inf")
        return float(sum(self.costs) / len(self.costs))


@runtime_checkable
class MeasureBatch(Protocol):
    """Anything that measures a batch of inputs (local runner, RPC runner, replay).

    ``n_parallel`` is how many inputs it likes to receive at once.  It may also offer
    ``confirm_batch(inputs) -> results``: a longer, tighter measurement of inputs it has
    just measured, used to confirm a new best (without it, new bests are not confirmed).
    """

    n_parallel: int

    def measure_batch(self, inputs: Sequence[MeasureInput]) -> List[MeasureResult]:
        ...

"""Which task of a model gets the next round of trials.

The model's latency is about ``sum_i w_i * l_i``: task ``i``'s best kernel latency
``l_i`` times ``w_i``, how often the model calls its kernels. After a warm-up round for
every task, each round goes to the task whose next round is expected to take the most
off that sum, as Ansor's and MetaSchedule's gradient task schedulers do:

    gain_i = w_i * (alpha * backward_i + (1 - alpha) * forward_i)

``backward_i`` is what task ``i``'s last ``window`` rounds took off ``l_i``, per round;
``forward_i = l_i / rounds_i`` is an optimistic guess (the latency found so far, spread
over the rounds it took), so a task that has not yet moved still gets a chance in
proportion to its share of the model. A task whose latency has not improved for
``patience`` rounds, or whose space is exhausted, has converged and gets no more
rounds while any other task can still use them.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Collection, List, Optional, Sequence

from .._checks import check_fraction, check_positive_int
from ..errors import ArgumentError

__all__ = ["TaskScheduler", "TaskState"]


@dataclass
class TaskState:
    """What the scheduler knows of one task."""

    weight: float
    rounds: int = 0
    trials: int = 0
    history: List[float] = field(default_factory=list)  # best latency after each round
    exhausted: bool = False

    @property
    def best(self) -> float:
        return self.history[-1] if self.history else math.inf

    def stalled(self, patience: int) -> bool:
        """No improvement over the last ``patience`` rounds."""
        if len(self.history) <= patience:
            return False
        return not self.history[-1] < self.history[-1 - patience]


class TaskScheduler:
    """Gradient-style allocation of rounds to tasks (see the module docstring).

    Parameters
    ----------
    weights : sequence of float
        Calls per model run of each task's kernels.
    alpha : float in [0, 1], default 0.2
        Weight of the observed (backward) gain against the optimistic (forward) one.
    window : int, default 3
        Rounds over which the backward gain is measured.
    patience : int, default 3
        Rounds without improvement after which a task counts as converged.
    """

    def __init__(self, weights: Sequence[float], alpha: float = 0.2, window: int = 3, patience: int = 3):
        if not weights:
            raise ArgumentError("TaskScheduler: no tasks")
        self.tasks = [TaskState(float(w)) for w in weights]
        self.alpha = check_fraction(alpha, "alpha", "TaskScheduler")
        self.window = check_positive_int(window, "window", "TaskScheduler")
        self.patience = check_positive_int(patience, "patience", "TaskScheduler")

    def record(self, index: int, trials: int, best: float, exhausted: bool = False) -> None:
        """Task ``index`` ran a round of ``trials``; its best latency is now ``best``."""
        t = self.tasks[index]
        t.rounds += 1
        t.trials += int(trials)
        t.history.append(float(best) if best > 0 else math.inf)
        t.exhausted = bool(exhausted)

    def converged(self, index: int) -> bool:
        t = self.tasks[index]
        return t.exhausted or t.stalled(self.patience)

    def gain(self, index: int) -> float:
        """Expected reduction of the model's latency from one more round of task ``index``."""
        t = self.tasks[index]
        if not t.history or not math.isfinite(t.best):
            return math.inf  # nothing valid measured yet: it must be tried before judged
        past = t.history[-1 - self.window] if len(t.history) > self.window else t.history[0]
        finite_past = past if math.isfinite(past) else t.best
        backward = max(0.0, finite_past - t.best) / min(self.window, max(1, len(t.history) - 1))
        forward = t.best / t.rounds
        return t.weight * (self.alpha * backward + (1.0 - self.alpha) * forward)

    def next_task(self, busy: Collection[int] = ()) -> Optional[int]:
        """The task for the next round: first every task once (warm-up), then the largest
        gain among those not converged (among all not exhausted if every one has
        converged); None when every task is exhausted. Tasks in ``busy`` (a round of
        theirs is running) are left out."""
        for i, t in enumerate(self.tasks):
            if t.rounds == 0 and not t.exhausted and i not in busy:
                return i
        live = [i for i, t in enumerate(self.tasks) if not t.exhausted and i not in busy]
        if not live:
            return None
        fresh = [i for i in live if not self.converged(i)]
        pool = fresh or live
        return max(pool, key=lambda i: (self.gain(i), -i))

"""The plan / refit / epsilon / local-picks loop shared by every model-guided search.

Template tuning (:class:`~adatune.tuner.ModelBasedTuner`), the application search
(:class:`~adatune.approx.ConstrainedEISearch`) and MetaSchedule's
(:class:`~adatune.metaschedule.DynamicEpsilonSearch`) all work the same way:

1. measure; after ``first_fit`` results the first time and ``plan_size`` afterwards,
   refit the model (:meth:`Planner.observe` says when);
2. ask the epsilon policy for the share of the next plan that is random, from the
   model's predictive spread over random candidates and the incumbent
   (:meth:`Planner.start_plan`);
3. fill the other ``n_model`` places: ``n_local`` from the incumbents' neighbourhoods,
   the rest from the model's global ranking (:meth:`Planner.set_plan`);
4. propose the plan's picks in order, skipping what is already taken, then random
   unvisited configs (:meth:`Planner.propose`).

What a model is, what its candidates are and how they are ranked stays with the
caller; the planner owns the cadence, the epsilon and the plan.
"""
from __future__ import annotations

import logging
from typing import Callable, Container, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .._checks import check_fraction, check_positive_int
from .epsilon import EpsilonPolicy, as_epsilon_policy

__all__ = ["Planner", "interleave"]

logger = logging.getLogger(__name__)


def interleave(rankings: Sequence[Iterable[int]], seen: Optional[set] = None) -> Iterator[int]:
    """Distinct picks from several rankings, taken in turn: each turn, every ranking gives
    its best pick not yet given (nor in ``seen``, which is updated)."""
    seen = set() if seen is None else seen
    iters = [iter(r) for r in rankings]
    while iters:
        alive = []
        for it in iters:
            for idx in it:
                if idx not in seen:
                    seen.add(idx)
                    alive.append(it)
                    yield idx
                    break
        iters = alive


class Planner:
    """Cadence, epsilon and plan of a model-guided search.

    Parameters
    ----------
    plan_size : int
        Measurements between two refits, and the size of each plan.
    first_fit : int, optional
        Measurements before the first refit (default ``plan_size``).
    epsilon : float or EpsilonPolicy, default 0.05
        Share of every plan picked at random: a constant, or a policy computed from the
        model's spread at each refit.
    local_share : float in [0, 1], default 0.0
        Share of each plan's model picks taken from the incumbents' neighbourhoods.
    owner : str
        Named in error messages (the class that owns the planner).

    Attributes
    ----------
    n_fits : int
        Plans started so far.
    epsilon : float
        The share in use (1.0 before the first plan: everything is random then).
    epsilon_history : list of float
        One value per plan.
    plan : list of int
        The current plan's model picks, best first.
    """

    def __init__(self, plan_size: int, first_fit: Optional[int] = None,
                 epsilon: Union[float, EpsilonPolicy] = 0.05, local_share: float = 0.0,
                 owner: str = "Planner"):
        self.plan_size = check_positive_int(plan_size, "plan_size", owner)
        first = check_positive_int(first_fit, "first_fit", owner, allow_none=True)
        self.first_fit = self.plan_size if first is None else first
        self.policy = as_epsilon_policy(epsilon, owner)
        self.local_share = check_fraction(local_share, "local_share", owner)
        self.owner = owner
        self.n_fits = 0
        self.epsilon = self.policy.initial
        self.epsilon_history: List[float] = []
        self.plan: List[int] = []
        self.pos = 0
        self._since_fit = 0

    # ------------------------------------------------------------------ cadence
    def observe(self, n: int) -> bool:
        """Count ``n`` new measurements; True when a refit is due."""
        self._since_fit += int(n)
        return self._since_fit >= (self.first_fit if self.n_fits == 0 else self.plan_size)

    def restart_count(self) -> None:
        """Count the next refit from here (a refit that found nothing to learn from)."""
        self._since_fit = 0

    # ------------------------------------------------------------------ plans
    def start_plan(self, spread: Callable[[int], Optional[np.ndarray]], incumbent: float,
                   size: Optional[int] = None) -> Tuple[int, int]:
        """Set epsilon for a new plan; returns ``(n_model, n_local)``.

        ``spread(n)`` gives the model's predictive std on ``n`` random candidates (in
        the units of ``incumbent``, the best measured value); it is called only when
        the policy needs it. ``size`` overrides ``plan_size`` for this plan (a last,
        shorter batch).
        """
        self._since_fit = 0
        values = spread(self.policy.n_samples) if self.policy.n_samples else None
        eps = float(self.policy(values, float(incumbent)))
        self.epsilon = eps
        self.epsilon_history.append(eps)
        self.n_fits += 1
        n = self.plan_size if size is None else int(size)
        n_model = n - int(round(eps * n))
        n_local = min(n_model, int(round(self.local_share * n_model)))
        return n_model, n_local

    def set_plan(self, local: Iterable[int], ranked: Iterable[int], n_model: int,
                 exclude: Container[int] = ()) -> List[int]:
        """The plan: ``local`` picks first, then ``ranked`` ones, distinct, not in
        ``exclude``, at most ``n_model``. Returns it."""
        plan: List[int] = []
        seen: set = set()
        for idx in _chain(local, ranked):
            if len(plan) >= n_model:
                break
            idx = int(idx)
            if idx in seen or idx in exclude:
                continue
            seen.add(idx)
            plan.append(idx)
        self.plan, self.pos = plan, 0
        logger.debug("%s: plan #%d, eps=%.3f, %d model picks", self.owner, self.n_fits, self.epsilon, len(plan))
        return plan

    def next_planned(self, taken: Container[int]) -> Optional[int]:
        """The next pick of the plan that is not in ``taken`` (None when used up)."""
        while self.pos < len(self.plan):
            idx = self.plan[self.pos]
            self.pos += 1
            if idx not in taken:
                return idx
        return None

    def propose(self, n: int, visited: set, random_pick: Callable[[set], Optional[int]]) -> List[int]:
        """Up to ``n`` new indices: the plan's, then ``random_pick(excluded)``; all are
        added to ``visited``. Fewer than ``n`` only when ``random_pick`` gives None."""
        out: List[int] = []
        while len(out) < n:
            idx = self.next_planned(visited)
            if idx is None:
                idx = random_pick(visited)
                if idx is None:
                    break
            visited.add(idx)
            out.append(idx)
        return out


def _chain(*parts: Iterable[int]) -> Iterator[int]:
    for part in parts:
        yield from part

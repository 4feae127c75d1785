"""Model-based tuning: a cost model, a model optimizer and an epsilon policy.

The first fit happens after ``first_fit`` measurements (default ``plan_size``), then
after every ``plan_size`` more: the cost model is refitted on everything measured so
far, epsilon is recomputed, and simulated annealing finds the ``plan_size`` unvisited
configs the model likes best. The next plan measures the top
``plan_size - round(eps * plan_size)`` of them, then random unvisited configs. Before
the first fit everything is random.
"""
from __future__ import annotations

import logging
import time
from typing import Any, List, Optional, Union

import numpy as np

from .cost_model import CostModel
from .epsilon import DEFAULT_EPS_RANGE, EpsilonPolicy, FixedEpsilon, UncertaintyEpsilon
from .sa import SimulatedAnnealingOptimizer
from .tuner import Tuner

__all__ = ["ModelBasedTuner"]

logger = logging.getLogger(__name__)


class ModelBasedTuner(Tuner):
    """Tuner driven by a cost model.

    Parameters
    ----------
    task : Task
    cost_model : CostModel
        Bound to ``task.config_space``.
    model_optimizer : SimulatedAnnealingOptimizer, optional
        Defaults to one over the task's space.
    plan_size : int, default 64
        Measurements between two model fits, and the size of each plan.
    epsilon : float or EpsilonPolicy, default 0.05
        Share of random picks per plan (AutoTVM's fixed 0.05), or a policy.
    uncertainty_aware : bool, default False
        Use :class:`UncertaintyEpsilon` (clipped to ``eps_range``) instead of a fixed epsilon.
    eps_range : (float, float)
        Clip range of the uncertainty-aware epsilon.
    first_fit : int, optional
        Measurements before the first model fit (default ``plan_size``).
    local_share : float, default 0.0
        Share of each plan's model picks taken from the one-knob neighbourhoods of the
        ``local_top`` best measured configs (ranked by the same acquisition), the rest
        from the whole space. Near the optimum a model's global ranking is flat; the
        incumbents' neighbours are where the last percent usually is.
    local_top : int, default 4
        How many of the best measured configs lend their neighbourhoods.
    seed : int, optional
    """

    def __init__(self, task: Any, cost_model: CostModel,
                 model_optimizer: Optional[SimulatedAnnealingOptimizer] = None,
                 plan_size: int = 64, epsilon: Union[float, EpsilonPolicy] = 0.05,
                 uncertainty_aware: bool = False, eps_range=DEFAULT_EPS_RANGE,
                 first_fit: Optional[int] = None, local_share: float = 0.0, local_top: int = 4,
                 seed=None):
        super().__init__(task, seed)
        if not isinstance(cost_model, CostModel):
            raise ValueError(f"ModelBasedTuner: cost_model must be a CostModel, got {cost_model!r}")
        if cost_model.space is not self.space:
            # A task may hand out equal copies of its space (e.g. after a cache eviction).
            theirs, ours = cost_model.space.knobs, self.space.knobs
            if list(theirs) != list(ours) or any(not theirs[k].same_as(ours[k]) for k in ours):
                raise ValueError("ModelBasedTuner: cost_model is bound to another space than task.config_space")
            self.space = cost_model.space
        if isinstance(plan_size, bool) or not isinstance(plan_size, (int, np.integer)) or plan_size < 1:
            raise ValueError(f"ModelBasedTuner: plan_size must be a positive int, got {plan_size!r}")
        self.cost_model = cost_model
        self.model_optimizer = model_optimizer or SimulatedAnnealingOptimizer(self.space)
        self.plan_size = int(plan_size)
        if first_fit is not None and (isinstance(first_fit, bool) or not isinstance(first_fit, (int, np.integer))
                                      or first_fit < 1):
            raise ValueError(f"ModelBasedTuner: first_fit must be a positive int, got {first_fit!r}")
        self.first_fit = self.plan_size if first_fit is None else int(first_fit)
        if (isinstance(local_share, bool) or not isinstance(local_share, (int, float, np.integer, np.floating))
                or not 0.0 <= float(local_share) <= 1.0):
            raise ValueError(f"ModelBasedTuner: local_share must lie in [0, 1], got {local_share!r}")
        if isinstance(local_top, bool) or not isinstance(local_top, (int, np.integer)) or local_top < 1:
            raise ValueError(f"ModelBasedTuner: local_top must be a positive int, got {local_top!r}")
        self.local_share = float(local_share)
        self.local_top = int(local_top)
        if isinstance(epsilon, EpsilonPolicy):
            self.epsilon_policy = epsilon
        elif uncertainty_aware:
            self.epsilon_policy = UncertaintyEpsilon(*eps_range)
        else:
            self.epsilon_policy = FixedEpsilon(float(epsilon))
        self.trials: List[int] = []
        self.trial_pt = 0
        self.train_ct = 0
        self._since_fit = 0
        self.model_time = 0.0
        self.epsilon_history: List[float] = []
        self._exhausted = False
        self.epsilon = 1.0  # every pick is random until the first fit

    def has_next(self) -> bool:
        return not self._exhausted and super().has_next()

    def next_batch(self, batch_size: int) -> List[Any]:
        out = []
        while len(out) < batch_size:
            idx = None
            while self.trial_pt < len(self.trials):
                cand = self.trials[self.trial_pt]
                self.trial_pt += 1
                if cand not in self.visited:
                    idx = cand
                    break
            if idx is None:
                picks = self.space.sample(1, self.rng, exclude=self.visited)
                if not picks:
                    self._exhausted = True
                    break
                idx = picks[0]
            self.visited.add(idx)
            out.append(self.space.get(idx))
        return out

    def update(self, inputs, results) -> None:
        super().update(inputs, results)
        self._since_fit += len(results)
        if self._since_fit >= (self.first_fit if self.train_ct == 0 else self.plan_size):
            self._refit()

    def _absorb_history(self, inputs, results) -> None:
        super()._absorb_history(inputs, results)
        self._refit()

    def _refit(self) -> None:
        self._since_fit = 0
        if not self.xs or self.best_throughput <= 0:
            return  # nothing to learn from yet: keep exploring at random
        t0 = time.time()
        self.cost_model.fit(self.xs, self.ys)
        best = self.best_throughput / self.cost_model.y_scale_
        eps = float(self.epsilon_policy(self.cost_model, self.space, best, self.rng))
        self.epsilon = eps
        self.epsilon_history.append(eps)
        n_model = self.plan_size - int(round(eps * self.plan_size))
        score = lambda pts: self.cost_model.acquisition(pts, best)  # noqa: E731
        local = self._local_picks(score, int(round(self.local_share * n_model)))
        maximums = self.model_optimizer.find_maximums(
            score, self.plan_size, self.visited | set(local), self.rng)
        self.trials = (local + maximums)[:n_model]
        self.trial_pt = 0
        self.train_ct += 1
        self.model_time += time.time() - t0
        logger.debug("refit #%d on %d points: eps=%.3f, %d model picks (%d local)", self.train_ct,
                     len(self.xs), eps, len(self.trials), len(local))

    def _local_picks(self, score, num: int) -> List[int]:
        """The ``num`` best-scored unvisited neighbours of the best measured configs."""
        if num <= 0:
            return []
        order = np.argsort(-np.asarray(self.ys, dtype=np.float64), kind="stable")
        top = [self.xs[i] for i in order[:self.local_top] if self.ys[i] > 0]
        cand: dict = {}
        for idx in top:
            for nb in self.space.neighbors(idx):
                if nb not in self.visited and nb not in cand and self.space.is_valid(nb):
                    cand[nb] = None
        if not cand:
            return []
        pts = list(cand)
        scores = np.asarray(score(pts), dtype=np.float64)
        scores = np.where(np.isfinite(scores), scores, -np.inf)
        # Random tie-break: a flat acquisition must not favour low knob values.
        perm = self.rng.permutation(len(pts))
        ranked = perm[np.argsort(-scores[perm], kind="stable")]
        return [pts[i] for i in ranked[:num]]

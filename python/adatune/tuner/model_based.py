"""Model-based tuning: a cost model, a model optimizer and an epsilon policy.

The cadence is the shared :class:`~adatune.tuner.planner.Planner`'s: the first fit
happens after ``first_fit`` measurements (default ``plan_size``), then after every
``plan_size`` more. At each fit the cost model is refitted on everything measured so
far, epsilon is recomputed, and the model optimizer (simulated annealing, or exhaustive
scoring of a small space) finds the unvisited configs the model likes best. The next
plan measures the top ``plan_size - round(eps * plan_size)`` of them (a share
``local_share`` taken from the incumbents' neighbourhoods), then random unvisited
configs. Before the first fit everything is random.
"""
from __future__ import annotations

import logging
import time
from typing import Any, List, Optional, Tuple, Union

import numpy as np

from .._checks import check_fraction, check_positive_int
from ..errors import ArgumentError, ArgumentTypeError
from .cost_model import CostModel
from .epsilon import UNSET, EpsilonPolicy, resolve_epsilon
from .exhaustive import ExhaustiveOptimizer
from .planner import Planner
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
        Share of random picks per plan: a constant (AutoTVM's 0.05) or a policy such
        as :class:`~adatune.tuner.UncertaintyEpsilon` (AdaTune's dynamic exploration).
    first_fit : int, optional
        Measurements before the first model fit (default ``plan_size``).
    local_share : float, default 0.0
        Share of each plan's model picks taken from the one-knob neighbourhoods of the
        ``local_top`` best measured configs (ranked by the same acquisition), the rest
        from the whole space. Near the optimum a model's global ranking is flat; the
        incumbents' neighbours are where the last percent usually is.
    local_top : int, default 4
        How many of the best measured configs lend their neighbourhoods.
    marginal_share : float, default 0.0
        Share of each plan's model picks ranked by a per-knob density ratio of the
        measured configs (:func:`~adatune.tuner.marginal.knob_ratio_score`, TPE's
        independence bias) instead of the cost model; taken after the local picks.
    thompson_share : float, default 0.0
        Share of each plan's global model picks (those neither local nor by knob ratio)
        taken by Thompson draws: each is the best unvisited config under one sample of
        the cost model (:meth:`CostModel.draws`, one tree of a forest) drawn at random.
        A plan of the acquisition's top configs tends to fill one region; draws from
        different trees spread it over the regions the model is unsure about.
    seed : int or numpy Generator, optional
    uncertainty_aware, eps_range
        Deprecated: ``epsilon=UncertaintyEpsilon(*eps_range)`` says the same.
    """

    def __init__(self, task: Any, cost_model: CostModel,
                 model_optimizer: Optional[SimulatedAnnealingOptimizer] = None,
                 plan_size: int = 64, epsilon: Union[float, EpsilonPolicy] = 0.05,
                 first_fit: Optional[int] = None, local_share: float = 0.0, local_top: int = 4,
                 seed=None, *, marginal_share: float = 0.0, thompson_share: float = 0.0,
                 uncertainty_aware: Any = UNSET, eps_range: Any = UNSET):
        super().__init__(task, seed)
        owner = type(self).__name__
        if not isinstance(cost_model, CostModel):
            raise ArgumentTypeError(f"{owner}: cost_model must be a CostModel, got {cost_model!r}")
        if cost_model.space is not self.space:
            # A task may hand out equal copies of its space (e.g. after a cache eviction).
            theirs, ours = cost_model.space.knobs, self.space.knobs
            if list(theirs) != list(ours) or any(not theirs[k].same_as(ours[k]) for k in ours):
                raise ArgumentError(f"{owner}: cost_model is bound to another space than task.config_space")
            self.space = cost_model.space
        epsilon = resolve_epsilon(owner, epsilon, uncertainty_aware, eps_range, epsilon)
        self.planner = Planner(plan_size, first_fit, epsilon, local_share, owner=owner)
        self.local_top = check_positive_int(local_top, "local_top", owner)
        self.marginal_share = check_fraction(marginal_share, "marginal_share", owner)
        self.thompson_share = check_fraction(thompson_share, "thompson_share", owner)
        if self.thompson_share > 0 and type(cost_model).draws is CostModel.draws:
            raise ArgumentError(f"{owner}: thompson_share needs a cost model that gives samples "
                                f"(CostModel.draws); {type(cost_model).__name__} does not")
        self.cost_model = cost_model
        self.model_optimizer = model_optimizer or SimulatedAnnealingOptimizer(self.space)
        self._ratio_sa: Optional[SimulatedAnnealingOptimizer] = None  # see _marginal_optimizer
        self.model_time = 0.0
        self._exhausted = False
        self._siblings: List[Any] = []
        self._mapped: dict = {}
        self._warm_started = False
        self._batch = 1  # the last batch asked for: a plan covers at least one

    # The planner owns these; the names are the tuner's public (AutoTVM-style) ones.
    plan_size = property(lambda self: self.planner.plan_size)
    first_fit = property(lambda self: self.planner.first_fit)
    local_share = property(lambda self: self.planner.local_share)
    epsilon_policy = property(lambda self: self.planner.policy)
    epsilon_history = property(lambda self: self.planner.epsilon_history)
    train_ct = property(lambda self: self.planner.n_fits)
    trials = property(lambda self: self.planner.plan)
    trial_pt = property(lambda self: self.planner.pos)

    @property
    def epsilon(self) -> float:
        return self.planner.epsilon

    def has_next(self) -> bool:
        return not self._exhausted and super().has_next()

    # ------------------------------------------------------------------ transfer
    def transfer_from(self, tuners: List["ModelBasedTuner"]) -> None:
        """Learn also from what ``tuners`` measure: tuners of other tasks of the same
        template (another layer shape). At every fit, their configs that exist in this
        space (same tile sizes and knob values) join the training data, each task's
        throughputs as fractions of its own best (so shapes of different speed mix), and
        a tuner with no data of its own yet starts from a model fitted on them."""
        self._siblings = [t for t in tuners if t is not self]

    def _transfer_data(self) -> Tuple[List[int], List[float]]:
        xs: List[int] = []
        ys: List[float] = []
        for other in self._siblings:
            top = max(other.ys, default=0.0)
            if top <= 0:
                continue
            for idx, y in zip(other.xs, other.ys):
                key = (id(other), idx)
                if key not in self._mapped:
                    try:
                        mine = self.space.index_of(other.space.get(idx).entity_json())
                        self._mapped[key] = mine if self.space.is_valid(mine) else None
                    except (ValueError, KeyError):
                        self._mapped[key] = None
                mine = self._mapped[key]
                if mine is not None and mine not in self.visited:
                    xs.append(mine)
                    ys.append(y / top)
        return xs, ys

    def next_batch(self, batch_size: int) -> List[Any]:
        self._batch = max(1, int(batch_size))
        if self._siblings and not self._warm_started and self.planner.n_fits == 0:
            self._warm_started = True
            if self._transfer_data()[0]:
                self._refit()  # plan the very first batch with the siblings' model
        def random_pick(taken):
            picks = self.space.sample(1, self.rng, exclude=taken)
            return picks[0] if picks else None

        picks = self.planner.propose(batch_size, self.visited, random_pick)
        if len(picks) < batch_size:
            self._exhausted = True
        return [self.space.get(idx) for idx in picks]

    def update(self, inputs, results) -> None:
        super().update(inputs, results)
        if self.planner.observe(len(results)):
            self._refit()

    def _absorb_history(self, inputs, results) -> None:
        super()._absorb_history(inputs, results)
        self._refit()

    def _training_data(self) -> Tuple[List[int], List[float], float]:
        """Own measurements plus the siblings' (scaled to own units), and the unit: the
        best own throughput, or 1 when only siblings' fractions are known."""
        t_xs, t_ys = self._transfer_data() if self._siblings else ([], [])
        if self.best_throughput > 0:
            scale = self.best_throughput
            return list(self.xs) + t_xs, list(self.ys) + [v * scale for v in t_ys], scale
        if t_xs:
            return t_xs, t_ys, 1.0
        return [], [], 0.0

    def _refit(self) -> None:
        xs, ys, unit = self._training_data()
        if not xs or unit <= 0:
            self.planner.restart_count()  # nothing to learn from yet: keep exploring
            return
        t0 = time.time()
        self.cost_model.fit(xs, ys)
        best = unit / self.cost_model.y_scale_

        def spread(n: int) -> Optional[np.ndarray]:
            sample = self.space.sample(n, self.rng)
            return self.cost_model.predict(sample)[1] if sample else None

        # A batch larger than the plan (a farm, a wide builder) would otherwise be
        # topped up with random configs; plan the whole batch instead.
        size = max(self.planner.plan_size, self._batch)
        n_model, n_local = self.planner.start_plan(spread, best, size=size)
        score = lambda pts: self.cost_model.acquisition(pts, best)  # noqa: E731
        local = self._local_picks(score, n_local)
        n_marginal = min(n_model - len(local), int(round(self.marginal_share * n_model)))
        if n_marginal > 0 and self.xs:
            from .marginal import knob_ratio_score

            local = local + self._marginal_optimizer().find_maximums(
                knob_ratio_score(self.space, self.xs, self.ys), n_marginal,
                self.visited | set(local), self.rng)
        n_draws = int(round(self.thompson_share * max(0, n_model - len(local))))
        if n_draws > 0:
            local = local + self._thompson_picks(score, n_draws, self.visited | set(local))
        # Ranked by the acquisition: the rest of the plan. Skipped when the picks above
        # already fill it (the default): the pass scores the whole space once more.
        maximums: List[int] = []
        if len(local) < n_model:
            maximums = self.model_optimizer.find_maximums(score, size, self.visited | set(local), self.rng)
        self.planner.set_plan(local, maximums, n_model, exclude=self.visited)
        self.model_time += time.time() - t0
        own = len(self.xs) if self.best_throughput > 0 else 0
        logger.debug("refit #%d on %d points (%d transferred): eps=%.3f, %d model picks (%d local)",
                     self.train_ct, len(xs), len(xs) - own, self.epsilon, len(self.trials), len(local))

    def _thompson_picks(self, score, num: int, taken: set) -> List[int]:
        """``num`` distinct configs, each the best of ``taken``'s complement under one
        sample of the model drawn at random (ties: the model's mean, then at random).
        The candidates are the whole space when it is scored exhaustively, else the
        model optimizer's top ``8 * num`` under the acquisition."""
        if isinstance(self.model_optimizer, ExhaustiveOptimizer):
            pool = self.model_optimizer.candidates(taken)
        else:
            found = self.model_optimizer.find_maximums(score, 8 * num, taken, self.rng)
            pool = np.asarray(found, dtype=np.int64)
        if not len(pool):
            return []
        pool = pool[self.rng.permutation(len(pool))]
        samples = np.asarray(self.cost_model.draws(pool.tolist()), dtype=np.float64)
        # A tree is flat over whole leaves: its ties go to the forest's mean.
        samples = samples + 1e-6 * samples.mean(axis=0)
        free = np.ones(len(pool), dtype=bool)
        picks: List[int] = []
        for row in self.rng.integers(len(samples), size=min(num, len(pool))):
            j = int(np.argmax(np.where(free, samples[row], -np.inf)))
            free[j] = False
            picks.append(int(pool[j]))
        return picks

    def _marginal_optimizer(self) -> Any:
        """The optimizer of the knob-ratio picks: annealing walkers of their own (the
        model's persist between refits and must not be moved by another score)."""
        opt = self.model_optimizer
        if not isinstance(opt, SimulatedAnnealingOptimizer):
            return opt
        if self._ratio_sa is None:
            self._ratio_sa = SimulatedAnnealingOptimizer(self.space, parallel_size=opt.parallel_size,
                                                         n_iter=opt.n_iter)
        return self._ratio_sa

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

"""``DynamicEpsilonSearch``: MetaSchedule's evolutionary search with AdaTune's dynamic epsilon.

MetaSchedule's ``EvolutionarySearch`` mixes a fixed share ``eps_greedy`` (0.05) of random
candidates into every batch, and that share is read-only after construction.  This
strategy wraps two inner strategies instead:

* an ``EvolutionarySearch(eps_greedy=0)`` that proposes purely model-guided candidates;
* a ``ReplayTrace`` that proposes random samples of the design space;

and in every iteration takes a share ``epsilon`` of the batch from the random one.
Epsilon follows the cost model's uncertainty (:class:`adatune.tuner.epsilon.UncertaintyEpsilon`:
mean per-tree spread over fresh random candidates, relative to the best normalised
throughput, clipped to ``[eps_low, eps_high]``): explore while the model is unsure, exploit
once it is right.  Before the model is trained the batch is all random (and the costly
evolutionary step is skipped).  With a cost model that reports no uncertainty (anything
but :class:`RFEICostModel`), epsilon stays at ``fallback_eps``.  Candidates already
measured or proposed twice in a batch are dropped.
"""
from __future__ import annotations

import logging
from typing import Any, List, Optional

import numpy as np
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.search_strategy import PySearchStrategy

from ..tuner.epsilon import DEFAULT_EPS_RANGE, UncertaintyEpsilon

logger = logging.getLogger(__name__)

__all__ = ["DynamicEpsilonSearch"]


class _RowSample:
    """The "space" UncertaintyEpsilon samples from: feature rows of random candidates."""

    def __init__(self, rows: np.ndarray):
        self.rows = rows

    def sample(self, n: int, rng: np.random.Generator) -> list:
        if len(self.rows) == 0:
            return []
        pick = rng.choice(len(self.rows), size=min(n, len(self.rows)), replace=False)
        return [self.rows[i] for i in pick]


@derived_object
class DynamicEpsilonSearch(PySearchStrategy):
    """Evolutionary exploitation plus uncertainty-driven random exploration.

    Parameters
    ----------
    population_size, init_measured_ratio, init_min_unmeasured, genetic_num_iters,
    genetic_mutate_prob, max_fail_count :
        Passed to the inner ``EvolutionarySearch``.  MetaSchedule's defaults are a
        population of 512 and 4 genetic iterations; on CPU that step dominates the wall
        time of an iteration, and with the random share now explicit the smaller
        population (256, 3 iterations) is the default here.
    eps_low, eps_high : float
        Clip range of the dynamic epsilon (:data:`adatune.tuner.epsilon.DEFAULT_EPS_RANGE`).
    n_uncertainty_samples : int, default 64
        Random candidates on which the model's uncertainty is averaged.
    fallback_eps : float, default 0.05
        Epsilon when the cost model reports no uncertainty.
    uncertainty_model : RFEICostModel, optional
        The model whose spread sets epsilon; usually the tuning's cost model (MetaSchedule
        hands strategies a C++ handle of it, which hides the forest, so it is passed here;
        :func:`adatune.metaschedule.tune_tir` does that).  Without one, ``fallback_eps``.
    seed : int, optional
        Seeds the choice of uncertainty samples.

    Attributes
    ----------
    epsilons_ : list of float
        The epsilon used in each iteration.
    """

    def __init__(self, population_size: int = 256, init_measured_ratio: float = 0.2,
                 init_min_unmeasured: int = 50, genetic_num_iters: int = 3,
                 genetic_mutate_prob: float = 0.85, max_fail_count: int = 5,
                 eps_low: float = DEFAULT_EPS_RANGE[0], eps_high: float = DEFAULT_EPS_RANGE[1],
                 n_uncertainty_samples: int = 64, fallback_eps: float = 0.05,
                 uncertainty_model: Any = None, seed: Optional[int] = None) -> None:
        super().__init__()
        if not 0.0 <= fallback_eps <= 1.0:
            raise ValueError(f"DynamicEpsilonSearch: fallback_eps must lie in [0, 1], got {fallback_eps}")
        if isinstance(population_size, bool) or not isinstance(population_size, int) or population_size < 2:
            raise ValueError(f"DynamicEpsilonSearch: population_size must be an int >= 2, "
                             f"got {population_size!r}")
        self._params = dict(
            population_size=population_size, init_measured_ratio=init_measured_ratio,
            init_min_unmeasured=init_min_unmeasured, genetic_num_iters=genetic_num_iters,
            genetic_mutate_prob=genetic_mutate_prob, max_fail_count=max_fail_count,
            eps_low=eps_low, eps_high=eps_high, n_uncertainty_samples=n_uncertainty_samples,
            fallback_eps=fallback_eps, seed=seed)
        self.uncertainty_model = None
        self.set_uncertainty_model(uncertainty_model)
        # UncertaintyEpsilon validates the clip range and the sample count.
        self.policy = UncertaintyEpsilon(eps_low, eps_high, n_uncertainty_samples)
        self.fallback_eps = float(fallback_eps)
        self._rng = np.random.default_rng(seed)
        self._evo = None
        self._replay = None
        self._context = None
        self._reset()
        self.epsilons_: List[float] = []

    def set_uncertainty_model(self, model: Any) -> None:
        """Use ``model`` (an :class:`RFEICostModel` or None) to set epsilon; kept by ``clone``."""
        if model is not None and not all(hasattr(model, a) for a in ("fitted", "features", "forest")):
            raise ValueError(f"uncertainty_model must be an RFEICostModel, got {type(model).__name__}")
        self.uncertainty_model = model
        self._params["uncertainty_model"] = model

    def _reset(self) -> None:
        self._cost_model = None
        self._max_trials = 0
        self._per_iter = 0
        self._trials = 0
        self._seen: set = set()
        self._origin: List[str] = []

    # -- PySearchStrategy -------------------------------------------------------------
    def _initialize_with_tune_context(self, context: Any) -> None:
        from tvm.s_tir.meta_schedule.search_strategy import EvolutionarySearch, ReplayTrace

        p = self._params
        self._evo = EvolutionarySearch(
            population_size=p["population_size"], init_measured_ratio=p["init_measured_ratio"],
            init_min_unmeasured=p["init_min_unmeasured"], max_fail_count=p["max_fail_count"],
            genetic_num_iters=p["genetic_num_iters"], genetic_mutate_prob=p["genetic_mutate_prob"],
            eps_greedy=0.0)
        self._replay = ReplayTrace()
        self._evo._initialize_with_tune_context(context)
        self._replay._initialize_with_tune_context(context)
        self._context = context

    def pre_tuning(self, max_trials: int, num_trials_per_iter: int, design_spaces: List[Any],
                   database: Any = None, cost_model: Any = None) -> None:
        if self._evo is None:
            raise ValueError("DynamicEpsilonSearch: not initialized with a TuneContext")
        self._reset()
        self._max_trials = int(max_trials)
        self._per_iter = int(num_trials_per_iter)
        self._cost_model = cost_model
        # Each inner strategy counts only the candidates we forward to it; the budget we
        # give them is generous so neither stops before we do.
        budget = 2 * self._max_trials + self._per_iter
        self._evo.pre_tuning(budget, self._per_iter, design_spaces, database, cost_model)
        self._replay.pre_tuning(budget, self._per_iter, design_spaces, database, cost_model)

    def post_tuning(self) -> None:
        if self._evo is not None:
            self._evo.post_tuning()
            self._replay.post_tuning()

    def _epsilon(self, random_candidates: List[Any]) -> float:
        model = self.uncertainty_model
        if model is None:
            return self.fallback_eps
        if not model.fitted or not random_candidates:
            return self.policy.initial
        rows = model.features(self._context, random_candidates)
        return float(self.policy(model.forest, _RowSample(rows), 1.0, self._rng))

    def _take(self, candidates: Optional[List[Any]], n: int, origin: str, out: List[Any]) -> None:
        from tvm_ffi import structural_hash

        for cand in candidates or []:
            if n <= 0:
                return
            key = structural_hash(cand.sch.mod)
            if key in self._seen:
                continue
            self._seen.add(key)
            out.append(cand)
            self._origin.append(origin)
            n -= 1

    def generate_measure_candidates(self) -> Optional[List[Any]]:
        left = self._max_trials - self._trials
        if left <= 0:
            return None
        n = min(self._per_iter, left)
        randoms = list(self._replay.generate_measure_candidates() or [])
        eps = self._epsilon(randoms)
        self.epsilons_.append(eps)
        n_rand = int(round(eps * n))
        out: List[Any] = []
        self._origin = []
        if n - n_rand > 0:
            self._take(self._evo.generate_measure_candidates(), n - n_rand, "evo", out)
        # Random candidates fill the exploration share and whatever evolution left open.
        self._take(randoms, n - len(out), "rand", out)
        logger.info("DynamicEpsilonSearch: epsilon %.3f, %d model-guided + %d random candidates",
                    eps, self._origin.count("evo"), self._origin.count("rand"))
        return out or None

    def notify_runner_results(self, measure_candidates: List[Any], results: List[Any]) -> None:
        self._trials += len(results)
        origin = self._origin if len(self._origin) == len(results) else ["rand"] * len(results)
        for name, inner in (("evo", self._evo), ("rand", self._replay)):
            idx = [i for i, o in enumerate(origin) if o == name]
            if idx:
                inner.notify_runner_results([measure_candidates[i] for i in idx],
                                            [results[i] for i in idx])

    def clone(self) -> "DynamicEpsilonSearch":
        return DynamicEpsilonSearch(**self._params)

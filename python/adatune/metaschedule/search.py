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
once it is right. The split of each batch is the shared
:class:`~adatune.tuner.planner.Planner`'s, as in template and application tuning; here a
plan is one MetaSchedule iteration and MetaSchedule refits its cost model itself.  Before the model is trained the batch is all random (and the costly
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

from .._checks import check_fraction, check_int
from ..errors import ArgumentError, ArgumentTypeError
from ..tuner.epsilon import DEFAULT_EPS_RANGE, FixedEpsilon, UncertaintyEpsilon
from ..tuner.planner import Planner

_INT32_MAX = 2 ** 31 - 1

logger = logging.getLogger(__name__)

__all__ = ["DynamicEpsilonSearch"]


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
        owner = "DynamicEpsilonSearch"
        fallback_eps = check_fraction(fallback_eps, "fallback_eps", owner)
        check_int(population_size, "population_size", owner, low=2)
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
        self.fallback_eps = fallback_eps
        self.planner: Optional[Planner] = None
        self._rng = np.random.default_rng(seed)
        self._evo = None
        self._replay = None
        self._context = None
        self._reset()
        self.epsilons_: List[float] = []

    def set_uncertainty_model(self, model: Any) -> None:
        """Use ``model`` (an :class:`RFEICostModel` or None) to set epsilon; kept by ``clone``."""
        if model is not None and not all(hasattr(model, a) for a in ("fitted", "features", "forest")):
            raise ArgumentTypeError(f"uncertainty_model must be an RFEICostModel, got {type(model).__name__}")
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
            raise ArgumentError("DynamicEpsilonSearch: not initialized with a TuneContext")
        self._reset()
        self._max_trials = int(max_trials)
        self._per_iter = int(num_trials_per_iter)
        self._cost_model = cost_model
        policy = self.policy if self.uncertainty_model is not None else FixedEpsilon(self.fallback_eps)
        self.planner = Planner(max(1, self._per_iter), epsilon=policy, owner="DynamicEpsilonSearch")
        # Each inner strategy counts only the candidates we forward to it; the budget we
        # give them is generous so neither stops before we do.  MetaSchedule keeps it in an
        # int32: the model tasks' "unbounded" 2**30, doubled, wrapped negative and the inner
        # strategies proposed nothing.
        budget = min(2 * self._max_trials + self._per_iter, _INT32_MAX)
        self._evo.pre_tuning(budget, self._per_iter, design_spaces, database, cost_model)
        self._replay.pre_tuning(budget, self._per_iter, design_spaces, database, cost_model)

    def post_tuning(self) -> None:
        if self._evo is not None:
            self._evo.post_tuning()
            self._replay.post_tuning()

    def _split(self, random_candidates: List[Any], n: int) -> int:
        """Model-guided candidates of this iteration's ``n``; records epsilon."""
        model = self.uncertainty_model
        if model is not None and (not model.fitted or not random_candidates):
            eps, n_model = self.policy.initial, 0  # no model yet: all random
        else:
            def spread(k: int) -> np.ndarray:
                pick = self._rng.choice(len(random_candidates), size=min(k, len(random_candidates)),
                                        replace=False)
                rows = model.features(self._context, [random_candidates[i] for i in pick])
                return model.forest.predict(rows)[1]

            # normalised throughputs: the best measured is 1 by construction
            n_model, _ = self.planner.start_plan(spread, 1.0, size=n)
            eps = self.planner.epsilon
        self.epsilons_.append(eps)
        return n_model

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
        n_model = self._split(randoms, n)
        out: List[Any] = []
        self._origin = []
        if n_model > 0:
            self._take(self._evo.generate_measure_candidates(), n_model, "evo", out)
        # Random candidates fill the exploration share and whatever evolution left open.
        self._take(randoms, n - len(out), "rand", out)
        logger.info("DynamicEpsilonSearch: epsilon %.3f, %d model-guided + %d random candidates",
                    self.epsilons_[-1], self._origin.count("evo"), self._origin.count("rand"))
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

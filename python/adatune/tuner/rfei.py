"""AdaTune's tuner: random forest + expected improvement + uncertainty-aware epsilon."""
from __future__ import annotations

from typing import Any, Optional, Union

from .._seeding import sub_seed
from .cost_model import ForestCostModel
from .epsilon import UNSET, EpsilonPolicy, UncertaintyEpsilon, resolve_epsilon
from .model_based import ModelBasedTuner
from .exhaustive import DEFAULT_EXHAUSTIVE_LIMIT, ExhaustiveOptimizer
from .sa import SimulatedAnnealingOptimizer

__all__ = ["RFEITuner", "RFEI_EPS_RANGE"]

#: Clip range of RFEITuner's uncertainty-aware epsilon.
RFEI_EPS_RANGE = (0.02, 0.2)


class RFEITuner(ModelBasedTuner):
    """Random-forest cost model, Thompson draws and expected improvement, dynamic epsilon.

    Parameters
    ----------
    task : Task
    plan_size : int, default 8
        Measurements between model fits (AutoTVM: 64), and the least size of a plan (a
        larger batch is planned whole). Short plans let the forest learn from each
        batch of 8 (docs/tuners.md, "Defaults under leave-one-space-out").
    n_estimators : int, default 100
    xi : float, default 0.0
        EI margin as a fraction of the best measured throughput.
    max_features, min_samples_leaf
        Forest parameters (see :class:`~adatune.tuner.ForestEI`).
    epsilon : float or EpsilonPolicy, optional
        Share of random picks per plan. Default ``UncertaintyEpsilon(0.02, 0.2)``: from
        the forest's uncertainty, capped at 0.2 so that a young forest's plans stay
        mostly model-guided (the generic :data:`DEFAULT_EPS_RANGE` allows 0.5). A
        number gives a fixed share (AutoTVM: 0.05).
    sa_iters : int, optional
        Simulated annealing iterations per refit, used on spaces larger than
        ``exhaustive_limit``. Default ``max(100, 500 * plan_size // 64)``: AutoTVM's 500
        per 64 trials, so the annealing effort per measured trial stays the same when
        plans are shorter (the walkers persist between refits).
    sa_parallel : int, default 128
        Simulated annealing walkers.
    n_jobs : int, default 1
    first_fit : int, default 8
        Random measurements before the first fit (AutoTVM waits a whole plan). A forest
        fitted on 8 points already steers the next batch, and the uncertainty-aware
        epsilon keeps it exploratory while the model is unsure; ``None`` waits
        ``plan_size`` measurements like the baseline.
    exhaustive_limit : int
        Spaces up to this size are scored whole instead of annealed.
    local_share : float, default 0.5
        Share of each plan's model picks taken from the one-knob neighbourhoods of the
        ``local_top`` best measured configs (see :class:`ModelBasedTuner`).
    local_top : int, default 4
    marginal_share : float, default 0.0
        Share of each plan's model picks ranked by a per-knob density ratio (see
        :class:`ModelBasedTuner`).
    thompson_share : float, default 1.0
        Share of each plan's global model picks taken by Thompson draws, each the best
        unvisited config under one tree drawn at random (see :class:`ModelBasedTuner`);
        the rest are EI's top configs. With plans of 8, draws need 0.89x the trials of
        EI's ranking in the replay benchmark (44.0 against 49.5, 19 spaces, seeds 0-19;
        38.5 with stop 24's random stream); 0 ranks by EI only.
    seed : int or numpy Generator, optional
    uncertainty_aware, eps_range
        Deprecated: ``epsilon=UncertaintyEpsilon(*eps_range)`` or ``epsilon=<float>``.
    """

    def __init__(self, task: Any, plan_size: int = 8, n_estimators: int = 100, xi: float = 0.0,
                 max_features=1.0, min_samples_leaf: int = 1,
                 epsilon: Union[None, float, EpsilonPolicy] = None,
                 sa_iters: Optional[int] = None, sa_parallel: int = 128, n_jobs: int = 1,
                 first_fit: Optional[int] = 8, exhaustive_limit: int = DEFAULT_EXHAUSTIVE_LIMIT,
                 local_share: float = 0.5, local_top: int = 4, seed=None, *,
                 marginal_share: float = 0.0, thompson_share: float = 1.0,
                 uncertainty_aware: Any = UNSET, eps_range: Any = UNSET):
        space = task.config_space
        if space.n_configs <= exhaustive_limit:
            optimizer: Any = ExhaustiveOptimizer(space, max_configs=exhaustive_limit)
        else:
            optimizer = SimulatedAnnealingOptimizer(space, parallel_size=sa_parallel,
                                                    n_iter=500 if sa_iters is None else sa_iters)
        epsilon = resolve_epsilon("RFEITuner", epsilon, uncertainty_aware, eps_range,
                                  UncertaintyEpsilon(*RFEI_EPS_RANGE))
        super().__init__(task, ForestCostModel(space, n_estimators=n_estimators, xi=xi,
                                               max_features=max_features, min_samples_leaf=min_samples_leaf,
                                               random_state=sub_seed(seed, 1), n_jobs=n_jobs),
                         optimizer, plan_size=plan_size, epsilon=epsilon, first_fit=first_fit,
                         local_share=local_share, local_top=local_top, seed=seed,
                         marginal_share=marginal_share, thompson_share=thompson_share)
        if sa_iters is None and isinstance(optimizer, SimulatedAnnealingOptimizer):
            # Sized from the plan ModelBasedTuner has just validated.
            optimizer.n_iter = max(100, 500 * self.plan_size // 64)

"""The AutoTVM baseline tuner: XGBoost cost model, fixed epsilon 0.05."""
from __future__ import annotations

from typing import Any, Optional

from .model_based import ModelBasedTuner
from .._seeding import sub_seed
from .sa import SimulatedAnnealingOptimizer
from .xgb_model import XGBoostCostModel

__all__ = ["XGBTuner"]


class XGBTuner(ModelBasedTuner):
    """AutoTVM's ``XGBTuner``: boosted trees on knob features, ranked by predicted score.

    Parameters
    ----------
    task : Task
    loss_type : {"reg", "rank"}, default "reg"
    plan_size : int, default 64
    epsilon : float or EpsilonPolicy, default 0.05
    num_boost_round : int, default 200
    sa_iters, sa_parallel : int
    n_jobs : int, default 1
    first_fit : int, optional
        Measurements before the first fit (default ``plan_size``, as AutoTVM).
    seed : int, optional
    """

    def __init__(self, task: Any, loss_type: str = "reg", plan_size: int = 64, epsilon: float = 0.05,
                 num_boost_round: int = 200, sa_iters: int = 500, sa_parallel: int = 128, n_jobs: int = 1,
                 first_fit: Optional[int] = None, seed: Optional[int] = None):
        space = task.config_space
        super().__init__(task, XGBoostCostModel(space, loss_type=loss_type, num_boost_round=num_boost_round,
                                                random_state=sub_seed(seed, 2), n_jobs=n_jobs),
                         SimulatedAnnealingOptimizer(space, parallel_size=sa_parallel, n_iter=sa_iters),
                         plan_size=plan_size, epsilon=epsilon,
                         first_fit=first_fit, seed=seed)
        self.loss_type = loss_type

"""XGBoost cost model, the AutoTVM baseline (regression or pairwise-rank loss)."""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import numpy as np

from .cost_model import CostModel
from ..errors import ArgumentError

__all__ = ["XGBoostCostModel"]


class XGBoostCostModel(CostModel):
    """Gradient-boosted trees on knob features, as AutoTVM's ``XGBoostCostModel``.

    Parameters
    ----------
    space : ConfigSpace
    loss_type : {"reg", "rank"}
        ``"reg"``: squared error on normalised throughput; ``"rank"``: pairwise ranking.
    num_boost_round : int, default 200
    random_state : int, optional
    n_jobs : int, default 1

    Boosting gives no uncertainty: :meth:`predict` returns a zero std, so an
    uncertainty-aware epsilon falls to its lower bound with this model.
    """

    def __init__(self, space: Any, loss_type: str = "reg", num_boost_round: int = 200,
                 random_state: Optional[int] = None, n_jobs: int = 1):
        super().__init__(space)
        if loss_type not in ("reg", "rank"):
            raise ArgumentError(f"XGBoostCostModel: loss_type must be 'reg' or 'rank', got {loss_type!r}")
        self.loss_type = loss_type
        self.num_boost_round = int(num_boost_round)
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.booster_ = None
        # AutoTVM's parameters for this model
        self.params = {
            "max_depth": 3, "gamma": 0.0001, "min_child_weight": 1, "subsample": 1.0,
            "eta": 0.3, "lambda": 1.0, "alpha": 0.0,
            "objective": "reg:squarederror" if loss_type == "reg" else "rank:pairwise",
            "nthread": n_jobs, "seed": 0 if random_state is None else int(random_state) % (2 ** 31),
            "verbosity": 0,
        }

    def fit(self, xs: Sequence[int], ys: Sequence[float]) -> "XGBoostCostModel":
        import xgboost as xgb

        xs, y = self._check(xs, ys)
        dtrain = xgb.DMatrix(self._features(xs), label=self._normalise(y), nthread=self.n_jobs)
        if self.loss_type == "rank":
            dtrain.set_group([len(xs)])
        self.booster_ = xgb.train(self.params, dtrain, num_boost_round=self.num_boost_round)
        return self

    def predict(self, xs: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        if self.booster_ is None:
            raise ArgumentError("XGBoostCostModel: call fit() before predict()")
        # inplace_predict skips building a DMatrix, which dominates on SA's small batches
        mean = self.booster_.inplace_predict(self._features(xs))
        return np.asarray(mean, dtype=np.float64), np.zeros(len(mean))

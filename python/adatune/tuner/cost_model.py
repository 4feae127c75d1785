"""Cost models over a config space: the interface and the random-forest model.

A cost model predicts a *score* (higher is better: throughput normalised by the best
measured one) for config indices of one space, with an uncertainty.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Optional, Sequence, Tuple

import numpy as np

from .forest import ForestEI, expected_improvement
from ..errors import ArgumentError

__all__ = ["CostModel", "ForestCostModel", "records_to_training"]


def records_to_training(records: Iterable[Any], space: Any, flop: float = 0.0) -> Tuple[list, list]:
    """Turn records (``adatune.records.Record``) into ``(indices, throughputs)``.

    Records whose entity does not belong to ``space`` are skipped; failures score 0.
    Throughput is ``flop / mean_cost`` (``1 / mean_cost`` when ``flop`` is 0).
    """
    xs, ys = [], []
    for rec in records:
        try:
            idx = space.index_of([list(e) for e in rec.entity])
        except ValueError:
            continue
        cost = rec.mean_cost
        ok = rec.error_no == 0 and math.isfinite(cost) and cost > 0
        xs.append(idx)
        ys.append((flop if flop > 0 else 1.0) / cost if ok else 0.0)
    return xs, ys


class CostModel:
    """Interface of the cost models a :class:`~adatune.tuner.ModelBasedTuner` drives.

    Parameters
    ----------
    space : ConfigSpace
        The space whose indices ``fit`` and ``predict`` receive.
    """

    def __init__(self, space: Any):
        self.space = space
        self.y_scale_ = 1.0

    def _features(self, xs: Sequence[int]) -> np.ndarray:
        return self.space.features(xs)

    def fit(self, xs: Sequence[int], ys: Sequence[float]) -> "CostModel":
        """Fit on measured configs ``xs`` (indices) and their throughputs ``ys`` (0 = failed)."""
        raise NotImplementedError

    def fit_log(self, records: Iterable[Any], flop: float = 0.0) -> "CostModel":
        """Fit on earlier records of the same task (see :func:`records_to_training`)."""
        xs, ys = records_to_training(records, self.space, flop)
        if not xs:
            raise ArgumentError("fit_log: no record belongs to this space")
        return self.fit(xs, ys)

    def predict(self, xs: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        """Predicted normalised throughput and its uncertainty (std) per config."""
        raise NotImplementedError

    def acquisition(self, xs: Sequence[int], best: float) -> np.ndarray:
        """Score used to rank unmeasured configs; the predicted mean by default."""
        return self.predict(xs)[0]

    def draws(self, xs: Sequence[int]) -> np.ndarray:
        """Samples of the score, shape ``(n_draws, len(xs))``, for Thompson picks;
        a model without a sample of its own gives none."""
        raise ArgumentError(f"{type(self).__name__} gives no samples for Thompson picks")

    @staticmethod
    def _check(xs: Sequence[int], ys: Sequence[float]) -> Tuple[list, np.ndarray]:
        xs = list(xs)
        y = np.asarray(ys, dtype=np.float64)
        if y.ndim != 1 or len(xs) != len(y):
            raise ArgumentError(f"fit: {len(xs)} configs but {y.size} targets")
        if len(xs) == 0:
            raise ArgumentError("fit: no training data")
        if not np.isfinite(y).all() or (y < 0).any():
            raise ArgumentError("fit: throughputs must be finite and >= 0 (0 marks a failure)")
        return xs, y

    def _normalise(self, y: np.ndarray) -> np.ndarray:
        # Scale-free targets: best measured = 1, so uncertainty reads as a fraction of it.
        top = float(y.max())
        self.y_scale_ = top if top > 0 else 1.0
        return y / self.y_scale_


class ForestCostModel(CostModel):
    """AdaTune's model: :class:`ForestEI` on knob features, ranked by expected improvement.

    Parameters
    ----------
    space : ConfigSpace
    n_estimators : int, default 100
    xi : float, default 0.0
        EI margin in normalised units (fraction of the best measured throughput).
    max_features, min_samples_leaf
        Forest parameters, see :class:`ForestEI`.
    random_state : int, optional
    n_jobs : int, default 1
    """

    def __init__(self, space: Any, n_estimators: int = 100, xi: float = 0.0, max_features=1.0,
                 min_samples_leaf: int = 1, random_state: Optional[int] = None, n_jobs: int = 1):
        super().__init__(space)
        self.forest = ForestEI(n_estimators=n_estimators, xi=xi, max_features=max_features,
                               min_samples_leaf=min_samples_leaf, random_state=random_state, n_jobs=n_jobs)

    def fit(self, xs: Sequence[int], ys: Sequence[float]) -> "ForestCostModel":
        xs, y = self._check(xs, ys)
        self.forest.fit(self._features(xs), self._normalise(y))
        return self

    def predict(self, xs: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
        return self.forest.predict(self._features(xs))

    def draws(self, xs: Sequence[int]) -> np.ndarray:
        """Every tree's prediction, shape ``(n_estimators, len(xs))``: the forest's
        samples of the score, which Thompson picks draw from."""
        return self.forest.tree_predictions(self._features(xs))

    def acquisition(self, xs: Sequence[int], best: float) -> np.ndarray:
        mean, std = self.predict(xs)
        return expected_improvement(mean, std, best, self.forest.xi)

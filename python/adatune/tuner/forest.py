"""Random forest with per-tree uncertainty and expected improvement (AdaTune's model).

Space-agnostic: it sees feature matrices and targets only, so the template tuner
(:class:`~adatune.tuner.RFEITuner`) and the MetaSchedule cost model share it.

The forest's mean is the average of its trees' predictions; its uncertainty is the
standard deviation across trees. Candidates are ranked by expected improvement over
the best value measured so far (maximisation)::

    d  = mu - best - xi
    z  = d / sigma
    EI = d * Phi(z) + sigma * phi(z)        (sigma > 0)
    EI = max(d, 0)                          (sigma = 0, the limit of the above)
"""
from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from .._checks import check_int, check_number
from ..errors import ArgumentError

__all__ = ["ForestEI", "expected_improvement"]

_SQRT_2PI = np.sqrt(2.0 * np.pi)


def expected_improvement(mean: np.ndarray, std: np.ndarray, best: float, xi: float = 0.0) -> np.ndarray:
    """Expected improvement of a Gaussian ``N(mean, std^2)`` over ``best`` (maximising).

    ``std == 0`` gives ``max(mean - best - xi, 0)``; the result is always finite and
    non-negative for finite inputs.
    """
    from scipy.special import ndtr  # deferred: scipy.special costs ~0.3 s to import

    mean = np.asarray(mean, dtype=np.float64)
    std = np.asarray(std, dtype=np.float64)
    if mean.shape != std.shape:
        raise ArgumentError(f"expected_improvement: mean {mean.shape} and std {std.shape} differ in shape")
    if not np.isfinite(best):
        raise ArgumentError(f"expected_improvement: best must be finite, got {best}")
    if np.any(std < 0):
        raise ArgumentError("expected_improvement: std must be non-negative")
    d = mean - float(best) - float(xi)
    pos = std > 0
    safe = np.where(pos, std, 1.0)
    z = np.clip(d / safe, -40.0, 40.0)  # beyond |z| = 40, Phi is 0 or 1 and phi is 0
    ei = d * ndtr(z) + safe * np.exp(-0.5 * z * z) / _SQRT_2PI
    return np.where(pos, np.maximum(ei, 0.0), np.maximum(d, 0.0))


class ForestEI:
    """A random forest regressor that reports a mean, an uncertainty and EI.

    Parameters
    ----------
    n_estimators : int, default 100
        Number of trees.
    min_samples_leaf : int, default 1
    max_features : float, int or str, default 1.0
        As in :class:`sklearn.ensemble.RandomForestRegressor`.
    xi : float, default 0.0
        Exploration margin of :meth:`expected_improvement`, in target units.
    n_jobs : int, default 1
        Threads for fitting (one keeps tuning frugal on shared machines).
    random_state : int, optional
    """

    def __init__(self, n_estimators: int = 100, min_samples_leaf: int = 1, max_features=1.0,
                 xi: float = 0.0, n_jobs: int = 1, random_state: Optional[int] = None):
        # Two trees at least: the spread across them is the uncertainty.
        self.n_estimators = check_int(n_estimators, "n_estimators", "ForestEI", low=2)
        xi = check_number(xi, "xi", "ForestEI", low=0.0)
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.xi = float(xi)
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.forest_ = None
        self.n_features_: Optional[int] = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> "ForestEI":
        """Fit on features ``X`` (n, d) and targets ``y`` (n,)."""
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
            raise ArgumentError(f"ForestEI.fit: X must be (n, d) and y (n,), got {X.shape} and {y.shape}")
        if len(y) == 0:
            raise ArgumentError("ForestEI.fit: no training data")
        if not (np.isfinite(X).all() and np.isfinite(y).all()):
            raise ArgumentError("ForestEI.fit: X and y must be finite")
        from sklearn.ensemble import RandomForestRegressor  # deferred: a heavy import

        self.forest_ = RandomForestRegressor(
            n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
            max_features=self.max_features, bootstrap=True, n_jobs=self.n_jobs,
            random_state=self.random_state)
        self.forest_.fit(X, y)
        self.n_features_ = X.shape[1]
        return self

    def tree_predictions(self, X: np.ndarray) -> np.ndarray:
        """Predictions of every tree, shape ``(n_estimators, n)``."""
        if self.forest_ is None:
            raise ArgumentError("ForestEI: call fit() before predicting")
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features_:
            raise ArgumentError(f"ForestEI: expected X of shape (n, {self.n_features_}), got {X.shape}")
        out = np.empty((len(self.forest_.estimators_), len(X)), dtype=np.float64)
        for t, est in enumerate(self.forest_.estimators_):
            # tree_.predict skips sklearn's per-call validation, ~10x faster on the
            # small batches simulated annealing scores; fall back if it ever changes.
            try:
                out[t] = est.tree_.predict(X).reshape(len(X), -1)[:, 0]
            except (AttributeError, TypeError, ValueError):
                out[t] = est.predict(X)
        return out

    def predict(self, X: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation across trees, each of shape ``(n,)``."""
        per_tree = self.tree_predictions(X)
        return per_tree.mean(axis=0), per_tree.std(axis=0)

    def expected_improvement(self, X: np.ndarray, best: float, xi: Optional[float] = None) -> np.ndarray:
        """EI of each row of ``X`` over ``best`` (see :func:`expected_improvement`)."""
        mean, std = self.predict(X)
        return expected_improvement(mean, std, best, self.xi if xi is None else xi)

"""``RFEICostModel``: AdaTune's random-forest expected-improvement model for MetaSchedule.

Each candidate is described by MetaSchedule's ``PerStoreFeature`` (one row of 164
columns per buffer store); the rows of a candidate are aggregated into one fixed-width
vector (column means, column maxima and the number of stores).  Targets are normalised
throughputs per task, ``best latency / latency`` in ``(0, 1]`` (failed trials count as 0),
so tasks of different sizes share one forest.  ``predict`` returns the expected
improvement over the best measured value (which is 1 by construction), computed by the
forest/EI code that :class:`adatune.tuner.RFEITuner` uses (:class:`adatune.tuner.forest.ForestEI`).
"""
from __future__ import annotations

import logging
import os
import pickle
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.cost_model import PyCostModel

from ..tuner.forest import ForestEI
from .._checks import check_positive_int
from ..errors import ArgumentError

logger = logging.getLogger(__name__)

__all__ = ["RFEICostModel", "aggregate_store_features"]

_N_STORE_FEATURES = 164
_FORMAT = "adatune.RFEICostModel/1"


def aggregate_store_features(per_store: np.ndarray) -> np.ndarray:
    """One vector per candidate from its ``(n_stores, 164)`` rows: means, maxima, count."""
    per_store = np.asarray(per_store, dtype=np.float64)
    if per_store.ndim != 2:
        raise ArgumentError(f"per-store features must be 2-D, got shape {per_store.shape}")
    width = per_store.shape[1]
    if len(per_store) == 0:
        return np.zeros(2 * width + 1)
    return np.concatenate([per_store.mean(axis=0), per_store.max(axis=0), [np.log2(1 + len(per_store))]])


def _latency(result: Any) -> Optional[float]:
    secs = getattr(result, "run_secs", None)
    if getattr(result, "error_msg", None) or not secs:
        return None
    values = [float(s) for s in secs]
    mean = float(np.mean(values))
    return mean if np.isfinite(mean) and 0 < mean < 1e9 else None


@derived_object
class RFEICostModel(PyCostModel):
    """Random forest + expected improvement as a MetaSchedule cost model.

    Parameters
    ----------
    n_estimators : int, default 64
        Trees in the forest (their spread is the uncertainty).
    min_samples_leaf : int, default 1
    max_features : float, default 0.5
        Share of the feature columns each split considers.
    xi : float, default 0.0
        EI exploration margin, in normalised-throughput units.
    num_warmup_samples : int, default 8
        Measured candidates needed before the forest is used; until then ``predict``
        returns uniform random scores (as MetaSchedule's own models do).
    seed : int, optional
    extractor : ms.feature_extractor.FeatureExtractor, optional
        Default ``PerStoreFeature()``.
    """

    def __init__(self, n_estimators: int = 64, min_samples_leaf: int = 1, max_features: float = 0.5,
                 xi: float = 0.0, num_warmup_samples: int = 8, seed: Optional[int] = None,
                 extractor: Any = None) -> None:
        super().__init__()
        check_positive_int(num_warmup_samples, "num_warmup_samples", "RFEICostModel")
        # ForestEI validates n_estimators and xi.
        self.forest = ForestEI(n_estimators=n_estimators, min_samples_leaf=min_samples_leaf,
                               max_features=max_features, xi=xi, random_state=seed)
        self.num_warmup_samples = num_warmup_samples
        self.seed = seed
        if extractor is None:
            from tvm.s_tir.meta_schedule.feature_extractor import PerStoreFeature

            extractor = PerStoreFeature()
        self.extractor = extractor
        self._rng = np.random.default_rng(seed)
        # task key -> (feature rows, latencies or None for failures)
        self._data: Dict[str, Tuple[List[np.ndarray], List[Optional[float]]]] = {}
        self._fitted = False

    # -- features -------------------------------------------------------------------
    def features(self, context: Any, candidates: List[Any]) -> np.ndarray:
        """Aggregated feature matrix ``(len(candidates), 329)`` of the candidates."""
        if not candidates:
            return np.zeros((0, 2 * _N_STORE_FEATURES + 1))
        per_store = self.extractor.extract_from(context, candidates)
        return np.stack([aggregate_store_features(f.numpy()) for f in per_store])

    @staticmethod
    def _task_key(context: Any) -> str:
        from tvm_ffi import structural_hash

        return str(structural_hash(context.mod)) if context is not None and context.mod is not None \
            else "?"

    # -- PyCostModel ------------------------------------------------------------------
    @property
    def n_samples(self) -> int:
        """Measured candidates seen so far (failed ones included)."""
        return sum(len(lat) for _, lat in self._data.values())

    @property
    def fitted(self) -> bool:
        """True once the forest is trained and ``predict`` uses it."""
        return self._fitted

    def update(self, context: Any, candidates: List[Any], results: List[Any]) -> None:
        if len(candidates) != len(results):
            raise ArgumentError(f"RFEICostModel.update: {len(candidates)} candidates but "
                                f"{len(results)} results")
        if not candidates:
            return
        X = self.features(context, candidates)
        rows, lats = self._data.setdefault(self._task_key(context), ([], []))
        rows.extend(X)
        lats.extend(_latency(r) for r in results)
        self._refit()

    def _training_set(self) -> Tuple[np.ndarray, np.ndarray]:
        X, y = [], []
        for rows, lats in self._data.values():
            ok = [v for v in lats if v is not None]
            if not ok:
                continue
            best = min(ok)
            X.extend(rows)
            y.extend(best / v if v is not None else 0.0 for v in lats)
        return np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)

    def _refit(self) -> None:
        X, y = self._training_set()
        if len(y) < self.num_warmup_samples or not np.any(y > 0):
            self._fitted = False
            return
        self.forest.fit(X, y)
        self._fitted = True

    def predict(self, context: Any, candidates: List[Any]) -> np.ndarray:
        if not self._fitted:
            return self._rng.uniform(0.0, 1.0, size=len(candidates))
        X = self.features(context, candidates)
        mean, std = self.forest.predict(X)
        ei = self.forest.expected_improvement(X, best=1.0)
        # A hair of the predicted mean breaks ties where EI underflows to 0, so the
        # evolutionary sampler (scores are its weights) never sees all zeros.
        return ei + 1e-6 * np.clip(mean, 0.0, None)

    def mean_std(self, context: Any, candidates: List[Any]) -> Tuple[np.ndarray, np.ndarray]:
        """The forest's mean and per-tree spread (normalised throughput) of the candidates."""
        if not self._fitted:
            raise ArgumentError("RFEICostModel: not fitted yet (fewer than num_warmup_samples results)")
        return self.forest.predict(self.features(context, candidates))

    def save(self, path: str) -> None:
        state = {"format": _FORMAT, "data": self._data, "forest": self.forest,
                 "fitted": self._fitted, "num_warmup_samples": self.num_warmup_samples}
        with open(path, "wb") as f:
            pickle.dump(state, f)

    def load(self, path: str) -> None:
        if not os.path.exists(path):
            raise FileNotFoundError(f"RFEICostModel.load: no file {path}")
        with open(path, "rb") as f:
            try:
                state = pickle.load(f)
            except Exception as err:
                raise ArgumentError(f"RFEICostModel.load: {path} is not a saved RFEICostModel: {err}") from None
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise ArgumentError(f"RFEICostModel.load: {path} is not a saved RFEICostModel")
        self._data = state["data"]
        self.forest = state["forest"]
        self._fitted = state["fitted"]
        self.num_warmup_samples = state["num_warmup_samples"]

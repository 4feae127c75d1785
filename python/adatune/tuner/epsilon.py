"""Epsilon policies: the share of each plan picked at random instead of by the model.

* :class:`FixedEpsilon` -- a constant (AutoTVM uses 0.05).
* :class:`UncertaintyEpsilon` -- AdaTune's dynamic exploration::

      eps = clip(mean(std(x) for x in random sample) / best, low, high)

  ``std`` is the model's predictive uncertainty and ``best`` the best measured
  throughput in the same units. A model that is unsure about the space as a whole
  (large spread relative to what has been achieved) explores more; a confident one
  exploits. The lower bound keeps some exploration so the model can discover that it
  is wrong; the upper bound keeps at least half of every plan model-guided.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

__all__ = ["EpsilonPolicy", "FixedEpsilon", "UncertaintyEpsilon", "DEFAULT_EPS_RANGE"]

#: Clip range of the uncertainty-aware epsilon.
DEFAULT_EPS_RANGE = (0.02, 0.5)


class EpsilonPolicy:
    """Computes epsilon after each model fit."""

    def __call__(self, model: Any, space: Any, best: float, rng: np.random.Generator) -> float:
        raise NotImplementedError

    @property
    def initial(self) -> float:
        """Epsilon before any model exists (everything is random then anyway)."""
        return 1.0


class FixedEpsilon(EpsilonPolicy):
    """A constant epsilon in ``[0, 1]``."""

    def __init__(self, value: float = 0.05):
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"FixedEpsilon: value must lie in [0, 1], got {value}")
        self.value = float(value)

    def __call__(self, model: Any, space: Any, best: float, rng: np.random.Generator) -> float:
        return self.value

    def __repr__(self) -> str:
        return f"FixedEpsilon({self.value})"


class UncertaintyEpsilon(EpsilonPolicy):
    """Epsilon from the model's mean predictive std over random configs, over the best.

    Parameters
    ----------
    low, high : float
        Clip range, ``0 <= low <= high <= 1``; default :data:`DEFAULT_EPS_RANGE`.
    n_samples : int, default 256
        Random configs on which the uncertainty is averaged.
    """

    def __init__(self, low: float = DEFAULT_EPS_RANGE[0], high: float = DEFAULT_EPS_RANGE[1],
                 n_samples: int = 256):
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"UncertaintyEpsilon: need 0 <= low <= high <= 1, got ({low}, {high})")
        if n_samples < 1:
            raise ValueError(f"UncertaintyEpsilon: n_samples must be >= 1, got {n_samples}")
        self.low, self.high, self.n_samples = float(low), float(high), int(n_samples)
        self.last_raw: Optional[float] = None

    def __call__(self, model: Any, space: Any, best: float, rng: np.random.Generator) -> float:
        sample = space.sample(self.n_samples, rng)
        if not sample or not best > 0:
            self.last_raw = None
            return self.high
        _, std = model.predict(sample)
        raw = float(np.mean(std)) / float(best)
        self.last_raw = raw
        if not np.isfinite(raw):
            return self.high
        return float(min(max(raw, self.low), self.high))

    def __repr__(self) -> str:
        return f"UncertaintyEpsilon(low={self.low}, high={self.high})"

"""Epsilon policies: the share of each plan picked at random instead of by the model.

* :class:`FixedEpsilon` -- a constant (AutoTVM uses 0.05).
* :class:`UncertaintyEpsilon` -- AdaTune's dynamic exploration::

      eps = clip(mean(spread) / incumbent, low, high)

  ``spread`` is the model's predictive standard deviation on random candidates and
  ``incumbent`` the best measured value in the same units. A model that is unsure about
  the space as a whole (large spread relative to what has been achieved) explores
  more; a confident one exploits. The lower bound keeps some exploration so the model
  can discover that it is wrong; the upper bound keeps most of every plan model-guided.

A policy sees only what it needs: the spread (it says how many random candidates it
wants in :attr:`EpsilonPolicy.n_samples`; 0 means none) and the incumbent. The
:class:`~adatune.tuner.planner.Planner` draws the candidates from whatever the search
works on (config indices, feature rows of MetaSchedule candidates, ...).
"""
from __future__ import annotations

import warnings
from typing import Any, Optional, Sequence, Union

import numpy as np

from .._checks import check_fraction, check_positive_int
from ..errors import ArgumentError, ArgumentTypeError

__all__ = ["EpsilonPolicy", "FixedEpsilon", "UncertaintyEpsilon", "DEFAULT_EPS_RANGE", "as_epsilon_policy",
           "resolve_epsilon"]

#: Clip range of the uncertainty-aware epsilon.
DEFAULT_EPS_RANGE = (0.02, 0.5)


class EpsilonPolicy:
    """Computes epsilon at the start of each plan.

    Subclasses implement ``__call__(spread, incumbent) -> float`` in ``[0, 1]`` and set
    :attr:`n_samples` to the number of random candidates whose spread they need.
    """

    #: Random candidates whose predictive spread the policy reads (0: none).
    n_samples: int = 0

    def __call__(self, spread: Optional[np.ndarray], incumbent: float) -> float:
        raise NotImplementedError

    @property
    def initial(self) -> float:
        """Epsilon before any model exists (everything is random then anyway)."""
        return 1.0


class FixedEpsilon(EpsilonPolicy):
    """A constant epsilon in ``[0, 1]``."""

    def __init__(self, value: float = 0.05):
        self.value = check_fraction(value, "value", "FixedEpsilon")

    def __call__(self, spread: Optional[np.ndarray] = None, incumbent: float = 1.0) -> float:
        return self.value

    def __repr__(self) -> str:
        return f"FixedEpsilon({self.value})"


class UncertaintyEpsilon(EpsilonPolicy):
    """Epsilon from the model's mean predictive spread over random candidates, over the incumbent.

    Parameters
    ----------
    low, high : float
        Clip range, ``0 <= low <= high <= 1``; default :data:`DEFAULT_EPS_RANGE`.
    n_samples : int, default 256
        Random candidates on which the spread is averaged.

    Attributes
    ----------
    last_raw : float or None
        The unclipped ratio of the last call (None when it could not be computed).
    """

    def __init__(self, low: float = DEFAULT_EPS_RANGE[0], high: float = DEFAULT_EPS_RANGE[1],
                 n_samples: int = 256):
        low = check_fraction(low, "low", "UncertaintyEpsilon")
        high = check_fraction(high, "high", "UncertaintyEpsilon")
        if low > high:
            raise ArgumentError(f"UncertaintyEpsilon: need low <= high, got ({low}, {high})")
        self.low, self.high = low, high
        self.n_samples = check_positive_int(n_samples, "n_samples", "UncertaintyEpsilon")
        self.last_raw: Optional[float] = None

    def __call__(self, spread: Optional[np.ndarray], incumbent: float) -> float:
        values = None if spread is None else np.asarray(spread, dtype=np.float64).ravel()
        if values is None or not values.size or not incumbent > 0:
            self.last_raw = None
            return self.high
        raw = float(np.mean(values)) / float(incumbent)
        if not np.isfinite(raw):
            self.last_raw = None
            return self.high
        self.last_raw = raw
        return float(min(max(raw, self.low), self.high))

    def __repr__(self) -> str:
        return f"UncertaintyEpsilon(low={self.low}, high={self.high})"


def as_epsilon_policy(epsilon: Union[float, EpsilonPolicy], owner: str = "") -> EpsilonPolicy:
    """``epsilon`` as a policy: a number becomes :class:`FixedEpsilon`."""
    if isinstance(epsilon, EpsilonPolicy):
        return epsilon
    if isinstance(epsilon, (bool, str)) or not isinstance(epsilon, (int, float, np.integer, np.floating)):
        where = f"{owner}: epsilon" if owner else "epsilon"
        raise ArgumentTypeError(f"{where} must be a number in [0, 1] or an EpsilonPolicy, got {epsilon!r}")
    check_fraction(epsilon, "epsilon", owner)
    return FixedEpsilon(float(epsilon))


def eps_range_policy(eps_range: Sequence[float], owner: str = "") -> UncertaintyEpsilon:
    """An :class:`UncertaintyEpsilon` from a ``(low, high)`` pair, the argument named."""
    try:
        low, high = eps_range
    except (TypeError, ValueError):
        where = f"{owner}: eps_range" if owner else "eps_range"
        raise ArgumentTypeError(f"{where} must be a pair (low, high), got {eps_range!r}") from None
    return UncertaintyEpsilon(low, high)


#: Marks a deprecated keyword the caller did not pass.
UNSET: Any = object()


def resolve_epsilon(owner: str, epsilon: Union[None, float, EpsilonPolicy], uncertainty_aware: Any,
                    eps_range: Any, default: Union[float, EpsilonPolicy]) -> Union[float, EpsilonPolicy]:
    """The epsilon of the one-argument API from the old three-argument one.

    ``uncertainty_aware`` and ``eps_range`` still work, with a DeprecationWarning:
    ``uncertainty_aware=True`` (or any ``eps_range``) means
    ``UncertaintyEpsilon(*eps_range)``; ``uncertainty_aware=False`` means the number
    ``epsilon`` (0.05 when not given).
    """
    if uncertainty_aware is UNSET and eps_range is UNSET:
        return default if epsilon is None else epsilon
    warnings.warn(f"{owner}: uncertainty_aware= and eps_range= are deprecated; pass epsilon=<float> "
                  f"for a fixed share or epsilon=UncertaintyEpsilon(low, high) for the dynamic one",
                  DeprecationWarning, stacklevel=3)
    if uncertainty_aware is False:
        if eps_range is not UNSET:
            warnings.warn(f"{owner}: eps_range is ignored with uncertainty_aware=False", stacklevel=3)
        return 0.05 if epsilon is None else epsilon
    if isinstance(epsilon, EpsilonPolicy):
        raise ArgumentTypeError(f"{owner}: pass either epsilon=<EpsilonPolicy> or uncertainty_aware/eps_range, "
                                f"not both")
    if eps_range is UNSET:
        eps_range = (default.low, default.high) if hasattr(default, "low") else DEFAULT_EPS_RANGE
    return eps_range_policy(eps_range, owner)

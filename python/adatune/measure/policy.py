"""The adaptive evaluator's stopping rule and the cost it reports.

The evaluator times a kernel in micro-batches and, after every batch, asks
:func:`should_stop` whether the batch means seen so far are enough; when it stops it
reports :func:`estimate`.  Both are pure functions of the batch means and the policy
parameters, so the C++ timing loop (``src/policy.cc``) computes bit-for-bit the same
answers; ``tests/test_policy.py`` checks that.

The AdaTune paper's rule (:meth:`StopPolicy.paper`): stop once the coefficient of
variation of the batch means (min and max trimmed once there are 5 or more) is below
``min_converge_coef`` after at least ``min_batches``, or at ``max_batches``; report the
mean.  Real GPU series break it two ways: a slow warm-up that decays over a few
batches (the first one twice the steady time), and a leading *fast* regime (boost
clock) that steps up to the steady level after 3-4 batches.  Either way the paper's
rule stops inside the transient and reports it.  The default rule therefore:

1. finds the *stable segment*: the reference level is the median of the trailing
   ``regime_window`` share of the batches; leading batches further from it than
   ``max(regime_tol * level, regime_k * 1.4826 * MAD)`` are an earlier regime;
2. stops only when that segment is long enough (``min_stable`` batches and at least
   ``stable_ratio`` times the dropped prefix), each of its newest ``last_k`` batches
   agrees with it (``last_tol``), the median of its newest third agrees with that of
   the rest (``tail_tol``: a late change of level or a slow tail), its CV is below
   ``min_converge_coef`` and the relative standard error of its mean is at most
   ``max_rel_se``;
3. before ``settle_batches`` it stops only after a *seen* one-batch warm-up (a dropped
   prefix slower than the segment by ``regime_tol`` to ``warmup_max``): a flat start
   may be a boost regime that has not ended yet;
4. reports the median of the batches after dropping at most ``max_drop`` leading ones
   (``fallback_drop`` when the rule was not met, e.g. stopped by ``max_batches``).

Every step is a sort, a median or a linear scan: O(n log n) per call, no state.
``docs/evaluator-policy.md`` gives the reasons and the replay numbers.
"""
from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Any, Dict, Iterable, List, Mapping, Sequence, Tuple

from .._checks import check_int, check_number
from ..errors import ArgumentError, ArgumentTypeError

__all__ = ["StopPolicy", "batch_cv", "estimate", "should_stop", "validate_policy"]

# Scales a median absolute deviation to a normal standard deviation.
_MAD_TO_SIGMA = 1.4826
_INT_FIELDS = ("min_batches", "max_batches", "min_stable", "settle_batches", "max_drop",
               "fallback_drop", "last_k")
# Tolerances where +inf means "no limit" (how the paper's rule switches our parts off).
_INF_OK = ("regime_tol", "last_tol", "warmup_max", "max_rel_se", "tail_tol")


@dataclasses.dataclass(frozen=True)
class StopPolicy:
    """Parameters of the stopping rule; field order is the C++ positional order.

    Parameters
    ----------
    min_batches : int
        Never stop before this many batches.
    max_batches : int
        Always stop at this many batches.
    min_converge_coef : float
        The stable segment's CV (min and max trimmed at >= 5 batches) must be below it.
    regime_tol : float
        Relative floor of the regime threshold, and the least excess that counts as a
        seen warm-up.  ``inf`` turns regime detection off.
    regime_k : float
        Multiplier of the robust spread (1.4826 * MAD) in the regime threshold.
    regime_window : float
        Share (0, 1] of the newest batches whose median is the reference level.
    min_stable : int
        The stable segment must hold at least this many batches.
    stable_ratio : float
        ... and at least this many times as many batches as the dropped prefix.
    last_tol : float
        The newest batch must lie within this relative distance of the segment median.
    warmup_max : float
        A dropped prefix slower than the segment by more than this is a slow transient,
        not a one-batch warm-up, and does not allow stopping before ``settle_batches``.
    settle_batches : int
        Without a seen warm-up, never stop before this many batches.
    max_rel_se : float
        Relative standard error (sample std / sqrt(n) / median) of the segment must be
        at most this.
    max_drop : int
        The estimate drops at most this many leading batches when the rule was met.
    fallback_drop : int
        ... and at most this many when it was not (forced stop at ``max_batches``).
    robust_estimate : bool
        Report a median (True) or the paper's trimmed mean (False).
    last_k : int
        The newest ``last_k`` batches of the segment must each lie within ``last_tol``
        of its median (1: the newest only).
    tail_tol : float
        The median of the newest third of the segment must lie within this relative
        distance of the median of the rest of it (a late change of level, or a slow
        tail still settling); ``inf`` switches the check off.
    """

    min_batches: int = 3
    max_batches: int = 20
    min_converge_coef: float = 0.1
    regime_tol: float = 0.002
    regime_k: float = 3.0
    regime_window: float = 0.5
    min_stable: int = 2
    stable_ratio: float = 1.0
    last_tol: float = 0.015
    warmup_max: float = 0.03
    settle_batches: int = 5
    max_rel_se: float = 0.012
    max_drop: int = 2
    fallback_drop: int = 1
    robust_estimate: bool = True
    last_k: int = 1
    tail_tol: float = 0.005

    def __post_init__(self) -> None:
        # The one validation of a policy; the fields are then plain int/float/bool
        # (a numpy scalar would not survive the "name=value" string to the plugin).
        for name, value in _checked_fields(
                {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}).items():
            object.__setattr__(self, name, value)

    @classmethod
    def paper(cls, min_batches: int = 3, max_batches: int = 20,
              min_converge_coef: float = 0.1) -> "StopPolicy":
        """The AdaTune paper's rule: trimmed CV below the threshold, report the mean.

        Every part the paper does not have is switched off: no regime detection, no
        agreement, settle or standard-error test, no dropped batches, and the estimate
        is the mean of the batch means (min and max trimmed at >= 5, as for the CV).
        """
        return cls(min_batches=min_batches, max_batches=max_batches,
                   min_converge_coef=min_converge_coef, regime_tol=math.inf,
                   min_stable=1, stable_ratio=1.0, last_tol=math.inf, warmup_max=math.inf,
                   settle_batches=1, max_rel_se=math.inf, max_drop=0, fallback_drop=0,
                   robust_estimate=False, last_k=1, tail_tol=math.inf)

    def should_stop(self, batch_means: Iterable[float]) -> bool:
        """Whether to stop after these batches; see :func:`should_stop`."""
        x = _as_means(batch_means)
        return len(x) >= self.max_batches or _analyse(x, self)[0]

    def rule_met(self, batch_means: Iterable[float]) -> bool:
        """Whether the rule itself is met, ``max_batches`` aside (a result's ``converged``)."""
        return _analyse(_as_means(batch_means), self)[0]

    def estimate(self, batch_means: Iterable[float]) -> float:
        """The cost to report for these batches; see :func:`estimate`."""
        x = _as_means(batch_means)
        converged, d = _analyse(x, self)
        drop = min(d, self.max_drop if converged else self.fallback_drop)
        kept = x[drop:]
        return _median(kept) if self.robust_estimate else _trimmed_mean(kept)


def should_stop(batch_means: Iterable[float], min_batches: int = 3, max_batches: int = 20,
                min_converge_coef: float = 0.1, **params: Any) -> bool:
    """Whether the evaluator may stop after these batch means.

    Parameters
    ----------
    batch_means : sequence of float
        Mean time of one call in each micro-batch, oldest first; at least one, each
        finite and >= 0 (the plugin's ``adatune.should_stop`` refuses the same input
        with the same classes).
    min_batches, max_batches, min_converge_coef :
        The paper's bounds and CV threshold.
    **params :
        The other :class:`StopPolicy` fields (defaults: the shipped rule).

    Returns
    -------
    bool
        True at ``max_batches``, or when the rule is met.

    Raises
    ------
    adatune.errors.ArgumentError
        (a ``ValueError``) for a bad parameter value or an unknown parameter (named),
        an empty ``batch_means`` or a negative, NaN or infinite batch mean.
    adatune.errors.ArgumentTypeError
        (a ``TypeError``) for a parameter or a batch mean of the wrong type.
    """
    policy = _policy_from(dict(params, min_batches=min_batches, max_batches=max_batches,
                               min_converge_coef=min_converge_coef))
    return policy.should_stop(batch_means)


def estimate(batch_means: Iterable[float], min_batches: int = 3, max_batches: int = 20,
             min_converge_coef: float = 0.1, **params: Any) -> float:
    """The cost the evaluator reports: median of the batches after the transient.

    Takes the same parameters as :func:`should_stop`.  With the paper's parameters it
    is the mean of the batch means (min and max trimmed once there are 5 or more).

    Raises
    ------
    adatune.errors.ArgumentError, adatune.errors.ArgumentTypeError
        As :func:`should_stop`.
    """
    policy = _policy_from(dict(params, min_batches=min_batches, max_batches=max_batches,
                               min_converge_coef=min_converge_coef))
    return policy.estimate(batch_means)


def batch_cv(batch_means: Iterable[float]) -> float:
    """Coefficient of variation (population std / mean) of the batch means.

    The smallest and largest are dropped once there are 5 or more, as in the paper.
    Fewer than two values, or all equal (zeros included), give 0.0; a zero mean with
    spread cannot happen for non-negative values.

    Raises
    ------
    adatune.errors.ArgumentError, adatune.errors.ArgumentTypeError
        As :func:`should_stop`, for an empty or bad ``batch_means``.
    """
    return _cv(_as_means(batch_means))


def validate_policy(**params: Any) -> None:
    """Check policy parameters (any subset of the :class:`StopPolicy` fields).

    Counts must be ints (``min_batches``, ``max_batches``, ``min_stable``,
    ``settle_batches``, ``last_k`` >= 1; ``max_drop``, ``fallback_drop`` >= 0) with
    ``min_batches <= max_batches``; ``min_converge_coef``, ``regime_k`` and
    ``stable_ratio`` finite and > 0; ``regime_window`` in (0, 1]; ``regime_tol``,
    ``last_tol``, ``warmup_max``, ``max_rel_se`` and ``tail_tol`` > 0 (``inf``
    allowed) with ``regime_tol <= warmup_max``; ``robust_estimate`` a bool.

    Raises
    ------
    adatune.errors.ArgumentError
        (a ``ValueError``) naming the first unknown parameter or bad value.
    adatune.errors.ArgumentTypeError
        (a ``TypeError``) naming the first parameter of the wrong type.
    """
    _check_names(params)
    _checked_fields(params)


_FIELD_NAMES = tuple(f.name for f in dataclasses.fields(StopPolicy))


def _check_names(params: Mapping[str, Any]) -> None:
    unknown = sorted(set(params) - set(_FIELD_NAMES))
    if unknown:
        raise ArgumentError(f"unknown policy parameter(s): {', '.join(unknown)}; "
                            f"known: {', '.join(_FIELD_NAMES)}")


def _checked_fields(params: Mapping[str, Any]) -> Dict[str, Any]:
    """The given fields as plain int/float/bool, each checked, then their consistency.

    The same checks, in the same order and wording, as ``ValidatePolicy`` in
    ``src/policy.cc``.
    """
    out: Dict[str, Any] = {}
    for name, value in params.items():
        if name == "robust_estimate":
            if not isinstance(value, bool):
                raise ArgumentTypeError(f"robust_estimate must be a bool, got {value!r}")
            out[name] = bool(value)
        elif name in _INT_FIELDS:
            least = 0 if name in ("max_drop", "fallback_drop") else 1
            out[name] = check_int(value, name, low=least)
        elif name == "regime_window":
            out[name] = check_number(value, name, low=0.0, low_open=True, high=1.0)
        else:
            out[name] = check_number(value, name, low=0.0, low_open=True,
                                     finite=name not in _INF_OK)
    lo, hi = out.get("min_batches"), out.get("max_batches")
    if lo is not None and hi is not None and lo > hi:
        raise ArgumentError(f"min_batches ({lo}) must not exceed max_batches ({hi})")
    tol, top = out.get("regime_tol"), out.get("warmup_max")
    if tol is not None and top is not None and tol > top:
        raise ArgumentError(f"regime_tol ({tol}) must not exceed warmup_max ({top})")
    return out


def _policy_from(params: Mapping[str, Any]) -> StopPolicy:
    """A :class:`StopPolicy` from keyword parameters, unknown names refused by name."""
    _check_names(params)
    return StopPolicy(**params)


def _as_means(batch_means: Iterable[float]) -> List[float]:
    """The batch means as floats; the checks of ``CheckBatchMeans`` in ``src/policy.cc``."""
    if isinstance(batch_means, (str, bytes)) or not isinstance(batch_means, Iterable):
        raise ArgumentTypeError(f"batch_means must be a sequence of numbers, got {batch_means!r}")
    x = []
    for i, v in enumerate(batch_means):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise ArgumentTypeError(f"batch_means[{i}] must be a number, got {v!r}")
        x.append(float(v))
    if not x:
        raise ArgumentError("batch_means is empty: give at least one batch mean")
    for i, v in enumerate(x):
        if not math.isfinite(v) or v < 0:
            raise ArgumentError(f"batch_means[{i}] = {v!r}: batch means must be finite and >= 0")
    return x


# The helpers below are mirrored line by line in src/policy.cc: same operations in
# the same order, so both sides round identically.

def _median(x: Sequence[float]) -> float:
    s = sorted(x)
    n = len(s)
    h = n // 2
    return s[h] if n % 2 else 0.5 * (s[h - 1] + s[h])


def _mean(x: Sequence[float]) -> float:
    total = 0.0
    for v in x:
        total += v
    return total / len(x)


def _sum_sq_dev(x: Sequence[float], mean: float) -> float:
    total = 0.0
    for v in x:
        dv = v - mean
        total += dv * dv
    return total


def _trimmed(x: Sequence[float]) -> List[float]:
    s = sorted(x)
    return s[1:-1] if len(s) >= 5 else s


def _trimmed_mean(x: Sequence[float]) -> float:
    return _mean(_trimmed(x))


def _cv(x: Sequence[float]) -> float:
    t = _trimmed(x)
    if len(t) < 2:
        return 0.0
    mean = _mean(t)
    std = math.sqrt(_sum_sq_dev(t, mean) / len(t))
    if std == 0.0:
        return 0.0
    return std / mean if mean > 0.0 else math.inf


def _within(dist: float, tol: float, scale: float) -> bool:
    # inf * 0 would be NaN; an infinite tolerance accepts everything.
    return math.isinf(tol) or dist <= tol * scale


def _segment_start(x: Sequence[float], p: StopPolicy) -> int:
    """How many leading batches belong to an earlier regime than the newest ones."""
    n = len(x)
    if math.isinf(p.regime_tol) or n <= p.min_stable:
        return 0
    w = x[n - max(1, math.ceil(p.regime_window * n)):]
    ref = _median(w)
    mad = _median([abs(v - ref) for v in w])
    thr = max(p.regime_tol * abs(ref), p.regime_k * _MAD_TO_SIGMA * mad)
    d = 0
    while d < n - p.min_stable and abs(x[d] - ref) > thr:
        d += 1
    return d


def _analyse(x: Sequence[float], p: StopPolicy) -> Tuple[bool, int]:
    """(rule met, leading batches dropped); ``max_batches`` is not part of the rule."""
    n = len(x)
    d = _segment_start(x, p)
    m = n - d
    if n < p.min_batches or m < p.min_stable or m < p.stable_ratio * d:
        return False, d
    seg = x[d:]
    level = _median(seg)
    # Every one of the newest last_k batches (those in the segment) must agree: one
    # agreeing batch right after a disagreeing one is often a regime change under way.
    for v in x[max(d, n - p.last_k):]:
        if not _within(abs(v - level), p.last_tol, level):
            return False, d
    if not math.isinf(p.tail_tol) and m >= 2:
        # The newest third of the segment against the rest: a late shift in level.
        t = max(1, m // 3)
        if not _within(abs(_median(seg[m - t:]) - _median(seg[:m - t])), p.tail_tol, level):
            return False, d
    warm = False
    if d > 0 and not math.isinf(p.regime_tol):
        excess = _mean(x[:d]) - level
        warm = excess > p.regime_tol * level and _within(excess, p.warmup_max, level)
    if not warm and n < p.settle_batches:
        return False, d
    if not _cv(seg) < p.min_converge_coef:
        return False, d
    if not math.isinf(p.max_rel_se):
        sd = math.sqrt(_sum_sq_dev(seg, _mean(seg)) / (m - 1)) if m > 1 else 0.0
        if not sd / math.sqrt(m) <= p.max_rel_se * level:
            return False, d
    return True, d

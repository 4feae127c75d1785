"""Argument checks: the one place that knows how adatune validates an argument.

Each check returns the value converted to its plain Python type, raises
:class:`~adatune.errors.ArgumentTypeError` (a ``TypeError``) for a wrong type and
:class:`~adatune.errors.ArgumentError` (a ``ValueError``) for a wrong value, and names
the argument in the message, prefixed by ``owner`` (the function or class checking it).
``bool`` is never accepted as a number: ``plan_size=True`` is a mistake, not 1.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable, Collection, Mapping, Optional, TypeVar

from .errors import ArgumentError, ArgumentTypeError

__all__ = ["check_int", "check_positive_int", "check_number", "check_fraction", "check_choice",
           "check_callable", "check_mapping", "check_seed"]

T = TypeVar("T")


def _where(owner: str, name: str) -> str:
    return f"{owner}: {name}" if owner else name


def check_int(value: Any, name: str, owner: str = "", *, low: Optional[int] = None,
              high: Optional[int] = None, allow_none: bool = False) -> Optional[int]:
    """``value`` as an ``int`` in ``[low, high]`` (either bound optional)."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ArgumentTypeError(f"{_where(owner, name)} must be an int, got {value!r}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            want = "a positive int" if low == 1 else f"an int >= {low}"
        elif low is None:
            want = f"an int <= {high}"
        else:
            want = f"an int in [{low}, {high}]"
        raise ArgumentError(f"{_where(owner, name)} must be {want}, got {value!r}")
    return value


def check_positive_int(value: Any, name: str, owner: str = "", *,
                       allow_none: bool = False) -> Optional[int]:
    """``value`` as an ``int >= 1``."""
    return check_int(value, name, owner, low=1, allow_none=allow_none)


def check_number(value: Any, name: str, owner: str = "", *, low: Optional[float] = None,
                 high: Optional[float] = None, low_open: bool = False, high_open: bool = False,
                 finite: bool = True, allow_none: bool = False) -> Optional[float]:
    """``value`` as a ``float`` within the bounds (closed unless ``*_open``).

    NaN is always refused; infinities unless ``finite`` is false.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{_where(owner, name)} must be a number, got {value!r}")
    out = float(value)
    if math.isnan(out) or (finite and math.isinf(out)):
        want = "a finite number" if finite else "a number (not NaN)"
        raise ArgumentError(f"{_where(owner, name)} must be {want}, got {value!r}")
    bad_low = low is not None and (out <= low if low_open else out < low)
    bad_high = high is not None and (out >= high if high_open else out > high)
    if bad_low or bad_high:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
        if low is None:
            want = f"{'<' if high_open else '<='} {high:g}"
        elif high is None:
            want = f"{'>' if low_open else '>='} {low:g}"
        else:
            want = f"in {lo}, {hi}"
        raise ArgumentError(f"{_where(owner, name)} must be {want}, got {value!r}")
    return out


def check_fraction(value: Any, name: str, owner: str = "") -> float:
    """``value`` as a ``float`` in ``[0, 1]``."""
    return check_number(value, name, owner, low=0.0, high=1.0)


def check_choice(value: Any, name: str, choices: Collection[T], owner: str = "") -> T:
    """``value`` if it is one of ``choices`` (compared with ``==``)."""
    try:
        ok = value in choices
    except TypeError:  # an unhashable value against a set
        ok = False
    if not ok:
        listed = ", ".join(repr(c) for c in choices)
        raise ArgumentError(f"{_where(owner, name)} must be one of {listed}; got {value!r}")
    return value


def check_bool(value: Any, name: str, owner: str = "") -> bool:
    """``value`` if it is a bool (numpy's included); 0/1 or strings are refused."""
    import numpy as np

    if not isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{_where(owner, name)} must be a bool, got {value!r}")
    return bool(value)


def check_callable(value: Any, name: str, owner: str = "", *, allow_none: bool = False) -> Optional[Callable]:
    """``value`` if it is callable."""
    if value is None and allow_none:
        return None
    if not callable(value):
        raise ArgumentTypeError(f"{_where(owner, name)} must be callable, got {value!r}")
    return value


def check_mapping(value: Any, name: str, owner: str = "", *, allow_none: bool = False,
                  non_empty: bool = False) -> Optional[Mapping]:
    """``value`` if it is a mapping (a dict or the like)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(f"{_where(owner, name)} must be a mapping, got {value!r}")
    if non_empty and not value:
        raise ArgumentError(f"{_where(owner, name)} must not be empty")
    return value


def check_seed(value: Any, name: str = "seed", owner: str = ""):
    """A seed: ``None``, a non-negative int, or a ``numpy.random.Generator`` (returned as is)."""
    import numpy as np

    if value is None or isinstance(value, np.random.Generator):
        return value
    return check_int(value, name, owner, low=0)

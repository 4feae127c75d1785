"""Pareto fronts of (QoS, speedup), both maximised, and their hypervolume.

Config ``a`` dominates ``b`` when ``a.qos >= b.qos`` and ``a.speedup >= b.speedup``
with at least one strict. The front is the set of configs nobody dominates; equal
points do not dominate each other, so duplicates stay together.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from .._checks import check_positive_int
from ..errors import ArgumentError
from .config import Config

__all__ = ["dominates", "pareto_mask", "pareto_front", "take_best_n", "hypervolume"]


def dominates(a: Tuple[float, float], b: Tuple[float, float]) -> bool:
    """Whether point ``a`` dominates point ``b`` (both coordinates maximised)."""
    return a[0] >= b[0] and a[1] >= b[1] and (a[0] > b[0] or a[1] > b[1])


def pareto_mask(points: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated rows of an ``(n, 2)`` array (maximising both)."""
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ArgumentError(f"pareto_mask: expected an (n, 2) array, got shape {pts.shape}")
    n = len(pts)
    mask = np.ones(n, dtype=bool)
    # Pairwise test in row chunks: O(n^2) but vectorised, fine for the thousands of
    # configs a tuning run measures, and obviously right.
    q, s = pts[:, 0], pts[:, 1]
    for lo in range(0, n, 1024):
        qi, si = q[lo:lo + 1024, None], s[lo:lo + 1024, None]
        dom = (q[None, :] >= qi) & (s[None, :] >= si) & ((q[None, :] > qi) | (s[None, :] > si))
        mask[lo:lo + 1024] = ~dom.any(axis=1)
    return mask


def pareto_front(configs: Sequence[Config]) -> List[Config]:
    """The non-dominated configs in (QoS, speedup), sorted by QoS descending."""
    if not configs:
        return []
    pts = np.array([[c.qos, c.speedup] for c in configs])
    mask = pareto_mask(pts)
    front = [c for c, m in zip(configs, mask) if m]
    return sorted(front, key=lambda c: (-c.qos, c.cost))


def take_best_n(configs: Sequence[Config], n: Optional[int] = None) -> List[Config]:
    """The Pareto front, topped up to ``n`` with the configs nearest to it.

    ``n=None`` (or ``n`` no larger than the front) returns the strict front. Otherwise
    the remaining configs are ranked by their distance to the front, measured as the
    smallest Euclidean shortfall ``(max(f.qos - c.qos, 0), max(f.speedup - c.speedup, 0))``
    over front points ``f`` after scaling both axes to the configs' range.
    """
    n = check_positive_int(n, "n", "take_best_n", allow_none=True)
    front = pareto_front(configs)
    if n is None or len(front) >= n:
        return front
    on_front = {id(c) for c in front}
    rest = [c for c in configs if id(c) not in on_front]
    if not rest:
        return front
    all_pts = np.array([[c.qos, c.speedup] for c in configs])
    span = np.ptp(all_pts, axis=0)
    span[span == 0] = 1.0
    f = np.array([[c.qos, c.speedup] for c in front]) / span
    r = np.array([[c.qos, c.speedup] for c in rest]) / span
    short = np.maximum(f[None, :, :] - r[:, None, :], 0.0)
    dist = np.sqrt((short ** 2).sum(axis=2)).min(axis=1)
    order = np.argsort(dist, kind="stable")
    return front + [rest[i] for i in order[: n - len(front)]]


def hypervolume(points: np.ndarray, ref: Tuple[float, float]) -> float:
    """Area dominated by ``points`` (``(n, 2)``, both maximised) and bounded below by ``ref``.

    Points not strictly better than ``ref`` in both coordinates add nothing.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    pts = pts[(pts[:, 0] > ref[0]) & (pts[:, 1] > ref[1])]
    if len(pts) == 0:
        return 0.0
    pts = pts[pareto_mask(pts)]
    pts = pts[np.argsort(-pts[:, 0])]  # QoS descending => speedup ascending on a front
    area, prev_sp = 0.0, ref[1]
    for q, s in pts:
        if s > prev_sp:
            area += (q - ref[0]) * (s - prev_sp)
            prev_sp = s
    return float(area)

"""A per-knob density-ratio score: the independence bias of TPE, for a model's plan.

Measured configs are split into good (the best ``min(ceil(0.1 n), 25)``, the split of
Bergstra et al.'s TPE) and the rest. For each knob, the share of good and of other
configs that use each of its values is estimated with a uniform prior of weight 1; a
config scores the sum over knobs of log(good share / other share). A config made of
values that good configs use, in a combination never measured, scores high: what a
forest fitted on a few dozen points cannot extrapolate to.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["knob_ratio_score"]


def _good_count(n: int) -> int:
    return max(1, min(int(math.ceil(0.1 * n)), 25))


def knob_ratio_score(space: Any, xs: Sequence[int], ys: Sequence[float]) -> Callable[[Sequence[int]], np.ndarray]:
    """Score function over config indices of ``space`` from measured ``xs`` and their
    throughputs ``ys`` (higher is better; 0 = failed)."""
    radices = space.radices
    d = space.digit_matrix(xs, "knob_ratio_score")
    y = np.asarray(ys, dtype=np.float64)
    order = np.argsort(-y, kind="stable")
    good = np.zeros(len(y), dtype=bool)
    good[order[:_good_count(len(y))]] = True
    tables = []
    for k, r in enumerate(radices):
        cg = np.bincount(d[good, k], minlength=r).astype(np.float64)
        cb = np.bincount(d[~good, k], minlength=r).astype(np.float64)
        pg = (cg + 1.0 / r) / (good.sum() + 1.0)
        pb = (cb + 1.0 / r) / ((~good).sum() + 1.0)
        tables.append(np.log(pg) - np.log(pb))

    def score(idx: Sequence[int]) -> np.ndarray:
        dd = space.digit_matrix(idx, "knob_ratio_score")
        return sum(t[dd[:, k]] for k, t in enumerate(tables))

    return score

"""Exhaustive model optimizer: score every config of a small space, keep the best.

Simulated annealing samples a space it cannot enumerate; a space of a few tens of
thousands of configs (a brute-forced GPU kernel space, a restricted CPU template) can
simply be scored whole: one batched model prediction costs about as much as a few SA
iterations and it never misses the model's true top configs.
"""
from __future__ import annotations

from typing import Any, Callable, List, Optional, Sequence, Set

import numpy as np
from .._checks import check_positive_int
from ..errors import ArgumentError

__all__ = ["ExhaustiveOptimizer", "DEFAULT_EXHAUSTIVE_LIMIT"]

#: Largest knob product :class:`ExhaustiveOptimizer` accepts by default.
DEFAULT_EXHAUSTIVE_LIMIT = 65536


class ExhaustiveOptimizer:
    """Same contract as :class:`SimulatedAnnealingOptimizer`, by scoring the whole space.

    Parameters
    ----------
    space : ConfigSpace
    max_configs : int, default :data:`DEFAULT_EXHAUSTIVE_LIMIT`
        Refuse larger spaces (their scoring would be slower than annealing).
    chunk : int, default 16384
        Configs scored per call of the score function (bounds memory).
    """

    def __init__(self, space: Any, max_configs: int = DEFAULT_EXHAUSTIVE_LIMIT, chunk: int = 16384):
        if space.n_configs > max_configs:
            raise ArgumentError(f"ExhaustiveOptimizer: the space has {space.n_configs} configs, "
                                f"more than max_configs={max_configs}")
        self.space = space
        self.chunk = check_positive_int(chunk, "chunk", "ExhaustiveOptimizer")
        self._valid: Optional[np.ndarray] = None

    def candidates(self, exclude: Set[int]) -> np.ndarray:
        """Every valid config not in ``exclude``, in index order (int64)."""
        if self._valid is None:  # validity never changes; ask the space once
            allowed = self.space.allowed
            every = range(self.space.n_configs) if allowed is None else sorted(allowed)
            self._valid = np.asarray([i for i in every if self.space.is_valid(i)], dtype=np.int64)
        if not exclude:
            return self._valid.copy()
        return self._valid[~np.isin(self._valid, np.fromiter(exclude, np.int64, len(exclude)))]

    def find_maximums(self, score: Callable[[Sequence[int]], np.ndarray], num: int,
                      exclude: Set[int], rng: np.random.Generator) -> List[int]:
        """Up to ``num`` valid configs not in ``exclude``, best score first.

        Ties are broken by a random permutation drawn from ``rng`` (reproducible for a
        seeded generator, and no bias towards low indices).
        """
        n = self.space.n_configs
        perm = rng.permutation(n)
        scores = np.empty(n, dtype=np.float64)
        for lo in range(0, n, self.chunk):
            part = perm[lo:lo + self.chunk]
            scores[lo:lo + len(part)] = np.asarray(score(part.tolist()), dtype=np.float64)
        scores = np.where(np.isfinite(scores), scores, -np.inf)
        out: List[int] = []
        for pos in np.argsort(-scores, kind="stable"):
            idx = int(perm[pos])
            if idx in exclude or not self.space.is_valid(idx):
                continue
            out.append(idx)
            if len(out) >= num:
                break
        return out

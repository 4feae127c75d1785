"""Parallel simulated annealing over a config space: the model optimizer.

Many walkers move one knob at a time; a move is accepted with probability
``min(1, exp((new - old) / T))`` while the temperature ``T`` cools linearly. Every
scored config enters a top-``num`` heap unless it was visited (measured or proposed)
or is invalid, so the result never contains a visited config.
"""
from __future__ import annotations

import heapq
import logging
from typing import Any, Callable, List, Optional, Sequence, Set, Tuple, Union

import numpy as np
from .._checks import check_int, check_positive_int

__all__ = ["SimulatedAnnealingOptimizer"]

logger = logging.getLogger(__name__)


class SimulatedAnnealingOptimizer:
    """Find high-scoring unvisited configs of a space under a score function.

    Parameters
    ----------
    space : ConfigSpace
    parallel_size : int, default 128
        Number of walkers.
    n_iter : int, default 500
    temp : float or (float, float), default (1, 0)
        Start and end temperature (linear cooling) or a constant.
    early_stop : int, default 50
        Stop after this many iterations without a change of the top list.
    persistent : bool, default True
        Walkers continue from where the previous search left them.
    """

    def __init__(self, space: Any, parallel_size: int = 128, n_iter: int = 500,
                 temp: Union[float, Tuple[float, float]] = (1.0, 0.0), early_stop: int = 50,
                 persistent: bool = True):
        owner = "SimulatedAnnealingOptimizer"
        check_positive_int(parallel_size, "parallel_size", owner)
        check_int(n_iter, "n_iter", owner, low=0)
        check_positive_int(early_stop, "early_stop", owner)
        self.space = space
        self.parallel_size = int(parallel_size)
        self.n_iter = int(n_iter)
        self.temp = temp
        self.early_stop = int(early_stop)
        self.persistent = persistent
        self.points: Optional[List[int]] = None

    def find_maximums(self, score: Callable[[Sequence[int]], np.ndarray], num: int,
                      exclude: Set[int], rng: np.random.Generator) -> List[int]:
        """Up to ``num`` configs not in ``exclude``, best score first."""
        space = self.space
        if self.persistent and self.points:
            points = list(self.points)
        else:
            points = space.sample(self.parallel_size, rng)
        if not points:
            return []
        scores = np.asarray(score(points), dtype=np.float64)
        heap: List[Tuple[float, int]] = []
        in_heap: Set[int] = set()

        def offer(vals: np.ndarray, pts: Sequence[int]) -> bool:
            changed = False
            for s, p in zip(vals.tolist(), pts):
                if p in in_heap or p in exclude:
                    continue
                if len(heap) < num:
                    if not space.is_valid(p):
                        continue
                    heapq.heappush(heap, (s, p))
                    in_heap.add(p)
                    changed = True
                elif s > heap[0][0]:
                    if not space.is_valid(p):
                        continue
                    _, old = heapq.heapreplace(heap, (s, p))
                    in_heap.discard(old)
                    in_heap.add(p)
                    changed = True
            return changed

        offer(scores, points)
        if isinstance(self.temp, (tuple, list)):
            t, cool = float(self.temp[0]), (float(self.temp[0]) - float(self.temp[1])) / (self.n_iter + 1)
        else:
            t, cool = float(self.temp), 0.0
        k = last_change = 0
        while k < self.n_iter and k < last_change + self.early_stop:
            new_points = space.random_neighbors(points, rng)
            new_scores = np.asarray(score(new_points), dtype=np.float64)
            accept_p = np.exp(np.minimum((new_scores - scores) / (t + 1e-5), 1.0))
            accept = rng.random(len(points)) < accept_p
            points = [n if a else p for p, n, a in zip(points, new_points, accept.tolist())]
            scores = np.where(accept, new_scores, scores)
            if offer(new_scores, new_points):
                last_change = k
            k += 1
            t = max(t - cool, 0.0)
        if self.persistent:
            self.points = points
        logger.debug("SA: %d iterations, %d candidates", k, len(heap))
        heap.sort(key=lambda item: -item[0])
        return [p for _, p in heap]

"""Genetic algorithm tuner (AutoTVM's ``GATuner``): configs are genes of knob positions."""
from __future__ import annotations

from typing import Any, List

import numpy as np

from .tuner import Tuner
from .._checks import check_fraction, check_int

__all__ = ["GATuner"]


class GATuner(Tuner):
    """Evolve a population: elites survive, parents are drawn in proportion to their
    throughput, children mix parents knob by knob and mutate each knob with
    ``mutation_prob``. Children that were already measured are re-drawn.

    Parameters
    ----------
    task : Task
    pop_size : int, default 100
    elite_num : int, default 3
    mutation_prob : float, default 0.1
    seed : int, optional
    """

    def __init__(self, task: Any, pop_size: int = 100, elite_num: int = 3, mutation_prob: float = 0.1,
                 seed=None):
        super().__init__(task, seed)
        self.pop_size = check_int(pop_size, "pop_size", "GATuner", low=2)
        self.elite_num = check_int(elite_num, "elite_num", "GATuner", low=0, high=self.pop_size)
        self.mutation_prob = check_fraction(mutation_prob, "mutation_prob", "GATuner")
        self._radices = self.space.radices
        self._queue: List[int] = []
        self._generation: List[tuple] = []  # (index, score) of the measured current generation
        self._elites: List[tuple] = []
        self._pending = 0

    def next_batch(self, batch_size: int) -> List[Any]:
        out = []
        while len(out) < batch_size:
            if not self._queue:
                if self._pending:
                    break  # wait for the current generation's results
                self._queue = self._breed()
                if not self._queue:
                    break
            idx = self._queue.pop(0)
            if idx in self.visited:
                continue
            self.visited.add(idx)
            self._pending += 1
            out.append(self.space.get(idx))
        return out

    def update(self, inputs, results) -> None:
        n0 = len(self.xs)
        super().update(inputs, results)
        for idx, score in zip(self.xs[n0:], self.ys[n0:]):
            self._generation.append((idx, score))
        self._pending = max(0, self._pending - len(inputs))

    def _absorb_history(self, inputs, results) -> None:
        super()._absorb_history(inputs, results)
        # history seeds the elites of the first generation
        self._elites = sorted(zip(self.xs, self.ys), key=lambda t: -t[1])[: self.elite_num]

    def _breed(self) -> List[int]:
        space, rng = self.space, self.rng
        pool = self._generation + self._elites
        self._generation = []
        if not pool or not any(s > 0 for _, s in pool):
            # first generation, or nothing worked yet: random, but keep any known elites
            return space.sample(self.pop_size, rng, exclude=self.visited)
        pool.sort(key=lambda t: -t[1])
        self._elites = pool[: self.elite_num]
        genes = [space.digits(i) for i, _ in pool]
        weights = np.array([s for _, s in pool], dtype=np.float64)
        weights = weights / weights.sum()
        children: List[int] = []
        seen = set(self.visited)
        attempts = 0
        while len(children) < self.pop_size and attempts < 20 * self.pop_size:
            attempts += 1
            a, b = rng.choice(len(pool), size=2, p=weights)
            mask = rng.random(len(self._radices)) < 0.5
            child = [ga if m else gb for ga, gb, m in zip(genes[a], genes[b], mask.tolist())]
            for k, r in enumerate(self._radices):
                if r > 1 and rng.random() < self.mutation_prob:
                    child[k] = int(rng.integers(r))
            idx = space.from_digits(child)
            if idx in seen or not space.is_valid(idx):
                continue
            seen.add(idx)
            children.append(idx)
        if len(children) < self.pop_size:
            children += space.sample(self.pop_size - len(children), rng, exclude=seen)
        return children

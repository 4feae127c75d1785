"""Grid search: the space in index order."""
from __future__ import annotations

from typing import Any, List

from .tuner import Tuner

__all__ = ["GridSearchTuner"]


class GridSearchTuner(Tuner):
    """Every config in index order, skipping invalid and already visited ones."""

    def __init__(self, task: Any, seed=None):
        super().__init__(task, seed)
        self._next = 0

    def has_next(self) -> bool:
        return self._next < self.space.n_configs

    def next_batch(self, batch_size: int) -> List[Any]:
        out = []
        total = self.space.n_configs
        while len(out) < batch_size and self._next < total:
            i = self._next
            self._next += 1
            if i in self.visited or not self.space.is_valid(i):
                continue
            self.visited.add(i)
            out.append(self.space.get(i))
        return out

"""Random search."""
from __future__ import annotations

from typing import Any, List

from .tuner import Tuner

__all__ = ["RandomTuner"]


class RandomTuner(Tuner):
    """Uniform random configs, without replacement (works on spaces of any size)."""

    def __init__(self, task: Any, seed=None):
        super().__init__(task, seed)
        self._exhausted = False

    def has_next(self) -> bool:
        return not self._exhausted and super().has_next()

    def next_batch(self, batch_size: int) -> List[Any]:
        picks = self.space.sample(batch_size, self.rng, exclude=self.visited)
        if len(picks) < batch_size:
            self._exhausted = True
        self.visited.update(picks)
        return [self.space.get(i) for i in picks]

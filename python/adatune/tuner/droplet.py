"""Droplet search (AutoTVM's ``DropletTuner`` of TVM 0.13+): coordinate descent with
growing steps over the knobs' positions.

The search keeps one best configuration (in knob positions). Its neighbourhood is every
move of a non-empty subset of knobs by the same signed step (``+s`` on each knob of the
subset, then ``-s``). It starts with the one-step neighbourhood. A measured neighbour
replaces the best only when it is faster and, where both have several repeats, faster
with significance (Welch-free Student t-test, ``p <= pvalue``). A new best restarts
the neighbourhood at step 1 around it. While a batch cannot be filled, the step grows
(2, 3, ... up to the largest knob) and the farther neighbours fill it, the
"speculation" that lets the droplet roll down long slopes in one batch. The search ends
when no unvisited neighbour is left at any step (it may stop before the budget: that is
DropletSearch's own stopping rule).

Positions wrap past a knob's last candidate and clamp at its first, as in the published
tuner (Canesche et al., "Droplet Search: a convex optimization tuner", 2023).
"""
from __future__ import annotations

from itertools import product
from typing import Any, Iterator, List, Optional, Sequence, Union

import numpy as np

from .._checks import check_choice, check_number
from ..errors import ArgumentError, ArgumentTypeError
from ..measure.measure import MeasureErrorNo
from .tuner import Tuner

__all__ = ["DropletTuner"]


class DropletTuner(Tuner):
    """Coordinate descent on knob positions with a significance test (DropletSearch).

    Parameters
    ----------
    task : Task
    start_position : sequence of int or "random", optional
        The first configuration as one position per knob; default all zeros (the
        first candidate of every knob), as AutoTVM's tuner. ``"random"`` starts at a
        valid configuration drawn with ``seed`` (what a benchmark over seeds wants:
        from a fixed start every seed walks the same path).
    pvalue : float, default 0.05
        A faster neighbour becomes the best only if a t-test on the two configs'
        repeated costs gives at most this p-value (skipped when either has one cost).
    seed : int or numpy.random.Generator, optional
        Draws the start when ``start_position="random"``, or when the start position
        is invalid (a constrained space). From a given valid start the search is
        deterministic.
    """

    def __init__(self, task: Any, start_position: Union[None, str, Sequence[int]] = None,
                 pvalue: float = 0.05, seed=None):
        super().__init__(task, seed)
        self.pvalue = check_number(pvalue, "pvalue", "DropletTuner", low=0.0, high=1.0)
        self._radices = list(self.space.radices)
        self._live = [k for k, r in enumerate(self._radices) if r > 1]
        drawn = isinstance(start_position, str)
        if drawn:
            check_choice(start_position, "start_position", ("random",), "DropletTuner")
        given = start_position is not None and not drawn
        start = self._position(start_position) if given else [0] * len(self._radices)
        self._best_pos = start
        self._best_costs: Optional[List[float]] = None
        self._step = 1
        self._max_step = max(self._radices, default=1)
        start_idx = self.space.from_digits(start)
        if drawn or not self.space.is_valid(start_idx):
            # The published tuner assumes the start is valid. In a constrained space it
            # may not be, and its neighbourhood may hold no valid config at any step
            # (then the search would end before its first trial): start at a valid
            # config drawn with the seed instead.
            start_idx = self._valid_start()
            self._best_pos = list(self.space.digits(start_idx))
        self._queue: List[int] = [start_idx]
        self.visited.add(start_idx)
        self._done = False
        self._batch = 16  # the batch the loop last asked for (AutoTVM's default is max(16, CPUs))

    def _valid_start(self) -> int:
        drawn = self.space.sample(1, self.rng)
        if not drawn:
            raise ArgumentError(f"DropletTuner: no valid config found to start from in "
                                f"{self.space.n_configs} configs")
        return drawn[0]

    def _position(self, pos: Sequence[int]) -> List[int]:
        if isinstance(pos, (str, bytes)) or not hasattr(pos, "__len__"):
            raise ArgumentTypeError(f"DropletTuner: start_position must be a sequence of ints, got {pos!r}")
        if len(pos) != len(self._radices):
            raise ArgumentError(f"DropletTuner: start_position has {len(pos)} positions; the space has "
                                f"{len(self._radices)} knobs")
        out = []
        for k, (p, r) in enumerate(zip(pos, self._radices)):
            if isinstance(p, bool) or not isinstance(p, (int, np.integer)):
                raise ArgumentTypeError(f"DropletTuner: start_position[{k}] must be an int, got {p!r}")
            if not 0 <= int(p) < r:
                raise ArgumentError(f"DropletTuner: start_position[{k}] = {p} is outside 0..{r - 1}")
            out.append(int(p))
        return out

    # ------------------------------------------------------------------ neighbourhood
    def _moves(self, step: int) -> Iterator[List[int]]:
        """Positions one signed ``step`` away along every non-empty subset of live knobs,
        the largest subsets first (the published order)."""
        for mask in product((1, 0), repeat=len(self._live)):
            if not any(mask):
                continue
            for sign in (step, -step):
                pos = list(self._best_pos)
                for k, m in zip(self._live, mask):
                    if m:
                        moved = pos[k] + sign
                        pos[k] = moved % self._radices[k] if moved > 0 else 0
                yield pos

    def _neighbours(self, step: int, want: int) -> List[int]:
        out: List[int] = []
        for pos in self._moves(step):
            idx = self.space.from_digits(pos)
            if idx in self.visited:
                continue
            self.visited.add(idx)
            if self.space.is_valid(idx):
                out.append(idx)
                if len(out) >= want:
                    break
        return out

    def _fill(self, batch_size: int) -> None:
        # Speculation: farther steps fill a batch the near neighbourhood cannot.
        while len(self._queue) < batch_size and self._step < self._max_step:
            self._step += 1
            self._queue += self._neighbours(self._step, batch_size - len(self._queue))

    # ------------------------------------------------------------------ protocol
    def has_next(self) -> bool:
        return not self._done and bool(self._queue) and super().has_next()

    def next_batch(self, batch_size: int) -> List[Any]:
        if len(self._queue) < batch_size:
            self._queue += self._neighbours(self._step, batch_size - len(self._queue))
            self._fill(batch_size)
        out, self._queue = self._queue[:batch_size], self._queue[batch_size:]
        if not self._queue and not out:
            self._done = True
        self._batch = max(1, batch_size)
        return [self.space.get(i) for i in out]

    def update(self, inputs, results) -> None:
        super().update(inputs, results)
        if self._consider(inputs, results):
            # A new best: its own one-step neighbourhood comes first, then what was queued.
            self._step = 1
            self._queue = self._neighbours(1, self._batch) + self._queue
        if not self._queue:
            self._queue = self._neighbours(self._step, self._batch)
            self._fill(self._batch)
        if not self._queue:
            self._done = True

    def _absorb_history(self, inputs, results) -> None:
        super()._absorb_history(inputs, results)
        if self._consider(inputs, results):
            self._step = 1
            self._queue = self._neighbours(1, self._batch)

    def _consider(self, inputs, results) -> bool:
        """Take the fastest significant improvement of this batch as the best."""
        moved = False
        for inp, res in zip(inputs, results):
            if res.error_no != MeasureErrorNo.NO_ERROR:
                continue
            costs = [float(c) for c in res.costs]
            if not costs or not all(np.isfinite(costs)):
                continue
            if self._best_costs is None or (np.mean(costs) < np.mean(self._best_costs)
                                            and self._significant(self._best_costs, costs)):
                self._best_pos = list(self.space.digits(int(inp.config.index)))
                self._best_costs = costs
                moved = True
        return moved

    def _significant(self, a: Sequence[float], b: Sequence[float]) -> bool:
        if len(a) <= 1 or len(b) <= 1:
            return True
        if np.ptp(a) == 0 and np.ptp(b) == 0:
            return True  # identical repeats: a t-test is undefined, the means differ
        from scipy import stats

        return bool(stats.ttest_ind(np.asarray(a), np.asarray(b)).pvalue <= self.pvalue)

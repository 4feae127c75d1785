"""``measure_option``: a builder and a runner put together into one ``MeasureBatch``."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple

from .builder import BuildResult, LocalBuilder
from .measure import MeasureInput, MeasureResult
from .runner import LocalRunner


@dataclass
class MeasureStats:
    """Seconds spent building and running, summed over every batch."""

    build_seconds: float = 0.0
    run_seconds: float = 0.0
    batches: int = 0
    measured: int = 0
    confirmed: int = 0
    confirm_seconds: float = 0.0


@dataclass
class MeasureOption:
    """Build then run each batch of candidates; implements ``MeasureBatch``.

    ``confirm_batch`` re-times candidates of the last batch with the runner's
    confirming options (a longer, tighter measurement; see ``RunOptions.confirming``),
    reusing their builds.
    """

    builder: LocalBuilder
    runner: LocalRunner
    stats: MeasureStats = field(default_factory=MeasureStats)
    _last: List[Tuple[MeasureInput, BuildResult]] = field(default_factory=list, repr=False)

    @property
    def n_parallel(self) -> int:
        return max(self.builder.n_parallel, self.runner.n_parallel)

    def measure_batch(self, inputs: Sequence[MeasureInput]) -> List[MeasureResult]:
        t0 = time.perf_counter()
        built = self.builder.build(inputs)
        t1 = time.perf_counter()
        results = self.runner.run(inputs, built)
        t2 = time.perf_counter()
        self.stats.build_seconds += t1 - t0
        self.stats.run_seconds += t2 - t1
        self.stats.batches += 1
        self.stats.measured += len(inputs)
        self._last = list(zip(inputs, built))
        return results

    def confirm_batch(self, inputs: Sequence[MeasureInput]) -> List[MeasureResult]:
        """Measure ``inputs`` again, longer and tighter; builds of the last batch are reused."""
        t0 = time.perf_counter()
        built: List[Optional[BuildResult]] = [
            next((b for inp_, b in self._last if inp_ is inp), None) for inp in inputs]
        missing = [i for i, b in enumerate(built) if b is None]
        if missing:
            for i, b in zip(missing, self.builder.build([inputs[i] for i in missing])):
                built[i] = b
        results = self.runner.run(inputs, built, options=self.runner.options.confirming())
        self.stats.confirmed += len(inputs)
        self.stats.confirm_seconds += time.perf_counter() - t0
        return results

    def close(self) -> None:
        self.builder.close()
        self.runner.close()

    def __enter__(self) -> "MeasureOption":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def measure_option(builder: Optional[LocalBuilder] = None,
                   runner: Optional[LocalRunner] = None) -> MeasureOption:
    """Pair a builder and a runner, as AutoTVM's ``measure_option`` did.

    Defaults: :class:`LocalBuilder` with one worker per CPU and a :class:`LocalRunner`
    with the adaptive evaluator on.
    """
    return MeasureOption(builder or LocalBuilder(), runner or LocalRunner())

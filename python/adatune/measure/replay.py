"""Replay measurement: answer proposals with costs recorded by an exhaustive search.

A :class:`ReplaySpace` holds every measured config of one search space, read from

* an AutoTVM log (v0.1 or v0.2 JSON lines, e.g. a grid-search log written by
  ``log_to_file``): the space is rebuilt from the logged entities
  (:meth:`ConfigSpace.from_records`), failed records (``error_no != 0``) replay as
  failures with their error code;
* a Kernel Tuner cache file (JSON, optionally gzipped: ``tune_params`` + ``cache``):
  one knob per tuning parameter; ``CompilationFailedConfig`` / ``RuntimeFailedConfig``
  entries replay as compile / runtime failures.

Only recorded configs are valid in the rebuilt space (it is restricted to them by
:meth:`ConfigSpace.restrict`), so a tuner never proposes a config without a recorded
answer. :class:`ReplayRunner` is a ``MeasureBatch`` over it: no build, no run,
optional noise drawn from the recorded repeated runs, and a simulated clock charged
with the recorded compile + run time of each measurement.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .._checks import check_positive_int
from ..errors import ArgumentError, NoRecordError, RecordError
from ..records import ReadSummary, format_of, get_format, read_records
from ..space import ConfigSpace
from .measure import MeasureErrorNo, MeasureInput, MeasureResult

__all__ = ["ReplayEntry", "ReplaySpace", "ReplayRunner", "load_replay"]

PathLike = Union[str, "os.PathLike[str]"]

class ReplayEntry:
    """What was recorded for one config.

    Parameters
    ----------
    error_no : int
        0 for a successful measurement, otherwise the (AutoTVM) error code.
    cost : float
        Mean run time in seconds (``inf`` for a failure).
    times : tuple of float
        The individual recorded runs in seconds (noise source); may be empty.
    charge : float
        Seconds the measurement took (compile + run), for simulated time.
    message : str
        Error text of a failure.
    """

    __slots__ = ("error_no", "cost", "times", "charge", "message")

    def __init__(self, error_no: int, cost: float, times: Tuple[float, ...] = (),
                 charge: float = 0.0, message: str = ""):
        self.error_no = int(error_no)
        self.cost = float(cost)
        self.times = tuple(float(t) for t in times)
        self.charge = float(charge)
        self.message = message

    @property
    def ok(self) -> bool:
        return self.error_no == 0

    def __repr__(self) -> str:
        return f"ReplayEntry(error_no={self.error_no}, cost={self.cost:g})"


class ReplaySpace:
    """Every recorded config of one search space, usable as a tuning task.

    Has the attributes a tuner needs of a task (``config_space``, ``name``, ``args``,
    ``target``, ``flop``; ``flop`` is 0, so throughput is ``1 / cost``).

    Parameters
    ----------
    name : str
    args : tuple
    target : str
    config_space : ConfigSpace
        Its valid configs should be exactly the indices of ``entries`` (the
        ``from_*`` constructors restrict it to them).
    entries : dict of int to ReplayEntry
    source : str
        File it was read from (for messages).
    """

    def __init__(self, name: str, args: Sequence[Any], target: str, config_space: Any,
                 entries: Dict[int, ReplayEntry], source: str = ""):
        if not entries:
            raise ArgumentError(f"{source or name}: no recorded configs")
        self.name = name
        self.args = tuple(args)
        self.target = target
        self.config_space = config_space
        self.entries = entries
        self.source = source
        self.flop = 0.0
        ok = [e.cost for e in entries.values() if e.ok]
        if not ok:
            raise ArgumentError(f"{source or name}: every recorded config failed; nothing to replay")
        self.optimum_cost = min(ok)
        self.optimum_index = min((i for i, e in entries.items() if e.ok), key=lambda i: entries[i].cost)

    @property
    def n_recorded(self) -> int:
        return len(self.entries)

    @property
    def n_failed(self) -> int:
        return sum(not e.ok for e in self.entries.values())

    def quality(self, cost: float) -> float:
        """Optimum cost / ``cost`` in [0, 1] (0 for a failure)."""
        return self.optimum_cost / cost if cost > 0 and math.isfinite(cost) else 0.0

    def __repr__(self) -> str:
        return (f"ReplaySpace({self.name!r}, {self.n_recorded} recorded, {self.n_failed} failed, "
                f"optimum {self.optimum_cost:g} s)")

    # ------------------------------------------------------------------ readers
    @classmethod
    def from_autotvm_log(cls, path: PathLike, workload: Optional[str] = None) -> "ReplaySpace":
        """Read an exhaustive AutoTVM log (v0.1/v0.2 lines, ``#`` comments, ``.gz``).

        Parameters
        ----------
        path : path
        workload : str, optional
            Workload key to replay when the log holds several (otherwise an error).

        Raises
        ------
        RecordError
            Naming the file and line of the first malformed line.
        ArgumentError
            When the file does not exist, or holds several workloads and ``workload``
            is not given.
        NoRecordError
            When the log holds no record (of ``workload``).
        """
        path = _existing(path)
        records, summary = read_records(path)
        _raise_first_error(summary)
        if not records:
            raise NoRecordError(f"{path}: no records")
        keys = sorted({r.workload_key for r in records})
        if workload is None and len(keys) > 1:
            raise ArgumentError(f"{path}: {len(keys)} workloads ({', '.join(keys[:3])}...); "
                                "pass workload=")
        key = workload or keys[0]
        records = [r for r in records if r.workload_key == key]
        if not records:
            raise NoRecordError(f"{path}: no records of workload {workload!r}")
        # One record per logged index (a re-measured config keeps its first record).
        by_index: Dict[int, Any] = {}
        for r in records:
            by_index.setdefault(r.config_index, r)
        recs = list(by_index.values())
        entities = [r.entity for r in recs]
        try:
            space = ConfigSpace.from_records(entities, indices=[r.config_index for r in recs])
        except ValueError:
            # A log of a restricted space may not pin the radices down; the logged
            # indices are then not reproducible, but the configs still are.
            space = ConfigSpace.from_records(entities)
        entries: Dict[int, ReplayEntry] = {}
        for r in recs:
            entries[space.index_of([list(e) for e in r.entity])] = _entry(r)
        space.restrict(entries)
        first = records[0]
        return cls(first.task_name, first.args, first.target, space, entries, path)

    @classmethod
    def from_kernel_tuner_cache(cls, path: PathLike) -> "ReplaySpace":
        """Read a Kernel Tuner cache file (JSON, optionally ``.gz``); times in ms.

        The file is read by the records layer's Kernel Tuner format: one knob per
        tuning parameter (its candidates as listed in ``tune_params``), one entry per
        cached config, at the index the format gives it.

        Raises
        ------
        RecordError
            Naming the file and line when it is not a readable cache file or an entry
            has no usable time.
        """
        path = _existing(path)
        fmt = get_format("kernel_tuner")
        summary = ReadSummary()
        cache = fmt.context(Path(path), summary)
        records = [] if cache is None else list(fmt.records_of(path, summary, cache))
        _raise_first_error(summary)
        space = ConfigSpace()
        for p in cache.params:
            space.define_knob(p, list(cache.values[p]))
        entries = {r.config_index: _entry(r) for r in records}
        space.restrict(entries)
        return cls(cache.kernel_name, (cache.problem_size,), cache.device_name, space, entries,
                   path)

    @classmethod
    def load(cls, path: PathLike, workload: Optional[str] = None) -> "ReplaySpace":
        """Read either format, told apart by content (see
        :func:`adatune.records.format_of`)."""
        path = _existing(path)
        if format_of(path).name == "kernel_tuner":
            return cls.from_kernel_tuner_cache(path)
        return cls.from_autotvm_log(path, workload=workload)


def _existing(path: PathLike) -> str:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ArgumentError(f"replay: no such file: {path}")
    return path


def _raise_first_error(summary: ReadSummary) -> None:
    """A replayed space must be exactly what was recorded: any malformed line is fatal."""
    if summary.rejected:
        err = summary.errors[0]
        more = f" (and {summary.rejected - 1} more)" if summary.rejected > 1 else ""
        raise RecordError(err.reason, f"{err.path}:{err.line}: malformed record "
                                      f"({err.reason}): {err.message}{more}")


def _entry(record: Any) -> ReplayEntry:
    """What replaying ``record`` answers: its cost and recorded runs, or its failure."""
    if record.ok:
        # Kernel Tuner records keep their individual runs apart (maybe none)
        times = (record.extra or {}).get("kt_times", record.costs)
        return ReplayEntry(0, record.mean_cost, tuple(times), record.all_cost)
    code = record.error_no if record.error_no else int(MeasureErrorNo.UNKNOWN_ERROR)
    message = (record.extra or {}).get("kt_error") or str(record.costs[:1])
    return ReplayEntry(code, math.inf, (), record.all_cost, message)


def load_replay(path: PathLike, workload: Optional[str] = None) -> ReplaySpace:
    """Read an AutoTVM log or a Kernel Tuner cache file; see :class:`ReplaySpace`."""
    return ReplaySpace.load(path, workload=workload)


class ReplayRunner:
    """``MeasureBatch`` answering every proposal with its recorded measurement.

    Parameters
    ----------
    space : ReplaySpace or path
        The recorded space (a path is read with :meth:`ReplaySpace.load`). Its
        ``config_space`` is the space tuners must propose from (``runner.task``).
    noise : bool
        Replay measurement noise: each successful result is ``repeats`` runs drawn
        (with replacement) from the recorded individual runs instead of the recorded
        mean; configs without recorded runs return the mean.
    repeats : int
        Runs drawn per measurement when ``noise`` is on.
    n_parallel : int
        Batch size the tuner is asked for.
    seed : int, optional
        Seed of the noise draws.

    Attributes
    ----------
    simulated_time : float
        Recorded seconds (compile + run) of every measurement answered so far.
    n_measured : int
        Measurements answered so far (confirmations not included).
    n_confirmed : int
        Confirmations answered (:meth:`confirm_batch`).
    """

    def __init__(self, space: Union[ReplaySpace, PathLike], noise: bool = False, repeats: int = 1,
                 n_parallel: int = 8, seed: Optional[int] = None):
        if not isinstance(space, ReplaySpace):
            space = ReplaySpace.load(space)
        repeats = check_positive_int(repeats, "repeats", "ReplayRunner")
        n_parallel = check_positive_int(n_parallel, "n_parallel", "ReplayRunner")
        self.space = space
        self.noise = bool(noise)
        self.repeats = repeats
        self.n_parallel = n_parallel
        self.rng = np.random.default_rng(seed)
        self.simulated_time = 0.0
        self.n_measured = 0
        self.n_confirmed = 0

    @property
    def task(self) -> ReplaySpace:
        """The task to hand to a tuner."""
        return self.space

    def measure_batch(self, inputs: Sequence[MeasureInput]) -> List[MeasureResult]:
        out = []
        for inp in inputs:
            idx = int(inp.config.index)
            entry = self.space.entries.get(idx)
            if entry is None:
                raise ArgumentError(f"ReplayRunner: config {idx} was not recorded in {self.space.source}")
            self.simulated_time += entry.charge
            self.n_measured += 1
            if not entry.ok:
                out.append(MeasureResult((entry.message or "replayed failure",), entry.error_no,
                                         entry.charge, self.simulated_time))
                continue
            if self.noise and entry.times:
                costs = tuple(float(c) for c in self.rng.choice(entry.times, size=self.repeats))
            else:
                costs = (entry.cost,)
            out.append(MeasureResult(costs, MeasureErrorNo.NO_ERROR, entry.charge, self.simulated_time))
        return out

    def confirm_batch(self, inputs: Sequence[MeasureInput]) -> List[MeasureResult]:
        """The recorded mean of each config: the long measurement that confirms a new best.

        Without ``noise`` it is what the first measurement returned, and costs nothing;
        with ``noise`` it is charged the recorded run time of all its recorded runs.
        """
        out = []
        for inp in inputs:
            entry = self.space.entries[int(inp.config.index)]
            self.n_confirmed += 1
            if not entry.ok:
                out.append(MeasureResult((entry.message or "replayed failure",), entry.error_no,
                                         0.0, self.simulated_time))
                continue
            charge = float(sum(entry.times)) if self.noise else 0.0
            self.simulated_time += charge
            out.append(MeasureResult((entry.cost,), MeasureErrorNo.NO_ERROR, charge,
                                     self.simulated_time))
        return out

    def close(self) -> None:
        """Nothing to release (symmetry with ``MeasureOption``)."""

    def __enter__(self) -> "ReplayRunner":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

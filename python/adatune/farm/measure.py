"""``FarmMeasure``: a ``MeasureBatch`` that builds here and measures on a :class:`Farm`.

Several tuners (one per task, each in its own thread) may share one ``FarmMeasure``:
their candidates meet in the farm's queue and go to whichever server is free. The
builder is shared too, one batch at a time, so that building keeps one batch ahead of
each waiting task without building more than the farm can measure. ``stats`` says
where the time went: seconds the builder was busy, seconds candidates waited on the
farm, and (with :meth:`Farm.servers`) how busy the servers were; :meth:`bottleneck`
names the side that limited the run.

With ``simulated=True`` the servers are simulated devices
(:mod:`adatune.farm.sim_server`): a candidate is sent as its config index, and without a
builder nothing is built (builds "from a cache", for benchmarks of the dispatch layer).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence

from .._checks import check_bool, check_positive_int
from ..errors import ArgumentTypeError
from ..measure.measure import MeasureErrorNo, MeasureInput, MeasureResult
from ..measure.runner import RunOptions, time_on_session
from .pool import Farm, FarmJob, session_alive
from .sim_server import MEASURE_FUNC

__all__ = ["FarmMeasure", "FarmStats"]


@dataclass
class FarmStats:
    """Where a farm run's time went (seconds, summed over every batch and thread)."""

    build_seconds: float = 0.0  # the builder busy
    build_wait_seconds: float = 0.0  # tasks waiting for the builder
    measure_wait_seconds: float = 0.0  # tasks waiting for the farm's answers
    batches: int = 0
    measured: int = 0
    confirmed: int = 0
    confirm_seconds: float = 0.0
    first: float = 0.0
    last: float = 0.0

    @property
    def run_seconds(self) -> float:
        """Seconds waited on the farm's answers (``adatune tune``'s "seconds running")."""
        return self.measure_wait_seconds

    @property
    def wall_seconds(self) -> float:
        return max(0.0, self.last - self.first)


def _measure_module(session: Any, job: FarmJob) -> Dict[str, Any]:
    path, task, opts, arg_specs = job.payload
    value = time_on_session(session, path, task, opts, arg_specs)
    if value.get("error_no", 0) == int(MeasureErrorNo.RUNTIME_DEVICE) and not session_alive(session):
        raise RuntimeError(value.get("msg", "the session broke"))  # the server's fault
    return value


def _measure_simulated(session: Any, job: FarmJob) -> Dict[str, Any]:
    (index,) = job.payload
    reply = json.loads(str(session.get_function(MEASURE_FUNC)(int(index))))
    if reply["error_no"] == 0:
        return {"error_no": 0, "costs": [float(reply["cost"])]}
    return {"error_no": int(reply["error_no"]), "msg": reply["msg"]}


class FarmMeasure:
    """Build candidates here, measure them on ``farm``; implements ``MeasureBatch``.

    Parameters
    ----------
    farm : Farm
    builder : LocalBuilder, optional
        Default: ``LocalBuilder()``, or no builder when ``simulated``.
    simulated : bool, default False
        The servers are simulated devices answering by config index.
    tasks_at_once : int, default 2
        Rounds of different tasks ``tune_model`` runs at once on this farm (two: one
        task's batch is measured while the next one's is built).
    close_farm : bool, default False
        :meth:`close` closes the farm too.
    **run_options :
        How a candidate is timed (those of :class:`adatune.measure.LocalRunner`:
        ``timeout``, ``min_converge_coef``, ...).
    """

    def __init__(self, farm: Farm, builder: Any = None, simulated: bool = False, tasks_at_once: int = 2,
                 close_farm: bool = False, **run_options: Any):
        if not isinstance(farm, Farm):
            raise ArgumentTypeError(f"FarmMeasure: farm must be an adatune.farm.Farm, got {farm!r}")
        self.farm = farm
        self.simulated = check_bool(simulated, "simulated", "FarmMeasure")
        self.tasks_at_once = check_positive_int(tasks_at_once, "tasks_at_once", "FarmMeasure")
        self.close_farm = check_bool(close_farm, "close_farm", "FarmMeasure")
        if builder is None and not self.simulated:
            from ..measure.builder import LocalBuilder

            builder = LocalBuilder()
        self.builder = builder
        self.options = RunOptions(**run_options)
        self.options.validate("FarmMeasure")
        self.stats = FarmStats()
        self._build_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._local = threading.local()  # each tuner thread's last batch, for confirm_batch

    @property
    def n_parallel(self) -> int:
        return self.farm.n_servers

    def _deadline(self, opts: RunOptions) -> float:
        # Simulated: the sleep. Real: upload, load, and the evaluator (which stops itself
        # at 0.6 x timeout), with room for a slow first load.
        return opts.timeout if self.simulated else 2.0 * opts.timeout + 10.0

    def _build(self, inputs: Sequence[MeasureInput]) -> List[Any]:
        if self.builder is None:
            return [None] * len(inputs)
        t0 = time.perf_counter()
        with self._build_lock:
            t1 = time.perf_counter()
            built = self.builder.build(inputs)
            t2 = time.perf_counter()
        with self._stats_lock:
            self.stats.build_wait_seconds += t1 - t0
            self.stats.build_seconds += t2 - t1
        return list(built)

    def _measure(self, inputs: Sequence[MeasureInput], built: Sequence[Any],
                 opts: RunOptions) -> List[MeasureResult]:
        label = ""
        futures: List[Any] = []
        for inp, b in zip(inputs, built):
            label = getattr(inp.task, "name", "")
            if b is not None and not b.ok:
                futures.append(None)
                continue
            if self.simulated:
                job = FarmJob(_measure_simulated, (int(inp.config.index),), self._deadline(opts), label)
            else:
                job = FarmJob(_measure_module, (b.filename, inp.task, opts, b.arg_specs),
                              self._deadline(opts), label)
            futures.append(self.farm.submit(job))
        results = []
        for inp, b, fut in zip(inputs, built, futures):
            build_cost = b.time_cost if b is not None else 0.0
            if fut is None:
                results.append(MeasureResult((b.error_msg,), b.error_no, b.time_cost, time.time()))
                continue
            t0 = time.monotonic()
            value = fut.result()  # FarmError when the farm cannot measure at all
            if "refused" in value:
                raise value["refused"]  # would refuse every candidate alike
            cost = build_cost + (time.monotonic() - t0)
            if value["error_no"] == 0:
                results.append(MeasureResult(tuple(value["costs"]), 0, cost, time.time()))
            else:
                results.append(MeasureResult((value.get("msg", ""),), value["error_no"], cost, time.time()))
        return results

    def measure_batch(self, inputs: Sequence[MeasureInput]) -> List[MeasureResult]:
        now = time.time()
        with self._stats_lock:
            self.stats.first = self.stats.first or now
        built = self._build(inputs)
        t0 = time.perf_counter()
        results = self._measure(inputs, built, self.options)
        with self._stats_lock:
            self.stats.measure_wait_seconds += time.perf_counter() - t0
            self.stats.batches += 1
            self.stats.measured += len(inputs)
            self.stats.last = time.time()
        self._local.last = list(zip(inputs, built))
        return results

    def confirm_batch(self, inputs: Sequence[MeasureInput]) -> List[MeasureResult]:
        """Measure ``inputs`` again with the confirming options, reusing their builds."""
        t0 = time.perf_counter()
        last = getattr(self._local, "last", [])
        built = [next((b for inp_, b in last if inp_ is inp), None) for inp in inputs]
        missing = [i for i, b in enumerate(built) if b is None]
        if missing and self.builder is not None:
            for i, b in zip(missing, self._build([inputs[i] for i in missing])):
                built[i] = b
        results = self._measure(inputs, built, self.options.confirming())
        with self._stats_lock:
            self.stats.confirmed += len(inputs)
            self.stats.confirm_seconds += time.perf_counter() - t0
        return results

    def bottleneck(self) -> Dict[str, Any]:
        """Which side limited the run: ``"build"`` when the builder was busy most of the
        wall time, ``"measure"`` when the servers were, else ``"tuner"`` (proposing)."""
        s = self.stats
        wall = s.wall_seconds or 1e-9
        servers = self.farm.servers()
        busy = sum(x.busy_seconds for x in servers)
        n = max(1, len([x for x in servers if x.measured or x.failures]))
        shares = {"build": min(1.0, s.build_seconds / wall), "measure": min(1.0, busy / (n * wall))}
        side = max(shares, key=shares.get)
        return {"bottleneck": side if shares[side] >= 0.5 else "tuner",
                "builder_busy": shares["build"], "servers_busy": shares["measure"],
                "wall_seconds": s.wall_seconds, "stats": asdict(s)}

    def report(self) -> Dict[str, Any]:
        """:meth:`bottleneck`, the farm's counts and what each server did, as plain data
        (``tune_model``'s report holds it under ``"farm"``)."""
        return {**self.bottleneck(), "counts": dict(self.farm.counts),
                "servers": [asdict(s) for s in self.farm.servers()]}

    def close(self) -> None:
        if self.builder is not None:
            self.builder.close()
        if self.close_farm:
            self.farm.close()

    def __enter__(self) -> "FarmMeasure":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

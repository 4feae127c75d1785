"""Run compiled candidates and time them: locally or on RPC servers behind a tracker.

Both runners time in worker processes, so a kernel that crashes or hangs costs one
failed result (error 4 or 7), not the tuning run.  A measurement that is refused rather
than failed (a bad timing argument, a plugin that does not accept the call) would refuse
every candidate alike: it raises in the tuning process instead of being counted as one
more failed candidate.  With ``enable_adaptive_evaluator``
the timing is the adaptive loop (:func:`adatune.measure.time_adaptive`), which on RPC
runs inside the server through the plugin; otherwise it is TVM's fixed
``time_evaluator(number, repeat, min_repeat_ms)``, which is what AutoTVM users ran.
"""
from __future__ import annotations

import logging
import os
import time
from collections import Counter
import dataclasses
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .._checks import check_int, check_number, check_positive_int
from ..errors import AdatuneError, ArgumentError
from .builder import BuildResult
from .evaluator import _MAX_MS
from .measure import MeasureErrorNo, MeasureInput, MeasureResult
from .policy import StopPolicy
from .worker_pool import WorkerPool

logger = logging.getLogger(__name__)


def confirming_rule(opts: Any) -> Dict[str, Any]:
    """The adaptive rule that confirms a would-be new best, tightened from ``opts`` (any
    object with ``min_converge_coef``, ``min_batches``, ``max_batches``, ``min_batch_ms``):
    at least 5 batches of at least 10 ms, CV below 0.03, up to at least 20 batches.  One
    rule for the template runners and MetaSchedule's ``AdaptiveEvaluator``."""
    return dict(min_converge_coef=min(opts.min_converge_coef, 0.03),
                min_batches=max(opts.min_batches, 5), max_batches=max(opts.max_batches, 20),
                min_batch_ms=max(opts.min_batch_ms, 10.0))


@dataclass(frozen=True)
class RunOptions:
    """How to time one candidate (see :class:`LocalRunner` for the meaning)."""

    number: int = 4
    repeat: int = 3
    min_repeat_ms: float = 0.0
    timeout: float = 10.0
    cooldown_interval: float = 0.0
    enable_cpu_cache_flush: bool = False
    check_correctness: bool = False
    enable_adaptive_evaluator: bool = True
    min_converge_coef: float = 0.1
    min_batch_ms: float = 5.0
    max_batches: int = 20
    min_batches: int = 3

    def confirming(self) -> "RunOptions":
        """The measurement that confirms a would-be new best (see ``Tuner.tune``).

        Longer and tighter than a tuning measurement, so that its own noise is small
        next to the differences between good configs: adaptive timing needs at least 5
        batches of at least 10 ms and a coefficient of variation below 0.03 (at most 20
        batches, 0.2-0.4 s for most kernels); fixed timing gets at least 10 repeats of
        at least 50 ms.  Correctness was checked by the first measurement.
        """
        return dataclasses.replace(
            self, **confirming_rule(self), repeat=max(self.repeat, 10),
            min_repeat_ms=max(self.min_repeat_ms, 50.0), check_correctness=False)

    def validate(self, owner: str = "Runner") -> None:
        """Check every option once, when the runner is made (not per candidate)."""
        check_positive_int(self.number, "number", owner)
        check_positive_int(self.repeat, "repeat", owner)
        check_number(self.min_repeat_ms, "min_repeat_ms", owner, low=0.0)
        check_number(self.timeout, "timeout", owner, low=0.0, low_open=True)
        # Seconds here, milliseconds for time_adaptive: the same upper bound.
        check_number(self.cooldown_interval, "cooldown_interval", owner, low=0.0,
                     high=_MAX_MS / 1000)
        check_number(self.min_batch_ms, "min_batch_ms", owner, low=0.0, low_open=True,
                     high=_MAX_MS)
        # The stopping rule's own parameters are checked by their owner, StopPolicy.
        StopPolicy(min_converge_coef=self.min_converge_coef, min_batches=self.min_batches,
                   max_batches=self.max_batches)


def timing_env() -> Dict[str, str]:
    """Environment for processes that time kernels.

    TVM sizes its thread pool by physical cores, which these VMs report as one: parallel
    kernels would then run on a single thread.  Unless the user chose, use every CPU.
    """
    return {"TVM_NUM_THREADS": os.environ.get("TVM_NUM_THREADS", str(os.cpu_count() or 1))}


def use_timing_env() -> None:
    """Apply :func:`timing_env` to this process. TVM reads it when its thread pool
    starts (the first parallel kernel), so call this before running any."""
    for key, value in timing_env().items():
        os.environ.setdefault(key, value)


def _worker_init() -> None:
    import tvm  # noqa: F401

    import adatune.templates  # noqa: F401


def _time_fixed(mod, dev, args, opts: RunOptions) -> List[float]:
    f = mod.time_evaluator(
        "main", dev, number=opts.number, repeat=opts.repeat, min_repeat_ms=int(opts.min_repeat_ms),
        cooldown_interval_ms=int(opts.cooldown_interval * 1000),
        f_preproc="cache_flush_cpu_non_first_arg" if opts.enable_cpu_cache_flush else "",
    )
    return [float(c) for c in f(*args).results]


def _run_candidate(path: str, task: Any, opts_dict: Dict[str, Any],
                   rpc: Optional[Dict[str, Any]] = None, arg_specs: Any = None) -> Dict[str, Any]:
    import tvm

    opts = RunOptions(**opts_dict)
    if rpc is None:
        mod = tvm.runtime.load_module(path)
        dev = tvm.device(task.target.get_target_device_type(), 0)
        return time_module(mod, dev, task, opts, arg_specs)
    from tvm import rpc as tvm_rpc

    tracker = tvm_rpc.connect_tracker(rpc["host"], rpc["port"])
    session = tracker.request(rpc["key"], priority=rpc["priority"],
                              session_timeout=rpc["session_timeout"])
    return time_on_session(session, path, task, opts, arg_specs)


def time_on_session(session: Any, path: str, task: Any, opts: RunOptions,
                    arg_specs: Any = None) -> Dict[str, Any]:
    """Upload the built module at ``path`` to an RPC ``session`` and time it there (the
    adaptive loop runs in the server through the plugin). Errors of the connection
    itself propagate: they are the server's, not the candidate's."""
    session.upload(path)
    mod = session.load_module(os.path.basename(path))
    dev = session.device(task.target.get_target_device_type(), 0)
    info = session.get_function("adatune.process_info")
    server = str(info()) if info is not None else "remote"
    return time_module(mod, dev, task, opts, arg_specs, session=session, server=server)


def time_module(mod: Any, dev: Any, task: Any, opts: RunOptions, arg_specs: Any = None,
                session: Any = None, server: str = "local") -> Dict[str, Any]:
    """Check (optionally) and time a loaded candidate module; the result as a dict
    (``error_no`` and ``costs`` or ``msg``; ``refused`` when the timing was refused)."""
    import tvm

    rng = np.random.default_rng(0)
    if arg_specs is None:
        host_arrays = task.make_inputs(rng)
    else:  # built with packed parameters: random data of their shapes is enough to time it
        host_arrays = [rng.uniform(-1.0, 1.0, size=shape).astype(dtype)
                       if np.issubdtype(np.dtype(dtype), np.floating) else np.zeros(shape, dtype)
                       for shape, dtype in arg_specs]
    args = [tvm.runtime.tensor(a, dev) for a in host_arrays]
    try:
        # A pre-packed build takes other layouts than the reference: the model checks it
        # (every tuned kernel against its untuned version) instead.
        if opts.check_correctness and arg_specs is None:
            mod["main"](*args)
            dev.sync()
            expected = task.reference(host_arrays)
            outputs = task.output_indices
            expected = expected if isinstance(expected, (list, tuple)) else [expected]
            for out_idx, want in zip(outputs, expected):
                got = args[out_idx].numpy()
                if not np.allclose(got, want, rtol=1e-3, atol=1e-3 * max(1.0, float(np.abs(want).max()))):
                    err = float(np.abs(got - want).max())
                    return {"error_no": int(MeasureErrorNo.WRONG_ANSWER),
                            "msg": f"output {out_idx} differs from the reference (max abs err {err:.3g})",
                            "server": server}
        if opts.enable_adaptive_evaluator:
            from .evaluator import time_adaptive

            try:
                res = time_adaptive(
                    mod, dev, *args, min_converge_coef=opts.min_converge_coef,
                    min_batch_ms=opts.min_batch_ms, min_batches=opts.min_batches,
                    max_batches=opts.max_batches,
                    cooldown_ms=opts.cooldown_interval * 1000,
                    flush_cache=opts.enable_cpu_cache_flush,
                    # Stop by ourselves well before the pool kills us for the timeout.
                    max_wall_ms=opts.timeout * 1000 * 0.6, session=session,
                )
            except AdatuneError as err:
                # Refused, not failed: the tuning process re-raises it (see run()).
                return {"refused": err, "server": server}
            if not res.ok:
                return {"error_no": int(MeasureErrorNo.RUNTIME_DEVICE), "msg": res.error,
                        "server": server}
            return {"error_no": 0, "costs": [res.mean], "batches": res.batches,
                    "calls": res.calls, "server": server}
        return {"error_no": 0, "costs": _time_fixed(mod, dev, args, opts), "server": server}
    except Exception as err:
        return {"error_no": int(MeasureErrorNo.RUNTIME_DEVICE),
                "msg": f"{type(err).__name__}: {err}", "server": server}


class _PoolRunner:
    """Shared machinery: time built candidates in worker processes."""

    def __init__(self, n_parallel: int, options: RunOptions):
        options.validate(type(self).__name__)
        self.options = options
        self.n_parallel = n_parallel
        self._pool: Optional[WorkerPool] = None
        self.server_counts: Counter = Counter()

    def _rpc(self) -> Optional[Dict[str, Any]]:
        return None

    def run(self, inputs: Sequence[MeasureInput], build_results: Sequence[BuildResult],
            options: Optional[RunOptions] = None) -> List[MeasureResult]:
        """Time the built candidates; ``options`` (default: the runner's) for this call only
        (``MeasureOption.confirm_batch`` passes ``self.options.confirming()``)."""
        if self._pool is None:
            self._pool = WorkerPool(self.n_parallel, initializer=_worker_init, env=timing_env())
        opts = asdict(options or self.options)
        todo = [i for i, b in enumerate(build_results) if b.ok]
        jobs = [(build_results[i].filename, inputs[i].task, opts, self._rpc(), build_results[i].arg_specs)
                for i in todo]
        outcomes = self._pool.map(_run_candidate, jobs, timeout=self.options.timeout,
                                  first_timeout=self.options.timeout + 60.0)
        results: List[Optional[MeasureResult]] = [None] * len(inputs)
        now = time.time()
        for i, b in enumerate(build_results):
            if not b.ok:
                results[i] = MeasureResult((b.error_msg,), b.error_no, b.time_cost, now)
        refused = [o.value["refused"] for o in outcomes
                   if o.status == "ok" and "refused" in o.value]
        if refused:
            # The same refusal would meet every candidate: stop instead of failing them all.
            raise refused[0]
        for i, outcome in zip(todo, outcomes):
            cost = build_results[i].time_cost + outcome.seconds
            if outcome.status == "ok":
                v = outcome.value
                self.server_counts[v.get("server", "?")] += 1
                if v["error_no"] == 0:
                    results[i] = MeasureResult(tuple(v["costs"]), 0, cost, time.time())
                else:
                    results[i] = MeasureResult((v["msg"],), v["error_no"], cost, time.time())
            elif outcome.status == "timeout":
                results[i] = MeasureResult((outcome.message,), int(MeasureErrorNo.RUN_TIMEOUT),
                                           cost, time.time())
            else:
                results[i] = MeasureResult((outcome.message,), int(MeasureErrorNo.RUNTIME_DEVICE),
                                           cost, time.time())
        return results  # type: ignore[return-value]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


class LocalRunner(_PoolRunner):
    """Time candidates on this machine, one at a time (parallel runs would disturb timing).

    Parameters
    ----------
    number, repeat, min_repeat_ms :
        AutoTVM's fixed timing: ``repeat`` measurements of ``number`` calls each, with
        ``number`` raised until a measurement lasts ``min_repeat_ms``.  Used when
        ``enable_adaptive_evaluator`` is False.
    timeout : float
        Seconds one candidate may take; beyond it the result is a run timeout (7).
    cooldown_interval : float
        Seconds to sleep between measurements.
    enable_cpu_cache_flush : bool
        Flush the CPU caches before each timed call.
    check_correctness : bool
        Compare the outputs with the task's numpy reference; a mismatch is error 5.
    enable_adaptive_evaluator : bool
        Time with the adaptive evaluator (default) instead of the fixed repeats.
    min_converge_coef : float
        The adaptive evaluator's threshold on the coefficient of variation.
    min_batch_ms : float
        The adaptive evaluator's minimum micro-batch duration.
    """

    def __init__(self, number: int = 4, repeat: int = 3, min_repeat_ms: float = 0.0,
                 timeout: float = 10.0, cooldown_interval: float = 0.0,
                 enable_cpu_cache_flush: bool = False, check_correctness: bool = False,
                 enable_adaptive_evaluator: bool = True, min_converge_coef: float = 0.1,
                 min_batch_ms: float = 5.0, max_batches: int = 20):
        super().__init__(1, RunOptions(
            number, repeat, min_repeat_ms, timeout, cooldown_interval, enable_cpu_cache_flush,
            check_correctness, enable_adaptive_evaluator, min_converge_coef, min_batch_ms,
            max_batches))


class RPCRunner(_PoolRunner):
    """Time candidates on the RPC servers registered with a tracker under ``key``.

    One job per registered server runs at once, so a batch spreads over every server.  The
    servers must carry the plugin for adaptive timing (``adatune rpc-server``).
    Other parameters are those of :class:`LocalRunner`.
    """

    def __init__(self, key: str, host: str, port: int, priority: int = 1,
                 n_parallel: Optional[int] = None, session_timeout: float = 60.0, **kwargs: Any):
        if not isinstance(key, str) or not key:
            raise ArgumentError(f"RPCRunner: key must name the device key the servers "
                                f"registered under, got {key!r}")
        port = check_int(port, "port", "RPCRunner", low=1, high=65535)
        check_number(session_timeout, "session_timeout", "RPCRunner", low=0.0, low_open=True)
        n_parallel = check_positive_int(n_parallel, "n_parallel", "RPCRunner", allow_none=True)
        self.key, self.host, self.port = key, host, port
        self.priority, self.session_timeout = priority, session_timeout
        if n_parallel is None:
            n_parallel = self._registered_servers()
        super().__init__(n_parallel, RunOptions(**kwargs))

    def _registered_servers(self) -> int:
        from tvm import rpc as tvm_rpc

        try:
            summary = tvm_rpc.connect_tracker(self.host, self.port).summary()
        except Exception as err:
            raise RuntimeError(f"cannot reach the RPC tracker at {self.host}:{self.port}: {err}")
        # server_info lists every server connected to the tracker, busy or not. The
        # queue is no count of servers: "free" leaves out those in a session (or just
        # out of one), "pending" counts clients waiting for one.
        registered = sum(1 for info in summary.get("server_info", [])
                         if info.get("key") == f"server:{self.key}")
        if registered == 0:
            raise RuntimeError(f"no RPC server is registered under key {self.key!r} with the "
                               f"tracker at {self.host}:{self.port}")
        return registered

    def _rpc(self) -> Dict[str, Any]:
        return {"host": self.host, "port": self.port, "key": self.key,
                "priority": self.priority, "session_timeout": self.session_timeout}

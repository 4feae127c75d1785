"""MetaSchedule runners whose evaluator is adatune's adaptive one.

MetaSchedule's runners time a candidate with ``time_evaluator`` (by default 3 calls per
repeat, at least 100 ms per repeat).  Here the runners are MetaSchedule's own
``LocalRunner`` and ``RPCRunner`` with ``f_run_evaluator`` set to an
:class:`AdaptiveEvaluator`: micro-batches until the coefficient of variation falls below
``min_converge_coef`` (:func:`adatune.measure.time_adaptive`).  Locally the C++ loop runs
in the runner's worker process; over RPC it runs inside the server, which must have
loaded the plugin (``adatune rpc-server`` and :func:`adatune.measure.rpc.local_cluster`
servers do).
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, List, Optional

from ..measure.evaluator import time_adaptive
from .._checks import check_number
from ..errors import ArgumentError, ArgumentTypeError
from ..measure.policy import validate_policy

logger = logging.getLogger(__name__)

__all__ = ["AdaptiveEvaluator", "adaptive_local_runner", "adaptive_rpc_runner"]


@dataclass(frozen=True)
class AdaptiveEvaluator:
    """A picklable ``f_run_evaluator`` for MetaSchedule's ``LocalRunner``/``RPCRunner``.

    Parameters mirror :func:`adatune.measure.time_adaptive`.  Called with MetaSchedule's
    local signature ``(rt_mod, device, evaluator_config, repeated_args)`` or its RPC
    signature ``(session, rt_mod, device, evaluator_config, repeated_args)``; returns one
    run time (seconds) per argument set.  ``evaluator_config`` is ignored except for
    ``enable_cpu_cache_flush`` (the adaptive rule decides how often to run).
    """

    min_converge_coef: float = 0.1
    min_batches: int = 3
    max_batches: int = 20
    min_batch_ms: float = 1.0
    max_wall_ms: float = 2000.0
    cooldown_ms: float = 0.0
    flush_cache: bool = False

    def __post_init__(self) -> None:
        validate_policy(min_batches=self.min_batches, max_batches=self.max_batches,
                        min_converge_coef=self.min_converge_coef)
        for name in ("min_batch_ms", "max_wall_ms", "cooldown_ms"):
            check_number(getattr(self, name), name, "AdaptiveEvaluator", low=0.0,
                         low_open=name == "min_batch_ms", finite=name != "max_wall_ms")

    def confirming(self) -> "AdaptiveEvaluator":
        """The evaluator that confirms a would-be new best: at least 5 batches of at least
        10 ms and a coefficient of variation below 0.03 (the template runners'
        ``RunOptions.confirming`` rule)."""
        from ..measure.runner import confirming_rule

        return dataclasses.replace(self, **confirming_rule(self))

    def __call__(self, *call_args: Any) -> List[float]:
        if len(call_args) == 5:
            session, rt_mod, device, config, repeated_args = call_args
        elif len(call_args) == 4:
            session = None
            rt_mod, device, config, repeated_args = call_args
        else:
            raise ArgumentTypeError(f"AdaptiveEvaluator takes 4 (local) or 5 (RPC) arguments, "
                                    f"got {len(call_args)}")
        flush = self.flush_cache or bool(getattr(config, "enable_cpu_cache_flush", False))
        func_name = getattr(rt_mod, "entry_name", None) or "main"
        costs = []
        for args in repeated_args:
            res = time_adaptive(
                rt_mod, device, *args, func_name=func_name, session=session,
                min_converge_coef=self.min_converge_coef, min_batches=self.min_batches,
                max_batches=self.max_batches, min_batch_ms=self.min_batch_ms,
                max_wall_ms=self.max_wall_ms, cooldown_ms=self.cooldown_ms, flush_cache=flush)
            if res.error is not None:
                # The runner turns the exception into a failed trial; tuning goes on.
                raise RuntimeError(f"candidate failed while timed: {res.error}")
            costs.append(float(res.mean))
        return costs


def _evaluator(evaluator: Optional[AdaptiveEvaluator], options: dict) -> AdaptiveEvaluator:
    if evaluator is not None and options:
        raise ArgumentError("pass either evaluator= or evaluator options "
                            f"({', '.join(sorted(options))}), not both")
    if evaluator is not None:
        if not isinstance(evaluator, AdaptiveEvaluator):
            raise ArgumentTypeError(f"evaluator must be an AdaptiveEvaluator, got {type(evaluator).__name__}")
        return evaluator
    known = {f.name for f in dataclasses.fields(AdaptiveEvaluator)}
    unknown = set(options) - known
    if unknown:
        raise ArgumentError(f"unknown evaluator option(s) {sorted(unknown)}; known: {sorted(known)}")
    return AdaptiveEvaluator(**options)


def adaptive_local_runner(timeout_sec: float = 30.0, *, evaluator: Optional[AdaptiveEvaluator] = None,
                          **evaluator_options: Any):
    """MetaSchedule's ``LocalRunner`` with the adaptive evaluator.

    Parameters
    ----------
    timeout_sec : float
        Per-candidate limit; a candidate that hangs is killed and becomes a failed trial.
    evaluator : AdaptiveEvaluator, optional
        A ready evaluator, or build one from ``evaluator_options``
        (``min_converge_coef=0.1``, ``min_batches``, ``max_batches``, ``min_batch_ms``,
        ``max_wall_ms``, ``cooldown_ms``, ``flush_cache``).

    Returns
    -------
    tvm.s_tir.meta_schedule.runner.LocalRunner
        With ``runner.f_run_evaluator`` the :class:`AdaptiveEvaluator`.
    """
    from tvm.s_tir.meta_schedule.runner import LocalRunner

    timeout_sec = check_number(timeout_sec, "timeout_sec", "adaptive_local_runner", low=0.0, low_open=True)
    return LocalRunner(timeout_sec=timeout_sec,
                       f_run_evaluator=_evaluator(evaluator, evaluator_options))


def adaptive_rpc_runner(tracker: str, key: str, *, timeout_sec: float = 30.0, max_workers: int = 1,
                        evaluator: Optional[AdaptiveEvaluator] = None, **evaluator_options: Any):
    """MetaSchedule's ``RPCRunner`` timing inside the server with the C++ plugin.

    Parameters
    ----------
    tracker : str
        The RPC tracker, ``host:port``.
    key : str
        The device key the servers registered with.
    timeout_sec : float
        Per-candidate session timeout.
    max_workers : int
        Concurrent sessions.
    evaluator, **evaluator_options :
        As in :func:`adaptive_local_runner`.
    """
    from tvm.s_tir.meta_schedule.runner import RPCConfig, RPCRunner

    from ..measure.rpc import parse_address

    host, port = parse_address(tracker, "tracker")
    if not isinstance(key, str):
        raise ArgumentTypeError(f"adaptive_rpc_runner: key must be a str, got {key!r}")
    if not key:
        raise ArgumentError("adaptive_rpc_runner: key must name the RPC device key, got an empty string")
    timeout_sec = check_number(timeout_sec, "timeout_sec", "adaptive_rpc_runner", low=0.0, low_open=True)
    config = RPCConfig(tracker_host=host, tracker_port=port, tracker_key=key,
                       session_timeout_sec=int(max(1, round(timeout_sec))))
    return RPCRunner(rpc_config=config, max_workers=max_workers,
                     f_run_evaluator=_evaluator(evaluator, evaluator_options))

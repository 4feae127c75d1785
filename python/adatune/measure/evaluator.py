"""Adaptive timing of a compiled kernel: stop repeating once the measurement is reliable.

The loop (warm-up, batch-size calibration, micro-batches, stopping rule) runs in C++
inside ``libadatune_runtime.so`` when it is available, next to the device, locally or
inside an RPC server that loaded the plugin.  A pure-Python loop with the same policy
is the fallback.  The stopping rule itself is :mod:`adatune.measure.policy`.

Two failure channels, in both loops: a kernel that fails while it is timed is a result
(:attr:`AdaptiveResult.error`), while a bad argument, or a plugin that refuses the call
(an ABI mismatch, an RPC server with another plugin version), raises.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Optional, Sequence, Tuple

from .._checks import check_choice, check_int, check_number
from ..errors import AdatuneError, ArgumentError, PluginError
from . import _plugin
from .policy import StopPolicy, _policy_from, batch_cv

logger = logging.getLogger(__name__)

RPC_SESS_MASK = 128  # TVM marks remote devices by adding this to device_type
_IMPLS = ("auto", "cpp", "python")
_CALIBRATION_CALLS = 3
# The loop's bounds, the same as kMaxMs / kMaxNumber in src/timer.h: no min_batch_ms or
# cooldown_ms above an hour, no batch of more than 10**12 calls.
_MAX_MS = 3.6e6
_MAX_NUMBER = 10 ** 12


@dataclass(frozen=True)
class AdaptiveResult:
    """What an adaptive measurement found.

    Attributes
    ----------
    mean : float
        The policy's estimate of one call's run time, in seconds (``nan`` on error).
    costs : tuple of float
        Per-batch mean run time of one call, in seconds, in the order measured.
    batches, calls, number : int
        Batches run, timed calls (warm-up and calibration excluded), and calls per
        batch at the end (an automatic batch size only grows, when batches turn out
        shorter than half of ``min_batch_ms``).
    cv : float
        Coefficient of variation of the batch means (min and max trimmed from 5 batches).
    converged : bool
        True when the stopping rule was met before ``max_batches``.
    wall_time, warmup_time : float
        Seconds for the whole measurement, and for the warm-up call.
    impl : str
        ``"cpp"``, ``"cpp-rpc"`` (the plugin inside an RPC server) or ``"python"``.
    error : str or None
        The kernel's error message when it failed; the other fields are then empty.
    budget_exhausted : bool
        True when ``max_wall_ms`` ran out before the rule was met.
    cache_flushes : int
        CPU cache flushes done (``flush_cache``): one before every timed call, the
        calibration calls included; 0 without ``flush_cache``.
    """

    mean: float
    costs: Tuple[float, ...]
    batches: int
    calls: int
    number: int
    cv: float
    converged: bool
    wall_time: float
    warmup_time: float
    impl: str
    error: Optional[str] = None
    budget_exhausted: bool = False
    cache_flushes: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


def _resolve_module(mod: Any) -> Any:
    # tvm.compile returns an Executable; the runnable module is its jit().
    return mod.jit() if hasattr(mod, "jit") and not hasattr(mod, "get_function") else mod


def _dev_type(dev: Any) -> int:
    return int(dev.dlpack_device_type())


def _is_remote(dev: Any) -> bool:
    return _dev_type(dev) >= RPC_SESS_MASK


def _check_args(dev: Any, args: Sequence[Any]) -> None:
    for i, arg in enumerate(args):
        arg_dev = getattr(arg, "device", None)
        if arg_dev is None:
            continue
        if (_dev_type(arg_dev), int(arg_dev.index)) != (_dev_type(dev), int(dev.index)):
            raise ArgumentError(
                f"argument {i} lives on {arg_dev}, but the kernel is timed on {dev}; "
                "allocate it with tvm.runtime.tensor(..., device=dev)"
            )


def _policy_string(policy: StopPolicy) -> str:
    # A flat "key=value;..." string crosses RPC unchanged (containers do not).
    return ";".join(f"{f.name}={getattr(policy, f.name)!r}" for f in dataclasses.fields(policy))


def time_adaptive(
    mod: Any,
    dev: Any,
    *args: Any,
    func_name: Optional[str] = None,
    number: Optional[int] = None,
    min_batches: int = 3,
    max_batches: int = 20,
    min_converge_coef: float = 0.1,
    min_batch_ms: float = 1.0,
    cooldown_ms: float = 0.0,
    flush_cache: bool = False,
    max_wall_ms: float = 0.0,
    impl: str = "auto",
    session: Any = None,
    **policy_options: Any,
) -> AdaptiveResult:
    """Time ``mod[func_name](*args)`` on ``dev`` until the measurement is reliable.

    Parameters
    ----------
    mod : tvm.runtime.Module or tvm.runtime.Executable
        The compiled kernel; a remote module (``session.load_module``) for RPC.
    dev : tvm.runtime.Device
        Where to run it; a remote device for RPC.
    *args : tvm.runtime.Tensor
        The kernel's arguments, allocated on ``dev``.
    func_name : str, optional
        The function to time; ``"main"`` (``tvm.compile``'s default) when omitted.
    number : int, optional
        Calls per micro-batch (at most 10**12); chosen automatically so a batch lasts
        ``min_batch_ms``.
    min_batches, max_batches, min_converge_coef :
        The stopping rule's bounds and threshold, see :func:`adatune.measure.should_stop`.
    min_batch_ms : float
        Lower bound on a batch's duration when ``number`` is automatic (fast kernels
        are otherwise all timer noise); at most an hour (3.6e6).
    cooldown_ms : float
        Sleep between batches, to keep thermal throttling out of the numbers; at most
        an hour.
    flush_cache : bool
        Flush the CPU caches of every argument but the first before each call
        (each call is then timed alone); the result counts the flushes.
    max_wall_ms : float
        Stop starting new batches after this many milliseconds (0: no limit).
    impl : {"auto", "cpp", "python"}
        ``"auto"`` uses the C++ plugin when it loads, else Python with one warning.
    session : tvm.rpc.RPCSession, optional
        Required when ``dev`` is remote; the server must have loaded the plugin
        (``adatune rpc-server`` does).
    **policy_options :
        Further :class:`adatune.measure.StopPolicy` fields.

    Returns
    -------
    AdaptiveResult
        With ``error`` set (and the process intact) when the kernel raised.

    Raises
    ------
    adatune.errors.ArgumentError
        (a ``ValueError``) for an out-of-range, NaN or unknown parameter (named), an
        unknown ``impl``, a function the module lacks, or arguments on another device.
    adatune.errors.ArgumentTypeError
        (a ``TypeError``) for a parameter of the wrong type.
    adatune.errors.PluginError
        When ``impl="cpp"`` finds no plugin, or the plugin (local or in the RPC server)
        refuses the call instead of timing it.
    """
    owner = "time_adaptive"
    check_choice(impl, "impl", _IMPLS, owner)
    number = check_int(number, "number", owner, low=1, high=_MAX_NUMBER, allow_none=True)
    timer_args = dict(
        number=number or 0,
        min_batch_ms=check_number(min_batch_ms, "min_batch_ms", owner, low=0.0, low_open=True,
                                  high=_MAX_MS),
        cooldown_ms=check_number(cooldown_ms, "cooldown_ms", owner, low=0.0, high=_MAX_MS),
        flush_cache=bool(flush_cache),
        max_wall_ms=check_number(max_wall_ms, "max_wall_ms", owner, low=0.0))
    # The policy's one validation in Python (the plugin checks what it receives again).
    policy = _policy_from(dict(policy_options, min_batches=min_batches,
                               max_batches=max_batches, min_converge_coef=min_converge_coef))
    func_name = func_name or "main"
    mod = _resolve_module(mod)

    if _is_remote(dev):
        if impl == "python":
            raise ArgumentError("time_adaptive: impl='python' cannot time a remote device; "
                                "use 'auto' or 'cpp'")
        if session is None:
            raise ArgumentError("time_adaptive: dev is a remote device: "
                                "pass session=<the tvm.rpc session>")
        remote_fn = session.get_function("adatune.time_adaptive")
        return _run_cpp(remote_fn, mod, dev, func_name, args, policy, timer_args, "cpp-rpc",
                        session)

    if not mod.implements_function(func_name, query_imports=True):
        raise ArgumentError(f"time_adaptive: the module has no function {func_name!r}")
    _check_args(dev, args)
    cpp = None if impl == "python" else _plugin.get_function("adatune.time_adaptive")
    if cpp is None and impl == "cpp":
        raise PluginError(f"impl='cpp' but the plugin is unavailable: "
                          f"{_plugin.unavailable_reason()}")
    if cpp is not None:
        return _run_cpp(cpp, mod, dev, func_name, args, policy, timer_args, "cpp")
    return _run_python(mod.get_function(func_name, query_imports=True), dev, args, policy,
                       timer_args)


def _converged(policy: StopPolicy, means: Sequence[float]) -> bool:
    """Whether the rule itself was met, as opposed to the ``max_batches`` cap forcing a stop."""
    return bool(means) and policy.rule_met(means)


def _error_result(message: str, impl: str, wall: float) -> AdaptiveResult:
    return AdaptiveResult(mean=float("nan"), costs=(), batches=0, calls=0, number=0,
                          cv=float("nan"), converged=False, wall_time=wall, warmup_time=0.0,
                          impl=impl, error=message)


def _describe(err: BaseException) -> str:
    text, kind = str(err), type(err).__name__
    return text if text.startswith(kind) else f"{kind}: {text}"


def _session_alive(session: Any) -> bool:
    try:
        session.get_function("adatune.process_info")()
        return True
    except Exception:  # whatever the dead session raises, it is dead
        return False


def _run_cpp(fn, mod, dev, func_name, args, policy, timer_args, impl,
             session=None) -> AdaptiveResult:
    start = time.perf_counter()
    try:
        raw = fn(mod, func_name, _dev_type(dev) % RPC_SESS_MASK, int(dev.index),
                 timer_args["number"], timer_args["min_batch_ms"], timer_args["cooldown_ms"],
                 timer_args["flush_cache"], timer_args["max_wall_ms"], _policy_string(policy),
                 *args)
    except AdatuneError:
        raise  # the local plugin refused an argument, and named it
    except Exception as err:
        # A kernel's failure comes back in the JSON, never as an exception; over RPC an
        # exception is either the server refusing the call (it still answers) or the
        # session dying under the kernel (a crash: that candidate's failure).
        if session is not None and not _session_alive(session):
            return _error_result(f"the RPC session died while timing: {_describe(err)}",
                                 impl, time.perf_counter() - start)
        where = "the RPC server's plugin" if session is not None else "the plugin"
        raise PluginError(f"{where} refused adatune.time_adaptive: {_describe(err)}") from err
    out = json.loads(bytes(raw).decode(errors="replace"))
    if out.get("error") is not None:
        return _error_result(out["error"], impl, out["wall_s"])
    return AdaptiveResult(
        mean=float("nan") if out["mean"] is None else out["mean"],
        costs=tuple(out["batch_means"]), batches=len(out["batch_means"]), calls=out["calls"],
        number=out["number"], cv=float("nan") if out["cv"] is None else out["cv"],
        converged=out["converged"], wall_time=out["wall_s"], warmup_time=out["warmup_s"],
        impl=impl, budget_exhausted=out["budget_exhausted"], cache_flushes=out["flushes"],
    )


def _run_python(func, dev, args, policy: StopPolicy, timer_args) -> AdaptiveResult:
    clock = time.perf_counter
    sync = dev.sync if _dev_type(dev) != 1 else (lambda: None)
    flush = None
    if timer_args["flush_cache"]:
        import tvm_ffi

        flush = tvm_ffi.get_global_func("cache_flush_cpu_non_first_arg")
    start = clock()
    flushes = 0
    try:
        func(*args)
        sync()
        warmup = clock() - start

        def timed_call() -> float:
            nonlocal flushes
            if flush is not None:
                flush(*args)
                flushes += 1
            t0 = clock()
            func(*args)
            sync()
            return clock() - t0

        number = timer_args["number"]
        wanted = timer_args["min_batch_ms"] * 1e-3
        if number <= 0:
            # Same calibration as the C++ loop: fastest of up to 3 warm calls.
            one = timed_call()
            for _ in range(_CALIBRATION_CALLS - 1):
                if one >= wanted:
                    break
                one = min(one, timed_call())
            number = _calls_for(wanted, one)
        budget = timer_args["max_wall_ms"] * 1e-3 or math.inf
        means, calls, exhausted = [], 0, False
        while len(means) < policy.max_batches:
            if means and timer_args["cooldown_ms"] > 0:
                time.sleep(timer_args["cooldown_ms"] * 1e-3)
            if flush is not None:
                total = sum(timed_call() for _ in range(number))
            else:
                t0 = clock()
                for _ in range(number):
                    func(*args)
                sync()
                total = clock() - t0
            calls += number
            means.append(total / number)
            if timer_args["number"] <= 0 and total < 0.5 * wanted:
                # Same as the C++ loop: calibration was fooled by a preempted call.
                number = max(number, _calls_for(wanted, means[-1]))
            if policy.should_stop(means):
                break
            if clock() - start >= budget:
                exhausted = True
                break
    except Exception as err:  # the kernel failed: a result, as in the C++ loop
        return _error_result(f"{type(err).__name__}: {err}", "python", clock() - start)
    return AdaptiveResult(
        mean=policy.estimate(means), costs=tuple(means), batches=len(means), calls=calls,
        number=number, cv=batch_cv(means), converged=_converged(policy, means),
        wall_time=clock() - start, warmup_time=warmup, impl="python",
        budget_exhausted=exhausted, cache_flushes=flushes,
    )


def _calls_for(seconds: float, per_call: float) -> int:
    """Calls that make a batch last ``seconds``, in [1, 10**12] (``CallsFor`` in C++)."""
    return min(_MAX_NUMBER, max(1, math.ceil(seconds / max(per_call, 1e-9))))

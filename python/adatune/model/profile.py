"""Where a model's time goes: seconds per kernel, from the Relax VM's instrumentation."""
from __future__ import annotations

import time
from typing import Any, Dict, Sequence

__all__ = ["profile_kernels", "kernel_seconds"]

#: Names Relax's SplitLayoutRewritePreproc gives the two halves of a split kernel.
_SPLIT_SUFFIXES = ("", "_prepacked", "_weight_prepack")


def kernel_seconds(seconds: Dict[str, float], name: str) -> float:
    """Seconds of kernel ``name`` in a profile, its split-off packing stage included."""
    return sum(seconds.get(name + suffix, 0.0) for suffix in _SPLIT_SUFFIXES)


def profile_kernels(vm: Any, args: Sequence[Any], runs: int = 3) -> Dict[str, float]:
    """Seconds spent in each called function per run of ``vm["main"]`` (median-free
    mean over ``runs``, after one warm-up run). Keys are the VM's function symbols (the
    kernels' names)."""
    totals: Dict[str, float] = {}
    starts: Dict[str, float] = {}

    def instrument(func: Any, symbol: str, before: bool, ret: Any, *rest: Any) -> int:
        now = time.perf_counter()
        if before:
            starts[symbol] = now
        elif symbol in starts:
            totals[symbol] = totals.get(symbol, 0.0) + now - starts.pop(symbol)
        return 0  # VMInstrumentReturnKind.NO_OP: run the call

    vm["main"](*args)
    vm.set_instrument(instrument)
    try:
        for _ in range(runs):
            vm["main"](*args)
    finally:
        vm.set_instrument(lambda *a: 0)
    return {k: v / runs for k, v in totals.items()}

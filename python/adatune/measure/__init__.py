"""The measure layer: what to measure, how to build it, and how to time it.

Heavy submodules (TVM, worker pools) load on first use, so importing the package
to reach ``should_stop`` or the result types costs nothing.
"""
from .._lazy import lazy_exports

from .measure import MeasureBatch, MeasureErrorNo, MeasureInput, MeasureResult

_LAZY = {
    "StopPolicy": ".policy",
    "batch_cv": ".policy",
    "estimate": ".policy",
    "should_stop": ".policy",
    "validate_policy": ".policy",
    "time_adaptive": ".evaluator",
    "AdaptiveResult": ".evaluator",
    "LocalBuilder": ".builder",
    "BuildResult": ".builder",
    "LocalRunner": ".runner",
    "RPCRunner": ".runner",
    "measure_option": ".option",
    "MeasureOption": ".option",
    "local_cluster": ".rpc",
    "WorkerPool": ".worker_pool",
    "ReplayRunner": ".replay",
    "ReplaySpace": ".replay",
    "load_replay": ".replay",
    "NumpyReference": ".numpy_reference",
    "NumpyReferenceError": ".numpy_reference",
    "alternate": ".numpy_reference",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "MeasureBatch", "MeasureErrorNo", "MeasureInput", "MeasureResult", *sorted(_LAZY),
]

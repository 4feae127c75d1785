"""MetaSchedule integration: adatune's cost model, search, runners and builder for
``tvm.s_tir.meta_schedule``, and :func:`tune_tir`, a drop-in for ``ms.tune_tir``.

Submodules import TVM, so they load on first use.
"""
from .._lazy import lazy_exports

_LAZY = {
    "RFEICostModel": ".cost_model",
    "aggregate_store_features": ".cost_model",
    "DynamicEpsilonSearch": ".search",
    "AdaptiveEvaluator": ".runner",
    "adaptive_local_runner": ".runner",
    "adaptive_rpc_runner": ".runner",
    "FastBuilder": ".builder",
    "tune_tir": ".tune",
    "tune_relax": ".tune",
    "count_tunable_blocks": ".tune",
    "SUPPORTED_TARGET_KINDS": ".tune",
    "needs_tensor_intrin": "._intrin",
    "skip_tensor_intrin_import": "._intrin",
    "get_workload": ".workloads",
    "workload_names": ".workloads",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = sorted(_LAZY)

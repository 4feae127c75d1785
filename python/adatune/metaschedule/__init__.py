"""MetaSchedule integration: adatune's cost model, search, runners and builder for
``tvm.s_tir.meta_schedule``, and :func:`tune_tir`, a drop-in for ``ms.tune_tir``.

Submodules import TVM, so they load on first use.
"""
import importlib

_LAZY = {
    "RFEICostModel": "cost_model",
    "aggregate_store_features": "cost_model",
    "DynamicEpsilonSearch": "search",
    "AdaptiveEvaluator": "runner",
    "adaptive_local_runner": "runner",
    "adaptive_rpc_runner": "runner",
    "FastBuilder": "builder",
    "tune_tir": "tune",
    "tune_relax": "tune",
    "count_tunable_blocks": "tune",
    "SUPPORTED_TARGET_KINDS": "tune",
    "needs_tensor_intrin": "_intrin",
    "skip_tensor_intrin_import": "_intrin",
    "get_workload": "workloads",
    "workload_names": "workloads",
}


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'adatune.metaschedule' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = sorted(_LAZY)

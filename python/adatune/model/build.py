"""Lowering a model to its kernels, putting scheduled kernels back, compiling, running.

The model is lowered once with Relax's legalize-and-fuse passes (the ``zero``
pipeline): every operator becomes a TIR kernel called by ``main`` through
``call_tir``. Tuning replaces kernels by scheduled versions of themselves (same name,
same signature), and the module is then compiled with only the lowering passes that
come after fusion, so that nothing re-fuses or re-legalizes the scheduled kernels,
plus the pre-packing of constant weights (the kernels' layout-rewrite stages split out
and folded at compile time).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Sequence

import numpy as np
from ..errors import ArgumentTypeError

__all__ = ["KernelUse", "lower_model", "vector_erf_tanh", "rewrite_calls", "kernel_uses", "with_kernels", "compile_model", "run_model"]

logger = logging.getLogger(__name__)


@dataclass
class KernelUse:
    """A kernel of the lowered model and how often ``main`` calls it."""

    name: str
    func: Any
    calls: int


def lower_model(mod: Any, target: Any, layout: str = "NHWC") -> Any:
    """``mod`` for inference, legalized and fused: ``main`` calls TIR kernels only.

    Batch norm after a convolution is folded into the convolution's weights and bias
    (``FoldBatchnormToConv2D``); any other batch norm becomes the element-wise ops it is
    at inference (``DecomposeOpsForInference``), which fusion puts into the epilogue of
    the operator before it; ``erf`` and ``tanh`` become vectorisable polynomials
    (:func:`vector_erf_tanh`). ``layout="NHWC"`` (default) converts the convolutions and
    the operators between them to channels-last once (:mod:`.layout`); ``"NCHW"``
    keeps the model's own layout.
    """
    import tvm
    from tvm import relax

    from .._checks import check_choice
    from .layout import LAYOUTS, to_channels_last

    check_choice(layout, "layout", LAYOUTS, "lower_model")
    with tvm.target.Target(target):
        mod = relax.transform.FoldBatchnormToConv2D()(mod)
        mod = relax.transform.DecomposeOpsForInference()(mod)
        mod = vector_erf_tanh(mod)
        if layout == "NHWC":
            mod = to_channels_last(mod)
        return relax.get_pipeline("zero")(mod)


def _gelu_fast_erf(x: Any) -> Any:
    from tvm import topi

    return topi.multiply(topi.multiply(x, 0.5), topi.add(topi.fast_erf(topi.multiply(x, 0.5 ** 0.5)), 1.0))


def _gelu_fast_tanh(x: Any) -> Any:
    from tvm import topi

    cube = topi.multiply(topi.multiply(x, x), x)
    inner = topi.multiply(topi.add(x, topi.multiply(cube, 0.044715)), (2.0 / 3.141592653589793) ** 0.5)
    return topi.multiply(topi.multiply(x, 0.5), topi.add(topi.fast_tanh(inner), 1.0))


def vector_erf_tanh(mod: Any) -> Any:
    """``erf``, ``tanh`` and GELU (``nn.gelu``, ``nn.gelu_tanh``) with TOPI's polynomial
    ``fast_erf`` / ``fast_tanh``.

    LLVM lowers ``erf``/``tanh`` to a call of the C library per element, which nothing
    vectorises: BERT's GELU (``x * 0.5 * (1 + erf(x / sqrt 2))``) then cost its matrix
    product 40% more than the same product without it. The polynomials are plain
    arithmetic, vectorised in the matmul's epilogue, and as accurate as float32 needs
    (largest absolute error on [-6, 6]: 4.2e-7 for erf, 3.3e-7 for tanh). ``exp`` is
    left alone: TOPI's ``fast_exp`` is 30 times less accurate (relative 4e-6).
    Only float32 calls are rewritten.
    """
    import tvm
    from tvm import topi

    fast = {"relax.erf": topi.fast_erf, "relax.tanh": topi.fast_tanh, "relax.nn.gelu": _gelu_fast_erf,
            "relax.nn.gelu_tanh": _gelu_fast_tanh}

    def rewrite(call: Any, builder: Any) -> Any:
        if isinstance(call.op, tvm.ir.Op) and call.op.name in fast \
                and str(getattr(call.ty, "dtype", "")) == "float32":
            return builder.call_te(fast[call.op.name], call.args[0])
        return None

    return rewrite_calls(mod, rewrite)


def rewrite_calls(mod: Any, rewrite: Callable[[Any, Any], Any]) -> Any:
    """``mod`` with each call in its Relax functions replaced by ``rewrite(call,
    block_builder)`` where that returns an expression (None keeps the call). Calls are
    visited bottom-up, so ``rewrite`` sees arguments already rewritten."""
    from tvm import relax
    from tvm.relax.expr_functor import PyExprMutator, mutator

    @mutator
    class _Rewrite(PyExprMutator):
        def visit_call_(self, call: Any) -> Any:  # noqa: N802 - the visitor's name
            call = super().visit_call_(call)
            new = rewrite(call, self.builder_)
            return call if new is None else new

    rewriter = _Rewrite(mod)
    for gv, func in mod.functions_items():
        if isinstance(func, relax.Function):
            rewriter.builder_.update_func(gv, rewriter.visit_expr(func))
    return rewriter.builder_.get()


def _call_tir_targets(expr: Any, counts: Dict[str, int]) -> None:
    from tvm import relax

    call_tir = relax.op.Op.get("relax.call_tir") if hasattr(relax.op, "Op") else None

    def visit(node: Any) -> None:
        if isinstance(node, relax.Call):
            op = node.op
            if (call_tir is not None and op.same_as(call_tir)) or getattr(op, "name", "") == "relax.call_tir":
                gv = node.args[0]
                counts[gv.name_hint] = counts.get(gv.name_hint, 0) + 1

    relax.analysis.post_order_visit(expr, visit)


def kernel_uses(lowered: Any) -> List[KernelUse]:
    """Every TIR kernel ``main`` calls, with its call count, in first-call order."""
    import tvm

    counts: Dict[str, int] = {}
    _call_tir_targets(lowered["main"], counts)
    out = []
    for name, calls in counts.items():
        func = lowered[name]
        if isinstance(func, tvm.tirx.PrimFunc):
            out.append(KernelUse(name, func, calls))
    return out


def with_kernels(lowered: Any, kernels: Mapping[str, Any]) -> Any:
    """A copy of ``lowered`` with the kernels named in ``kernels`` replaced."""
    import tvm

    mod = tvm.IRModule(dict(lowered.functions_items()), attrs=lowered.attrs)
    for name, func in kernels.items():
        old = lowered[name]
        # Keep the kernel's own attributes (private linkage, noalias): the scheduled
        # function came out of a Schedule, which names it "main".
        mod[mod.get_global_var(name)] = func.with_attrs(old.attrs) if old.attrs is not None else func
    return mod


def _post_fusion_pipeline(target: Any) -> Any:
    import tvm
    from tvm import relax
    from tvm.relax.backend.cpu_generic import pipeline as cpu

    # Packing stages of constant weights (annotated by the templates) become kernels of
    # their own, which FoldConstant runs once at compile time: the weights are stored
    # packed and no run of the model repacks them.
    prepack = [relax.transform.SplitLayoutRewritePreproc(), relax.transform.FoldConstant(),
               relax.transform.DeadCodeElimination()]
    passes = prepack + cpu.dataflow_lower_passes(target) + cpu.finalize_passes(target)

    @tvm.transform.module_pass(opt_level=0)
    def _pipeline(mod: Any, _ctx: Any) -> Any:
        with tvm.target.Target(target):
            return tvm.transform.Sequential(passes)(mod)

    return _pipeline


def compile_model(mod: Any, target: Any) -> Any:
    """Compile a lowered (and possibly scheduled) model to an executable."""
    import tvm

    target = tvm.target.Target(target)
    return tvm.compile(mod, target=target, relax_pipeline=_post_fusion_pipeline(target))


def run_model(vm: Any, arrays: Sequence[np.ndarray], device: Any) -> List[np.ndarray]:
    """Run ``vm["main"]`` on numpy inputs; the outputs as a list of numpy arrays."""
    import tvm

    args = [tvm.runtime.tensor(np.ascontiguousarray(a), device=device) for a in arrays]
    out = vm["main"](*args)
    return _flatten(out)


def _flatten(value: Any) -> List[np.ndarray]:
    if hasattr(value, "numpy"):
        return [value.numpy()]
    if isinstance(value, (list, tuple)) or type(value).__name__ in ("Array", "List", "Tuple"):
        out: List[np.ndarray] = []
        for item in value:
            out.extend(_flatten(item))
        return out
    raise ArgumentTypeError(f"model output of unexpected type {type(value).__name__}")

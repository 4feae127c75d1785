"""The model's data layout: convolutions and everything between them channels-last.

On a CPU with wide vectors, a convolution vectorises best over output channels: each
input value is broadcast and multiplied by a contiguous vector of weights. With the
channels innermost (NHWC) the input values a kernel tap needs lie next to each other,
the output vector is contiguous, and so are the epilogue's bias, residual and clamp.
NHWC is the packed layout ``NCHW[x]c`` with the block ``x`` = all channels: any block
of output channels is a vector of it, so the channel block stays a knob of each
kernel's schedule (``tile_co``) instead of a property of the tensor, and neighbouring
kernels can never disagree on it. The conversion happens once per model: Relax's
``ConvertLayout`` transposes the input, the constant weights (folded at compile time)
and, at the end of the convolutional part, the output back, and carries the layout
through the layout-agnostic operators in between (element-wise ops, pooling, means).

Clamps (ReLU6, ONNX ``Clip``) arrive as operators ``ConvertLayout`` cannot carry: the
ONNX importer emits them as kernels of their own and Relax's ``clip`` has no layout
rule, so each would cost two transposes and a pass over memory. They are rewritten
first into ``maximum``/``minimum`` with scalar bounds, which it carries and fusion
folds into the convolution's epilogue.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

__all__ = ["LAYOUTS", "to_channels_last", "clamps_as_binary_ops"]

#: Accepted values of ``lower_model(..., layout=)``.
LAYOUTS = ("NHWC", "NCHW")


def _scalar_bound(func: Any) -> Optional[str]:
    """``"maximum"``/``"minimum"`` if the PrimFunc ``func`` is ``out = max/min(x, s)``
    element by element with a rank-0 ``s`` (how the ONNX importer writes ``Clip``)."""
    from tvm import ir, s_tir, tirx

    from .kernels import _all_blocks

    if not isinstance(func, tirx.PrimFunc) or len(func.params) != 3:
        return None
    try:
        sch = s_tir.Schedule(func)
    except Exception:  # noqa: BLE001 - not a schedulable kernel: leave it alone
        return None
    blocks = _all_blocks(sch)
    stores = [sch.get(b).body for b in blocks]
    if len(stores) != 1 or not isinstance(stores[0], tirx.stmt.BufferStore):
        return None
    value = stores[0].value
    kind = {tirx.Max: "maximum", tirx.Min: "minimum"}.get(type(value))
    if kind is None or not all(isinstance(v, ir.expr.TensorLoad) for v in (value.a, value.b)):
        return None
    x, s, out = func.params
    if value.a.source.same_as(x) and value.b.source.same_as(s) and len(s.shape) == 0 \
            and [int(d) for d in x.shape] == [int(d) for d in out.shape]:
        return kind
    return None


def _bounds_of(call: Any) -> Optional[Tuple[float, float]]:
    """The constant bounds of a Relax ``clip`` / ``relu6`` call, else None."""
    name = call.op.name
    if name == "relax.nn.relu6":
        return 0.0, 6.0
    if name == "relax.clip" and all(hasattr(a, "value") for a in call.args[1:]):
        return float(call.args[1].value), float(call.args[2].value)
    return None


def clamps_as_binary_ops(mod: Any) -> Any:
    """Rewrite the clamps of ``mod``'s Relax functions as ``maximum``/``minimum`` with a
    scalar: ONNX ``Clip`` kernels (``call_tir`` of an element-wise max/min with a rank-0
    bound) and Relax ``clip``/``relu6`` with constant bounds. Same values."""
    import tvm
    from tvm import relax

    from .build import rewrite_calls

    call_tir = tvm.ir.Op.get("relax.call_tir")
    binary = {"maximum": relax.op.maximum, "minimum": relax.op.minimum}

    def rewrite(call: Any, _builder: Any) -> Any:
        if not isinstance(call.op, tvm.ir.Op):
            return None
        if call.op.same_as(call_tir):
            kind = _scalar_bound(mod[call.args[0]]) if call.args[0] in mod.get_global_vars() else None
            operands = call.args[1]
            if kind is not None and isinstance(operands, relax.Tuple) and len(operands.fields) == 2:
                return binary[kind](operands.fields[0], operands.fields[1])
            return None
        bounds = _bounds_of(call)
        if bounds is None:
            return None
        x = call.args[0]
        lo, hi = (relax.const(b, str(x.ty.dtype)) for b in bounds)
        return relax.op.minimum(relax.op.maximum(x, lo), hi)

    return relax.transform.DeadCodeElimination()(rewrite_calls(mod, rewrite))


def to_channels_last(mod: Any) -> Any:
    """``mod`` with its 2-D convolutions in NHWC/HWIO and the layout carried between them
    (clamps first made layout-agnostic); an input or output in NCHW stays NCHW."""
    from tvm import relax

    mod = clamps_as_binary_ops(mod)
    return relax.transform.ConvertLayout({"relax.nn.conv2d": ["NHWC", "HWIO"]})(mod)

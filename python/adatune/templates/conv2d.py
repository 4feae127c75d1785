"""2-D convolution templates, NCHW and NHWC, vectorised over output channels.

Both compute a register tile of ``oh_i x ow_i`` output pixels times ``bc`` output
channels: each input pixel is broadcast and multiplied by a contiguous vector of
``bc`` weights, accumulating in registers (a cache-write stage written back once).
NCHW blocks its input channels inside the kernel: the padded input becomes
``[N, CI / cb, H', W', cb]`` and the OIHW weights ``[CO / bc, CI / cb, KH, KW, cb, bc]``
(``cb`` = inner ``tile_ci`` factor), so the inner reduction loop reads both
contiguously; the repacking is cheap next to the convolution.  NHWC's input already
has channels innermost; its HWIO weights are blocked into ``[CO / bc, KH, KW, CI, bc]``
and its padding is a separate parallel stage.

The computation is TOPI's (``topi.nn.conv2d_nchw`` / ``conv2d_nhwc``: a padding stage,
then the convolution), the one Relax's legalization writes for a model, and the
blocking is done by the schedule (``transform_layout`` of the padded input and of a
copy of the kernel): :func:`schedule_conv2d` therefore applies to a model's fused
convolution kernels as they are, with their bias, batch norm, residual add and
activation folded into the write-back.

Arguments: ``N, CI, H, W, CO, KH, KW, stride, padding, dilation, dtype`` (NCHW) and
``N, H, W, CI, CO, KH, KW, stride, padding, dilation, dtype`` (NHWC); ``stride``,
``padding`` (symmetric) and ``dilation`` are ints or ``(h, w)`` pairs.

Knobs: ``tile_co`` (output channels: outer, vector ``bc``), ``tile_oh``/``tile_ow``
(output rows/columns: outer, register tile), ``tile_ci`` (input channels: outer,
inner), ``reduce_order`` (``"ci_k"``: inner input channels outside the kernel window
loops, ``"k_ci"``: inside), ``unroll_kw`` (unroll the kernel-width loop).
"""
from __future__ import annotations

from typing import Any, List, Sequence, Tuple

import numpy as np
from tvm import s_tir, te, topi

from ..errors import ArgumentError
from .builtins import builtin
from . import _schedule as _s
from .dense import _acc_dtype


def conv_geometry(name: str, H: int, W: int, KH: int, KW: int, stride: Any, padding: Any,
                  dilation: Any) -> Tuple[Tuple[int, int], Tuple[int, int], Tuple[int, int], int, int]:
    """Strides, paddings, dilations as pairs and the output height and width."""
    sh, sw = _s.pair(stride, f"{name}: stride")
    ph, pw = _s.pair(padding, f"{name}: padding")
    dh, dw = _s.pair(dilation, f"{name}: dilation")
    if min(sh, sw, dh, dw) < 1 or min(ph, pw) < 0:
        raise ArgumentError(f"{name}: stride and dilation must be >= 1 and padding >= 0, got "
                         f"stride={stride!r}, padding={padding!r}, dilation={dilation!r}")
    OH = (H + 2 * ph - dh * (KH - 1) - 1) // sh + 1
    OW = (W + 2 * pw - dw * (KW - 1) - 1) // sw + 1
    if OH < 1 or OW < 1:
        raise ArgumentError(f"{name}: the kernel ({KH}x{KW}, dilation {dh},{dw}) does not fit the "
                         f"padded input ({H}+2*{ph} x {W}+2*{pw})")
    return (sh, sw), (ph, pw), (dh, dw), OH, OW


def _window(x: np.ndarray, KH: int, KW: int, stride, dilation, OH: int, OW: int, h_axis: int):
    """Yield ``(kh, kw, view)`` where ``view`` is the input seen by kernel tap (kh, kw)."""
    sh, sw = stride
    dh, dw = dilation
    for kh in range(KH):
        for kw in range(KW):
            sl = [slice(None)] * x.ndim
            sl[h_axis] = slice(kh * dh, kh * dh + (OH - 1) * sh + 1, sh)
            sl[h_axis + 1] = slice(kw * dw, kw * dw + (OW - 1) * sw + 1, sw)
            yield kh, kw, x[tuple(sl)]


def direct_conv_reference(name: str, data: np.ndarray, H: int, W: int, KH: int, KW: int,
                          geometry: Sequence, h_axis: int, out_shape, tap) -> List[np.ndarray]:
    """A convolution computed tap by tap in numpy, for the templates' references.

    ``geometry`` is ``(stride, padding, dilation)`` or a prefix of it (defaults 1, 0, 1);
    ``h_axis`` is the axis of the image rows in ``data`` (columns follow it);
    ``out_shape(OH, OW)`` gives the output's shape and ``tap(view, kh, kw, acc)`` what
    kernel tap ``(kh, kw)`` adds to it, ``view`` being the input that tap reads.
    """
    stride, padding, dilation = list(geometry) + [1, 0, 1][len(geometry):]
    st, pd, dl, OH, OW = conv_geometry(name, H, W, KH, KW, stride, padding, dilation)
    acc = _acc_dtype(str(data.dtype))
    pads = [(0, 0)] * data.ndim
    pads[h_axis], pads[h_axis + 1] = (pd[0], pd[0]), (pd[1], pd[1])
    x = np.pad(data.astype(acc), pads)
    out = np.zeros(out_shape(OH, OW), dtype=acc)
    for kh, kw, view in _window(x, KH, KW, st, dl, OH, OW, h_axis):
        out += tap(view, kh, kw, acc)
    return [out.astype(data.dtype)]


def _conv2d_nchw_ref(args: Sequence, inputs: List[np.ndarray]) -> List[np.ndarray]:
    data, kernel = inputs
    N, CI, H, W, CO, KH, KW = args[:7]
    return direct_conv_reference(
        "conv2d_nchw", data, H, W, KH, KW, args[7:10], 2, lambda OH, OW: (N, CO, OH, OW),
        lambda view, kh, kw, acc: np.einsum("nchw,oc->nohw", view, kernel[:, :, kh, kw].astype(acc),
                                            optimize=True))


def _conv2d_nhwc_ref(args: Sequence, inputs: List[np.ndarray]) -> List[np.ndarray]:
    data, kernel = inputs
    N, H, W, CI, CO, KH, KW = args[:7]
    return direct_conv_reference("conv2d_nhwc", data, H, W, KH, KW, args[7:10], 1,
                                 lambda OH, OW: (N, OH, OW, CO),
                                 lambda view, kh, kw, acc: view @ kernel[kh, kw].astype(acc))


def _declare_knobs(cfg: Any, CO: int, OH: int, OW: int, CI: int) -> None:
    cfg.define_split("tile_co", CO, num_outputs=2)
    cfg.define_split("tile_oh", OH, num_outputs=2)
    cfg.define_split("tile_ow", OW, num_outputs=2)
    cfg.define_split("tile_ci", CI, num_outputs=2)
    cfg.define_knob("reduce_order", ["ci_k", "k_ci"])
    cfg.define_knob("unroll_kw", [True, False])
    _s.add_tile_constraint(cfg, "tile_co", CO, ["tile_oh", "tile_ow"])


def schedule_conv2d(sch: Any, cfg: Any, block: Any, layout: str) -> bool:
    """Schedule the convolution ``block`` (TOPI's ``conv2d_nchw`` / ``conv2d_nhwc``
    stage: reads the padded input, then the OIHW / HWIO kernel) of ``sch``.

    NCHW blocks the padded input into ``[N, CI / cb, H', W', cb]`` and the kernel into
    ``[CO / bc, CI / cb, KH, KW, cb, bc]``; NHWC blocks the kernel into
    ``[CO / bc, KH, KW, CI, bc]``. Elementwise stages after the convolution are folded
    into its write-back; returns False if one could not be.
    """
    block = sch.get_sblock(block) if isinstance(block, str) else block
    bc = int(cfg["tile_co"].size[-1])
    cb = int(cfg["tile_ci"].size[-1])
    if layout == "NCHW":
        pad = _s.pack_read(sch, block, 0, lambda n, c, h, w: (n, c // cb, h, w, c % cb))
        kpack = _s.pack_read(sch, block, 1, lambda co, ci, kh, kw: (co // bc, ci // cb, kh, kw, ci % cb, co % bc))
    else:
        pad = _s.inline_if_copy(sch, _s.producer_of(sch, block, 0))
        kpack = _s.pack_read(sch, block, 1, lambda kh, kw, ci, co: (co // bc, kh, kw, ci, co % bc))
    cache = sch.cache_write(block, 0, "global")
    folded = _s.inline_epilogue(sch, cache)
    if layout == "NCHW":
        n, co, oh, ow, ci, kh, kw = sch.get_loops(block)
    else:
        n, oh, ow, co, kh, kw, ci = sch.get_loops(block)
    co_o, co_i = _s.split(sch, co, cfg["tile_co"])
    oh_o, oh_i = _s.split(sch, oh, cfg["tile_oh"])
    ow_o, ow_i = _s.split(sch, ow, cfg["tile_ow"])
    ci_o, ci_i = _s.split(sch, ci, cfg["tile_ci"])
    spatial = [n, co_o, oh_o, ow_o] if layout == "NCHW" else [n, oh_o, ow_o, co_o]
    inner = [ci_i, kh, kw] if cfg["reduce_order"].val == "ci_k" else [kh, kw, ci_i]
    sch.reorder(*spatial, ci_o, *inner, oh_i, ow_i, co_i)
    sch.reverse_compute_at(cache, spatial[-1])
    _s.vectorize_innermost(sch, cache, spatial[-1])
    outer = sch.fuse(*spatial)
    sch.parallel(outer)
    sch.unroll(oh_i)
    sch.unroll(ow_i)
    if cfg["unroll_kw"].val:
        sch.unroll(kw)
    sch.vectorize(co_i)
    init = sch.decompose_reduction(block, ci_o)
    _s.vectorize_innermost(sch, init, outer)
    _s.parallel_outer_vector_inner(sch, kpack, 1)
    if pad is not None:
        _s.parallel_outer_vector_inner(sch, pad, 2)
    return folded


@builtin("conv2d_nchw", reference=_conv2d_nchw_ref)
def conv2d_nchw(cfg, N: int, CI: int, H: int, W: int, CO: int, KH: int, KW: int,
                stride: Any = 1, padding: Any = 0, dilation: Any = 1, dtype: str = "float32"):
    """NCHW data, OIHW kernel, NCHW output."""
    _s.check_dims("conv2d_nchw", N=N, CI=CI, H=H, W=W, CO=CO, KH=KH, KW=KW)
    stride, pads, dilation, OH, OW = conv_geometry("conv2d_nchw", H, W, KH, KW, stride, padding, dilation)
    _declare_knobs(cfg, CO, OH, OW, CI)
    cfg.add_flop(2.0 * N * CO * OH * OW * CI * KH * KW)
    data = te.placeholder((N, CI, H, W), dtype, name="data")
    kernel = te.placeholder((CO, CI, KH, KW), dtype, name="kernel")
    out = topi.nn.conv2d_nchw(data, kernel, stride, pads, dilation)
    sch = s_tir.Schedule(te.create_prim_func([data, kernel, out]))
    schedule_conv2d(sch, cfg, "conv2d_nchw", "NCHW")
    return sch.mod["main"]


@builtin("conv2d_nhwc", reference=_conv2d_nhwc_ref)
def conv2d_nhwc(cfg, N: int, H: int, W: int, CI: int, CO: int, KH: int, KW: int,
                stride: Any = 1, padding: Any = 0, dilation: Any = 1, dtype: str = "float32"):
    """NHWC data, HWIO kernel, NHWC output."""
    _s.check_dims("conv2d_nhwc", N=N, CI=CI, H=H, W=W, CO=CO, KH=KH, KW=KW)
    stride, pads, dilation, OH, OW = conv_geometry("conv2d_nhwc", H, W, KH, KW, stride, padding, dilation)
    _declare_knobs(cfg, CO, OH, OW, CI)
    cfg.add_flop(2.0 * N * CO * OH * OW * CI * KH * KW)
    data = te.placeholder((N, H, W, CI), dtype, name="data")
    kernel = te.placeholder((KH, KW, CI, CO), dtype, name="kernel")
    out = topi.nn.conv2d_nhwc(data, kernel, stride, pads, dilation)
    sch = s_tir.Schedule(te.create_prim_func([data, kernel, out]))
    schedule_conv2d(sch, cfg, "conv2d_nhwc", "NHWC")
    return sch.mod["main"]

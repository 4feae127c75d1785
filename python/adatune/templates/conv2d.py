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
from tvm import s_tir, te

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


def pad_input(data: Any, axes: Tuple[int, int], pads: Tuple[int, int]) -> Any:
    """Zero-pad ``data`` on the spatial ``axes``; ``data`` itself when nothing to pad."""
    ph, pw = pads
    if ph == 0 and pw == 0:
        return data
    shape = list(data.shape)
    shape[axes[0]] += 2 * ph
    shape[axes[1]] += 2 * pw
    H, W = int(data.shape[axes[0]]), int(data.shape[axes[1]])

    def body(*idx):
        h, w = idx[axes[0]], idx[axes[1]]
        src = list(idx)
        src[axes[0]] = h - ph
        src[axes[1]] = w - pw
        inside = te.all(h >= ph, h < H + ph, w >= pw, w < W + pw)
        return te.if_then_else(inside, data[tuple(src)], te.const(0, data.dtype))

    return te.compute(shape, body, name="pad")


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


def _conv2d_nchw_ref(args: Sequence, inputs: List[np.ndarray]) -> List[np.ndarray]:
    data, kernel = inputs
    N, CI, H, W, CO, KH, KW = args[:7]
    stride, padding, dilation = (list(args[7:10]) + [1, 0, 1][len(args[7:10]):])
    st, pd, dl, OH, OW = conv_geometry("conv2d_nchw", H, W, KH, KW, stride, padding, dilation)
    acc = _acc_dtype(str(data.dtype))
    x = np.pad(data.astype(acc), ((0, 0), (0, 0), (pd[0], pd[0]), (pd[1], pd[1])))
    out = np.zeros((N, CO, OH, OW), dtype=acc)
    for kh, kw, view in _window(x, KH, KW, st, dl, OH, OW, 2):
        out += np.einsum("nchw,oc->nohw", view, kernel[:, :, kh, kw].astype(acc), optimize=True)
    return [out.astype(data.dtype)]


def _conv2d_nhwc_ref(args: Sequence, inputs: List[np.ndarray]) -> List[np.ndarray]:
    data, kernel = inputs
    N, H, W, CI, CO, KH, KW = args[:7]
    stride, padding, dilation = (list(args[7:10]) + [1, 0, 1][len(args[7:10]):])
    st, pd, dl, OH, OW = conv_geometry("conv2d_nhwc", H, W, KH, KW, stride, padding, dilation)
    acc = _acc_dtype(str(data.dtype))
    x = np.pad(data.astype(acc), ((0, 0), (pd[0], pd[0]), (pd[1], pd[1]), (0, 0)))
    out = np.zeros((N, OH, OW, CO), dtype=acc)
    for kh, kw, view in _window(x, KH, KW, st, dl, OH, OW, 1):
        out += view @ kernel[kh, kw].astype(acc)
    return [out.astype(data.dtype)]


def _declare_knobs(cfg: Any, CO: int, OH: int, OW: int, CI: int) -> None:
    cfg.define_split("tile_co", CO, num_outputs=2)
    cfg.define_split("tile_oh", OH, num_outputs=2)
    cfg.define_split("tile_ow", OW, num_outputs=2)
    cfg.define_split("tile_ci", CI, num_outputs=2)
    cfg.define_knob("reduce_order", ["ci_k", "k_ci"])
    cfg.define_knob("unroll_kw", [True, False])
    _s.add_tile_constraint(cfg, "tile_co", CO, ["tile_oh", "tile_ow"])


def _schedule(sch: Any, cfg: Any, layout: str) -> None:
    block = sch.get_sblock("conv")
    cache = sch.cache_write(block, 0, "global")
    if layout == "NCHW":
        n, co, oh, ow, ci, kh, kw = sch.get_loops(block)
    else:
        n, oh, ow, co, ci, kh, kw = sch.get_loops(block)
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
    _s.parallel_outer_vector_inner(sch, sch.get_sblock("kernel_pack"), 1)
    if layout == "NCHW":
        _s.parallel_outer_vector_inner(sch, sch.get_sblock("data_pack"), 2)
        return
    try:
        pad = sch.get_sblock("pad")
    except Exception:  # noqa: BLE001 - no padding stage when padding is 0
        return
    _s.parallel_outer_vector_inner(sch, pad, 2)


@builtin("conv2d_nchw", reference=_conv2d_nchw_ref)
def conv2d_nchw(cfg, N: int, CI: int, H: int, W: int, CO: int, KH: int, KW: int,
                stride: Any = 1, padding: Any = 0, dilation: Any = 1, dtype: str = "float32"):
    """NCHW data, OIHW kernel, NCHW output."""
    _s.check_dims("conv2d_nchw", N=N, CI=CI, H=H, W=W, CO=CO, KH=KH, KW=KW)
    (sh, sw), pads, (dh, dw), OH, OW = conv_geometry("conv2d_nchw", H, W, KH, KW, stride, padding, dilation)
    _declare_knobs(cfg, CO, OH, OW, CI)
    cfg.add_flop(2.0 * N * CO * OH * OW * CI * KH * KW)
    bc = int(cfg["tile_co"].size[-1])
    cb = int(cfg["tile_ci"].size[-1])
    data = te.placeholder((N, CI, H, W), dtype, name="data")
    kernel = te.placeholder((CO, CI, KH, KW), dtype, name="kernel")
    # Input channels are blocked by the inner tile_ci factor (NCHW -> NCHW[cb]c, padded
    # on the way) so the inner reduction loop reads contiguous input channels; the
    # kernel is blocked to match (OIHW -> O I H W [cb]i [bc]o).
    ph, pw = pads
    packed_data = te.compute(
        (N, CI // cb, H + 2 * ph, W + 2 * pw, cb),
        lambda n, c, h, w, ci_: te.if_then_else(
            te.all(h >= ph, h < H + ph, w >= pw, w < W + pw),
            data[n, c * cb + ci_, h - ph, w - pw], te.const(0, dtype)),
        name="data_pack")
    packed = te.compute((CO // bc, CI // cb, KH, KW, cb, bc),
                        lambda co, c, kh, kw, ci_, co_: kernel[co * bc + co_, c * cb + ci_, kh, kw],
                        name="kernel_pack")
    ci = te.reduce_axis((0, CI), name="ci")
    kh = te.reduce_axis((0, KH), name="kh")
    kw = te.reduce_axis((0, KW), name="kw")
    out = te.compute(
        (N, CO, OH, OW),
        lambda n, co, oh, ow: te.sum(
            packed_data[n, ci // cb, oh * sh + kh * dh, ow * sw + kw * dw, ci % cb]
            * packed[co // bc, ci // cb, kh, kw, ci % cb, co % bc],
            axis=[ci, kh, kw]),
        name="conv")
    sch = s_tir.Schedule(te.create_prim_func([data, kernel, out]))
    _schedule(sch, cfg, "NCHW")
    return sch.mod["main"]


@builtin("conv2d_nhwc", reference=_conv2d_nhwc_ref)
def conv2d_nhwc(cfg, N: int, H: int, W: int, CI: int, CO: int, KH: int, KW: int,
                stride: Any = 1, padding: Any = 0, dilation: Any = 1, dtype: str = "float32"):
    """NHWC data, HWIO kernel, NHWC output."""
    _s.check_dims("conv2d_nhwc", N=N, CI=CI, H=H, W=W, CO=CO, KH=KH, KW=KW)
    (sh, sw), pads, (dh, dw), OH, OW = conv_geometry("conv2d_nhwc", H, W, KH, KW, stride, padding, dilation)
    _declare_knobs(cfg, CO, OH, OW, CI)
    cfg.add_flop(2.0 * N * CO * OH * OW * CI * KH * KW)
    bc = int(cfg["tile_co"].size[-1])
    data = te.placeholder((N, H, W, CI), dtype, name="data")
    kernel = te.placeholder((KH, KW, CI, CO), dtype, name="kernel")
    padded = pad_input(data, (1, 2), pads)
    # HWIO -> [CO / bc] H W I [bc]o: the weights of one output-channel block are read
    # sequentially instead of one 16-float vector per CO-wide row.
    packed = te.compute((CO // bc, KH, KW, CI, bc),
                        lambda co, kh, kw, ci, co_: kernel[kh, kw, ci, co * bc + co_], name="kernel_pack")
    ci = te.reduce_axis((0, CI), name="ci")
    kh = te.reduce_axis((0, KH), name="kh")
    kw = te.reduce_axis((0, KW), name="kw")
    out = te.compute(
        (N, OH, OW, CO),
        lambda n, oh, ow, co: te.sum(
            padded[n, oh * sh + kh * dh, ow * sw + kw * dw, ci] * packed[co // bc, kh, kw, ci, co % bc],
            axis=[ci, kh, kw]),
        name="conv")
    sch = s_tir.Schedule(te.create_prim_func([data, kernel, out]))
    _schedule(sch, cfg, "NHWC")
    return sch.mod["main"]

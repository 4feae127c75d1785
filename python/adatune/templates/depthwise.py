"""Depthwise 2-D convolution templates, NCHW and NHWC, channel multiplier 1.

NCHW: ``data: [N, C, H, W]``, ``kernel: [C, 1, KH, KW]`` (TOPI's layout), output
``[N, C, OH, OW]``.  Memory-bound: each output row tile of ``ow_i`` columns is a
vector, ``oh_i`` rows of them accumulate in registers across the kernel window;
channels (and row tiles) run in parallel. Knobs: ``tile_oh``, ``tile_ow`` (output
rows/columns: outer, register tile), ``unroll_kernel`` (unroll the kernel window
loops), ``pad_inside`` (compute the padded copy of each channel inside the parallel
channel loop, where it stays in cache, instead of as a separate pass; only when there
is padding).

NHWC: ``data: [N, H, W, C]``, ``kernel: [KH, KW, 1, C]`` (HWIO with one input channel
per group, what Relax's channels-last conversion gives), output ``[N, OH, OW, C]``.
The vector runs over a block of ``tile_c`` channels, contiguous in the input, the
kernel and the output, so the width of the image does not limit it (MobileNet's 7x7
layers); a register tile of ``oh_i x ow_i`` pixels of that block accumulates across
the window. Knobs: ``tile_c`` (channels: outer, vector), ``tile_oh``, ``tile_ow``,
``order`` (``"c_ow"``: a channel block sweeps a row of tiles, ``"ow_c"``: a pixel tile
takes every channel block in turn), ``unroll_kernel``, ``pad_inside`` (as NCHW, per
parallel row block; only with padding). Row blocks run in parallel.
"""
from __future__ import annotations

from typing import Any, List, Sequence

import numpy as np
from tvm import s_tir, te, topi

from .builtins import builtin
from . import _schedule as _s
from .conv2d import conv_geometry, direct_conv_reference


def _declare_window_knobs(cfg: Any, pads: Any) -> None:
    """``unroll_kernel``, and ``pad_inside`` where there is padding to place."""
    cfg.define_knob("unroll_kernel", [True, False])
    if pads != (0, 0):
        cfg.define_knob("pad_inside", [True, False])


def _depthwise_ref(args: Sequence, inputs: List[np.ndarray]) -> List[np.ndarray]:
    data, kernel = inputs
    N, C, H, W, KH, KW = args[:6]
    return direct_conv_reference(
        "depthwise_conv2d_nchw", data, H, W, KH, KW, args[6:9], 2, lambda OH, OW: (N, C, OH, OW),
        lambda view, kh, kw, acc: view * kernel[:, 0, kh, kw].astype(acc)[None, :, None, None])


@builtin("depthwise_conv2d_nchw", reference=_depthwise_ref)
def depthwise_conv2d_nchw(cfg, N: int, C: int, H: int, W: int, KH: int, KW: int,
                          stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                          dtype: str = "float32"):
    """Depthwise convolution, NCHW data and output, ``[C, 1, KH, KW]`` kernel."""
    _s.check_dims("depthwise_conv2d_nchw", N=N, C=C, H=H, W=W, KH=KH, KW=KW)
    (sh, sw), pads, (dh, dw), OH, OW = conv_geometry("depthwise_conv2d_nchw", H, W, KH, KW,
                                                     stride, padding, dilation)
    cfg.define_split("tile_oh", OH, num_outputs=2)
    cfg.define_split("tile_ow", OW, num_outputs=2)
    _declare_window_knobs(cfg, pads)
    _s.add_tile_constraint(cfg, "tile_ow", OW, ["tile_oh"])
    cfg.add_flop(2.0 * N * C * OH * OW * KH * KW)

    data = te.placeholder((N, C, H, W), dtype, name="data")
    kernel = te.placeholder((C, 1, KH, KW), dtype, name="kernel")
    # Relax legalizes a depthwise convolution as a grouped one with C groups: the same
    # stage here, so that a model's kernels take this schedule as they are.
    out = topi.nn.group_conv2d_nchw(data, kernel, (sh, sw), pads, (dh, dw), C)
    sch = s_tir.Schedule(te.create_prim_func([data, kernel, out]))
    schedule_depthwise(sch, cfg, "group_conv2d_nchw")
    return sch.mod["main"]


def _prologue(sch: Any, block: Any):
    """The stage, its padding stage (None when padding is 0), its register cache and
    whether the epilogue folded into that cache's write-back."""
    block = sch.get_sblock(block) if isinstance(block, str) else block
    pad = _s.inline_if_copy(sch, _s.producer_of(sch, block, 0))
    cache = sch.cache_write(block, 0, "global")
    return block, pad, cache, _s.inline_epilogue(sch, cache)


def _finish(sch: Any, cfg: Any, block: Any, rc: Any, init_anchor: Any, pad: Any, parallel_loop: Any) -> None:
    """Split the accumulator's initialisation off at ``rc`` (vectorised) and place the
    padding: inside ``parallel_loop`` (``pad_inside``) or as a parallel pass of its own."""
    init = sch.decompose_reduction(block, rc)
    _s.vectorize_innermost(sch, init, init_anchor)
    if pad is not None:
        if cfg["pad_inside"].val:
            sch.compute_at(pad, parallel_loop)
            _s.vectorize_innermost(sch, pad, parallel_loop)
        else:
            _s.parallel_outer_vector_inner(sch, pad, 2)


def schedule_depthwise(sch: Any, cfg: Any, block: Any) -> bool:
    """Schedule a depthwise ``group_conv2d_nchw`` stage (loops ``n, c, oh, ow, rc, kh,
    kw`` with ``rc`` of extent 1); returns False if an epilogue could not be folded."""
    block, pad, cache, folded = _prologue(sch, block)
    n, c, oh, ow, rc, rh, rw = sch.get_loops(block)
    oh_o, oh_i = _s.split(sch, oh, cfg["tile_oh"])
    ow_o, ow_i = _s.split(sch, ow, cfg["tile_ow"])
    sch.reorder(n, c, oh_o, ow_o, rc, rh, rw, oh_i, ow_i)
    sch.reverse_compute_at(cache, ow_o)
    _s.vectorize_innermost(sch, cache, ow_o)
    channel = sch.fuse(n, c)
    sch.parallel(channel)
    sch.unroll(oh_i)
    sch.vectorize(ow_i)
    if cfg["unroll_kernel"].val:
        sch.unroll(rh)
        sch.unroll(rw)
    _finish(sch, cfg, block, rc, ow_o, pad, channel)
    return folded


def _depthwise_nhwc_ref(args: Sequence, inputs: List[np.ndarray]) -> List[np.ndarray]:
    data, kernel = inputs
    N, H, W, C, KH, KW = args[:6]
    return direct_conv_reference("depthwise_conv2d_nhwc", data, H, W, KH, KW, args[6:9], 1,
                                 lambda OH, OW: (N, OH, OW, C),
                                 lambda view, kh, kw, acc: view * kernel[kh, kw, 0].astype(acc))


@builtin("depthwise_conv2d_nhwc", reference=_depthwise_nhwc_ref)
def depthwise_conv2d_nhwc(cfg, N: int, H: int, W: int, C: int, KH: int, KW: int,
                          stride: Any = 1, padding: Any = 0, dilation: Any = 1,
                          dtype: str = "float32"):
    """Depthwise convolution, NHWC data and output, ``[KH, KW, 1, C]`` kernel."""
    _s.check_dims("depthwise_conv2d_nhwc", N=N, H=H, W=W, C=C, KH=KH, KW=KW)
    (sh, sw), pads, (dh, dw), OH, OW = conv_geometry("depthwise_conv2d_nhwc", H, W, KH, KW,
                                                     stride, padding, dilation)
    cfg.define_split("tile_c", C, num_outputs=2)
    cfg.define_split("tile_oh", OH, num_outputs=2)
    cfg.define_split("tile_ow", OW, num_outputs=2)
    cfg.define_knob("order", ["c_ow", "ow_c"])
    _declare_window_knobs(cfg, pads)
    _s.add_tile_constraint(cfg, "tile_c", C, ["tile_oh", "tile_ow"])
    cfg.add_flop(2.0 * N * C * OH * OW * KH * KW)

    data = te.placeholder((N, H, W, C), dtype, name="data")
    kernel = te.placeholder((KH, KW, 1, C), dtype, name="kernel")
    # TOPI's generic convolution with C groups: the stage Relax legalizes an NHWC
    # depthwise convolution to (group_conv2d_nhwc).
    out = topi.nn.conv(data, kernel, (sh, sw), pads, (dh, dw), C, "NHWC", "HWIO")
    sch = s_tir.Schedule(te.create_prim_func([data, kernel, out]))
    schedule_depthwise_nhwc(sch, cfg, "group_conv2d_nhwc")
    return sch.mod["main"]


def schedule_depthwise_nhwc(sch: Any, cfg: Any, block: Any) -> bool:
    """Schedule a depthwise ``group_conv2d_nhwc`` stage (loops ``n, oh, ow, c, kh, kw,
    rc`` with ``rc`` of extent 1); returns False if an epilogue could not be folded."""
    block, pad, cache, folded = _prologue(sch, block)
    n, oh, ow, c, kh, kw, rc = sch.get_loops(block)
    c_o, c_i = _s.split(sch, c, cfg["tile_c"])
    oh_o, oh_i = _s.split(sch, oh, cfg["tile_oh"])
    ow_o, ow_i = _s.split(sch, ow, cfg["tile_ow"])
    spatial = [n, oh_o, c_o, ow_o] if cfg["order"].val == "c_ow" else [n, oh_o, ow_o, c_o]
    sch.reorder(*spatial, rc, kh, kw, oh_i, ow_i, c_i)
    sch.reverse_compute_at(cache, spatial[-1])
    _s.vectorize_innermost(sch, cache, spatial[-1])
    # Parallel over row blocks: a row block's padded input rows are one region, which
    # pad_inside computes right there.
    rows = sch.fuse(n, oh_o)
    sch.parallel(rows)
    sch.unroll(oh_i)
    sch.unroll(ow_i)
    sch.vectorize(c_i)
    if cfg["unroll_kernel"].val:
        sch.unroll(kh)
        sch.unroll(kw)
    _finish(sch, cfg, block, rc, spatial[-1], pad, rows)
    return folded

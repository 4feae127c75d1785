"""Which adatune template a model's fused kernel is, and with which arguments.

After legalization and fusion every kernel of a model is a TIR function. A kernel whose
one reduction stage is a convolution or a matrix product (TOPI's stages, as Relax
writes them) is matched to a template: the template's arguments are read off the stage
(its loop extents, the shapes of what it reads and the index expressions of the
reads), and the template's schedule is applied to the kernel as it is, epilogue
included (see :mod:`adatune.templates`). Everything else (pooling, softmax, layer
norm, element-wise kernels, convolutions the templates do not cover) is not matched
and goes to MetaSchedule or the default schedule.

Only what is proven by the analysis is matched: unit strides in the index expressions,
symmetric zero padding, the loop order the schedule expects. Anything else returns
None rather than a guess; a wrong guess would still be caught when the tuned model is
verified, but it would cost its tuning time first.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Sequence, Tuple

__all__ = ["KernelMatch", "match_kernel", "reduction_blocks"]

logger = logging.getLogger(__name__)

_SPATIAL, _REDUCE = 0, 2  # IterVar types: data parallel, commutative reduction


@dataclass(frozen=True)
class KernelMatch:
    """A kernel recognised as a template's computation.

    Attributes
    ----------
    template : str
        The template's name (``conv2d_nchw``, ``matmul``, ...).
    args : tuple
        The template's arguments, defaults filled in: the tuning task.
    anchor : str
        The kernel's stage the template's schedule applies to.
    """

    template: str
    args: Tuple[Any, ...]
    anchor: str
    _apply: Callable[[Any, Any, Any], bool]

    def apply(self, sch: Any, cfg: Any) -> bool:
        """Schedule the kernel in ``sch`` with config ``cfg``; False if an epilogue
        stage could not be folded into the template's output loop."""
        return self._apply(sch, cfg, sch.get_sblock(self.anchor))


def _int(x: Any) -> int:
    return int(x.value if hasattr(x, "value") else x)


def reduction_blocks(sch: Any) -> List[Any]:
    """The stages of ``sch``'s function that have a reduction loop."""
    out = []
    for block in _all_blocks(sch):
        if any(int(iv.iter_type) == _REDUCE for iv in sch.get(block).iter_vars):
            out.append(block)
    return out


def _all_blocks(sch: Any) -> List[Any]:
    root = sch.get_sblock("root") if _has_root(sch) else None
    return list(sch.get_child_blocks(root)) if root is not None else []


def _has_root(sch: Any) -> bool:
    try:
        sch.get_sblock("root")
        return True
    except Exception:  # noqa: BLE001 - a function without a root block has nothing to match
        return False


def _linear(expr: Any, variables: Sequence[Any]) -> Optional[List[int]]:
    """Integer coefficients of ``expr`` in ``variables`` plus its constant, or None."""
    from tvm.sym.pattern import detect_linear_equation

    coeffs = detect_linear_equation(expr, list(variables))
    if len(coeffs) != len(variables) + 1:
        return None
    try:
        return [_int(c) for c in coeffs]
    except (TypeError, ValueError, AttributeError):
        return None


def _is_var(expr: Any, var: Any) -> bool:
    return hasattr(expr, "same_as") and expr.same_as(var)


def _indices(region: Any) -> List[Any]:
    # One element per dimension is read at each iteration of a pointwise stage.
    return [r.min for r in region.region] if all(_int(r.extent) == 1 for r in region.region) else []


def _shape(buffer: Any) -> Tuple[int, ...]:
    return tuple(_int(d) for d in buffer.shape)


def _dtype(buffer: Any) -> str:
    return str(buffer.dtype)


def _input_geometry(sch: Any, block: Any, padded_shape: Tuple[int, ...], h_axis: int) -> Optional[Tuple]:
    """``(unpadded shape, (pad_h, pad_w))`` of a convolution's padded input: from the
    padding stage that writes it, or the input itself when no stage does."""
    from ..templates import _schedule as _s

    pad = _s.producer_of(sch, block, 0)
    if pad is None:
        return padded_shape, (0, 0)
    reads = sch.get(pad).reads
    if len(reads) != 1:
        return None
    source = _shape(reads[0].source)
    if len(source) != 4:
        return None
    ph2 = padded_shape[h_axis] - source[h_axis]
    pw2 = padded_shape[h_axis + 1] - source[h_axis + 1]
    if ph2 < 0 or pw2 < 0 or ph2 % 2 or pw2 % 2:
        return None  # asymmetric padding: not a template argument
    # The padding stage must shift by the same amount it adds (symmetric placement).
    idx = _indices(reads[0])
    pad_vars = [iv.var for iv in sch.get(pad).iter_vars]
    if len(idx) != 4:
        return None
    for axis, total in ((h_axis, ph2), (h_axis + 1, pw2)):
        c = _linear(idx[axis], [pad_vars[axis]])
        if c is None or c[0] != 1 or c[1] != -(total // 2):
            return None
    return source, (ph2 // 2, pw2 // 2)


def _match_conv(sch: Any, block: Any) -> Optional[KernelMatch]:
    from ..templates.conv2d import schedule_conv2d
    from ..templates.depthwise import schedule_depthwise, schedule_depthwise_nhwc

    stage = sch.get(block)
    ivs = stage.iter_vars
    if [int(iv.iter_type) for iv in ivs] != [_SPATIAL] * 4 + [_REDUCE] * 3 or len(stage.reads) != 2:
        return None
    v = [iv.var for iv in ivs]
    ext = [_int(iv.dom.extent) for iv in ivs]
    data, kernel = stage.reads
    di, ki = _indices(data), _indices(kernel)
    out = _indices(stage.writes[0])
    if len(di) != 4 or len(ki) != 4 or len(out) != 4:
        return None
    dtype = _dtype(stage.writes[0].source)
    if _dtype(data.source) != dtype or _dtype(kernel.source) != dtype:
        return None

    def window(expr: Any, out_var: Any, k_var: Any) -> Optional[Tuple[int, int]]:
        c = _linear(expr, [out_var, k_var])
        if c is None or c[2] != 0 or c[0] < 1 or c[1] < 1:
            return None
        return c[0], c[1]  # stride, dilation

    # NCHW: out[n, f, y, x] += pad[n, c, y*s + ry*d, x*s + rx*d] * w[f, c, ry, rx]
    if all(_is_var(e, x) for e, x in zip(out, v[:4])) and _is_var(di[0], v[0]) \
            and all(_is_var(e, x) for e, x in zip(ki, (v[1], v[4], v[5], v[6]))):
        hy, wx = window(di[2], v[2], v[5]), window(di[3], v[3], v[6])
        if hy is None or wx is None:
            return None
        geometry = _input_geometry(sch, block, _shape(data.source), 2)
        if geometry is None:
            return None
        (N, CI, H, W), pads = geometry
        CO, KH, KW = ext[1], ext[5], ext[6]
        stride, dilation = (hy[0], wx[0]), (hy[1], wx[1])
        if _is_var(di[1], v[4]) and ext[4] == CI:
            args = (N, CI, H, W, CO, KH, KW, _pair(stride), _pair(pads), _pair(dilation), dtype)
            return KernelMatch("conv2d_nchw", args, stage.name_hint,
                               lambda s, cfg, b: schedule_conv2d(s, cfg, b, "NCHW"))
        c = _linear(di[1], [v[1], v[4]])
        if c == [1, 1, 0] and ext[4] == 1 and CO == CI:  # depthwise: one input channel per output
            args = (N, CI, H, W, KH, KW, _pair(stride), _pair(pads), _pair(dilation), dtype)
            return KernelMatch("depthwise_conv2d_nchw", args, stage.name_hint,
                               lambda s, cfg, b: schedule_depthwise(s, cfg, b))
        return None
    # NHWC: out[n, y, x, f] += pad[n, y*s + ry*d, x*s + rx*d, c] * w[ry, rx, c, f]
    # (depthwise: pad[n, ..., f + rc] * w[ry, rx, rc, f] with rc of extent 1)
    if all(_is_var(e, x) for e, x in zip(out, v[:4])) and _is_var(di[0], v[0]) \
            and all(_is_var(e, x) for e, x in zip(ki, (v[4], v[5], v[6], v[3]))):
        hy, wx = window(di[1], v[1], v[4]), window(di[2], v[2], v[5])
        if hy is None or wx is None:
            return None
        geometry = _input_geometry(sch, block, _shape(data.source), 1)
        if geometry is None:
            return None
        (N, H, W, CI), pads = geometry
        CO, KH, KW = ext[3], ext[4], ext[5]
        stride, dilation = _pair((hy[0], wx[0])), _pair((hy[1], wx[1]))
        if _is_var(di[3], v[6]) and ext[6] == CI:
            args = (N, H, W, CI, CO, KH, KW, stride, _pair(pads), dilation, dtype)
            return KernelMatch("conv2d_nhwc", args, stage.name_hint,
                               lambda s, cfg, b: schedule_conv2d(s, cfg, b, "NHWC"))
        if _linear(di[3], [v[3], v[6]]) == [1, 1, 0] and ext[6] == 1 and CO == CI:
            args = (N, H, W, CI, KH, KW, stride, _pair(pads), dilation, dtype)
            return KernelMatch("depthwise_conv2d_nhwc", args, stage.name_hint,
                               lambda s, cfg, b: schedule_depthwise_nhwc(s, cfg, b))
    return None


def _pair(p: Tuple[int, int]) -> Any:
    """An int when both are equal (how templates and logs usually spell it), else a list."""
    return p[0] if p[0] == p[1] else [p[0], p[1]]


def _match_gemm(sch: Any, block: Any) -> Optional[KernelMatch]:
    from ..templates import _gemm

    stage = sch.get(block)
    ivs = stage.iter_vars
    kinds = [int(iv.iter_type) for iv in ivs]
    if kinds[-1] != _REDUCE or any(k != _SPATIAL for k in kinds[:-1]) or len(ivs) < 3 or len(stage.reads) != 2:
        return None
    v = [iv.var for iv in ivs]
    ext = [_int(iv.dom.extent) for iv in ivs]
    k = v[-1]
    a, b = stage.reads
    ai, bi, oi = _indices(a), _indices(b), _indices(stage.writes[0])
    spatial = v[:-1]
    if len(oi) != len(spatial) or not all(_is_var(e, x) for e, x in zip(oi, spatial)):
        return None
    if len(ai) < 2 or len(bi) < 2:
        return None
    dtype = _dtype(stage.writes[0].source)
    if _dtype(a.source) != dtype or _dtype(b.source) != dtype:
        return None
    m_var, n_var = spatial[-2], spatial[-1]
    if not (_is_var(ai[-1], k) and _is_var(ai[-2], m_var)):
        return None
    if _is_var(bi[-2], k) and _is_var(bi[-1], n_var):
        layout = "kn"
    elif _is_var(bi[-2], n_var) and _is_var(bi[-1], k):
        layout = "nk"
    else:
        return None
    lead = spatial[:-2]  # loops before m: batch (they index B too) or part of M (A only)
    a_lead, b_lead = ai[:-2], bi[:-2]
    if len(a_lead) != len(lead) or not all(_is_var(e, x) for e, x in zip(a_lead, lead)):
        return None
    if b_lead:
        # B carries the same batch loops (broadcast B is not a template case)
        if len(b_lead) != len(lead) or not all(_is_var(e, x) for e, x in zip(b_lead, lead)):
            return None
        n_batch, n_m = len(lead), 1
    else:
        n_batch, n_m = 0, len(lead) + 1
    M = _prod(ext[n_batch:n_batch + n_m])
    N, K = ext[-2], ext[-1]
    batch = _prod(ext[:n_batch])
    if n_batch:
        args: Tuple[Any, ...] = (batch, M, N, K, dtype, layout == "nk")
        template = "batch_matmul"
    else:
        args = (M, N, K, dtype)
        template = "matmul" if layout == "kn" else "dense"

    def apply(s: Any, cfg: Any, blk: Any) -> bool:
        # Only the matmul template makes packing a knob; dense and batch_matmul pack.
        pack = cfg["pack_b"].val if template == "matmul" else True
        return _gemm.schedule(s, cfg, blk, b_read=1 if pack else None, b_layout=layout,
                              n_batch=n_batch, n_m=n_m)

    return KernelMatch(template, args, stage.name_hint, apply)


def _prod(values: Sequence[int]) -> int:
    out = 1
    for x in values:
        out *= int(x)
    return out


def match_kernel(func: Any) -> Optional[KernelMatch]:
    """The template and arguments of TIR function ``func``, or None if no template
    covers it (no reduction, several, or one the analysis cannot prove)."""
    from tvm import s_tir

    try:
        sch = s_tir.Schedule(func)
    except Exception as err:  # noqa: BLE001 - not a schedulable function
        logger.debug("match_kernel: not schedulable: %s", err)
        return None
    reductions = reduction_blocks(sch)
    if len(reductions) != 1:
        return None
    block = reductions[0]
    try:
        return _match_conv(sch, block) or _match_gemm(sch, block)
    except Exception as err:  # noqa: BLE001 - an unexpected form is "no match", not a crash
        logger.debug("match_kernel: %s: %s", sch.get(block).name_hint, err)
        return None

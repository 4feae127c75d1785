"""The packed GEMM schedule behind the dense, matmul and batch_matmul templates.

B is repacked into ``[N / bn, K, bn]`` panels so the inner loop reads ``bn``
contiguous floats per ``k`` (one or two vector registers), each row of A is
broadcast, and an ``mi x bn`` block of C accumulates in registers (a cache-write
stage, written back once, with any elementwise epilogue folded into the write-back).
Outer tiles of ``mo x no`` register blocks, and the reduction split, give the cache
blocking; the outer tile loops run in parallel.

The schedule works on any reduction block of the form ``C[batch.., m.., n] +=
A[.., k] * B[..]`` whose loops are ``batch.., m.., n, k``: the plain compute of the
templates below, and the matmul stages Relax's legalization writes for a model (where
several leading loops may make up ``m``, e.g. ``[1, seq, hidden] @ [hidden, out]``).

Knobs: ``tile_y`` (M: outer, middle, register rows), ``tile_x`` (N: outer, middle,
packed panel width ``bn``), ``tile_k`` (K: outer, inner), ``reduce_outer`` (put the
outer reduction loop outside the middle M/N loops, i.e. block K for cache reuse),
``unroll_k`` (unroll the inner reduction loop).
"""
from __future__ import annotations

from typing import Any, Optional

from . import _schedule as _s

#: Inner reduction loops longer than this are not unrolled (code size).
MAX_UNROLL_K = 16


def _unroll_ok(cfg: Any) -> bool:
    return not cfg["unroll_k"].val or cfg["tile_k"].size[-1] <= MAX_UNROLL_K


def declare_knobs(cfg: Any, M: int, N: int, K: int) -> None:
    cfg.define_split("tile_y", M, num_outputs=3)
    cfg.define_split("tile_x", N, num_outputs=3)
    cfg.define_split("tile_k", K, num_outputs=2)
    cfg.define_knob("reduce_outer", [False, True])
    cfg.define_knob("unroll_k", [False, True])
    _s.add_tile_constraint(cfg, "tile_x", N, ["tile_y"])
    cfg.add_constraint(_unroll_ok)


def panel_width(cfg: Any) -> int:
    """``bn``: the innermost N factor, the width of a packed B panel."""
    return int(cfg["tile_x"].size[-1])


def _panel_map(bn: int, n_batch: int, b_layout: str):
    """Index map of B (``[batch.., K, N]`` for "kn", ``[batch.., N, K]`` for "nk") to its
    panels ``[batch.., N / bn, K, bn]``."""
    if b_layout == "kn":
        return lambda *ix: (*ix[:n_batch], ix[-1] // bn, ix[-2], ix[-1] % bn)
    return lambda *ix: (*ix[:n_batch], ix[-2] // bn, ix[-1], ix[-2] % bn)


def schedule(sch: Any, cfg: Any, block: Any, *, b_read: Optional[int] = 1, b_layout: str = "nk",
             n_batch: int = 0, n_m: int = 1) -> bool:
    """Schedule GEMM ``block`` (loops: ``n_batch`` batch loops, ``n_m`` loops making up
    M, then n and k) of ``sch``; B is read ``b_read`` of the block, laid out
    ``b_layout``, and packed into panels unless ``b_read`` is None.

    Returns False if an epilogue stage could not be folded into the write-back.
    """
    block = sch.get_sblock(block) if isinstance(block, str) else block
    pack = None
    if b_read is not None:
        pack = _s.pack_read(sch, block, b_read, _panel_map(panel_width(cfg), n_batch, b_layout))
    cache = sch.cache_write(block, 0, "global")
    folded = _s.inline_epilogue(sch, cache)
    loops = sch.get_loops(block)
    batch = list(loops[:n_batch])
    m_loops = list(loops[n_batch:n_batch + n_m])
    n, k = loops[n_batch + n_m:]
    m = sch.fuse(*m_loops) if len(m_loops) > 1 else m_loops[0]
    mt, mo, mi = _s.split(sch, m, cfg["tile_y"])
    nt, no, ni = _s.split(sch, n, cfg["tile_x"])
    ko, ki = _s.split(sch, k, cfg["tile_k"])
    if cfg["reduce_outer"].val:
        sch.reorder(*batch, mt, nt, ko, mo, no, ki, mi, ni)
        sch.reverse_compute_at(cache, nt)
        _s.vectorize_innermost(sch, cache, nt)
    else:
        sch.reorder(*batch, mt, nt, mo, no, ko, ki, mi, ni)
        sch.reverse_compute_at(cache, no)
        _s.vectorize_innermost(sch, cache, no)
    # parallel before decompose_reduction: afterwards the update block is no longer
    # a reduction block and the parallel primitive refuses the loop.
    outer = sch.fuse(*batch, mt, nt)
    sch.parallel(outer)
    sch.unroll(mi)
    if cfg["unroll_k"].val:
        sch.unroll(ki)
    sch.vectorize(ni)
    init = sch.decompose_reduction(block, ko)
    _s.vectorize_innermost(sch, init, outer if cfg["reduce_outer"].val else no)
    if pack is not None:
        _s.parallel_outer_vector_inner(sch, pack, n_batch + 1)
    return folded

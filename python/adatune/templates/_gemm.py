"""The packed GEMM schedule behind the dense, matmul and batch_matmul templates.

B is repacked into ``[N / bn, K, bn]`` panels so the inner loop reads ``bn``
contiguous floats per ``k`` (one or two vector registers), each row of A is
broadcast, and an ``mi x bn`` block of C accumulates in registers (a cache-write
stage, written back once).  Outer tiles of ``mo x no`` register blocks, and the
reduction split, give the cache blocking; the outer tile loops run in parallel.

Knobs: ``tile_y`` (M: outer, middle, register rows), ``tile_x`` (N: outer, middle,
packed panel width ``bn``), ``tile_k`` (K: outer, inner), ``reduce_outer`` (put the
outer reduction loop outside the middle M/N loops, i.e. block K for cache reuse),
``unroll_k`` (unroll the inner reduction loop).
"""
from __future__ import annotations

from typing import Any

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


def schedule(sch: Any, cfg: Any, out_block: str, pack_block: str = None, n_batch: int = 0) -> None:
    """Schedule ``out_block`` (loops: ``n_batch`` batch loops, m, n, k) of ``sch``."""
    block = sch.get_sblock(out_block)
    cache = sch.cache_write(block, 0, "global")
    loops = sch.get_loops(block)
    batch, (m, n, k) = list(loops[:n_batch]), loops[n_batch:]
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
    if pack_block is not None:
        _s.parallel_outer_vector_inner(sch, sch.get_sblock(pack_block), n_batch + 1)

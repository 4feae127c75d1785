"""Schedule steps the built-in CPU templates share.

The register-tile and vector-width limits here are what keeps spaces free of configs
that spill registers or leave the inner loop scalar; they are constraints on the
space (``ConfigSpace.add_constraint``), so samplers skip such configs.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence, Tuple

from .._checks import check_positive_int
from ..errors import ArgumentError, ArgumentTypeError
from ..space import factors_of

#: Largest register tile (accumulator elements) a valid config may use: 32 vector
#: registers of 8 floats, twice what AVX2 has, so AVX-512 tiles stay in the space.
MAX_TILE_ELEMS = 256
#: Innermost (vectorised) factors below this are invalid unless nothing else divides.
MIN_VECTOR = 4


def min_vector_factor(extent: int, at_least: int = MIN_VECTOR) -> int:
    """Smallest divisor of ``extent`` that is ``>= min(at_least, extent)``."""
    want = min(at_least, extent)
    return next(f for f in factors_of(extent) if f >= want)


def _tile_ok(cfg: Any, vec_knob: str, vec_extent: int, tile_knobs: Tuple[str, ...]) -> bool:
    vec = cfg[vec_knob].size[-1]
    if vec < min_vector_factor(vec_extent):
        return False
    elems = vec
    for name in tile_knobs:
        elems *= cfg[name].size[-1]
    # A single vector row is always allowed so that every extent keeps a valid config.
    return elems <= MAX_TILE_ELEMS or elems == vec


def add_tile_constraint(cfg: Any, vec_knob: str, vec_extent: int, tile_knobs: Sequence[str]) -> None:
    """Register-tile constraint: the innermost factor of ``vec_knob`` is a real vector
    and the product of the innermost factors fits :data:`MAX_TILE_ELEMS`."""
    cfg.add_constraint(functools.partial(_tile_ok, vec_knob=vec_knob, vec_extent=int(vec_extent),
                                         tile_knobs=tuple(tile_knobs)))


def pair(value: Any, name: str) -> Tuple[int, int]:
    """``(h, w)`` from an int or a pair of ints; ``ValueError`` naming ``name`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, value
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return int(value[0]), int(value[1])
    raise ArgumentTypeError(f"{name} must be an int or a pair of ints, got {value!r}")


def check_dims(owner: str, **dims: Any) -> None:
    """Every named extent is a positive int (the templates' shape arguments)."""
    for key, val in dims.items():
        check_positive_int(val, key, owner)


def split(sch: Any, loop: Any, entity: Any):
    """Split ``loop`` by a split entity (``[-1, a, b]``: outer extent inferred)."""
    return sch.split(loop, factors=[None if s == -1 else int(s) for s in entity.size])


def parallel_outer_vector_inner(sch: Any, block: Any, n_parallel: int) -> None:
    """Fuse the first ``n_parallel`` loops of ``block`` into a parallel loop and
    vectorise its innermost loop: the schedule of packing and padding stages."""
    loops = sch.get_loops(block)
    if len(loops) > n_parallel:
        sch.vectorize(loops[-1])
    outer = loops[:n_parallel]
    if outer:
        sch.parallel(sch.fuse(*outer) if len(outer) > 1 else outer[0])


def loops_below(sch: Any, block: Any, anchor: Any) -> list:
    """Loops of ``block`` nested inside loop ``anchor`` (all of them for ``None``)."""
    loops = sch.get_loops(block)
    if anchor is None:
        return list(loops)
    target = sch.get(anchor)
    for i, loop in enumerate(loops):
        if sch.get(loop).same_as(target):
            return list(loops[i + 1:])
    raise ArgumentError("anchor loop does not enclose the block")


def vectorize_innermost(sch: Any, block: Any, anchor: Any = None) -> None:
    """Vectorise the innermost loop of ``block`` if it has one of its own below
    ``anchor`` (a block computed at a loop may have none when its tile is 1)."""
    own = loops_below(sch, block, anchor)
    if own:
        sch.vectorize(own[-1])


def _tvm_error():
    from tvm.s_tir.schedule import ScheduleError

    return ScheduleError


#: The block annotation Relax's SplitLayoutRewritePreproc looks for.
LAYOUT_REWRITE_PREPROC = "meta_schedule.layout_rewrite_preproc"


def producer_of(sch: Any, block: Any, read_index: int) -> Any:
    """The block of this function that writes read ``read_index`` of ``block``, or None
    (the read is a parameter of the function)."""
    source = sch.get(block).reads[read_index].source
    for p in sch.get_producers(block):
        if any(w.source.same_as(source) for w in sch.get(p).writes):
            return p
    return None


def inline_if_copy(sch: Any, block: Any) -> Any:
    """Inline ``block`` into its consumers if it only copies (TOPI's padding stage when
    the padding is 0); returns None then, else ``block``."""
    if block is None:
        return None
    from tvm import ir, tirx

    body = sch.get(block).body
    # (TVM 0.27 reads a buffer through ir.TensorLoad; tirx.BufferLoad is a constructor.)
    if isinstance(body, tirx.stmt.BufferStore) and isinstance(body.value, ir.expr.TensorLoad):
        sch.compute_inline(block)
        return None
    return block


def pack_read(sch: Any, block: Any, read_index: int, index_map: Any) -> Any:
    """A packing stage for read ``read_index`` of ``block``: the buffer's producer when
    the function computes it (e.g. a padding stage), else a copy (``cache_read``); its
    layout becomes ``index_map`` (a function of the buffer's indices) and its loops
    follow the packed layout. Returns it."""
    from tvm.tirx import IndexMap

    read = sch.get(block).reads[read_index]
    index_map = IndexMap.from_func(index_map, ndim=len(read.region),
                                   index_dtype=str(read.region[0].extent.ty))
    stage = producer_of(sch, block, read_index)
    if stage is None:
        stage = sch.cache_read(block, read_index, "global")
        # A copy of a parameter into a new layout: when the parameter is a constant
        # (a model's weights), Relax's SplitLayoutRewritePreproc moves this stage out of
        # the kernel and FoldConstant runs it once, at compile time.
        sch.annotate(stage, LAYOUT_REWRITE_PREPROC, True)
    sch.transform_layout(block, ("read", read_index), index_map)
    sch.transform_block_layout(stage, index_map)
    return stage


def inline_epilogue(sch: Any, block: Any) -> bool:
    """Fold the elementwise stages that consume ``block``'s output (bias add, batch
    norm, residual add, relu, clip, gelu, ...) into ``block`` itself, so they run in its
    loop nest instead of as passes of their own over memory.

    A chain is folded with ``reverse_compute_inline``; where several stages read the
    output (gelu's ``x * 0.5 * (1 + erf(x / sqrt 2))``), the intermediate ones are first
    inlined into their consumers. Returns False if some consumer could not be folded
    (the caller schedules it on its own); a kernel with no consumer returns True.
    """
    error = _tvm_error()
    for _ in range(256):  # each step removes a block, so this bounds any real function
        consumers = sch.get_consumers(block)
        if not consumers:
            return True
        if len(consumers) == 1:
            try:
                sch.reverse_compute_inline(consumers[0])
                continue
            except error:
                pass
        for consumer in consumers:
            try:
                sch.compute_inline(consumer)
                break
            except error:
                continue
        else:
            return False
    return False


def _has_layout_rewrite(func: Any) -> bool:
    from tvm import s_tir

    sch = s_tir.Schedule(func)
    return any(LAYOUT_REWRITE_PREPROC in (sch.get(b).annotations or {})
               for b in sch.get_child_blocks(sch.get_sblock("root")))


def split_prepacked(func: Any) -> Tuple[Any, bool]:
    """The kernel as a model deploys it with pre-packed constant weights: its
    layout-rewrite stages (see :func:`pack_read`) split off by Relax's
    ``SplitLayoutRewritePreproc``, leaving the compute, which takes the packed layouts
    as its parameters. Returns ``(compute kernel, True)``, or ``(func, False)`` when
    ``func`` has no such stage."""
    import tvm
    from tvm import relax

    if not _has_layout_rewrite(func):
        return func, False

    def ty(p: Any) -> Any:
        return relax.TensorType([int(d) for d in p.shape], str(p.dtype))

    params = [relax.Var(f"p{i}", ty(p)) for i, p in enumerate(func.params[:-1])]
    bb = relax.BlockBuilder()
    with bb.function("main", params):
        with bb.dataflow():
            kernel = func.without_attr("global_symbol") if "global_symbol" in (func.attrs or {}) else func
            gv = bb.add_func(kernel, "kernel")
            res = bb.emit_output(relax.call_tir(gv, params, ty(func.params[-1])))
        bb.emit_func_output(res)
    mod = relax.transform.SplitLayoutRewritePreproc()(bb.get())
    names = [gv.name_hint for gv in mod.get_global_vars()]
    if "kernel_prepacked" not in names:
        return func, False
    return mod["kernel_prepacked"].with_attr("global_symbol", "main"), True

"""A schedule for any kernel: no stage of a built model stays a naive serial loop.

Legalized kernels are serial loop nests; on a 2-core machine that leaves half the
machine idle and the vector units unused. This is the schedule every kernel gets that
is neither a tuned template kernel nor tuned by MetaSchedule (and the fallback of one
that fails verification): element-wise stages are inlined into their consumers, and
every remaining stage runs its leading data-parallel loops in parallel and its
innermost data-parallel loop as vectors. Reductions (softmax, layer norm, pooling,
means) keep their reduction loops serial, parallel over the rest.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable, List

__all__ = ["default_schedule", "schedule_remaining", "is_scheduled"]

logger = logging.getLogger(__name__)

#: Below this many iterations of its parallel loops a stage is not worth a thread fork.
MIN_PARALLEL_WORK = 2048
#: Vector width tried first for the innermost loop (16 floats: one AVX-512 register).
VECTOR = 16

_SPATIAL = 0


def _blocks(sch: Any) -> List[Any]:
    return list(sch.get_child_blocks(sch.get_sblock("root")))


def _errors():
    from tvm.s_tir.schedule import ScheduleError

    return ScheduleError


def is_scheduled(sch: Any, block: Any) -> bool:
    """True if a loop around ``block`` is already parallel, vectorised or unrolled."""
    return any(int(sch.get(loop).kind) != 0 for loop in sch.get_loops(block))


def _leading_spatial(sch: Any, block: Any) -> List[Any]:
    """The loops above ``block``'s first reduction loop (its data-parallel nest)."""
    stage = sch.get(block)
    loops = list(sch.get_loops(block))
    if len(loops) != len(stage.iter_vars):
        return []  # not a plain nest (already transformed): leave it
    out = []
    for loop, iv in zip(loops, stage.iter_vars):
        if int(iv.iter_type) != _SPATIAL:
            break
        out.append(loop)
    return out


def _extent(sch: Any, loop: Any) -> int:
    ext = sch.get(loop).extent
    return int(ext.value) if hasattr(ext, "value") else int(ext)


def _schedule_stage(sch: Any, block: Any) -> None:
    error = _errors()
    spatial = _leading_spatial(sch, block)
    if not spatial:
        return
    pure = len(spatial) == len(sch.get_loops(block))
    if pure and len(spatial) >= 1:
        inner = spatial[-1]
        ext = _extent(sch, inner)
        try:
            if ext >= VECTOR and ext % VECTOR == 0:
                outer, vec = sch.split(inner, [None, VECTOR])
                sch.vectorize(vec)
                spatial = spatial[:-1] + [outer]
            elif 1 < ext <= 4 * VECTOR:
                sch.vectorize(inner)
                spatial = spatial[:-1]
        except error:
            pass
    if not spatial:
        return
    # The work a thread fork pays for is every iteration under the parallel loop, the
    # reduction loops included (a softmax over 128 columns of 1,536 rows is 196,608
    # iterations, not 1,536).
    work = 1
    for loop in sch.get_loops(block):
        work *= _extent(sch, loop)
    try:
        fused = sch.fuse(*spatial) if len(spatial) > 1 else spatial[0]
        if _extent(sch, fused) > 1 and work >= MIN_PARALLEL_WORK:
            sch.parallel(fused)
    except error:
        pass


def schedule_remaining(sch: Any, skip: Iterable[str] = ()) -> None:
    """Inline element-wise intermediates and give every stage not yet scheduled (and
    not named in ``skip``) parallel outer and vector inner loops, in place."""
    error = _errors()
    skip = set(skip)
    for block in reversed(_blocks(sch)):
        stage = sch.get(block)
        if stage.name_hint in skip or is_scheduled(sch, block):
            continue
        # Inline element-wise stages read once; one read by several (softmax's exp,
        # read by its sum and its division) would be recomputed by each.
        if all(int(iv.iter_type) == _SPATIAL for iv in stage.iter_vars) and len(sch.get_consumers(block)) == 1:
            try:
                sch.compute_inline(block)
                continue
            except error:
                pass
    for block in _blocks(sch):
        if sch.get(block).name_hint in skip or is_scheduled(sch, block):
            continue
        _schedule_stage(sch, block)


def default_schedule(func: Any) -> Any:
    """``func`` with :func:`schedule_remaining` applied to all its stages."""
    from tvm import s_tir

    sch = s_tir.Schedule(func)
    try:
        schedule_remaining(sch)
    except Exception as err:  # noqa: BLE001 - a stage we cannot schedule stays as it was
        logger.debug("default_schedule: %s", err)
        return func
    return sch.mod["main"]

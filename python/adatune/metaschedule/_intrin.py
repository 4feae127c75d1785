"""When MetaSchedule needs ``tvm.s_tir.tensor_intrin``, and how to skip it when it does not.

Importing ``tvm.s_tir.tensor_intrin`` registers every tensor intrinsic TVM ships (CUDA
WMMA/MMA/ldmatrix, x86 VNNI/AVX-512, ARM dot-product/NEON, Hexagon, AMD MFMA, ...). It
costs 25-40 s here, most of it the CUDA intrinsics, and ``TuneContext.__init__`` as well
as MetaSchedule's ``default_build`` pay it unconditionally.

The intrinsics are looked up by name only by schedule rules and postprocessors that
tensorize (``MultiLevelTilingWithIntrin``, ``MultiLevelTilingTensorCore``,
``RewriteTensorize``).  MetaSchedule picks those rules from the target:

* ``llvm`` with AVX-512 VNNI / AVX-VNNI -> ``"vnni"`` rules (``dot_16x4_vnni``...);
* ``llvm`` with AVX-512F and AVX-512BW -> ``"avx512"`` rules;
* ``llvm`` for ARM (``aarch64``/``arm`` triple) -> ``"arm"`` rules (NEON / dot-product);
* ``cuda`` and the other GPU kinds (tensor-core rules), ``hexagon``.

Every other ``llvm`` target (plain x86-64, AVX2, ...) generates its space without any
intrinsic, and no target needs them to *build*: a tensorized schedule already carries
the intrinsic's implementation in its TIR.
"""
from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import types
from typing import Any, Iterator

logger = logging.getLogger(__name__)

_INTRIN_MODULE = "tvm.s_tir.tensor_intrin"
_X86_INTRIN_FEATURES = (("avx512vnni",), ("avxvnni",), ("avx512f", "avx512bw"))


def needs_tensor_intrin(target: Any) -> bool:
    """Whether MetaSchedule's design space for ``target`` refers to tensor intrinsics."""
    import tvm

    target = tvm.target.Target(target) if not isinstance(target, tvm.target.Target) else target
    if target.kind.name != "llvm":
        return target.kind.name not in ("c",)
    triple = str(target.attrs.get("mtriple", "") or "")
    if triple.startswith(("aarch64", "arm")):
        return True
    has_feature = tvm.get_global_func("target.target_has_feature", allow_missing=True)
    if has_feature is None:  # cannot tell: be correct rather than fast
        return True
    return any(all(bool(has_feature(f, target)) for f in group) for group in _X86_INTRIN_FEATURES)


def import_tensor_intrin() -> None:
    """Register TVM's tensor intrinsics (once per process; slow, see module docstring)."""
    stub = sys.modules.get(_INTRIN_MODULE)
    if stub is not None and getattr(stub, "__adatune_stub__", False):
        del sys.modules[_INTRIN_MODULE]
    importlib.import_module(_INTRIN_MODULE)


@contextlib.contextmanager
def skip_tensor_intrin_import(target: Any, needed: Any = None) -> Iterator[bool]:
    """Inside the block, ``import tvm.s_tir.tensor_intrin`` is free when ``target`` does not
    need the intrinsics; otherwise they are imported once, for real.

    ``needed=False`` skips the import whatever the target: for a design space built
    with explicit rules that use no intrinsic (``PostOrderApply(sch_rules="llvm", ...)``).
    Yields True when the import was skipped.  The placeholder module is removed on exit
    (unless the real module got imported meanwhile), so a later real import still works.
    """
    if _INTRIN_MODULE in sys.modules:
        yield False
        return
    if needed is None:
        needed = needs_tensor_intrin(target)
    if needed:
        logger.info("target %s needs tensor intrinsics: importing %s", target, _INTRIN_MODULE)
        import_tensor_intrin()
        yield False
        return
    stub = types.ModuleType(_INTRIN_MODULE)
    stub.__adatune_stub__ = True  # type: ignore[attr-defined]
    sys.modules[_INTRIN_MODULE] = stub
    try:
        yield True
    finally:
        if sys.modules.get(_INTRIN_MODULE) is stub:
            del sys.modules[_INTRIN_MODULE]

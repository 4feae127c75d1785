"""Turning what users pass as a target into a ``tvm.target.Target``.

TVM 0.27 only accepts JSON-dict targets (``{"kind": "llvm", "mcpu": ...}``); the old
``"llvm -mcpu=..."`` strings are refused.  The host CPU default names the CPU
explicitly because LLVM's generic x86-64 CPU has no AVX, which makes vectorised
schedules 3-4x slower, and ``"mcpu": "native"`` is rejected for the conda triple
TVM's wheels are built with.
"""
from __future__ import annotations

import functools
import json
import logging
import os
import re
from typing import Any, Dict, Mapping
from ..errors import ArgumentError

__all__ = ["as_target", "default_target", "target_to_dict"]

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _host_cpu() -> str:
    import tvm.target.codegen as codegen

    try:
        cpu = str(codegen.llvm_get_system_cpu())
    except Exception:  # noqa: BLE001 - TVM built without LLVM: leave mcpu unset
        return ""
    return "" if cpu in ("", "generic") else cpu


def default_target() -> Dict[str, Any]:
    """The host CPU as a target dict: ``{"kind": "llvm", "num-cores": n, "mcpu": cpu}``."""
    out: Dict[str, Any] = {"kind": "llvm", "num-cores": int(os.cpu_count() or 1)}
    cpu = _host_cpu()
    if cpu:
        out["mcpu"] = cpu
    return out


_BARE_KIND = re.compile(r"[a-z][a-z0-9_]*")

_NAMED = {
    "llvm": default_target,
    "cpu": default_target,
    "cuda": lambda: {"kind": "cuda"},
}


def as_target(target: Any = None):
    """A ``tvm.target.Target`` from a Target, a dict, ``"llvm"``/``"cuda"``, or ``None``.

    Parameters
    ----------
    target : tvm.target.Target, dict, str or None
        ``None``, ``"llvm"`` and ``"cpu"`` mean :func:`default_target` (the host CPU);
        any other bare kind name (``"cuda"``, ``"c"``, ``"rocm"``) means ``{"kind": name}``;
        a JSON string of a dict is accepted too.

    Raises
    ------
    ValueError
        For an old-style ``"llvm -mcpu=..."`` string or anything TVM cannot parse.
    """
    import tvm

    if isinstance(target, tvm.target.Target):
        return target
    if target is None:
        target = default_target()
    elif isinstance(target, str):
        text = target.strip()
        if text in _NAMED:
            target = _NAMED[text]()
        elif text.startswith("{"):
            try:
                target = json.loads(text)
            except json.JSONDecodeError as err:
                raise ArgumentError(f"target: {target!r} is not valid JSON ({err})") from None
        elif _BARE_KIND.fullmatch(text):
            target = {"kind": text}
        else:
            raise ArgumentError(
                f"target: {target!r} is an old-style target string, which TVM 0.27 no longer "
                "parses; pass a dict such as {'kind': 'llvm', 'mcpu': 'znver3', 'num-cores': 2}, "
                "or 'llvm' / 'cuda' for the defaults")
    if not isinstance(target, Mapping):
        raise ArgumentError(f"target must be a tvm Target, a dict or a string, got {type(target).__name__}")
    if "kind" not in target:
        raise ArgumentError(f"target dict needs a 'kind' key, got {dict(target)!r}")
    try:
        built = tvm.target.Target(dict(target))
    except Exception as err:  # noqa: BLE001 - TVM raises several error types here
        raise ArgumentError(f"target: TVM cannot build a target from {dict(target)!r}: {err}") from None
    if built.kind.name == "llvm" and "mcpu" not in target and "mtriple" not in target:
        _warn_generic_cpu()
    return built


@functools.lru_cache(maxsize=1)
def _warn_generic_cpu() -> None:
    cpu = _host_cpu()
    if cpu:
        logger.warning("llvm target without 'mcpu' compiles for generic x86-64 (no AVX): "
                       "kernels run several times slower; add 'mcpu': %r for this host", cpu)


def target_to_dict(target: Any) -> Dict[str, Any]:
    """A plain, JSON-able dict that :func:`as_target` turns back into the same target."""
    return json.loads(str(as_target(target)))

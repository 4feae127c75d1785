"""Workload keys and data layouts of tuning records.

A workload is a task name plus its arguments.  Its key is a printable string, e.g.
``tvm_matmul_tune_op(16,256,256)``, stable across runs and Python versions (compact
JSON of the arguments, no hashing), so it can be stored, compared and grepped.

The layout is what a graph-level tuner needs to pick between records of the same
operator: the data layout named in the arguments (``NCHW``, ``NHWC``, packed
``NCHW16c``/``NCHW1n16c``), the one a packed template's config implies (x86
``conv2d_NCHWc`` packs the channels by its ``tile_ic`` split), the layout a task name
spells (``..._nchw_...``), a kernel layout (``OIHW``, ``HWIO``) when only that is
given, else ``"unknown"``.
"""
from __future__ import annotations

import functools
import json
import re
from typing import Any, Iterable, Optional, Sequence, Tuple

from ..errors import ArgumentTypeError

__all__ = ["workload_key", "infer_layout", "layout_family", "layout_depends_on_config",
           "UNKNOWN_LAYOUT"]

UNKNOWN_LAYOUT = "unknown"

# Data layouts: batch and channel axes plus spatial ones, optionally packed sub-axes
# ("16c", "1n").  Kernel layouts use O/I instead of N/C.
_DATA_LAYOUT = re.compile(r"^(?=[NCDHW]*N)(?=[NCDHW]*C)[NCDHW]{3,5}(?:\d+[ncdhw])*$")
_KERNEL_LAYOUT = re.compile(r"^(?=[OIDHW]*O)(?=[OIDHW]*I)[OIDHW]{3,5}(?:\d+[oidhw])*$")
_NAME_LAYOUT = re.compile(r"(?:^|[_.])(nchw\d*c|ncdhw\d*c|nchw|nhwc|ncdhw|ndhwc)(?:[_.]|$)",
                          re.IGNORECASE)


# Compact, key-sorted, C-accelerated: the key is computed for every record read.
_KEY_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str)


def workload_key(task_name: str, args: Sequence[Any]) -> str:
    """Printable key of a workload: ``name(arg,arg,...)`` with arguments as compact JSON.

    Parameters
    ----------
    task_name : str
    args : sequence
        The task arguments as logged (lists or tuples, nested).

    Returns
    -------
    str
        Equal for equal (name, args), whatever their container types.
    """
    if not isinstance(task_name, str):
        raise ArgumentTypeError(f"workload_key: task_name must be a string, got {task_name!r}")
    body = _KEY_ENCODER.encode(args if isinstance(args, (list, tuple)) else list(args))
    return f"{task_name}({body[1:-1]})"


def _strings(args: Iterable[Any], out: list) -> list:
    for arg in args:
        kind = type(arg)
        if kind is str:
            out.append(arg)
        elif kind is list or kind is tuple:
            # ["TENSOR", shape, dtype] carries no layout; skip its dtype string.
            # Shapes (lists of ints) are the common case: skip them without recursing.
            if arg and arg[0] != "TENSOR":
                for item in arg:
                    if type(item) is not int:
                        _strings(arg, out)
                        break
    return out


def _split_size(entity: Iterable[Any], name: str) -> Optional[int]:
    for knob in entity or ():
        if len(knob) == 3 and knob[0] == name and knob[1] == "sp":
            sizes = knob[2]
            if isinstance(sizes, (list, tuple)) and sizes and isinstance(sizes[-1], int):
                return sizes[-1]
    return None


@functools.lru_cache(maxsize=4096)
def _classify(text: str) -> int:
    """1 for a data layout string, 2 for a kernel layout, 0 otherwise."""
    if _DATA_LAYOUT.match(text):
        return 1
    if _KERNEL_LAYOUT.match(text):
        return 2
    return 0


@functools.lru_cache(maxsize=4096)
def _name_hints(task_name: str) -> Tuple[bool, Optional[str]]:
    """(is a packed NCHWc template, layout the name spells or None)."""
    packed = "nchwc" in task_name.lower()
    match = _NAME_LAYOUT.search(task_name)
    layout = None
    if match:
        name = match.group(1).upper()
        layout = name[:-1] + "c" if name not in ("NHWC", "NDHWC") and \
            name.endswith("C") else name
    return packed, layout


def layout_depends_on_config(task_name: str) -> bool:
    """True for packed templates (``*_NCHWc``) whose layout :func:`infer_layout` reads
    off each config, so records of one workload may differ in layout."""
    return _name_hints(task_name)[0]


def infer_layout(task_name: str, args: Sequence[Any], entity: Iterable[Any] = ()) -> str:
    """Infer the data layout of a record.

    Parameters
    ----------
    task_name : str
    args : sequence
        Task arguments; layout strings among them are used first.
    entity : iterable of (name, kind, value), optional
        The config; packed templates (``*_NCHWc``) derive the packing from
        their ``tile_ic`` split.

    Returns
    -------
    str
        e.g. ``"NCHW"``, ``"NHWC"``, ``"NCHW16c"``, ``"OIHW"`` or ``"unknown"``.
    """
    packed, name_layout = _name_hints(task_name)
    if packed:
        ic_bn = _split_size(entity, "tile_ic")
        if ic_bn is not None:
            return f"NCHW{ic_bn}c"
    kernel_layout = None
    for text in _strings(args, []):
        kind = _classify(text)
        if kind == 1:
            return text
        if kind == 2 and kernel_layout is None:
            kernel_layout = text
    if name_layout is not None:
        return name_layout
    if kernel_layout is not None:
        return kernel_layout
    return UNKNOWN_LAYOUT


def layout_family(layout: str) -> str:
    """Collapse packed sizes: ``NCHW16c`` -> ``NCHWc``, ``NCHW1n16c`` -> ``NCHWnc``."""
    return re.sub(r"\d+", "", layout)

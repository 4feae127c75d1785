"""Log formats by name: one module per format behind the :class:`LogFormat` interface.

========================  ==========================================================
name                      what
========================  ==========================================================
``autotvm``               AutoTVM v0.1 / v0.2 JSON lines (:mod:`.autotvm`)
``metaschedule``          MetaSchedule JSON databases (:mod:`.metaschedule`)
``kernel_tuner``          Kernel Tuner cache files (:mod:`.kernel_tuner`)
========================  ==========================================================

:func:`format_of` tells which format a path is in (by content, not by name; a file no
format recognises is read as AutoTVM lines, so that its lines are reported as
malformed rather than the file ignored).  :func:`register_format` adds one.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Union

from ...errors import ArgumentError, ArgumentTypeError
from ..lines import read_head
from .autotvm import AutoTVMFormat
from .base import LogFormat, PlainFields
from .kernel_tuner import KernelTunerFormat
from .metaschedule import MetaScheduleFormat

__all__ = ["LogFormat", "PlainFields", "register_format", "get_format", "format_names",
           "format_of", "directory_format", "DEFAULT_FORMAT"]

#: What a file no format recognises is read as.
DEFAULT_FORMAT = "autotvm"

_REGISTRY: Dict[str, LogFormat] = {}
# Sniffing order: most specific first; the default format comes last.
_ORDER: List[LogFormat] = []


def register_format(fmt: LogFormat) -> LogFormat:
    """Add a format (an instance of a :class:`LogFormat` subclass) under ``fmt.name``.

    Raises
    ------
    ArgumentTypeError
        If ``fmt`` is not a LogFormat.
    ArgumentError
        If its name is empty or already taken.
    """
    if not isinstance(fmt, LogFormat):
        raise ArgumentTypeError(f"register_format: fmt must be a LogFormat, got {fmt!r}")
    if not fmt.name or fmt.name in _REGISTRY:
        raise ArgumentError(f"register_format: format name {fmt.name!r} is empty or taken")
    _REGISTRY[fmt.name] = fmt
    if _ORDER and _ORDER[-1].name == DEFAULT_FORMAT:
        _ORDER.insert(len(_ORDER) - 1, fmt)  # the fallback stays last
    else:
        _ORDER.append(fmt)
    return fmt


def get_format(name: str) -> LogFormat:
    """The format registered as ``name``; ArgumentError listing the known ones if none."""
    fmt = _REGISTRY.get(name)
    if fmt is None:
        raise ArgumentError(f"no log format named {name!r}; known: {format_names()}")
    return fmt


def format_names() -> List[str]:
    """Names of the registered formats, in sniffing order."""
    return [fmt.name for fmt in _ORDER]


def directory_format(path: Union[str, os.PathLike]) -> Optional[LogFormat]:
    """The format that reads directory ``path`` as one unit (a MetaSchedule database),
    or None for a plain directory."""
    for fmt in _ORDER:
        if fmt.is_directory and fmt.sniff(Path(path), b""):
            return fmt
    return None


def format_of(path: Union[str, os.PathLike]) -> LogFormat:
    """The format of an existing file or directory, sniffed from its content.

    Raises
    ------
    ArgumentError
        For a directory that no format reads as one unit (see :func:`directory_format`).
    """
    path = Path(path)
    if path.is_dir():
        fmt = directory_format(path)
        if fmt is None:
            raise ArgumentError(f"{path}: a directory that no log format reads as one unit")
        return fmt
    head = read_head(path)
    for fmt in _ORDER:
        if fmt.sniff(path, head):
            return fmt
    return _REGISTRY[DEFAULT_FORMAT]


for _fmt in (MetaScheduleFormat(), KernelTunerFormat(), AutoTVMFormat()):
    register_format(_fmt)
del _fmt

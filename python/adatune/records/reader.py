"""Streaming reads of tuning logs: files, directories, any registered log format.

Every reader is a generator: a multi-GB log is never held in memory.  Malformed lines
are counted in a :class:`ReadSummary` (file, line number, reason) and skipped.  What
each format looks like is known only by its module in :mod:`adatune.records.formats`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple, Union

from ._gc import paused_gc
from .formats import directory_format, format_of, get_format
from .formats.base import LogFormat
from .record import Record
from .summary import ReadSummary

__all__ = ["iter_records", "iter_log_range", "read_records", "log_files", "log_units",
           "LOG_SUFFIXES"]

PathLike = Union[str, os.PathLike]

#: File suffixes picked up when a directory is read (a file named explicitly is read
#: whatever its name).
LOG_SUFFIXES = (".log", ".json", ".jsonl", ".txt", ".records", ".gz")


def log_units(path: PathLike) -> List[Tuple[LogFormat, Path]]:
    """What reading ``path`` will read: ``[(format, path)]`` in reading order.

    A file is read in the format its content says.  A directory is read recursively:
    a directory a format reads as one unit (a MetaSchedule database) is taken whole,
    other files ending in one of :data:`LOG_SUFFIXES` one by one (hidden ones skipped).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such log file or directory: {path}")
    if path.is_file():
        return [(format_of(path), path)]
    found: List[Tuple[LogFormat, Path]] = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        root_path = Path(root)
        unit = directory_format(root_path)
        if unit is not None:
            found.append((unit, root_path))
            continue  # the directory is one unit: its files belong to it
        for name in sorted(files):
            if name.startswith(".") or not name.endswith(LOG_SUFFIXES):
                continue
            found.append((format_of(root_path / name), root_path / name))
    return found


def log_files(path: PathLike) -> List[Tuple[str, Path]]:
    """:func:`log_units` with format names: ``[(format name, path)]``."""
    return [(fmt.name, unit) for fmt, unit in log_units(path)]


def iter_log_range(path: PathLike, start: int, end: Optional[int],
                   summary: Optional[ReadSummary] = None,
                   on_bytes: Optional[Callable[[int], None]] = None) -> Iterator[Record]:
    """Records of the lines of an uncompressed AutoTVM log that start in [start, end).

    Splitting a file at arbitrary byte offsets and reading each range this way reads
    every line exactly once (parallel readers).  Line numbers in ``summary`` count
    from the range's first line.
    """
    if summary is None:
        summary = ReadSummary()
    yield from get_format("autotvm").iter_records(path, summary, on_bytes, start, end)


def iter_records(path: PathLike, summary: Optional[ReadSummary] = None,
                 on_bytes: Optional[Callable[[int], None]] = None) -> Iterator[Record]:
    """Stream the records of a log file, a directory of logs or a MetaSchedule database.

    Parameters
    ----------
    path : str or path
        An AutoTVM log (v0.1 or v0.2 lines, optionally ``.gz``), a Kernel Tuner cache
        file, a MetaSchedule database directory or tuning-record file, or a directory
        of any of these (read recursively, see :func:`log_units`).
    summary : ReadSummary, optional
        Filled in as the read goes; pass one to see the counts afterwards.
    on_bytes : callable, optional
        Called with the number of bytes read since the last call (progress bars).

    Yields
    ------
    Record
    """
    if summary is None:
        summary = ReadSummary()
    for fmt, unit in log_units(path):
        summary.files += 1
        yield from fmt.iter_records(unit, summary, on_bytes)


def read_records(path: PathLike) -> Tuple[List[Record], ReadSummary]:
    """Read a whole log into a list; see :func:`iter_records`."""
    summary = ReadSummary()
    with paused_gc():
        records = list(iter_records(path, summary))
    return records, summary

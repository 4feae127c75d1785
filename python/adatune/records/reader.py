"""Streaming readers of tuning logs: AutoTVM line files, directories, MetaSchedule databases.

Every reader is a generator: a multi-GB log is never held in memory.  Malformed lines
are counted in a :class:`ReadSummary` (file, line number, reason) and skipped.
"""
from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Tuple, Union

from ._gc import paused_gc
from .metaschedule import is_metaschedule_db, iter_metaschedule_db
from .record import Record, RecordError, decode
from .summary import ReadSummary

__all__ = ["iter_records", "iter_log_range", "iter_log_lines", "read_records", "log_files", "LOG_SUFFIXES"]

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

#: File suffixes picked up when a directory is read (a file named explicitly is read
#: whatever its name).
LOG_SUFFIXES = (".log", ".json", ".jsonl", ".txt", ".records", ".gz")

# Lines are read in chunks of this size (one split per chunk, not one read per line);
# the progress callback hears of each chunk.
_READ_CHUNK = 1 << 20


def log_files(path: PathLike) -> List[Tuple[str, Path]]:
    """What reading ``path`` will read: ``[(kind, path)]`` with kind ``autotvm`` or ``ms``.

    A MetaSchedule database is named by its directory or its
    ``database_tuning_record.json``; its ``database_workload.json`` is read with it.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such log file or directory: {path}")
    if path.is_file():
        if is_metaschedule_db(path):
            return [("ms", path)]
        return [("autotvm", path)]
    found: List[Tuple[str, Path]] = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        root_path = Path(root)
        if is_metaschedule_db(root_path):
            found.append(("ms", root_path))
            continue
        for name in sorted(files):
            if name.startswith(".") or not name.endswith(LOG_SUFFIXES):
                continue
            found.append(("autotvm", root_path / name))
    return found


def _open_binary(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def iter_log_lines(path: PathLike, summary: ReadSummary,
                   on_bytes: Optional[Callable[[int], None]] = None,
                   start: int = 0, end: Optional[int] = None) -> Iterator[Tuple[int, bytes]]:
    """``(line number, stripped line)`` of the record lines of one AutoTVM file.

    Blank and ``#`` comment lines are counted in ``summary`` and skipped; the caller
    decodes each line and counts it as kept or rejected (``summary.kept += 1`` or
    ``summary.reject(...)``).  With ``start``/``end``, only the lines starting in bytes
    [start, end) are read and line numbers count from the first of them.  This is the
    loop every AutoTVM reader shares: :func:`iter_records` builds records from it,
    ``adatune featurize`` reads raw values without building records.
    """
    path = Path(path)
    rejected_before = summary.rejected
    with _open_binary(path) as f:
        pos = 0
        if start > 0:
            # Begin at the first line starting at or after `start`.
            f.seek(start - 1)
            pos = start - 1 + len(f.readline())
        lineno = 0
        head: List[bytes] = []  # a line begun in earlier chunks
        while True:
            chunk = f.read(_READ_CHUNK)
            if chunk:
                if b"\n" not in chunk:
                    head.append(chunk)
                    continue
                if head:
                    head.append(chunk)
                    chunk = b"".join(head)
                    head = []
                lines = chunk.split(b"\n")
                tail = lines.pop()  # after the last newline: the start of a line
                if tail:
                    head.append(tail)
                n_bytes = len(chunk) - len(tail)
                ends = True  # every line in `lines` had its newline
            elif head:
                lines = [b"".join(head)]
                head = []
                n_bytes = len(lines[0])
                ends = False
            else:
                break
            if end is not None:
                # keep the lines that start before `end`
                keep = 0
                for line in lines:
                    if pos >= end:
                        break
                    pos += len(line) + 1
                    keep += 1
                if keep < len(lines):
                    n_bytes = sum(len(line) + 1 for line in lines[:keep])
                    lines = lines[:keep]
                    head = []
                elif not ends:
                    pos -= 1
            summary.bytes_read += n_bytes
            if on_bytes is not None:
                on_bytes(n_bytes)
            for raw in lines:
                lineno += 1
                line = raw.strip()
                if not line:
                    summary.blank += 1
                    continue
                if line[:1] == b"#":
                    summary.comments += 1
                    continue
                yield lineno, line
            if end is not None and pos >= end:
                break
    n_bad = summary.rejected - rejected_before
    if n_bad:
        logger.warning("%s: %d malformed line(s) skipped", path, n_bad)


def _iter_autotvm_file(path: Path, summary: ReadSummary,
                       on_bytes: Optional[Callable[[int], None]],
                       start: int = 0, end: Optional[int] = None) -> Iterator[Record]:
    """Records of one AutoTVM file, or of the lines starting in bytes [start, end)."""
    for lineno, line in iter_log_lines(path, summary, on_bytes, start, end):
        try:
            record = decode(line)
        except RecordError as err:
            summary.reject(str(path), lineno, err.reason, str(err))
            continue
        summary.kept += 1
        yield record


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
    yield from _iter_autotvm_file(Path(path), summary, on_bytes, start, end)


def iter_records(path: PathLike, summary: Optional[ReadSummary] = None,
                 on_bytes: Optional[Callable[[int], None]] = None) -> Iterator[Record]:
    """Stream the records of a log file, a directory of logs or a MetaSchedule database.

    Parameters
    ----------
    path : str or path
        An AutoTVM log (v0.1 or v0.2 lines, optionally ``.gz``), a directory (read
        recursively: files ending in one of :data:`LOG_SUFFIXES` and MetaSchedule
        databases), or a MetaSchedule database directory / tuning-record file.
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
    for kind, file in log_files(path):
        summary.files += 1
        if kind == "ms":
            yield from iter_metaschedule_db(file, summary, on_bytes)
        else:
            yield from _iter_autotvm_file(file, summary, on_bytes)


def read_records(path: PathLike) -> Tuple[List[Record], ReadSummary]:
    """Read a whole log into a list; see :func:`iter_records`."""
    summary = ReadSummary()
    with paused_gc():
        records = list(iter_records(path, summary))
    return records, summary

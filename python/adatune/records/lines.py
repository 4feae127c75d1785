"""The chunked line reader every line-based log format shares.

Logs are read in chunks of :data:`_READ_CHUNK` bytes and split once per chunk (not one
``readline`` per line), with blank and ``#`` comment lines counted and skipped.  A byte
range ``[start, end)`` reads only the lines that start in it, so cutting a file at
arbitrary offsets and reading each range reads every line exactly once (parallel
readers).
"""
from __future__ import annotations

import gzip
import logging
import os
from pathlib import Path
from typing import IO, Callable, Iterator, List, Optional, Tuple, Union

from .summary import ReadSummary

__all__ = ["iter_log_lines", "open_binary", "read_head"]

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]

# Lines are read in chunks of this size; the progress callback hears of each chunk.
_READ_CHUNK = 1 << 20


def open_binary(path: PathLike) -> IO[bytes]:
    """``path`` opened for reading bytes, through gzip when it ends in ``.gz``."""
    path = Path(path)
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def iter_log_lines(path: PathLike, summary: ReadSummary,
                   on_bytes: Optional[Callable[[int], None]] = None,
                   start: int = 0, end: Optional[int] = None) -> Iterator[Tuple[int, bytes]]:
    """``(line number, stripped line)`` of the non-blank, non-comment lines of a file.

    Blank and ``#`` comment lines are counted in ``summary`` and skipped; the caller
    decodes each line and counts it as kept or rejected (``summary.kept += 1`` or
    ``summary.reject(...)``).  With ``start``/``end``, only the lines starting in bytes
    [start, end) are read and line numbers count from the first of them.
    """
    path = Path(path)
    rejected_before = summary.rejected
    with open_binary(path) as f:
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


def read_head(path: PathLike, n_bytes: int = 4096) -> bytes:
    """The first ``n_bytes`` of a file (decompressed for ``.gz``), b"" if unreadable.

    What format sniffing looks at; a file that cannot be read sniffs as nothing and
    fails later, where the read names the error.
    """
    try:
        with open_binary(path) as f:
            return f.read(n_bytes)
    except (OSError, EOFError):
        return b""

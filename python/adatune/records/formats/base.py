"""The interface every log format implements.

A format knows four things and nothing else does: whether a path is in it
(:meth:`LogFormat.sniff`), how to cut it into items (:meth:`LogFormat.iter_lines`: lines
of an AutoTVM log, tuning-record lines of a MetaSchedule database, cache entries of a
Kernel Tuner file), how to turn one item into a :class:`~adatune.records.Record`
(:meth:`LogFormat.decode`), and, where one exists, a fast decode of plain lines into
the fields featurization needs (:attr:`LogFormat.decode_plain`).  The reader, the
featurizer and the replay loader all go through it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Tuple, Union

from ...errors import RecordError
from ..record import Record
from ..summary import ReadSummary

__all__ = ["LogFormat", "PlainFields"]

PathLike = Union[str, os.PathLike]

#: What :attr:`LogFormat.decode_plain` returns for a plain line:
#: ``(target, task_name, args, entity, error_no, costs)``.
PlainFields = Tuple[str, str, list, list, int, list]


class LogFormat:
    """One log format: sniffing, items, decoding (subclass and register it).

    Attributes
    ----------
    name : str
        Registry name (``"autotvm"``, ``"metaschedule"``, ``"kernel_tuner"``).
    splittable : bool
        Whether an uncompressed file may be read in byte ranges (parallel readers).
    is_directory : bool
        Whether the format's unit is a directory (a MetaSchedule database) rather
        than a file.
    decode_plain : callable or None
        ``decode_plain(line) -> PlainFields or None``: the fields of a line that
        :meth:`decode` accepts and that is plain (see the implementation), None for
        every other line, valid or not.  None where the format has no fast path.
    """

    name: str = ""
    splittable: bool = False
    is_directory: bool = False
    decode_plain: Optional[Callable[[bytes], Optional[PlainFields]]] = None

    def sniff(self, path: Path, head: bytes) -> bool:
        """True when ``path`` is in this format; ``head`` is its first bytes (b"" for a
        directory)."""
        raise NotImplementedError

    def context(self, path: Path, summary: ReadSummary,
                on_bytes: Optional[Callable[[int], None]] = None) -> Any:
        """What decoding the items of ``path`` needs besides each item (None here)."""
        return None

    def lines_path(self, path: Path) -> Path:
        """The file whose line numbers rejections name."""
        return Path(path)

    def n_bytes(self, path: Path) -> int:
        """Bytes a full read of ``path`` goes through (progress, work splitting)."""
        return Path(path).stat().st_size

    def iter_lines(self, path: Path, summary: ReadSummary,
                   on_bytes: Optional[Callable[[int], None]] = None,
                   start: int = 0, end: Optional[int] = None,
                   context: Any = None) -> Iterator[Tuple[int, Any]]:
        """``(line number, item)`` of every item to decode, blank/comment lines counted."""
        raise NotImplementedError

    def decode(self, item: Any, context: Any = None) -> Record:
        """One item as a Record; :class:`~adatune.errors.RecordError` when it is none."""
        raise NotImplementedError

    def iter_records(self, path: PathLike, summary: ReadSummary,
                     on_bytes: Optional[Callable[[int], None]] = None,
                     start: int = 0, end: Optional[int] = None) -> Iterator[Record]:
        """The records of ``path`` (or of its lines starting in bytes [start, end)).

        Every item is counted in ``summary`` as kept or rejected (file, line, reason).
        """
        path = Path(path)
        context = self.context(path, summary, on_bytes)
        return self.records_of(path, summary, context, on_bytes, start, end)

    def records_of(self, path: PathLike, summary: ReadSummary, context: Any,
                   on_bytes: Optional[Callable[[int], None]] = None,
                   start: int = 0, end: Optional[int] = None) -> Iterator[Record]:
        """:meth:`iter_records` with the :meth:`context` already read."""
        path = Path(path)
        where = str(self.lines_path(path))
        decode = self.decode
        for lineno, item in self.iter_lines(path, summary, on_bytes, start, end, context):
            try:
                record = decode(item, context)
            except RecordError as err:
                summary.reject(where, lineno, err.reason, str(err))
                continue
            summary.kept += 1
            yield record

    def __repr__(self) -> str:
        return f"<log format {self.name!r}>"

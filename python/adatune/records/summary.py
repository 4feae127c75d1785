"""Accounting of a log read: lines read, kept, skipped and rejected (with where and why)."""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Counter, Dict, List

__all__ = ["ReadError", "ReadSummary"]


@dataclass(frozen=True)
class ReadError:
    """One rejected line: file, 1-based line number, reason category and message."""

    path: str
    line: int
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}: {self.message}"


@dataclass
class ReadSummary:
    """Counts of one read.

    Every physical line read is exactly one of ``blank``, ``comments``, ``meta``
    (MetaSchedule workload lines, which are not records themselves), ``kept`` or
    ``rejected``; ``lines_read`` is their sum.

    Parameters
    ----------
    max_errors : int
        How many rejected lines to remember in ``errors`` (all are counted).
    """

    max_errors: int = 100
    files: int = 0
    bytes_read: int = 0
    blank: int = 0
    comments: int = 0
    meta: int = 0
    kept: int = 0
    rejected: int = 0
    rejected_by_reason: Counter = field(default_factory=collections.Counter)
    errors: List[ReadError] = field(default_factory=list)

    @property
    def lines_read(self) -> int:
        return self.blank + self.comments + self.meta + self.kept + self.rejected

    def reject(self, path: str, line: int, reason: str, message: str) -> None:
        """Count one rejected line and remember it if there is room."""
        self.rejected += 1
        self.rejected_by_reason[reason] += 1
        if len(self.errors) < self.max_errors:
            self.errors.append(ReadError(str(path), line, reason, message))

    def merge(self, other: "ReadSummary") -> None:
        """Add another summary's counts to this one."""
        for name in ("files", "bytes_read", "blank", "comments", "meta", "kept", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejected_by_reason.update(other.rejected_by_reason)
        room = self.max_errors - len(self.errors)
        self.errors.extend(other.errors[:max(room, 0)])

    def to_dict(self) -> Dict[str, object]:
        return {
            "files": self.files, "bytes_read": self.bytes_read,
            "lines_read": self.lines_read, "kept": self.kept, "rejected": self.rejected,
            "blank": self.blank, "comments": self.comments, "meta": self.meta,
            "rejected_by_reason": dict(self.rejected_by_reason),
            "errors": [str(e) for e in self.errors],
        }

    def format(self, max_errors: int = 10) -> str:
        """A few human-readable lines: the counts, then the first rejected lines."""
        out = [f"files: {self.files}, lines read: {self.lines_read}, kept: {self.kept}, "
               f"rejected: {self.rejected}, comments: {self.comments}, blank: {self.blank}"
               + (f", workload lines: {self.meta}" if self.meta else "")]
        if self.rejected:
            reasons = ", ".join(f"{k} {v}" for k, v in self.rejected_by_reason.most_common())
            out.append(f"rejected by reason: {reasons}")
            out.extend(f"  {e}" for e in self.errors[:max_errors])
            if self.rejected > min(len(self.errors), max_errors):
                out.append(f"  ... {self.rejected - min(len(self.errors), max_errors)} more")
        return "\n".join(out)

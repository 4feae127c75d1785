"""Compile the tuned kernel of a task from a tuning log in one line.

>>> with adatune.apply_best("dense.log"):                         # doctest: +SKIP
...     lib = adatune.task.create("dense", (512, 512, 512)).build_best()

or, without a ``with`` block, ``task.build_best("dense.log")``.
"""
from __future__ import annotations

import os
import threading
from typing import Any, Dict, Iterable, List, Mapping, Union

from ..errors import ArgumentError, NoRecordError

__all__ = ["ApplyBest", "apply_best", "resolve_best"]

_ACTIVE = threading.local()


def _stack() -> List["ApplyBest"]:
    if not hasattr(_ACTIVE, "stack"):
        _ACTIVE.stack = []
    return _ACTIVE.stack


class ApplyBest:
    """The best successful record per workload of a tuning log.

    Parameters
    ----------
    records : path, list of paths, iterable of Record, or dict
        A log file or directory (anything :func:`adatune.records.load_best` reads),
        several of them, records, or an existing ``{workload_key: Record}``.

    Notes
    -----
    Records are matched to a task by workload key (template name and arguments, under
    any of :attr:`Task.workload_keys`, so logs that left a default argument out match
    too) and by target kind (a cuda record is never applied to an llvm task); among
    those the fastest wins.  Use it as a context manager so :meth:`Task.build_best`
    finds it.
    """

    def __init__(self, records: Any):
        from ..records import Record

        if isinstance(records, (str, os.PathLike)):
            sources: List[Any] = [records]
        elif isinstance(records, Mapping):
            bad = [k for k, v in records.items() if not isinstance(v, Record)]
            if bad:
                raise ArgumentError(f"apply_best: values of the records dict must be Records, not for {bad[:3]}")
            sources = [list(records.values())]
        elif isinstance(records, Iterable):
            items = list(records)
            if all(isinstance(r, (str, os.PathLike)) for r in items):
                sources = items
            elif all(isinstance(r, Record) for r in items):
                sources = [items]
            else:
                raise ArgumentError("apply_best: pass log paths or Records, not a mix of "
                                    f"{sorted({type(r).__name__ for r in items})}")
        else:
            raise ArgumentError(f"apply_best: cannot read records from {type(records).__name__}")
        for src in sources:
            if isinstance(src, (str, os.PathLike)) and not os.path.exists(src):
                raise ArgumentError(f"apply_best: log {os.fspath(src)!r} does not exist")
        self._sources = sources
        self._by_kind: Dict[str, Dict[str, Any]] = {}

    def _best(self, kind: str) -> Dict[str, Any]:
        table = self._by_kind.get(kind)
        if table is None:
            from ..records import load_best

            table = {}
            for src in self._sources:
                for key, rec in load_best(src, target=kind).items():
                    old = table.get(key)
                    if old is None or rec.mean_cost < old.mean_cost:
                        table[key] = rec
            self._by_kind[kind] = table
        return table

    def record_for(self, task: Any):
        """The best record of ``task`` (a :class:`~adatune.task.Task`).

        Raises
        ------
        NoRecordError
            (a ``LookupError``) When the log holds no successful record of the task's
            workload and target kind.
        """
        kind = task.target.kind.name
        table = self._best(kind)
        keys = getattr(task, "workload_keys", (task.workload_key,))
        found = [table[key] for key in keys if key in table]
        if not found:
            where = ", ".join(os.fspath(s) if isinstance(s, (str, os.PathLike)) else "<records>"
                              for s in self._sources)
            raise NoRecordError(f"no successful {kind} record of {task.workload_key} in {where}")
        return min(found, key=lambda rec: rec.mean_cost)

    def workload_keys(self, kind: str = "llvm") -> List[str]:
        """Workload keys with a best record for targets of ``kind``."""
        return sorted(self._best(kind))

    def __enter__(self) -> "ApplyBest":
        _stack().append(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        stack = _stack()
        if stack and stack[-1] is self:
            stack.pop()
        elif self in stack:
            stack.remove(self)

    def __repr__(self) -> str:
        return f"ApplyBest({len(self._sources)} source(s))"


def apply_best(records: Any) -> ApplyBest:
    """The best config per workload of ``records``; use as a context manager.

    Parameters
    ----------
    records : path, list of paths, iterable of Record, or dict
        See :class:`ApplyBest`.
    """
    return ApplyBest(records)


def resolve_best(best: Union[None, ApplyBest, Any] = None) -> ApplyBest:
    """``best`` as an :class:`ApplyBest`, or the innermost active ``apply_best`` block."""
    if isinstance(best, ApplyBest):
        return best
    if best is not None:
        return ApplyBest(best)
    stack = _stack()
    if not stack:
        raise LookupError("no tuning log given: pass one (task.build_best('tune.log')) or call "
                          "it inside `with adatune.apply_best('tune.log'):`")
    return stack[-1]

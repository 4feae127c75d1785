"""Best-N containers of records, one per (target, workload), and grouping a log into them."""
from __future__ import annotations

import bisect
import itertools
import json
import os
from typing import Any, Callable, Dict, Hashable, Iterable, Iterator, List, Optional, Tuple, Union

from .._checks import check_int
from ..errors import ArgumentError, ArgumentTypeError, NoRecordError
from .formats.autotvm import encode
from .reader import iter_records
from .record import Record
from .summary import ReadSummary

__all__ = ["TuneRecords", "create_records_by_workloads", "group_records", "config_key",
           "check_nbest"]


_KEY_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str)

_Entry = Tuple[float, int, Record]


def check_nbest(nbest: Any, owner: str = "", name: str = "nbest") -> int:
    """``nbest`` as an int that is -1 (keep all) or positive; the one check every
    best-N entry point uses."""
    value = check_int(nbest, name, owner, low=-1)
    if value == 0:
        raise ArgumentError(f"{owner + ': ' if owner else ''}{name} must be a positive int "
                            "or -1 (all), got 0")
    return value


def config_key(record: Record) -> tuple:
    """What identifies a configuration within its workload (hashable, for deduplication)."""
    trace = record.extra.get("ms_trace") if record.extra else None
    return (record.config_index, _KEY_ENCODER.encode(record.entity),
            None if trace is None else _KEY_ENCODER.encode(trace))


class TuneRecords:
    """The best records of one workload on one target, kept best-N per layout.

    Parameters
    ----------
    target : str
        Target string the records belong to.
    workload_key : str or None
        :attr:`Record.workload_key` of the records; None takes the first pushed one's.
    nbest : int
        How many records to keep per layout; -1 keeps all.

    Notes
    -----
    Only successful records are kept (``push`` returns False for failed ones).  A
    config measured twice is kept once, with its better cost.  Records are ordered by
    mean cost, ties by arrival order.
    """

    def __init__(self, target: str, workload_key: Optional[str], nbest: int = -1):
        owner = type(self).__name__
        self.nbest = check_nbest(nbest, owner)
        if not isinstance(target, str):
            raise ArgumentTypeError(f"{owner}: target must be a string, got {target!r}")
        if workload_key is not None and not isinstance(workload_key, str):
            raise ArgumentTypeError(f"{owner}: workload_key must be a string or None, "
                                    f"got {workload_key!r}")
        self.target = target
        self.workload_key = workload_key
        # bucket -> entries sorted best first; a bucket is a layout (see _bucket)
        self._buckets: Dict[Hashable, List[_Entry]] = {}
        self._configs: Dict[tuple, _Entry] = {}
        self._seq = itertools.count()

    def _bucket(self, record: Record) -> Hashable:
        """Which bucket ``nbest`` counts ``record`` in: its layout."""
        return record.layout

    def __len__(self) -> int:
        return len(self._configs)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.to_list())

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(target={self.target!r}, "
                f"workload_key={self.workload_key!r}, n={len(self)}, nbest={self.nbest})")

    @property
    def layouts(self) -> List[str]:
        """The layouts of the records held, sorted."""
        return sorted({entry[2].layout for entry in self._configs.values()})

    def push(self, record: Record) -> bool:
        """Add a record; return True when it is kept.

        Raises
        ------
        ArgumentTypeError
            If ``record`` is not a :class:`Record`.
        ArgumentError
            If the record is of another target or workload.
        """
        if not isinstance(record, Record):
            raise ArgumentTypeError(f"{type(self).__name__}.push: record must be a Record, "
                                    f"got {type(record).__name__}")
        if self.workload_key is None:
            self.workload_key = record.workload_key
        if record.target != self.target or record.workload_key != self.workload_key:
            raise ArgumentError(
                f"record of ({record.target!r}, {record.workload_key!r}) pushed into "
                f"{type(self).__name__} of ({self.target!r}, {self.workload_key!r})")
        if not record.ok:
            return False
        cost = record.mean_cost
        key = config_key(record)
        old = self._configs.get(key)
        if old is not None:
            if old[0] <= cost:
                return False
            self._remove(old)
        entry = (cost, next(self._seq), record)
        bucket = self._buckets.setdefault(self._bucket(record), [])
        if self.nbest != -1 and len(bucket) >= self.nbest and entry >= bucket[-1]:
            return False
        bisect.insort(bucket, entry)
        self._configs[key] = entry
        if self.nbest != -1 and len(bucket) > self.nbest:
            self._remove(bucket[-1])
        return True

    def _remove(self, entry: _Entry) -> None:
        record = entry[2]
        name = self._bucket(record)
        bucket = self._buckets[name]
        bucket.pop(bisect.bisect_left(bucket, entry))
        if not bucket:
            del self._buckets[name]
        del self._configs[config_key(record)]

    def peak(self) -> Record:
        """The best record (lowest mean cost) of any layout.

        Raises
        ------
        NoRecordError
            When empty.
        """
        if not self._configs:
            raise NoRecordError(f"peak from an empty {type(self).__name__}")
        return min(bucket[0] for bucket in self._buckets.values())[2]

    def pop(self) -> Record:
        """Remove and return the worst record.

        Raises
        ------
        NoRecordError
            When empty.
        """
        if not self._configs:
            raise NoRecordError(f"pop from an empty {type(self).__name__}")
        worst = max(bucket[-1] for bucket in self._buckets.values())
        self._remove(worst)
        return worst[2]

    def to_list(self, nbest: int = -1) -> List[Record]:
        """Records of every layout best first, at most ``nbest`` of them (-1: all)."""
        nbest = check_int(nbest, "nbest", f"{type(self).__name__}.to_list", low=-1)
        entries = sorted(itertools.chain.from_iterable(self._buckets.values()))
        if nbest != -1:
            entries = entries[:nbest]
        return [e[2] for e in entries]

    def group_by_layout(self) -> Dict[str, Record]:
        """The best record of each layout."""
        best: Dict[str, _Entry] = {}
        for entry in self._configs.values():
            layout = entry[2].layout
            if layout not in best or entry < best[layout]:
                best[layout] = entry
        return {layout: best[layout][2] for layout in sorted(best)}

    def gen_task_item(self) -> Dict[str, Any]:
        """A plain, JSON-able dict of the whole task, its records included (best first),
        as a database stores one item per task."""
        any_record = next(iter(self._configs.values()))[2] if self._configs else None
        return {
            "target": self.target,
            "workload_key": self.workload_key,
            "task_name": any_record.task_name if any_record else None,
            "args": json.dumps(any_record.args) if any_record else None,
            "layouts": self.layouts,
            "n_records": len(self),
            "records": self.gen_record_items(),
        }

    @staticmethod
    def gen_record_item(record: Record) -> Dict[str, Any]:
        """A plain, JSON-able dict of one record, as appended to its task item."""
        return {
            "target": record.target,
            "workload_key": record.workload_key,
            "layout": record.layout,
            "task_name": record.task_name,
            "cost": record.mean_cost,
            "error_no": record.error_no,
            "timestamp": record.timestamp,
            "line": encode(record),
        }

    def gen_record_items(self, nbest: int = -1) -> List[Dict[str, Any]]:
        """:meth:`gen_record_item` of the best ``nbest`` records, best first."""
        return [self.gen_record_item(r) for r in self.to_list(nbest)]


def _workload_matches(workload: Any) -> Callable[[Record], bool]:
    """Which records ``workload`` selects: all for None; for a string, those of that
    workload key or task name; for a task (anything with ``workload_keys`` or
    ``workload_key``), those logged under one of its keys."""
    if workload is None:
        return lambda record: True
    if isinstance(workload, str):
        return lambda record: workload == record.workload_key or workload == record.task_name
    keys = getattr(workload, "workload_keys", None)
    if keys is None and isinstance(getattr(workload, "workload_key", None), str):
        keys = (workload.workload_key,)
    if keys is None:
        raise ArgumentTypeError(f"workload must be a workload key, a task name or a task, got "
                                f"{workload!r}")
    wanted = frozenset(keys)
    return lambda record: record.workload_key in wanted


def group_records(records: Iterable[Record], make: Callable[[str, str], TuneRecords],
                  workload: Any = None) -> Dict[Tuple[str, str], TuneRecords]:
    """Push the successful ``records`` (of ``workload`` only, when given: a workload
    key, a task name or a task) into one container per (target, workload key), made
    by ``make(target, workload_key)``."""
    wanted = _workload_matches(workload)
    groups: Dict[Tuple[str, str], TuneRecords] = {}
    for record in records:
        if not record.ok or not wanted(record):
            continue
        key = (record.target, record.workload_key)
        group = groups.get(key)
        if group is None:
            group = groups[key] = make(*key)
        group.push(record)
    return groups


def create_records_by_workloads(
    path: Union[str, os.PathLike, Iterable[Record]],
    nbest: int = 1,
    workload: Any = None,
    summary: Optional[ReadSummary] = None,
) -> Dict[Tuple[str, str], TuneRecords]:
    """Group a log by (target, workload) keeping the best ``nbest`` records per layout.

    Streams the log: memory is bounded by groups x layouts x ``nbest``.

    Parameters
    ----------
    path : str, path or iterable of Record
        A log file, directory or MetaSchedule database (see
        :func:`adatune.records.iter_records`), or records already read.
    nbest : int
        Records kept per (target, workload, layout); -1 keeps all.
    workload : str or Task, optional
        Keep only this workload: a workload key, a task name, or a task (any of its
        :attr:`~adatune.task.Task.workload_keys`).
    summary : ReadSummary, optional
        Receives the read counts.

    Returns
    -------
    dict
        ``{(target, workload_key): TuneRecords}``; failed records are skipped.
    """
    nbest = check_nbest(nbest, "create_records_by_workloads")
    if isinstance(path, (str, os.PathLike)):
        records: Iterable[Record] = iter_records(path, summary)
    else:
        records = path
    return group_records(records, lambda target, key: TuneRecords(target, key, nbest), workload)

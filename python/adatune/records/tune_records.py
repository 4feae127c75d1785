"""Best-N containers of records, one per (target, workload), and grouping a log into them."""
from __future__ import annotations

import bisect
import itertools
import json
import os
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from .reader import iter_records
from .record import Record, encode
from .summary import ReadSummary

__all__ = ["TuneRecords", "create_records_by_workloads", "config_key"]


_KEY_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str)


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
    workload_key : str
        :attr:`Record.workload_key` of the records.
    nbest : int
        How many records to keep per layout; -1 keeps all.

    Notes
    -----
    Only successful records are kept (``push`` returns False for failed ones).  A
    config measured twice is kept once, with its better cost.  Records are ordered by
    mean cost, ties by arrival order.
    """

    def __init__(self, target: str, workload_key: str, nbest: int = -1):
        if not isinstance(nbest, int) or (nbest < 1 and nbest != -1):
            raise ValueError(f"nbest must be a positive integer or -1, got {nbest!r}")
        self.target = target
        self.workload_key = workload_key
        self.nbest = nbest
        self._by_layout: Dict[str, List[Tuple[float, int, Record]]] = {}
        self._configs: Dict[tuple, Tuple[float, int, Record]] = {}
        self._seq = itertools.count()

    def __len__(self) -> int:
        return len(self._configs)

    def __iter__(self) -> Iterator[Record]:
        return iter(self.to_list())

    def __repr__(self) -> str:
        return (f"TuneRecords(target={self.target!r}, workload_key={self.workload_key!r}, "
                f"n={len(self)}, nbest={self.nbest})")

    @property
    def layouts(self) -> List[str]:
        return sorted(self._by_layout)

    def push(self, record: Record) -> bool:
        """Add a record; return True when it is kept.

        Raises
        ------
        ValueError
            If the record is of another target or workload.
        """
        if record.target != self.target or record.workload_key != self.workload_key:
            raise ValueError(
                f"record of ({record.target!r}, {record.workload_key!r}) pushed into "
                f"TuneRecords of ({self.target!r}, {self.workload_key!r})")
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
        bucket = self._by_layout.setdefault(record.layout, [])
        if self.nbest != -1 and len(bucket) >= self.nbest and entry >= bucket[-1]:
            return False
        bisect.insort(bucket, entry)
        self._configs[key] = entry
        if self.nbest != -1 and len(bucket) > self.nbest:
            self._remove(bucket[-1])
        return True

    def _remove(self, entry: Tuple[float, int, Record]) -> None:
        record = entry[2]
        bucket = self._by_layout[record.layout]
        bucket.pop(bisect.bisect_left(bucket, entry))
        if not bucket:
            del self._by_layout[record.layout]
        del self._configs[config_key(record)]

    def peak(self) -> Record:
        """The best record (lowest mean cost).  Raises IndexError when empty."""
        if not self._configs:
            raise IndexError("peak from an empty TuneRecords")
        return min(bucket[0] for bucket in self._by_layout.values())[2]

    def pop(self) -> Record:
        """Remove and return the worst record.  Raises IndexError when empty."""
        if not self._configs:
            raise IndexError("pop from an empty TuneRecords")
        worst = max(bucket[-1] for bucket in self._by_layout.values())
        self._remove(worst)
        return worst[2]

    def to_list(self, nbest: int = -1) -> List[Record]:
        """Records best first, at most ``nbest`` of them (-1: all)."""
        entries = sorted(itertools.chain.from_iterable(self._by_layout.values()))
        if nbest != -1:
            entries = entries[:max(nbest, 0)]
        return [e[2] for e in entries]

    def group_by_layout(self) -> Dict[str, Record]:
        """The best record of each layout."""
        return {layout: bucket[0][2] for layout, bucket in sorted(self._by_layout.items())}

    def gen_task_item(self) -> Dict[str, Any]:
        """Plain dict describing the task, as a store saves it."""
        any_record = next(iter(self._configs.values()))[2] if self._configs else None
        return {
            "target": self.target,
            "workload_key": self.workload_key,
            "task_name": any_record.task_name if any_record else None,
            "args": json.dumps(_plain(any_record.args)) if any_record else None,
            "layouts": self.layouts,
            "n_records": len(self),
        }

    def gen_record_item(self, record: Record) -> Dict[str, Any]:
        """Plain dict for one record, as a store saves it."""
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


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def create_records_by_workloads(
    path: Union[str, os.PathLike, Iterable[Record]],
    nbest: int = 1,
    workload: Optional[str] = None,
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
    workload : str, optional
        Keep only this workload (a workload key, or a task name).
    summary : ReadSummary, optional
        Receives the read counts.

    Returns
    -------
    dict
        ``{(target, workload_key): TuneRecords}``; failed records are skipped.
    """
    if isinstance(path, (str, os.PathLike)):
        records: Iterable[Record] = iter_records(path, summary)
    else:
        records = path
    groups: Dict[Tuple[str, str], TuneRecords] = {}
    for record in records:
        if not record.ok:
            continue
        key = record.workload_key
        if workload is not None and workload != key and workload != record.task_name:
            continue
        group = groups.get((record.target, key))
        if group is None:
            group = groups[(record.target, key)] = TuneRecords(record.target, key, nbest)
        group.push(record)
    return groups

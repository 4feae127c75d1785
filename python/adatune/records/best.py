"""The best valid record per workload, what ``apply_best`` looks configs up in."""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, Optional, Union

from .reader import iter_records
from .record import Record
from .summary import ReadSummary
from .target import target_matches

__all__ = ["load_best"]


def load_best(path_or_records: Union[str, os.PathLike, Iterable[Record]],
              target: Optional[Any] = None,
              summary: Optional[ReadSummary] = None) -> Dict[str, Record]:
    """Best successful record per workload key, streaming the log.

    Parameters
    ----------
    path_or_records : str, path or iterable of Record
        A log file, directory, MetaSchedule database, or records.
    target : str, dict or tvm Target, optional
        Keep only records of this target (see
        :func:`adatune.records.target.target_matches`: a bare kind such as ``"cuda"``
        matches every cuda target).
    summary : ReadSummary, optional
        Receives the read counts.

    Returns
    -------
    dict
        ``{workload_key: Record}``; ties keep the earlier record.
    """
    if isinstance(path_or_records, (str, os.PathLike)):
        records: Iterable[Record] = iter_records(path_or_records, summary)
    else:
        records = path_or_records
    best: Dict[str, Record] = {}
    for record in records:
        if not record.ok:
            continue
        if target is not None and not target_matches(record.target, target):
            continue
        key = record.workload_key
        old = best.get(key)
        if old is None or record.mean_cost < old.mean_cost:
            best[key] = record
    return best

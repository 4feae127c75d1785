"""Phase 1 of featurization: stream records into per-(target, task) row blocks.

Each record becomes a row of raw feature values (strings replaced by category codes as
they appear), buffered per group and flushed as float64 blocks to a temporary file per
group, while running sums give each numeric column's mean and variance.  Lines of a
format with a fast decode (AutoTVM) go through :mod:`._linepath` without building a
record; everything else through the record path here.  Runs in worker processes too.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..records import ReadError, ReadSummary, get_format
from ..records._gc import paused_gc
from ._linepath import featurize_lines
from .blocks import N_FIXED, append_block
from .coding import ColumnCoder, Schema
from .features import record_values
from .flops import estimate_flops

__all__ = ["Part", "Group", "collect", "init_worker", "FLOPS_CACHE_MAX"]

#: FLOPs are cached per workload; the cache is cleared past this many (many workloads).
FLOPS_CACHE_MAX = 100_000


@dataclass
class Part:
    """Phase-1 output of one group in one part of the input (picklable)."""

    target: str
    task_name: str
    tmp_path: Path
    names: List[str]
    cats: Dict[int, Dict[str, int]]
    cat_switch: Dict[int, int]
    sums: np.ndarray
    sqsums: np.ndarray
    counts: np.ndarray
    n_rows: int
    flops_missing: bool


class Group(ColumnCoder):
    """Phase-1 state of one (target, task) group: its columns, buffer and sums."""

    def __init__(self, target: str, task_name: str, tmp_path: Path):
        super().__init__()
        self.target = target
        self.task_name = task_name
        self.tmp_path = tmp_path
        self.sums = np.zeros(0)
        self.sqsums = np.zeros(0)
        self.counts = np.zeros(0, dtype=np.int64)
        self.buffer: List[List[Any]] = []
        self.n_rows = 0
        self.flops_missing = False
        self.args_cache: List[Any] = []  # see record_values

    def rows_seen(self) -> int:
        return self.n_rows + len(self.buffer)

    def add_row(self, schema: Schema, row: List[Any],
                cat: Optional[List[Tuple[int, int]]] = None) -> None:
        """Buffer ``row``: the fixed slots (label, FLOPs, error code), then the values
        of ``schema``'s features in its order.  ``cat`` lists the ``(row position,
        column)`` pairs still to code as categories (default: all of the schema's)."""
        if row[1] != row[1]:
            self.flops_missing = True
        self.code_row(row, [(pos + N_FIXED, col) for pos, col in schema.cat]
                      if cat is None else cat)
        if not schema.contiguous:
            out = [None] * (N_FIXED + len(self.names))
            out[0], out[1], out[2] = row[0], row[1], row[2]
            for pos, col in enumerate(schema.cols):
                out[col + N_FIXED] = row[pos + N_FIXED]
            row = out
        self.buffer.append(row)

    def flush(self) -> None:
        """Write the buffered rows as one block and add them to the running sums."""
        if not self.buffer:
            return
        width = N_FIXED + len(self.names)
        rows = self.buffer
        lengths = set(map(len, rows))
        if min(lengths) < width:
            for row in rows:
                if len(row) < width:
                    row.extend([None] * (width - len(row)))
            lengths = set(map(len, rows))
        try:
            if lengths == {width}:
                # the same per-value conversion as np.array (None -> NaN, numeric text
                # parsed, other text refused), without its shape discovery
                block = np.fromiter(chain.from_iterable(rows), np.float64,
                                    len(rows) * width).reshape(len(rows), width)
            else:
                block = np.array(rows, dtype=np.float64)
        except (TypeError, ValueError):
            try:
                block = np.array(rows, dtype=np.float64)
            except (TypeError, ValueError):
                self.late_categoricals(rows, self.n_rows)
                block = np.array(rows, dtype=np.float64)
        feats = block[:, N_FIXED:]
        n_feat = feats.shape[1]
        if len(self.sums) < n_feat:
            grow = n_feat - len(self.sums)
            self.sums = np.concatenate([self.sums, np.zeros(grow)])
            self.sqsums = np.concatenate([self.sqsums, np.zeros(grow)])
            self.counts = np.concatenate([self.counts, np.zeros(grow, dtype=np.int64)])
        finite = np.isfinite(feats)
        clean = np.where(finite, feats, 0.0)
        self.sums += clean.sum(axis=0)
        self.sqsums += (clean * clean).sum(axis=0)
        self.counts += finite.sum(axis=0)
        append_block(self.tmp_path, block)
        self.n_rows += len(rows)
        self.buffer = []

    def state(self) -> Part:
        """The picklable result of phase 1 for this group (after a final flush)."""
        self.flush()
        return Part(self.target, self.task_name, self.tmp_path, list(self.names),
                    dict(self.cats), dict(self.cat_switch), self.sums, self.sqsums,
                    self.counts, self.n_rows, self.flops_missing)


# A worker process's shared progress counter (set by init_worker).
_progress_counter = None


def init_worker(counter) -> None:
    """Worker initializer: report bytes read to the parent's shared ``counter``."""
    global _progress_counter
    _progress_counter = counter


def _report_bytes(n: int) -> None:
    with _progress_counter.get_lock():
        _progress_counter.value += n


def collect(units, work_dir: str, buffer_rows: int, on_bytes=None
            ) -> Tuple[List[Part], ReadSummary, List[Tuple[int, ReadError]]]:
    """Featurize input parts ``(format name, path, start, end)`` into temporary files
    under ``work_dir``.

    Returns the parts of every group, the read summary (without its errors) and the
    errors tagged with the index of their unit (so that the caller can make the line
    numbers of byte ranges absolute).
    """
    if on_bytes is None and _progress_counter is not None:
        on_bytes = _report_bytes
    work = Path(work_dir)
    groups: Dict[Tuple[str, str], Group] = {}
    summary = ReadSummary(max_errors=100)
    unit_errors: List[Tuple[int, ReadError]] = []
    with paused_gc():
        _collect_units(units, work, buffer_rows, on_bytes, groups, summary, unit_errors)
    return [g.state() for g in groups.values()], summary, unit_errors


def _collect_units(units, work: Path, buffer_rows: int, on_bytes, groups, summary,
                   unit_errors) -> None:
    flops_cache: Dict[tuple, Optional[float]] = {}

    def get_group(target: str, task_name: str) -> Group:
        group = groups.get((target, task_name))
        if group is None:
            group = groups[(target, task_name)] = Group(target, task_name,
                                                       work / f"g{len(groups)}.bin")
        return group

    def add_record(record) -> None:
        group = get_group(record.target, record.task_name)
        key, values = record_values(record, group.args_cache)
        schema = group.schema(key, record)
        # FLOPs depend on the workload: within one task and feature layout the
        # flattened arguments identify it (cheaper than encoding the arguments).
        fkey = (record.task_name, key, tuple(values[:schema.n_in]))
        flops = flops_cache.get(fkey, flops_cache)
        if flops is flops_cache:
            if len(flops_cache) > FLOPS_CACHE_MAX:
                flops_cache.clear()
            flops = flops_cache[fkey] = estimate_flops(record.task_name, record.args)
        if record.error_no == 0:
            cost = record.mean_cost
            inv = 1.0 / cost if 0 < cost < math.inf else 0.0
        else:
            inv = 0.0
        row = [inv, math.nan if flops is None else flops, record.error_no]
        row += values
        group.add_row(schema, row)
        if len(group.buffer) >= buffer_rows:
            group.flush()

    for u, (name, file, start, end) in enumerate(units):
        fmt = get_format(name)
        unit_summary = ReadSummary(max_errors=100)
        unit_summary.files = 1 if start == 0 else 0
        if fmt.decode_plain is not None:
            featurize_lines(fmt, fmt.iter_lines(file, unit_summary, on_bytes, start, end),
                            file, unit_summary, get_group, add_record, flops_cache,
                            FLOPS_CACHE_MAX, buffer_rows)
        else:
            for record in fmt.iter_records(file, unit_summary, on_bytes, start, end):
                add_record(record)
        unit_errors.extend((u, e) for e in unit_summary.errors)
        unit_summary.errors = []
        summary.merge(unit_summary)

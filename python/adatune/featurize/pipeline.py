"""Two-phase, streaming featurization of tuning logs into per-(target, task) tables.

Phase 1 streams the records once: each record becomes a row of raw feature values
(strings replaced by category codes as they appear), buffered per (target, task)
group and flushed as binary float64 blocks to a temporary file per group, while
running sums give each numeric column's mean and variance.  With ``n_jobs > 1`` the
input is cut into parts (files, and byte ranges of large files) read by worker
processes, each with its own groups; their columns, category maps and sums are
merged afterwards.

Phase 2 reads each group's blocks back, normalises numeric columns
(``(x - mean) / std``, std 0 taken as 1), and writes ``OUT/<target>/<task>.csv`` and
``<task>.meta.json`` (column names, means, stds, category maps and label kind: what
:class:`FeatureEncoder` needs to featurize new records the same way).  With workers,
each part's rows are formatted in parallel and the pieces concatenated in input order.

Memory holds, per group, the column index, the category maps, the running sums and
one buffer of at most ``buffer_rows`` rows: it grows with the number of groups and
columns, never with the length of the log.  The directory of a target is unique to
its full target string (see :func:`adatune.records.target_dirname`), so tables of
different targets never overwrite each other.
"""
from __future__ import annotations

import json
import logging
import math
import multiprocessing
import os
import shutil
import tempfile
import time
from itertools import chain
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import numpy as np

from ..records._gc import paused_gc
from ..records.metaschedule import iter_metaschedule_db
from ..records.reader import iter_log_lines, log_files
from ..records.summary import ReadError, ReadSummary
from ..records.target import target_dirname
from .features import LABEL_GFLOPS, LABEL_INV_COST, record_features, record_values
from ._linepath import featurize_lines
from .flops import estimate_flops

__all__ = ["featurize_log", "FeaturizeResult", "META_VERSION"]

logger = logging.getLogger(__name__)

META_VERSION = 1

# Fixed leading slots of every buffered row: the 1/cost label, the workload's FLOPs
# (NaN when unknown) and the error code.  Features follow.
_N_FIXED = 3
_HEADER = np.dtype("<i8")
_FLOPS_CACHE_MAX = 100_000
# Parallel reads cut files into ranges of about this size; smaller inputs stay serial.
_RANGE_BYTES = 16 << 20
_FLOAT_FORMAT = "%.7g"


@dataclass
class FeaturizeResult:
    """What :func:`featurize_log` wrote.

    Attributes
    ----------
    tables : dict
        ``{(target, task_name): csv_path}``.
    n_records : int
        Rows written over all tables.
    summary : ReadSummary
        The read's accounting (malformed lines etc.).
    """

    tables: Dict[Tuple[str, str], Path] = field(default_factory=dict)
    n_records: int = 0
    summary: ReadSummary = field(default_factory=ReadSummary)


@dataclass
class _Part:
    """Phase-1 output of one group in one part of the input."""

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


class _Schema:
    """Where the values of records of one feature-name layout go."""

    __slots__ = ("cols", "contiguous", "cat", "n_in")

    def __init__(self, cols: List[int]):
        self.cols = cols
        # Values land at the leading columns in order: the row is one list concatenation.
        self.contiguous = cols == list(range(len(cols)))
        self.cat: List[Tuple[int, int]] = []
        self.n_in = 0


class _Group:
    """Phase-1 state of one (target, task) group."""

    def __init__(self, target: str, task_name: str, tmp_path: Path):
        self.target = target
        self.task_name = task_name
        self.tmp_path = tmp_path
        self.columns: Dict[str, int] = {}
        self.names: List[str] = []
        self.schemas: Dict[tuple, _Schema] = {}
        # column index -> {value text: code}; present only for categorical columns
        self.cats: Dict[int, Dict[str, int]] = {}
        # column index -> first row stored as a category code (earlier rows hold numbers)
        self.cat_switch: Dict[int, int] = {}
        self.sums = np.zeros(0)
        self.sqsums = np.zeros(0)
        self.counts = np.zeros(0, dtype=np.int64)
        self.buffer: List[List[Any]] = []
        self.n_rows = 0
        self.flops_missing = False
        self.args_cache: List[Any] = []  # see record_values
        self.cat_version = 0

    # -- phase 1 -------------------------------------------------------------
    def _schema(self, key: tuple, names: List[str], values: List[Any]) -> _Schema:
        cols = []
        for name in names:
            idx = self.columns.get(name)
            if idx is None:
                idx = self.columns[name] = len(self.names)
                self.names.append(name)
            cols.append(idx)
        schema = _Schema(cols)
        schema.n_in = sum(1 for name in names if name.startswith("in_"))
        for pos, value in enumerate(values):
            if type(value) is str and cols[pos] not in self.cats:
                self._make_categorical(cols[pos], self.n_rows + len(self.buffer))
        schema.cat = [(p, c) for p, c in enumerate(cols) if c in self.cats]
        self.schemas[key] = schema
        return schema

    def _make_categorical(self, col: int, first_row: int) -> None:
        self.cat_version += 1  # cached encodings (see encode_values) are stale
        self.cats[col] = {}
        self.cat_switch[col] = first_row
        for schema in self.schemas.values():
            schema.cat = [(p, c) for p, c in enumerate(schema.cols) if c in self.cats]

    def schema(self, key: tuple, record) -> _Schema:
        schema = self.schemas.get(key)
        if schema is None:
            feats = record_features(record)
            schema = self._schema(key, [n for n, _ in feats], [v for _, v in feats])
        return schema

    def add_row(self, schema: _Schema, row: List[Any],
                cat: Optional[List[Tuple[int, int]]] = None) -> None:
        """Buffer ``row``: the fixed slots (label, FLOPs, error code), then the values
        of ``schema``'s features in its order.  ``cat`` lists the ``(row position,
        column)`` pairs still to encode as categories (default: all of the schema's)."""
        if row[1] != row[1]:
            self.flops_missing = True
        if cat is None:
            cat = [(pos + _N_FIXED, col) for pos, col in schema.cat]
        cats = self.cats
        for pos, col in cat:
            v = row[pos]
            if v is None:
                continue
            cmap = cats[col]
            text = v if type(v) is str else repr(v)
            code = cmap.get(text)
            if code is None:
                code = cmap[text] = len(cmap)
            row[pos] = code
        if not schema.contiguous:
            out = [None] * (_N_FIXED + len(self.names))
            out[0], out[1], out[2] = row[0], row[1], row[2]
            for pos, col in enumerate(schema.cols):
                out[col + _N_FIXED] = row[pos + _N_FIXED]
            row = out
        self.buffer.append(row)

    def encode_values(self, values: List[Any], cols: List[int]) -> List[Any]:
        """``values`` (of columns ``cols``) with categorical ones turned into codes, as
        :meth:`add_row` would encode them in a row added now."""
        out = list(values)
        cats = self.cats
        for pos, col in enumerate(cols):
            cmap = cats.get(col)
            v = out[pos]
            if cmap is None or v is None:
                continue
            text = v if type(v) is str else repr(v)
            code = cmap.get(text)
            if code is None:
                code = cmap[text] = len(cmap)
            out[pos] = code
        return out

    def _late_categoricals(self, rows: List[List[Any]]) -> None:
        """Columns that got a string where numbers were seen: make them categorical.

        Their values in ``rows`` from the first string on are raw (the rows were built
        while the column was numeric) and become codes here; earlier rows keep numbers,
        which phase 2 maps to codes of their text.
        """
        new = []
        for r, row in enumerate(rows):
            for c in range(_N_FIXED, len(row)):
                if type(row[c]) is str and (c - _N_FIXED) not in self.cats:
                    self._make_categorical(c - _N_FIXED, self.n_rows + r)
                    new.append(c - _N_FIXED)
        for col in new:
            cmap = self.cats[col]
            c = col + _N_FIXED
            for row in rows[self.cat_switch[col] - self.n_rows:]:
                v = row[c]
                if v is not None:
                    text = v if type(v) is str else repr(v)
                    code = cmap.get(text)
                    if code is None:
                        code = cmap[text] = len(cmap)
                    row[c] = code

    def flush(self) -> None:
        if not self.buffer:
            return
        width = _N_FIXED + len(self.names)
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
                self._late_categoricals(rows)
                block = np.array(rows, dtype=np.float64)
        feats = block[:, _N_FIXED:]
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
        with open(self.tmp_path, "ab") as f:
            f.write(np.asarray(block.shape, dtype=_HEADER).tobytes())
            f.write(block.tobytes())
        self.n_rows += len(rows)
        self.buffer = []

    def state(self) -> "_Part":
        """The picklable result of phase 1 for this group (after a final flush)."""
        self.flush()
        return _Part(self.target, self.task_name, self.tmp_path, list(self.names),
                     dict(self.cats), dict(self.cat_switch), self.sums, self.sqsums,
                     self.counts, self.n_rows, self.flops_missing)


def _iter_blocks(path: Path) -> Iterator[np.ndarray]:
    if not path.exists():
        return
    with open(path, "rb") as f:
        while True:
            head = f.read(16)
            if not head:
                return
            n_rows, width = np.frombuffer(head, dtype=_HEADER)
            data = np.frombuffer(f.read(int(n_rows) * int(width) * 8), dtype=np.float64)
            yield data.reshape(int(n_rows), int(width))


# ----------------------------------------------------------------------------- phase 1

def _units(path: Union[str, os.PathLike], n_jobs: int) -> List[Tuple[str, Path, int, Any]]:
    """Input parts: ``(kind, path, start, end)``; large plain files cut in byte ranges."""
    units = []
    for kind, file in log_files(path):
        if kind == "autotvm" and file.suffix != ".gz" and n_jobs > 1:
            size = file.stat().st_size
            n = max(1, min(4 * n_jobs, size // _RANGE_BYTES))
            bounds = [size * i // n for i in range(n)] + [size]
            units.extend(("autotvm", file, a, b) for a, b in zip(bounds, bounds[1:]))
        else:
            units.append((kind, file, 0, None))
    return units


def _unit_bytes(unit) -> int:
    kind, file, start, end = unit
    if kind == "ms":
        folder = file if file.is_dir() else file.parent
        return sum(p.stat().st_size for p in folder.glob("database_*.json"))
    if end is not None:
        return end - start
    return file.stat().st_size


_progress_counter = None


def _init_worker(counter) -> None:
    global _progress_counter
    _progress_counter = counter


def _report_bytes(n: int) -> None:
    with _progress_counter.get_lock():
        _progress_counter.value += n


def _phase1(units, work_dir: str, buffer_rows: int, on_bytes=None
            ) -> Tuple[List[_Part], ReadSummary, List[Tuple[int, ReadError]]]:
    """Featurize some input parts into temporary files; also used in workers."""
    if on_bytes is None and _progress_counter is not None:
        on_bytes = _report_bytes
    work = Path(work_dir)
    groups: Dict[Tuple[str, str], _Group] = {}
    summary = ReadSummary(max_errors=100)
    unit_errors: List[Tuple[int, ReadError]] = []
    with paused_gc():
        _phase1_units(units, work, buffer_rows, on_bytes, groups, summary, unit_errors)
    return [g.state() for g in groups.values()], summary, unit_errors


def _phase1_units(units, work: Path, buffer_rows: int, on_bytes, groups, summary,
                  unit_errors) -> None:
    flops_cache: Dict[tuple, Optional[float]] = {}

    def get_group(target: str, task_name: str) -> _Group:
        group = groups.get((target, task_name))
        if group is None:
            group = groups[(target, task_name)] = _Group(target, task_name,
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
            if len(flops_cache) > _FLOPS_CACHE_MAX:
                flops_cache.clear()  # bounded memory for logs of many workloads
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

    for u, unit in enumerate(units):
        kind, file, start, end = unit
        unit_summary = ReadSummary(max_errors=100)
        unit_summary.files = 1 if start == 0 else 0
        if kind == "ms":
            for record in iter_metaschedule_db(file, unit_summary, on_bytes):
                add_record(record)
        else:
            featurize_lines(iter_log_lines(file, unit_summary, on_bytes, start, end), file,
                            unit_summary, get_group, add_record, flops_cache,
                            _FLOPS_CACHE_MAX, buffer_rows)
        # errors keep their unit so the caller can make range line numbers absolute
        unit_errors.extend((u, e) for e in unit_summary.errors)
        unit_summary.errors = []
        summary.merge(unit_summary)


# ----------------------------------------------------------------------------- merging

@dataclass
class _Table:
    """One output table: the merged columns, categories and statistics of its parts."""

    target: str
    task_name: str
    names: List[str] = field(default_factory=list)
    cats: Dict[int, Dict[str, int]] = field(default_factory=dict)
    parts: List[Tuple[_Part, np.ndarray, Dict[int, np.ndarray]]] = field(default_factory=list)
    sums: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sqsums: np.ndarray = field(default_factory=lambda: np.zeros(0))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    n_rows: int = 0
    flops_missing: bool = False


def _merge(parts: List[_Part]) -> Dict[Tuple[str, str], _Table]:
    tables: Dict[Tuple[str, str], _Table] = {}
    index: Dict[Tuple[str, str], Dict[str, int]] = {}
    for part in parts:
        key = (part.target, part.task_name)
        table = tables.get(key)
        if table is None:
            table = tables[key] = _Table(part.target, part.task_name)
            index[key] = {}
        columns = index[key]
        col_map = np.empty(len(part.names), dtype=np.int64)
        for i, name in enumerate(part.names):
            j = columns.get(name)
            if j is None:
                j = columns[name] = len(table.names)
                table.names.append(name)
            col_map[i] = j
        # category codes of this part -> merged codes, in order of first appearance
        luts: Dict[int, np.ndarray] = {}
        for i, cmap in part.cats.items():
            merged = table.cats.setdefault(int(col_map[i]), {})
            lut = np.empty(len(cmap), dtype=np.float64)
            for text, code in sorted(cmap.items(), key=lambda kv: kv[1]):
                lut[code] = merged.setdefault(text, len(merged))
            luts[i] = lut
        width = len(table.names)
        for name in ("sums", "sqsums", "counts"):
            arr = getattr(table, name)
            if len(arr) < width:
                arr = np.concatenate([arr, np.zeros(width - len(arr), dtype=arr.dtype)])
            src = getattr(part, name)
            np.add.at(arr, col_map[:len(src)], src[:len(col_map)])
            setattr(table, name, arr)
        table.parts.append((part, col_map, luts))
        table.n_rows += part.n_rows
        table.flops_missing |= part.flops_missing
    return tables


# ----------------------------------------------------------------------------- phase 2

def _statistics(table: _Table) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_feat = len(table.names)
    means, stds = np.zeros(n_feat), np.ones(n_feat)
    is_cat = np.zeros(n_feat, dtype=bool)
    for idx in table.cats:
        is_cat[idx] = True
    for idx in range(n_feat):
        if is_cat[idx] or table.counts[idx] == 0:
            continue
        n = table.counts[idx]
        mean = table.sums[idx] / n
        std = math.sqrt(max(table.sqsums[idx] / n - mean * mean, 0.0))
        # Variance from running sums loses digits when |mean| >> std: treat a spread
        # below float noise as none (std 0 -> 1).
        if std <= 1e-9 * max(1.0, abs(mean)):
            std = 1.0
        means[idx], stds[idx] = mean, std
    return means, stds, is_cat


def _code_numbers(column: np.ndarray, cmap: Dict[str, int]) -> None:
    """Numbers stored before a column turned categorical -> codes of their text."""
    for r in range(len(column)):
        v = column[r]
        if v == v:
            text = repr(int(v)) if float(v).is_integer() else repr(float(v))
            code = cmap.get(text)
            if code is None:
                code = cmap[text] = len(cmap)
            column[r] = code


def _precode(table: _Table) -> None:
    """Give codes to the numbers stored before their column turned categorical.

    Done once here, before formatting (possibly in workers), so that every part
    agrees on the codes.
    """
    for part, col_map, _ in table.parts:
        part_cat = {int(col_map[i]): i for i in part.cats}
        todo = []
        for col in table.cats:
            i = part_cat.get(col)
            if i is None:
                if col in col_map:
                    todo.append((col, int(np.flatnonzero(col_map == col)[0]), None))
            elif part.cat_switch[i] > 0:
                todo.append((col, i, part.cat_switch[i]))
        if not todo:
            continue
        row_start = 0
        for block in _iter_blocks(part.tmp_path):
            n_rows, bw = block.shape
            for col, i, switch in todo:
                if _N_FIXED + i >= bw:
                    continue
                stop = n_rows if switch is None else min(max(switch - row_start, 0), n_rows)
                if stop > 0:
                    _code_numbers(block[:stop, _N_FIXED + i].copy(), table.cats[col])
            row_start += n_rows


def _distinct(values: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each value's index among them (``np.unique`` with
    ``return_inverse``, without its overhead, which dominated on 4096-row blocks)."""
    first = values[0]
    if (values == first).all():
        return values[:1], np.zeros(len(values), dtype=np.intp)
    ordered = np.sort(values)
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    uniq = ordered[keep]
    return uniq, np.searchsorted(uniq, values)


def _csv_rows(table: np.ndarray, formats: List[str]) -> str:
    """CSV lines of ``table``, cell ``j`` of each row written as ``formats[j] % value``.

    Feature columns hold few distinct values (knob settings, workload arguments), so
    each column's distinct values are formatted once, and runs of adjacent columns
    whose value combinations are few (at most one per row by construction) are
    joined once per distinct combination; rows are then joined from these pieces.
    Distinct means distinct bits, so ``-0.0`` and ``0.0`` keep their own text.  The
    text is exactly that of formatting every row with the joined format.
    """
    n_rows = table.shape[0]
    if n_rows == 0:
        return ""
    columns = np.ascontiguousarray(table.T)
    bits = columns.view(np.int64)
    cap = max(n_rows, 64)
    pieces: List[List[str]] = []
    run: List[Tuple[np.ndarray, np.ndarray]] = []  # (inverse, texts) of the open run
    run_size = 1

    def close_run() -> None:
        if not run:
            return
        if len(run) == 1:
            inverse, texts = run[0]
            pieces.append(texts[inverse].tolist())
        else:
            code = np.zeros(n_rows, dtype=np.int64)
            for inverse, texts in run:
                code = code * len(texts) + inverse
            combos, inverse = _distinct(code)
            cells = []
            for inv_j, texts in reversed(run):
                cells.append(texts[combos % len(texts)].tolist())
                combos = combos // len(texts)
            cells.reverse()
            joined = np.array([",".join(c) for c in zip(*cells)], dtype=object)
            pieces.append(joined[inverse].tolist())
        run.clear()

    for j, fmt in enumerate(formats):
        uniq, inverse = _distinct(bits[j])
        if 2 * len(uniq) > n_rows:  # mostly distinct (the label): format them all
            close_run()
            run_size = 1
            pieces.append([fmt % v for v in columns[j].tolist()])
            continue
        if run_size * len(uniq) > cap:
            close_run()
            run_size = 1
        texts = np.array([fmt % v for v in uniq.view(np.float64).tolist()], dtype=object)
        run.append((inverse, texts))
        run_size *= len(uniq)
    close_run()
    return "".join([",".join(cells) + "\n" for cells in zip(*pieces)])


def _format_part(job) -> str:
    """Write one part's rows of a table, normalised, as CSV text to ``job['out']``.

    The category maps must already hold every value (see :func:`_precode`).
    """
    part, col_map, luts = job["part"], job["col_map"], job["luts"]
    means, stds, is_cat = job["means"], job["stds"], job["is_cat"]
    cats = job["cats"]
    n_feat = len(is_cat)
    num_cols = np.flatnonzero(~is_cat)
    cat_cols = np.flatnonzero(is_cat)
    cell = ["%d" if c else _FLOAT_FORMAT for c in is_cat.tolist()]
    formats = cell + [_FLOAT_FORMAT, "%d"]
    part_cat = {int(col_map[i]): i for i in part.cats}
    row_start = 0
    with open(job["out"], job.get("mode", "w"), encoding="utf-8", newline="") as out:
        for block in _iter_blocks(part.tmp_path):
            n_rows, bw = block.shape
            table = np.full((n_rows, n_feat + 2), np.nan)
            table[:, col_map[:bw - _N_FIXED]] = block[:, _N_FIXED:]
            for col in cat_cols.tolist():
                i = part_cat.get(col)
                column = table[:, col]
                if i is None:
                    stop = n_rows  # numeric in this part: every value is a number
                else:
                    stop = min(max(part.cat_switch[i] - row_start, 0), n_rows)
                    coded = column[stop:]
                    ok = ~np.isnan(coded)
                    coded[ok] = luts[i][coded[ok].astype(np.int64)]
                if stop > 0:
                    _code_numbers(column[:stop], cats[col])
            num = (table[:, num_cols] - means[num_cols]) / stds[num_cols]
            num[~np.isfinite(num)] = 0.0  # missing numeric -> the mean
            table[:, num_cols] = num
            cat = table[:, cat_cols]
            cat[np.isnan(cat)] = -1.0  # missing category
            table[:, cat_cols] = cat
            if job["label_kind"] == LABEL_GFLOPS:
                table[:, n_feat] = block[:, 1] * block[:, 0] / 1e9
            else:
                table[:, n_feat] = block[:, 0]
            table[:, n_feat + 1] = block[:, 2]
            out.write(_csv_rows(table, formats))
            row_start += n_rows
    return job["out"]


def _write_meta(table: _Table, means, stds, is_cat, label_kind: str, path: Path) -> None:
    num_cols = np.flatnonzero(~is_cat).tolist()
    cat_cols = np.flatnonzero(is_cat).tolist()
    meta = {
        "meta_version": META_VERSION,
        "target": table.target,
        "task_name": table.task_name,
        "n_rows": table.n_rows,
        "columns": table.names,
        "numeric": {table.names[i]: {"mean": float(means[i]), "std": float(stds[i])}
                    for i in num_cols},
        "categorical": {table.names[i]: table.cats[i] for i in cat_cols},
        "label": label_kind,
        "label_doc": ("GFLOPS = FLOPs / mean cost / 1e9" if label_kind == LABEL_GFLOPS
                      else "1 / mean cost in seconds") + "; 0 for failed records",
        "missing": {"numeric": 0.0, "categorical": -1},
        "float_format": _FLOAT_FORMAT,
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)


def _table_files(tables: Dict[Tuple[str, str], _Table], out_dir: Path
                 ) -> Dict[Tuple[str, str], Tuple[Path, str]]:
    used: Dict[Path, set] = {}
    files = {}
    for (target, task_name) in tables:
        target_dir = out_dir / target_dirname(target)
        target_dir.mkdir(parents=True, exist_ok=True)
        names = used.setdefault(target_dir, set())
        task_file = target_dirname(task_name)
        if task_file in names:  # two task names that sanitise alike
            task_file = f"{task_file}-{len(names)}"
        names.add(task_file)
        files[(target, task_name)] = (target_dir, task_file)
    return files


def _phase2(tables: Dict[Tuple[str, str], _Table], out_dir: Path, work: Path,
            pool: Optional[ProcessPoolExecutor], result: FeaturizeResult) -> None:
    files = _table_files(tables, out_dir)
    jobs = []
    plans = {}
    for key, table in tables.items():
        _precode(table)
        means, stds, is_cat = _statistics(table)
        label_kind = LABEL_GFLOPS if table.n_rows and not table.flops_missing \
            else LABEL_INV_COST
        plans[key] = (means, stds, is_cat, label_kind)
        for p, (part, col_map, luts) in enumerate(table.parts):
            jobs.append((key, {"part": part, "col_map": col_map, "luts": luts,
                               "means": means, "stds": stds, "is_cat": is_cat,
                               "cats": table.cats, "label_kind": label_kind,
                               "out": str(work / f"t{len(jobs)}.csv")}))
    if pool is not None:
        outputs = list(pool.map(_format_part, [job for _, job in jobs]))
    else:
        outputs = [_format_part(job) for _, job in jobs]
    pieces: Dict[Tuple[str, str], List[str]] = {}
    for (key, _), piece in zip(jobs, outputs):
        pieces.setdefault(key, []).append(piece)
    for key, table in tables.items():
        target_dir, task_file = files[key]
        csv_path = target_dir / f"{task_file}.csv"
        with open(csv_path, "wb") as out:
            out.write((",".join(table.names + ["label", "error_no"]) + "\n").encode())
            for piece in pieces.get(key, []):
                with open(piece, "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        means, stds, is_cat, label_kind = plans[key]
        _write_meta(table, means, stds, is_cat, label_kind,
                    target_dir / f"{task_file}.meta.json")
        result.tables[key] = csv_path
        result.n_records += table.n_rows


# ----------------------------------------------------------------------------- driver

def _count_lines_before(path: Path, start: int) -> int:
    """Lines before the first line a range read starting at byte ``start`` reads."""
    with open(path, "rb") as f:
        f.seek(start - 1)
        first = start - 1 + len(f.readline())  # as iter_log_range skips ahead
        f.seek(0)
        n, remaining = 0, first
        while remaining > 0:
            chunk = f.read(min(remaining, 1 << 24))
            if not chunk:
                break
            n += chunk.count(b"\n")
            remaining -= len(chunk)
    return n


def featurize_log(path: Union[str, os.PathLike], out_dir: Union[str, os.PathLike],
                  progress: bool = False, buffer_rows: int = 4096, n_jobs: int = 1,
                  tmp_dir: Optional[Union[str, os.PathLike]] = None) -> FeaturizeResult:
    """Featurize a log (file, directory or MetaSchedule database) into per-task tables.

    Parameters
    ----------
    path : str or path
        What to read (see :func:`adatune.records.iter_records`).
    out_dir : str or path
        Receives ``<target>/<task>.csv`` and ``<target>/<task>.meta.json``.
    progress : bool
        Show a progress bar over the bytes read (tqdm, on stderr).
    buffer_rows : int
        Rows buffered per group before a flush to its temporary file.
    n_jobs : int
        Worker processes (-1: one per CPU).  Inputs under 16 MiB are read serially.
    tmp_dir : str or path, optional
        Where the temporary files go (default: a fresh folder in the system's).

    Returns
    -------
    FeaturizeResult
        The tables written, their row count and the read summary.  Any ``n_jobs``
        gives the same tables (up to rounding in the summed statistics).
    """
    if not isinstance(buffer_rows, int) or buffer_rows < 1:
        raise ValueError(f"buffer_rows must be a positive integer, got {buffer_rows!r}")
    if not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer or -1, got {n_jobs!r}")
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    out_dir = Path(out_dir)
    units = _units(path, n_jobs)  # raises FileNotFoundError for a bad path
    sizes = [_unit_bytes(u) for u in units]
    total = None if any(u[1].suffix == ".gz" for u in units) else sum(sizes)
    if len(units) < 2 or sum(sizes) < _RANGE_BYTES:
        n_jobs = 1
    result = FeaturizeResult()
    work = Path(tempfile.mkdtemp(prefix="adatune-featurize-", dir=tmp_dir))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                   desc="featurize", dynamic_ncols=True)
    try:
        if n_jobs == 1:
            parts, summary, errors = _phase1(units, str(work), buffer_rows,
                                             bar.update if bar is not None else None)
            results = [(parts, summary, errors, list(range(len(units))))]
            pool = None
            tables = _merge(parts)
            if bar is not None:
                bar.close()
                bar = None
            _phase2(tables, out_dir, work, None, result)
        else:
            ctx = multiprocessing.get_context("spawn")
            counter = ctx.Value("q", 0)
            with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx,
                                     initializer=_init_worker,
                                     initargs=(counter,)) as pool:
                # contiguous runs of parts per worker keep each group's rows in order
                chunks = _split(list(range(len(units))), sizes, n_jobs)
                futures = []
                for w, idx in enumerate(chunks):
                    wdir = work / f"w{w}"
                    wdir.mkdir()
                    futures.append(pool.submit(_phase1, [units[i] for i in idx], str(wdir),
                                               buffer_rows))
                while bar is not None and not all(f.done() for f in futures):
                    time.sleep(0.2)
                    bar.update(counter.value - bar.n)
                results = [(*f.result(), idx) for f, idx in zip(futures, chunks)]
                if bar is not None:
                    bar.update(counter.value - bar.n)
                    bar.close()
                    bar = None
                parts = [p for r in results for p in r[0]]
                tables = _merge(parts)
                _phase2(tables, out_dir, work, pool, result)
        for parts, summary, errors, idx in results:
            result.summary.merge(_with_absolute_lines(summary, errors, idx, units))
    finally:
        if bar is not None:
            bar.close()
        shutil.rmtree(work, ignore_errors=True)
    logger.info("featurized %d record(s) into %d table(s)", result.n_records,
                len(result.tables))
    return result


def _split(indices: List[int], sizes: List[int], n: int) -> List[List[int]]:
    """Cut ``indices`` into at most ``n`` contiguous runs of about equal total size."""
    total = sum(sizes) or 1
    runs: List[List[int]] = [[]]
    acc = 0
    for i in indices:
        if runs[-1] and acc >= total * len(runs) / n and len(runs) < n:
            runs.append([])
        runs[-1].append(i)
        acc += sizes[i]
    return [r for r in runs if r]


def _with_absolute_lines(summary: ReadSummary, errors, idx: List[int], units) -> ReadSummary:
    summary.errors = []
    offsets: Dict[int, int] = {}
    for u, err in errors:
        kind, file, start, _ = units[idx[u]]
        if start:
            if u not in offsets:
                offsets[u] = _count_lines_before(file, start)
            err = ReadError(err.path, err.line + offsets[u], err.reason, err.message)
        if len(summary.errors) < summary.max_errors:
            summary.errors.append(err)
    return summary

"""Two-phase, streaming featurization of tuning logs into per-(target, task) tables.

Phase 1 streams the records once: each record becomes a row of raw feature values
(strings replaced by category codes as they appear), buffered per (target, task)
group and flushed as binary float64 blocks to one temporary file per group, while
running sums give each numeric column's mean and variance.

Phase 2 reads each group's blocks back, normalises numeric columns
(``(x - mean) / std``, std 0 taken as 1), and writes ``OUT/<target>/<task>.csv`` and
``<task>.meta.json`` (column names, means, stds, category maps and label kind: what
:class:`FeatureEncoder` needs to featurize new records the same way).

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
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

from ..records.reader import iter_records, log_files
from ..records.summary import ReadSummary
from ..records.target import target_dirname
from .features import LABEL_GFLOPS, LABEL_INV_COST, record_features, record_values
from .flops import estimate_flops

__all__ = ["featurize_log", "FeaturizeResult", "META_VERSION"]

logger = logging.getLogger(__name__)

META_VERSION = 1

# Fixed leading slots of every buffered row: the 1/cost label, the workload's FLOPs
# (NaN when unknown) and the error code.  Features follow.
_N_FIXED = 3
_HEADER = np.dtype("<i8")
_FLOPS_CACHE_MAX = 100_000


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

    # -- phase 1 -------------------------------------------------------------
    def _schema(self, key: tuple, record) -> _Schema:
        feats = record_features(record)
        cols = []
        for name, _ in feats:
            idx = self.columns.get(name)
            if idx is None:
                idx = self.columns[name] = len(self.names)
                self.names.append(name)
            cols.append(idx)
        schema = _Schema(cols)
        schema.n_in = sum(1 for name, _ in feats if name.startswith("in_"))
        for pos, (_, value) in enumerate(feats):
            if type(value) is str and cols[pos] not in self.cats:
                self._make_categorical(cols[pos], self.n_rows + len(self.buffer))
        schema.cat = [(p, c) for p, c in enumerate(cols) if c in self.cats]
        self.schemas[key] = schema
        return schema

    def _make_categorical(self, col: int, first_row: int) -> None:
        self.cats[col] = {}
        self.cat_switch[col] = first_row
        for schema in self.schemas.values():
            schema.cat = [(p, c) for p, c in enumerate(schema.cols) if c in self.cats]

    def schema(self, key: tuple, record) -> _Schema:
        schema = self.schemas.get(key)
        if schema is None:
            schema = self._schema(key, record)
        return schema

    def add(self, record, schema: _Schema, values: List[Any], label_inv: float,
            flops: float) -> None:
        cats = self.cats
        for pos, col in schema.cat:
            v = values[pos]
            if v is None:
                continue
            cmap = cats[col]
            text = v if type(v) is str else repr(v)
            code = cmap.get(text)
            if code is None:
                code = cmap[text] = len(cmap)
            values[pos] = code
        if schema.contiguous:
            row = [label_inv, flops, record.error_no]
            row += values
        else:
            row = [None] * (_N_FIXED + len(self.names))
            row[0], row[1], row[2] = label_inv, flops, record.error_no
            for pos, col in enumerate(schema.cols):
                row[col + _N_FIXED] = values[pos]
        self.buffer.append(row)

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
        for row in rows:
            if len(row) < width:
                row.extend([None] * (width - len(row)))
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


def _iter_blocks(path: Path):
    with open(path, "rb") as f:
        while True:
            head = f.read(16)
            if not head:
                return
            n_rows, width = np.frombuffer(head, dtype=_HEADER)
            data = np.frombuffer(f.read(int(n_rows) * int(width) * 8), dtype=np.float64)
            yield data.reshape(int(n_rows), int(width))


def _write_group(group: _Group, out_dir: Path, task_file: str) -> Path:
    """Phase 2 for one group: normalise, write the CSV and its metadata."""
    n_feat = len(group.names)
    means = np.zeros(n_feat)
    stds = np.ones(n_feat)
    is_cat = np.zeros(n_feat, dtype=bool)
    for idx in group.cats:
        is_cat[idx] = True
    for idx in range(n_feat):
        if is_cat[idx] or group.counts[idx] == 0:
            continue
        n = group.counts[idx]
        mean = group.sums[idx] / n
        std = math.sqrt(max(group.sqsums[idx] / n - mean * mean, 0.0))
        # Variance from running sums loses digits when |mean| >> std: treat a spread
        # below float noise as none (std 0 -> 1).
        if std <= 1e-9 * max(1.0, abs(mean)):
            std = 1.0
        means[idx], stds[idx] = mean, std
    num_cols = np.flatnonzero(~is_cat)
    cat_cols = np.flatnonzero(is_cat)

    # Label kind: GFLOPS only when every row's workload has known FLOPs.
    all_flops = group.n_rows > 0
    for block in _iter_blocks(group.tmp_path):
        if np.isnan(block[:, 1]).any():
            all_flops = False
            break
    label_kind = LABEL_GFLOPS if all_flops else LABEL_INV_COST

    cell = ["%d" if c else "%.7g" for c in is_cat.tolist()]
    fmt = ",".join(cell + ["%.7g", "%d"]) + "\n"
    csv_path = out_dir / f"{task_file}.csv"
    header = group.names + ["label", "error_no"]
    row_start = 0
    with open(csv_path, "w", encoding="utf-8", newline="") as out:
        out.write(",".join(header) + "\n")
        for block in _iter_blocks(group.tmp_path):
            n_rows, bw = block.shape
            table = np.full((n_rows, n_feat + 2), np.nan)
            table[:, :bw - _N_FIXED] = block[:, _N_FIXED:]
            # Columns that turned categorical after numbers were stored: map those
            # numbers to codes of their text now.
            for idx in cat_cols.tolist():
                stop = min(group.cat_switch[idx] - row_start, n_rows)
                if stop > 0:
                    cmap = group.cats[idx]
                    col = table[:stop, idx]
                    for r in range(stop):
                        v = col[r]
                        if v == v:
                            text = repr(int(v)) if v.is_integer() else repr(float(v))
                            col[r] = cmap.setdefault(text, len(cmap))
            num = (table[:, num_cols] - means[num_cols]) / stds[num_cols]
            num[~np.isfinite(num)] = 0.0  # missing numeric -> the mean
            table[:, num_cols] = num
            cat = table[:, cat_cols]
            cat[np.isnan(cat)] = -1.0  # missing category
            table[:, cat_cols] = cat
            if label_kind == LABEL_GFLOPS:
                table[:, n_feat] = block[:, 1] * block[:, 0] / 1e9
            else:
                table[:, n_feat] = block[:, 0]
            table[:, n_feat + 1] = block[:, 2]
            out.write("".join([fmt % row for row in map(tuple, table.tolist())]))
            row_start += n_rows

    meta = {
        "meta_version": META_VERSION,
        "target": group.target,
        "task_name": group.task_name,
        "n_rows": group.n_rows,
        "columns": group.names,
        "numeric": {group.names[i]: {"mean": float(means[i]), "std": float(stds[i])}
                    for i in num_cols.tolist()},
        "categorical": {group.names[i]: group.cats[i] for i in cat_cols.tolist()},
        "label": label_kind,
        "label_doc": ("GFLOPS = FLOPs / mean cost / 1e9" if label_kind == LABEL_GFLOPS
                      else "1 / mean cost in seconds") + "; 0 for failed records",
        "missing": {"numeric": 0.0, "categorical": -1},
        "float_format": "%.7g",
    }
    meta_path = out_dir / f"{task_file}.meta.json"
    with open(meta_path, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)
    return csv_path


def _total_bytes(path: Union[str, os.PathLike]) -> Optional[int]:
    total = 0
    for kind, file in log_files(path):
        if kind == "ms":
            folder = file if file.is_dir() else file.parent
            total += sum(p.stat().st_size for p in folder.glob("database_*.json"))
        elif file.suffix == ".gz":
            return None  # decompressed size unknown up front
        else:
            total += file.stat().st_size
    return total


def featurize_log(path: Union[str, os.PathLike], out_dir: Union[str, os.PathLike],
                  progress: bool = False, buffer_rows: int = 4096,
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
    tmp_dir : str or path, optional
        Where the temporary files go (default: a fresh folder in the system's).

    Returns
    -------
    FeaturizeResult
    """
    if not isinstance(buffer_rows, int) or buffer_rows < 1:
        raise ValueError(f"buffer_rows must be a positive integer, got {buffer_rows!r}")
    out_dir = Path(out_dir)
    total = _total_bytes(path)  # also raises FileNotFoundError for a bad path
    result = FeaturizeResult()
    work = Path(tempfile.mkdtemp(prefix="adatune-featurize-", dir=tmp_dir))
    bar = None
    on_bytes = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                   desc="featurize", dynamic_ncols=True)
        on_bytes = bar.update
    try:
        groups: Dict[Tuple[str, str], _Group] = {}
        flops_cache: Dict[str, Optional[float]] = {}
        for record in iter_records(path, result.summary, on_bytes):
            key = (record.target, record.task_name)
            group = groups.get(key)
            if group is None:
                group = groups[key] = _Group(record.target, record.task_name,
                                             work / f"g{len(groups)}.bin")
            key, values = record_values(record)
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
            group.add(record, schema, values, inv, math.nan if flops is None else flops)
            if len(group.buffer) >= buffer_rows:
                group.flush()
        if bar is not None:
            bar.close()
            bar = None
        _write_tables(groups, out_dir, result)
    finally:
        if bar is not None:
            bar.close()
        shutil.rmtree(work, ignore_errors=True)
    logger.info("featurized %d record(s) into %d table(s)", result.n_records,
                len(result.tables))
    return result


def _write_tables(groups: Dict[Tuple[str, str], _Group], out_dir: Path,
                  result: FeaturizeResult) -> None:
    used: Dict[Path, set] = {}
    for (target, task_name), group in groups.items():
        group.flush()
        target_dir = out_dir / target_dirname(target)
        target_dir.mkdir(parents=True, exist_ok=True)
        names = used.setdefault(target_dir, set())
        task_file = target_dirname(task_name)
        if task_file in names:  # two task names that sanitise alike
            task_file = f"{task_file}-{len(names)}"
        names.add(task_file)
        result.tables[(target, task_name)] = _write_group(group, target_dir, task_file)
        result.n_records += group.n_rows

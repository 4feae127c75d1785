"""Featurizing tuning logs into per-(target, task) tables: the driver.

:func:`featurize_log` cuts the input into parts (files, and byte ranges of large
files when there are workers), collects each part's rows into temporary blocks
(:mod:`.collect`), merges the parts of each table (:mod:`.merge`), and normalises and
writes the tables (:mod:`.write`); columns and category codes are :mod:`.coding`'s.

Memory holds, per group, the column index, the category maps, the running sums and
one buffer of at most ``buffer_rows`` rows: it grows with the number of groups and
columns, never with the length of the log.  The directory of a target is unique to
its full target string (see :func:`adatune.records.target_dirname`), so tables of
different targets never overwrite each other.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from .._checks import check_int, check_positive_int
from ..errors import ArgumentError
from ..records import ReadError, ReadSummary, get_format, log_units
from .collect import collect, init_worker
from .merge import merge
from .write import META_VERSION, write_tables

__all__ = ["featurize_log", "FeaturizeResult", "META_VERSION"]

logger = logging.getLogger(__name__)

# Parallel reads cut files into ranges of about this size; smaller inputs stay serial.
_RANGE_BYTES = 16 << 20


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


def _units(path: Union[str, os.PathLike], n_jobs: int) -> List[Tuple[str, Path, int, Any]]:
    """Input parts ``(format name, path, start, end)``; with workers, large uncompressed
    files of a splittable format are cut in byte ranges of about ``_RANGE_BYTES``."""
    units = []
    for fmt, file in log_units(path):
        if fmt.splittable and file.suffix != ".gz" and n_jobs > 1:
            size = file.stat().st_size
            n = max(1, min(4 * n_jobs, size // _RANGE_BYTES))
            bounds = [size * i // n for i in range(n)] + [size]
            units.extend((fmt.name, file, a, b) for a, b in zip(bounds, bounds[1:]))
        else:
            units.append((fmt.name, file, 0, None))
    return units


def _unit_bytes(unit) -> int:
    name, file, start, end = unit
    if end is not None:
        return end - start
    return get_format(name).n_bytes(file)


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
    """Featurize a log (file, directory, MetaSchedule database, Kernel Tuner cache) into
    per-task tables.

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
    buffer_rows = check_positive_int(buffer_rows, "buffer_rows", "featurize_log")
    n_jobs = check_int(n_jobs, "n_jobs", "featurize_log", low=-1)
    if n_jobs == 0:
        raise ArgumentError("featurize_log: n_jobs must be a positive int or -1 (one per CPU), "
                            "got 0")
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    out_dir = Path(out_dir)
    units = _units(path, n_jobs)  # raises FileNotFoundError for a bad path
    sizes = [_unit_bytes(u) for u in units]
    total = None if any(Path(u[1]).suffix == ".gz" for u in units) else sum(sizes)
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
            parts, summary, errors = collect(units, str(work), buffer_rows,
                                             bar.update if bar is not None else None)
            results = [(parts, summary, errors, list(range(len(units))))]
            tables = merge(parts)
            if bar is not None:
                bar.close()
                bar = None
            result.tables.update(write_tables(tables, out_dir, work))
            result.n_records = sum(t.n_rows for t in tables.values())
        else:
            ctx = multiprocessing.get_context("spawn")
            counter = ctx.Value("q", 0)
            with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx,
                                     initializer=init_worker,
                                     initargs=(counter,)) as pool:
                # contiguous runs of parts per worker keep each group's rows in order
                chunks = _split(list(range(len(units))), sizes, n_jobs)
                futures = []
                for w, idx in enumerate(chunks):
                    wdir = work / f"w{w}"
                    wdir.mkdir()
                    futures.append(pool.submit(collect, [units[i] for i in idx], str(wdir),
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
                tables = merge(parts)
                result.tables.update(write_tables(tables, out_dir, work, pool))
                result.n_records = sum(t.n_rows for t in tables.values())
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

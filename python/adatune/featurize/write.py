"""Phase 2 of featurization: normalise each table and write its CSV and meta.json.

Each part's blocks are read back, numeric columns standardised (``(x - mean) / std``,
missing -> 0), categorical ones mapped to the merged codes (missing -> -1), the label
turned into GFLOPS when every FLOP count is known, and the rows formatted as CSV;
with workers, parts are formatted in parallel and the pieces joined in input order.
"""
from __future__ import annotations

import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from ..records import target_dirname
from .blocks import N_FIXED, iter_blocks
from .coding import code_numbers, precode, statistics
from .features import LABEL_GFLOPS, LABEL_INV_COST
from .merge import Table

__all__ = ["write_tables", "META_VERSION", "FLOAT_FORMAT"]

#: Version of the meta.json layout.
META_VERSION = 1
#: How feature values and labels are written.
FLOAT_FORMAT = "%.7g"


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
    cell = ["%d" if c else FLOAT_FORMAT for c in is_cat.tolist()]
    formats = cell + [FLOAT_FORMAT, "%d"]
    part_cat = {int(col_map[i]): i for i in part.cats}
    row_start = 0
    with open(job["out"], job.get("mode", "w"), encoding="utf-8", newline="") as out:
        for block in iter_blocks(part.tmp_path):
            n_rows, bw = block.shape
            table = np.full((n_rows, n_feat + 2), np.nan)
            table[:, col_map[:bw - N_FIXED]] = block[:, N_FIXED:]
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
                    code_numbers(column[:stop], cats[col])
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


def _write_meta(table: Table, means, stds, is_cat, label_kind: str, path: Path) -> None:
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
        "float_format": FLOAT_FORMAT,
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=1)


def _table_files(tables: Dict[Tuple[str, str], Table], out_dir: Path
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


def write_tables(tables: Dict[Tuple[str, str], Table], out_dir: Path, work: Path,
                 pool: Optional[ProcessPoolExecutor] = None) -> Dict[Tuple[str, str], Path]:
    """Write ``OUT/<target>/<task>.csv`` and ``.meta.json`` of every merged table.

    ``work`` holds the formatted pieces; ``pool`` formats parts in parallel.  Returns
    ``{(target, task_name): csv path}``.
    """
    files = _table_files(tables, out_dir)
    written: Dict[Tuple[str, str], Path] = {}
    jobs = []
    plans = {}
    for key, table in tables.items():
        precode(table)
        means, stds, is_cat = statistics(table)
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
        written[key] = csv_path
    return written

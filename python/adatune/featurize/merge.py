"""Merging the phase-1 parts of each table: one column index, one set of category codes.

Parts come from different workers (or byte ranges) and number their columns and
codes in their own order of first appearance; the merged table takes columns and codes
in part order, and keeps per part the map from its columns (``col_map``) and codes
(``luts``) to the merged ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np

from .collect import Part

__all__ = ["Table", "merge"]


@dataclass
class Table:
    """One output table: the merged columns, categories and statistics of its parts."""

    target: str
    task_name: str
    names: List[str] = field(default_factory=list)
    cats: Dict[int, Dict[str, int]] = field(default_factory=dict)
    parts: List[Tuple[Part, np.ndarray, Dict[int, np.ndarray]]] = field(default_factory=list)
    sums: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sqsums: np.ndarray = field(default_factory=lambda: np.zeros(0))
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    n_rows: int = 0
    flops_missing: bool = False


def merge(parts: List[Part]) -> Dict[Tuple[str, str], Table]:
    tables: Dict[Tuple[str, str], Table] = {}
    index: Dict[Tuple[str, str], Dict[str, int]] = {}
    for part in parts:
        key = (part.target, part.task_name)
        table = tables.get(key)
        if table is None:
            table = tables[key] = Table(part.target, part.task_name)
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

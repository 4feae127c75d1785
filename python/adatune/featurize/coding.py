"""Column coding: which column each feature goes to, category codes, column statistics.

String values are categorical: each distinct text gets a code in order of first
appearance (numbers in a categorical column are coded by their ``repr``).  A column
that held numbers before its first string turns categorical at that row
(``cat_switch``): rows before it keep their numbers, which :func:`precode` codes once
all parts are merged.  Numeric columns are standardised with the mean and standard
deviation :func:`statistics` derives from the running sums.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Tuple

import numpy as np

from .blocks import N_FIXED, iter_blocks
from .features import record_features

__all__ = ["Schema", "ColumnCoder", "code_of", "code_numbers", "precode", "statistics"]


def code_of(cmap: Dict[str, int], value: Any) -> int:
    """The code of ``value`` (its text; ``repr`` for a non-string) in ``cmap``, given on
    first sight."""
    text = value if type(value) is str else repr(value)
    code = cmap.get(text)
    if code is None:
        code = cmap[text] = len(cmap)
    return code


class Schema:
    """Where the values of records of one feature-name layout go.

    Attributes
    ----------
    cols : list of int
        The column of each value.
    contiguous : bool
        The values land at the leading columns in order (a row is one concatenation).
    cat : list of (int, int)
        ``(value position, column)`` of the categorical columns.
    n_in : int
        How many of the names are workload inputs (``in_<i>``).
    """

    __slots__ = ("cols", "contiguous", "cat", "n_in")

    def __init__(self, cols: List[int]):
        self.cols = cols
        self.contiguous = cols == list(range(len(cols)))
        self.cat: List[Tuple[int, int]] = []
        self.n_in = 0


class ColumnCoder:
    """The columns of one table as its rows arrive: names, schemas and category maps.

    Attributes
    ----------
    names : list of str
        Column names in column order.
    cats : dict
        ``{column: {value text: code}}`` for the categorical columns only.
    cat_switch : dict
        ``{column: first row stored as a code}`` (earlier rows hold numbers).
    cat_version : int
        Bumped whenever a column turns categorical (cached codings are then stale).
    """

    def __init__(self) -> None:
        self.columns: Dict[str, int] = {}
        self.names: List[str] = []
        self.schemas: Dict[tuple, Schema] = {}
        self.cats: Dict[int, Dict[str, int]] = {}
        self.cat_switch: Dict[int, int] = {}
        self.cat_version = 0

    def rows_seen(self) -> int:
        """Rows taken so far (the row a column turning categorical now switches at)."""
        raise NotImplementedError

    def schema_for(self, key: tuple, names: List[str], values: List[Any]) -> Schema:
        """The schema of feature names ``names`` (new columns appended), registered
        under ``key``; ``values`` are one record's, whose strings make their columns
        categorical."""
        cols = []
        for name in names:
            idx = self.columns.get(name)
            if idx is None:
                idx = self.columns[name] = len(self.names)
                self.names.append(name)
            cols.append(idx)
        schema = Schema(cols)
        schema.n_in = sum(1 for name in names if name.startswith("in_"))
        for pos, value in enumerate(values):
            if type(value) is str and cols[pos] not in self.cats:
                self.make_categorical(cols[pos], self.rows_seen())
        schema.cat = [(p, c) for p, c in enumerate(cols) if c in self.cats]
        self.schemas[key] = schema
        return schema

    def schema(self, key: tuple, record) -> Schema:
        """The schema registered under ``key``, made from ``record``'s features if new."""
        schema = self.schemas.get(key)
        if schema is None:
            feats = record_features(record)
            schema = self.schema_for(key, [n for n, _ in feats], [v for _, v in feats])
        return schema

    def make_categorical(self, col: int, first_row: int) -> None:
        """Column ``col`` holds codes from row ``first_row`` on."""
        self.cat_version += 1
        self.cats[col] = {}
        self.cat_switch[col] = first_row
        for schema in self.schemas.values():
            schema.cat = [(p, c) for p, c in enumerate(schema.cols) if c in self.cats]

    def code_row(self, row: List[Any], cat: List[Tuple[int, int]]) -> None:
        """Replace, in place, the values at the ``(row position, column)`` pairs of
        ``cat`` by their codes (None stays missing)."""
        cats = self.cats
        for pos, col in cat:
            v = row[pos]
            if v is not None:
                row[pos] = code_of(cats[col], v)

    def encode_values(self, values: List[Any], cols: List[int]) -> List[Any]:
        """``values`` (of columns ``cols``) with categorical ones turned into codes, as
        :meth:`code_row` would code them in a row taken now."""
        out = list(values)
        cats = self.cats
        for pos, col in enumerate(cols):
            cmap = cats.get(col)
            v = out[pos]
            if cmap is not None and v is not None:
                out[pos] = code_of(cmap, v)
        return out

    def late_categoricals(self, rows: List[List[Any]], first_row: int) -> None:
        """Columns that got a string where numbers were seen: make them categorical.

        ``rows`` are buffered rows (fixed slots first), ``rows[0]`` being row
        ``first_row`` of the table.  Their values from the first string on are raw (the
        rows were built while the column was numeric) and become codes here; earlier
        rows keep numbers, which :func:`precode` codes at the end.
        """
        new = []
        for r, row in enumerate(rows):
            for c in range(N_FIXED, len(row)):
                if type(row[c]) is str and (c - N_FIXED) not in self.cats:
                    self.make_categorical(c - N_FIXED, first_row + r)
                    new.append(c - N_FIXED)
        for col in new:
            cmap = self.cats[col]
            c = col + N_FIXED
            for row in rows[self.cat_switch[col] - first_row:]:
                v = row[c]
                if v is not None:
                    row[c] = code_of(cmap, v)


def code_numbers(column: np.ndarray, cmap: Dict[str, int]) -> None:
    """Numbers stored before a column turned categorical -> codes of their text, in
    place (integral values as ints, so ``16.0`` codes as ``"16"``)."""
    for r in range(len(column)):
        v = column[r]
        if v == v:
            column[r] = code_of(cmap, int(v) if float(v).is_integer() else float(v))


def precode(table) -> None:
    """Give codes to the numbers a merged table's parts stored before their column
    turned categorical.

    Done once, before formatting (possibly in workers), so that every part agrees on
    the codes.
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
        for block in iter_blocks(part.tmp_path):
            n_rows, bw = block.shape
            for col, i, switch in todo:
                if N_FIXED + i >= bw:
                    continue
                stop = n_rows if switch is None else min(max(switch - row_start, 0), n_rows)
                if stop > 0:
                    code_numbers(block[:stop, N_FIXED + i].copy(), table.cats[col])
            row_start += n_rows


def statistics(table) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(means, stds, is_categorical)`` per column of a merged table.

    Categorical and empty columns get mean 0 and std 1; a spread below float noise
    counts as none (std 1), since the variance from running sums loses digits when
    ``|mean| >> std``.
    """
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
        if std <= 1e-9 * max(1.0, abs(mean)):
            std = 1.0
        means[idx], stds[idx] = mean, std
    return means, stds, is_cat

"""Featurize new records exactly as a table written by ``adatune featurize`` was."""
from __future__ import annotations

import json
import os
from typing import Dict, Iterable, List, Union

import numpy as np

from ..errors import ArgumentError
from ..records import Record
from .features import record_features

__all__ = ["FeatureEncoder"]


class FeatureEncoder:
    """Turns records into the normalised feature rows of one ``<task>.csv``.

    Parameters
    ----------
    columns : list of str
        Feature columns, in table order (``label`` and ``error_no`` excluded).
    numeric : dict
        ``{column: {"mean": m, "std": s}}``.
    categorical : dict
        ``{column: {value: code}}``; unseen values and missing categories encode as -1.
    """

    def __init__(self, columns: List[str], numeric: Dict[str, Dict[str, float]],
                 categorical: Dict[str, Dict[str, int]]):
        unknown = [c for c in columns if c not in numeric and c not in categorical]
        if unknown:
            raise ArgumentError(f"FeatureEncoder: columns {unknown} are neither numeric nor "
                                "categorical")
        self.columns = list(columns)
        self.numeric = numeric
        self.categorical = categorical
        self._index = {c: i for i, c in enumerate(self.columns)}

    @classmethod
    def from_meta(cls, path: Union[str, os.PathLike]) -> "FeatureEncoder":
        """Load the ``<task>.meta.json`` written next to a table."""
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
        for key in ("columns", "numeric", "categorical"):
            if key not in meta:
                raise ArgumentError(f"{path}: not a featurize meta file (no {key!r})")
        return cls(meta["columns"], meta["numeric"], meta["categorical"])

    def transform(self, records: Iterable[Record]) -> np.ndarray:
        """``(n_records, n_columns)`` array of normalised features."""
        rows = []
        for record in records:
            row = np.zeros(len(self.columns))
            for name in self.categorical:
                row[self._index[name]] = -1.0
            for name, value in record_features(record):
                i = self._index.get(name)
                if i is None:
                    continue  # a feature the table never had
                cmap = self.categorical.get(name)
                if cmap is not None:
                    key = value if isinstance(value, str) else repr(value)
                    row[i] = float(cmap.get(key, -1))
                else:
                    stats = self.numeric[name]
                    try:
                        row[i] = (float(value) - stats["mean"]) / stats["std"]
                    except (TypeError, ValueError):
                        row[i] = 0.0
            rows.append(row)
        return np.asarray(rows).reshape(len(rows), len(self.columns))

"""The temporary files between the featurizer's phases: float64 row blocks.

A buffered row is :data:`N_FIXED` fixed slots (the ``1 / cost`` label, the workload's
FLOPs or NaN when unknown, the error code) followed by the feature values in column
order.  Phase 1 appends blocks of rows to one file per group; phases 2 and the column
coding read them back block by block.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

__all__ = ["N_FIXED", "append_block", "iter_blocks"]

#: Fixed leading slots of every row: label (1 / cost), FLOPs (NaN when unknown), error code.
N_FIXED = 3
_HEADER = np.dtype("<i8")


def append_block(path: Path, block: np.ndarray) -> None:
    """Append a 2-D float64 block (its shape first) to ``path``."""
    with open(path, "ab") as f:
        f.write(np.asarray(block.shape, dtype=_HEADER).tobytes())
        f.write(block.tobytes())


def iter_blocks(path: Path) -> Iterator[np.ndarray]:
    """The blocks of ``path`` in the order written (nothing when it does not exist)."""
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

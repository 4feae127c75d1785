"""Batched matmul template: ``C[b] = A[b] @ B[b]^T`` (TOPI's ``batch_matmul``).

``A: [batch, M, K]``, ``B: [batch, N, K]``, ``C: [batch, M, N]``; the packed GEMM
schedule of :mod:`adatune.templates._gemm` per batch, batches run in parallel with
the outer tiles.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
from tvm import s_tir, te

from .builtins import builtin
from . import _gemm
from . import _schedule as _s
from .dense import _acc_dtype


def _batch_matmul_ref(args: Sequence, inputs: List[np.ndarray]) -> List[np.ndarray]:
    a, b = inputs
    acc = _acc_dtype(str(a.dtype))
    return [np.matmul(a.astype(acc), b.astype(acc).transpose(0, 2, 1)).astype(a.dtype)]


@builtin("batch_matmul", reference=_batch_matmul_ref)
def batch_matmul(cfg, batch: int, M: int, N: int, K: int, dtype: str = "float32"):
    """``C[b, m, n] = sum_k A[b, m, k] * B[b, n, k]``."""
    _s.check_dims("batch_matmul", batch=batch, M=M, N=N, K=K)
    _gemm.declare_knobs(cfg, M, N, K)
    cfg.add_flop(2.0 * batch * M * N * K)
    bn = _gemm.panel_width(cfg)
    A = te.placeholder((batch, M, K), dtype, name="A")
    B = te.placeholder((batch, N, K), dtype, name="B")
    packed = te.compute((batch, N // bn, K, bn),
                        lambda b, no, k, ni: B[b, no * bn + ni, k], name="B_pack")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((batch, M, N),
                   lambda b, m, n: te.sum(A[b, m, k] * packed[b, n // bn, k, n % bn], axis=k),
                   name="C")
    sch = s_tir.Schedule(te.create_prim_func([A, B, C]))
    _gemm.schedule(sch, cfg, "C", pack_block="B_pack", n_batch=1)
    return sch.mod["main"]

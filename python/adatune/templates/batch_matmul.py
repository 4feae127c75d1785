"""Batched matmul template: ``C[b] = A[b] @ B[b]^T`` (TOPI's ``batch_matmul``) or
``A[b] @ B[b]`` with ``transpose_b=False`` (Relax's ``matmul`` of 3-D tensors).

``A: [batch, M, K]``, ``B: [batch, N, K]`` (or ``[batch, K, N]``), ``C: [batch, M, N]``;
the packed GEMM schedule of :mod:`adatune.templates._gemm` per batch, batches run in
parallel with the outer tiles.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
from tvm import s_tir, te

from ..errors import ArgumentTypeError
from .builtins import builtin
from . import _gemm
from . import _schedule as _s
from .dense import _acc_dtype


def _batch_matmul_ref(args: Sequence, inputs: List[np.ndarray]) -> List[np.ndarray]:
    a, b = inputs
    acc = _acc_dtype(str(a.dtype))
    transpose_b = args[5] if len(args) > 5 else True
    b = b.astype(acc)
    return [np.matmul(a.astype(acc), b.transpose(0, 2, 1) if transpose_b else b).astype(a.dtype)]


@builtin("batch_matmul", reference=_batch_matmul_ref)
def batch_matmul(cfg, batch: int, M: int, N: int, K: int, dtype: str = "float32", transpose_b: bool = True):
    """``C[b, m, n] = sum_k A[b, m, k] * B[b, n, k]`` (``B[b, k, n]`` without ``transpose_b``)."""
    _s.check_dims("batch_matmul", batch=batch, M=M, N=N, K=K)
    if not isinstance(transpose_b, bool):
        raise ArgumentTypeError(f"batch_matmul: transpose_b must be a bool, got {transpose_b!r}")
    _gemm.declare_knobs(cfg, M, N, K)
    cfg.add_flop(2.0 * batch * M * N * K)
    A = te.placeholder((batch, M, K), dtype, name="A")
    B = te.placeholder((batch, N, K) if transpose_b else (batch, K, N), dtype, name="B")
    k = te.reduce_axis((0, K), name="k")
    if transpose_b:
        C = te.compute((batch, M, N), lambda b, m, n: te.sum(A[b, m, k] * B[b, n, k], axis=k), name="C")
    else:
        C = te.compute((batch, M, N), lambda b, m, n: te.sum(A[b, m, k] * B[b, k, n], axis=k), name="C")
    sch = s_tir.Schedule(te.create_prim_func([A, B, C]))
    _gemm.schedule(sch, cfg, "C", b_read=1, b_layout="nk" if transpose_b else "kn", n_batch=1)
    return sch.mod["main"]

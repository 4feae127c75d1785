"""Dense and matmul templates (packed GEMM, see :mod:`adatune.templates._gemm`).

* ``dense(M, N, K, dtype)``: ``C[M, N] = A[M, K] @ B[N, K]^T`` (AutoTVM/TOPI's
  ``dense``: the weight is stored output-major).
* ``matmul(M, N, K, dtype)``: ``C[M, N] = A[M, K] @ B[K, N]``; its extra knob
  ``pack_b`` chooses between repacking B into panels and reading it in place.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
from tvm import s_tir, te

from .builtins import builtin
from . import _gemm
from . import _schedule as _s


def _acc_dtype(dtype: str) -> str:
    return "float32" if dtype in ("float16", "bfloat16") else dtype


def _dense_ref(args: Sequence, inputs: List[np.ndarray]) -> List[np.ndarray]:
    a, b = inputs
    dtype = a.dtype
    return [(a.astype(_acc_dtype(str(dtype))) @ b.astype(_acc_dtype(str(dtype))).T).astype(dtype)]


def _matmul_ref(args: Sequence, inputs: List[np.ndarray]) -> List[np.ndarray]:
    a, b = inputs
    dtype = a.dtype
    return [(a.astype(_acc_dtype(str(dtype))) @ b.astype(_acc_dtype(str(dtype)))).astype(dtype)]


@builtin("dense", reference=_dense_ref)
def dense(cfg, M: int, N: int, K: int, dtype: str = "float32"):
    """``C = A @ B^T`` with ``A: [M, K]``, ``B: [N, K]``."""
    _s.check_dims("dense", M=M, N=N, K=K)
    _gemm.declare_knobs(cfg, M, N, K)
    cfg.add_flop(2.0 * M * N * K)
    A = te.placeholder((M, K), dtype, name="A")
    B = te.placeholder((N, K), dtype, name="B")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda m, n: te.sum(A[m, k] * B[n, k], axis=k), name="C")
    sch = s_tir.Schedule(te.create_prim_func([A, B, C]))
    _gemm.schedule(sch, cfg, "C", b_read=1, b_layout="nk")
    return sch.mod["main"]


@builtin("matmul", reference=_matmul_ref)
def matmul(cfg, M: int, N: int, K: int, dtype: str = "float32"):
    """``C = A @ B`` with ``A: [M, K]``, ``B: [K, N]``."""
    _s.check_dims("matmul", M=M, N=N, K=K)
    _gemm.declare_knobs(cfg, M, N, K)
    cfg.define_knob("pack_b", [True, False])
    cfg.add_flop(2.0 * M * N * K)
    A = te.placeholder((M, K), dtype, name="A")
    B = te.placeholder((K, N), dtype, name="B")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda m, n: te.sum(A[m, k] * B[k, n], axis=k), name="C")
    sch = s_tir.Schedule(te.create_prim_func([A, B, C]))
    _gemm.schedule(sch, cfg, "C", b_read=1 if cfg["pack_b"].val else None, b_layout="kn")
    return sch.mod["main"]

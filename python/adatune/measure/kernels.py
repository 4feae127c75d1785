"""A suite of real CPU kernels whose run times span microseconds to tens of milliseconds.

Used by the evaluator demo and ``bench/evaluator.py``: matmuls, conv2d and element-wise
kernels, each in a few schedules, so that both fast and slow kernels and good and bad
schedules of one operator are present.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np


@dataclass(frozen=True)
class KernelSpec:
    """A named kernel: how to build its schedule and its argument shapes."""

    name: str
    build: Callable[[], object]  # -> scheduled IRModule
    shapes: Tuple[Tuple[int, ...], ...]  # every argument, outputs last


def _matmul(n: int, tile: Optional[int], vectorize: bool, parallel: bool):
    import tvm
    from tvm import te

    def build():
        a = te.placeholder((n, n), name="A")
        b = te.placeholder((n, n), name="B")
        k = te.reduce_axis((0, n), name="k")
        c = te.compute((n, n), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="C")
        sch = tvm.s_tir.Schedule(te.create_prim_func([a, b, c]))
        blk = sch.get_sblock("C")
        i, j, kk = sch.get_loops(blk)
        if tile:
            io, ii = sch.split(i, [None, tile])
            jo, ji = sch.split(j, [None, tile])
            sch.reorder(io, jo, kk, ii, ji)
            if parallel:
                sch.parallel(io)
            if vectorize:
                sch.vectorize(ji)
        return sch.mod

    return build


def _elementwise(n: int, parallel: bool):
    import tvm
    from tvm import te

    def build():
        a = te.placeholder((n,), name="A")
        b = te.placeholder((n,), name="B")
        c = te.compute((n,), lambda i: a[i] * b[i] + a[i], name="C")
        sch = tvm.s_tir.Schedule(te.create_prim_func([a, b, c]))
        (i,) = sch.get_loops(sch.get_sblock("C"))
        io, ii = sch.split(i, [None, 64])
        if parallel:
            sch.parallel(io)
        sch.vectorize(ii)
        return sch.mod

    return build


def _conv2d(c_in: int, hw: int, c_out: int, ksize: int, tile_oc: Optional[int]):
    import tvm
    from tvm import te

    def build():
        data = te.placeholder((1, c_in, hw + ksize - 1, hw + ksize - 1), name="data")
        weight = te.placeholder((c_out, c_in, ksize, ksize), name="weight")
        rc = te.reduce_axis((0, c_in), name="rc")
        ry = te.reduce_axis((0, ksize), name="ry")
        rx = te.reduce_axis((0, ksize), name="rx")
        out = te.compute(
            (1, c_out, hw, hw),
            lambda n, f, y, x: te.sum(data[n, rc, y + ry, x + rx] * weight[f, rc, ry, rx],
                                      axis=[rc, ry, rx]),
            name="conv",
        )
        sch = tvm.s_tir.Schedule(te.create_prim_func([data, weight, out]))
        blk = sch.get_sblock("conv")
        n, f, y, x, rc_, ry_, rx_ = sch.get_loops(blk)
        if tile_oc:
            fo, fi = sch.split(f, [None, tile_oc])
            sch.reorder(n, fo, y, rc_, ry_, rx_, x, fi)
            sch.parallel(fo)
            sch.vectorize(fi)
        return sch.mod

    return build


def kernel_suite(quick: bool = False) -> List[KernelSpec]:
    """The kernels, ordered roughly from fastest to slowest.

    ``quick`` keeps the suite at 16 kernels but trims the slowest sizes.
    """
    big = 384 if quick else 512
    hw = 42 if quick else 56
    specs = [
        KernelSpec("ewise_4k", _elementwise(4096, False), ((4096,),) * 3),
        KernelSpec("ewise_64k", _elementwise(65536, False), ((65536,),) * 3),
        KernelSpec("ewise_64k_par", _elementwise(65536, True), ((65536,),) * 3),
        KernelSpec("ewise_1m", _elementwise(1 << 20, True), ((1 << 20,),) * 3),
        KernelSpec("matmul64_naive", _matmul(64, None, False, False), ((64, 64),) * 3),
        KernelSpec("matmul64_tiled", _matmul(64, 16, True, False), ((64, 64),) * 3),
        KernelSpec("matmul128_naive", _matmul(128, None, False, False), ((128, 128),) * 3),
        KernelSpec("matmul128_tiled", _matmul(128, 32, True, True), ((128, 128),) * 3),
        KernelSpec("matmul256_tiled", _matmul(256, 32, True, True), ((256, 256),) * 3),
        KernelSpec("matmul256_naive", _matmul(256, None, False, False), ((256, 256),) * 3),
        KernelSpec(f"matmul{big}_tiled", _matmul(big, 32, True, True), ((big, big),) * 3),
        KernelSpec(f"matmul{big}_t64", _matmul(big, 64, True, True), ((big, big),) * 3),
        KernelSpec("conv_16x28_naive", _conv2d(16, 28, 16, 3, None),
                   ((1, 16, 30, 30), (16, 16, 3, 3), (1, 16, 28, 28))),
        KernelSpec("conv_32x28_oc16", _conv2d(32, 28, 32, 3, 16),
                   ((1, 32, 30, 30), (32, 32, 3, 3), (1, 32, 28, 28))),
        KernelSpec("conv_64x28_oc16", _conv2d(64, 28, 64, 3, 16),
                   ((1, 64, 30, 30), (64, 64, 3, 3), (1, 64, 28, 28))),
        KernelSpec(f"conv_64x{hw}_oc16", _conv2d(64, hw, 64, 3, 16),
                   ((1, 64, hw + 2, hw + 2), (64, 64, 3, 3), (1, 64, hw, hw))),
    ]
    return specs


def compile_kernel(spec: KernelSpec, target=None):
    """Compile a spec for the CPU; returns the runtime module."""
    import tvm

    target = target or tvm.target.Target({"kind": "llvm", "num-cores": 2})
    return tvm.compile(spec.build(), target=target).jit()


def make_args(spec: KernelSpec, dev, seed: int = 0) -> list:
    """Random inputs and a zeroed output, allocated on ``dev``."""
    import tvm

    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s).astype("float32") for s in spec.shapes[:-1]]
    arrays.append(np.zeros(spec.shapes[-1], "float32"))
    return [tvm.runtime.tensor(a, dev) for a in arrays]


def suite_by_name(quick: bool = False) -> Dict[str, KernelSpec]:
    return {s.name: s for s in kernel_suite(quick)}

"""Built-in MetaSchedule workloads (TE definitions turned into PrimFuncs).

Names accepted by :func:`get_workload` (and ``adatune ms-tune``):

* ``matmul-N`` / ``matmul-MxNxK``: ``C = A @ B`` in float32 (e.g. ``matmul-512``);
* ``conv2d-resnet``: a ResNet-18 stage-3 convolution, NCHW 1x128x28x28, 3x3, 128 filters,
  stride 1, pad 1 (``conv2d-resnet-small``: 1x32x14x14 with 32 filters, for tests);
* ``dense-bias-relu-N``: ``relu(A @ W^T + b)``, a fused matmul + elementwise epilogue;
* ``softmax-RxC``: a row softmax (two reductions and an elementwise step).
"""
from __future__ import annotations

import re
from typing import Callable, Dict, List, Tuple

import numpy as np
from ..errors import ArgumentError

__all__ = ["get_workload", "workload_names", "reference"]


def _matmul(m: int, n: int, k: int):
    from tvm import te

    a = te.placeholder((m, k), name="A")
    b = te.placeholder((k, n), name="B")
    r = te.reduce_axis((0, k), name="k")
    c = te.compute((m, n), lambda i, j: te.sum(a[i, r] * b[r, j], axis=r), name="C")
    return [a, b, c]


def _conv2d(n: int, c: int, hw: int, f: int, ksize: int = 3, pad: int = 1):
    from tvm import te

    data = te.placeholder((n, c, hw, hw), name="data")
    weight = te.placeholder((f, c, ksize, ksize), name="weight")
    padded = te.compute(
        (n, c, hw + 2 * pad, hw + 2 * pad),
        lambda b, ci, y, x: te.if_then_else(
            te.all(y >= pad, y < hw + pad, x >= pad, x < hw + pad),
            data[b, ci, y - pad, x - pad], 0.0),
        name="pad")
    rc = te.reduce_axis((0, c), name="rc")
    ry = te.reduce_axis((0, ksize), name="ry")
    rx = te.reduce_axis((0, ksize), name="rx")
    out = te.compute(
        (n, f, hw, hw),
        lambda b, k, y, x: te.sum(padded[b, rc, y + ry, x + rx] * weight[k, rc, ry, rx],
                                  axis=[rc, ry, rx]),
        name="conv")
    return [data, weight, out]


def _dense_bias_relu(m: int, n: int, k: int):
    from tvm import te, tirx

    a = te.placeholder((m, k), name="A")
    w = te.placeholder((n, k), name="W")
    bias = te.placeholder((n,), name="bias")
    r = te.reduce_axis((0, k), name="k")
    d = te.compute((m, n), lambda i, j: te.sum(a[i, r] * w[j, r], axis=r), name="dense")
    out = te.compute((m, n), lambda i, j: tirx.max(d[i, j] + bias[j], tirx.const(0.0, "float32")),
                     name="relu")
    return [a, w, bias, out]


def _softmax(rows: int, cols: int):
    from tvm import te, tirx

    x = te.placeholder((rows, cols), name="X")
    j1 = te.reduce_axis((0, cols), name="j1")
    mx = te.compute((rows,), lambda i: te.max(x[i, j1], axis=j1), name="row_max")
    ex = te.compute((rows, cols), lambda i, j: tirx.exp(x[i, j] - mx[i]), name="exp")
    j2 = te.reduce_axis((0, cols), name="j2")
    s = te.compute((rows,), lambda i: te.sum(ex[i, j2], axis=j2), name="row_sum")
    out = te.compute((rows, cols), lambda i, j: ex[i, j] / s[i], name="softmax")
    return [x, out]


def _parse(name: str) -> Tuple[str, Callable, Tuple[int, ...]]:
    m = re.fullmatch(r"matmul-(\d+)(?:x(\d+)x(\d+))?", name)
    if m:
        a = int(m.group(1))
        dims = (a, int(m.group(2)), int(m.group(3))) if m.group(2) else (a, a, a)
        return "matmul", _matmul, dims
    if name == "conv2d-resnet":
        return "conv2d", _conv2d, (1, 128, 28, 128)
    if name == "conv2d-resnet-small":
        return "conv2d", _conv2d, (1, 32, 14, 32)
    m = re.fullmatch(r"dense-bias-relu-(\d+)", name)
    if m:
        a = int(m.group(1))
        return "dense_bias_relu", _dense_bias_relu, (a, a, a)
    m = re.fullmatch(r"softmax-(\d+)x(\d+)", name)
    if m:
        return "softmax", _softmax, (int(m.group(1)), int(m.group(2)))
    raise ArgumentError(f"unknown workload {name!r}; known forms: {', '.join(workload_names())}")


def workload_names() -> List[str]:
    """Example names of the built-in workloads."""
    return ["matmul-512", "matmul-128x64x32", "conv2d-resnet", "conv2d-resnet-small",
            "dense-bias-relu-256", "softmax-256x512"]


def get_workload(name: str):
    """The ``tvm.IRModule`` (one PrimFunc, ``main``) of a built-in workload name."""
    import tvm
    from tvm import te

    _, fn, dims = _parse(name)
    func = te.create_prim_func(fn(*dims))
    return tvm.IRModule({"main": func.with_attr("global_symbol", "main")})


def reference(name: str, inputs: List[np.ndarray]) -> np.ndarray:
    """The expected output of workload ``name`` for ``inputs`` (numpy, float64 inside)."""
    kind, _, dims = _parse(name)
    x = [np.asarray(v, dtype=np.float64) for v in inputs]
    if kind == "matmul":
        out = x[0] @ x[1]
    elif kind == "dense_bias_relu":
        out = np.maximum(x[0] @ x[1].T + x[2], 0.0)
    elif kind == "softmax":
        e = np.exp(x[0] - x[0].max(axis=1, keepdims=True))
        out = e / e.sum(axis=1, keepdims=True)
    else:
        data, weight = x
        n, c, hw, f = dims
        p = np.pad(data, ((0, 0), (0, 0), (1, 1), (1, 1)))
        out = np.zeros((n, f, hw, hw))
        for ry in range(3):
            for rx in range(3):
                out += np.einsum("nchw,fc->nfhw", p[:, :, ry:ry + hw, rx:rx + hw], weight[:, :, ry, rx])
    return out.astype(np.float32)

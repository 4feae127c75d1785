"""Floating-point operation counts of common workloads, from their logged arguments.

Only what can be read off the arguments without TVM: 2-D convolutions (NCHW/OIHW and
NHWC/HWIO, given as ``["TENSOR", shape, dtype]`` arguments or as the bare data /
kernel / output shapes some templates log) and matrix products (``dense`` with
tensor arguments, ``matmul``-style templates logged as ``[M, K, N]``).  Anything
else returns None and the featurizer labels by ``1 / mean cost`` instead.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

__all__ = ["estimate_flops"]


def _shape(arg: Any) -> Optional[List[int]]:
    if isinstance(arg, (list, tuple)):
        if len(arg) == 3 and arg[0] == "TENSOR" and isinstance(arg[1], (list, tuple)):
            arg = arg[1]
        if arg and all(isinstance(v, int) and not isinstance(v, bool) for v in arg):
            return list(arg)
    return None


def _pair(value: Any, n: int = 2) -> Optional[List[int]]:
    if isinstance(value, int) and not isinstance(value, bool):
        return [value] * n
    if isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value):
        return list(value)
    return None


def _prod(values: Sequence[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def _conv2d_flops(args: Sequence[Any]) -> Optional[float]:
    shapes = [_shape(a) for a in args[:3]]
    data, kernel = shapes[0], shapes[1] if len(shapes) > 1 else None
    if data is None or kernel is None or len(data) != 4 or len(kernel) != 4:
        return None
    layout = next((a for a in args if isinstance(a, str) and a.isalpha() and a.isupper()),
                  "NCHW")
    if layout == "NHWC":
        n, h, w, _ = data
        kh, kw, ci, co = kernel
    elif layout == "NCHW":
        n, _, h, w = data
        co, ci, kh, kw = kernel
    else:
        return None
    out = shapes[2] if len(shapes) > 2 else None
    if out is not None and len(out) == 4:
        # Templates that log the output shape: trust it.
        return 2.0 * _prod(out) * ci * kh * kw
    rest = [a for a in args[2:] if not isinstance(a, str)]
    if len(rest) < 3:
        return None
    stride, pad, dil = _pair(rest[0]), _pair(rest[1]), _pair(rest[2])
    if not stride or not pad or not dil or len(stride) < 2 or len(dil) < 2:
        return None
    if len(pad) == 2:
        pad_h, pad_w = 2 * pad[0], 2 * pad[1]
    elif len(pad) == 4:
        pad_h, pad_w = pad[0] + pad[2], pad[1] + pad[3]
    else:
        return None
    oh = (h + pad_h - ((kh - 1) * dil[0] + 1)) // stride[0] + 1
    ow = (w + pad_w - ((kw - 1) * dil[1] + 1)) // stride[1] + 1
    if oh <= 0 or ow <= 0:
        return None
    return 2.0 * n * co * oh * ow * ci * kh * kw


def _matmul_flops(args: Sequence[Any]) -> Optional[float]:
    if len(args) >= 3 and all(isinstance(a, int) and not isinstance(a, bool)
                              for a in args[:3]):
        return 2.0 * args[0] * args[1] * args[2]
    shapes = [_shape(a) for a in args[:2]]
    if len(shapes) == 2 and shapes[0] and shapes[1] and len(shapes[0]) == 2 \
            and len(shapes[1]) == 2 and shapes[0][1] == shapes[1][1]:
        (m, k), (n, _) = shapes
        return 2.0 * m * n * k
    return None


def estimate_flops(task_name: str, args: Sequence[Any]) -> Optional[float]:
    """FLOPs of one run of the workload, or None when the workload is not understood.

    Parameters
    ----------
    task_name : str
    args : sequence
        Logged task arguments.
    """
    name = task_name.lower()
    try:
        if "conv2d" in name and "winograd" not in name and "transpose" not in name:
            return _conv2d_flops(args)
        if "dense" in name or "matmul" in name or "batch_matmul" in name:
            return _matmul_flops(args)
    except (TypeError, ValueError, IndexError):
        return None
    return None

"""Prepare the CUDA check of the adaptive evaluator (runs on a machine WITH TVM).

The GPU machine has no TVM wheel (it is larger than what may travel there), so the
CUDA kernels are compiled here (TVM's CUDA codegen + nvcc) and sent as shared
libraries, together with the TVM runtime libraries, the adatune plugin and the
apache-tvm-ffi wheel.  ``bench/gpu/run.py`` then times them there with only
tvm_ffi, the runtime and PyTorch (for CUDA tensors and the event-timed reference).

Reproduce::

    python bench/gpu/prepare.py .gpu          # here
    # on the GPU machine, in the repository root:
    python3 bench/gpu/run.py .gpu --json out.json
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys

import tvm
from tvm import te

TARGET = tvm.target.Target({"kind": "cuda", "arch": "sm_90"}, host={"kind": "llvm"})


def _elementwise(n, threads):
    a = te.placeholder((n,), name="A")
    b = te.placeholder((n,), name="B")
    c = te.compute((n,), lambda i: a[i] * b[i] + a[i], name="C")
    sch = tvm.s_tir.Schedule(te.create_prim_func([a, b, c]))
    (i,) = sch.get_loops(sch.get_sblock("C"))
    bx, tx = sch.split(i, [None, threads])
    sch.bind(bx, "blockIdx.x")
    sch.bind(tx, "threadIdx.x")
    return sch.mod, [(n,), (n,), (n,)]


def _matmul(n, tile):
    a = te.placeholder((n, n), name="A")
    b = te.placeholder((n, n), name="B")
    k = te.reduce_axis((0, n), name="k")
    c = te.compute((n, n), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="C")
    sch = tvm.s_tir.Schedule(te.create_prim_func([a, b, c]))
    blk = sch.get_sblock("C")
    i, j, kk = sch.get_loops(blk)
    io, ii = sch.split(i, [None, tile])
    jo, ji = sch.split(j, [None, tile])
    sch.reorder(io, jo, ii, ji, kk)
    sch.bind(io, "blockIdx.y")
    sch.bind(jo, "blockIdx.x")
    sch.bind(ii, "threadIdx.y")
    sch.bind(ji, "threadIdx.x")
    return sch.mod, [(n, n), (n, n), (n, n)]


KERNELS = {
    "ewise_64k_t256": lambda: _elementwise(1 << 16, 256),
    "ewise_1m_t256": lambda: _elementwise(1 << 20, 256),
    "ewise_16m_t128": lambda: _elementwise(1 << 24, 128),
    "ewise_64m_t512": lambda: _elementwise(1 << 26, 512),
    "matmul256_t16": lambda: _matmul(256, 16),
    "matmul512_t8": lambda: _matmul(512, 8),
    "matmul1024_t16": lambda: _matmul(1024, 16),
    "matmul2048_t16": lambda: _matmul(2048, 16),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="folder to fill (ignored by git)")
    args = parser.parse_args(argv)
    out = os.path.abspath(args.out)
    os.makedirs(os.path.join(out, "kernels"), exist_ok=True)
    manifest = {}
    for name, make in KERNELS.items():
        mod, shapes = make()
        path = os.path.join(out, "kernels", f"{name}.so")
        tvm.compile(mod, target=TARGET).export_library(path)
        manifest[name] = {"file": f"kernels/{name}.so", "shapes": shapes,
                          "op": "matmul" if name.startswith("matmul") else "ewise"}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    tvm_lib = os.path.join(os.path.dirname(tvm.__file__), "lib")
    for lib in ("libtvm_runtime.so", "libtvm_runtime_cuda.so"):
        shutil.copy2(os.path.join(tvm_lib, lib), out)
    import adatune

    shutil.copy2(adatune.libinfo.find_lib_path(), out)
    for old in glob.glob(os.path.join(out, "*.whl")):
        os.remove(old)
    subprocess.check_call([
        sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
        "--python-version", "3.12", "--implementation", "cp",
        "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_24_x86_64",
        "-d", out, "apache-tvm-ffi==0.1.14.post1"])
    print(f"prepared {len(manifest)} CUDA kernels in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

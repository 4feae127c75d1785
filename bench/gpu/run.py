"""CUDA check and benchmark of the adaptive evaluator (runs on the GPU machine).

Needs only Python 3.12 with PyTorch (for CUDA tensors and an event-timed reference)
and what ``bench/gpu/prepare.py`` put in the folder: the apache-tvm-ffi wheel, the TVM
runtime libraries, the adatune plugin and CUDA kernels compiled by TVM.

For every kernel: correctness of its output against PyTorch, a long CUDA-event
reference, then alternating rounds of the fixed 10-repeat evaluation (TVM's own
time evaluator, ``number=3, repeat=10, min_repeat_ms=100``) and ``adatune.time_adaptive``
(device_type 2, so the loop syncs the stream after every batch).  Prints a table of
wall-time ratios and relative errors and writes the raw numbers to JSON.
"""
from __future__ import annotations

import argparse
import ctypes
import glob
import json
import os
import struct
import subprocess
import sys
import time


def _install_ffi(folder: str) -> None:
    site = "/tmp/adatune_gpu_site"
    wheels = glob.glob(os.path.join(folder, "apache_tvm_ffi-*.whl"))
    subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                           "--no-compile", "--target", site, *wheels])
    sys.path.insert(0, site)


def _register_cuda_compiler(tvm_ffi) -> None:
    # TVM 0.27 ships CUDA modules as source and compiles them when they load, through a
    # callback that TVM's Python (absent here) would register; nvcc does the same job.
    import tempfile

    @tvm_ffi.register_global_func("tvm_callback_cuda_compile", override=True)
    def _compile(code, *unused):
        with tempfile.TemporaryDirectory() as tmp:
            src, out = os.path.join(tmp, "k.cu"), os.path.join(tmp, "k.fatbin")
            with open(src, "w") as f:
                f.write(str(code))
            subprocess.check_call(["nvcc", "--fatbin", "-O3", "-arch=sm_90", "-diag-suppress", "177",
                                   "-o", out, src])
            with open(out, "rb") as f:
                return bytearray(f.read())


def _load_cudart() -> None:
    # TVM's CUDA runtime links libcudart.so.13; find it wherever this image keeps it.
    candidates = ["libcudart.so.13"]
    for pattern in ("/usr/local/cuda*/lib*/libcudart.so.13*",
                    os.path.join(sys.prefix, "lib", "python3*", "site-packages", "nvidia", "*",
                                 "lib", "libcudart.so.13*")):
        candidates += sorted(glob.glob(pattern))
    for cand in candidates:
        try:
            ctypes.CDLL(cand, ctypes.RTLD_GLOBAL)
            print("cudart:", cand)
            return
        except OSError:
            continue
    raise RuntimeError(f"libcudart.so.13 not found (tried {candidates})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    folder = os.path.abspath(args.folder)
    _install_ffi(folder)
    import numpy as np
    import torch
    import tvm_ffi

    _load_cudart()
    for lib in ("libtvm_runtime.so", "libtvm_runtime_cuda.so"):
        ctypes.CDLL(os.path.join(folder, lib), ctypes.RTLD_GLOBAL)
    _register_cuda_compiler(tvm_ffi)
    tvm_ffi.load_module(os.path.join(folder, "libadatune_runtime.so"))
    time_adaptive = tvm_ffi.get_global_func("adatune.time_adaptive")
    fixed_eval = tvm_ffi.get_global_func("runtime.RPCTimeEvaluator")
    manifest = json.load(open(os.path.join(folder, "manifest.json")))
    print("device:", torch.cuda.get_device_name(0))
    rows, checks = [], []
    for name, spec in manifest.items():
        mod = tvm_ffi.load_module(os.path.join(folder, spec["file"]))
        a = torch.randn(*spec["shapes"][0], device="cuda")
        b = torch.randn(*spec["shapes"][1], device="cuda")
        c = torch.zeros(*spec["shapes"][2], device="cuda")
        mod["main"](a, b, c)
        torch.cuda.synchronize()
        want = a @ b if spec["op"] == "matmul" else a * b + a
        ok = torch.allclose(c, want, rtol=1e-3, atol=1e-3 * float(want.abs().max()))
        checks.append({"kernel": name, "correct": bool(ok)})

        def reference():
            # Long and launch-consistent: TVM's C++ loop, >= 200 ms per repeat, 15 repeats.
            f = fixed_eval(mod, "main", 2, 0, 1, 15, 200, 100, 0, 1, 0, "")
            blob = bytes(f(a, b, c))
            return float(np.median(struct.unpack(f"{len(blob) // 8}d", blob)))

        def event_reference():
            # CUDA events around launches issued from Python (includes Python's call cost).
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            times = []
            for _ in range(30):
                start.record()
                for _ in range(20):
                    mod["main"](a, b, c)
                end.record()
                torch.cuda.synchronize()
                times.append(start.elapsed_time(end) / 20 / 1e3)
            return float(np.median(times))

        ref = reference()
        ref_events = event_reference()
        runs = {"fixed-10": [], "adaptive": []}
        for r in range(args.rounds):
            for method in (("fixed-10", "adaptive") if r % 2 == 0 else ("adaptive", "fixed-10")):
                t0 = time.perf_counter()
                if method == "fixed-10":
                    # TVM's defaults: limit_zero_time_iterations=100 lets number grow
                    # until a repeat lasts min_repeat_ms.
                    f = fixed_eval(mod, "main", 2, 0, 3, 10, 100, 100, 0, 1, 0, "")
                    blob = bytes(f(a, b, c))
                    costs = struct.unpack(f"{len(blob) // 8}d", blob)
                    mean = float(np.mean(costs))
                    extra = {}
                else:
                    out = json.loads(bytes(time_adaptive(mod, "main", 2, 0, 0, 1.0, 0.0, False,
                                                         0.0, "", a, b, c)).decode())
                    mean = out["mean"]
                    extra = {"batches": len(out["batch_means"]), "number": out["number"],
                             "converged": out["converged"]}
                wall = time.perf_counter() - t0
                runs[method].append({"mean": mean, "wall": wall, **extra})
        rows.append({"kernel": name, "reference": ref, "reference_events": ref_events,
                     "runs": runs})
        print(f"  {name}: ref {ref * 1e6:.1f} us, correct={ok}", flush=True)

    # A kernel that raises (wrong argument count) must come back as an error result (the
    # plugin's "error" field), not as an exception and not as a crash.
    try:
        failed = json.loads(bytes(time_adaptive(mod, "main", 2, 0, 0, 1.0, 0.0, False, 0.0, "",
                                                a, b)).decode())
        error_check = (f"error result: {failed['error'].splitlines()[0]}"
                       if failed.get("error") else "no error reported")
    except Exception as err:  # noqa: BLE001
        error_check = f"raised {type(err).__name__}: {str(err).splitlines()[0]}"

    print("\n| kernel | reference (us) | fixed-10 wall (ms) | adaptive wall (ms) | ratio "
          "| batches | adaptive err | fixed-10 err |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    tot_f = tot_a = 0.0
    errs_a, errs_f = [], []
    for row in rows:
        ref = row["reference"]
        f, ad = row["runs"]["fixed-10"], row["runs"]["adaptive"]
        wf = float(np.mean([x["wall"] for x in f]))
        wa = float(np.mean([x["wall"] for x in ad]))
        tot_f += wf
        tot_a += wa
        ea = [abs(x["mean"] / ref - 1) for x in ad]
        ef = [abs(x["mean"] / ref - 1) for x in f]
        errs_a += ea
        errs_f += ef
        print(f"| {row['kernel']} | {ref * 1e6:.1f} | {wf * 1e3:.1f} | {wa * 1e3:.1f} | {wf / wa:.1f}x "
              f"| {int(np.median([x['batches'] for x in ad]))} | {np.median(ea) * 100:.2f}% "
              f"| {np.median(ef) * 100:.2f}% |")
    summary = {"time_ratio": tot_f / tot_a, "median_rel_error_adaptive": float(np.median(errs_a)),
               "median_rel_error_fixed": float(np.median(errs_f)),
               "all_correct": all(c["correct"] for c in checks), "error_check": error_check}
    print(f"\ntotal: fixed-10 {tot_f:.2f} s, adaptive {tot_a:.2f} s, ratio {summary['time_ratio']:.1f}x;"
          f" median error adaptive {summary['median_rel_error_adaptive'] * 100:.2f}%, fixed "
          f"{summary['median_rel_error_fixed'] * 100:.2f}%")
    print("correctness:", checks)
    print("kernel that raises:", error_check)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"summary": summary, "rows": rows, "checks": checks,
                       "device": torch.cuda.get_device_name(0)}, fh, indent=1)
    return 0 if summary["all_correct"] else 1


if __name__ == "__main__":
    sys.exit(main())

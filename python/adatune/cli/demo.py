"""``adatune demo``: the main job on a built-in default.

``adatune demo --evaluator`` compares fixed and adaptive timing on a kernel suite.
"""
from __future__ import annotations

import sys
import time


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run the built-in demo (evaluator comparison)")
    p.add_argument("--evaluator", action="store_true",
                   help="compare fixed and adaptive timing on real kernels")
    p.add_argument("--quick", action="store_true", help="smaller kernels")
    p.add_argument("--repeat", type=int, default=10,
                   help="repeats of the fixed evaluation (default 10)")
    p.set_defaults(func=_run)


def _fmt_ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.2f}"


def evaluator_table(quick: bool, repeat: int, out=sys.stdout) -> list:
    """Time every kernel of the suite both ways; print and return the rows."""
    import tvm
    from tqdm import tqdm

    from ..measure import kernels, time_adaptive

    dev = tvm.cpu()
    rows = []
    suite = kernels.kernel_suite(quick=quick)
    for spec in tqdm(suite, desc="kernels", unit="kernel", file=sys.stderr):
        mod = kernels.compile_kernel(spec)
        args = kernels.make_args(spec, dev)
        t0 = time.perf_counter()
        fixed = mod.time_evaluator("main", dev, number=3, repeat=repeat, min_repeat_ms=100)(*args)
        fixed_wall = time.perf_counter() - t0
        res = time_adaptive(mod, dev, *args)
        rows.append({
            "kernel": spec.name, "fixed_mean": float(fixed.mean), "fixed_wall": fixed_wall,
            "adaptive_mean": res.mean, "adaptive_wall": res.wall_time, "batches": res.batches,
            "calls": res.calls, "diff": abs(res.mean / fixed.mean - 1.0),
        })
    print("\n| kernel | run time (ms) | fixed wall (ms) | adaptive wall (ms) | speed-up "
          "| batches | diff vs fixed |", file=out)
    print("|---|---:|---:|---:|---:|---:|---:|", file=out)
    for r in rows:
        print(f"| {r['kernel']} | {r['fixed_mean'] * 1e3:.4f} | {_fmt_ms(r['fixed_wall'])} "
              f"| {_fmt_ms(r['adaptive_wall'])} | {r['fixed_wall'] / r['adaptive_wall']:.1f}x "
              f"| {r['batches']} | {r['diff'] * 100:.2f}% |", file=out)
    total_f = sum(r["fixed_wall"] for r in rows)
    total_a = sum(r["adaptive_wall"] for r in rows)
    print(f"| **total** | | {_fmt_ms(total_f)} | {_fmt_ms(total_a)} "
          f"| {total_f / total_a:.1f}x | | |", file=out)
    return rows


def _run(args) -> int:
    if args.repeat < 1:
        raise ValueError(f"--repeat must be >= 1, got {args.repeat}")
    evaluator_table(args.quick, args.repeat)
    return 0

"""``adatune demo``: the main job on a built-in default.

``adatune demo`` tunes a 256x256x256 dense kernel with RFEI and the adaptive evaluator,
then compares the tuned kernel with numpy's matmul, timed in a child process without the
machine's OpenBLAS overrides (:mod:`adatune.measure.numpy_reference`).
``adatune demo --evaluator`` compares fixed and adaptive timing on a kernel suite instead.
"""
from __future__ import annotations

import statistics
import sys
import time


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="tune a built-in dense kernel (or --evaluator)")
    p.add_argument("--evaluator", action="store_true",
                   help="compare fixed and adaptive timing on real kernels instead")
    p.add_argument("--quick", action="store_true", help="smaller kernels / fewer trials")
    p.add_argument("--trials", type=int, default=None, help="tuning trials (default 96)")
    p.add_argument("--log", default="adatune_demo.log",
                   help="tuning log (resumed if it exists; default adatune_demo.log)")
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


def tuning_demo(trials: int, log: str, size: int = 256, out=sys.stdout) -> dict:
    """Tune ``dense(size, size, size)`` and compare the result with numpy."""
    import tvm

    import adatune
    from ..measure import LocalBuilder, LocalRunner, NumpyReference, alternate, measure_option
    from ..tuner import log_to_file, progress_bar
    from .tune import print_table, summary_rows

    task = adatune.task.create("dense", (size, size, size, "float32"), "llvm")
    print(f"adatune demo: tuning {task.workload_key} ({len(task.config_space):,} configs) "
          f"with RFEI + the adaptive evaluator, {trials} trials; log: {log}", file=out)
    option = measure_option(LocalBuilder(timeout=20), LocalRunner(check_correctness=True, timeout=20))
    try:
        summary = adatune.tune(task, "rfei", n_trial=trials, measure_option=option, seed=0,
                               callbacks=[progress_bar(trials, desc="dense"), log_to_file(log)],
                               resume_from=log)
    finally:
        option.close()
    rows = summary_rows(summary, option)

    # The tuned kernel, compiled in one line from the log, against numpy (OpenBLAS).
    with adatune.apply_best(log):
        lib = task.build_best()
    dev = tvm.cpu()
    args = [tvm.runtime.tensor(a, dev) for a in task.make_inputs(0)]
    rounds = 5

    def tuned_timer() -> float:
        return adatune.measure.time_adaptive(lib, dev, *args, min_batch_ms=20).mean

    # numpy runs in a child without this machine's OpenBLAS overrides (an in-process
    # numpy may be forced onto slower kernels); the rounds alternate so drift hits both.
    with NumpyReference() as ref:
        tuned_s, numpy_s = alternate(rounds, tuned_timer,
                                     lambda: ref.time_matmul(size, size, size), settle=0.2)
        numpy_line = ref.describe()
    tuned, np_time = statistics.median(tuned_s), statistics.median(numpy_s)
    flop = 2.0 * size ** 3
    rows += [("tuned kernel GFLOPS (re-measured)", f"{flop / tuned / 1e9:.2f}"),
             ("numpy (OpenBLAS) GFLOPS", f"{flop / np_time / 1e9:.2f}"),
             ("tuned / numpy", f"{np_time / tuned:.2f}x (medians of {rounds} alternating rounds)"),
             ("numpy reference", numpy_line)]
    print_table(rows, out)
    return dict(rows)


def _run(args) -> int:
    if args.evaluator:
        if args.repeat < 1:
            raise ValueError(f"--repeat must be >= 1, got {args.repeat}")
        evaluator_table(args.quick, args.repeat)
        return 0
    trials = args.trials or (32 if args.quick else 96)
    if trials < 1:
        raise ValueError(f"--trials must be >= 1, got {trials}")
    tuning_demo(trials, args.log)
    return 0

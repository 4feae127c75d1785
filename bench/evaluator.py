"""Adaptive versus fixed evaluation on real kernels, side by side in one process.

For each kernel of ``adatune.measure.kernels`` (16 kernels, microseconds to tens of
milliseconds), in rounds: a long reference measurement, the fixed evaluations TVM
users run today (MetaSchedule's default ``number=3, repeat=1, min_repeat_ms=100`` and
a stronger 10-repeat setting) and the adaptive evaluator, each once per round in an
order rotated from round to round.  Each method's value is scored against the
reference of its own round, so drift of the machine hits every method alike.
Reported per kernel and in total: measurement wall time, relative error against the
reference, and Kendall's tau of the kernels' ranking against the reference ranking.
Also replays the stopping rule offline on the repeated GPU runs in
``../shared/data/kernel_tuner`` and the repeated CPU timings in
``bench/data/cpu_timings`` (see ``bench/stopping_replay.py``).

``--record-dir DIR`` instead records repeated CPU timings for the stopping-rule replay
(:func:`record`): for every kernel, several series of consecutive batch means, written
as Kernel Tuner cache files (one per kernel family) that ``bench/stopping_replay.py``
reads like the GPU ones.

Reproduce::

    python bench/evaluator.py --quick --json out.json     # ~3 minutes (4 rounds)
    python bench/evaluator.py --json out.json             # bigger kernels, 8 rounds
    python bench/evaluator.py --record-dir bench/data/cpu_timings   # ~1.5 minutes
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import statistics
import sys
import time

import numpy as np

# TVM sizes its thread pool by physical cores (one on these VMs): use every CPU, as the
# tuning runners do (adatune.measure.runner.timing_env).
os.environ.setdefault("TVM_NUM_THREADS", str(os.cpu_count() or 1))
from scipy.stats import kendalltau

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
DEFAULT_DATA = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data", "kernel_tuner"))


def _fixed(mod, dev, args, repeat: int) -> tuple:
    """A fixed evaluation (``number=3, repeat``, ``min_repeat_ms=100``): (mean, wall s)."""
    t0 = time.perf_counter()
    res = mod.time_evaluator("main", dev, number=3, repeat=repeat, min_repeat_ms=100)(*args)
    return float(np.mean(res.results)), time.perf_counter() - t0


def _adaptive(mod, dev, args) -> tuple:
    """The adaptive evaluator as the tuning runner calls it: (estimate, wall s, batches).

    The runner's defaults (``adatune.measure.runner.RunOptions``: batches of >= 5 ms,
    3 to 20 of them, CV threshold) and the shipped stopping rule.
    """
    from adatune.measure import time_adaptive
    from adatune.measure.runner import RunOptions

    opts = RunOptions()
    t0 = time.perf_counter()
    res = time_adaptive(mod, dev, *args, min_batch_ms=opts.min_batch_ms,
                        min_batches=opts.min_batches, max_batches=opts.max_batches,
                        min_converge_coef=opts.min_converge_coef)
    if not res.ok:
        raise RuntimeError(res.error)
    return res.mean, time.perf_counter() - t0, res.batches


def _reference(mod, dev, args, repeat: int) -> tuple:
    """The long measurement: (median of ``repeat`` repeats of >= 50 ms, wall s)."""
    # The median shrugs off the odd disturbed repeat.
    t0 = time.perf_counter()
    res = mod.time_evaluator("main", dev, number=1, repeat=repeat, min_repeat_ms=50)(*args)
    return float(np.median(res.results)), time.perf_counter() - t0


METHODS = ("fixed-ms-default", "fixed-10", "adaptive")


def _measure(method: str, mod, dev, args, ref_repeat: int) -> dict:
    """One measurement by ``method`` (or the reference): ``{"mean", "wall"[, "batches"]}``."""
    if method == "reference":
        value, wall = _reference(mod, dev, args, ref_repeat)
        return {"mean": value, "wall": wall}
    if method == "adaptive":
        value, wall, batches = _adaptive(mod, dev, args)
        return {"mean": value, "wall": wall, "batches": batches}
    value, wall = _fixed(mod, dev, args, 1 if method == "fixed-ms-default" else 10)
    return {"mean": value, "wall": wall}


def run(quick: bool, rounds: int, data_dir: str) -> dict:
    """Time every kernel in rounds and score each method against its own round.

    A round times the reference and each method once, in an order rotated from round
    to round (no one always first, right after compilation or right after the long
    reference).  A method's value is scored against the reference of the same round,
    so a drift of the machine between rounds (clocks, other load) hits every method
    alike instead of whichever ran furthest from a reference taken once.
    """
    import tvm

    from adatune.measure import kernels

    dev = tvm.cpu()
    suite = kernels.kernel_suite(quick=quick)
    ref_repeat = 10 if quick else 40
    order0 = ("reference",) + METHODS
    per_kernel = []
    for spec in suite:
        mod = kernels.compile_kernel(spec)
        args = kernels.make_args(spec, dev)
        runs = {m: [] for m in order0}
        for r in range(rounds):
            k = r % len(order0)
            for m in order0[k:] + order0[:k]:
                runs[m].append(_measure(m, mod, dev, args, ref_repeat))
        refs = [x["mean"] for x in runs["reference"]]
        per_kernel.append({"kernel": spec.name, "reference": float(np.median(refs)),
                           "reference_spread": max(refs) / min(refs) - 1, "runs": runs})
        print(f"  {spec.name}: ref {refs[0] * 1e3:.4f} ms", file=sys.stderr)

    summary = {}
    for m in METHODS:
        # Each round's value against the same round's reference.
        errs = [abs(k["runs"][m][r]["mean"] / k["runs"]["reference"][r]["mean"] - 1)
                for k in per_kernel for r in range(rounds)]
        taus = [kendalltau([k["runs"]["reference"][r]["mean"] for k in per_kernel],
                           [k["runs"][m][r]["mean"] for k in per_kernel]).statistic
                for r in range(rounds)]
        walls = [sum(x["wall"] for x in k["runs"][m]) / rounds for k in per_kernel]
        summary[m] = {"median_rel_error": float(np.median(errs)),
                      "p90_rel_error": float(np.percentile(errs, 90)),
                      "max_rel_error": float(np.max(errs)),
                      "wall_s_per_round": float(sum(walls)),
                      "kendall_tau": float(np.median(taus)),
                      "kendall_tau_min": float(np.min(taus))}
    ref_wall = sum(sum(x["wall"] for x in k["runs"]["reference"]) / rounds for k in per_kernel)
    out = {
        "time_ratio": summary["fixed-10"]["wall_s_per_round"] / summary["adaptive"]["wall_s_per_round"],
        "time_ratio_vs_ms_default": summary["fixed-ms-default"]["wall_s_per_round"]
        / summary["adaptive"]["wall_s_per_round"],
        "median_rel_error_adaptive": summary["adaptive"]["median_rel_error"],
        "median_rel_error_fixed": summary["fixed-10"]["median_rel_error"],
        "median_rel_error_ms_default": summary["fixed-ms-default"]["median_rel_error"],
        "kendall_tau_adaptive": summary["adaptive"]["kendall_tau"],
        "kendall_tau_fixed": summary["fixed-10"]["kendall_tau"],
        "kendall_tau_ms_default": summary["fixed-ms-default"]["kendall_tau"],
        "reference_wall_s_per_round": ref_wall,
        "scoring": "per round: each method against the reference of the same round",
        "summary": summary, "kernels": per_kernel, "rounds": rounds, "quick": quick,
        "tvm_num_threads": os.environ.get("TVM_NUM_THREADS"),
    }
    import stopping_replay
    from adatune.measure import StopPolicy

    # The shared GPU files found in data_dir, then the recorded CPU ones.
    files = [os.path.join(os.path.abspath(data_dir), f) for f in stopping_replay.FILES]
    files = [f for f in files if os.path.exists(f)]
    files += [f for f in stopping_replay.all_paths() if f.startswith(stopping_replay.CPU_DIR)]
    if files:
        ours = stopping_replay.replay_all(files)
        paper = stopping_replay.replay_all(files, policy=StopPolicy.paper())
        out["replay"] = {"ours": ours, "paper": paper}
        out["replay_runs_saved"] = ours["savings"]
        out["replay_median_rel_error"] = max(f["median_err"] for f in ours["files"])
        out["replay_p99_rel_error"] = max(f["p99_err"] for f in ours["files"])
    return out


# Which recorded file a kernel's series go to: leave-one-file-out then holds out a
# whole family (memory-bound element-wise, matmul, conv), not just a size.
_FAMILIES = ("elementwise", "matmul_naive", "matmul_tiled", "conv2d")


def _family(name: str) -> str:
    if name.startswith("ewise"):
        return "elementwise"
    if name.startswith("conv"):
        return "conv2d"
    return "matmul_naive" if name.endswith("naive") else "matmul_tiled"


def record(out_dir: str, repetitions: int = 40, batches: int = 20, batch_ms: float = 1.0,
           quick: bool = False) -> dict:
    """Record series of consecutive batch means as Kernel Tuner cache files.

    Each repetition visits every kernel in turn (so a series starts with caches and
    clocks left by another kernel, as a tuner's next candidate does) and times
    ``batches`` consecutive batches with ``time_evaluator(number, repeat=batches,
    min_repeat_ms=0)``, ``number`` chosen, as the adaptive evaluator does, so that a
    batch lasts ``batch_ms`` (calibrated on the fastest of three warm calls).  One
    series is one configuration (``"<kernel>@<repetition>"``) whose ``times`` are the
    batch means in milliseconds, oldest first.

    Parameters
    ----------
    out_dir : str
        Folder for ``<family>.json.gz`` (elementwise, matmul_naive, matmul_tiled,
        conv2d).
    repetitions, batches : int
        Series per kernel, and batches per series.
    batch_ms : float
        Least duration of a batch (the evaluator's ``min_batch_ms`` default).
    quick : bool
        The quick kernel suite (smaller slowest sizes).

    Returns
    -------
    dict
        ``{family: configurations}`` written.
    """
    import tvm

    from adatune.measure import kernels

    dev = tvm.cpu()
    suite = kernels.kernel_suite(quick=quick)
    compiled = []
    for spec in suite:
        mod = kernels.compile_kernel(spec)
        args = kernels.make_args(spec, dev)
        compiled.append((spec, mod, args))
    caches = {f: {} for f in _FAMILIES}
    for rep in range(repetitions):
        for spec, mod, args in compiled:
            one = min(mod.time_evaluator("main", dev, number=1, repeat=3)(*args).results)
            number = max(1, math.ceil(batch_ms * 1e-3 / max(one, 1e-9)))
            res = mod.time_evaluator("main", dev, number=number, repeat=batches,
                                     min_repeat_ms=0)(*args)
            # Six significant digits: far below the noise, and keeps the files small.
            times = [float(f"{t * 1e3:.6g}") for t in res.results]
            caches[_family(spec.name)][f"{spec.name}@{rep}"] = {
                "kernel": spec.name, "repetition": rep, "number": number,
                "time": float(np.mean(times)), "times": times}
        print(f"  repetition {rep + 1}/{repetitions} done", file=sys.stderr)
    os.makedirs(out_dir, exist_ok=True)
    for family, cache in caches.items():
        doc = {"device_name": "cpu", "kernel_name": family, "objective": "time",
               "tvm_num_threads": os.environ.get("TVM_NUM_THREADS"),
               "batch_ms": batch_ms, "cache": cache}
        with gzip.open(os.path.join(out_dir, f"{family}.json.gz"), "wt") as f:
            json.dump(doc, f, separators=(",", ":"))
    return {family: len(cache) for family, cache in caches.items()}


def print_tables(out: dict) -> None:
    print("\n| kernel | reference (ms) | fixed-10 wall (ms) | adaptive wall (ms) | ratio "
          "| adaptive batches | adaptive err | fixed-10 err | ms-default err |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for k in out["kernels"]:
        ref = k["reference"]
        f10 = k["runs"]["fixed-10"]
        ad = k["runs"]["adaptive"]
        ms = k["runs"]["fixed-ms-default"]
        wf = statistics.mean(r["wall"] for r in f10)
        wa = statistics.mean(r["wall"] for r in ad)

        refs = [r["mean"] for r in k["runs"]["reference"]]

        def err(runs):
            return np.median([abs(r["mean"] / q - 1) for r, q in zip(runs, refs)]) * 100

        print(f"| {k['kernel']} | {ref * 1e3:.4f} | {wf * 1e3:.1f} | {wa * 1e3:.1f} | {wf / wa:.1f}x "
              f"| {statistics.median(r['batches'] for r in ad):.0f} | {err(ad):.2f}% "
              f"| {err(f10):.2f}% | {err(ms):.2f}% |")
    print("\n| method | wall per round (s) | median rel. error | p90 rel. error "
          "| Kendall tau (median / min over rounds) |")
    print("|---|---:|---:|---:|---:|")
    for m, s in out["summary"].items():
        print(f"| {m} | {s['wall_s_per_round']:.2f} | {s['median_rel_error'] * 100:.2f}% "
              f"| {s['p90_rel_error'] * 100:.2f}% | {s['kendall_tau']:.3f} / "
              f"{s['kendall_tau_min']:.3f} |")
    print(f"\ntime_ratio (fixed-10 / adaptive): {out['time_ratio']:.2f}x; "
          f"vs MetaSchedule default: {out['time_ratio_vs_ms_default']:.2f}x")
    if "replay" in out:
        import stopping_replay

        print("\nOffline replay of the stopping rule on recorded runs (Kernel Tuner caches, "
              "GPU and CPU):\n")
        print(stopping_replay.format_table(out["replay"]["paper"], out["replay"]["ours"]))
        print(f"\nreplay_runs_saved {out['replay_runs_saved']:.1%}, worst median error "
              f"{out['replay_median_rel_error']:.2%}, worst p99 error {out['replay_p99_rel_error']:.2%}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller kernels, 4 rounds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--json", default=None, help="write raw numbers here")
    parser.add_argument("--data", default=DEFAULT_DATA, help="Kernel Tuner cache folder")
    parser.add_argument("--record-dir", default=None, metavar="DIR",
                        help="record repeated CPU timings for bench/stopping_replay.py here "
                             "instead of comparing the methods")
    parser.add_argument("--repetitions", type=int, default=40,
                        help="with --record-dir: series per kernel")
    parser.add_argument("--batches", type=int, default=20,
                        help="with --record-dir: batches per series")
    args = parser.parse_args(argv)
    if args.record_dir:
        t0 = time.perf_counter()
        written = record(args.record_dir, args.repetitions, args.batches, quick=args.quick)
        print(f"recorded {written} in {time.perf_counter() - t0:.0f} s")
        return 0
    # 4 rounds: each of the four measurements takes each place in the order once.
    rounds = args.rounds or (4 if args.quick else 8)
    t0 = time.perf_counter()
    out = run(args.quick, rounds, args.data)
    out["bench_seconds"] = time.perf_counter() - t0
    print_tables(out)
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    print(f"\n(bench took {out['bench_seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Adaptive versus fixed evaluation on real kernels, side by side in one process.

For each kernel of ``adatune.measure.kernels`` (16 kernels, microseconds to tens of
milliseconds): a long reference measurement, then, alternating in rounds, the fixed
evaluations TVM users run today (MetaSchedule's default ``number=3, repeat=1,
min_repeat_ms=100`` and a stronger 10-repeat setting) and the adaptive evaluator.
Reported per kernel and in total: measurement wall time, relative error of the mean
against the reference, and Kendall's tau of the kernels' ranking against the
reference ranking.  Also replays the stopping rule offline on the repeated GPU runs
in ``../shared/data/kernel_tuner`` (see ``bench/stopping_replay.py``).

Reproduce::

    python bench/evaluator.py --quick --json out.json     # < 2 minutes
    python bench/evaluator.py --json out.json             # bigger kernels, more rounds
"""
from __future__ import annotations

import argparse
import json
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


def _fixed(mod, dev, args, repeat):
    t0 = time.perf_counter()
    res = mod.time_evaluator("main", dev, number=3, repeat=repeat, min_repeat_ms=100)(*args)
    return float(np.mean(res.results)), time.perf_counter() - t0


def _adaptive(mod, dev, args, **kw):
    from adatune.measure import time_adaptive

    t0 = time.perf_counter()
    res = time_adaptive(mod, dev, *args, **kw)
    if not res.ok:
        raise RuntimeError(res.error)
    return res.mean, time.perf_counter() - t0, res.batches


def _reference(mod, dev, args, repeat):
    # Many repeats of >= 50 ms each; the median shrugs off the odd disturbed repeat.
    res = mod.time_evaluator("main", dev, number=1, repeat=repeat, min_repeat_ms=50)(*args)
    return float(np.median(res.results))


def run(quick: bool, rounds: int, data_dir: str) -> dict:
    import tvm

    from adatune.measure import kernels

    dev = tvm.cpu()
    suite = kernels.kernel_suite(quick=quick)
    methods = ("fixed-ms-default", "fixed-10", "adaptive")
    per_kernel = []
    for spec in suite:
        mod = kernels.compile_kernel(spec)
        args = kernels.make_args(spec, dev)
        ref = _reference(mod, dev, args, 10 if quick else 40)
        runs = {m: [] for m in methods}
        for r in range(rounds):
            order = methods[r % 3:] + methods[:r % 3]  # rotate so no method always goes first
            for m in order:
                if m == "fixed-ms-default":
                    mean, wall = _fixed(mod, dev, args, 1)
                    runs[m].append({"mean": mean, "wall": wall})
                elif m == "fixed-10":
                    mean, wall = _fixed(mod, dev, args, 10)
                    runs[m].append({"mean": mean, "wall": wall})
                else:
                    mean, wall, batches = _adaptive(mod, dev, args)
                    runs[m].append({"mean": mean, "wall": wall, "batches": batches})
        ref_after = _reference(mod, dev, args, 10 if quick else 40)
        per_kernel.append({"kernel": spec.name, "reference": (ref + ref_after) / 2,
                           "reference_drift": abs(ref_after / ref - 1), "runs": runs})
        print(f"  {spec.name}: ref {ref * 1e3:.4f} ms", file=sys.stderr)

    summary = {}
    refs = [k["reference"] for k in per_kernel]
    for m in methods:
        errs = [abs(run["mean"] / k["reference"] - 1) for k in per_kernel for run in k["runs"][m]]
        walls = [sum(run["wall"] for run in k["runs"][m]) / rounds for k in per_kernel]
        taus = []
        for r in range(rounds):
            est = [k["runs"][m][r]["mean"] for k in per_kernel]
            taus.append(kendalltau(refs, est).statistic)
        summary[m] = {"median_rel_error": float(np.median(errs)),
                      "p90_rel_error": float(np.percentile(errs, 90)),
                      "wall_s_per_round": float(sum(walls)),
                      "kendall_tau": float(np.median(taus))}
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
        "summary": summary, "kernels": per_kernel, "rounds": rounds, "quick": quick,
    }
    import stopping_replay
    from adatune.measure import StopPolicy

    files = [os.path.join(os.path.abspath(data_dir), f) for f in stopping_replay.FILES]
    files = [f for f in files if os.path.exists(f)]
    if files:
        ours = stopping_replay.replay_all(files)
        paper = stopping_replay.replay_all(files, policy=StopPolicy.paper())
        out["replay"] = {"ours": ours, "paper": paper}
        out["replay_runs_saved"] = ours["savings"]
        out["replay_median_rel_error"] = max(f["median_err"] for f in ours["files"])
        out["replay_p99_rel_error"] = max(f["p99_err"] for f in ours["files"])
    return out


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

        def err(runs):
            return np.median([abs(r["mean"] / ref - 1) for r in runs]) * 100

        print(f"| {k['kernel']} | {ref * 1e3:.4f} | {wf * 1e3:.1f} | {wa * 1e3:.1f} | {wf / wa:.1f}x "
              f"| {statistics.median(r['batches'] for r in ad):.0f} | {err(ad):.2f}% "
              f"| {err(f10):.2f}% | {err(ms):.2f}% |")
    print("\n| method | wall per round (s) | median rel. error | Kendall tau |")
    print("|---|---:|---:|---:|")
    for m, s in out["summary"].items():
        print(f"| {m} | {s['wall_s_per_round']:.2f} | {s['median_rel_error'] * 100:.2f}% "
              f"| {s['kendall_tau']:.3f} |")
    print(f"\ntime_ratio (fixed-10 / adaptive): {out['time_ratio']:.2f}x; "
          f"vs MetaSchedule default: {out['time_ratio_vs_ms_default']:.2f}x")
    if "replay" in out:
        import stopping_replay

        print("\nOffline replay of the stopping rule on recorded GPU runs (Kernel Tuner caches):\n")
        print(stopping_replay.format_table(out["replay"]["paper"], out["replay"]["ours"]))
        print(f"\nreplay_runs_saved {out['replay_runs_saved']:.1%}, worst median error "
              f"{out['replay_median_rel_error']:.2%}, worst p99 error {out['replay_p99_rel_error']:.2%}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller kernels, 2 rounds")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--json", default=None, help="write raw numbers here")
    parser.add_argument("--data", default=DEFAULT_DATA, help="Kernel Tuner cache folder")
    args = parser.parse_args(argv)
    rounds = args.rounds or (2 if args.quick else 5)
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

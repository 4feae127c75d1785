"""MetaSchedule: TVM's default ``ms.tune_tir`` against ``adatune.metaschedule.tune_tir``.

All tune the same workloads with the same trial budget, in one process, one after the
other, on the same target:

* **default** -- ``ms.tune_tir`` as shipped: ``LocalBuilder``, ``LocalRunner``
  (``time_evaluator``, 3 calls per repeat, >= 100 ms per repeat), the XGBoost cost model,
  ``EvolutionarySearch`` (population 512, eps-greedy 0.05).  Its ``LocalBuilder`` imports
  ``tvm.s_tir.tensor_intrin`` in every fresh worker and times out after 30 s, so on a
  loaded 2-core machine it builds nothing; ``--quick`` runs it on the first workload only
  (``--shipped-workloads`` to change);
* **default+fb** -- the same, with ``adatune.metaschedule.FastBuilder`` instead of
  ``LocalBuilder``: the default search, model and runner with a builder that works.  This
  is the baseline of the latency and time ratios (``time_to_default_best_ratio``); the
  ratio against the shipped default is reported too (null when it had no valid trial);
* **adatune** -- ``adatune.metaschedule.tune_tir`` with its defaults: ``FastBuilder``, the
  adaptive local runner (``min_converge_coef=0.1``), ``RFEICostModel`` and
  ``DynamicEpsilonSearch``.

Workloads: a 512x512x512 float32 matmul, a ResNet-18 3x3 conv2d (NCHW 1x128x28x28, 128
filters), and a fused dense + bias + ReLU (256).  Every measured batch is recorded by a
measure callback (wall time since the tuning call started, valid or not, latency).

Reported per workload and tuner: wall time, valid trials / all trials, final best
latency, best latency after each batch (against trials and against wall time), and the
time adatune needs to reach default+fb's final best latency (within ``--tolerance``) as
a fraction of default+fb's total wall time (and the same against the shipped default).
A tuner with no valid trial has no best; a ratio against it is ``null``.  ``import tvm.s_tir.tensor_intrin`` happens once in this
process before any timing (``TuneContext`` does it for the default); its duration is
reported separately and is not part of any wall time.

JSON summary keys: ``time_to_default_best_ratio`` (median over workloads, against
default+fb; "inf" where adatune never reached it), ``time_to_default_best_ratio_vs_shipped``,
``valid_ratio_default`` (the shipped default), ``valid_ratio_default_fb``,
``valid_ratio_adatune`` (valid trials / all trials, pooled over workloads).

Reproduce::

    python bench/metaschedule.py --quick --json ms_quick.json    # < 15 min on 2 cores
    python bench/metaschedule.py --trials 128 --per-iter 32 --json ms_full.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

WORKLOADS = ("matmul-512", "conv2d-resnet", "dense-bias-relu-256")


def _recorder(log):
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule.measure_callback import PyMeasureCallback

    @derived_object
    class _Recorder(PyMeasureCallback):
        def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results):
            now = time.perf_counter()
            for b, r in zip(builder_results, runner_results):
                ok = b.error_msg is None and r.error_msg is None and r.run_secs
                lat = (sum(float(s) for s in r.run_secs) / len(r.run_secs)) if ok else None
                log.append((now, lat if lat is not None and lat < 1e9 else None,
                            None if b.error_msg is None else b.error_msg.splitlines()[0][:120]))

    return _Recorder()


def _run(kind, name, target, trials, per_iter, seed, cores):
    import tvm.s_tir.meta_schedule as ms

    from adatune.metaschedule import get_workload, tune_tir

    mod = get_workload(name)
    log = []
    work_dir = tempfile.mkdtemp(prefix=f"ms_{kind}_")
    callbacks = ms.measure_callback.MeasureCallback.create("default") + [_recorder(log)]
    start = time.perf_counter()
    if kind == "default":
        ms.tune_tir(mod, target, work_dir, trials, num_trials_per_iter=per_iter,
                    measure_callbacks=callbacks, num_tuning_cores=cores, seed=seed)
    elif kind == "default+fb":
        from adatune.metaschedule import FastBuilder

        builder = FastBuilder(max_workers=cores)
        try:
            ms.tune_tir(mod, target, work_dir, trials, num_trials_per_iter=per_iter,
                        builder=builder, measure_callbacks=callbacks, num_tuning_cores=cores,
                        seed=seed)
        finally:
            builder.close()
    else:
        tune_tir(mod, target, work_dir, trials, num_trials_per_iter=per_iter,
                 measure_callbacks=callbacks, num_tuning_cores=cores, seed=seed)
    wall = time.perf_counter() - start
    curve, best = [], math.inf
    for i, (t, lat, _) in enumerate(log):
        if lat is not None:
            best = min(best, lat)
        curve.append({"trial": i + 1, "wall_s": t - start, "best_s": best if best < math.inf else None})
    errors = sorted({e for _, _, e in log if e})
    return {"wall_s": wall, "trials": len(log), "valid": sum(lat is not None for _, lat, _ in log),
            "best_s": best if best < math.inf else None, "curve": curve, "build_errors": errors[:3],
            "work_dir": work_dir}


def _time_to(curve, goal):
    for point in curve:
        if point["best_s"] is not None and point["best_s"] <= goal:
            return point["wall_s"]
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="16 trials per workload, 8 per batch")
    ap.add_argument("--shipped-workloads", default=None,
                    help="workloads on which the shipped default runs (quick: the first)")
    ap.add_argument("--trials", type=int, default=128)
    ap.add_argument("--per-iter", type=int, default=32)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--tolerance", type=float, default=0.05,
                    help="adatune reaches the default's best when within this fraction (0.05)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.trials, args.per_iter = 16, 8
    workloads = args.workloads.split(",")
    shipped = (args.shipped_workloads.split(",") if args.shipped_workloads
               else workloads[:1] if args.quick else workloads)

    import tvm

    target = tvm.target.Target({"kind": "llvm", "num-cores": args.cores})
    t0 = time.perf_counter()
    import tvm.s_tir.tensor_intrin  # noqa: F401  (the default's TuneContext needs it anyway)

    intrin_import_s = time.perf_counter() - t0
    print(f"one-time import of tvm.s_tir.tensor_intrin in this process: {intrin_import_s:.1f} s",
          file=sys.stderr)
    results = {}
    for name in workloads:
        results[name] = {}
        for kind in (("default",) if name in shipped else ()) + ("default+fb", "adatune"):
            print(f"[{name}] {kind} ...", file=sys.stderr, flush=True)
            results[name][kind] = r = _run(kind, name, target, args.trials, args.per_iter,
                                           args.seed, args.cores)
            print(f"[{name}] {kind}: {r['wall_s']:.1f} s, {r['valid']}/{r['trials']} valid, best "
                  f"{'-' if r['best_s'] is None else round(r['best_s'] * 1e6, 1)} us",
                  file=sys.stderr, flush=True)
        a = results[name]["adatune"]
        for base, key in (("default+fb", ""), ("default", "_vs_shipped")):
            d = results[name].get(base)
            ratio = None
            if d is not None and d["best_s"] is not None:
                reach = _time_to(a["curve"], d["best_s"] * (1 + args.tolerance))
                ratio = math.inf if reach is None else reach / d["wall_s"]
            results[name]["time_to_default_best_ratio" + key] = ratio
            results[name]["best_ratio" + key] = (a["best_s"] / d["best_s"]) \
                if d is not None and d["best_s"] and a["best_s"] else None

    ratios = [r["time_to_default_best_ratio"] for r in results.values()
              if r["time_to_default_best_ratio"] is not None]
    def pooled(kind):
        runs = [r[kind] for r in results.values() if kind in r]
        return sum(x["valid"] for x in runs) / max(1, sum(x["trials"] for x in runs)) if runs else None

    shipped_ratios = [r["time_to_default_best_ratio_vs_shipped"] for r in results.values()
                      if r["time_to_default_best_ratio_vs_shipped"] is not None]
    summary = {
        "time_to_default_best_ratio": statistics.median(ratios) if ratios else None,
        "time_to_default_best_ratio_vs_shipped":
            statistics.median(shipped_ratios) if shipped_ratios else None,
        "valid_ratio_default": pooled("default"),
        "valid_ratio_default_fb": pooled("default+fb"),
        "valid_ratio_adatune": pooled("adatune"),
        "wall_ratio": statistics.median(r["adatune"]["wall_s"] / r["default+fb"]["wall_s"]
                                        for r in results.values()),
    }

    def us(v):
        return "n/a" if v is None else f"{v * 1e6:.1f}"

    def fr(v):
        return "n/a" if v is None else ("not reached" if math.isinf(v) else f"{v:.2f}")

    print(f"\ntarget {target}, {args.trials} trials per workload, {args.per_iter} per batch; "
          f"tensor_intrin import (once, excluded): {intrin_import_s:.1f} s\n")
    print("| workload | tuner | wall (s) | valid/all | best (us) | best vs default+fb "
          "| time to default+fb best / its wall |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        for kind in ("default", "default+fb", "adatune"):
            if kind not in r:
                continue
            x = r[kind]
            extra = ("", "") if kind != "adatune" else (
                fr(r["best_ratio"]), fr(r["time_to_default_best_ratio"]))
            print(f"| {name} | {kind} | {x['wall_s']:.1f} | {x['valid']}/{x['trials']} "
                  f"| {us(x['best_s'])} | {extra[0]} | {extra[1]} |")
    print(f"\n**median time-to-default-best ratio: {fr(summary['time_to_default_best_ratio'])}**, "
          f"(vs the shipped default: {fr(summary['time_to_default_best_ratio_vs_shipped'])}), "
          f"median wall ratio adatune/default+fb: {summary['wall_ratio']:.2f}; valid ratio: "
          f"default {fr(summary['valid_ratio_default'])}, default+fb "
          f"{fr(summary['valid_ratio_default_fb'])}, adatune {fr(summary['valid_ratio_adatune'])}")
    print("\nbest latency (us) against trials / wall time (s), per batch:")
    for name, r in results.items():
        for kind in [k for k in ("default", "default+fb", "adatune") if k in r]:
            pts = [p for i, p in enumerate(r[kind]["curve"]) if (i + 1) % args.per_iter == 0
                   or i + 1 == len(r[kind]["curve"])]
            print(f"- {name} {kind}: " + ", ".join(
                f"{p['trial']}@{p['wall_s']:.0f}s:{us(p['best_s'])}" for p in pts))
            if r[kind]["build_errors"]:
                print(f"  build errors: {r[kind]['build_errors'][0]}")
    if args.json:
        def clean(v):
            if isinstance(v, float) and math.isinf(v):
                return "inf"
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list):
                return [clean(x) for x in v]
            return v

        with open(args.json, "w") as f:
            json.dump(clean({**summary, "target": str(target), "trials": args.trials,
                             "per_iter": args.per_iter, "tolerance": args.tolerance,
                             "tensor_intrin_import_s": intrin_import_s, "workloads": results}),
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

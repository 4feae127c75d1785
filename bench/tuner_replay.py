"""Tuner comparison by offline replay of exhaustive real search spaces.

Kernel Tuner cache files (``../shared/data/kernel_tuner/{convolution,pnpoly}/
{RTX_2080_Ti,RTX_3090}.json.gz``, from AutoTuningAssociation/benchmark_hub, MIT) hold the
measured time of *every* configuration of a brute-forced GPU search space (convolution:
6,768 valid of 16,896 in the knob product; pnpoly: 4,092). Each file becomes a task whose
``ConfigSpace`` has one knob per tuning parameter and a constraint "the configuration
was valid"; the replay ``MeasureBatch`` answers each proposal with the recorded time
(compile/runtime failures come back as failed measurements, as on a real device).
Since the optimum is known, every tuner's progress is exact: quality at trial ``t`` is
``optimum time / best time found in the first t trials`` (1.0 = optimum found).

Compared side by side, same seeds: ``rfei`` (ours: random forest + EI + dynamic
epsilon), ``xgb`` (the AutoTVM baseline: XGBoost + fixed epsilon 0.05),
ablations -- ``rfei-fixed-eps`` (ours with AutoTVM's fixed epsilon),
``rfei-first-fit-64`` (ours waiting a whole plan of 64 random trials before the first fit,
as AutoTVM does), ``xgb-first-fit-16`` (the baseline fitted after 16 trials like ours) --
and ``ga`` and ``random``. Reported per file: median quality at 50/100/200 trials, median trials to
reach 95 % of the optimum, and the ratios of ours to the baseline.

Reproduce (from the repository root)::

    python bench/tuner_replay.py                  # 4 files x 5 seeds, 200 trials
    python bench/tuner_replay.py --json out.json  # plus the raw numbers
    python bench/tuner_replay.py --quick          # 2 files x 2 seeds
"""
from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import sys
import time
from typing import Any, Dict, List, Sequence

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

from adatune.measure.measure import MeasureErrorNo, MeasureResult  # noqa: E402
from adatune.space import ConfigSpace  # noqa: E402
from adatune.tuner import create_tuner  # noqa: E402

DATA_DIR = os.path.join(os.path.dirname(ROOT), "shared", "data", "kernel_tuner")
FILES = ("convolution/RTX_2080_Ti.json.gz", "convolution/RTX_3090.json.gz",
         "pnpoly/RTX_2080_Ti.json.gz", "pnpoly/RTX_3090.json.gz")
TUNERS = {
    "rfei": ("rfei", {}),
    "xgb": ("xgb", {}),
    "rfei-fixed-eps": ("rfei", {"uncertainty_aware": False}),
    "rfei-first-fit-64": ("rfei", {"first_fit": None}),
    "xgb-first-fit-16": ("xgb", {"first_fit": 16}),
    "ga": ("ga", {}),
    "random": ("random", {}),
}
BASELINE, OURS = "xgb", "rfei"
CHECKPOINTS = (50, 100, 200)
TARGET_QUALITY = 0.95


class _ValidConfig:
    """Constraint: the configuration is one Kernel Tuner measured (picklable)."""

    def __init__(self, keys: frozenset):
        self.keys = keys

    def __call__(self, cfg: Any) -> bool:
        return _key(cfg) in self.keys


def _key(cfg: Any) -> str:
    return ",".join(str(e.val) for _, e in cfg.items())


class ReplayTask:
    """A task over one Kernel Tuner cache file."""

    def __init__(self, path: str):
        with gzip.open(path, "rt") as f:
            data = json.load(f)
        if "cache" not in data or "tune_params" not in data:
            raise ValueError(f"{path}: not a Kernel Tuner cache file (no 'cache'/'tune_params')")
        params = data.get("tune_params_keys") or list(data["tune_params"])
        space = ConfigSpace()
        for p in params:
            space.define_knob(p, list(data["tune_params"][p]))
        self.table: Dict[str, Any] = {}
        for key, entry in data["cache"].items():
            t = entry.get("time")
            self.table[key] = float(t) / 1e3 if isinstance(t, (int, float)) and math.isfinite(t) else str(t)
        space.add_constraint(_ValidConfig(frozenset(self.table)))
        self.config_space = space
        self.name = f"kt_{data.get('kernel_name', os.path.basename(path))}"
        self.args = (os.path.relpath(path, DATA_DIR),)
        self.target = data.get("device_name", "gpu")
        self.flop = 0.0
        ok = [v for v in self.table.values() if isinstance(v, float)]
        self.optimum = min(ok)
        self.n_valid = len(self.table)


class ReplayMeasure:
    """``MeasureBatch`` answering with the recorded time (failures as errors)."""

    n_parallel = 8

    def __init__(self, task: ReplayTask):
        self.task = task

    def measure_batch(self, inputs: Sequence[Any]) -> List[MeasureResult]:
        out = []
        for inp in inputs:
            v = self.task.table.get(_key(inp.config))
            if isinstance(v, float):
                out.append(MeasureResult((v,), MeasureErrorNo.NO_ERROR, v, 0.0))
            else:
                code = MeasureErrorNo.COMPILE_DEVICE if v == "CompilationFailedConfig" \
                    else MeasureErrorNo.RUNTIME_DEVICE
                out.append(MeasureResult((str(v),), code, 0.0, 0.0))
        return out


def run_one(task: ReplayTask, tuner_label: str, seed: int, n_trial: int) -> Dict[str, Any]:
    name, kw = TUNERS[tuner_label]
    tuner = create_tuner(name, task, seed=seed, **kw)
    t0 = time.perf_counter()
    summary = tuner.tune(n_trial, ReplayMeasure(task))
    elapsed = time.perf_counter() - t0
    best_so_far, best = [], 0.0
    for _, thr, _ in summary.history:
        best = max(best, thr)
        best_so_far.append(best * task.optimum)  # throughput is 1/s: this is a quality in [0, 1]
    reach = next((i + 1 for i, q in enumerate(best_so_far) if q >= TARGET_QUALITY), None)
    return {"tuner": tuner_label, "seed": seed, "quality": best_so_far, "trials_to_target": reach,
            "tuner_seconds": summary.tuner_time, "seconds": elapsed,
            "epsilons": list(getattr(tuner, "epsilon_history", []))}


def _median(xs: Sequence[float]) -> float:
    return float(np.median(xs)) if len(xs) else float("nan")


def summarise(runs: List[Dict[str, Any]], n_trial: int) -> Dict[str, Dict[str, float]]:
    out: Dict[str, Dict[str, float]] = {}
    for label in TUNERS:
        mine = [r for r in runs if r["tuner"] == label]
        if not mine:
            continue
        row = {}
        for c in CHECKPOINTS:
            if c <= n_trial:
                row[f"q@{c}"] = _median([r["quality"][min(c, len(r["quality"])) - 1] for r in mine])
        # a run that never reached the target counts as needing one more trial than the budget
        row["trials_to_95"] = _median([r["trials_to_target"] or n_trial + 1 for r in mine])
        row["tuner_s"] = _median([r["tuner_seconds"] for r in mine])
        out[label] = row
    return out


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 files x 2 seeds")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--json", default=None, help="write raw numbers here")
    args = ap.parse_args(list(argv))
    files = FILES[::2] if args.quick else FILES
    n_seeds = args.seeds or (2 if args.quick else 5)
    report: Dict[str, Any] = {"trials": args.trials, "seeds": n_seeds, "files": {}}
    lines = ["| file | tuner | " + " | ".join(f"quality@{c}" for c in CHECKPOINTS if c <= args.trials)
             + " | trials to 95% | tuner s |", "|" + " --- |" * (3 + len(CHECKPOINTS))]
    ratio_lines = ["| file | quality@100 ours/baseline | quality@200 ours/baseline "
                   "| trials-to-95% baseline/ours |", "| --- | --- | --- | --- |"]
    for rel in files:
        path = os.path.join(DATA_DIR, rel)
        task = ReplayTask(path)
        runs = [run_one(task, label, seed, args.trials) for label in TUNERS for seed in range(n_seeds)]
        summ = summarise(runs, args.trials)
        report["files"][rel] = {"n_valid": task.n_valid, "n_configs": len(task.config_space),
                                "optimum_seconds": task.optimum, "summary": summ, "runs": runs}
        for label, row in summ.items():
            qs = " | ".join(f"{row[f'q@{c}']:.3f}" for c in CHECKPOINTS if c <= args.trials)
            lines.append(f"| {rel} | {label} | {qs} | {row['trials_to_95']:.0f} | {row['tuner_s']:.1f} |")
        o, b = summ[OURS], summ[BASELINE]
        ratios = {k: o[k] / b[k] for k in o if k.startswith("q@") and b[k] > 0}
        ratios["trials_to_95_speedup"] = b["trials_to_95"] / o["trials_to_95"]
        report["files"][rel]["ratios"] = ratios
        ratio_lines.append(f"| {rel} | {ratios.get('q@100', float('nan')):.3f} | "
                           f"{ratios.get('q@200', float('nan')):.3f} | {ratios['trials_to_95_speedup']:.2f} |")
    speedups = [f["ratios"]["trials_to_95_speedup"] for f in report["files"].values()]
    report["median_trials_to_95_speedup"] = _median(speedups)
    print(f"Replay of {len(files)} exhaustive Kernel Tuner spaces, {n_seeds} seeds, "
          f"{args.trials} trials; medians over seeds; quality = optimum time / best found.\n")
    print("\n".join(lines))
    print("\nOurs (rfei) against the AutoTVM baseline (xgb):\n")
    print("\n".join(ratio_lines))
    print(f"\nmedian trials-to-95% speedup over files: {report['median_trials_to_95_speedup']:.2f}x "
          "(runs that never reach 95% count as budget + 1)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

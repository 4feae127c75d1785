"""ApproxTuner ("rfei": two forests, EHVI by default) against OpenTuner, GA and random search.

Two applications whose whole Pareto front is known by enumeration:

* ``digits`` -- the int8 digits MLP (:class:`adatune.approx.digits.DigitsApp`, 3 layers
  x 12 multipliers = 1728 configs), tuner threshold = baseline tune accuracy - 2 points;
* ``synthetic`` -- :class:`adatune.approx.synthetic.SyntheticApp` (6 operators x 6
  knobs = 46656 configs), absolute threshold 95.

For every tuner and seed, the same evaluation budget; after each evaluation the
hypervolume (reference point: (threshold, speedup 1)) of the measured configs that
clear the threshold is compared with the reference front's. Reported: evaluations to
reach 95 % of the reference hypervolume (the baseline measurement counts as the first;
a run that never reaches it counts as +inf in the median; a median of +inf is written
as null), evaluations to 90 % (a secondary figure), the hypervolume fraction when the
run ends (runs stop once they reach 95 %), and the test-QoS drop (tune QoS - test QoS)
of the reported configs (the front the tuner returns).

OpenTuner (the engine predtuner uses) runs in a separate interpreter, because
opentuner 0.8.8 is not clean on this project's SQLAlchemy 2 pin: it runs in a venv with
``SQLAlchemy<2``, driven ask/tell (``TuningRunManager``) through this script's
``--opentuner-worker`` mode over pipes, with predtuner's objective
(``ThresholdAccuracyMinimizeTime``) and one ``EnumParameter`` per operator. Configs it
proposes again are answered from the cache and not counted.

Reproduce::

    python3 -m venv /tmp/ot_venv && /tmp/ot_venv/bin/pip install opentuner "SQLAlchemy<2"
    python bench/approx.py --quick --json approx.json          # < 10 min on 2 cores
    python bench/approx.py --tuners rfei,opentuner --seeds 20 --json approx_full.json  # budget 500
    python bench/approx.py --tuners rfei --seeds 20 --rfei-kwargs '{"acquisition": "cei"}'  # ablation
    # --opentuner-python PATH (or $ADATUNE_OPENTUNER_PYTHON) picks the OpenTuner venv
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

_DEFAULT_OT_PYTHON = "/tmp/ot_venv/bin/python"


# --------------------------------------------------------------------------- OpenTuner worker
def _opentuner_worker() -> None:
    """Runs under the OpenTuner interpreter: ask/tell over stdin/stdout JSON lines."""
    import logging
    import random
    import warnings

    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    spec = json.loads(sys.stdin.readline())
    random.seed(spec["seed"])
    try:
        import numpy

        numpy.random.seed(spec["seed"])
    except ImportError:
        pass
    import opentuner
    from opentuner.api import TuningRunManager
    from opentuner.measurement.inputmanager import FixedInputManager
    from opentuner.measurement.interface import DefaultMeasurementInterface
    from opentuner.resultsdb.models import Result
    from opentuner.search.manipulator import ConfigurationManipulator, EnumParameter
    from opentuner.search.objective import ThresholdAccuracyMinimizeTime

    args = opentuner.default_argparser().parse_args([])
    args.database = "sqlite://"  # in memory
    args.no_dups = True
    args.parallelism = 1
    manip = ConfigurationManipulator()
    for op, choices in spec["params"]:
        manip.add_parameter(EnumParameter(op, choices))
    iface = DefaultMeasurementInterface(args=args, manipulator=manip, project_name="adatune", program_name="approx",
                                        program_version="1",
                                        objective=ThresholdAccuracyMinimizeTime(spec["threshold"]),
                                        input_manager=FixedInputManager())
    api = TuningRunManager(iface, args)
    out = sys.stdout
    while True:
        dr = None
        for _ in range(200):
            dr = api.get_next_desired_result()
            if dr is not None:
                break
        out.write(json.dumps({"config": None if dr is None else dr.configuration.data}) + "\n")
        out.flush()
        line = sys.stdin.readline()
        if not line or dr is None:
            break
        res = json.loads(line)
        api.report_result(dr, Result(time=res["cost"], accuracy=res["qos"]))
    api.finish()


def _opentuner_python(arg: str | None) -> str | None:
    """An interpreter that can run the worker, or None."""
    cands = [arg, os.environ.get("ADATUNE_OPENTUNER_PYTHON"), _DEFAULT_OT_PYTHON, sys.executable]
    for py in cands:
        if not py or not os.path.exists(py):
            continue
        r = subprocess.run([py, "-c", "import opentuner.api, sqlalchemy; print(sqlalchemy.__version__)"],
                           capture_output=True, text=True)
        if r.returncode == 0:
            return py
    return None


def _make_opentuner_search(py: str):
    from adatune.approx.search import SearchStrategy

    class OpenTunerSearch(SearchStrategy):
        """Proposes what an OpenTuner worker process asks for, one config at a time."""

        def __init__(self, space, threshold, rng, baseline_qos=None, app_name="approx"):
            super().__init__(space, threshold, rng)
            names = list(space.knobs)
            params = [[n, list(range(len(space.knobs[n])))] for n in names]
            self._names = names
            self._known = {}
            self._proc = subprocess.Popen([py, os.path.abspath(__file__), "--opentuner-worker"],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL, text=True)
            self._send({"params": params, "threshold": float(threshold), "seed": int(rng.integers(2 ** 31))})
            self._waiting = False

        def _send(self, obj):
            self._proc.stdin.write(json.dumps(obj) + "\n")
            self._proc.stdin.flush()

        def _ask(self):
            line = self._proc.stdout.readline()
            if not line:
                return None
            cfg = json.loads(line)["config"]
            if cfg is None:
                return None
            return self.space.from_digits([int(cfg[n]) for n in self._names])

        def propose(self, n):
            for _ in range(10_000):
                idx = self._ask()
                if idx is None:
                    return []
                if idx in self._known:  # a repeat: answer from the cache, not counted
                    q, s = self._known[idx]
                    self._send({"qos": q, "cost": 1.0 / s})
                    continue
                self._pending = idx
                self.visited.add(idx)
                return [idx]
            return []

        def observe(self, indices, qos, speedup):
            for i, q, s in zip(indices, qos, speedup):
                self._known[int(i)] = (float(q), float(s))
                if getattr(self, "_pending", None) == int(i):
                    self._send({"qos": float(q), "cost": 1.0 / float(s)})
                    self._pending = None

        def close(self):
            try:
                self._proc.stdin.close()
            except OSError:
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()

    return OpenTunerSearch


# --------------------------------------------------------------------------- the benchmark
def _reference(app_name: str):
    """(app, tuner threshold kwargs, threshold value, reference front points)."""
    import numpy as np

    from adatune.approx import pareto_front, Config

    if app_name == "synthetic":
        from adatune.approx.synthetic import SyntheticApp

        app = SyntheticApp(n_ops=6, n_knobs=6, seed=0)
        thr = 95.0
        front = app.reference_front(min_qos=thr)
        return app, dict(qos_tuner_threshold=thr), thr, np.array([[c.qos, c.speedup] for c in front])
    import itertools

    from adatune.approx.digits import DigitsApp

    app = DigitsApp()
    base_qos = app.measure_qos_cost(app.baseline_config, False)[0]
    thr = base_qos - 2.0
    configs = []
    for combo in itertools.product(*[[k.name for k in app.op_knobs[op]] for op in app.ops]):
        knobs = dict(zip(app.ops, combo))
        q, c = app.measure_qos_cost(knobs, False)
        if q >= thr:
            configs.append(Config(q, c, knobs))
    front = pareto_front(configs)
    return app, dict(qos_tuner_threshold=2.0, is_threshold_relative=True), thr, \
        np.array([[c.qos, c.speedup] for c in front])


def _run_one(app, tkw, thr, ref_hv, tuner, budget, seed, tuner_kwargs=None):
    import numpy as np

    from adatune.approx import ApproxTuner, hypervolume

    t = ApproxTuner(app, progress=False)
    t0 = time.time()

    def reached(tu):  # stop a run once it has reached 95%: saves time, changes no count
        pts_ = np.array([[c.qos, c.speedup] for c in tu.all_configs])
        return hypervolume(pts_, (thr, 1.0)) >= 0.95 * ref_hv

    try:
        t.tune(budget, seed=seed, tuner=tuner, stop_when=reached, tuner_kwargs=tuner_kwargs, **tkw)
    finally:
        if t.search is not None and hasattr(t.search, "close"):
            t.search.close()
    wall = time.time() - t0
    pts = np.array([[c.qos, c.speedup] for c in t.all_configs])
    reach, reach90 = None, None
    for n in range(1, len(pts) + 1):
        hv = hypervolume(pts[:n], (thr, 1.0))
        if reach90 is None and hv >= 0.90 * ref_hv:
            reach90 = n
        if hv >= 0.95 * ref_hv:
            reach = n
            break
    final = hypervolume(pts, (thr, 1.0)) / ref_hv
    drops = [c.qos - c.test_qos for c in t.best_configs_prefilter if c.test_qos is not None]
    failed = sum(c.test_qos < t.test_keep_threshold for c in t.best_configs_prefilter if c.test_qos is not None)
    return {"evals_to_95pct_hv": reach, "evals_to_90pct_hv": reach90, "hv_frac_at_end": final, "n_evals": len(pts),
            "test_qos_drop_mean": float(np.mean(drops)) if drops else 0.0,
            "n_reported": len(drops), "n_fail_test": int(failed), "wall_s": wall}


def _table(results: dict, tuners: list) -> str:
    """The markdown table; a ratio against a baseline that never reached 95 % within the
    budget is an upper bound (``<``)."""
    import math

    seeds = results["seeds"]
    base = "opentuner" if "opentuner" in tuners else ("random" if "random" in tuners else tuners[-1])
    lines = [f"{seeds} seeds; evaluations to 95% of the reference front's hypervolume (median over seeds; "
             f"inf = not reached within the budget by most seeds)", "",
             f"| app | budget | tuner | evals to 95% HV | reached | ratio vs {base} | evals to 90% HV | "
             f"HV at end | test-QoS drop | s/run |", "|---|---|---|---|---|---|---|---|---|---|"]
    for app_name, a in results["apps"].items():
        def ev(x):  # None (strict JSON for "not reached") reads as +inf
            return math.inf if x is None else float(x)

        b = ev(a["tuners"][base]["evals_to_95pct_hv"])
        for tn, r in a["tuners"].items():
            e = ev(r["evals_to_95pct_hv"])
            if math.isfinite(e) and math.isfinite(b):
                ratio = f"{e / b:.2f}"
            elif math.isfinite(e):
                ratio = f"< {e / a['budget']:.2f}"
            else:
                ratio = "n/a"
            e90 = ev(r.get("evals_to_90pct_hv"))
            lines.append(f"| {app_name} | {a['budget']} | {tn} | {e:g} | {r['n_reached']}/{seeds} | {ratio} | "
                         f"{e90:g} | {r['hv_frac_at_end']:.3f} | {r['test_qos_drop']:.3f} | {r['wall_s']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="10 seeds, smaller budgets (< 10 min)")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--apps", default="synthetic,digits")
    ap.add_argument("--tuners", default="rfei,opentuner,ga,random")
    ap.add_argument("--json", default=None, help="write raw numbers here")
    ap.add_argument("--opentuner-python", default=None)
    ap.add_argument("--rfei-kwargs", default=None,
                    help='JSON constructor arguments of the rfei search, e.g. \'{"acquisition": "cei"}\'')
    ap.add_argument("--opentuner-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--table-from", default=None, help="print the table of an earlier --json file and exit")
    args = ap.parse_args()
    if args.opentuner_worker:
        _opentuner_worker()
        return
    if args.table_from:
        with open(args.table_from) as f:
            res = json.load(f)
        print(_table(res, list(next(iter(res["apps"].values()))["tuners"])))
        return
    import numpy as np

    seeds = args.seeds or 10
    budgets = {"synthetic": 200, "digits": 200} if args.quick else {"synthetic": 500, "digits": 500}
    tuners = [t.strip() for t in args.tuners.split(",") if t.strip()]
    ot_py = _opentuner_python(args.opentuner_python) if "opentuner" in tuners else None
    if "opentuner" in tuners and ot_py is None:
        print("OpenTuner unavailable (no interpreter imports opentuner); skipped", file=sys.stderr)
        tuners.remove("opentuner")
    try:
        rfei_kw = json.loads(args.rfei_kwargs) if args.rfei_kwargs else {}
    except json.JSONDecodeError as e:
        ap.error(f"--rfei-kwargs: not JSON ({e})")
    if not isinstance(rfei_kw, dict):
        ap.error(f"--rfei-kwargs: expected a JSON object, got {args.rfei_kwargs!r}")
    results = {"budgets": budgets, "seeds": seeds, "opentuner_python": ot_py, "rfei_kwargs": rfei_kw, "apps": {}}
    for app_name in [a.strip() for a in args.apps.split(",") if a.strip()]:
        t0 = time.time()
        app, tkw, thr, front = _reference(app_name)
        from adatune.approx import hypervolume

        ref_hv = hypervolume(front, (thr, 1.0))
        print(f"# {app_name}: threshold {thr:.3f}, reference front {len(front)} points, HV {ref_hv:.4f} "
              f"({time.time() - t0:.1f} s)", file=sys.stderr)
        per = {}
        for tn in tuners:
            tuner = _make_opentuner_search(ot_py) if tn == "opentuner" else tn
            if tn == "opentuner":
                # OpenTuner's time is spent in its own process (its SQL bookkeeping):
                # two runs at a time keep both cores busy while this one waits on pipes.
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(2) as pool:
                    runs = list(pool.map(lambda s: _run_one(app, tkw, thr, ref_hv, tuner, budgets[app_name], s),
                                         range(seeds)))
            else:
                runs = [_run_one(app, tkw, thr, ref_hv, tuner, budgets[app_name], s,
                                 tuner_kwargs=rfei_kw if tn == "rfei" else None) for s in range(seeds)]
            reach = [r["evals_to_95pct_hv"] for r in runs]
            finite = [np.inf if r is None else r for r in reach]
            med = float(np.median(finite))
            med90 = float(np.median([np.inf if r["evals_to_90pct_hv"] is None else r["evals_to_90pct_hv"]
                                     for r in runs]))
            per[tn] = {"runs": runs, "evals_to_95pct_hv": med if np.isfinite(med) else None,
                       "evals_to_90pct_hv": med90 if np.isfinite(med90) else None,
                       "n_reached": sum(r is not None for r in reach),
                       "hv_frac_at_end": float(np.median([r["hv_frac_at_end"] for r in runs])),
                       "test_qos_drop": float(np.median([r["test_qos_drop_mean"] for r in runs])),
                       "wall_s": float(np.median([r["wall_s"] for r in runs]))}
            print(f"#   {tn}: median evals {med:g}, reached {per[tn]['n_reached']}/{seeds}, "
                  f"{per[tn]['wall_s']:.1f} s/run", file=sys.stderr)
        results["apps"][app_name] = {"threshold": thr, "reference_front_size": int(len(front)),
                                     "reference_hv": ref_hv, "budget": budgets[app_name], "tuners": per}
    print(_table(results, tuners))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=float)
        print(f"\nraw numbers: {args.json}")


if __name__ == "__main__":
    main()

"""Whole models: PyTorch, ONNX Runtime, TVM untuned, MetaSchedule and adatune, one run.

For each model (bench/model_zoo.py: ResNet-18, MobileNetV2, a 4-layer BERT-base-like
encoder; batch 1, fp32, random weights built here), in one process:

* **pytorch** -- eager, ``torch.set_num_threads(<CPUs>)``, in a child process of its
  own (which also builds the model and exports the ONNX file): once torch has run in a
  process, its OpenMP threads keep spinning and took TVM's models there from 11.4 to
  20.2 ms (ResNet-18), and ``OMP_WAIT_POLICY=PASSIVE``, which stops that, slowed
  PyTorch itself 1.4-2.5x. Its runs are timed while this process waits;
* **onnxruntime** -- the exported ONNX model, CPU provider, ``intra_op_num_threads``
  = CPUs;
* **tvm-untuned** -- the model lowered by Relax's ``zero`` pipeline and built as is
  (naive serial loops; timed over fewer runs: one run takes seconds);
* **metaschedule** -- TVM's default ``ms.relax_integration.tune_relax`` on the same
  lowered module with budget B (its ``LocalBuilder``, ``LocalRunner``, XGBoost cost
  model, evolutionary search, gradient task scheduler), then
  ``MetaScheduleApplyDatabase``; ``num_trials_per_iter`` is ``B / tasks`` (4 to 64)
  instead of 64, so that its warm-up round reaches every task: with 64, a budget of 192
  tunes three of ResNet-18's tasks and leaves the others naive serial loops. Its ``LocalBuilder``
  imports ``tvm.s_tir.tensor_intrin`` in every fresh worker and times out at 30 s on
  these machines; when it builds nothing, the run says so and MetaSchedule is run again
  with ``adatune.metaschedule.FastBuilder`` (everything else default) as
  **metaschedule+fb**, the baseline the ratios use;
* **adatune** -- ``adatune.tune_model`` with the same budget B (trials), with
  checkpoints (the model built and timed at 1/8, 1/4, 1/2, 3/4 and all of B; that time
  is not counted as tuning time); its default layout (channels-last, converted once);
* **adatune_long** (``--long-trials L``) -- the same run resumed up to L trials (the
  first B are not measured again; tuning time is both runs'), with checkpoints at
  quarters of the way, and the tuning time at which it reached 1.0x and 1.25x ONNX
  Runtime's latency.

MetaSchedule and untuned TVM get the model in its own layout (NCHW), as a TVM user runs
them. Per-layer tables: the tuned model's slowest kernels (``TunedModel.layers()``:
ms per run, GFLOPS, share of the machine's 500 GFLOPS fp32 peak) and the time by
operator class (convolutions, matrix products, the rest) against ONNX Runtime's own
profiler on the same model.

Latencies are medians over ``--repeat`` (default 50) runs, interleaved: round after
round, a block of 5 runs of each system, with a 0.3 s pause between blocks so that no
system's spinning thread pool slows the next (untuned TVM: ``--untuned-repeat`` runs). Also reported: each tuning
run's wall time; ``time_to_metaschedule_final_ratio``, adatune's tuning time to reach
MetaSchedule's final latency (from its checkpoints, linearly interpolated) over
MetaSchedule's tuning time ("inf" if never reached); speed-ups over untuned TVM;
adatune's and MetaSchedule's outputs against ONNX Runtime's (max relative error); and a
PNG of end-to-end latency against tuning time.

Reproduce::

    pip install -e '.[models]'        # onnxruntime and the CPU build of torch 2.13.0
    python bench/models.py --quick --json models_quick.json --plot models_quick.png   # < 20 min
    python bench/models.py --trials 192 --json models.json --plot models.png
    python bench/models.py --trials 192 --long-trials 3000 --skip-metaschedule --json long.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "python"))
sys.path.insert(0, HERE)

os.environ.setdefault("TVM_NUM_THREADS", str(os.cpu_count() or 1))


#: Seconds between two systems' blocks of timed runs (longer than their threads spin).
PAUSE_S = 0.3


def _median_ms(times):
    return statistics.median(times) * 1e3


def _rel_err(a, b):
    import numpy as np

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def _metaschedule(lowered, target, work_dir, trials, builder, per_iter, reuse=None):
    """Tune with MetaSchedule's tune_relax; (tuned executable or None, seconds, valid).
    ``reuse=(dir, seconds)``: the finished database of an earlier run of the same
    tuning (same model, budget and settings) and the seconds it took, instead of tuning."""
    import tvm
    import tvm.s_tir.meta_schedule as ms
    from tvm import relax
    from tvm.s_tir.meta_schedule.relax_integration import tune_relax

    from adatune.model.build import compile_model

    t0 = time.time()
    if reuse is not None:
        work_dir, seconds = reuse
        db = ms.database.JSONDatabase(work_dir=work_dir)
    else:
        kwargs = {} if builder is None else {"builder": builder}
        db = tune_relax(lowered, {}, target, work_dir, trials, num_trials_per_iter=per_iter, **kwargs)
        seconds = time.time() - t0
    valid = sum(1 for r in db.get_all_tuning_records() if r.run_secs and all(float(s) < 1e9 for s in r.run_secs))
    if valid == 0:
        return None, seconds, 0
    with target, db:
        applied = relax.transform.MetaScheduleApplyDatabase(work_dir)(lowered)
    return compile_model(applied, target), seconds, valid


def run_model(name, trials, repeat, untuned_repeat, work_root, skip_ms=False, long_trials=0, reuse_ms=None):
    import numpy as np
    import onnxruntime as ort
    import tvm
    from tvm import relax

    import adatune
    from adatune.model import import_model
    from adatune.model.build import compile_model, lower_model
    from adatune.task import as_target

    cores = os.cpu_count() or 1
    target = as_target("llvm")
    work = os.path.join(work_root, name)
    os.makedirs(work, exist_ok=True)
    child = subprocess.run([sys.executable, os.path.abspath(__file__), "--pytorch-child", name, work,
                            str(repeat)], check=True, capture_output=True, text=True)
    torch_res = json.loads(child.stdout.strip().splitlines()[-1])
    onnx_path = torch_res["onnx"]
    x = np.load(os.path.join(work, "x.npy"))
    torch_out = np.load(os.path.join(work, "y_pytorch.npy"))
    out = {"model": name, "trials": trials, "cores": cores, "target": str(target)}

    # ---- references
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = cores
    sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    ort_out = sess.run(None, {"x": x})[0]
    out["pytorch_vs_onnxruntime_rel_err"] = _rel_err(torch_out, ort_out)

    imported = import_model(onnx_path)
    # The baselines as a TVM user runs them: the model's own layout (NCHW), Relax's zero
    # pipeline; adatune converts to channels-last itself.
    lowered = lower_model(imported.mod, target, layout="NCHW")
    dev = tvm.cpu()
    untuned = relax.VirtualMachine(compile_model(lowered, target), dev)
    xt = tvm.runtime.tensor(x, device=dev)

    # ---- MetaSchedule
    ms_vm = None
    if not skip_ms:
        from adatune.metaschedule import FastBuilder

        from tvm.s_tir.meta_schedule.relax_integration import extract_tasks

        n_tasks = len(extract_tasks(lowered, target))
        # MetaSchedule's defaults, except that its 64 trials per task iteration shrink so
        # that its warm-up round reaches every task within the budget (with 64, a budget
        # of 192 tunes 3 of ResNet-18's tasks and leaves the rest naive loops).
        per_iter = max(4, min(64, trials // max(1, n_tasks)))
        out["metaschedule_settings"] = {"num_trials_per_iter": per_iter, "tasks": n_tasks,
                                        "max_trials_global": trials}
        exe, secs, valid = _metaschedule(lowered, target, os.path.join(work, "ms_default"), trials, None,
                                         per_iter, reuse=reuse_ms)
        out["metaschedule_default"] = {"tuning_seconds": secs, "valid_records": valid,
                                       "builder_failed": exe is None,
                                       "reused_database": reuse_ms[0] if reuse_ms else None}
        label = "metaschedule"
        if exe is None:
            print(f"{name}: MetaSchedule's default LocalBuilder built nothing in {secs:.0f} s; "
                  f"running it again with FastBuilder", flush=True)
            fb = FastBuilder()
            try:
                exe, secs, valid = _metaschedule(lowered, target, os.path.join(work, "ms_fb"), trials, fb,
                                                 per_iter)
            finally:
                fb.close()
            label = "metaschedule+fb"
            out["metaschedule_fb"] = {"tuning_seconds": secs, "valid_records": valid}
        out["metaschedule_label"] = label
        out["metaschedule_tuning_seconds"] = secs
        if exe is not None:
            ms_vm = relax.VirtualMachine(exe, dev)

    # ---- adatune: the same budget as MetaSchedule, then (--long-trials) resumed further
    fractions = (8, 4, 2, 4 / 3, 1)
    checkpoints = sorted({max(1, int(round(trials / f))) for f in fractions})
    ada_dir = os.path.join(work, "adatune")
    tuned = adatune.tune_model(onnx_path, target=target, work_dir=ada_dir, trials=trials, seed=0,
                               checkpoints=checkpoints)
    report = tuned.report()
    out["adatune_tuning_seconds"] = report["tuning_seconds"]
    out["adatune_curve"] = report.get("curve", [])
    out["adatune_tasks"] = report["tasks"]
    out["adatune_fell_back"] = report["fell_back"]
    out["adatune_layers"] = report.get("layers", [])
    long_tuned = None
    if long_trials and long_trials > trials:
        steps = sorted({int(round(trials + (long_trials - trials) * f)) for f in (0.25, 0.5, 0.75, 1.0)})
        long_tuned = adatune.tune_model(onnx_path, target=target, work_dir=ada_dir, trials=long_trials,
                                        seed=0, checkpoints=steps)
        long_report = long_tuned.report()
        # Tuning time of the long run: the first run's plus the resumed run's own.
        offset = report["tuning_seconds"]
        out["adatune_long"] = {"trials": long_trials, "tuning_seconds": offset + long_report["tuning_seconds"],
                               "curve": out["adatune_curve"] + [[n, offset + s_, ms] for n, s_, ms in
                                                                long_report.get("curve", [])],
                               "tasks": long_report["tasks"], "fell_back": long_report["fell_back"]}
        out["adatune_layers"] = long_report.get("layers", [])
    out["onnxruntime_op_ms"] = _ort_op_profile(onnx_path, x, cores)

    # ---- interleaved latencies
    systems = {
        "onnxruntime": lambda: sess.run(None, {"x": x}),
        "adatune": lambda: tuned._vm["main"](xt),
    }
    if long_tuned is not None:
        systems["adatune_long"] = lambda: long_tuned._vm["main"](xt)
    if ms_vm is not None:
        systems["metaschedule"] = lambda: ms_vm["main"](xt)
    times = {k: [] for k in systems}
    block = 5
    for f in systems.values():
        f()
    # Round by round, a block of runs per system, with a pause between blocks: the
    # systems' thread pools spin after work (ONNX Runtime, TVM), and a pool still
    # spinning would slow the next system down.
    for _ in range(max(1, math.ceil(repeat / block))):
        for k, f in systems.items():
            time.sleep(PAUSE_S)
            for _ in range(block):
                t0 = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t0)
    untuned_times = []
    for _ in range(untuned_repeat):
        t0 = time.perf_counter()
        untuned["main"](xt)
        untuned_times.append(time.perf_counter() - t0)
    lat = {k: _median_ms(v) for k, v in times.items()}
    lat["pytorch"] = torch_res["ms"]
    lat["tvm_untuned"] = _median_ms(untuned_times)
    out["latency_ms"] = lat
    out["repeat"] = {"interleaved": repeat, "tvm_untuned": untuned_repeat}
    out["tuning_seconds"] = {"adatune": out["adatune_tuning_seconds"],
                             "metaschedule": out.get("metaschedule_tuning_seconds")}
    out["speedup_vs_untuned"] = {k: lat["tvm_untuned"] / v for k, v in lat.items() if k != "tvm_untuned"}
    out["adatune_vs_onnxruntime"] = lat["adatune"] / lat["onnxruntime"]
    if long_tuned is not None:
        out["adatune_long_vs_onnxruntime"] = lat["adatune_long"] / lat["onnxruntime"]
        out["adatune_long"]["time_to_onnxruntime_ratio"] = {
            str(bar): _seconds_to(out["adatune_long"]["curve"], bar * lat["onnxruntime"])
            for bar in (1.0, 1.25)}
    out["rel_err_vs_onnxruntime"] = {"adatune": _rel_err(tuned.run(x)[0], ort_out)}
    if ms_vm is not None:
        from adatune.model.build import run_model as _run

        out["rel_err_vs_onnxruntime"]["metaschedule"] = _rel_err(_run(ms_vm, [x], dev)[0], ort_out)
        out["adatune_vs_metaschedule"] = lat["adatune"] / lat["metaschedule"]
        out["time_to_metaschedule_final_ratio"] = _time_to(out["adatune_curve"], lat["metaschedule"],
                                                           out["metaschedule_tuning_seconds"])
    return out


def _seconds_to(curve, target_ms):
    """adatune's tuning seconds to reach ``target_ms`` (interpolated between its
    checkpoints); inf if never reached."""
    prev = None
    for trials, seconds, ms in curve:
        if ms <= target_ms:
            if prev is None:
                return seconds
            (_, s0, m0) = prev
            frac = (m0 - target_ms) / (m0 - ms) if m0 > ms else 1.0
            return s0 + frac * (seconds - s0)
        prev = (trials, seconds, ms)
    return math.inf


def _time_to(curve, target_ms, ms_seconds):
    """:func:`_seconds_to` over MetaSchedule's tuning seconds."""
    return _seconds_to(curve, target_ms) / ms_seconds


#: ONNX Runtime operator types by class, for the per-layer comparison.
_ORT_CLASSES = {"conv": ("Conv", "FusedConv"), "matmul": ("MatMul", "Gemm", "FusedMatMul", "FusedGemm")}


def _op_class(name):
    """``conv``, ``matmul`` or ``other`` for a kernel name or an ONNX Runtime op type."""
    for cls, ops in _ORT_CLASSES.items():
        if name in ops:
            return cls
    low = name.lower()
    if "conv" in low:
        return "conv"
    if "matmul" in low or "dense" in low:
        return "matmul"
    return "other"


def _ort_op_profile(onnx_path, x, cores, runs=20):
    """ONNX Runtime's milliseconds per run by operator type (its own profiler, in a
    session of its own so that profiling does not touch the timed session)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = cores
    opts.enable_profiling = True
    opts.profile_file_prefix = os.path.join(os.path.dirname(onnx_path), "ort_profile")
    sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
    for _ in range(runs + 1):
        sess.run(None, {"x": x})
    path = sess.end_profiling()
    with open(path) as f:
        events = json.load(f)
    starts = sorted(e["ts"] for e in events if e.get("name") == "model_run")
    by_op = {}
    if len(starts) < 2:
        return by_op
    first = starts[1]  # the first run pays for allocations: left out
    n = len(starts) - 1
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time") and e["ts"] >= first:
            op = e.get("args", {}).get("op_name", "?")
            by_op[op] = by_op.get(op, 0.0) + e["dur"] / 1e3 / n
    return by_op


#: fp32 peak of the benchmark machine (2 Zen 5 cores, two 512-bit FMA pipes each).
PEAK_GFLOPS = 500.0


def _layer_tables(r):
    """Markdown: adatune's slowest kernels (GFLOPS, share of peak) and time by operator
    class against ONNX Runtime's."""
    lines = [f"\n#### {r['model']}: slowest kernels of the tuned model", "",
             "| kernel | task | calls | ms / run | GFLOPS | % of peak |", "|---|---|---:|---:|---:|---:|"]
    for row in r.get("adatune_layers", [])[:12]:
        g = row.get("gflops")
        lines.append(f"| {row['kernel']} | {row['task'] if row['task'] != row['kernel'] else row['kind']} | "
                     f"{row['calls']} | {row['ms']:.3f} | {f'{g:.0f}' if g else '-'} | "
                     f"{f'{100 * g / PEAK_GFLOPS:.0f}' if g else '-'} |")
    ours, flops = {}, {}
    for row in r.get("adatune_layers", []):
        cls = _op_class(row["kernel"])
        ours[cls] = ours.get(cls, 0.0) + row["ms"]
        flops[cls] = flops.get(cls, 0.0) + (row.get("flop") or 0.0)
    theirs = {}
    for op, ms in r.get("onnxruntime_op_ms", {}).items():
        theirs[_op_class(op)] = theirs.get(_op_class(op), 0.0) + ms
    lines += ["", f"#### {r['model']}: time by operator class (profiled, ms per run)", "",
              "| class | ONNX Runtime | adatune | adatune GFLOPS | ONNX Runtime GFLOPS |", "|---|---:|---:|---:|---:|"]
    for cls in ("conv", "matmul", "other"):
        a, o, f = ours.get(cls, 0.0), theirs.get(cls, 0.0), flops.get(cls, 0.0)
        ga = f"{f / a / 1e6:.0f}" if f and a else "-"
        go = f"{f / o / 1e6:.0f}" if f and o else "-"
        lines.append(f"| {cls} | {o:.3f} | {a:.3f} | {ga} | {go} |")
    return "\n".join(lines)


def _plain(value):
    """JSON-able: infinities as "inf" (strict JSON has none), other objects as text."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5 * len(results), 4), squeeze=False)
    for ax, r in zip(axes[0], results):
        curve = r.get("adatune_curve") or []
        if curve:
            ax.plot([c[1] for c in curve], [c[2] for c in curve], "o-", label="adatune (checkpoints)")
        lat = r["latency_ms"]
        if "metaschedule" in lat:
            ax.plot([r["metaschedule_tuning_seconds"]], [lat["metaschedule"]], "s",
                    label=f"{r.get('metaschedule_label', 'metaschedule')} (final)")
            ax.axhline(lat["metaschedule"], ls=":", color="gray")
        ax.axhline(lat["onnxruntime"], ls="--", color="green", label="ONNX Runtime")
        ax.set_yscale("log")
        ax.set_xlabel("tuning wall time (s)")
        ax.set_ylabel("end-to-end latency (ms)")
        ax.set_title(f"{r['model']}, {r['trials']} trials")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _pytorch_child(name, work, repeat):
    """In a process of its own: build the model, export it to ONNX, save an input and
    PyTorch's output, time ``repeat`` eager runs; prints one JSON line."""
    import numpy as np
    import torch

    import model_zoo

    torch.set_num_threads(os.cpu_count() or 1)
    onnx_path = model_zoo.export_onnx(name, os.path.join(work, f"{name}.onnx"))
    model, example = model_zoo.build(name)
    with torch.no_grad():
        np.save(os.path.join(work, "x.npy"), example.numpy())
        np.save(os.path.join(work, "y_pytorch.npy"), model(example).numpy())
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            model(example)
            times.append(time.perf_counter() - t0)
    print(json.dumps({"onnx": onnx_path, "ms": _median_ms(times)}))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--pytorch-child"]:
        _pytorch_child(argv[1], argv[2], int(argv[3]))
        return 0
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="resnet18,mobilenetv2,bert4")
    p.add_argument("--trials", type=int, default=192)
    p.add_argument("--repeat", type=int, default=50)
    p.add_argument("--untuned-repeat", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="one model (mobilenetv2), 64 trials")
    p.add_argument("--skip-metaschedule", action="store_true")
    p.add_argument("--reuse-metaschedule", action="append", default=[], metavar="MODEL=DIR:SECONDS",
                   help="take MODEL's MetaSchedule result from the finished database of an earlier "
                        "run of this script (its ms_default folder) and the tuning seconds it took")
    p.add_argument("--long-trials", type=int, default=0,
                   help="then resume adatune's run up to this many trials (timed as adatune_long)")
    p.add_argument("--work", default=None, help="keep the work folders here (default: a temp dir)")
    p.add_argument("--json", default=None)
    p.add_argument("--plot", default=None)
    args = p.parse_args(argv)
    if args.quick:
        args.models, args.trials = "mobilenetv2", 64
    work_root = args.work or tempfile.mkdtemp(prefix="adatune_models_")
    results = []
    for name in args.models.split(","):
        t0 = time.time()
        reuse = dict(item.split("=", 1) for item in args.reuse_metaschedule)
        reuse_ms = None
        if name in reuse:
            folder, seconds = reuse[name].rsplit(":", 1)
            reuse_ms = (folder, float(seconds))
        r = run_model(name, args.trials, args.repeat, args.untuned_repeat, work_root, args.skip_metaschedule,
                      args.long_trials, reuse_ms)
        r["bench_seconds"] = time.time() - t0
        results.append(r)
        lat = r["latency_ms"]
        print(f"\n{name}: " + ", ".join(f"{k} {v:.2f} ms" for k, v in lat.items()), flush=True)
        print(f"  tuning s: {r['tuning_seconds']}; time to MetaSchedule's final: "
              f"{r.get('time_to_metaschedule_final_ratio')}", flush=True)
    cols = ["pytorch", "onnxruntime", "tvm_untuned", "metaschedule", "adatune", "adatune_long"]
    print("\n| model | " + " | ".join(cols) + " | tuning s MS / adatune | time to MS final | adatune / ORT |")
    print("|---|" + "---:|" * (len(cols) + 3))
    for r in results:
        lat = r["latency_ms"]
        cells = [f"{lat[c]:.2f}" if c in lat else "-" for c in cols]
        ts = r["tuning_seconds"]
        ms_s = f"{ts['metaschedule']:.0f}" if ts.get("metaschedule") else "-"
        print(f"| {r['model']} | " + " | ".join(cells) + f" | {ms_s} / {ts['adatune']:.0f} | "
              f"{r.get('time_to_metaschedule_final_ratio', '-')} | {r['adatune_vs_onnxruntime']:.2f} |")
    for r in results:
        if "adatune_long" in r:
            al = r["adatune_long"]
            reach = ", ".join(f"{bar}x ORT at {s_:.0f} s" if math.isfinite(s_) else f"{bar}x ORT not reached"
                              for bar, s_ in al["time_to_onnxruntime_ratio"].items())
            print(f"{r['model']}: adatune_long {al['trials']} trials, {al['tuning_seconds']:.0f} s tuning, "
                  f"{r['adatune_long_vs_onnxruntime']:.2f}x ONNX Runtime; {reach}")
        print(_layer_tables(r))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(_plain({"results": results, "work": work_root}), f, indent=1)
    if args.plot:
        _plot(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())

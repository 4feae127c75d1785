"""Does the dense/matmul template's space hold configs as fast as numpy's matmul?

Times a handful of hand-picked configs of the ``dense`` and ``matmul`` templates at
512x512x512 float32 (and optionally a random sample of valid configs) against numpy's
``a @ b`` (OpenBLAS), and prints GFLOPS and the ratio to numpy.  numpy runs in a child
process (``adatune.measure.NumpyReference``) whose environment lacks this machine's
``OPENBLAS_CORETYPE``/``OPENBLAS_L2_SIZE`` overrides, which force AVX2 kernels at about
half speed on an AVX-512 CPU; the kernel it runs is printed with the table.

Reproduce::

    PYTHONPATH=python python bench/matmul_space_probe.py            # full
    PYTHONPATH=python python bench/matmul_space_probe.py --quick    # ~30 s
    PYTHONPATH=python python bench/matmul_space_probe.py --random 20 --conv --json probe.json
    PYTHONPATH=python python bench/matmul_space_probe.py --threads 1   # one core each

TVM's runtime thread pool starts with a single thread on these VMs (its big/little
core detection finds one "big" core), so the script sets ``TVM_NUM_THREADS`` to the
CPU count before TVM starts, as numpy's OpenBLAS uses every core too (``--threads`` sets
``OPENBLAS_NUM_THREADS``, which the numpy child inherits).

Each kernel's repeats alternate with numpy's, so both see the same background load on
a shared machine.  The table gives the ratio of medians over those pairs and the ratio
of the best runs: a busy core stalls OpenBLAS's two-thread runs far more than TVM's,
and the best-of ratio shows what each does when it gets both cores.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time


def _set_threads(argv) -> None:
    # Thread counts must be in the environment before TVM loads and the numpy child starts.
    n = None
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            n = argv[i + 1]
        elif arg.startswith("--threads="):
            n = arg.split("=", 1)[1]
    if n is not None:
        os.environ["TVM_NUM_THREADS"] = os.environ["OPENBLAS_NUM_THREADS"] = str(int(n))
    os.environ.setdefault("TVM_NUM_THREADS", str(os.cpu_count() or 1))


_set_threads(sys.argv[1:])

# (template, tile_y, tile_x, tile_k, reduce_outer, unroll_k[, pack_b])
HAND_PICKED = [
    ("dense", [-1, 1, 4], [-1, 1, 16], [-1, 4], False, False),
    ("dense", [-1, 8, 4], [-1, 4, 16], [-1, 4], False, False),
    ("dense", [-1, 16, 4], [-1, 4, 16], [-1, 128], True, False),
    ("dense", [-1, 1, 8], [-1, 1, 8], [-1, 4], False, False),
    ("dense", [-1, 4, 4], [-1, 2, 16], [-1, 8], False, True),
    ("matmul", [-1, 8, 4], [-1, 4, 16], [-1, 4], False, False, True),
    ("matmul", [-1, 1, 4], [-1, 1, 16], [-1, 4], False, False, True),
    ("matmul", [-1, 8, 4], [-1, 4, 16], [-1, 4], False, False, False),
]
QUICK = [0, 1, 5]
# ResNet-18 conv2_x layer (1x64x56x56, 64 filters 3x3, stride 1, pad 1), both layouts:
# (tile_co, tile_oh, tile_ow, tile_ci, reduce_order, unroll_kw)
RESNET_CONV = {"conv2d_nchw": (1, 64, 56, 56, 64, 3, 3, 1, 1, 1, "float32"),
               "conv2d_nhwc": (1, 56, 56, 64, 64, 3, 3, 1, 1, 1, "float32")}
CONV_PICKED = [
    ([-1, 16], [-1, 2], [-1, 2], [-1, 64], "k_ci", True),
    ([-1, 16], [-1, 1], [-1, 4], [-1, 64], "k_ci", True),
    ([-1, 32], [-1, 1], [-1, 2], [-1, 64], "k_ci", True),
    ([-1, 16], [-1, 1], [-1, 4], [-1, 16], "ci_k", False),
]
#: Pause letting spinning runtime threads go to sleep before the other library runs
#: (OpenBLAS workers spin for about 0.1 s after a call).
_SETTLE_S = 0.2


def _entity(row):
    name, ty, tx, tk, ro, uk = row[:6]
    ent = [["tile_y", "sp", ty], ["tile_x", "sp", tx], ["tile_k", "sp", tk],
           ["reduce_outer", "ot", ro], ["unroll_k", "ot", uk]]
    if name == "matmul":
        ent.append(["pack_b", "ot", row[6]])
    return {"entity": ent}


def _warm_up(call, seconds: float = 0.3) -> None:
    # The first ~0.1 s of runs are up to 2x slower (thread pools waking, clocks rising).
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        call()


def _conv_entity(row):
    names = ["tile_co", "tile_oh", "tile_ow", "tile_ci", "reduce_order", "unroll_kw"]
    return {"entity": [[k, "sp" if k.startswith("tile") else "ot", v] for k, v in zip(names, row)]}


def _numpy_timer(ref, n: int):
    """A no-arg timer of one numpy repeat of ``a @ b`` in the reference child."""
    def run() -> float:
        # The first ~0.1 s of runs are up to 2x slower (thread pools waking, clocks rising).
        ref.time_matmul(n, n, n, transpose_b=False, min_seconds=0.3)
        return ref.time_matmul(n, n, n, transpose_b=False, min_seconds=0.02)
    return run


def _prepare(task, config):
    """Build ``config``, check its answer, warm it up; returns a no-arg timer of one repeat."""
    import tvm

    lib = task.build(config)
    arrays = [tvm.runtime.tensor(a) for a in task.make_inputs(0)]
    lib(*arrays)
    if not task.check_outputs(arrays):
        raise RuntimeError(f"wrong answer for {config}")
    _warm_up(lambda: lib(*arrays))
    timer = lib.time_evaluator(lib.entry_name, tvm.cpu(), number=10, repeat=1, min_repeat_ms=20)
    return lambda: timer(*arrays).results[0]


def _paired(task, config, ref, n: int, repeats: int):
    """Alternate numpy and the kernel ``repeats`` times; returns both lists of seconds.

    Pairs see the same background load (this machine is shared); the pauses let the
    other library's spinning worker threads go to sleep first.
    """
    from adatune.measure import alternate

    run = _prepare(task, config)
    theirs, ours = alternate(repeats, _numpy_timer(ref, n), run, settle=_SETTLE_S)
    return ours, theirs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--quick", action="store_true", help="three configs, fewer repeats")
    parser.add_argument("--random", type=int, default=0, help="also time N random valid dense configs")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--conv", action="store_true",
                        help="also time hand-picked conv2d configs on a ResNet-18 layer")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both numpy (OpenBLAS) and TVM; 1 is robust to a busy machine")
    parser.add_argument("--json", default=None, help="write raw numbers here")
    args = parser.parse_args(argv)
    repeats = args.repeats or (5 if args.quick else 15)

    import adatune.task
    from adatune.measure import NumpyReference

    n = args.size
    flop = 2.0 * n ** 3
    rows = []
    picked = [HAND_PICKED[i] for i in QUICK] if args.quick else HAND_PICKED
    configs = [(row[0], (n, n, n, "float32"), _entity(row), "hand") for row in picked]
    if args.conv:
        for name, conv_args in RESNET_CONV.items():
            configs += [(name, conv_args, _conv_entity(row), "hand") for row in CONV_PICKED]
    if args.random:
        dense = adatune.task.create("dense", (n, n, n, "float32"))
        for idx in dense.config_space.sample(args.random, rng=0):
            configs.append(("dense", (n, n, n, "float32"), idx, "random"))

    numpy_times = []
    with NumpyReference() as ref:  # numpy in a child without the OpenBLAS overrides
        numpy_line, numpy_info = ref.describe(), ref.info
        for name, task_args, config, kind in configs:
            task = adatune.task.create(name, task_args)
            entity = task.config(config)
            try:
                runs, np_runs = _paired(task, entity, ref, n, repeats)
            except Exception as err:  # noqa: BLE001 - a failing config is reported, not fatal
                print(f"config {entity} failed: {err}", file=sys.stderr)
                continue
            numpy_times += np_runs
            gflops, best_gflops = task.flop / statistics.median(runs) / 1e9, task.flop / min(runs) / 1e9
            rows.append({"template": name, "args": list(task_args), "kind": kind, "index": entity.index,
                         "config": str(entity), "entity": entity.to_json_dict()["entity"],
                         "seconds": runs, "numpy_seconds": np_runs,
                         "gflops": gflops, "best_gflops": best_gflops,
                         "ratio_to_numpy": gflops / (flop / statistics.median(np_runs) / 1e9),
                         "best_ratio_to_numpy": best_gflops / (flop / min(np_runs) / 1e9)})
    np_gflops = flop / statistics.median(numpy_times) / 1e9
    np_peak = flop / min(numpy_times) / 1e9

    print(f"\n{n}x{n}x{n} float32, TVM_NUM_THREADS={os.environ['TVM_NUM_THREADS']}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'default')}; numpy "
          f"{np_gflops:.1f} GFLOPS median, {np_peak:.1f} best of {len(numpy_times)} runs; ratios are "
          f"per config, against the numpy runs paired with its runs\n"
          f"numpy reference: {numpy_line}\n")
    print("| template | kind | config | GFLOPS (median) | ratio to numpy | GFLOPS (best) | best ratio |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for r in sorted(rows, key=lambda r: -r["gflops"]):
        print(f"| {r['template']} | {r['kind']} | `{r['config']}` | {r['gflops']:.1f} | "
              f"{r['ratio_to_numpy']:.2f} | {r['best_gflops']:.1f} | {r['best_ratio_to_numpy']:.2f} |")
    gemm = [r for r in rows if not r["template"].startswith("conv")]
    best = max(gemm, key=lambda r: r["gflops"]) if gemm else None
    if best:
        print(f"\nbest config: {best['gflops']:.1f} GFLOPS median = {best['ratio_to_numpy']:.2f}x numpy's "
              f"median; best-of-runs ratio {max(r['best_ratio_to_numpy'] for r in gemm):.2f}")
    if args.conv:
        print("(conv2d rows: ResNet-18 conv2_x, 1x64x56x56 * 64x64x3x3; their ratio is to numpy's "
              "matmul GFLOPS, a roofline-style reference, not a conv baseline)")
    if args.random:
        rnd = [r["ratio_to_numpy"] for r in rows if r["kind"] == "random"]
        if rnd:
            print(f"random valid configs: median {statistics.median(rnd):.2f}x numpy, "
                  f">=0.7x: {sum(x >= 0.7 for x in rnd)}/{len(rnd)}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"size": n, "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
                   "numpy_gflops": np_gflops, "numpy_best_gflops": np_peak,
                   "numpy_seconds": numpy_times, "numpy_reference": numpy_info,
                       "num_threads": int(os.environ["TVM_NUM_THREADS"]), "configs": rows,
                       "best_ratio_to_numpy": best["ratio_to_numpy"] if best else None}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``adatune ms-tune WORKLOAD|FILE.py``: MetaSchedule tuning with adatune's parts.

WORKLOAD is a built-in name (``matmul-512``, ``conv2d-resnet``, ``dense-bias-relu-256``,
``softmax-256x512``, ...); FILE is a TVMScript file defining an ``IRModule`` (a
``@I.ir_module class Module``) or a ``@T.prim_func(s_tir=True)`` (schedulable blocks
need ``s_tir=True``).  The MetaSchedule JSON database is
written to ``--work-dir`` and the best latency is printed.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Optional


def add_parser(sub) -> None:
    p = sub.add_parser("ms-tune", help="tune a workload with MetaSchedule and adatune's parts")
    p.add_argument("workload", help="built-in workload name or TVMScript file (.py)")
    p.add_argument("--work-dir", required=True, help="where the JSON database and logs go")
    p.add_argument("--trials", type=int, default=64, help="trials in total (default 64)")
    p.add_argument("--per-iter", type=int, default=16,
                   help="trials per search iteration (default 16)")
    p.add_argument("--target", default="llvm",
                   help="target kind, or a JSON dict such as '{\"kind\": \"llvm\", \"mcpu\": "
                        "\"core-avx2\"}' (default llvm: this machine's CPU)")
    p.add_argument("--num-cores", type=int, default=None,
                   help="cores for llvm targets (default: this machine's)")
    p.add_argument("--cost-model", default="rfei", choices=["rfei", "xgb", "random"])
    p.add_argument("--strategy", default="dynamic-eps",
                   choices=["dynamic-eps", "evolutionary", "replay-trace"])
    p.add_argument("--min-converge-coef", type=float, default=0.1,
                   help="adaptive evaluator stopping threshold (default 0.1)")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(func=_run)


def _target(text: str, num_cores: Optional[int]):
    # "llvm" means the host CPU (with its mcpu), as everywhere else in adatune.
    from adatune.task.target import as_target, target_to_dict

    try:
        spec = target_to_dict(text)
        if num_cores and spec.get("kind") == "llvm":
            spec["num-cores"] = int(num_cores)
        return as_target(spec)
    except ValueError as err:
        raise ValueError(f"--target: {err}") from None


def load_tvmscript(path: str):
    """The IRModule defined by a TVMScript file (its only IRModule or PrimFunc)."""
    import runpy

    import tvm
    from tvm import tirx

    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such TVMScript file: {path}")
    try:
        namespace = runpy.run_path(path)
    except Exception as err:
        raise ValueError(f"{path}: cannot run the TVMScript file: {type(err).__name__}: {err}") from None
    found = [(k, v) for k, v in namespace.items()
             if not k.startswith("_") and isinstance(v, (tvm.IRModule, tirx.PrimFunc))]
    if len(found) != 1:
        names = ", ".join(k for k, _ in found) or "none"
        raise ValueError(f"{path}: expected exactly one IRModule or PrimFunc, found {names}")
    mod = found[0][1]
    if isinstance(mod, tirx.PrimFunc):
        mod = tvm.IRModule({"main": mod})
    return mod


def _run(args) -> int:
    if args.trials < 1:
        raise ValueError(f"--trials must be >= 1, got {args.trials}")
    if args.per_iter < 1:
        raise ValueError(f"--per-iter must be >= 1, got {args.per_iter}")
    from ..metaschedule import get_workload, tune_tir

    target = _target(args.target, args.num_cores)
    if args.workload.endswith(".py") or os.path.sep in args.workload:
        mod = load_tvmscript(args.workload)
    else:
        mod = get_workload(args.workload)
    start = time.perf_counter()
    db = tune_tir(mod, target, args.work_dir, args.trials, num_trials_per_iter=args.per_iter,
                  cost_model=args.cost_model, strategy=args.strategy,
                  min_converge_coef=args.min_converge_coef, seed=args.seed,
                  num_tuning_cores=int(target.attrs.get("num-cores", 1) or 1))
    wall = time.perf_counter() - start
    records = db.get_all_tuning_records()
    lat = [sum(float(s) for s in r.run_secs) / len(r.run_secs) for r in records if r.run_secs]
    valid = [v for v in lat if v < 1e9]
    print(f"trials: {len(records)} ({len(valid)} valid), wall time {wall:.1f} s", file=sys.stderr)
    if not valid:
        print("no valid trial", file=sys.stderr)
        return 1
    print(f"best latency: {min(valid) * 1e6:.2f} us")
    print(f"database: {os.path.join(args.work_dir, 'database_tuning_record.json')}")
    return 0

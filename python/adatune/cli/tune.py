"""``adatune tune`` (template tuning with a progress bar and a summary) and ``adatune best``."""
from __future__ import annotations

import os
import sys
from typing import Any, List, Tuple


def add_parser(sub) -> None:
    p = sub.add_parser("tune", help="tune built-in templates on this machine or over RPC")
    p.add_argument("--template", default=None, help="template name (e.g. dense, conv2d_nchw)")
    p.add_argument("--args", default=None,
                   help="comma-separated template arguments, e.g. 512,512,512 or 1,64,56,56,64,3,3,1,1")
    p.add_argument("--task", action="append", default=[], metavar="TEMPLATE:ARGS",
                   help="a task as template:args (e.g. dense:512,512,512); repeat it to tune "
                   "several tasks under one --trials budget (on a --farm, at once); instead of "
                   "--template/--args")
    p.add_argument("--target", default="llvm", help="llvm (default) or cuda")
    p.add_argument("--tuner", default="rfei", help="rfei (default), xgb, xgb-rank, ga, random, grid")
    p.add_argument("--trials", type=int, default=200, help="trials in all, over every task (default 200)")
    p.add_argument("--log", default=None,
                   help="append AutoTVM v0.2 records here; an existing log is resumed")
    p.add_argument("--early-stopping", type=int, default=None)
    p.add_argument("--seed", type=int, default=None)
    adaptive = p.add_mutually_exclusive_group()
    adaptive.add_argument("--adaptive", dest="adaptive", action="store_true", default=True,
                          help="adaptive evaluator (default)")
    adaptive.add_argument("--no-adaptive", dest="adaptive", action="store_false",
                          help="fixed repeats (AutoTVM's number/repeat)")
    add_run_end_options(p, "of the log here (needs --log)")
    p.add_argument("--min-converge-coef", type=float, default=0.1)
    p.add_argument("--number", type=int, default=3, help="fixed evaluation: calls per repeat")
    p.add_argument("--repeat", type=int, default=10, help="fixed evaluation: repeats")
    p.add_argument("--min-repeat-ms", type=float, default=100.0)
    p.add_argument("--check-correctness", action="store_true")
    p.add_argument("--n-parallel", type=int, default=None, help="build workers (default: CPUs)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per build and per run")
    p.add_argument("--tracker", default=None, help="RPC tracker host:port (runs remotely)")
    p.add_argument("--key", default=None, help="RPC device key (with --tracker)")
    add_farm_option(p)
    p.set_defaults(func=_run_tune)

    b = sub.add_parser("best", help="print the best config per workload of a log")
    b.add_argument("log")
    b.set_defaults(func=_run_best)


def add_run_end_options(p, plot_what: str) -> None:
    """``--no-confirm`` and ``--plot PNG``, shared by ``tune`` and ``tune-model``."""
    p.add_argument("--no-confirm", dest="confirm", action="store_false", default=True,
                   help="do not re-measure a new best before taking it (confirmation is on "
                        "by default)")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help=f"write best GFLOPS against trials and wall time {plot_what}")


def add_farm_option(p) -> None:
    """``--farm``, shared by ``tune`` and ``tune-model``."""
    p.add_argument("--farm", action="store_true",
                   help="with --tracker: every server under --key as one farm (a dead or failing "
                   "server costs only its candidate; several tasks at once; docs/farm.md)")


def farm_rows(report) -> List[Tuple[str, str]]:
    """The farm's lines of a summary table, from :meth:`FarmMeasure.report` (or None)."""
    if not report:
        return []
    per = ", ".join(f"{s['address']} {s['measured']} ({s['failures']} failed, {s['state']})"
                    for s in report["servers"])
    return [("farm bottleneck", f"{report['bottleneck']} (builder busy {report['builder_busy']:.0%}, "
             f"servers busy {report['servers_busy']:.0%})"),
            ("farm servers: measured", per or "none"),
            ("farm re-queued / failed", f"{report['counts'].get('requeued', 0)} / "
             f"{report['counts'].get('failed', 0)}")]


def parse_template_args(text: str) -> Tuple[Any, ...]:
    """``"512,512,512,float32"`` -> ``(512, 512, 512, "float32")``."""
    out: List[Any] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            raise ValueError(f"--args {text!r} has an empty item")
        try:
            out.append(int(token))
        except ValueError:
            try:
                out.append(float(token))
            except ValueError:
                out.append(token)
    return tuple(out)


def parse_tasks(args) -> List[Tuple[str, Tuple[Any, ...]]]:
    """(template, args) of each task: ``--template/--args`` or every ``--task``."""
    if args.task and (args.template or args.args):
        raise ValueError("give --task or --template/--args, not both")
    if not args.task:
        if not args.template or args.args is None:
            raise ValueError("give --template and --args (or one --task template:args per task)")
        return [(args.template, parse_template_args(args.args))]
    out = []
    for text in args.task:
        name, sep, rest = text.partition(":")
        if not sep or not name.strip():
            raise ValueError(f"--task {text!r}: expected template:args, e.g. dense:512,512,512")
        out.append((name.strip(), parse_template_args(rest)))
    return out


def summary_rows(summary, option) -> List[Tuple[str, str]]:
    stats = option.stats
    best = f"{summary.best_gflops:.2f}" if summary.best_gflops is not None else "n/a"
    return [
        ("task", summary.task_name),
        ("best GFLOPS", best),
        ("best time (ms)", f"{summary.best_cost * 1e3:.4f}" if summary.best_cost < float("inf") else "n/a"),
        ("trials (this run / resumed)", f"{summary.n_trials - summary.n_resumed} / {summary.n_resumed}"),
        ("failed trials", str(summary.n_failed)),
        ("new bests confirmed (seconds)", f"{summary.n_confirmed} ({summary.confirm_time:.1f})"),
        ("seconds building", f"{stats.build_seconds:.1f}"),
        ("seconds running", f"{stats.run_seconds:.1f}"),
        ("seconds in the tuner (model, search)", f"{summary.tuner_time:.1f}"),
        ("wall seconds", f"{summary.wall_time:.1f}"),
    ]


def print_table(rows, out=sys.stdout) -> None:
    width = max(len(k) for k, _ in rows)
    print("", file=out)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}", file=out)


def make_measure_option(args):
    from ..measure import LocalBuilder, LocalRunner, RPCRunner, measure_option
    from ..measure.rpc import parse_address

    run_kwargs = dict(
        number=args.number, repeat=args.repeat, min_repeat_ms=args.min_repeat_ms,
        timeout=args.timeout, check_correctness=args.check_correctness,
        enable_adaptive_evaluator=args.adaptive, min_converge_coef=args.min_converge_coef,
    )
    if args.farm and not args.tracker:
        raise ValueError("--farm needs --tracker and --key")
    if args.tracker and not args.key:
        raise ValueError("--key is required with --tracker")
    farm = runner = None
    if args.tracker:
        host, port = parse_address(args.tracker, "--tracker")
        if args.farm:
            from ..farm import Farm

            farm = Farm(args.tracker, args.key)  # an unreachable tracker fails here
        else:
            runner = RPCRunner(args.key, host, port, **run_kwargs)
    else:
        runner = LocalRunner(**run_kwargs)
    builder = LocalBuilder(n_parallel=args.n_parallel, timeout=args.timeout)
    if farm is not None:
        from ..farm import FarmMeasure

        return FarmMeasure(farm, builder, close_farm=True, **run_kwargs)
    return measure_option(builder, runner)


def _run_tune(args) -> int:
    import adatune
    from ..tuner import log_to_file, progress_bar

    if args.trials < 1:
        raise ValueError(f"--trials must be >= 1, got {args.trials}")
    if args.plot and not args.log:
        raise ValueError("--plot draws the run's log: give --log too")
    tasks = [adatune.task.create(name, targs, args.target) for name, targs in parse_tasks(args)]
    if len(tasks) > 1:
        return _run_tune_tasks(args, tasks)
    task = tasks[0]
    option = make_measure_option(args)
    callbacks = [progress_bar(args.trials, desc=f"{task.name} [{args.tuner}]")]
    if args.log:
        callbacks.append(log_to_file(args.log))
    tuner_kwargs = {"seed": args.seed} if args.seed is not None else {}
    try:
        summary = adatune.tune(task, args.tuner, n_trial=args.trials, measure_option=option,
                               callbacks=callbacks, early_stopping=args.early_stopping,
                               resume_from=args.log, confirm=args.confirm, **tuner_kwargs)
    finally:
        option.close()
    rows = summary_rows(summary, option) + farm_rows(getattr(option, "report", lambda: None)())
    if summary.best_config is not None:
        rows.append(("best config", str(summary.best_config)))
    _finish_rows(args, rows, task.name)
    print_table(rows)
    return 0 if summary.n_trials > summary.n_failed else 1


_PER_TASK = ("best GFLOPS", "best time (ms)", "trials (this run / resumed)", "failed trials")


def _run_tune_tasks(args, tasks) -> int:
    """Several ``--task``s under one budget (:func:`adatune.tune_tasks`): a table per task."""
    import threading

    from tqdm.auto import tqdm

    import adatune

    if args.early_stopping is not None:
        raise ValueError("--early-stopping is for one task; several tasks share --trials by rounds")
    option = make_measure_option(args)
    bar = tqdm(total=args.trials, desc=f"{len(tasks)} tasks [{args.tuner}]")
    lock = threading.Lock()  # on a farm, tasks' rounds report from their own threads

    def advance(tuner, inputs, results) -> None:
        with lock:
            bar.update(len(results))

    try:
        summaries = adatune.tune_tasks(tasks, args.tuner, n_trial=args.trials, measure_option=option,
                                       log=args.log, seed=args.seed, confirm=args.confirm,
                                       callbacks=[advance])
    finally:
        bar.close()
        option.close()
    rows: List[Tuple[str, str]] = []
    for task, summary in zip(tasks, summaries):
        own = dict(summary_rows(summary, option))
        rows.append(("task", task.workload_key))
        rows += [(f"  {key}", own[key]) for key in _PER_TASK]
        if summary.best_config is not None:
            rows.append(("  best config", str(summary.best_config)))
    rows += [("seconds building", f"{option.stats.build_seconds:.1f}"),
             ("seconds running", f"{option.stats.run_seconds:.1f}"),
             ("wall seconds", f"{summaries[0].wall_time:.1f}")]
    rows += farm_rows(getattr(option, "report", lambda: None)())
    _finish_rows(args, rows, f"{len(tasks)} tasks")
    print_table(rows)
    return 0 if all(s.n_trials > s.n_failed for s in summaries if s.n_trials) else 1


def _finish_rows(args, rows, title: str) -> None:
    if args.log:
        rows.append(("log", os.path.abspath(args.log)))
    if args.plot:
        from .plot import write_plot

        rows.append(("plot", os.path.abspath(write_plot([args.log], args.plot, title=title))))


def _run_best(args) -> int:
    from ..records import load_best

    if not os.path.exists(args.log):
        raise FileNotFoundError(f"{args.log}: no such file")
    best = load_best(args.log)
    if not best:
        print(f"{args.log}: no valid record")
        return 1
    for key, rec in sorted(best.items()):
        cost = sum(rec.costs) / len(rec.costs)
        print(f"{key}\n  target {rec.target}\n  {cost * 1e3:.4f} ms  config {rec.config_index}: "
              f"{rec.entity}")
    return 0

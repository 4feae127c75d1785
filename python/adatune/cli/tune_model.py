"""``adatune tune-model``: a whole model, with a live per-task table and a summary."""
from __future__ import annotations

import math
import os
import sys
import time
from typing import Any, List, Optional, Sequence, TextIO

from .tune import add_farm_option, add_run_end_options, farm_rows


def add_parser(sub) -> None:
    p = sub.add_parser("tune-model", help="tune a whole model (ONNX) into a deployable model.so")
    p.add_argument("model", help="an ONNX file")
    p.add_argument("--work-dir", required=True,
                   help="records, model.so and report.json go here; re-running resumes")
    p.add_argument("--trials", type=int, required=True, help="candidates measured in all, over every task")
    p.add_argument("--target", default="llvm", help="llvm (this CPU, default) or a target string")
    p.add_argument("--input", action="append", default=[], metavar="NAME:D1,D2,...",
                   help="static shape of an input with a dynamic one, e.g. x:1,3,224,224 (repeatable)")
    p.add_argument("--space", default="auto", choices=["auto", "templates", "metaschedule"])
    p.add_argument("--layout", default="NHWC", choices=["NHWC", "NCHW"],
                   help="layout the convolutions run in (default NHWC: converted once at the input)")
    p.add_argument("--tuner", default="rfei", help="tuner of the template tasks (default rfei)")
    p.add_argument("--seed", type=int, default=None)
    add_run_end_options(p, "of the template tasks' records here")
    p.add_argument("--tracker", default=None, help="RPC tracker host:port (measure on a remote device)")
    p.add_argument("--key", default=None, help="RPC device key (with --tracker)")
    add_farm_option(p)
    p.set_defaults(func=_run)


class TableProgress:
    """The live per-task table: redrawn in place on a terminal, a line per round elsewhere."""

    def __init__(self, out: TextIO = sys.stdout):
        self.out = out
        self.tty = out.isatty()
        self.tasks: List[Any] = []
        self.budget = 0
        self.t0 = time.time()
        self._drawn = 0

    def stage(self, text: str) -> None:
        print(f"[{time.time() - self.t0:6.1f}s] {text}", file=self.out, flush=True)

    def start(self, tasks: Sequence[Any], budget: int, done: int) -> None:
        self.tasks, self.budget = list(tasks), budget
        resumed = f", {done} resumed from the records" if done else ""
        self.stage(f"tuning {len(tasks)} tasks with {budget} trials{resumed}")
        self._draw(done, None)

    def round(self, index: int, task: Any, done: int) -> None:
        self._draw(done, index)

    def finish(self) -> None:
        pass

    def _rows(self) -> List[str]:
        rows = [f"  {'task':<58} {'kind':<12} {'calls':>5} {'trials':>6} {'best ms':>9}"]
        for t in self.tasks:
            best = f"{t.best_latency * 1e3:9.4f}" if math.isfinite(t.best_latency) else f"{'-':>9}"
            rows.append(f"  {t.name[:58]:<58} {t.kind:<12} {t.weight:>5} {t.trials:>6} {best}")
        return rows

    def _draw(self, done: int, index: Optional[int]) -> None:
        head = f"  trials {done}/{self.budget}, {time.time() - self.t0:.0f} s"
        if self.tty:
            if self._drawn:
                self.out.write(f"\x1b[{self._drawn}F")
            lines = [head] + self._rows()
            self.out.write("".join(f"\x1b[2K{line}\n" for line in lines))
            self._drawn = len(lines)
        elif index is None:
            print("\n".join([head] + self._rows()), file=self.out)
        else:
            t = self.tasks[index]
            best = f"{t.best_latency * 1e3:.4f} ms" if math.isfinite(t.best_latency) else "-"
            print(f"{head}: {t.name[:58]} ({t.kind}) {t.trials} trials, best {best}", file=self.out)
        self.out.flush()


def _measure_option(args) -> Any:
    if not args.tracker:
        if args.farm:
            raise ValueError("--farm needs --tracker and --key")
        return None, None
    from ..measure import LocalBuilder, RPCRunner, measure_option
    from ..measure.rpc import parse_address
    from ..metaschedule import adaptive_rpc_runner

    if not args.key:
        raise ValueError("--key is required with --tracker")
    host, port = parse_address(args.tracker, "--tracker")
    if args.farm:
        from ..farm import Farm, FarmMeasure

        option = FarmMeasure(Farm(args.tracker, args.key), LocalBuilder(prepacked=True), close_farm=True)
    else:
        option = measure_option(LocalBuilder(prepacked=True), RPCRunner(args.key, host, port))
    return option, adaptive_rpc_runner(args.tracker, args.key)


def _run(args) -> int:
    from ..model import parse_input_spec, tune_model

    if args.trials < 1:
        raise ValueError(f"--trials must be a positive int, got {args.trials}")
    inputs = dict(parse_input_spec(text) for text in args.input) or None
    option, ms_runner = _measure_option(args)
    progress = TableProgress()
    t0 = time.time()
    try:
        tuned = tune_model(args.model, target=args.target, work_dir=args.work_dir, trials=args.trials,
                           inputs=inputs, space=args.space, tuner=args.tuner, measure_option=option,
                           seed=args.seed, metaschedule_runner=ms_runner, progress=progress,
                           layout=args.layout, confirm=args.confirm)
    finally:
        if option is not None:
            option.close()
    report = tuned.report()
    lat = report["latency_ms"]
    rows = [("model", str(args.model)),
            ("latency tuned (ms)", _ms(lat.get("tuned"))),
            ("latency untuned TVM (ms)", _ms(lat.get("untuned")))]
    if lat.get("onnxruntime") is not None:
        rows.append(("latency ONNX Runtime (ms)", _ms(lat["onnxruntime"])))
    rows += [("tuning seconds", f"{time.time() - t0:.1f}"),
             ("trials", str(report["trials"])),
             ("kernels fallen back", ", ".join(report["fell_back"]) or "none"),
             ("library", os.path.join(args.work_dir, "model.so")),
             ("report", os.path.join(args.work_dir, "report.json"))]
    rows += farm_rows(report.get("farm"))
    if args.plot:
        rows.append(("plot", _plot(args.work_dir, args.plot)))
    from .tune import print_table

    print_table(rows)
    layers = report.get("layers") or []
    if layers:
        print(f"\n  slowest kernels (of {len(layers)}; all in report.json)")
        print(f"  {'ms':>7}  {'GFLOPS':>7}  {'calls':>5}  kernel (task)")
        for row in layers[:8]:
            gflops = f"{row['gflops']:.0f}" if row.get("gflops") else "-"
            task = "" if row["task"] == row["kernel"] else f" ({row['task']})"
            print(f"  {row['ms']:7.3f}  {gflops:>7}  {row['calls']:5d}  {row['kernel']}{task}")
    return 0


def _plot(work_dir: str, out: str) -> str:
    """Plot the template tasks' AutoTVM log; the table row says what was drawn.

    MetaSchedule tasks keep databases under ``ms/``, not an AutoTVM log, so the plot
    covers template-tuned tasks only, and is skipped when there are none.
    """
    from .plot import write_plot

    log = os.path.join(work_dir, "records.log")
    if not os.path.isfile(log) or os.path.getsize(log) == 0:
        return "skipped: no template-tuned task (the plot covers template tasks only)"
    path = os.path.abspath(write_plot([log], out, title=f"{work_dir}: template tasks"))
    if os.path.isdir(os.path.join(work_dir, "ms")):
        path += " (template-tuned tasks only; MetaSchedule tasks are not plotted)"
    return path


def _ms(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.3f}"

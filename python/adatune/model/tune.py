"""``tune_model``: a model in, a tuned, verified, deployable model out.

1. **Import** the model as Relax (:mod:`.frontend`) and lower it: legalize and fuse, so
   ``main`` calls TIR kernels (:mod:`.build`).
2. **Extract** the tasks: kernels a template covers become template tasks, grouped by
   template and arguments (the same convolution with another epilogue is the same
   task); the others become MetaSchedule tasks (``space="auto"``; ``"templates"`` and
   ``"metaschedule"`` force one path). Kernels no template covers that take less than
   ``min_share`` of the model's time with the default schedule are not tuned: they keep
   the default schedule (:mod:`.default_schedule`), which no kernel goes without.
3. **Schedule** the trial budget over the tasks (:class:`.scheduler.TaskScheduler`): a
   warm-up round each, then rounds where they buy the most end-to-end latency. Template
   tasks of the same template warm-start their cost model on each other's records.
4. **Build and verify**: every tuned kernel is compared with its untuned version on
   random inputs (a mismatch falls back to the default schedule and is reported), then
   the whole model with the untuned build (and ONNX Runtime, when installed).
5. **Deploy**: ``model.so`` (plain TVM loads it), ``report.json``, and the records
   (``records.log``, AutoTVM format; ``ms/<kernel>/`` MetaSchedule databases), from which
   a re-run resumes without measuring anything twice.
"""
from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

import numpy as np

from .._checks import check_bool, check_choice, check_fraction, check_positive_int, check_seed
from .._seeding import sub_seed
from ..errors import AdatuneError, ArgumentError, ArgumentTypeError
from .build import compile_model, kernel_uses, lower_model, run_model, with_kernels
from .default_schedule import default_schedule
from .frontend import import_model
from .kernels import match_kernel
from .profile import kernel_seconds, profile_kernels
from .rounds import ROUND, rounds_at_once, run_rounds, warm_up_size
from .scheduler import TaskScheduler
from .tasks import MetaScheduleTask, ModelKernel, TemplateTask
from .tuned import TaskReport, TunedModel

__all__ = ["tune_model", "ModelVerificationError", "NoTunableKernelError", "SPACES"]

logger = logging.getLogger(__name__)

SPACES = ("auto", "templates", "metaschedule")
#: Kernels below this share of the default-scheduled model's time are not tuned.
MIN_SHARE = 0.01
#: Relative error (max |tuned - reference| / max |reference|) a verified output may have.
RTOL = 1e-3


class ModelVerificationError(AdatuneError, RuntimeError):
    """The tuned model's outputs differ from the untuned model's."""


class NoTunableKernelError(AdatuneError, ValueError):
    """The model has no kernel to tune (no convolution, matmul or other reduction)."""


def _writable_dir(work_dir: Any) -> str:
    if not isinstance(work_dir, (str, os.PathLike)):
        raise ArgumentTypeError(f"tune_model: work_dir must be a path, got {work_dir!r}")
    path = os.fspath(work_dir)
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".adatune-write-test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as err:
        raise ArgumentError(f"tune_model: work_dir {path!r} is not writable ({err.strerror or err})") from None
    return path


def _relative_error(got: np.ndarray, want: np.ndarray) -> float:
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return math.inf
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    diff = float(np.max(np.abs(got - want))) if want.size else 0.0
    if not np.isfinite(diff):
        return math.inf
    return diff / scale if scale > 0 else diff


def _kernel_inputs(func: Any, rng: np.random.Generator) -> List[np.ndarray]:
    arrays = []
    for param in func.params:
        shape = [int(d.value if hasattr(d, "value") else d) for d in param.shape]
        dtype = str(param.dtype)
        if np.issubdtype(np.dtype(dtype), np.integer):
            arrays.append(np.zeros(shape, dtype=dtype))  # indices: 0 is always valid
        else:
            arrays.append(rng.standard_normal(shape).astype(dtype))
    return arrays


def _run_kernel(func: Any, arrays: Sequence[np.ndarray], target: Any) -> List[np.ndarray]:
    import tvm

    lib = tvm.compile(func.with_attr("global_symbol", "main"), target=target)
    dev = tvm.cpu()
    tensors = [tvm.runtime.tensor(a.copy(), device=dev) for a in arrays]
    lib["main"](*tensors)
    return [t.numpy() for t in tensors]


def verify_kernel(tuned: Any, reference: Any, target: Any, seed: int = 0) -> float:
    """Largest relative error of ``tuned`` against ``reference`` (two versions of one
    kernel) over the buffers the kernel writes, on random inputs."""
    rng = np.random.default_rng(seed)
    arrays = _kernel_inputs(reference, rng)
    got = _run_kernel(tuned, arrays, target)
    want = _run_kernel(reference, arrays, target)
    return max(_relative_error(g, w) for g, w in zip(got, want))


class _Progress:
    """Receives what the tuning does (the CLI draws a table of it)."""

    def start(self, tasks: Sequence[Any], budget: int, done: int) -> None: ...

    def round(self, index: int, task: Any, done: int) -> None: ...

    def stage(self, text: str) -> None: ...

    def finish(self) -> None: ...


def tune_model(model: Any, *, target: Any = "llvm", work_dir: Any, trials: int,
               inputs: Optional[Mapping[str, Sequence[int]]] = None, space: str = "auto",
               tuner: str = "rfei", measure_option: Any = None, seed: Optional[int] = None,
               min_share: float = MIN_SHARE, metaschedule_runner: Any = None,
               progress: Optional[_Progress] = None, checkpoints: Sequence[int] = (),
               layout: str = "NHWC", confirm: bool = True) -> TunedModel:
    """Tune a whole model.

    Parameters
    ----------
    model : str, onnx.ModelProto, tvm.IRModule or torch.nn.Module
        An ONNX file, an ONNX model, a Relax module with a ``main`` function, or a torch
        module (``inputs`` then holds its example inputs).
    target : str, dict or tvm.target.Target, default "llvm"
        ``"llvm"`` is this machine's CPU (see :func:`adatune.task.as_target`).
    work_dir : path
        Records, ``model.so`` and ``report.json`` go here; a re-run resumes from it.
    trials : int
        Candidates measured in all, over every task (resumed ones included).
    inputs : dict, optional
        ``{"name": shape}`` for inputs with dynamic shapes (the error says which).
    space : {"auto", "templates", "metaschedule"}, default "auto"
        Template tasks for the kernels templates cover and MetaSchedule for the rest;
        or one path only.
    tuner : str, default "rfei"
        The template tasks' tuner (:data:`adatune.tuner.TUNERS`).
    measure_option : MeasureBatch, optional
        How template candidates are built and timed (default
        ``measure_option(LocalBuilder(prepacked=True))``: kernels timed with their
        constant weights packed beforehand, as the model runs them; pass one with an
        ``RPCRunner`` to tune on a remote device: the model is then built for ``target``).
    seed : int, optional
    min_share : float, default 0.01
        Kernels no template covers below this share of the default-scheduled model's
        time are not tuned (MetaSchedule's rounds are costly; template tasks are all
        tuned, shortest warm-up first).
    metaschedule_runner : optional
        MetaSchedule runner for MetaSchedule tasks (default: the adaptive local one).
    progress : optional
        An object with ``start``, ``round``, ``stage`` and ``finish`` methods.
    checkpoints : sequence of int, optional
        Trial counts at which the model is built with the best kernels so far and timed
        (for latency-against-tuning-time curves; the time this takes is not counted as
        tuning time). The report's ``curve`` holds ``[trials, tuning seconds, ms]``.
    layout : {"NHWC", "NCHW"}, default "NHWC"
        The layout the model's convolutions run in (:mod:`adatune.model.layout`):
        channels-last, converted once at the model's input and output, or the model's
        own.
    confirm : bool, default True
        Re-measure a candidate that would become its task's new best before taking it,
        template and MetaSchedule tasks alike (:meth:`adatune.tuner.Tuner.tune`,
        :mod:`adatune.metaschedule.confirm`): the records, the task scheduler and the
        kernels built into the model use the confirmed latency.

    Returns
    -------
    TunedModel
    """
    from ..task import as_target
    from ..tuner import TUNERS, create_tuner

    from ..measure.runner import use_timing_env

    use_timing_env()  # the tuned model runs here: all cores, as the candidates were timed
    t_start = time.time()
    trials = check_positive_int(trials, "trials", "tune_model")
    space = check_choice(space, "space", SPACES, "tune_model")
    tuner = check_choice(tuner, "tuner", sorted(TUNERS), "tune_model")
    min_share = check_fraction(min_share, "min_share", "tune_model")
    seed = check_seed(seed, "seed", "tune_model")
    confirm = check_bool(confirm, "confirm", "tune_model")
    work_dir = _writable_dir(work_dir)
    progress = progress or _Progress()
    target = as_target(target)

    progress.stage("importing the model")
    imported = import_model(model, inputs)
    progress.stage("lowering (legalize, fuse)")
    lowered = lower_model(imported.mod, target, layout)
    kernels = [ModelKernel(u, match_kernel(u.func) if space != "metaschedule" else None)
               for u in kernel_uses(lowered)]
    if not kernels:
        raise NoTunableKernelError(f"{imported.source}: the model computes nothing (no kernel)")

    import tvm
    from tvm import relax

    dev = tvm.cpu()
    rng = np.random.default_rng(0)
    arrays = [s.random(rng) for s in imported.inputs]
    args = [tvm.runtime.tensor(a, device=dev) for a in arrays]

    progress.stage("building the untuned model")
    untuned_vm = relax.VirtualMachine(compile_model(lowered, target), dev)
    reference = run_model(untuned_vm, arrays, dev)
    untuned_ms = _time_vm(untuned_vm, args, budget_s=5.0, warm_up=False)  # it just ran

    progress.stage("profiling the default schedule")
    defaults = {k.name: _default_kernel(k, target) for k in kernels}
    default_vm = relax.VirtualMachine(compile_model(with_kernels(lowered, defaults), target), dev)
    seconds = profile_kernels(default_vm, args)
    total = sum(kernel_seconds(seconds, k.name) for k in kernels) or 1.0
    shares = {k.name: kernel_seconds(seconds, k.name) / total for k in kernels}

    tasks = _make_tasks(kernels, shares, min_share, space, target, work_dir, tuner, seed,
                        metaschedule_runner, create_tuner, confirm)
    if not tasks:
        raise NoTunableKernelError(
            f"{imported.source}: no tunable kernel (with space={space!r}: "
            + ("no convolution or matmul a template covers" if space == "templates"
               else "no kernel with a reduction") + ")")

    own_option = measure_option is None
    if own_option and any(t.kind == "template" for t in tasks):
        from ..measure import LocalBuilder, measure_option as _measure_option

        # Candidates timed as the model runs them: constant weights packed beforehand.
        measure_option = _measure_option(LocalBuilder(prepacked=True))
    try:
        done = _resume(tasks)
        _transfer(tasks)
        progress.start(tasks, trials, done)
        scheduler = TaskScheduler([t.weight for t in tasks])
        for i, t in enumerate(tasks):
            if t.trials:
                scheduler.record(i, t.trials, t.best_latency, t.exhausted)
        warm_up = warm_up_size(trials, len(tasks))
        pending = sorted({int(c) for c in checkpoints if 0 < int(c) <= trials})
        curve: List[List[float]] = []
        paused = 0.0  # seconds spent on checkpoints, not tuning

        def _after_round(i: int, done: int) -> None:
            nonlocal paused
            progress.round(i, tasks[i], done)
            while pending and done >= pending[0]:
                pending.pop(0)
                t0 = time.time()
                curve.append([done, t0 - t_start - paused,
                              _snapshot(tasks, kernels, defaults, lowered, target, args)])
                paused += time.time() - t0

        done = run_rounds(tasks, scheduler, trials, done, warm_up, ROUND, measure_option, _after_round,
                          concurrency=rounds_at_once(measure_option))
        # On a farm: which side limited the run (read before the option closes).
        farm = measure_option.report() if hasattr(measure_option, "bottleneck") else None
    finally:
        if own_option and measure_option is not None:
            measure_option.close()
        for t in tasks:
            if t.kind == "metaschedule":
                t.tuner.close()

    progress.stage("building and verifying the tuned model")
    reports, scheduled = _build_kernels(tasks, kernels, defaults, target)
    tuned_mod = with_kernels(lowered, scheduled)
    executable = compile_model(tuned_mod, target)
    tuned = TunedModel(executable, target, imported.inputs, reports, untuned_ms,
                       time.time() - t_start - paused, work_dir, source=imported.source,
                       kernels={k.name: (k.use.calls, _flop(k.use.func)) for k in kernels})
    outputs = tuned.run(*arrays)
    errors = [_relative_error(g, w) for g, w in zip(outputs, reference)]
    extra: Dict[str, Any] = {"trials": done, "layout": layout, "verification": {"untuned_relative_error": max(errors)}}
    if checkpoints:
        extra["curve"] = curve
    if farm is not None:
        extra["farm"] = farm
    ort = _onnxruntime(imported, arrays)
    if ort is not None:
        ort_outputs, ort_ms = ort
        extra["verification"]["onnxruntime_relative_error"] = max(
            _relative_error(g, w) for g, w in zip(outputs, ort_outputs))
        extra["latency_ms"] = {"onnxruntime": ort_ms}
    tuned.extra.update(extra)
    layers = tuned.layers()  # one profile of the tuned model: per kernel, and the tasks' shares
    _set_shares(reports, layers)
    tuned.extra["layers"] = [asdict(r) for r in layers]
    tuned.benchmark(repeat=20)
    tuned.export_library(os.path.join(work_dir, "model.so"))
    tuned.save_report()
    progress.finish()
    if max(errors) > RTOL:
        raise ModelVerificationError(
            f"the tuned model's outputs differ from the untuned model's by {max(errors):.2e} "
            f"(relative; at most {RTOL:g} allowed) although every tuned kernel passed its own "
            f"check; report in {os.path.join(work_dir, 'report.json')}")
    return tuned


def _snapshot(tasks: List[Any], kernels: List[ModelKernel], defaults: Dict[str, Any], lowered: Any,
              target: Any, args: Sequence[Any]) -> float:
    """Median ms of the model built with each task's best so far (no verification)."""
    from tvm import relax

    import tvm

    scheduled = dict(defaults)
    for t in tasks:
        if not math.isfinite(t.best_latency):
            continue
        for k in t.kernels:
            try:
                scheduled[k.name] = t.scheduled(k)
            except Exception:  # noqa: BLE001 - the default stays
                pass
    vm = relax.VirtualMachine(compile_model(with_kernels(lowered, scheduled), target), tvm.cpu())
    time.sleep(0.5)  # the runner's thread pool may still spin after its last measurement
    return _time_vm(vm, args, budget_s=3.0, runs=10)


def _time_vm(vm: Any, args: Sequence[Any], budget_s: float, runs: int = 5, warm_up: bool = True) -> float:
    """Median milliseconds of a few runs, at most about ``budget_s`` seconds of them."""
    times = []
    t_end = time.perf_counter() + budget_s
    if warm_up:
        vm["main"](*args)
    while len(times) < runs and (not times or time.perf_counter() < t_end):
        t0 = time.perf_counter()
        vm["main"](*args)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e3)


def _default_kernel(kernel: ModelKernel, target: Any) -> Any:
    """The kernel as shipped untuned: its template with a default config when one
    covers it, else the generic default schedule."""
    if kernel.match is not None:
        from ..task import create
        from .tasks import default_config

        from tvm import s_tir

        from .default_schedule import schedule_remaining

        try:
            task = create(kernel.match.template, kernel.match.args, target)
            sch = s_tir.Schedule(kernel.use.func)
            kernel.match.apply(sch, default_config(task))
            schedule_remaining(sch)
            return sch.mod["main"]
        except Exception as err:  # noqa: BLE001 - the generic schedule then
            logger.info("%s: template %s does not apply (%s); default schedule", kernel.name,
                        kernel.match.template, err)
            kernel.match = None
    return default_schedule(kernel.use.func)


def _has_reduction(func: Any) -> bool:
    from tvm import s_tir

    from .kernels import reduction_blocks

    try:
        return bool(reduction_blocks(s_tir.Schedule(func)))
    except Exception:  # noqa: BLE001
        return False


def _make_tasks(kernels: List[ModelKernel], shares: Dict[str, float], min_share: float, space: str,
                target: Any, work_dir: str, tuner: str, seed: Any, ms_runner: Any,
                create_tuner: Callable[..., Any], confirm: bool = True) -> List[Any]:
    from ..task import create

    log_path = os.path.join(work_dir, "records.log")
    groups: Dict[tuple, List[ModelKernel]] = {}
    ms_kernels: List[ModelKernel] = []
    for k in kernels:
        if k.match is not None:
            # Template tasks are cheap to warm up and share a model: all of them.
            groups.setdefault((k.match.template, k.match.args), []).append(k)
        elif shares.get(k.name, 0.0) < min_share and len(kernels) > 1:
            continue
        elif space == "metaschedule" or (space != "templates" and _has_reduction(k.use.func)):
            ms_kernels.append(k)
    tasks: List[Any] = []
    for (template, args), members in groups.items():
        task = create(template, args, target)
        tasks.append(TemplateTask(task, members, create_tuner(tuner, task, seed=seed), log_path,
                                  confirm=confirm))
    if ms_kernels:
        from ..metaschedule import FastBuilder, adaptive_local_runner
        from .ms_task import MetaScheduleKernelTuner

        builder = FastBuilder(max_workers=os.cpu_count() or 1)
        runner = ms_runner or adaptive_local_runner(min_converge_coef=0.1)
        shared = _SharedBuilder(builder, len(ms_kernels))
        for k in ms_kernels:
            tuner_ms = MetaScheduleKernelTuner(k.use.func, target, os.path.join(work_dir, "ms", k.name),
                                               shared, runner, seed=_ms_seed(seed),
                                               confirm=confirm)
            tasks.append(MetaScheduleTask(k, tuner_ms))
    # Heaviest first: the warm-up round reaches the tasks that matter before a small budget ends.
    tasks.sort(key=lambda t: -sum(shares.get(k.name, 0.0) for k in t.kernels))
    return tasks


def _ms_seed(seed: Any) -> Optional[int]:
    """MetaSchedule takes an int seed: a Generator gives one drawn from it (reproducible
    with the Generator), an int stays itself."""
    return sub_seed(seed, 0) if isinstance(seed, np.random.Generator) else seed


class _SharedBuilder:
    """One FastBuilder for every MetaSchedule task, closed when the last task is done."""

    def __init__(self, builder: Any, users: int):
        self.builder = builder
        self.users = users

    def build(self, inputs: Any) -> Any:
        return self.builder.build(inputs)

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            self.builder.close()


def _resume(tasks: List[Any]) -> int:
    done = 0
    for t in tasks:
        try:
            done += t.resume()
        except Exception as err:  # noqa: BLE001 - a damaged record store: start the task afresh
            logger.warning("%s: could not resume from its records (%s); starting afresh", t.name, err)
    return done


def _transfer(tasks: List[Any]) -> None:
    """Warm-start each template task's cost model on the records of the other tasks of
    its template (see :meth:`adatune.tuner.ModelBasedTuner.transfer_from`)."""
    by_template: Dict[str, List[TemplateTask]] = {}
    for t in tasks:
        if t.kind == "template" and hasattr(t.tuner, "transfer_from"):
            by_template.setdefault(t.task.name, []).append(t)
    for group in by_template.values():
        for t in group:
            others = [o for o in group if o is not t]
            if others:
                t.tuner.transfer_from([o.tuner for o in others])


def _build_kernels(tasks: List[Any], kernels: List[ModelKernel], defaults: Dict[str, Any], target: Any):
    """The kernel each model kernel ends up with, verified; and the per-task report."""
    scheduled = dict(defaults)
    reports: List[TaskReport] = []
    covered = set()
    for t in tasks:
        rep = TaskReport(task=t.name, kind=t.kind, kernels=[k.name for k in t.kernels],
                         calls=t.weight, trials=t.trials,
                         best_ms=t.best_latency * 1e3 if math.isfinite(t.best_latency) else None)
        for k in t.kernels:
            covered.add(k.name)
            try:
                func = t.scheduled(k)
                err = verify_kernel(func, k.use.func, target)
            except Exception as exc:  # noqa: BLE001 - a kernel that does not build is a fallback too
                logger.warning("%s: tuned kernel failed to build (%s); default schedule", k.name, exc)
                rep.fell_back.append(k.name)
                continue
            if err > RTOL:
                logger.warning("%s (task %s): tuned kernel differs from the untuned one by %.2e; "
                               "falling back to the default schedule", k.name, t.name, err)
                rep.fell_back.append(k.name)
                continue
            scheduled[k.name] = func
        reports.append(rep)
    for k in kernels:
        if k.name not in covered:
            reports.append(TaskReport(task=k.name, kind="default", kernels=[k.name], calls=k.use.calls))
    return reports, scheduled


def _set_shares(reports: List[TaskReport], layers: Sequence[Any]) -> None:
    """Each task's share of the tuned model's time in its kernels (from ``layers``)."""
    ms = {row.kernel: row.ms for row in layers}
    total = sum(ms.get(k, 0.0) for r in reports for k in r.kernels) or 1.0
    for r in reports:
        r.share = sum(ms.get(k, 0.0) for k in r.kernels) / total


def _flop(func: Any) -> Optional[float]:
    """Floating-point operations of one call of kernel ``func`` (TIR's estimate)."""
    import tvm
    from tvm.s_tir.analysis import estimate_tir_flops

    try:
        flop = float(estimate_tir_flops(tvm.IRModule({"main": func})))
    except Exception:  # noqa: BLE001 - a kernel the estimator cannot read has no count
        return None
    return flop if flop > 0 else None


def _onnxruntime(imported: Any, arrays: Sequence[np.ndarray]):
    """ONNX Runtime's outputs and median latency (ms) for an ONNX model, when installed."""
    if imported.onnx_bytes is None:
        return None
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = os.cpu_count() or 1
    sess = ort.InferenceSession(imported.onnx_bytes, opts, providers=["CPUExecutionProvider"])
    feed = {s.name: a for s, a in zip(imported.inputs, arrays)}
    outputs = sess.run(None, feed)
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    return outputs, float(np.median(times) * 1e3)

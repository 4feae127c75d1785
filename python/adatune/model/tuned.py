"""``TunedModel``: the tuned, verified, deployable model and its report."""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._checks import check_positive_int
from ..errors import ArgumentError
from .build import run_model
from .frontend import InputSpec

__all__ = ["TunedModel", "TaskReport", "LayerProfile", "REPORT_FORMAT"]

REPORT_FORMAT = "adatune.model.report/1"


@dataclass
class TaskReport:
    """One row of the per-task report.

    Attributes
    ----------
    task : str
        The template task's workload key, or the kernel's name.
    kind : {"template", "metaschedule", "default"}
        How its kernels were scheduled ("default": not tuned, the default schedule).
    kernels : list of str
        The model's kernels this task covers.
    calls : int
        How often one run of the model calls them.
    trials : int
        Candidates measured (this run and resumed).
    best_ms : float or None
        Best measured latency of the task's kernel (template tasks: the standalone
        kernel, without its epilogue).
    share : float or None
        Share of the tuned model's time in these kernels (profiled).
    fell_back : list of str
        Kernels whose tuned version failed verification and use the default schedule.
    """

    task: str
    kind: str
    kernels: List[str]
    calls: int
    trials: int = 0
    best_ms: Optional[float] = None
    share: Optional[float] = None
    fell_back: List[str] = field(default_factory=list)


@dataclass
class LayerProfile:
    """Where one kernel's share of a model run goes (see :meth:`TunedModel.layers`).

    Attributes
    ----------
    kernel : str
        The model's kernel (fused operator).
    task : str
        The task that scheduled it (its workload key), or the kernel's name.
    kind : {"template", "metaschedule", "default"}
    calls : int
        Calls per model run.
    ms : float
        Milliseconds of one model run spent in it, all calls (split-off packing
        stages included), as the VM's instrumentation times it.
    flop : float or None
        Floating-point operations of one model run in it (TIR's estimate).
    gflops : float or None
        ``flop / ms``.
    """

    kernel: str
    task: str
    kind: str
    calls: int
    ms: float
    flop: Optional[float] = None
    gflops: Optional[float] = None


@contextlib.contextmanager
def _quiet_stderr():
    """Silence this process's stderr (file descriptor 2, where TVM's C++ logs go)."""
    import sys

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except OSError:  # no real stderr (embedded interpreter): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class TunedModel:
    """A tuned model: run it, time it, export it, read its report.

    Built by :func:`adatune.tune_model`; ``export_library`` writes a library that plain
    TVM loads (``tvm.runtime.load_module`` + ``relax.VirtualMachine``), no adatune needed.
    """

    def __init__(self, executable: Any, target: Any, inputs: Sequence[InputSpec], tasks: List[TaskReport],
                 untuned_ms: Optional[float], tuning_seconds: float, work_dir: str,
                 source: str = "", extra: Optional[Dict[str, Any]] = None,
                 kernels: Optional[Dict[str, Tuple[int, Optional[float]]]] = None):
        import tvm
        from tvm import relax

        from ..measure.runner import use_timing_env

        use_timing_env()
        self.executable = executable
        self.target = target
        self.inputs = list(inputs)
        self.tasks = tasks
        self.untuned_ms = untuned_ms
        self.tuning_seconds = float(tuning_seconds)
        self.work_dir = work_dir
        self.source = source
        self.extra = dict(extra or {})
        #: kernel name -> (calls per run, flop per call or None)
        self.kernels = dict(kernels or {})
        self.device = tvm.cpu()
        self._vm = relax.VirtualMachine(executable, self.device)
        self.tuned_ms: Optional[float] = None

    # ------------------------------------------------------------------ use
    def _check(self, arrays: Sequence[Any]) -> List[np.ndarray]:
        if len(arrays) != len(self.inputs):
            raise ArgumentError(f"run: the model takes {len(self.inputs)} inputs "
                                f"({', '.join(s.name for s in self.inputs)}), got {len(arrays)}")
        out = []
        for spec, a in zip(self.inputs, arrays):
            a = np.asarray(a)
            if tuple(a.shape) != spec.shape:
                raise ArgumentError(f"run: input {spec.name!r} must have shape {list(spec.shape)}, "
                                    f"got {list(a.shape)}")
            out.append(a.astype(spec.dtype, copy=False))
        return out

    def run(self, *arrays: Any) -> List[np.ndarray]:
        """Outputs of the model for these inputs (numpy arrays, in input order)."""
        return run_model(self._vm, self._check(arrays), self.device)

    def random_inputs(self, seed: int = 0) -> List[np.ndarray]:
        rng = np.random.default_rng(seed)
        return [s.random(rng) for s in self.inputs]

    def benchmark(self, repeat: int = 50, inputs: Optional[Sequence[Any]] = None) -> float:
        """Median latency in milliseconds over ``repeat`` runs (after one warm-up run)."""
        repeat = check_positive_int(repeat, "repeat", "benchmark")
        import tvm

        arrays = self._check(inputs) if inputs is not None else self.random_inputs()
        args = [tvm.runtime.tensor(a, device=self.device) for a in arrays]
        self._vm["main"](*args)
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            self._vm["main"](*args)
            times.append(time.perf_counter() - t0)
        self.tuned_ms = float(np.median(times) * 1e3)
        return self.tuned_ms

    def layers(self, runs: int = 10) -> List[LayerProfile]:
        """Where a run of the model goes, kernel by kernel, slowest first: milliseconds
        per run, calls, GFLOPS and how each kernel was scheduled (profiled with the
        Relax VM's instrumentation, which adds a few microseconds per call)."""
        import tvm

        from .profile import kernel_seconds, profile_kernels

        runs = check_positive_int(runs, "runs", "layers")
        args = [tvm.runtime.tensor(a, device=self.device) for a in self.random_inputs()]
        seconds = profile_kernels(self._vm, args, runs=runs)
        owner = {k: t for t in self.tasks for k in t.kernels}
        rows = []
        for name, (calls, flop) in self.kernels.items():
            task = owner.get(name)
            ms = kernel_seconds(seconds, name) * 1e3
            total = flop * calls if flop else None
            rows.append(LayerProfile(name, task.task if task else name, task.kind if task else "default",
                                     calls, ms, total, total / ms / 1e6 if total and ms > 0 else None))
        return sorted(rows, key=lambda r: -r.ms)

    def export_library(self, path: str) -> str:
        """Write the compiled model as a shared library; returns its path."""
        with _quiet_stderr():  # TVM logs a warning line per memory scope it saves
            self.executable.export_library(path)
        return path

    # ------------------------------------------------------------------ report
    def report(self) -> Dict[str, Any]:
        """The report as plain data (what ``report.json`` holds)."""
        return {
            "format": REPORT_FORMAT,
            "source": self.source,
            "target": str(self.target),
            "inputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype} for s in self.inputs],
            "latency_ms": {"tuned": self.tuned_ms, "untuned": self.untuned_ms, **self.extra.get("latency_ms", {})},
            "tuning_seconds": self.tuning_seconds,
            "tasks": [asdict(t) for t in self.tasks],
            "fell_back": [k for t in self.tasks for k in t.fell_back],
            **{k: v for k, v in self.extra.items() if k != "latency_ms"},
        }

    def save_report(self, path: Optional[str] = None) -> str:
        path = path or os.path.join(self.work_dir, "report.json")
        with open(path, "w") as f:
            json.dump(self.report(), f, indent=1)
        return path

    def __repr__(self) -> str:
        tuned = f"{self.tuned_ms:.3f} ms" if self.tuned_ms is not None else "not timed"
        untuned = f"{self.untuned_ms:.3f} ms" if self.untuned_ms is not None else "n/a"
        return f"TunedModel({self.source!r}, {len(self.tasks)} tasks, tuned {tuned}, untuned {untuned})"

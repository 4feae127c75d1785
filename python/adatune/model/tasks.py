"""The tuning tasks of a model: template tasks and MetaSchedule tasks.

A template task is an adatune template task (``adatune.task.create(template, args)``)
shared by every kernel of the model that the template covers with those arguments
(the same convolution with a different epilogue is one task). Its trials are the
template's standalone kernel, measured through the usual builder and runner and
logged as AutoTVM records, so an interrupted run resumes from its log.

A MetaSchedule task is one kernel the templates do not cover, tuned with adatune's
MetaSchedule parts (``adatune.metaschedule``) one round at a time; its records are a
MetaSchedule JSON database.

Both answer the scheduler's questions the same way: trials so far, best latency,
exhausted, and the scheduled kernel for the best configuration found.
"""
from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any, List, Optional

from .build import KernelUse
from .kernels import KernelMatch

__all__ = ["ModelKernel", "TemplateTask", "MetaScheduleTask"]

logger = logging.getLogger(__name__)


@dataclass
class ModelKernel:
    """A kernel of the model: its use and, if a template covers it, the match."""

    use: KernelUse
    match: Optional[KernelMatch] = None

    @property
    def name(self) -> str:
        return self.use.name


@dataclass
class TemplateTask:
    """Template tuning of the kernels that share one template task."""

    task: Any
    kernels: List[ModelKernel]
    tuner: Any
    log_path: str
    trials: int = 0
    confirm: bool = True
    callbacks: List[Any] = field(default_factory=list)
    """Called after every batch of every round, after the log (see :meth:`run`)."""
    kind: str = field(default="template", init=False)
    summaries: List[Any] = field(default_factory=list, init=False, repr=False)
    """The :class:`~adatune.tuner.TuneSummary` of each round, in order."""

    @property
    def name(self) -> str:
        return self.task.workload_key

    @property
    def weight(self) -> int:
        return sum(k.use.calls for k in self.kernels)

    def resume(self) -> int:
        """Load this task's records from the log: they count as trials already done."""
        if not os.path.exists(self.log_path):
            return 0
        used = self.tuner.load_history(self.log_path)
        self.trials += used
        return used

    def run(self, n: int, measure_option: Any, callbacks: List[Any] = ()) -> int:
        """Measure up to ``n`` more configs; returns how many were measured."""
        from ..tuner import log_to_file

        summary = self.tuner.tune(n, measure_option, confirm=self.confirm,
                                  callbacks=[log_to_file(self.log_path), *self.callbacks, *callbacks])
        self.summaries.append(summary)
        done = summary.n_trials - summary.n_resumed
        self.trials += done
        return done

    @property
    def best_latency(self) -> float:
        res = self.tuner.best_result
        return res.mean_cost if res is not None else math.inf

    @property
    def exhausted(self) -> bool:
        return not self.tuner.has_next()

    @property
    def best_config(self) -> Any:
        return self.tuner.best_config

    def scheduled(self, kernel: ModelKernel, config: Any = None) -> Any:
        """``kernel`` scheduled with ``config`` (default: the best found), its leftover
        stages given the default schedule."""
        from tvm import s_tir

        from .default_schedule import schedule_remaining

        config = self.best_config if config is None else config
        if config is None:
            config = default_config(self.task)
        sch = s_tir.Schedule(kernel.use.func)
        kernel.match.apply(sch, config)
        schedule_remaining(sch)
        return sch.mod["main"]


def default_config(task: Any) -> Any:
    """A valid config to use before any trial: the first valid one of a seeded sample
    (the untuned-but-scheduled kernel)."""
    space = task.config_space
    picks = space.sample(1, rng=0)
    return space.get(picks[0] if picks else 0)


@dataclass
class MetaScheduleTask:
    """MetaSchedule tuning of one kernel the templates do not cover (see
    :class:`adatune.model.ms_task.MetaScheduleKernelTuner`)."""

    kernel: ModelKernel
    tuner: Any
    trials: int = 0
    kind: str = field(default="metaschedule", init=False)

    @property
    def name(self) -> str:
        return self.kernel.name

    @property
    def kernels(self) -> List[ModelKernel]:
        return [self.kernel]

    @property
    def weight(self) -> int:
        return self.kernel.use.calls

    def resume(self) -> int:
        used = self.tuner.resume()
        self.trials += used
        return used

    def run(self, n: int, measure_option: Any = None, callbacks: List[Any] = ()) -> int:
        done = self.tuner.run(n)
        self.trials += done
        return done

    @property
    def best_latency(self) -> float:
        return self.tuner.best_latency

    @property
    def exhausted(self) -> bool:
        return self.tuner.exhausted

    def scheduled(self, kernel: ModelKernel, config: Any = None) -> Any:
        func = self.tuner.best_func()
        if func is None:
            from .default_schedule import default_schedule

            return default_schedule(kernel.use.func)
        return func

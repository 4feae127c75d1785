"""Best-so-far curves of tuning logs, and their plot (``adatune plot``, ``--plot``).

Two panels: best GFLOPS against trials (a workload's records in file order) and against
wall time, in seconds since the file's earliest measurement started (the least
``timestamp - all_cost`` of its records, which is the first record's in a log written
by one run), so that the workloads of one file share one clock and a resumed log shows
the pause between its runs.  One line per file and workload, labelled by file name
(and task when a file holds several workloads).

GFLOPS need the workload's FLOP count, which the records layer cannot know (it knows
no templates, and the argument reader in :mod:`adatune.featurize` sits above it):
the caller passes ``flop_of(task_name, args)``, e.g.
:func:`adatune.featurize.estimate_flops`; ``adatune plot`` and ``--plot`` pass one that
asks the template first.  Without a count the curve is 1 / seconds and the axis says
so.  Failed records count as trials and never raise the best.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..errors import ArgumentError
from .reader import iter_records
from .record import FAILED_COST
from .summary import ReadSummary

__all__ = ["Curve", "FlopOf", "log_curves", "plot_logs"]

#: ``flop_of(task_name, args)``: FLOPs of one run of a logged workload, or None.
FlopOf = Callable[[str, Sequence[Any]], Optional[float]]

logger = logging.getLogger(__name__)


@dataclass
class Curve:
    """One workload of one log: best-so-far throughput after each trial.

    Attributes
    ----------
    path, task, workload : str
        The log, the task name and the workload key.
    flop : float or None
        FLOPs of one run of the workload; None when not known.
    trials : list of int
        1, 2, ... (the workload's records in file order, failed ones included).
    seconds : list of float
        Wall time of each trial's end (its ``timestamp``), in seconds from the start of
        the file's earliest measurement.
    best : list of float
        Best-so-far GFLOPS (``flop`` known) or 1 / seconds, after each trial; 0 until
        the first successful one.
    """

    path: str
    task: str
    workload: str
    flop: Optional[float]
    trials: List[int] = field(default_factory=list)
    seconds: List[float] = field(default_factory=list)
    best: List[float] = field(default_factory=list)

    @property
    def unit(self) -> str:
        return "GFLOPS" if self.flop else "1 / s"


def log_curves(paths: Sequence[str], *, flop_of: Optional[FlopOf] = None) -> List[Curve]:
    """Best-so-far curves of every workload of ``paths``, file by file, in file order.

    Parameters
    ----------
    paths : sequence of str
        Log files (anything :func:`adatune.records.iter_records` reads as one file).
    flop_of : callable, optional
        ``flop_of(task_name, args)`` -> FLOPs or None, asked once per workload; without
        it every curve is 1 / seconds.

    Returns
    -------
    list of Curve

    Raises
    ------
    ArgumentError
        For no path, a missing file, or one without a readable record (the reader's
        count of malformed lines is in the message).
    """
    if not paths:
        raise ArgumentError("plot: give at least one log file")
    curves: List[Curve] = []
    for path in paths:
        if not os.path.isfile(path):
            raise ArgumentError(f"plot: no such log file: {path}")
        summary = ReadSummary()
        by_key: Dict[str, Curve] = {}
        start = float("inf")
        for rec in iter_records(path, summary):
            # The earliest start, not the first line's: logs merged from several runs
            # (the NNFusion ones) list workloads out of time order.
            start = min(start, rec.timestamp - rec.all_cost)
            curve = by_key.get(rec.workload_key)
            if curve is None:
                curve = by_key[rec.workload_key] = Curve(
                    str(path), rec.task_name, rec.workload_key,
                    _positive(flop_of(rec.task_name, rec.args)) if flop_of else None)
            value = 0.0
            if rec.ok and 0 < rec.mean_cost < FAILED_COST:
                value = (curve.flop / 1e9 if curve.flop else 1.0) / rec.mean_cost
            curve.trials.append(len(curve.trials) + 1)
            curve.seconds.append(rec.timestamp)
            curve.best.append(max(value, curve.best[-1] if curve.best else 0.0))
        if not by_key:
            raise ArgumentError(f"plot: {path} holds no tuning record "
                                f"({summary.rejected} malformed lines)")
        if summary.rejected:
            logger.warning("plot: %s: %d malformed lines skipped\n%s", path, summary.rejected,
                           summary.format(max_errors=3))
        for curve in by_key.values():
            curve.seconds = [t - start for t in curve.seconds]
        curves.extend(by_key.values())
    return curves


def _positive(flop: Optional[float]) -> Optional[float]:
    return float(flop) if flop and flop > 0 else None


def _labels(curves: Sequence[Curve]) -> List[str]:
    """File name, plus the task when the file holds several workloads, plus the
    workload's number in the file when one task has several (one conv2d per layer)."""
    per_file: Dict[str, int] = {}
    per_task: Dict[Tuple[str, str], int] = {}
    for c in curves:
        per_file[c.path] = per_file.get(c.path, 0) + 1
        per_task[(c.path, c.task)] = per_task.get((c.path, c.task), 0) + 1
    labels: List[str] = []
    index: Dict[str, int] = {}
    for c in curves:
        label = os.path.basename(c.path)
        if per_file[c.path] > 1:
            label += f": {c.task}"
            index[c.path] = index.get(c.path, 0) + 1
            if per_task[(c.path, c.task)] > 1:
                label += f" #{index[c.path]}"
        labels.append(label)
    return labels


def _figure(curves: Sequence[Curve], title: Optional[str] = None) -> Any:
    """The two panels of ``curves`` as a matplotlib ``Figure`` (not yet saved)."""
    # A bare Figure, not pyplot: no global figure to close, and the caller's backend
    # (a notebook's, say) is left alone; savefig renders PNG with Agg.
    from matplotlib.figure import Figure

    units = {c.unit for c in curves}
    ylabel = (f"best {units.pop()}" if len(units) == 1
              else "best GFLOPS (or 1 / s without a FLOP count)")
    # The legend goes under the panels, where a model's twenty workloads cannot hide
    # the curves; the figure grows by its rows.
    ncol = 1 if len(curves) <= 3 else 3
    rows = -(-len(curves) // ncol)
    fig = Figure(figsize=(11, 4.2 + 0.17 * rows), layout="constrained")
    ax_t, ax_s = fig.subplots(1, 2)
    for c, label in zip(curves, _labels(curves)):
        ax_t.step(c.trials, c.best, where="post", label=label)
        ax_s.step(c.seconds, c.best, where="post", label=label)
    ax_t.set_xlabel("trials")
    ax_s.set_xlabel("wall time (s)")
    for ax in (ax_t, ax_s):
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    fig.legend(*ax_t.get_legend_handles_labels(), loc="outside lower center", ncol=ncol,
               fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def plot_logs(paths: Sequence[str], out: str = "run.png", *, title: Optional[str] = None,
              flop_of: Optional[FlopOf] = None) -> str:
    """Draw best-so-far against trials and against wall time for ``paths``.

    Parameters
    ----------
    paths : sequence of str
        AutoTVM JSON-lines logs (what ``log_to_file`` and ``adatune tune`` write).
    out : str
        The PNG to write (default ``run.png`` in the current directory).
    title : str, optional
        Figure title.
    flop_of : callable, optional
        FLOP count of a workload, see :func:`log_curves`; without it the curves are
        1 / seconds.

    Returns
    -------
    str
        ``out``.

    Raises
    ------
    ArgumentError
        See :func:`log_curves`; also when the directory of ``out`` does not exist.
    """
    curves = log_curves(list(paths), flop_of=flop_of)
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise ArgumentError(f"plot: directory {parent} does not exist (for {out})")
    for c in curves:
        logger.info("plot: %s: %s: %d trials, best %.4g %s", c.path, c.task,
                    len(c.trials), c.best[-1], c.unit)
    _figure(curves, title).savefig(out, dpi=110, format="png")
    return out

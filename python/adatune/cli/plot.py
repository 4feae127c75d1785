"""``adatune plot LOG [LOG ...] [--out run.png]``: best-so-far curves of tuning logs.

Two panels: best GFLOPS against trials (the records' order in the file) and against
wall time (seconds since the file's first measurement started: its ``timestamp`` minus
its ``all_cost``; a resumed log shows the pause between its runs).  One line per file
and workload, labelled by file name (and task when a file holds several).  GFLOPS need
the workload's FLOP count: from the template registry when the task is an adatune
template, else from the logged arguments (:func:`adatune.featurize.flops.estimate_flops`);
without one the curve is 1 / seconds and the axis says so.  Failed records count as
trials and never raise the best.  ``adatune tune``/``tune-model --plot PATH`` call
:func:`plot_logs` at the end of a run.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from ..errors import ArgumentError

__all__ = ["Curve", "log_curves", "plot_logs", "add_parser"]

logger = logging.getLogger(__name__)


@dataclass
class Curve:
    """One workload of one log: best-so-far throughput per trial."""

    path: str
    task: str
    workload: str
    flop: Optional[float]
    trials: List[int] = field(default_factory=list)
    seconds: List[float] = field(default_factory=list)
    best: List[float] = field(default_factory=list)
    """Best-so-far GFLOPS (``flop`` known) or 1 / seconds, after each trial."""

    @property
    def unit(self) -> str:
        return "GFLOPS" if self.flop else "1 / s"


def _flop(task_name: str, args: Sequence[Any]) -> Optional[float]:
    """FLOP count of a logged workload, or None."""
    from ..featurize.flops import estimate_flops
    from ..task import create

    try:
        flop = float(create(task_name, tuple(_tuple_args(args))).flop or 0)
        if flop > 0:
            return flop
    except Exception:  # noqa: BLE001 - not one of our templates: read it off the arguments
        pass
    return estimate_flops(task_name, args)


def _tuple_args(args: Sequence[Any]) -> List[Any]:
    return [tuple(_tuple_args(a)) if isinstance(a, list) and a and a[0] != "TENSOR" else a
            for a in args]


def log_curves(paths: Sequence[str]) -> List[Curve]:
    """Best-so-far curves of every workload in ``paths`` (AutoTVM logs).

    Raises
    ------
    ArgumentError
        For a missing file, or one without a readable record (the reader's count of
        malformed lines is in the message).
    """
    from ..records import ReadSummary, iter_records

    if not paths:
        raise ArgumentError("plot: give at least one log file")
    curves: List[Curve] = []
    for path in paths:
        if not os.path.isfile(path):
            raise ArgumentError(f"plot: no such log file: {path}")
        summary = ReadSummary()
        by_key: Dict[str, Curve] = {}
        starts: Dict[str, float] = {}
        for rec in iter_records(path, summary):
            curve = by_key.get(rec.workload_key)
            if curve is None:
                curve = by_key[rec.workload_key] = Curve(
                    path, rec.task_name, rec.workload_key, _flop(rec.task_name, rec.args))
                starts[rec.workload_key] = rec.timestamp - rec.all_cost
            cost = rec.mean_cost
            value = 0.0
            if rec.error_no == 0 and 0 < cost < 1e9:
                value = (curve.flop / 1e9 if curve.flop else 1.0) / cost
            curve.trials.append(len(curve.trials) + 1)
            curve.seconds.append(rec.timestamp - starts[rec.workload_key])
            curve.best.append(max(value, curve.best[-1] if curve.best else 0.0))
        if not by_key:
            raise ArgumentError(f"plot: {path} holds no tuning record "
                                f"({summary.rejected} malformed lines)")
        if summary.rejected:
            logger.warning("plot: %s: %d malformed lines skipped", path, summary.rejected)
        curves.extend(by_key.values())
    return curves


def _label(curve: Curve, several: bool) -> str:
    name = os.path.basename(curve.path)
    return f"{name}: {curve.task}" if several else name


def plot_logs(paths: Sequence[str], out: str = "run.png", *, title: Optional[str] = None) -> str:
    """Draw best-so-far against trials and against wall time for ``paths``; returns ``out``.

    Parameters
    ----------
    paths : sequence of str
        AutoTVM JSON-lines logs (what ``log_to_file`` and ``adatune tune`` write).
    out : str
        The PNG to write.
    title : str, optional
        Figure title.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = log_curves(list(paths))
    per_file: Dict[str, int] = {}
    for c in curves:
        per_file[c.path] = per_file.get(c.path, 0) + 1
    units = {c.unit for c in curves}
    ylabel = f"best {units.pop()}" if len(units) == 1 else "best GFLOPS (or 1 / s without a FLOP count)"
    fig, (ax_t, ax_s) = plt.subplots(1, 2, figsize=(11, 4.2))
    for c in curves:
        label = _label(c, per_file[c.path] > 1)
        ax_t.step(c.trials, c.best, where="post", label=label)
        ax_s.step(c.seconds, c.best, where="post", label=label)
    ax_t.set_xlabel("trials")
    ax_s.set_xlabel("wall time (s)")
    for ax in (ax_t, ax_s):
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    ax_s.legend(loc="lower right", fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    parent = os.path.dirname(os.path.abspath(out))
    if not os.path.isdir(parent):
        raise ArgumentError(f"plot: directory {parent} does not exist (for --out {out})")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def add_parser(sub) -> None:
    p = sub.add_parser("plot", help="best GFLOPS against trials and wall time of tuning logs")
    p.add_argument("logs", nargs="+", metavar="LOG", help="AutoTVM JSON-lines tuning logs")
    p.add_argument("--out", default="run.png", help="PNG to write (default: run.png)")
    p.add_argument("--title", default=None)
    p.set_defaults(func=_run)


def _run(args) -> int:
    out = plot_logs(args.logs, args.out, title=args.title)
    for c in log_curves(args.logs):
        print(f"{c.path}: {c.task}: {len(c.trials)} trials, best {c.best[-1]:.4g} {c.unit}")
    print(f"wrote {out}")
    return 0


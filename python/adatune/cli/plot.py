"""``adatune plot LOG [LOG ...] [--out run.png]``: best-so-far curves of tuning logs.

Best GFLOPS (or 1 / seconds without a FLOP count) against trials and against wall
time, one line per file and workload; curves and drawing are
:func:`adatune.records.plot_logs`.  The records layer knows no templates, so the FLOP
count is supplied here (:func:`workload_flop`), where both owners can be asked.
``adatune tune``/``tune-model --plot PNG`` draw through :func:`write_plot` too.
Prints the path written.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence


def add_parser(sub) -> None:
    p = sub.add_parser("plot", help="best GFLOPS against trials and wall time of tuning logs")
    p.add_argument("logs", nargs="+", metavar="LOG", help="AutoTVM JSON-lines tuning logs")
    p.add_argument("--out", default="run.png", help="PNG to write (default: ./run.png)")
    p.add_argument("--title", default=None, help="figure title")
    p.set_defaults(func=_run)


def workload_flop(task_name: str, args: Sequence[Any]) -> Optional[float]:
    """FLOPs of one run of a logged workload: the template's count, else the arguments'.

    A template's own count is exact (any template, any argument spelling), where
    :func:`adatune.featurize.estimate_flops` only knows conv2d and matrix products
    logged with shapes; None when neither knows.
    """
    from ..featurize.flops import estimate_flops
    from ..task import create

    try:
        flop = float(create(task_name, tuple(_template_args(args))).flop or 0)
        if flop > 0:
            return flop
    except Exception:  # noqa: BLE001 - not one of our templates: read the arguments
        pass
    return estimate_flops(task_name, args)


def _template_args(args: Sequence[Any]) -> List[Any]:
    """Logged (JSON) arguments back as the tuples a template is called with."""
    return [tuple(_template_args(a)) if isinstance(a, list) and a and a[0] != "TENSOR" else a
            for a in args]


def write_plot(paths: Sequence[str], out: str, title: Optional[str] = None) -> str:
    """:func:`adatune.records.plot_logs` with :func:`workload_flop`; returns ``out``."""
    from ..records import plot_logs

    return plot_logs(paths, out, title=title, flop_of=workload_flop)


def _run(args) -> int:
    print(write_plot(args.logs, args.out, title=args.title))
    return 0

"""Figures of a tuning run (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple

from ..errors import NotTunedError
from .config import Config

__all__ = ["plot_tuner_configs"]


def _figure(n_panels: int):
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo"):
        # headless by default: a tuning job must never need a display
        matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5 * n_panels, 4.2))
    axes = [fig.add_subplot(1, n_panels, k + 1) for k in range(n_panels)]
    return fig, axes


def _points(configs: Sequence[Config], qos_of, base: Optional[float]) -> Tuple[List[float], List[float]]:
    """(x, speedup) of ``configs`` sorted by x; x is the QoS, or its loss from ``base``."""
    pts = sorted(((qos_of(c) if base is None else base - qos_of(c)), c.speedup) for c in configs)
    return [p[0] for p in pts], [p[1] for p in pts]


def _vline(ax, x: float, label: str, style: str) -> None:
    ax.axvline(x, color="k", ls=style, lw=1, label=label)


def plot_tuner_configs(tuner: Any, show_qos_loss: bool = False, connect_best_points: bool = False):
    """Plot a tuned :class:`~adatune.approx.ApproxTuner` (QoS against speedup).

    Panel 1: every kept config and the best ones before the test-set filter
    (:attr:`~adatune.approx.ApproxTuner.best_configs_prefilter`); x is the tune-set QoS,
    or with ``show_qos_loss`` its loss from the baseline's tune QoS; vertical lines at
    the baseline QoS and the keep threshold (at the threshold's loss with
    ``show_qos_loss``). Panel 2, only when those best configs were measured on the
    test inputs: each of them twice, at its tune-set QoS loss and at its test-set QoS
    loss (each from its own set's baseline), always as a loss whatever
    ``show_qos_loss`` says, with the keep threshold's loss (the tune and the test one
    when they differ, as with absolute thresholds).

    ``connect_best_points`` joins the best configs by lines (in both panels).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not tuner.tuned:
        raise NotTunedError("plot_configs: no tuning session has run; call tune() first")
    best = tuner.best_configs_prefilter
    has_test = tuner.tested and all(c.test_qos is not None for c in best)
    fig, axes = _figure(2 if has_test else 1)
    base_tune = tuner.baseline_tune_qos
    fmt = "-o" if connect_best_points else "o"

    ax = axes[0]
    loss_base = base_tune if show_qos_loss else None
    ax.plot(*_points(tuner.kept_configs, lambda c: c.qos, loss_base), "o", ms=4, alpha=0.5, label="kept configs")
    ax.plot(*_points(best, lambda c: c.qos, loss_base), fmt, ms=6, color="C3", label="best configs")
    if show_qos_loss:
        _vline(ax, base_tune - tuner.tune_keep_threshold, "keep threshold", "--")
        ax.set_xlabel("QoS loss (tune set)")
    else:
        _vline(ax, base_tune, "baseline QoS", ":")
        _vline(ax, tuner.tune_keep_threshold, "keep threshold", "--")
        ax.set_xlabel("QoS (tune set)")
    ax.set_ylabel("speedup (baseline = 1)")
    ax.set_title(f"{tuner.app.name}: {len(tuner.all_configs)} measured")
    ax.legend(loc="best", fontsize=8)
    if has_test:
        ax2 = axes[1]
        base_test = tuner.baseline_test_qos
        ax2.plot(*_points(best, lambda c: c.qos, base_tune), fmt, ms=6, color="C3", label="tune-set QoS")
        ax2.plot(*_points(best, lambda c: c.test_qos, base_test), fmt, ms=6, color="C2", label="test-set QoS")
        tune_loss = base_tune - tuner.tune_keep_threshold
        test_loss = base_test - tuner.test_keep_threshold
        if abs(tune_loss - test_loss) <= 1e-12 * max(1.0, abs(tune_loss)):
            _vline(ax2, tune_loss, "keep threshold", "--")
        else:
            _vline(ax2, tune_loss, "keep threshold (tune)", "--")
            _vline(ax2, test_loss, "keep threshold (test)", "-.")
        ax2.set_xlabel("QoS loss")
        ax2.set_ylabel("speedup (baseline = 1)")
        ax2.set_title("best configs: tune vs test set")
        ax2.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig

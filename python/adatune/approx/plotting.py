"""Figures of a tuning run (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from typing import Any

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


def plot_tuner_configs(tuner: Any, show_qos_loss: bool = False, connect_best_points: bool = False):
    """Plot a tuned :class:`~adatune.approx.ApproxTuner`.

    Panel 1: kept configs and the best configs in (QoS or QoS loss, speedup), with the
    keep threshold. Panel 2 (only when test QoS was measured): tune vs test QoS of the
    best configs, with the test keep threshold.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not tuner.tuned:
        raise ValueError("plot_configs: call tune() first")
    best = tuner.best_configs_prefilter
    has_test = any(c.test_qos is not None for c in best)
    fig, axes = _figure(2 if has_test else 1)
    base = tuner.baseline_tune_qos

    def x_of(q: float) -> float:
        return base - q if show_qos_loss else q

    ax = axes[0]
    kept = tuner.kept_configs
    ax.scatter([x_of(c.qos) for c in kept], [c.speedup for c in kept], s=12, alpha=0.5, label="kept")
    pts = sorted((x_of(c.qos), c.speedup) for c in best)
    ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=30, color="C3", label="best")
    if connect_best_points and pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color="C3", lw=1)
    ax.axvline(x_of(tuner.tune_keep_threshold), color="k", ls="--", lw=1, label="keep threshold")
    ax.set_xlabel("QoS loss" if show_qos_loss else "QoS")
    ax.set_ylabel("speedup (baseline = 1)")
    ax.set_title(f"{tuner.app.name}: {len(tuner.all_configs)} measured")
    ax.legend(loc="best", fontsize=8)
    if has_test:
        ax2 = axes[1]
        tested = [c for c in best if c.test_qos is not None]
        ax2.scatter([x_of(c.qos) for c in tested], [c.speedup for c in tested], s=30, color="C3", label="tune")
        test_base = tuner.baseline_test_qos if tuner.baseline_test_qos is not None else base
        tx = [(test_base - c.test_qos) if show_qos_loss else c.test_qos for c in tested]
        ax2.scatter(tx, [c.speedup for c in tested], s=30, marker="x", color="C2", label="test")
        thr = tuner.test_keep_threshold
        ax2.axvline((test_base - thr) if show_qos_loss else thr, color="k", ls="--", lw=1,
                    label="test keep threshold")
        ax2.set_xlabel("QoS loss" if show_qos_loss else "QoS")
        ax2.set_ylabel("speedup (baseline = 1)")
        ax2.set_title("best configs: tune vs test")
        ax2.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig

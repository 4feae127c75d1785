"""``adatune plot`` and ``--plot``: best-so-far curves of real tuning logs."""
from __future__ import annotations

import json
import os

import pytest

from adatune.cli import main
from adatune.cli.plot import log_curves, plot_logs
from adatune.errors import ArgumentError

from _shared_data import DATA, require_shared

PNG = b"\x89PNG\r\n\x1a\n"
NNFUSION = DATA / "autotvm" / "nnfusion_osdi20" / "alexnet_nchw_tuned_conv2d.1000.log"


@pytest.fixture(scope="module")
def tuned_log(tmp_path_factory):
    """A real log: ``adatune tune`` of a small dense kernel, with ``--plot``."""
    tmp = tmp_path_factory.mktemp("plot")
    log, png = tmp / "dense.log", tmp / "dense.png"
    rc = main(["tune", "--template", "dense", "--args", "64,64,64", "--trials", "8",
               "--n-parallel", "2", "--seed", "0", "--log", str(log), "--plot", str(png)])
    assert rc == 0
    return log, png


def _best_gflops(log) -> float:
    best = 0.0
    for line in open(log):
        rec = json.loads(line)
        costs, err = rec["result"][0], rec["result"][1]
        if err == 0:
            best = max(best, 2 * 64 ** 3 / (sum(costs) / len(costs)) / 1e9)
    return best


def test_tune_writes_the_plot_of_its_log(tuned_log):
    log, png = tuned_log
    assert png.read_bytes()[:8] == PNG
    (curve,) = log_curves([str(log)])
    assert curve.unit == "GFLOPS" and curve.flop == 2 * 64 ** 3
    assert curve.trials == list(range(1, 9))
    # Best so far: never falls, and ends at the best the records hold.
    assert all(b >= a for a, b in zip(curve.best, curve.best[1:]))
    assert curve.best[-1] == pytest.approx(_best_gflops(log))
    assert curve.best[0] < curve.best[-1] or len(set(curve.best)) == 1
    # Wall time: seconds since the first measurement started, increasing.
    assert 0 < curve.seconds[0] <= curve.seconds[-1] < 600


def test_two_logs_give_two_labelled_curves(tuned_log, tmp_path):
    log, _ = tuned_log
    other = tmp_path / "first_half.log"
    other.write_text("".join(open(log).readlines()[:4]))
    out = plot_logs([str(log), str(other)], str(tmp_path / "two.png"))
    assert open(out, "rb").read(8) == PNG
    curves = log_curves([str(log), str(other)])
    assert [os.path.basename(c.path) for c in curves] == ["dense.log", "first_half.log"]
    assert len(curves[1].trials) == 4 and curves[1].best[-1] <= curves[0].best[-1]


def test_axes_are_trials_and_seconds(tuned_log, tmp_path, monkeypatch):
    import matplotlib.figure

    log, _ = tuned_log
    seen = {}
    real = matplotlib.figure.Figure.savefig

    def spy(fig, *args, **kwargs):
        seen["labels"] = [(ax.get_xlabel(), ax.get_ylabel()) for ax in fig.axes]
        seen["lines"] = [len(ax.get_lines()) for ax in fig.axes]
        return real(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", spy)
    plot_logs([str(log)], str(tmp_path / "a.png"))
    assert seen["labels"] == [("trials", "best GFLOPS"), ("wall time (s)", "best GFLOPS")]
    assert seen["lines"] == [1, 1]
    plot_logs([str(log), str(log)], str(tmp_path / "b.png"))
    assert seen["lines"] == [2, 2]


@require_shared("autotvm/nnfusion_osdi20/alexnet_nchw_tuned_conv2d.1000.log")
def test_third_party_log_gets_gflops_from_its_arguments(tmp_path):
    curves = log_curves([str(NNFUSION)])
    assert len(curves) > 1           # several conv2d workloads: one line each
    assert all(c.unit == "GFLOPS" for c in curves)
    assert all(all(b >= a for a, b in zip(c.best, c.best[1:])) for c in curves)
    rc = main(["plot", str(NNFUSION), "--out", str(tmp_path / "alexnet.png")])
    assert rc == 0 and (tmp_path / "alexnet.png").read_bytes()[:8] == PNG


def test_bad_input_names_the_file(tmp_path, capsys):
    with pytest.raises(ArgumentError, match="no such log file: .*missing.log"):
        log_curves([str(tmp_path / "missing.log")])
    bad = tmp_path / "bad.log"
    bad.write_text("not json\n{}\n")
    with pytest.raises(ArgumentError, match="bad.log holds no tuning record"):
        plot_logs([str(bad)], str(tmp_path / "x.png"))
    assert main(["plot", str(tmp_path / "missing.log")]) == 1
    assert "adatune plot: error:" in capsys.readouterr().err
    assert main(["tune", "--template", "dense", "--args", "8,8,8", "--plot", "p.png"]) == 1
    assert "--plot draws the run's log" in capsys.readouterr().err

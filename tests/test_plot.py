"""``adatune plot``, ``adatune.records.plot_logs`` and ``--plot``, on real tuning logs.

One log comes from a real ``adatune tune`` run (with ``--plot``) in a temporary
directory, the other is a third-party NNFusion log from the shared data.  Expected
values are computed here from the raw JSON lines, not through ``adatune.records``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from adatune.cli import main
from adatune.cli.plot import workload_flop
from adatune.cli.tune_model import _plot as tune_model_plot
from adatune.errors import ArgumentError
from adatune.records import log_curves as _log_curves, plot_logs
from adatune.records.plot import _figure

from _shared_data import DATA, require_shared

PNG = b"\x89PNG\r\n\x1a\n"
NNFUSION = DATA / "autotvm" / "nnfusion_osdi20" / "alexnet_nchw_tuned_conv2d.1000.log"
DENSE_FLOP = 2 * 64 ** 3


@pytest.fixture(scope="module")
def tuned_log(tmp_path_factory):
    """A real log: ``adatune tune`` of a small dense kernel, with ``--plot``."""
    tmp = tmp_path_factory.mktemp("plot")
    log, png = tmp / "dense.log", tmp / "dense.png"
    # In a child: the progress bar must not write to a stream an earlier test's capture closed.
    proc = subprocess.run([sys.executable, "-m", "adatune.cli", "tune", "--template", "dense",
                           "--args", "64,64,64", "--trials", "8", "--n-parallel", "2", "--seed", "0",
                           "--log", str(log), "--plot", str(png)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return log, png


def log_curves(paths):
    """The curves the CLI draws: FLOPs from the template, else the logged arguments."""
    return _log_curves(paths, flop_of=workload_flop)


def _lines(log):
    return [json.loads(line) for line in open(log) if line.strip()]


def _result(line):
    """(costs, error_no, all_cost, timestamp) of a v0.2 ("result") or v0.1 ("r") line."""
    return line.get("result") or line["r"]


def _best(lines, flop=None) -> float:
    """Best GFLOPS (or 1 / s without ``flop``) of the successful lines."""
    best = 0.0
    for line in lines:
        costs, err = _result(line)[:2]
        if err == 0:
            best = max(best, (flop / 1e9 if flop else 1.0) / (sum(costs) / len(costs)))
    return best


def _write(path, lines):
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def _non_decreasing(values) -> bool:
    return all(b >= a for a, b in zip(values, values[1:]))


def test_tune_plot_writes_a_png_of_its_log(tuned_log):
    log, png = tuned_log
    assert png.read_bytes()[:8] == PNG
    lines = _lines(log)
    (curve,) = log_curves([str(log)])
    assert curve.unit == "GFLOPS" and curve.flop == DENSE_FLOP
    assert curve.trials == list(range(1, len(lines) + 1)) and len(lines) == 8
    # Best so far: never falls, and ends at the best the records hold.
    assert _non_decreasing(curve.best)
    assert curve.best[-1] == pytest.approx(_best(lines, DENSE_FLOP))
    # Wall time: each trial's timestamp, from the start of the first measurement.
    start = min(_result(x)[3] - _result(x)[2] for x in lines)
    assert curve.seconds == pytest.approx([_result(x)[3] - start for x in lines])
    assert 0 < curve.seconds[0] <= curve.seconds[-1] < 600


def test_failed_records_count_as_trials_but_never_raise_the_best(tuned_log, tmp_path):
    log, _ = tuned_log
    lines = _lines(log)
    failed = json.loads(json.dumps(lines[3]))
    result = failed.get("result") or failed["r"]
    result[0], result[1] = [1e-12], 4  # absurdly fast, but a run error
    path = _write(tmp_path / "with_failure.log", lines[:4] + [failed] + lines[4:])
    (curve,) = log_curves([path])
    assert curve.trials == list(range(1, 10))
    assert curve.best[4] == curve.best[3]
    assert curve.best[-1] == pytest.approx(_best(lines, DENSE_FLOP))


def test_unknown_flop_count_plots_one_over_seconds(tuned_log, tmp_path):
    log, _ = tuned_log
    lines = _lines(log)
    for line in lines:
        (line.get("input") or line["i"])[1] = "mystery_op"  # no template, no FLOP rule
    path = _write(tmp_path / "mystery.log", lines)
    (curve,) = log_curves([path])
    assert curve.flop is None and curve.unit == "1 / s"
    assert curve.best[-1] == pytest.approx(_best(lines))
    fig = _figure([curve])
    assert [ax.get_ylabel() for ax in fig.axes] == ["best 1 / s", "best 1 / s"]


def test_panels_draw_best_so_far_against_trials_and_seconds(tuned_log, tmp_path):
    log, _ = tuned_log
    lines = _lines(log)
    half = _write(tmp_path / "first_half.log", lines[:4])
    curves = log_curves([str(log), half])
    assert [os.path.basename(c.path) for c in curves] == ["dense.log", "first_half.log"]
    assert len(curves[1].trials) == 4 and curves[1].best[-1] <= curves[0].best[-1]
    fig = _figure(curves)
    ax_t, ax_s = fig.axes
    assert (ax_t.get_xlabel(), ax_t.get_ylabel()) == ("trials", "best GFLOPS")
    assert (ax_s.get_xlabel(), ax_s.get_ylabel()) == ("wall time (s)", "best GFLOPS")
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["dense.log", "first_half.log"]
    for ax, x in ((ax_t, "trials"), (ax_s, "seconds")):
        assert len(ax.get_lines()) == 2
        for line, curve in zip(ax.get_lines(), curves):
            assert list(line.get_xdata()) == pytest.approx(getattr(curve, x))
            assert list(line.get_ydata()) == pytest.approx(curve.best)
    out = plot_logs([str(log), half], str(tmp_path / "two.png"), title="two runs",
                    flop_of=workload_flop)
    assert out == str(tmp_path / "two.png") and open(out, "rb").read(8) == PNG


def test_cli_flop_count_asks_the_template_first():
    # The argument reader cannot read adatune's conv2d spelling (flat ints); the
    # template can: 2 * N*CO*OH*OW * CI*KH*KW with OH = OW = 14 (stride 1, pad 1).
    args = [1, 16, 14, 14, 32, 3, 3, 1, 1, 1, "float32"]
    assert workload_flop("conv2d_nchw", args) == 2 * 32 * 14 * 14 * 16 * 3 * 3
    assert workload_flop("dense", [64, 64, 64, "float32"]) == DENSE_FLOP
    assert workload_flop("mystery_op", [1, 2]) is None


def test_library_without_a_flop_count_plots_one_over_seconds(tuned_log):
    # The records layer knows no templates: without ``flop_of`` it cannot say GFLOPS.
    log, _ = tuned_log
    (curve,) = _log_curves([str(log)])
    assert curve.unit == "1 / s" and curve.best[-1] == pytest.approx(_best(_lines(log)))


def test_cli_prints_the_path_and_defaults_to_run_png(tuned_log, tmp_path, monkeypatch, capsys):
    import adatune.records.plot as plot_module

    log, _ = tuned_log
    drawn = []
    real = plot_module._figure

    def spy(curves, title=None):
        drawn.extend(curves)
        return real(curves, title)

    monkeypatch.setattr(plot_module, "_figure", spy)
    monkeypatch.chdir(tmp_path)
    assert main(["plot", str(log)]) == 0
    assert capsys.readouterr().out.strip() == "run.png"
    assert (tmp_path / "run.png").read_bytes()[:8] == PNG
    # What the CLI drew is GFLOPS (it gave the records layer the FLOP count).
    assert [c.unit for c in drawn] == ["GFLOPS"]
    assert drawn[0].best[-1] == pytest.approx(_best(_lines(log), DENSE_FLOP))


def test_malformed_lines_are_skipped_and_reported(tuned_log, tmp_path, caplog):
    log, _ = tuned_log
    path = tmp_path / "noisy.log"
    path.write_text("not json\n" + open(log).read() + '{"truncated": \n')
    with caplog.at_level("WARNING", logger="adatune.records.plot"):
        (curve,) = log_curves([str(path)])
    assert len(curve.trials) == 8
    assert "noisy.log: 2 malformed lines skipped" in caplog.text


def test_tune_model_plots_template_tasks_only(tuned_log, tmp_path):
    log, _ = tuned_log
    (tmp_path / "ms" / "dense").mkdir(parents=True)
    assert tune_model_plot(str(tmp_path), str(tmp_path / "m.png")).startswith("skipped: ")
    (tmp_path / "records.log").write_text(open(log).read())
    row = tune_model_plot(str(tmp_path), str(tmp_path / "m.png"))
    assert row.startswith(str(tmp_path / "m.png")) and "template-tuned tasks only" in row
    assert (tmp_path / "m.png").read_bytes()[:8] == PNG


@require_shared("autotvm/nnfusion_osdi20/alexnet_nchw_tuned_conv2d.1000.log")
def test_third_party_log_gets_gflops_from_its_arguments(tmp_path):
    lines = _lines(NNFUSION)
    curves = log_curves([str(NNFUSION)])
    assert len(curves) == 5 and all(c.unit == "GFLOPS" for c in curves)
    assert all(_non_decreasing(c.best) for c in curves)
    # The first workload logs its output shape [1, 384, 13, 13] after a 192x3x3 kernel.
    flop = 2 * 384 * 13 * 13 * 192 * 3 * 3
    first = [x for x in lines if x["i"][2] == lines[0]["i"][2]]
    assert curves[0].flop == flop and len(curves[0].trials) == len(first) == 1000
    assert curves[0].best[-1] == pytest.approx(_best(first, flop))
    # Merged runs list workloads out of time order: the clock starts at the earliest.
    assert min(c.seconds[0] for c in curves) >= 0
    assert any(c.seconds[0] < curves[0].seconds[0] for c in curves[1:])
    labels = [t.get_text() for t in _figure(curves).legends[0].get_texts()]
    assert labels[0] == "alexnet_nchw_tuned_conv2d.1000.log: tvm_conv2d_nchw_tune_op #1"
    assert len(set(labels)) == 5
    assert main(["plot", str(NNFUSION), "--out", str(tmp_path / "alexnet.png")]) == 0
    assert (tmp_path / "alexnet.png").read_bytes()[:8] == PNG


def test_bad_input_names_the_file(tmp_path, capsys):
    with pytest.raises(ArgumentError, match="no such log file: .*missing.log"):
        log_curves([str(tmp_path / "missing.log")])
    bad = tmp_path / "bad.log"
    bad.write_text("not json\n{}\n")
    with pytest.raises(ArgumentError, match=r"bad.log holds no tuning record \(2 malformed"):
        plot_logs([str(bad)], str(tmp_path / "x.png"))
    (tmp_path / "empty.log").write_text("")
    with pytest.raises(ArgumentError, match="empty.log holds no tuning record"):
        plot_logs([str(tmp_path / "empty.log")], str(tmp_path / "x.png"))
    assert not (tmp_path / "x.png").exists()
    assert main(["plot", str(tmp_path / "missing.log")]) == 1
    err = capsys.readouterr().err
    assert "adatune plot: error:" in err and "missing.log" in err
    assert main(["tune", "--template", "dense", "--args", "8,8,8", "--plot", "p.png"]) == 1
    assert "--plot draws the run's log" in capsys.readouterr().err

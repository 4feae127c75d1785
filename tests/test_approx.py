"""adatune.approx API on a toy application whose Pareto front is computed by hand.

Toy app (two operators, knobs exact / a / b; QoS = 100 - sum of losses, cost = sum of
per-operator costs, baseline cost 2.0; test QoS = 90 - 2 * sum of losses):

    op1: exact (0, 1.0)   a (1.0, 0.5)   b (3.0, 0.25)      (loss, cost)
    op2: exact (0, 1.0)   a (2.0, 0.5)   b (0.5, 0.90)

    config   qos    rel.cost  speedup   front?
    ee      100.0   1.000     1.000     yes
    eb       99.5   0.950     1.053     yes
    ae       99.0   0.750     1.333     yes
    ab       98.5   0.700     1.429     yes
    ea       98.0   0.750     1.333     no (ab)
    aa       97.0   0.500     2.000     yes
    be       97.0   0.625     1.600     no (aa)
    bb       96.5   0.575     1.739     no (aa)
    ba       95.0   0.375     2.667     yes
"""
import json
import subprocess
import sys

import numpy as np
import pytest

from adatune.approx import (BASELINE_KNOB_NAME, ApproxApp, ApproxKnob, ApproxTuner, Config, dominates,
                            hypervolume, load_configs, pareto_front, take_best_n)
from adatune.approx.synthetic import SyntheticApp
from adatune.errors import ArgumentError, ArgumentTypeError, NotTunedError, RecordError

LOSS = {"op1": {"exact": 0.0, "a": 1.0, "b": 3.0}, "op2": {"exact": 0.0, "a": 2.0, "b": 0.5}}
COST = {"op1": {"exact": 1.0, "a": 0.5, "b": 0.25}, "op2": {"exact": 1.0, "a": 0.5, "b": 0.9}}
FRONT = {("exact", "exact"), ("exact", "b"), ("a", "exact"), ("a", "b"), ("a", "a"), ("b", "a")}


class ToyApp(ApproxApp):
    def __init__(self, target_device=None):
        exact = ApproxKnob("exact", baseline_priority=1)
        a = ApproxKnob("a")
        b = ApproxKnob("b", devices=["gpu"])
        super().__init__({"op1": [exact, a, b], "op2": [exact, a, b]}, target_device=target_device)
        self.calls = []

    @property
    def name(self):
        return "toy"

    def measure_qos_cost(self, with_approxes, is_test=False):
        self.calls.append((dict(with_approxes), is_test))
        loss = sum(LOSS[op][k] for op, k in with_approxes.items())
        cost = sum(COST[op][k] for op, k in with_approxes.items())
        return (90.0 - 2 * loss if is_test else 100.0 - loss), cost


def _key(c):
    return (c.knobs["op1"], c.knobs["op2"])


def _tuned(**kw):
    app = ToyApp()
    t = ApproxTuner(app, progress=False)
    kw.setdefault("qos_tuner_threshold", 90.0)
    t.tune(8, tuner=kw.pop("tuner", "random"), seed=0, **kw)
    return app, t


def test_dominance_direction_and_front():
    assert dominates((99.0, 2.0), (98.0, 1.0))
    assert not dominates((98.0, 1.0), (99.0, 2.0))
    assert not dominates((99.0, 1.0), (99.0, 1.0))  # equal points: neither dominates
    assert dominates((99.0, 2.0), (99.0, 1.0))


def test_exhaustive_tuning_finds_the_hand_computed_front():
    app, t = _tuned(test_configs=False)
    assert t.tuned and len(t.all_configs) == 9  # baseline + 8 = the whole space
    assert {_key(c) for c in t.best_configs} == FRONT
    ba = next(c for c in t.best_configs if _key(c) == ("b", "a"))
    assert ba.qos == pytest.approx(95.0) and ba.cost == pytest.approx(0.375) and ba.speedup == pytest.approx(8 / 3)


@pytest.mark.parametrize("tuner", ["rfei", "ga", "rfei-scalar"])
def test_other_tuners_cover_the_toy_space(tuner):
    app, t = _tuned(test_configs=False, tuner=tuner)
    assert len({_key(c) for c in t.all_configs}) == 9
    assert {_key(c) for c in t.best_configs} == FRONT


def test_absolute_threshold():
    _, t = _tuned(qos_tuner_threshold=97.0, test_configs=False)
    assert {_key(c) for c in t.best_configs} == {("exact", "exact"), ("exact", "b"), ("a", "exact"),
                                                 ("a", "b"), ("a", "a")}
    assert all(c.qos >= 97.0 for c in t.kept_configs) and len(t.kept_configs) == 7


def test_relative_thresholds_use_tune_and_test_baselines_separately():
    _, t = _tuned(qos_tuner_threshold=1.5, is_threshold_relative=True, test_configs=True)
    assert t.tune_keep_threshold == pytest.approx(98.5) and t.test_keep_threshold == pytest.approx(88.5)
    assert {_key(c) for c in t.best_configs_prefilter} == {("exact", "exact"), ("exact", "b"), ("a", "exact"),
                                                           ("a", "b")}
    # on test: ae drops to 88 and ab to 87, below 90 - 1.5
    assert {_key(c) for c in t.best_configs} == {("exact", "exact"), ("exact", "b")}
    assert next(c for c in t.best_configs if _key(c) == ("exact", "b")).test_qos == pytest.approx(89.0)


def test_keep_threshold_zero_is_a_threshold():
    # relative keep 0.0: nothing may lose QoS, so only the baseline is kept
    _, t = _tuned(qos_tuner_threshold=5.0, qos_keep_threshold=0.0, is_threshold_relative=True,
                  test_configs=False)
    assert [_key(c) for c in t.kept_configs] == [("exact", "exact")]
    # absolute keep 0.0: every config clears it
    _, t = _tuned(qos_tuner_threshold=99.0, qos_keep_threshold=0.0, test_configs=False)
    assert len(t.kept_configs) == 9 and {_key(c) for c in t.best_configs} == FRONT


def test_take_best_n_adds_nearest_configs():
    _, t = _tuned(take_best_n=8, test_configs=False)
    keys = [_key(c) for c in t.best_configs]
    assert set(keys[:6]) == FRONT
    assert keys[6:] == [("exact", "a"), ("b", "b")]  # distances 0.115 and 0.186 (be: 0.24)
    assert take_best_n(t.all_configs, 3) == pareto_front(t.all_configs)


def test_dump_load_round_trip(tmp_path):
    with pytest.raises(NotTunedError, match="call tune"):
        ApproxTuner(ToyApp(), progress=False).dump_configs(tmp_path / "x.json")
    _, t = _tuned(qos_tuner_threshold=1.5, is_threshold_relative=True)
    path = tmp_path / "new" / "dir" / "best.json"  # parent directories are created
    t.dump_configs(path)
    back = ApproxTuner.load_configs(path)
    assert back == t.best_configs and all(b.test_qos is not None for b in back)
    assert {_key(c) for c in back} == {("exact", "exact"), ("exact", "b")}
    # best_only=False: the configs within the keep threshold (98.5), not all 9 measured
    t.dump_configs(filepath=path, best_only=False)
    assert load_configs(path) == t.kept_configs
    assert {_key(c) for c in load_configs(path)} == {("exact", "exact"), ("exact", "b"), ("a", "exact"), ("a", "b")}
    assert json.loads(path.read_text())["meta"]["app"] == "toy"
    path.write_text('{"configs": [{"qos": 1.0, "knobs": {}}]}')
    with pytest.raises(RecordError, match="best.json: config #0: missing field 'cost'"):
        load_configs(path)
    path.write_text('{"configs": [{"qos": "high", "cost": 1.0, "knobs": {}}]}')
    with pytest.raises(RecordError, match="config #0: Config: qos must be a number"):
        load_configs(path)


def _lines(ax):
    """Plotted series by legend label: label -> (n, 2) array of (x, y)."""
    return {ln.get_label(): np.asarray(ln.get_xydata()) for ln in ax.get_lines()}


def _xy(configs, x_of):
    return np.array(sorted((x_of(c), c.speedup) for c in configs)).reshape(-1, 2)


def test_plot_shows_the_kept_and_best_configs():
    # absolute threshold 97, no test phase: 7 kept, 5 on the front; one panel
    _, t = _tuned(qos_tuner_threshold=97.0, test_configs=False)
    assert len(t.kept_configs) == 7 and len(t.best_configs_prefilter) == 5
    fig = t.plot_configs()
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_xlabel() == "QoS (tune set)" and ax.get_ylabel().startswith("speedup")
    got = _lines(ax)
    assert np.allclose(got["kept configs"], _xy(t.kept_configs, lambda c: c.qos))
    assert np.allclose(got["best configs"], _xy(t.best_configs_prefilter, lambda c: c.qos))
    assert np.allclose(got["best configs"][:, 1], [2.0, 1.4285714, 1.3333333, 1.0526316, 1.0])  # aa ab ae eb ee
    assert np.allclose(got["baseline QoS"][:, 0], 100.0) and np.allclose(got["keep threshold"][:, 0], 97.0)
    assert got["best configs"].shape[0] == 5  # connect_best_points=False: markers only
    assert _lines(ax)["best configs"].shape == (5, 2)
    assert fig.axes[0].get_lines()[1].get_linestyle() == "None"
    # QoS loss: x is baseline QoS - QoS, one line at the threshold's loss (3)
    ax = t.plot_configs(show_qos_loss=True, connect_best_points=True).axes[0]
    assert ax.get_xlabel() == "QoS loss (tune set)"
    got = _lines(ax)
    assert np.allclose(got["best configs"], _xy(t.best_configs_prefilter, lambda c: 100.0 - c.qos))
    assert np.allclose(got["keep threshold"][:, 0], 3.0) and "baseline QoS" not in got
    assert ax.get_lines()[1].get_linestyle() == "-"


def test_plot_second_panel_compares_tune_and_test_loss():
    # relative 1.5: front {ee, eb, ae, ab}; test QoS 90 - 2 * loss, test baseline 90
    _, t = _tuned(qos_tuner_threshold=1.5, is_threshold_relative=True)
    fig = t.plot_configs(show_qos_loss=False)
    assert len(fig.axes) == 2
    ax0, ax1 = fig.axes
    assert np.allclose(_lines(ax0)["keep threshold"][:, 0], 98.5)
    assert ax1.get_xlabel() == "QoS loss"  # always a loss, whatever show_qos_loss says
    got = _lines(ax1)
    assert np.allclose(got["tune-set QoS"], [[0, 1], [0.5, 1 / 0.95], [1, 4 / 3], [1.5, 1 / 0.7]])
    assert np.allclose(got["test-set QoS"], [[0, 1], [1, 1 / 0.95], [2, 4 / 3], [3, 1 / 0.7]])
    assert np.allclose(got["keep threshold"][:, 0], 1.5)  # relative: the same loss on both sets
    # absolute 97 with a test phase: every config fails on test (best empty), yet the
    # prefilter front was tested, so two panels, with the tune (3) and test (-7) losses
    _, t = _tuned(qos_tuner_threshold=97.0, test_configs=True)
    assert t.best_configs == [] and len(t.best_configs_prefilter) == 5
    fig = t.plot_configs()
    assert len(fig.axes) == 2
    got = _lines(fig.axes[1])
    assert np.allclose(got["keep threshold (tune)"][:, 0], 3.0)
    assert np.allclose(got["keep threshold (test)"][:, 0], -7.0)
    assert np.allclose(got["test-set QoS"], _xy(t.best_configs_prefilter, lambda c: 90.0 - c.test_qos))
    with pytest.raises(NotTunedError):
        ApproxTuner(ToyApp(), progress=False).plot_configs()


def test_knobs_filtered_by_device_and_baseline():
    app = ToyApp(target_device="cpu")
    assert [k.name for k in app.op_knobs["op1"]] == ["exact", "a"]  # b exists on gpu only
    assert [k.name for k in ToyApp(target_device="gpu").op_knobs["op2"]] == ["exact", "a", "b"]
    assert app.baseline_knob.name == "exact" and app.baseline_config == {"op1": "exact", "op2": "exact"}
    t = ApproxTuner(app, progress=False)
    t.tune(10, 0.0)
    assert all("b" not in c.knobs.values() for c in t.all_configs) and len(t.all_configs) == 4


class NoBaselineApp(ApproxApp):
    def __init__(self, op_knobs=None, target_device=None):
        p = ApproxKnob("p")
        super().__init__({"x": [p], "y": [ApproxKnob("q"), p]} if op_knobs is None else op_knobs, target_device)

    name = "nobase"

    def measure_qos_cost(self, with_approxes, is_test=False):
        return 1.0, 1.0


def test_baseline_knob_added_when_none_declared():
    app = NoBaselineApp()
    assert app.baseline_knob.name == BASELINE_KNOB_NAME
    assert all(ks[0].name == BASELINE_KNOB_NAME for ks in app.op_knobs.values())
    assert [k.name for k in app.knobs] == [BASELINE_KNOB_NAME, "p", "q"]


def test_baseline_priority_highest_wins_and_add_baseline_to_knobs():
    lo, hi, other = ApproxKnob("lo", baseline_priority=1), ApproxKnob("hi", baseline_priority=5), ApproxKnob("o")
    app = NoBaselineApp({"x": [lo, other], "y": [other, hi], "z": [other]})
    assert app.baseline_knob is hi
    assert [k.name for k in app.op_knobs["x"]] == ["hi", "lo", "o"]  # offered on every operator
    assert [k.name for k in app.op_knobs["y"]] == ["o", "hi"]
    assert app.add_baseline_to_knobs({}) == {"x": "hi", "y": "hi", "z": "hi"} == app.baseline_config
    assert app.add_baseline_to_knobs({"y": "o", "x": "lo"}) == {"x": "lo", "y": "o", "z": "hi"}
    full = {"x": "o", "y": "o", "z": "o"}
    assert app.add_baseline_to_knobs(full) == full
    with pytest.raises(ValueError, match=r"unknown operators \['w'\]"):
        app.add_baseline_to_knobs({"w": "o"})
    with pytest.raises(TypeError, match="approxes must be a mapping"):
        app.add_baseline_to_knobs(["x"])
    # the baseline knob survives device filtering only if it exists on the device
    gpu = ApproxKnob("gpu_exact", devices=["gpu"], baseline_priority=9)
    assert NoBaselineApp({"x": [gpu, lo]}).baseline_knob is gpu
    app = NoBaselineApp({"x": [gpu, lo]}, target_device="cpu")
    assert app.baseline_knob is lo and [k.name for k in app.op_knobs["x"]] == ["lo"]


def test_bad_input_is_named():
    app = ToyApp()
    t = ApproxTuner(app, progress=False)
    with pytest.raises(ValueError, match="unknown tuner 'nope'"):
        t.tune(4, 90.0, tuner="nope")
    with pytest.raises(ArgumentError, match="operator 'op1' has no knob 'zz'"):
        app.check_config({"op1": "zz", "op2": "a"})
    with pytest.raises(ArgumentError, match="tune: max_iter must be a positive int, got 0"):
        t.tune(0, 90.0)
    with pytest.raises(ArgumentTypeError, match="tune: max_iter must be an int, got 2.5"):
        t.tune(2.5, 90.0)
    with pytest.raises(ArgumentTypeError, match="tune: qos_tuner_threshold must be a number"):
        t.tune(4, "90")
    with pytest.raises(ArgumentError, match="tune: qos_keep_threshold must be a finite number"):
        t.tune(4, 90.0, float("nan"))
    with pytest.raises(ArgumentError, match="tune: take_best_n must be a positive int"):
        t.tune(4, 90.0, take_best_n=0)
    with pytest.raises(ArgumentTypeError, match="tune: app_kwargs must be a mapping"):
        t.tune(4, 90.0, app_kwargs=[1])
    with pytest.raises(ArgumentTypeError, match="tune: stop_when must be callable"):
        t.tune(4, 90.0, stop_when=3)
    with pytest.raises(TypeError):  # the extras are keyword-only: an 8th positional is refused
        t.tune(4, 90.0, None, False, None, True, None, "random")
    with pytest.raises(ArgumentTypeError, match="ApproxTuner: app must be an ApproxApp"):
        ApproxTuner("toy")
    with pytest.raises(ArgumentError, match="two different knobs"):
        NoBaselineApp({"x": [ApproxKnob("p")], "y": [ApproxKnob("p")]})
    with pytest.raises(ArgumentTypeError, match="operator 'x' has 'p', not an ApproxKnob"):
        NoBaselineApp({"x": ["p"]})
    with pytest.raises(ArgumentTypeError, match="op_knobs must be a mapping"):
        NoBaselineApp([("x", [ApproxKnob("p")])])
    with pytest.raises(ArgumentError, match="op_knobs must not be empty"):
        NoBaselineApp({})
    with pytest.raises(ArgumentTypeError, match=r"ApproxKnob\('k'\): baseline_priority must be an int"):
        ApproxKnob("k", baseline_priority=1.5)
    with pytest.raises(ArgumentTypeError, match="not the string 'gpu'"):
        ApproxKnob("k", devices="gpu")
    with pytest.raises(ArgumentTypeError, match="ApproxKnob: name must be a str"):
        ApproxKnob(3)
    with pytest.raises(ArgumentError, match="Config: cost must be > 0"):
        Config(1.0, 0.0, {})
    with pytest.raises(ArgumentTypeError, match="Config: knobs must be a mapping"):
        Config(1.0, 1.0, ["op1"])


def test_config_sorts_knobs_by_operator():
    c = Config(99.0, 0.5, {"op2": "a", "op1": "b"}, test_qos=98.0)
    assert list(c.knobs) == ["op1", "op2"] and c.speedup == 2.0 and c.test_qos == 98.0


def test_hypervolume_by_hand():
    pts = np.array([[3.0, 1.0], [1.0, 3.0], [2.0, 2.0], [0.5, 0.5]])
    # staircase above ref (0, 0): 3*1 + 2*(2-1) + 1*(3-2) = 6
    assert hypervolume(pts, (0.0, 0.0)) == pytest.approx(6.0)
    assert hypervolume(pts, (5.0, 0.0)) == 0.0


@pytest.mark.parametrize("acquisition", ["ehvi", "cei", "both"])
def test_rfei_approaches_the_synthetic_front(acquisition):
    """The rfei search on a 4x5 synthetic app (625 configs, exact front by enumeration)."""
    app = SyntheticApp(n_ops=4, n_knobs=5, seed=3)
    thr = 95.0
    front = app.reference_front(min_qos=thr)
    ref = hypervolume(np.array([[c.qos, c.speedup] for c in front]), (thr, 1.0))
    t = ApproxTuner(app, progress=False)
    t.tune(80, thr, seed=1, tuner_kwargs={"acquisition": acquisition})
    got = hypervolume(np.array([[c.qos, c.speedup] for c in t.all_configs]), (thr, 1.0))
    assert got >= 0.9 * ref


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rfei_epsilon_falls_as_the_models_get_certain(seed):
    """Epsilon is the speedup model's mean spread over the best speedup: on a 4x5 synthetic
    app with plain forests (no ridge trend to absorb the additive cost) the spread starts
    large and shrinks as measurements accumulate, and the best speedup grows, so epsilon
    must fall from refit to refit (0.11-0.17 at the first refits, about 0.06 after 120)."""
    app = SyntheticApp(n_ops=4, n_knobs=5, seed=3)
    t = ApproxTuner(app, progress=False)
    t.tune(120, 90.0, seed=seed, tuner_kwargs={"additive_prior": False})
    h = np.array(t.search.epsilon_history)
    assert len(h) >= 6  # one value per refit
    assert np.all((h >= 0.02) & (h <= 0.5))
    first, last = h[:2].mean(), h[-2:].mean()
    assert first > 0.08  # well above the low clip: the fall is not the clip's doing
    assert last < 0.75 * first


def test_ehvi_matches_monte_carlo():
    """The closed-form EHVI against the mean hypervolume gain of sampled points."""
    from adatune.approx.search import _ehvi

    front = np.array([[98.6, 1.7], [98.3, 2.0], [97.5, 2.4], [96.1, 2.7], [95.0, 0.9]])
    ref = (96.05, 1.0)
    base = hypervolume(front, ref)
    rng = np.random.default_rng(0)
    mu = np.array([[98.0, 2.1], [99.0, 1.5], [97.0, 2.8], [99.5, 3.0], [95.0, 3.0]])
    sd = np.array([[0.5, 0.2], [0.3, 0.1], [1.0, 0.3], [0.0, 0.0], [0.5, 0.2]])
    got = _ehvi(mu[:, 0], sd[:, 0], mu[:, 1], sd[:, 1], front, ref)
    for k in range(len(mu)):
        ys = rng.normal(mu[k], sd[k], size=(4000, 2))
        mc = np.mean([hypervolume(np.vstack([front, y]), ref) - base for y in ys])
        assert got[k] == pytest.approx(mc, rel=0.05, abs=2e-3)
    # a certain point: exactly its hypervolume gain (here it dominates the whole front)
    assert got[3] == pytest.approx(hypervolume(np.array([[99.5, 3.0]]), ref) - base)
    assert _ehvi(mu[:, 0], sd[:, 0], mu[:, 1], sd[:, 1], np.zeros((0, 2)), ref)[3] == \
        pytest.approx((99.5 - ref[0]) * (3.0 - ref[1]))


@pytest.mark.parametrize("mode", ["model", "random"])
def test_local_share_plans_neighbours_of_the_front(mode):
    from adatune.approx.pareto import pareto_mask
    from adatune.approx.search import ConstrainedEISearch

    app = SyntheticApp(n_ops=4, n_knobs=5, seed=3)
    t = ApproxTuner(app, progress=False)
    s = ConstrainedEISearch(t.space, 95.0, np.random.default_rng(0), 100.0, plan_size=10, local_share=1.0,
                            local_mode=mode, epsilon=0.0)
    idx = s.propose(20)  # random: no fit yet
    qos, sp = [], []
    for i in idx:
        q, c = app.measure_qos_cost(t.knobs_of(i), False)
        qos.append(q)
        sp.append(1.0 / c)
    s.observe(idx, qos, sp)  # refits: the next plan is all local moves
    q, p = np.array(qos), np.array(sp)
    ok = np.flatnonzero(q >= 95.0)
    front = [t.space.digits(idx[k]) for k in ok[pareto_mask(np.c_[q[ok], p[ok]])]]
    plan = list(s._plan)
    assert len(plan) == 10 and not set(plan) & set(idx)
    for i in plan:
        d = t.space.digits(i)
        assert min(sum(a != b for a, b in zip(d, f)) for f in front) == 1
    # front configs are taken in turn, so the plan spreads over several of them
    near = {min(range(len(front)), key=lambda j: sum(a != b for a, b in zip(t.space.digits(i), front[j])))
            for i in plan}
    assert len(near) == min(len(front), 10)


def test_search_options_are_validated():
    t = ApproxTuner(SyntheticApp(n_ops=2, n_knobs=3), progress=False)
    for kw in ({"acquisition": "hv"}, {"local_share": 1.5}, {"local_mode": "greedy"}):
        with pytest.raises(ValueError, match=next(iter(kw))):
            t.tune(5, 95.0, tuner_kwargs=kw)


def test_import_does_not_load_tvm():
    code = "import adatune.approx, adatune.approx.digits, sys; assert 'tvm' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_predictive_mode_profiles_once_and_reports_measurements(tmp_path):
    from adatune.approx.predictive import PredictiveApproxTuner

    app = SyntheticApp(n_ops=4, n_knobs=5, seed=3)  # gamma > 0: QoS is not additive
    t = PredictiveApproxTuner(app, cache_dir=tmp_path, progress=False)
    best = t.tune(150, 95.0, seed=0, take_best_n=20, tuner="ga")
    assert t.qos_model.n_profiled == 1 + 4 * 4  # baseline + one run per (operator, non-baseline knob)
    assert len(t.model_configs) == 151 and best
    base_cost = app.measure_qos_cost(app.baseline_config, False)[1]
    for c in t.all_configs:  # every reported number is a measurement, not a prediction
        qos, cost = app.measure_qos_cost(c.knobs, False)
        assert c.qos == pytest.approx(qos) and c.cost == pytest.approx(cost / base_cost)
    assert any(abs(t.qos_model.predict(c.knobs) - c.qos) > 1e-6 for c in t.all_configs)
    again = PredictiveApproxTuner(app, cache_dir=tmp_path, progress=False)
    again.tune(20, 95.0, seed=0)
    assert again.qos_model.n_profiled == 0  # read from the cache


def test_stop_when_and_progress_bar(capsys):
    app = SyntheticApp(n_ops=4, n_knobs=5, seed=3)
    t = ApproxTuner(app, progress=True)
    t.tune(100, 95.0, tuner="random", seed=0, stop_when=lambda tu: len(tu.all_configs) >= 20)
    assert 20 <= len(t.all_configs) <= 27  # checked after every batch of at most 8
    assert "tuning synthetic4x5" in capsys.readouterr().err

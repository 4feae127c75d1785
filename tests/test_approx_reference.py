"""Code written for predtuner's "General Application Autotuning API" runs on adatune.approx.

The applications below are written from the reference text
(../shared/reference/approxtuner-api.txt), the way its docs tell a user to: subclass
``ApproxApp``, give it a ``name``, implement ``measure_qos_cost``; call
``add_baseline_to_knobs`` to accept abbreviated configurations; tune through
``app.get_tuner().tune(...)``. Only the import line differs from predtuner code
(``from predtuner import ApproxApp, ApproxKnob, ...``).

The application is a toy 5-layer network whose layers each take an approximation
(perforation, sampling, half precision on GPU only); QoS and cost are arithmetic on the
knob names, so the whole space (5**5 configs on the CPU) is enumerable and the exact
Pareto front known.
"""
import itertools
import json

import numpy as np
import pytest

from adatune.approx import ApproxApp, ApproxKnob, ApproxTuner, Config, hypervolume, pareto_front

# knob name -> (speedup, QoS loss at sensitivity 1)
KNOB_EFFECT = {"fp32": (1.0, 0.0), "fp16": (1.6, 0.05), "perf2": (1.8, 0.9), "perf3": (2.6, 2.4),
               "samp2": (1.5, 0.4), "samp4": (2.9, 3.0)}
LAYER_FLOPS = {"conv1": 4.0, "conv2": 3.0, "conv3": 2.0, "conv4": 1.5, "fc1": 0.5}
LAYER_SENSITIVITY = {"conv1": 1.6, "conv2": 0.5, "conv3": 1.0, "conv4": 0.3, "fc1": 2.0}


class EffectKnob(ApproxKnob):
    """A knob that knows its speedup and QoS loss (as a user's knob subclass would)."""

    def __init__(self, name, devices=None, baseline_priority=None):
        super().__init__(name, devices, baseline_priority)
        self.speedup, self.loss = KNOB_EFFECT[name]


def _knobs():
    return [EffectKnob("fp32", baseline_priority=0), EffectKnob("fp16", devices=["gpu"]), EffectKnob("perf2"),
            EffectKnob("perf3"), EffectKnob("samp2"), EffectKnob("samp4")]


class ToyNetApp(ApproxApp):
    """Abbreviated configs allowed: measure_qos_cost completes them with add_baseline_to_knobs."""

    def __init__(self, target_device="cpu"):
        knobs = _knobs()
        super().__init__({layer: list(knobs) for layer in LAYER_FLOPS}, target_device)
        self.knob_by_name = {k.name: k for k in knobs}
        self.seen = []

    @property
    def name(self) -> str:
        return "toynet"

    def measure_qos_cost(self, with_approxes, is_test):
        approxes = self.add_baseline_to_knobs(with_approxes)
        self.seen.append(dict(with_approxes))
        loss = sum(LAYER_SENSITIVITY[op] * self.knob_by_name[k].loss for op, k in approxes.items())
        # the test set is a little harder, and approximations hurt it a little more
        qos = 88.0 - 1.15 * loss if is_test else 90.0 - loss
        cost = sum(LAYER_FLOPS[op] / self.knob_by_name[k].speedup for op, k in approxes.items())
        return qos, cost


class StrictApp(ToyNetApp):
    """Needs every operator in the config (never calls add_baseline_to_knobs)."""

    name = "strict"

    def __init__(self):
        super().__init__()
        self.batch_sizes = set()

    def measure_qos_cost(self, with_approxes, is_test, batch_size=64):
        self.seen.append(dict(with_approxes))
        self.batch_sizes.add(batch_size)
        loss = sum(LAYER_SENSITIVITY[op] * self.knob_by_name[with_approxes[op]].loss for op in self.ops)
        cost = sum(LAYER_FLOPS[op] / self.knob_by_name[with_approxes[op]].speedup for op in self.ops)
        return (88.0 - 1.15 * loss if is_test else 90.0 - loss), cost


def _all_configs(app):
    """Every config of ``app`` as a Config (cost relative to the baseline)."""
    names = [[k.name for k in app.op_knobs[op]] for op in app.ops]
    base_cost = app.measure_qos_cost({}, False)[1]
    out = []
    for combo in itertools.product(*names):
        knobs = dict(zip(app.ops, combo))
        qos, cost = app.measure_qos_cost(knobs, False)
        out.append(Config(qos, cost / base_cost, knobs))
    return out


def _hv(configs, threshold):
    return hypervolume(np.array([[c.qos, c.speedup] for c in configs]).reshape(-1, 2), (threshold, 1.0))


def test_reference_names_and_baseline():
    app = ToyNetApp()
    assert app.ops == ["conv1", "conv2", "conv3", "conv4", "fc1"]
    assert app.baseline_knob.name == "fp32"  # the only knob with a baseline_priority
    assert sorted(k.name for k in app.knobs) == ["fp32", "perf2", "perf3", "samp2", "samp4"]  # fp16: GPU only
    assert all(app.baseline_knob in app.op_knobs[op] for op in app.ops)
    assert not ApproxKnob("x", devices=["gpu"]).exists_on_device("cpu")
    assert ApproxKnob("x").exists_on_device("cpu") and ApproxKnob("x", ["gpu"]).exists_on_device("gpu")
    assert "fp16" in {k.name for k in ToyNetApp(target_device="gpu").knobs}
    # measure_qos_cost({}) is the baseline, through add_baseline_to_knobs
    assert app.measure_qos_cost({}, False) == pytest.approx((90.0, 11.0))
    assert app.measure_qos_cost({}, True) == pytest.approx((88.0, 11.0))
    assert app.add_baseline_to_knobs({"fc1": "perf2"}) == {
        "conv1": "fp32", "conv2": "fp32", "conv3": "fp32", "conv4": "fp32", "fc1": "perf2"}
    assert app.measure_qos_cost({"fc1": "perf2"}, False) == pytest.approx((90.0 - 2.0 * 0.9, 10.5 + 0.5 / 1.8))
    tuner = app.get_tuner()
    assert isinstance(tuner, ApproxTuner) and tuner.app is app and not tuner.tuned
    c = Config(89.0, 0.5, {"fc1": "perf2", "conv1": "fp32"})
    assert c.speedup == 2.0 and c.test_qos is None and list(c.knobs) == ["conv1", "fc1"]


def test_reference_app_tunes_end_to_end(tmp_path):
    app = ToyNetApp()
    tuner = app.get_tuner()
    tuner.progress = False
    # as predtuner's docs call it: relative thresholds, the tuner one tighter than the keep one
    # (seed: our keyword, for a reproducible test; predtuner's OpenTuner run is unseeded)
    best = tuner.tune(max_iter=100, qos_tuner_threshold=2.0, qos_keep_threshold=3.0, is_threshold_relative=True,
                      take_best_n=12, seed=0)
    assert tuner.tuned and best is tuner.best_configs
    calls = list(app.seen)
    n_front = len(tuner.best_configs_prefilter)
    assert n_front >= 12  # the strict front, topped up to 12 when shorter
    assert len(calls) == 2 + 100 + n_front  # baseline on both sets, the search, the front on the test set
    assert all(set(cfg) == set(app.ops) for cfg in calls)  # the tuner passes whole configs
    # baselines from the app's own {} answer (the tuner passes the full baseline config)
    assert tuner.baseline_tune_qos == pytest.approx(app.measure_qos_cost({}, False)[0])
    assert tuner.baseline_test_qos == pytest.approx(app.measure_qos_cost({}, True)[0])
    assert tuner.tune_keep_threshold == pytest.approx(87.0) and tuner.test_keep_threshold == pytest.approx(85.0)
    assert len(tuner.all_configs) == 101  # the baseline and 100 searched configs
    base_cost = app.measure_qos_cost({}, False)[1]
    for c in best:  # what is reported is what the app measures
        qos, cost = app.measure_qos_cost(c.knobs, False)
        assert c.qos == pytest.approx(qos) and c.cost == pytest.approx(cost / base_cost)
        assert c.test_qos == pytest.approx(app.measure_qos_cost(c.knobs, True)[0]) and c.test_qos >= 85.0
    assert {id(c) for c in best} <= {id(c) for c in tuner.best_configs_prefilter}
    assert all(c.qos >= 87.0 for c in tuner.kept_configs)
    # the tuned front against the exact one (enumerated) and against random picks
    everything = _all_configs(app)
    exact_hv = _hv(pareto_front(everything), 87.0)
    got_hv = _hv(tuner.kept_configs, 87.0)
    assert got_hv >= 0.85 * exact_hv  # 0.93 here; 100 random picks: 0.57 in the median, 0.74 at most
    rng = np.random.default_rng(0)
    random_hv = [_hv([everything[i] for i in rng.choice(len(everything), 100, replace=False)
                      if everything[i].qos >= 87.0], 87.0) for _ in range(20)]
    assert got_hv > np.percentile(random_hv, 95)
    # dump: the best configs, or every config within the keep threshold
    path = tmp_path / "out" / "best.json"
    tuner.dump_configs(path)
    dumped = json.loads(path.read_text())["configs"]
    assert [d["knobs"] for d in dumped] == [c.knobs for c in best]
    tuner.dump_configs(path, best_only=False)
    assert len(json.loads(path.read_text())["configs"]) == len(tuner.kept_configs)
    fig = tuner.plot_configs(show_qos_loss=True, connect_best_points=True)
    assert len(fig.axes) == 2  # test-set filtering was used
    # predtuner's positional order: max_iter, tuner threshold, keep threshold, relative, take_best_n, test
    t2 = app.get_tuner(progress=False)
    b2 = t2.tune(20, 2.0, None, True, None, False)
    assert t2.tune_keep_threshold == pytest.approx(88.0) and b2 and all(c.test_qos is None for c in b2)
    assert len(t2.plot_configs().axes) == 1


def test_app_that_needs_full_configs_tunes_too():
    app = StrictApp()
    with pytest.raises(KeyError):
        app.measure_qos_cost({}, False)  # this app cannot take predtuner's abbreviated baseline
    app.seen.clear()
    app.batch_sizes.clear()
    tuner = ApproxTuner(app, progress=False)
    best = tuner.tune(30, 2.0, is_threshold_relative=True, app_kwargs={"batch_size": 8})
    assert best and all(len(cfg) == len(app.ops) for cfg in app.seen)
    assert app.batch_sizes == {8}  # app_kwargs reach every call, the baseline's and the test set's too
    assert tuner.baseline_tune_qos == pytest.approx(90.0) and tuner.all_configs[0].cost == 1.0

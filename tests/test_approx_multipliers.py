"""Approximate multipliers and the digits application (sklearn's bundled load_digits)."""
import numpy as np
import pytest

from adatune.approx import ApproxTuner
from adatune.approx.multipliers import (IntermediateLayerResults, LayerInfo, MatchingInfo, default_multipliers,
                                        deploy_multipliers, estimate_error_std, lut_matmul, make_multiplier,
                                        select_layer_multiplier, select_multipliers)
from adatune.errors import ArgumentError, ArgumentTypeError


@pytest.fixture(scope="module")
def mults():
    return default_multipliers()


def test_tables_and_costs(mults):
    v = np.arange(-128, 128)
    assert np.array_equal(mults["exact"].table, v[:, None] * v[None, :])
    assert not mults["exact"].error_map.any()
    # trunc k removes the k(k+1)/2 partial products of columns i + j < k
    assert mults["trunc5"].cost == pytest.approx((64 - 15) / 64)
    # broken array: rows j < 2 (16 bits) plus the columns i + j < 6 above them (4 + 3 + 2 + 1 = 10)
    assert mults["bam2_6"].cost == pytest.approx((64 - 26) / 64)
    t = mults["trunc5"]
    assert t(5, 3) == 0  # 5 * 3 = 15: every set bit sits in columns < 5
    assert t(-100, 7) == -t(100, 7)  # sign-magnitude: the sign is exact
    costs = [m.cost for m in mults.values()]
    assert costs == sorted(costs, reverse=True) and costs[0] == 1.0
    assert all(m.performance_metric == m.cost for m in mults.values())  # agnapprox's name
    with pytest.raises(ArgumentError, match=r"make_multiplier\('bad'\): hbl must be an int in \[0, 7\]"):
        make_multiplier("bad", hbl=9)
    with pytest.raises(ArgumentTypeError, match="vbl must be an int"):
        make_multiplier("bad", vbl=2.0)


def test_lut_matmul_exact_matches_integer_matmul(mults):
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (37, 20))
    w = rng.integers(-128, 128, (20, 9))
    assert np.array_equal(lut_matmul(x, w, mults["exact"]), x @ w)
    with pytest.raises(ValueError, match="int8"):
        lut_matmul(x + 200, w, mults["exact"])


@pytest.mark.parametrize("name", ["trunc3", "trunc6", "bam1_6", "bam2_8", "trunc9"])
def test_error_estimate_matches_monte_carlo(mults, name):
    """Histogram estimate of the output error std vs the measured one, random int8 data."""
    rng = np.random.default_rng(1)
    m = mults[name]
    x = rng.integers(0, 128, (512, 64))  # post-ReLU activations are non-negative
    w = np.clip(np.round(rng.normal(0, 40, (64, 48))), -127, 127).astype(np.int64)
    measured = float(np.std(lut_matmul(x, w, m) - x @ w))
    px = np.bincount(x.ravel() + 128, minlength=256) / x.size
    pw = np.bincount(w.ravel() + 128, minlength=256) / w.size
    est = estimate_error_std(px, pw, m, n_terms=64)
    assert est == pytest.approx(measured, rel=0.10)


def test_select_layer_multiplier(mults):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 128, (600, 64))
    w = rng.integers(-127, 128, (64, 32))
    layer = IntermediateLayerResults(x, w)
    assert layer.fan_in == 64 and np.array_equal(layer.outputs, x @ w)
    assert select_layer_multiplier(layer, list(mults.values()), 0.0) == ("exact", 1.0)
    loose = select_layer_multiplier(intermediate_results=layer, multipliers=mults, max_noise=0.3, num_samples=512)
    mid = select_layer_multiplier(layer, mults, 0.02)
    assert loose[1] < mid[1] < 1.0  # more noise allowed => cheaper
    # the chosen one fits and the next cheaper one does not
    px = np.bincount(x.ravel() + 128, minlength=256) / x.size
    pw = np.bincount(w.ravel() + 128, minlength=256) / w.size
    allowed = 0.02 * np.std(x @ w)
    assert estimate_error_std(px, pw, mults[mid[0]], 64) <= allowed * 1.01
    cheaper = [m for m in mults.values() if m.cost < mid[1]]
    assert all(estimate_error_std(px, pw, m, 64) > allowed * 0.99 for m in cheaper)
    with pytest.raises(ArgumentError, match="do not multiply"):
        IntermediateLayerResults(x, w[:10])
    with pytest.raises(ArgumentTypeError, match="intermediate_results must be an IntermediateLayerResults"):
        select_layer_multiplier((x, w), mults, 0.1)
    with pytest.raises(ArgumentError, match="select_layer_multiplier: max_noise must be >= 0"):
        select_layer_multiplier(layer, mults, -0.1)
    with pytest.raises(ArgumentTypeError, match="select_layer_multiplier: num_samples must be an int"):
        select_layer_multiplier(layer, mults, 0.1, num_samples=1.5)
    with pytest.raises(ArgumentError, match="no multipliers given"):
        select_layer_multiplier(layer, [], 0.1)


def test_matching_info_relative_energy_by_hand():
    # three layers: metric 0.5, 1.0, 0.25 against a reference metric of 2.0; 300 + 100 + 600 ops
    layers = [LayerInfo("a", "m1", 0.5, 300), LayerInfo("b", "m2", 1.0, 100), LayerInfo("c", "m3", 0.25, 600)]
    a = layers[0]
    assert a.relative_opcount(1000) == pytest.approx(0.3)
    assert a.relative_energy_consumption(2.0) == pytest.approx(0.25)
    info = MatchingInfo(layers, 2.0, 1000)
    # 0.25 * 0.3 + 0.5 * 0.1 + 0.125 * 0.6 = 0.075 + 0.05 + 0.075
    assert info.relative_energy_consumption == pytest.approx(0.2)
    assert MatchingInfo(layers, metric_max=2.0).opcount == 1000  # defaults to the layers' sum
    # the model's opcount may count more than the matched layers (here twice as many)
    assert MatchingInfo(layers, metric_max=2.0, opcount=2000).relative_energy_consumption == pytest.approx(0.1)
    # all layers on the reference multiplier: exactly 1
    assert MatchingInfo([LayerInfo("a", "x", 2.0, 3), LayerInfo("b", "x", 2.0, 5)], 2.0, 8) \
        .relative_energy_consumption == pytest.approx(1.0)
    with pytest.raises(ArgumentError, match="MatchingInfo: metric_max must be > 0"):
        MatchingInfo(layers, 0.0, 1000)
    with pytest.raises(ArgumentError, match="MatchingInfo: no layers"):
        MatchingInfo([], 1.0, 1.0)


@pytest.fixture(scope="module")
def digits_app():
    from adatune.approx.digits import DigitsApp

    return DigitsApp()


def test_digits_exact_matches_float(digits_app):
    net = digits_app.net
    for split, is_test in (("tune", False), ("test", True)):
        acc, cost = digits_app.measure_qos_cost(digits_app.baseline_config, is_test)
        assert cost == pytest.approx(1.0)
        assert abs(acc - net.float_accuracy(split)) <= 2.0
        assert acc > 90.0
        assert digits_app.measure_qos_cost({}, is_test) == (acc, cost)  # abbreviated: the baseline
        assert net.accuracy(split) == acc  # the net's own forward pass, exact multipliers deployed


def test_deploy_multipliers(digits_app):
    net, lib = digits_app.net, digits_app.multipliers
    cheap = {"fc1": "bam3_8", "fc2": "trunc9", "fc3": "bam2_8"}
    info = MatchingInfo([LayerInfo(n, m, lib[m].cost, net.opcounts[n]) for n, m in cheap.items()], 1.0)
    exact_acc = net.accuracy("tune")
    before = dict(net.layer_multipliers)
    try:
        with pytest.raises(ArgumentError, match="multiplier 'nope' is not in the library"):
            deploy_multipliers(net, MatchingInfo(info.layers + [LayerInfo("fc2", "nope", 0.1, 1)], 1.0), lib)
        with pytest.raises(ArgumentError, match="the model has no layer 'fc9'"):
            deploy_multipliers(net, MatchingInfo(info.layers + [LayerInfo("fc9", "exact", 1.0, 1)], 1.0), lib)
        assert net.layer_multipliers == before  # nothing half-deployed
        deploy_multipliers(net, info, lib)
        assert {n: m.name for n, m in net.layer_multipliers.items()} == cheap
        acc = net.accuracy("tune")
        assert acc == digits_app.measure_qos_cost(cheap, False)[0]  # deployed == measured through the app
        assert acc < exact_acc - 1.0
        assert net.accuracy("test") == digits_app.measure_qos_cost(cheap, True)[0]
    finally:
        net.layer_multipliers.update(before)


def test_digits_select_multipliers_and_tune(digits_app):
    info = digits_app.select_multipliers(max_noise=0.1)
    assert [l.name for l in info.layers] == ["fc1", "fc2", "fc3"]
    assert info.relative_energy_consumption < 0.9
    assert info.opcount == sum(digits_app.net.opcounts.values()) and info.metric_max == 1.0
    cfg = {l.name: l.multiplier_name for l in info.layers}
    acc, cost = digits_app.measure_qos_cost(cfg)
    assert cost == pytest.approx(info.relative_energy_consumption)
    base = digits_app.measure_qos_cost(digits_app.baseline_config)[0]
    assert acc >= base - 3.0
    # agnapprox's call shape: (model, datamodule, multipliers, trainer)
    net, lib = digits_app.net, digits_app.multipliers
    again = select_multipliers(net, "train", list(lib.values()), None, max_noise=0.1)
    assert [l.multiplier_name for l in again.layers] == list(cfg.values())
    # per-layer noise: none allowed on fc1 means the exact multiplier there
    strict = select_multipliers(net, "train", lib, max_noise={"fc1": 0.0, "fc2": 0.1, "fc3": 0.1})
    assert [l.multiplier_name for l in strict.layers] == ["exact", cfg["fc2"], cfg["fc3"]]
    # the trainer runs the sampling pass: its results are what gets matched (all-zero
    # inputs to fc1 make every multiplier exact there, so the cheapest is taken)
    seen = []

    def trainer(model, datamodule):
        seen.append((model, datamodule))
        res = model.intermediate_results(datamodule)
        res["fc1"] = IntermediateLayerResults(np.zeros_like(res["fc1"].inputs), res["fc1"].weights)
        return res

    x = net.splits["tune"][0]
    hooked = select_multipliers(net, x, lib, trainer, max_noise=0.1)
    assert seen == [(net, x)]
    assert hooked.layers[0].multiplier_name == min(lib.values(), key=lambda m: m.cost).name
    with pytest.raises(ArgumentError, match=r"max_noise names no value for layers \['fc3'\]"):
        select_multipliers(net, "train", lib, max_noise={"fc1": 0.1, "fc2": 0.1})
    with pytest.raises(ArgumentError, match="unknown split 'dev'"):
        select_multipliers(net, "dev", lib)
    t = ApproxTuner(digits_app, progress=False)
    best = t.tune(40, 2.0, is_threshold_relative=True, seed=0)
    assert best and min(c.cost for c in best) < 0.6
    assert all(c.test_qos >= t.test_keep_threshold for c in best)

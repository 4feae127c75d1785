"""Approximate multipliers and the digits application (sklearn's bundled load_digits)."""
import numpy as np
import pytest

from adatune.approx import ApproxTuner
from adatune.approx.multipliers import (LayerInfo, MatchingInfo, default_multipliers, estimate_error_std,
                                        lut_matmul, make_multiplier, select_layer_multiplier, select_multipliers)


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
    with pytest.raises(ValueError, match="hbl"):
        make_multiplier("bad", hbl=9)


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
    assert select_layer_multiplier(x, w, mults, 0.0) == ("exact", 1.0)
    loose, mid = select_layer_multiplier(x, w, mults, 0.3), select_layer_multiplier(x, w, mults, 0.02)
    assert loose[1] < mid[1] < 1.0  # more noise allowed => cheaper
    # the chosen one fits and the next cheaper one does not
    px = np.bincount(x.ravel() + 128, minlength=256) / x.size
    pw = np.bincount(w.ravel() + 128, minlength=256) / w.size
    allowed = 0.02 * np.std(x @ w)
    assert estimate_error_std(px, pw, mults[mid[0]], 64) <= allowed * 1.01
    cheaper = [m for m in mults.values() if m.cost < mid[1]]
    assert all(estimate_error_std(px, pw, m, 64) > allowed * 0.99 for m in cheaper)
    with pytest.raises(ValueError, match="do not multiply"):
        select_layer_multiplier(x, w[:10], mults, 0.1)


def test_matching_info_energy():
    info = MatchingInfo([LayerInfo("a", "m1", 0.5, 300), LayerInfo("b", "exact", 1.0, 100)], metric_max=1.0)
    assert info.opcount == 400 and info.layers[0].relative_opcount == pytest.approx(0.75)
    assert info.relative_energy_consumption == pytest.approx(0.75 * 0.5 + 0.25)


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


def test_digits_select_multipliers_and_tune(digits_app):
    info = digits_app.select_multipliers(max_noise=0.1)
    assert [l.name for l in info.layers] == ["fc1", "fc2", "fc3"]
    assert info.relative_energy_consumption < 0.9
    cfg = {l.name: l.multiplier_name for l in info.layers}
    acc, cost = digits_app.measure_qos_cost(cfg)
    assert cost == pytest.approx(info.relative_energy_consumption)
    base = digits_app.measure_qos_cost(digits_app.baseline_config)[0]
    assert acc >= base - 3.0
    # a direct select_multipliers call on the same operands agrees
    again = select_multipliers(digits_app.net.layer_operands(), digits_app.multipliers, 0.1,
                               opcounts=digits_app.net.opcounts)
    assert [l.multiplier_name for l in again.layers] == list(cfg.values())
    t = ApproxTuner(digits_app, progress=False)
    best = t.tune(40, 2.0, is_threshold_relative=True, seed=0)
    assert best and min(c.cost for c in best) < 0.6
    assert all(c.test_qos >= t.test_keep_threshold for c in best)

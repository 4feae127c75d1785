"""Cost models, expected improvement, epsilon policies and the annealing optimizer."""

import numpy as np
import pytest
from scipy.stats import norm

from adatune.space import ConfigSpace
from adatune.tuner import (FixedEpsilon, ForestCostModel, ForestEI, SimulatedAnnealingOptimizer,
                           UncertaintyEpsilon, XGBoostCostModel, expected_improvement, records_to_training)


def _space():
    s = ConfigSpace()
    s.define_split("x", 1 << 16, num_outputs=3)
    s.define_split("y", 1 << 10, num_outputs=2)
    s.define_knob("u", [0, 4, 16])
    return s


def _score(space, idx):
    """A smooth known objective with its maximum at x=[-1,8,4], y=[-1,16], u=4."""
    f = space.features(idx)
    return np.exp(-0.3 * ((f[:, 1] - 3) ** 2 + (f[:, 2] - 2) ** 2 + (f[:, 4] - 4) ** 2)) \
        * np.where(f[:, 5] == 4, 1.0, 0.7)


def test_expected_improvement_closed_form_and_zero_sigma():
    mean = np.array([1.0, 2.0, 0.5, 3.0, 1.0])
    std = np.array([0.5, 0.0, 0.0, 1e-300, 2.0])
    ei = expected_improvement(mean, std, best=1.5, xi=0.1)
    d = mean - 1.6
    ref0 = d[0] * norm.cdf(d[0] / 0.5) + 0.5 * norm.pdf(d[0] / 0.5)
    assert ei[0] == pytest.approx(ref0, rel=1e-12)
    assert ei[1] == pytest.approx(0.4) and ei[2] == 0.0  # sigma = 0: max(d, 0)
    assert ei[3] == pytest.approx(1.4)  # tiny sigma: the limit, not NaN/inf
    assert np.isfinite(ei).all() and (ei >= 0).all()
    assert ei[4] > ei[0]  # more uncertainty, more expected improvement at equal mean
    with pytest.raises(ValueError, match="non-negative"):
        expected_improvement(mean, -std - 1, best=1.0)
    with pytest.raises(ValueError, match="shape"):
        expected_improvement(mean, std[:2], best=1.0)


def test_forest_mean_std_and_ei_ranking():
    rng = np.random.default_rng(0)
    X = rng.uniform(-3, 3, size=(200, 2))
    y = np.exp(-(X ** 2).sum(1))
    model = ForestEI(n_estimators=50, random_state=0).fit(X, y)
    per_tree = model.tree_predictions(X[:5])
    assert per_tree.shape == (50, 5)
    mean, std = model.predict(X[:5])
    np.testing.assert_allclose(mean, per_tree.mean(0))
    np.testing.assert_allclose(std, per_tree.std(0))
    grid = np.array([[0.0, 0.0], [2.5, 2.5], [-2.5, 0.0]])
    ei = model.expected_improvement(grid, best=0.5)
    assert ei.argmax() == 0 and np.isfinite(ei).all()
    # a forest fitted on identical targets has zero spread: EI must stay finite
    flat = ForestEI(n_estimators=10, random_state=0).fit(X, np.ones(len(X)))
    assert (flat.predict(grid)[1] == 0).all()
    np.testing.assert_array_equal(flat.expected_improvement(grid, best=1.0), 0.0)
    with pytest.raises(ValueError, match="call fit"):
        ForestEI().predict(grid)
    with pytest.raises(ValueError, match="finite"):
        ForestEI().fit(np.array([[np.nan]]), np.array([1.0]))
    with pytest.raises(ValueError, match="shape"):
        model.predict(np.zeros((2, 3)))


def test_uncertainty_epsilon_falls_as_the_model_learns():
    space = _space()
    rng = np.random.default_rng(0)
    policy = UncertaintyEpsilon(low=0.0, high=1.0)
    probe = space.sample(policy.n_samples, np.random.default_rng(1))
    eps = []
    for n in (12, 800):
        idx = space.sample(n, rng)
        model = ForestCostModel(space, n_estimators=30, random_state=0).fit(idx, _score(space, idx))
        spread = model.predict(probe)[1]
        eps.append(policy(spread, 1.0))
        assert policy.last_raw == pytest.approx(eps[-1]) == pytest.approx(float(np.mean(spread)))
    assert eps[0] > eps[1] > 0
    clipped = UncertaintyEpsilon(low=0.3, high=0.4)
    assert clipped(spread, 1.0) == 0.3
    assert clipped(spread, 1e-9) == 0.4
    assert clipped(None, 1.0) == 0.4 and clipped.last_raw is None  # no spread: explore
    assert FixedEpsilon(0.05)(spread, 1.0) == 0.05 and FixedEpsilon.n_samples == 0
    with pytest.raises(ValueError, match="low <= high"):
        UncertaintyEpsilon(low=0.6, high=0.5)
    with pytest.raises(ValueError, match="FixedEpsilon: value"):
        FixedEpsilon(1.5)
    with pytest.raises(TypeError, match="n_samples"):
        UncertaintyEpsilon(n_samples=2.5)


@pytest.mark.parametrize("kind", ["forest", "xgb-reg", "xgb-rank"])
def test_cost_models_rank_the_optimum_high(kind):
    space = _space()
    idx = space.sample(300, np.random.default_rng(0))
    y = _score(space, idx) * 1e9  # throughputs in FLOP/s: the models normalise
    if kind == "forest":
        model = ForestCostModel(space, n_estimators=50, random_state=0)
    else:
        model = XGBoostCostModel(space, loss_type=kind.split("-")[1], random_state=0)
    model.fit(idx, y)
    best = space.index_of([["x", "sp", [-1, 8, 4]], ["y", "sp", [-1, 16]], ["u", "ot", 4]])
    worst = space.index_of([["x", "sp", [-1, 1, 1]], ["y", "sp", [-1, 1024]], ["u", "ot", 16]])
    mean, std = model.predict([best, worst])
    assert mean[0] > mean[1] and std.shape == (2,)
    with pytest.raises(ValueError, match="targets"):
        model.fit(idx, y[:-1])
    with pytest.raises(ValueError, match=">= 0"):
        model.fit(idx[:2], [1.0, -1.0])


def test_annealing_never_proposes_visited_configs_and_finds_the_maximum():
    space = _space()
    best = space.index_of([["x", "sp", [-1, 8, 4]], ["y", "sp", [-1, 16]], ["u", "ot", 4]])
    rng = np.random.default_rng(0)
    visited = set(space.sample(1500, rng))
    assert len(space) > 3 * len(visited)
    visited.discard(best)
    sa = SimulatedAnnealingOptimizer(space, parallel_size=64, n_iter=300, early_stop=100)
    found = sa.find_maximums(lambda pts: _score(space, pts), 20, visited, rng)
    assert len(found) == 20 and len(set(found)) == 20
    assert not set(found) & visited
    assert found[0] == best
    scores = _score(space, found)
    assert (np.diff(scores) <= 1e-12).all()  # best first
    visited.add(best)
    again = sa.find_maximums(lambda pts: _score(space, pts), 20, visited, rng)
    assert best not in again and not set(again) & visited


def test_annealing_respects_constraints():
    space = _space()
    space.add_constraint(lambda c: c["u"].val != 4)
    sa = SimulatedAnnealingOptimizer(space, parallel_size=32, n_iter=100)
    found = sa.find_maximums(lambda pts: _score(space, pts), 10, set(), np.random.default_rng(0))
    assert found and all(space.get(i)["u"].val != 4 for i in found)


def test_records_to_training_uses_real_records():
    from adatune.records import Record

    space = _space()
    ent = space.get(5).entity_json()
    ok = Record(target="llvm", task_name="t", args=(), config_index=5, entity=tuple(tuple(e) for e in ent),
                costs=(2e-3, 2e-3), error_no=0, all_cost=1.0, timestamp=0.0)
    bad = Record(target="llvm", task_name="t", args=(), config_index=5, entity=tuple(tuple(e) for e in ent),
                 costs=(1e9,), error_no=4, all_cost=1.0, timestamp=0.0)
    alien = Record(target="llvm", task_name="t", args=(), config_index=0,
                   entity=(("z", "ot", 1),), costs=(1.0,), error_no=0, all_cost=1.0, timestamp=0.0)
    xs, ys = records_to_training([ok, bad, alien], space, flop=1e6)
    assert xs == [5, 5] and ys == [pytest.approx(5e8), 0.0]
    model = ForestCostModel(space, n_estimators=5, random_state=0).fit_log([ok, bad], flop=1e6)
    assert model.y_scale_ == pytest.approx(5e8)
    with pytest.raises(ValueError, match="no record"):
        ForestCostModel(space).fit_log([alien])


class _Task:
    """The little a tuner asks of a task."""

    name, args, target, flop = "t", (), "llvm", 0.0

    def __init__(self, space):
        self.config_space = space


def test_model_based_tuner_rejects_a_model_of_another_space():
    from adatune.tuner import ModelBasedTuner

    task = _Task(_space())
    ModelBasedTuner(task, ForestCostModel(_space()))  # an equal copy is fine
    other = ConfigSpace()
    other.define_knob("u", [0, 1])
    with pytest.raises(ValueError, match="another space"):
        ModelBasedTuner(task, ForestCostModel(other))
    with pytest.raises(TypeError, match="CostModel"):
        ModelBasedTuner(task, object())


def test_epsilon_is_one_argument_and_the_old_keywords_still_work():
    from adatune.tuner import ModelBasedTuner, RFEITuner, XGBTuner

    task = _Task(_space())
    default = RFEITuner(task).epsilon_policy
    assert isinstance(default, UncertaintyEpsilon) and (default.low, default.high) == (0.02, 0.2)
    assert RFEITuner(task, epsilon=0.1).epsilon_policy.value == 0.1
    mine = UncertaintyEpsilon(0.0, 0.3)
    assert RFEITuner(task, epsilon=mine).epsilon_policy is mine
    assert XGBTuner(task).epsilon_policy.value == 0.05
    with pytest.warns(DeprecationWarning, match="uncertainty_aware"):
        fixed = RFEITuner(task, uncertainty_aware=False, epsilon=0.07).epsilon_policy
    assert isinstance(fixed, FixedEpsilon) and fixed.value == 0.07
    with pytest.warns(DeprecationWarning):
        wide = RFEITuner(task, eps_range=(0.05, 0.5)).epsilon_policy
    assert isinstance(wide, UncertaintyEpsilon) and (wide.low, wide.high) == (0.05, 0.5)
    with pytest.warns(DeprecationWarning):
        dyn = ModelBasedTuner(task, ForestCostModel(task.config_space), uncertainty_aware=True).epsilon_policy
    assert isinstance(dyn, UncertaintyEpsilon) and dyn.high == 0.5
    with pytest.raises(TypeError, match="RFEITuner: epsilon"):
        RFEITuner(task, epsilon="dynamic")
    with pytest.raises(ValueError, match="RFEITuner: epsilon"):
        RFEITuner(task, epsilon=1.5)
    with pytest.raises(TypeError, match="eps_range"), pytest.warns(DeprecationWarning):
        RFEITuner(task, eps_range=0.2)

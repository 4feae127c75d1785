"""Incumbent confirmation: a would-be new best is measured again before it counts."""
from __future__ import annotations

import json
import math

import pytest

import adatune
from adatune.measure import MeasureResult
from adatune.tuner import create_tuner, log_to_file

from _shared_data import DATA, require_shared

TASK_ARGS = ("dense", (64, 64, 64, "float32"))


class NoisyRunner:
    """A ``MeasureBatch`` with known true costs and a cheap measurement that, for a few
    configs, reads far too fast (a lucky reading); ``confirm_batch`` reads the truth.

    True cost of config ``i``: ``1 ms * (1 + r / n)`` with ``r = (i * 7919) % n`` (1 to
    2 ms).  The first ``n_lucky`` mediocre configs measured (``r > n / 2``) read at a
    third of their true cost, faster than any true cost.
    """

    n_parallel = 4

    def __init__(self, space, n_lucky=3, with_confirm=True):
        self.n = space.n_configs
        self.n_lucky = n_lucky
        self.lucky = set()
        self.seen = []
        self.first = 0
        self.confirmed = 0
        if not with_confirm:
            self.confirm_batch = None  # what a MeasureBatch without one looks like

    def true_cost(self, index: int) -> float:
        return 1e-3 * (1.0 + ((index * 7919) % self.n) / self.n)

    def measure_batch(self, inputs):
        self.first += len(inputs)
        out = []
        for inp in inputs:
            i = int(inp.config.index)
            if i not in self.seen:
                self.seen.append(i)
                if len(self.lucky) < self.n_lucky and self.true_cost(i) > 1.5e-3:
                    self.lucky.add(i)
            cost = self.true_cost(i) / (3.0 if i in self.lucky else 1.0)
            out.append(MeasureResult((cost,), 0, 0.01))
        return out

    def confirm_batch(self, inputs):
        self.confirmed += len(inputs)
        return [MeasureResult((self.true_cost(int(inp.config.index)),), 0, 0.05)
                for inp in inputs]

    def true_best(self) -> int:
        return min(self.seen, key=self.true_cost)


def _grid_run(tmp_path, confirm, with_confirm=True, name="log"):
    task = adatune.task.create(*TASK_ARGS)
    n = min(task.config_space.n_configs, 96)
    tuner = create_tuner("grid", task)
    runner = NoisyRunner(task.config_space, with_confirm=with_confirm)
    log = tmp_path / f"{name}.json"
    summary = tuner.tune(n, runner, callbacks=[log_to_file(log)], confirm=confirm)
    assert len(runner.lucky) == runner.n_lucky
    return task, tuner, runner, summary, log, runner.lucky, n


def test_unconfirmed_tuner_crowns_a_lucky_config_and_confirming_one_does_not(tmp_path):
    task, tuner, runner, summary, log, lucky, n = _grid_run(tmp_path, confirm=False, name="plain")
    assert int(tuner.best_config.index) in lucky          # the winner's curse
    assert summary.n_confirmed == 0 and runner.confirmed == 0

    task, tuner, runner, summary, log, lucky, n = _grid_run(tmp_path, confirm=True, name="conf")
    true_best = runner.true_best()
    assert int(tuner.best_config.index) == true_best
    assert tuner.best_result.mean_cost == pytest.approx(runner.true_cost(true_best))
    assert summary.best_cost == pytest.approx(runner.true_cost(true_best))
    # Only would-be new bests are confirmed, never every candidate; each is one trial.
    assert 1 <= summary.n_confirmed == runner.confirmed < n // 2
    assert summary.n_trials == n == runner.first


def test_log_keeps_confirmed_costs_and_apply_best_picks_by_them(tmp_path):
    task, tuner, runner, _, log, lucky, n = _grid_run(tmp_path, confirm=True)
    lines = [json.loads(line) for line in open(log)]
    assert len(lines) == n
    confirmed = [ln for ln in lines if "first_costs" in ln.get("adatune", {})]
    assert confirmed and len(confirmed) < n
    by_index = {ln["config"]["index"]: ln for ln in confirmed}
    for i in lucky:
        if i in by_index:  # a lucky reading that beat the best was confirmed: truth logged
            ln = by_index[i]
            assert ln["result"][0] == [pytest.approx(runner.true_cost(i))]
            assert ln["adatune"]["first_costs"] == [pytest.approx(runner.true_cost(i) / 3)]
    assert any(i in by_index for i in lucky)
    # The log reads back (AutoTVM fields plus the extra) and apply_best deploys the truth.
    rec = adatune.apply_best(str(log)).record_for(task)
    assert rec.config_index == runner.true_best()
    # Without confirmation the log sends apply_best to a lucky config.
    task2, _, _, _, log2, lucky2, _ = _grid_run(tmp_path, confirm=False, name="plain")
    assert adatune.apply_best(str(log2)).record_for(task2).config_index in lucky2


def test_a_measure_batch_without_confirm_batch_is_taken_at_its_word(tmp_path):
    # Measuring a user's MeasureBatch twice could count or cost twice: it is not confirmed.
    _, tuner, runner, summary, _, lucky, n = _grid_run(tmp_path, confirm=True, with_confirm=False)
    assert summary.n_confirmed == 0 and runner.first == n
    assert int(tuner.best_config.index) in lucky


def test_confirm_must_be_a_bool(tmp_path):
    task = adatune.task.create(*TASK_ARGS)
    tuner = create_tuner("random", task, seed=0)
    with pytest.raises(TypeError, match="confirm"):
        tuner.tune(4, NoisyRunner(task.config_space), confirm="yes")


def test_real_runner_confirms_with_a_longer_measurement(tmp_path):
    from adatune.measure import LocalBuilder, LocalRunner, measure_option

    task = adatune.task.create(*TASK_ARGS)
    log = tmp_path / "real.json"
    with measure_option(LocalBuilder(n_parallel=2), LocalRunner()) as option:
        summary = create_tuner("random", task, seed=0).tune(
            6, option, callbacks=[log_to_file(log)])
        stats = option.stats
    assert summary.n_confirmed >= 1 and stats.confirmed == summary.n_confirmed
    assert stats.measured == 6           # confirmations reuse the builds: no extra builds
    lines = [json.loads(line) for line in open(log)]
    confirmed = [ln for ln in lines if "first_costs" in ln.get("adatune", {})]
    assert len(confirmed) == summary.n_confirmed
    for ln in confirmed:
        first, second = ln["adatune"]["first_costs"][0], ln["result"][0][0]
        assert math.isfinite(second) and second > 0
        assert first != second             # an independent reading, not a copy
        assert 0.3 < second / first < 3.0   # of the same kernel
    # The confirming rule is tighter and longer than the tuning one.
    opts = option.runner.options
    strict = opts.confirming()
    assert strict.min_converge_coef < opts.min_converge_coef
    assert strict.min_batches > opts.min_batches and strict.min_batch_ms > opts.min_batch_ms


@require_shared("kernel_tuner/pnpoly/RTX_3090.json.gz")
def test_replay_runner_confirms_with_the_recorded_mean():
    from adatune.measure import MeasureInput, ReplayRunner

    path = DATA / "kernel_tuner" / "pnpoly" / "RTX_3090.json.gz"
    runner = ReplayRunner(path, noise=True, repeats=1, seed=0)
    space = runner.task
    idx = next(i for i, e in space.entries.items() if e.ok and len(e.times) > 3)
    inp = MeasureInput(space.target, space, space.config_space.get(idx))
    t0 = runner.simulated_time
    res = runner.confirm_batch([inp])[0]
    assert res.mean_cost == pytest.approx(space.entries[idx].cost)
    assert runner.n_measured == 0 and runner.n_confirmed == 1
    assert runner.simulated_time - t0 == pytest.approx(sum(space.entries[idx].times))

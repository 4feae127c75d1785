"""Tuners and the replay benchmark's peers at budgets well below the space size.

A tuner given the whole space finds its optimum by construction; these runs give each
tuner 100-160 trials on a space of 6,768 recorded configs
(../shared/data/kernel_tuner/convolution/RTX_3090.json.gz, AutoTuningAssociation/benchmark_hub,
MIT) and compare it with random search on the same seeds.
"""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest

from adatune.measure import ReplayRunner, load_replay
from adatune.tuner import create_tuner

from _shared_data import DATA, require_shared

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONV = str(DATA / "kernel_tuner" / "convolution" / "RTX_3090.json.gz")
SEEDS = range(5)

pytestmark = require_shared(CONV)


@pytest.fixture(scope="module")
def conv():
    return load_replay(CONV)


@pytest.fixture(scope="module")
def random_160(conv):
    return _qualities(conv, "random", 160)


def _qualities(space, name, budget, **kw):
    return [space.quality(create_tuner(name, space, seed=s, **kw).tune(budget, ReplayRunner(space)).best_cost)
            for s in SEEDS]


@pytest.mark.parametrize("name,kw", [("rfei", {"n_estimators": 20}),
                                     ("rfei", {"n_estimators": 20, "epsilon": 0.05}),
                                     ("xgb", {"num_boost_round": 20}),
                                     ("xgb-rank", {"num_boost_round": 20})])
def test_model_based_tuners_beat_random_well_below_the_space_size(conv, random_160, name, kw):
    budget = 160  # 2.4 % of the space; XGBoost fits twice in it (plan 64)
    assert budget < 0.05 * conv.n_recorded
    ours = _qualities(conv, name, budget, **kw)
    rand = random_160
    assert np.median(ours) >= np.median(rand) + 0.02, (ours, rand)
    assert np.mean(ours) > np.mean(rand) + 0.02, (ours, rand)


def test_ga_is_no_worse_than_random_below_the_space_size(conv, random_160):
    # Its first generation is random, so at this budget it can only be a little ahead.
    ours = _qualities(conv, "ga", 160)
    rand = random_160
    assert np.median(ours) >= np.median(rand), (ours, rand)


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_replay", os.path.join(ROOT, "bench", "replay.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


PEER_SEEDS = range(8)


@pytest.fixture(scope="module")
def random_sampling_100(bench):
    return np.array([bench.run_one(CONV, "kt-random_sample", s, 100)["curve"][-1] for s in PEER_SEEDS])


@pytest.mark.parametrize("label", ["kt-genetic_algorithm", "kt-simulated_annealing", "optuna-tpe"])
def test_bench_peers_beat_random_sampling_below_the_space_size(bench, random_sampling_100, label):
    """The benchmark's harness hands each peer the real space: at 100 trials TPE reaches
    98 % of the optimum in nearly every seed, where Kernel Tuner's random sampling does in
    at most 3 of 8 (a harness that fed TPE random configs fails here). Kernel Tuner's
    GA and annealing start from random populations, so at this budget they are only
    required not to fall behind it."""
    ours = np.array([bench.run_one(CONV, label, s, 100)["curve"][-1] for s in PEER_SEEDS])
    rand = random_sampling_100
    assert np.median(ours) >= np.median(rand), (ours, rand)
    if label == "optuna-tpe":
        assert (ours >= 0.98).sum() >= 6 and (rand >= 0.98).sum() <= 3, (ours, rand)

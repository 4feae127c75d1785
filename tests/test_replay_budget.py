"""Tuners and the replay benchmark's peers at budgets well below the space size.

A tuner given the whole space finds its optimum by construction; these runs give each
tuner 100-160 trials on a space of 6,768 recorded configs
(../shared/data/kernel_tuner/convolution/RTX_3090.json.gz, AutoTuningAssociation/benchmark_hub,
MIT) and compare it with random search on the same seeds.
"""
from __future__ import annotations

import importlib.util
import json
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


def test_ga_is_ahead_of_random_once_it_breeds(conv):
    # Its first generation (100) is random; at 160 trials it is level with random search
    # (30 seeds: median quality 0.924 against 0.937). By 400 trials (4 generations) it
    # is ahead on 70 % of paired seeds (40 seeds: mean 0.979 against 0.968).
    seeds = range(20)
    ours = np.array([conv.quality(create_tuner("ga", conv, seed=s).tune(400, ReplayRunner(conv)).best_cost)
                     for s in seeds])
    rand = np.array([conv.quality(create_tuner("random", conv, seed=s).tune(400, ReplayRunner(conv)).best_cost)
                     for s in seeds])
    assert np.mean(ours > rand) >= 0.6 and ours.mean() > rand.mean(), (ours, rand)


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


def _bowl(tmp_path):
    """A Kernel Tuner cache of 12^3 configs whose time is a bowl over the knobs'
    positions (optimum at positions (9, 2, 7)), with noise-free repeats."""
    vals = list(range(1, 13))
    cache = {}
    for a in vals:
        for b in vals:
            for c in vals:
                ms = 1.0 + 0.3 * (a - 10) ** 2 + 0.2 * (b - 3) ** 2 + 0.25 * (c - 8) ** 2
                cache[f"{a},{b},{c}"] = {"a": a, "b": b, "c": c, "time": ms, "compile_time": 10.0,
                                         "verification_time": 0, "benchmark_time": ms}
    doc = {"device_name": "bowl", "kernel_name": "bowl", "problem_size": [1], "tune_params_keys": ["a", "b", "c"],
           "tune_params": {"a": vals, "b": vals, "c": vals}, "cache": cache}
    path = tmp_path / "bowl.json"
    path.write_text(json.dumps(doc))
    return load_replay(str(path))


def test_droplet_descends_a_bowl_where_random_search_does_not(tmp_path):
    """Coordinate descent with growing steps reaches the bottom of a convex space in a
    few batches, from its start at every knob's first position (a tuner that sampled,
    or that moved away from its best, does not); random search on the same budget and
    seeds almost never does."""
    bowl = _bowl(tmp_path)
    tuner = create_tuner("droplet", bowl, seed=0)
    summary = tuner.tune(80, ReplayRunner(bowl))
    assert bowl.quality(summary.best_cost) == pytest.approx(1.0)
    assert tuner.n_trials <= 80 and bowl.config_space.digits(tuner.xs[0]) == [0, 0, 0]
    rand = [bowl.quality(create_tuner("random", bowl, seed=s).tune(80, ReplayRunner(bowl)).best_cost)
            for s in SEEDS]
    assert sum(q == pytest.approx(1.0) for q in rand) <= 1, rand


def test_droplet_on_a_real_space_walks_from_its_start(conv):
    """On the GPU convolution space, whose first config is unrecorded (invalid), the
    search starts at a valid config drawn with the seed, and its first batch is that
    start and its one-step neighbours. (It is weaker than random sampling there at
    100-160 trials: a coordinate descent stalls in a local optimum of this space; see
    docs/benchmarks.md.)"""
    tuner = create_tuner("droplet", conv, seed=3)
    tuner.tune(40, ReplayRunner(conv))
    first = [np.array(conv.config_space.digits(i)) for i in tuner.xs[:8]]
    assert all(int(np.abs(d - first[0]).max()) <= 1 or (d == 0).any() for d in first[1:]), first
    assert len(set(tuner.xs)) == len(tuner.xs) == 40


NEW_PEERS = ["kt-dual_annealing", "kt-adaptive_tabu_greywolf", "kt-hybrid_vndx"]


@pytest.mark.parametrize("label", ["kt-genetic_algorithm", "kt-simulated_annealing", "optuna-tpe", *NEW_PEERS])
def test_bench_peers_beat_random_sampling_below_the_space_size(bench, random_sampling_100, label):
    """The benchmark's harness hands each peer the real space: at 100 trials TPE reaches
    98 % of the optimum in nearly every seed, where Kernel Tuner's random sampling does in
    at most 3 of 8 (a harness that fed TPE random configs fails here). Kernel Tuner's
    GA and annealing start from random populations, so at this budget they are only
    required not to fall behind it."""
    ours = np.array([bench.run_one(CONV, label, s, 100)["curve"][-1] for s in PEER_SEEDS])
    rand = random_sampling_100
    assert np.median(ours) >= np.median(rand), (ours, rand)
    if label in NEW_PEERS:
        # the strong peers must search, not just keep up: ahead of random in the mean
        assert np.mean(ours) > np.mean(rand) + 0.01, (ours, rand)
    if label == "optuna-tpe":
        assert (ours >= 0.98).sum() >= 6 and (rand >= 0.98).sum() <= 3, (ours, rand)


@pytest.mark.parametrize("label", ["kt-basinhopping", "kt-greedy_ils-best", "smac", "optuna-gp", "optuna-gp-ordinal"])
def test_model_and_local_peers_descend_a_bowl_below_random(bench, tmp_path, label):
    """The harness hands each peer the space's structure (knob values in order): on a
    convex 12^3 space, basin hopping, greedy ILS with adjacent neighbours and full
    climbs (Kernel Tuner's defaults make one move per climb) and Optuna's GP reach the
    optimum within the budget in most seeds, where random sampling reaches it in at most
    one of the same seeds.

    SMAC3 is not reproducible given its seed (the same seed reached the optimum at trial
    39 in one run and not within 100 in the next), and reaches it in about half of its
    runs: for it the test asks for the optimum in at least one of three seeds and a
    best-at-100 clearly above random's on the same seeds (measured: 0.83 to 1.0, where
    random gets 0.43 to 0.69 on these seeds). SMAC3 (about 20 s a run) is in the bench
    extra that ``make install`` installs; Optuna's GP sampler needs torch, which the
    test install leaves out: there its case skips."""
    missing = bench.missing_modules([label])
    if missing:
        pytest.skip(missing[0])
    _bowl(tmp_path)
    path = str(tmp_path / "bowl.json")
    seeds = range(3) if label.startswith(("smac", "optuna-gp")) else PEER_SEEDS
    ours = [bench.run_one(path, label, s, 100) for s in seeds]
    rand = [bench.run_one(path, "kt-random_sample", s, 100) for s in seeds]
    hits, rand_hits = ([r["trials_to_opt"] for r in rows] for rows in (ours, rand))
    assert sum(t <= 100 for t in rand_hits) <= 1, rand_hits
    if label == "smac":
        q, rq = ([r["best_at_100"] for r in rows] for rows in (ours, rand))
        assert min(hits) <= 100 and np.mean(q) > np.mean(rq) + 0.1, (hits, q, rq)
    else:
        assert sum(t <= 100 for t in hits) > len(hits) / 2, (hits, rand_hits)
        assert np.median(hits) < np.median(rand_hits), (hits, rand_hits)


def test_leave_one_space_out_scores_each_space_with_a_choice_made_without_it(tmp_path):
    """bench/loso.py chooses on the other spaces only. Setting a wins on three spaces
    of five and is much worse on two; b is middling everywhere. Judged on all five, a
    looks best (median 11). Leaving out one of a's wins tips the others towards b, and
    leaving out one of a's losses keeps a: the left-out median is 51, not 11."""
    spec = importlib.util.spec_from_file_location("bench_loso", os.path.join(ROOT, "bench", "loso.py"))
    loso = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loso)
    runs = []
    for space, a, b in [("s0", 10, 50), ("s1", 10, 50), ("s2", 10, 50), ("s3", 200, 20), ("s4", 200, 20)]:
        for seed in range(3):
            runs += [{"space": f"/x/d/{space}", "tuner": "rfei-a", "seed": seed, "trials_to_99": a + seed},
                     {"space": f"/x/d/{space}", "tuner": "rfei-b", "seed": seed, "trials_to_99": b + seed}]
    path = tmp_path / "runs.json"
    path.write_text(json.dumps({"runs": runs}))
    out = tmp_path / "loso.json"
    assert loso.main([str(path), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    chosen = {r["space"]: (r["chosen"], r["score"]) for r in res["rows"]}
    assert chosen["d/s0"] == ("rfei-b", 51.0) and chosen["d/s3"] == ("rfei-a", 201.0)
    assert res["median_per_candidate"] == {"rfei-a": 11.0, "rfei-b": 51.0}
    assert res["median_left_out"] == 51.0 and res["worst_left_out"] == 201.0
    with pytest.raises(SystemExit, match="no runs of"):
        loso.main([str(path), "--candidates", "rfei-a,rfei-c"])


def test_an_ask_tell_run_ends_when_its_peer_only_re_proposes(bench, tmp_path):
    """A peer stuck on configs it has seen (Optuna's GP re-proposes its incumbent) ends
    after _MAX_STALE_ASKS asks in a row without a new config, not at its ask cap; a new
    config restarts the count."""
    _bowl(tmp_path)
    space = bench._space(str(tmp_path / "bowl.json"))
    run = bench._AskTell(space, budget=100)
    limit = bench._MAX_STALE_ASKS
    assert 1 < limit < bench._MAX_ASKS_PER_TRIAL * 100
    run.cost([0, 0, 0])
    for _ in range(limit - 2):
        run.cost([0, 0, 0])
    assert not run.done and len(run.trace) == 1
    run.cost([1, 0, 0])  # new: the count restarts
    for _ in range(limit - 1):
        run.cost([1, 0, 0])
    assert not run.done
    run.cost([0, 0, 0])
    assert run.done and len(run.trace) == 2

"""Replay measurement (adatune.measure.replay) and the replay benchmark's peers.

Hand-made spaces have a known optimum; the shared files are
../shared/data/kernel_tuner/pnpoly/RTX_3090.json.gz (AutoTuningAssociation/benchmark_hub,
MIT) and ../shared/data/autotvm/nnfusion_osdi20/all_tuned_tilling_dense_nn.1000.log
(microsoft/nnfusion, MIT), and bench/data/*.json (bench/gen_exhaustive_logs.py).
"""
from __future__ import annotations

import gzip
import importlib.util
import json
import math
import os
import sys

import pytest

from adatune.measure import MeasureErrorNo, ReplayRunner, ReplaySpace, load_replay
from adatune.records import Record, encode
from adatune.space import ConfigSpace
from adatune.tuner import create_tuner

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
PNPOLY = os.path.join(SHARED, "kernel_tuner", "pnpoly", "RTX_3090.json.gz")
NNFUSION = os.path.join(SHARED, "autotvm", "nnfusion_osdi20", "all_tuned_tilling_dense_nn.1000.log")
BENCH_LOGS = sorted(os.path.join(ROOT, "bench", "data", f)
                    for f in os.listdir(os.path.join(ROOT, "bench", "data")) if f.endswith(".json")) \
    if os.path.isdir(os.path.join(ROOT, "bench", "data")) else []

TUNERS = [("random", {}), ("grid", {}), ("ga", {}), ("xgb", {"num_boost_round": 20}),
          ("xgb-rank", {"num_boost_round": 20}), ("rfei", {"n_estimators": 10}),
          ("rfei", {"n_estimators": 10, "epsilon": 0.05}), ("droplet", {})]


# ---------------------------------------------------------------------- hand-made spaces
def _kt_cache(tmp_path, gz=False):
    """3 x 4 knobs; (bx=64, tile=4) is the optimum (1 ms); two configs fail, one unrecorded."""
    bxs, tiles = [32, 64, 128], [1, 2, 4, 8]
    cache = {}
    for bx in bxs:
        for t in tiles:
            key = f"{bx},{t}"
            if key == "128,8":
                continue  # not recorded: invalid
            if key == "32,8":
                cache[key] = {"bx": bx, "tile": t, "time": "CompilationFailedConfig", "compile_time": 5.0}
            elif key == "128,4":
                cache[key] = {"bx": bx, "tile": t, "time": "RuntimeFailedConfig", "compile_time": 5.0}
            else:
                ms = 1.0 + abs(bx - 64) / 16 + abs(t - 4)
                cache[key] = {"bx": bx, "tile": t, "time": ms, "times": [ms * 0.9, ms * 1.1],
                              "compile_time": 10.0, "verification_time": 0, "benchmark_time": 2 * ms}
    doc = {"device_name": "toy", "kernel_name": "toy", "problem_size": [8],
           "tune_params_keys": ["bx", "tile"], "tune_params": {"bx": bxs, "tile": tiles}, "cache": cache}
    path = tmp_path / ("toy.json.gz" if gz else "toy.json")
    with (gzip.open(path, "wt") if gz else open(path, "w")) as f:
        json.dump(doc, f)
    return str(path)


def _autotvm_log(tmp_path, version=0.2):
    """tile (split of 16, 5 candidates) x unroll (2): optimum at tile [-1, 4], unroll 1."""
    space = ConfigSpace()
    space.define_split("tile", 16, num_outputs=2)
    space.define_knob("unroll", [0, 1])
    lines = ["# exhaustive toy log", ""]
    optimum = None
    for i in range(space.n_configs):
        cfg = space.get(i)
        inner = cfg["tile"].size[1]
        if inner == 16 and cfg["unroll"].val == 0:
            costs, err = (1e9,), 4
        else:
            c = 1e-3 * (1 + abs(math.log2(inner) - 2) + (0 if cfg["unroll"].val else 0.5))
            costs, err = (c, c * 1.2), 0
            if inner == 4 and cfg["unroll"].val == 1:
                optimum = cfg.entity_json()
        rec = Record(target="llvm", task_name="toy", args=[16, "float32"], config_index=i,
                     entity=cfg.entity_json(), costs=costs, error_no=err, all_cost=0.5,
                     timestamp=1.0, version=version)
        lines.append(encode(rec))
    path = tmp_path / "toy.log"
    path.write_text("\n".join(lines) + "\n")
    return str(path), optimum


def test_kernel_tuner_cache_replay_exact(tmp_path):
    for gz in (False, True):
        sp = load_replay(_kt_cache(tmp_path, gz))
        assert isinstance(sp, ReplaySpace) and sp.n_recorded == 11 and sp.n_failed == 2
        assert sp.optimum_cost == pytest.approx(1e-3)
        opt = sp.config_space.get(sp.optimum_index)
        assert (opt["bx"].val, opt["tile"].val) == (64, 4)
        assert sum(sp.config_space.is_valid(i) for i in range(sp.config_space.n_configs)) == 11
    run = ReplayRunner(sp, n_parallel=4)
    summary = create_tuner("grid", sp, seed=0).tune(100, run)
    assert summary.n_trials == 11 and summary.n_failed == 2
    assert summary.best_cost == pytest.approx(1e-3)
    # simulated time: compile + verification + benchmark of every config, in seconds
    assert run.simulated_time == pytest.approx(sum(e.charge for e in sp.entries.values()))
    assert run.n_measured == 11


def test_kernel_tuner_failures_keep_their_kind(tmp_path):
    sp = load_replay(_kt_cache(tmp_path))
    codes = sorted(e.error_no for e in sp.entries.values() if not e.ok)
    assert codes == [MeasureErrorNo.COMPILE_DEVICE, MeasureErrorNo.RUNTIME_DEVICE]


def test_autotvm_log_replay_exact(tmp_path):
    for version in (0.1, 0.2):
        path, optimum = _autotvm_log(tmp_path, version)
        sp = load_replay(path)
        assert sp.n_recorded == 10 and sp.n_failed == 1
        assert sp.optimum_cost == pytest.approx(1e-3 * 1.1)  # mean of (c, 1.2 c)
        assert sp.config_space.get(sp.optimum_index).entity_json() == optimum
        failed = [e for e in sp.entries.values() if not e.ok]
        assert failed[0].error_no == 4  # the logged error code, not a generic failure
        # the logged index of a config is its index in the rebuilt space
        assert sp.config_space.n_configs == 10
    run = ReplayRunner(sp, n_parallel=3)
    best = create_tuner("random", sp, seed=1).tune(10, run)
    assert best.best_config.entity_json() == optimum and best.n_failed == 1
    assert run.simulated_time == pytest.approx(10 * 0.5)


@pytest.mark.parametrize("name,kw", TUNERS)
def test_every_tuner_covers_a_small_space_once_and_is_deterministic(tmp_path, name, kw):
    """Bookkeeping on a 10-config space: the whole space, no repeats, nothing unrecorded,
    the best tracked right. Whether a tuner *searches* well is tested at budgets far
    below the space size, against random search (tests/test_replay_budget.py)."""
    sp = load_replay(_kt_cache(tmp_path))

    def trace(seed):
        seen = []
        tuner = create_tuner(name, sp, seed=seed, **kw)
        tuner.tune(11, ReplayRunner(sp, n_parallel=4),
                   callbacks=[lambda t, inps, res: seen.extend(int(i.config.index) for i in inps)])
        return seen, tuner.best_throughput

    a, best = trace(3)
    b, _ = trace(3)
    assert a == b, f"{name} is not deterministic given a seed"
    if name == "droplet":
        # DropletSearch stops on its own when its neighbourhood is spent (here after 9
        # of 10): no repeats, nothing unrecorded, the best of what it measured
        assert len(a) == len(set(a)) and set(a) <= set(sp.entries) and len(a) >= 8
        assert 1.0 / best == pytest.approx(min(sp.entries[i].cost for i in a if sp.entries[i].ok))
        return
    assert sorted(a) == sorted(sp.entries)  # whole space, no repeats, nothing unrecorded
    assert 1.0 / best == pytest.approx(sp.optimum_cost)


def test_noise_draws_from_recorded_runs():
    sp = load_replay(PNPOLY)
    assert sp.n_recorded == 4092 and sp.n_failed == 318  # documented in shared/data/README.md
    idx = next(i for i, e in sp.entries.items() if e.ok and len(set(e.times)) > 3)
    entry = sp.entries[idx]
    run = ReplayRunner(sp, noise=True, repeats=3, seed=0)
    from adatune.measure import MeasureInput
    inp = MeasureInput(sp.target, sp, sp.config_space.get(idx))
    draws = [c for _ in range(20) for c in run.measure_batch([inp])[0].costs]
    assert set(draws) <= set(entry.times) and len(set(draws)) > 1
    quiet = ReplayRunner(sp).measure_batch([inp])[0]
    assert quiet.costs == (entry.cost,)
    # simulated time charges compile + verification + benchmark (ms in the file)
    assert run.simulated_time == pytest.approx(20 * entry.charge) and entry.charge > entry.cost


def test_shared_nnfusion_v01_log_needs_a_workload_and_replays():
    with pytest.raises(ValueError, match="workloads"):
        load_replay(NNFUSION)
    sp = load_replay(NNFUSION, workload="tvm_matmul_tune_op(16,256,256)")
    assert sp.n_recorded == 1000 and sp.n_failed == 217
    summary = create_tuner("grid", sp).tune(1000, ReplayRunner(sp, n_parallel=64))
    assert summary.best_cost == pytest.approx(sp.optimum_cost) and summary.n_trials == 1000


@pytest.mark.skipif(not BENCH_LOGS, reason="bench/data logs not generated")
def test_generated_cpu_logs_are_exhaustive_and_replay():
    for path in BENCH_LOGS:
        sp = load_replay(path)
        assert sp.n_recorded >= 200, path
        assert sp.optimum_cost < 1.0


def test_malformed_files_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"tune_params": {"a": [1]},\n "cache": {"1": {"time": 1.0}\n')
    with pytest.raises(ValueError, match=r"bad\.json:\d+: .*malformed JSON"):
        load_replay(str(bad))
    path, _ = _autotvm_log(tmp_path)
    lines = open(path).read().splitlines()
    lines[5] = lines[5][:40]
    open(path, "w").write("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"toy\.log:6: malformed record"):
        load_replay(path)
    neg = tmp_path / "neg.json"
    neg.write_text(json.dumps({"tune_params": {"a": [1, 2]}, "cache": {"1": {"time": -3}}}))
    with pytest.raises(ValueError, match=r"neg\.json:\d+: .*cache entry '1'"):
        load_replay(str(neg))
    with pytest.raises(ValueError, match="no such file"):
        load_replay(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="repeats"):
        ReplayRunner(load_replay(_kt_cache(tmp_path)), repeats=0)


def _bench():
    spec = importlib.util.spec_from_file_location("bench_replay", os.path.join(ROOT, "bench", "replay.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("label", ["kt-random_sample", "kt-genetic_algorithm", "optuna-tpe", "rfei-dynamic"])
def test_bench_peers_count_unique_trials_and_are_deterministic(tmp_path, label):
    # Bookkeeping only (the budget covers the space); search quality: test_replay_budget.py.
    bench = _bench()
    path = _kt_cache(tmp_path)
    a = bench.run_one(path, label, 0, 11)
    b = bench.run_one(path, label, 0, 11)
    assert a["curve"] == b["curve"], f"{label} not deterministic"
    assert a["n_trials"] <= 11
    if label != "kt-genetic_algorithm":  # KT's GA may stop early on a tiny space
        assert a["n_trials"] == 11 and a["curve"][-1] == pytest.approx(1.0)
        assert a["trials_to_opt"] <= 11


def test_a_peer_whose_library_is_missing_is_named_before_any_run(tmp_path, capsys, monkeypatch):
    """Optuna's GPSampler imports torch only at its first model-based ask: without the
    check, a run named with optuna-gp fails there, after every earlier run. Named, it is
    refused before any run, with the install line; left to the default list, it is left
    out with a note and the other tuners run."""
    bench = _bench()
    monkeypatch.setitem(sys.modules, "torch", None)  # what an install without torch looks like
    calls = []

    def first_run(*a):
        calls.append(a)
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "run_one", first_run)
    argv = [_kt_cache(tmp_path), "--seeds", "1", "--budget", "4", "--jobs", "1"]
    with pytest.raises(SystemExit):
        bench.main([*argv, "--tuners", "random,optuna-gp"])
    err = capsys.readouterr().err
    assert "optuna-gp needs the 'torch' module (pip install torch --index-url" in err, err
    assert calls == []
    with pytest.raises(KeyboardInterrupt):  # the first run starts: stop there
        bench.main(argv)
    err = capsys.readouterr().err
    assert "left out: optuna-gp needs the 'torch' module" in err, err
    assert len(calls) == 1 and calls[0][1] == "optuna-tpe"  # ask/tell peers start first


def test_an_interrupted_bench_run_resumes_from_its_checkpoint(tmp_path, capsys):
    bench = _bench()
    path = _kt_cache(tmp_path)
    argv = [path, "--tuners", "random,droplet", "--seeds", "3", "--budget", "8", "--jobs", "1"]
    full = tmp_path / "full.json"
    assert bench.main([*argv, "--json", str(full)]) == 0
    assert not os.path.exists(f"{full}.partial.jsonl")  # removed once the JSON is written
    first = json.loads(full.read_text())["runs"]
    # An interrupted run: two runs kept, the line in flight cut short.
    out = tmp_path / "resumed.json"
    with open(f"{out}.partial.jsonl", "w") as f:
        for r in first[:2]:
            f.write(json.dumps({**r, "budget": 8}) + "\n")
        f.write('{"space": "cut sh')
    real = bench.run_one

    def one_then_stop(*a):  # interrupted again, one run later
        if calls:
            raise KeyboardInterrupt
        calls.append(a)
        return real(*a)

    calls = []
    bench.run_one = one_then_stop
    with pytest.raises(KeyboardInterrupt):
        bench.main([*argv, "--json", str(out)])
    calls = []
    bench.run_one = lambda *a: calls.append(a) or real(*a)
    assert bench.main([*argv, "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert "resuming: 3 of 6 runs" in err and "partial.jsonl:3: unreadable run skipped" in err
    assert len(calls) == 3 and {(c[1], c[2]) for c in calls}.isdisjoint(
        {(r["tuner"], r["seed"]) for r in first[:2]})
    assert not os.path.exists(f"{out}.partial.jsonl")
    again = json.loads(out.read_text())["runs"]
    key = lambda r: (r["tuner"], r["seed"])  # noqa: E731
    assert sorted(map(key, again)) == sorted(map(key, first))
    assert {key(r): r["curve"] for r in again} == {key(r): r["curve"] for r in first}

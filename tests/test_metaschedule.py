"""adatune.metaschedule: each part with real TVM objects, then all together in tune_tir.

Data: every latency here is measured on this machine from kernels built by TVM; no
stored data set covers MetaSchedule on CPU (../shared/data/metaschedule holds metal
databases only).
"""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")
ms = pytest.importorskip("tvm.s_tir.meta_schedule")

from adatune.metaschedule import (  # noqa: E402
    AdaptiveEvaluator, DynamicEpsilonSearch, FastBuilder, RFEICostModel, adaptive_local_runner,
    aggregate_store_features, count_tunable_blocks, get_workload, needs_tensor_intrin,
    skip_tensor_intrin_import, tune_tir)
from adatune.metaschedule.workloads import reference  # noqa: E402

TARGET = tvm.target.Target({"kind": "llvm", "num-cores": 2})
HANG_AND_BROKEN = '''
from tvm.script import tirx as T

@T.prim_func
def spin(A: T.Buffer((4,), "float32")):
    T.func_attr({"global_symbol": "main"})
    while A[0] > T.float32(-1.0):
        A[1] = A[1] + T.float32(1.0)

@T.prim_func
def gpu_on_cpu(A: T.Buffer((32,), "float32")):
    T.func_attr({"global_symbol": "main"})
    tx = T.launch_thread("threadIdx.x", 32)
    A[tx] = T.float32(1.0)
'''


def _hang_and_broken(tmp_path_factory):
    import runpy

    path = tmp_path_factory.mktemp("tvmscript") / "hang_and_broken.py"
    path.write_text(HANG_AND_BROKEN)  # TVMScript's parser needs the source in a file
    return runpy.run_path(str(path))


def _small_search(**kw):
    # Small population: the evolutionary step dominates test time on 2 cores.
    return DynamicEpsilonSearch(population_size=32, init_min_unmeasured=8, genetic_num_iters=1, **kw)


@pytest.fixture(scope="module")
def builder():
    b = FastBuilder(max_workers=2)
    yield b
    b.close()


@pytest.fixture(scope="module")
def runner():
    return adaptive_local_runner(timeout_sec=5.0, min_converge_coef=0.1, max_wall_ms=500.0)


def _inputs(name, seed=0):
    rng = np.random.default_rng(seed)
    func = get_workload(name)["main"]
    return [rng.uniform(-1, 1, [int(d) for d in p.shape]).astype("float32") for p in func.params]


def _check_correct(sch_mod, name):
    """Compile a scheduled module and compare its output with numpy's."""
    lib = tvm.compile(sch_mod, target=TARGET)
    arrays = _inputs(name)
    dev = tvm.cpu()
    args = [tvm.runtime.tensor(a, device=dev) for a in arrays]
    lib["main"](*args)
    np.testing.assert_allclose(args[-1].numpy(), reference(name, arrays[:-1]), rtol=1e-4, atol=1e-4)


# -- intrinsics ---------------------------------------------------------------------
def test_needs_tensor_intrin_by_target():
    assert not needs_tensor_intrin(TARGET)
    assert not needs_tensor_intrin({"kind": "llvm", "mcpu": "core-avx2", "num-cores": 2})
    assert needs_tensor_intrin({"kind": "llvm", "mcpu": "skylake-avx512", "num-cores": 2})
    assert needs_tensor_intrin({"kind": "llvm", "mtriple": "aarch64-linux-gnu", "num-cores": 2})
    assert needs_tensor_intrin({"kind": "cuda", "arch": "sm_80"})


def test_skip_context_leaves_no_stub_behind():
    import sys

    already = "tvm.s_tir.tensor_intrin" in sys.modules
    with skip_tensor_intrin_import(TARGET) as skipped:
        import tvm.s_tir.tensor_intrin  # noqa: F401  (free inside the block)
        assert skipped == (not already)
    assert already == ("tvm.s_tir.tensor_intrin" in sys.modules)


# -- builder and runner alone -------------------------------------------------------
def _builder_input(mod):
    return ms.builder.BuilderInput(mod, TARGET)


def test_fast_builder_builds_and_reports_broken_candidates(builder, tmp_path_factory):
    ns = _hang_and_broken(tmp_path_factory)
    good = get_workload("matmul-64")
    results = builder.build([_builder_input(good),
                             _builder_input(tvm.IRModule({"main": ns["gpu_on_cpu"]}))])
    assert results[0].error_msg is None and os.path.exists(results[0].artifact_path)
    assert results[1].artifact_path is None and "FastBuilder" in results[1].error_msg
    # The pool survived the failure: building again works.
    again = builder.build([_builder_input(good)])
    assert again[0].error_msg is None


def test_adaptive_runner_times_and_survives_a_hang(builder, runner, tmp_path_factory):
    ns = _hang_and_broken(tmp_path_factory)
    mods = [get_workload("matmul-64"), tvm.IRModule({"main": ns["spin"]})]
    built = builder.build([_builder_input(m) for m in mods])
    assert all(b.error_msg is None for b in built)
    inputs = [ms.runner.RunnerInput(b.artifact_path, "cpu", ms.arg_info.ArgInfo.from_prim_func(m["main"]))
              for b, m in zip(built, mods)]
    ok, hung = [f.result() for f in runner.run(inputs)]
    assert ok.error_msg is None and len(ok.run_secs) == 1 and 0 < float(ok.run_secs[0]) < 0.1
    assert ok.run_secs is not None and hung.run_secs is None and "Timeout" in hung.error_msg
    # The runner keeps working after the hung candidate was killed.
    again = runner.run(inputs[:1])[0].result()
    assert again.error_msg is None


def test_adaptive_evaluator_in_process():
    lib = tvm.compile(get_workload("matmul-64"), target=TARGET).jit()
    dev = tvm.cpu()
    args = [tvm.runtime.tensor(a, device=dev) for a in _inputs("matmul-64")]
    costs = AdaptiveEvaluator(min_converge_coef=0.2)(lib, dev, None, [args, args])
    assert len(costs) == 2 and all(0 < c < 0.1 for c in costs)
    with pytest.raises(RuntimeError, match="candidate failed"):
        AdaptiveEvaluator()(lib, dev, None, [args[:2]])  # one argument missing


def test_adaptive_rpc_runner_times_inside_the_server(builder):
    from adatune.measure import local_cluster
    from adatune.metaschedule import adaptive_rpc_runner

    mod = get_workload("matmul-64")
    built = builder.build([_builder_input(mod)])[0]
    assert built.error_msg is None
    with local_cluster(n_servers=1, key="adatune-ms-test", timeout=90) as cl:
        runner = adaptive_rpc_runner(cl.tracker_address, "adatune-ms-test", timeout_sec=30,
                                     min_converge_coef=0.2)
        res = runner.run([ms.runner.RunnerInput(built.artifact_path, "cpu",
                                                ms.arg_info.ArgInfo.from_prim_func(mod["main"]))])
        out = res[0].result()
    assert out.error_msg is None, out.error_msg
    assert len(out.run_secs) == 1 and 0 < float(out.run_secs[0]) < 0.1


def test_runner_options_are_validated():
    with pytest.raises(ValueError, match="min_converge_coef"):
        AdaptiveEvaluator(min_converge_coef=-1)
    with pytest.raises(ValueError, match="unknown evaluator option"):
        adaptive_local_runner(min_convergence=0.1)
    with pytest.raises(ValueError, match="host:port"):
        from adatune.metaschedule import adaptive_rpc_runner

        adaptive_rpc_runner("nohost", "key")


# -- search strategy and cost model, driven by hand ---------------------------------
DRIVEN = "matmul-128x64x32"  # a space where the forest's uncertainty falls within 40 trials


@pytest.fixture(scope="module")
def driven(builder, runner):
    """Forty candidates of a small matmul proposed by DynamicEpsilonSearch, built and timed."""
    model = RFEICostModel(n_estimators=64, num_warmup_samples=4, seed=0)
    strategy = _small_search(uncertainty_model=model, seed=0)
    with skip_tensor_intrin_import(TARGET):
        ctx = ms.TuneContext(get_workload(DRIVEN), target=TARGET, space_generator="post-order-apply",
                             search_strategy=strategy,
                             task_name="main", num_threads=2, rand_state=0)
    db = ms.database.MemoryDatabase()
    ctx.pre_tuning(max_trials=40, num_trials_per_iter=4, design_spaces=ctx.generate_design_space(),
                   database=db, cost_model=model)
    batches = []
    while True:
        cands = ctx.generate_measure_candidates()
        if cands is None:
            break
        n_random = strategy._origin.count("rand")
        built = builder.build([ms.builder.BuilderInput(c.sch.mod, TARGET) for c in cands])
        futures = runner.run([ms.runner.RunnerInput(b.artifact_path, "cpu", c.args_info)
                              for b, c in zip(built, cands)])
        results = [f.result() for f in futures]
        model.update(ctx, cands, results)
        ctx.notify_runner_results(cands, results)
        batches.append((cands, results, n_random))
        assert len(batches) < 12, "the strategy did not stop at max_trials"
    ctx.post_tuning()
    return ctx, model, batches, strategy


def test_dynamic_epsilon_search_mixes_and_stops(driven):
    ctx, model, batches, strategy = driven
    assert sum(len(c) for c, _, _ in batches) == 40
    eps = strategy.epsilons_
    assert len(eps) == len(batches) and eps[0] == 1.0  # no model yet: all random
    assert batches[0][2] == 4
    # Each batch's random share is epsilon's (evolution may leave more places to random).
    for e, (cands, _, n_random) in zip(eps, batches):
        assert n_random >= int(round(e * len(cands)))
    # Epsilon is the clipped mean spread of the model on random candidates: it must move
    # with the model (a constant one fails) and be exactly that number for any model it
    # is given. That it falls as a forest learns is tested on fixed data in test_tuner
    # and test_tuner_models (same ForestEI, same policy): here, on 40 real timings and
    # fresh random candidates each plan, the trend over 9 fits was flat in two CI runs
    # (0.165, 0.158, 0.146, 0.171, 0.185, ...), and refits on prefixes of the measured
    # data fell by 5-45 % over five runs: too little to hold every time.
    fitted = eps[1:]
    assert np.ptp(fitted) > 0.005, fitted
    cands = [c for cs, _, _ in batches for c in cs]
    results = [r for _, rs, _ in batches for r in rs]

    def epsilon_of(model, probe):
        # The strategy's own split, on a probe smaller than its sample: every probe
        # candidate is used, so the result is exact, not a draw.
        kept, strategy.uncertainty_model = strategy.uncertainty_model, model
        try:
            strategy._split(probe, 4)
            return strategy.epsilons_.pop()
        finally:
            strategy.uncertainty_model = kept

    early = RFEICostModel(n_estimators=64, num_warmup_samples=4, seed=0)
    early.update(ctx, cands[:8], results[:8])
    got = {}
    for name, m in (("final", model), ("first 8", early)):
        _, spread = m.mean_std(ctx, cands[32:])
        got[name] = epsilon_of(m, cands[32:])
        assert got[name] == pytest.approx(min(max(float(np.mean(spread)), 0.02), 0.5)), name
    assert abs(got["final"] - got["first 8"]) > 1e-3, got
    assert all(0.02 <= e <= 0.5 for e in fitted)
    from tvm_ffi import structural_hash

    hashes = [structural_hash(c.sch.mod) for cands, _, _ in batches for c in cands]
    assert len(set(hashes)) == len(hashes)    # no candidate proposed twice
    assert all(r.error_msg is None for _, res, _ in batches for r in res)


def test_dynamic_epsilon_search_clone_and_validation():
    s = DynamicEpsilonSearch(population_size=64, eps_low=0.1, eps_high=0.3, seed=1)
    # Through MetaSchedule's C++ clone (what tune_tir does) and directly.
    assert s.clone() is not None
    c = s._inst.clone()
    assert c._params == s._params and c is not s
    with pytest.raises(ValueError, match="low <= high"):
        DynamicEpsilonSearch(eps_low=0.6, eps_high=0.3)
    with pytest.raises(TypeError, match="uncertainty_model"):
        DynamicEpsilonSearch(uncertainty_model="xgb")
    with pytest.raises(ValueError, match="population_size"):
        DynamicEpsilonSearch(population_size=1)
    with pytest.raises(TypeError, match="fallback_eps"):
        DynamicEpsilonSearch(fallback_eps="0.1")


def test_rfei_cost_model_predicts_ei_and_round_trips(driven, tmp_path):
    from scipy.stats import kendalltau

    ctx, model, batches, _ = driven
    cands = [c for cs, _, _ in batches for c in cs]
    results = [r for _, rs, _ in batches for r in rs]
    assert model.fitted and model.n_samples == 40
    scores = model.predict(ctx, cands)
    assert scores.shape == (40,) and np.all(scores >= 0) and np.all(np.isfinite(scores))
    # Ranking candidates it has not seen: 8-fold cross-validation over the 40 measured
    # ones, repeated over 5 splits, against the same forest fitted to shuffled labels.
    # The control's mean tau is 0 +- 0.05 over 5 splits; the forest got 0.16 (a noisy CI
    # machine) to 0.53. A 4-fold, 3-split version with a fixed 0.2 bar failed once in CI.
    lat = np.array([float(np.mean([float(s) for s in r.run_secs])) for r in results])

    def cv_tau(labels, rep):
        pred = np.empty(len(cands))
        folds = np.array_split(np.random.default_rng(rep).permutation(len(cands)), 8)
        for k, test in enumerate(folds):
            train = np.concatenate([f for j, f in enumerate(folds) if j != k])
            fold_model = RFEICostModel(n_estimators=64, num_warmup_samples=4, seed=k)
            fold_model.update(ctx, [cands[i] for i in train], [labels[i] for i in train])
            pred[test] = fold_model.mean_std(ctx, [cands[i] for i in test])[0]
        return kendalltau(pred, -lat)[0]

    taus = [cv_tau(results, rep) for rep in range(5)]
    perm = [np.random.default_rng(100 + rep).permutation(len(results)) for rep in range(5)]
    control = [cv_tau([results[i] for i in p], rep) for rep, p in enumerate(perm)]
    assert np.mean(taus) > 0.1 and np.mean(taus) > np.mean(control) + 0.08, (taus, control)
    path = str(tmp_path / "rfei.pkl")
    model.save(path)
    other = RFEICostModel(n_estimators=16, num_warmup_samples=4)
    other.load(path)
    np.testing.assert_allclose(other.predict(ctx, cands), scores)
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps({"format": "something else"}))
    with pytest.raises(ValueError, match="not a saved RFEICostModel"):
        other.load(str(bad))
    # Called through MetaSchedule's C++ method, the FileNotFoundError arrives as RuntimeError.
    with pytest.raises((FileNotFoundError, RuntimeError), match="no file"):
        other.load(str(tmp_path / "missing.pkl"))


def test_aggregate_store_features_shape():
    rows = np.arange(2 * 164, dtype=float).reshape(2, 164)
    out = aggregate_store_features(rows)
    assert out.shape == (329,) and out[0] == 82.0 and out[164] == 164.0
    with pytest.raises(ValueError, match="2-D"):
        aggregate_store_features(np.zeros(164))


# -- all together -------------------------------------------------------------------
def test_tune_tir_end_to_end(tmp_path):
    import sys

    intrin_before = "tvm.s_tir.tensor_intrin" in sys.modules
    work_dir = str(tmp_path / "ms")
    mod = get_workload("matmul-64")
    db = tune_tir(mod, TARGET, work_dir, max_trials_global=12, num_trials_per_iter=6,
                  strategy=_small_search(seed=0),
                  cost_model=RFEICostModel(n_estimators=16, num_warmup_samples=4, seed=0),
                  num_tuning_cores=2, seed=0)
    # TuneContext's 25-40 s import of the tensor intrinsics was skipped for this target.
    assert ("tvm.s_tir.tensor_intrin" in sys.modules) == intrin_before
    records = db.get_all_tuning_records()
    assert len(records) == 12
    assert all(r.run_secs is not None and float(r.run_secs[0]) < 1e9 for r in records)
    # TVM's own reader loads the database and returns a schedule that computes the answer.
    reloaded = ms.database.JSONDatabase(work_dir=work_dir, allow_missing=False)
    assert len(reloaded) == 12
    sch = ms.tir_integration.compile_tir(reloaded, mod, TARGET)
    assert sch is not None
    _check_correct(sch.mod, "matmul-64")
    # Incumbent confirmation: a record that beat the best when it was measured was timed
    # again and committed with that confirmation, so the final best is a confirmed one.
    import json

    with open(os.path.join(work_dir, "confirmations.jsonl")) as f:
        notes = [json.loads(line) for line in f]
    assert 1 <= len(notes) < 12
    confirmed = [n["confirmed_run_secs"] for n in notes]
    best = min(records, key=lambda r: float(r.run_secs[0]))
    assert [float(s) for s in best.run_secs] in confirmed
    assert all(n["first_run_secs"] != n["confirmed_run_secs"] for n in notes)


def test_tune_tir_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="kind 'c' is not supported"):
        tune_tir(get_workload("matmul-64"), {"kind": "c"}, str(tmp_path), 4)
    with pytest.raises(ValueError, match="num-cores"):
        tune_tir(get_workload("matmul-64"), {"kind": "llvm"}, str(tmp_path), 4)
    from tvm.script import tirx as T

    @T.prim_func
    def empty(A: T.Buffer((4,), "float32")):
        T.func_attr({"global_symbol": "main"})
        T.evaluate(0)

    assert count_tunable_blocks(tvm.IRModule({"main": empty})) == 0
    with pytest.raises(ValueError, match="no tunable blocks"):
        tune_tir(empty, TARGET, str(tmp_path), 4)
    with pytest.raises(ValueError, match="cost_model"):
        tune_tir(get_workload("matmul-64"), TARGET, str(tmp_path), 4, cost_model="gbdt")
    with pytest.raises(ValueError, match="max_trials_global"):
        tune_tir(get_workload("matmul-64"), TARGET, str(tmp_path), 0)
    with pytest.raises(ValueError, match="unknown workload"):
        get_workload("matmul-abc")


def test_workloads_reference_matches_untuned_build():
    for name in ("dense-bias-relu-32", "softmax-8x16", "conv2d-resnet-small"):
        _check_correct(get_workload(name), name)


def test_tune_relax_tunes_the_tasks_of_a_model(tmp_path):
    from tvm import relax
    from tvm.script import relax as R

    from adatune.metaschedule import tune_relax

    @tvm.script.ir_module
    class Model:
        @R.function
        def main(x: R.Tensor((32, 32), "float32"), w: R.Tensor((32, 32), "float32")):
            with R.dataflow():
                y = R.matmul(x, w)
                z = R.nn.relu(y)
                R.output(z)
            return z

    work_dir = str(tmp_path / "relax")
    db = tune_relax(Model, None, TARGET, work_dir, max_trials_global=8, num_trials_per_iter=4,
                    strategy=_small_search(seed=0),
                    cost_model=RFEICostModel(n_estimators=16, num_warmup_samples=4, seed=0), seed=0)
    assert len(db.get_all_tuning_records()) >= 4
    # TVM's own pass applies the database; the compiled model computes relu(x @ w).
    with TARGET, tvm.transform.PassContext(opt_level=3):
        mod = relax.transform.LegalizeOps()(Model)
        mod = relax.transform.MetaScheduleApplyDatabase(work_dir)(mod)
    ex = tvm.compile(mod, target=TARGET)
    vm = relax.VirtualMachine(ex, tvm.cpu())
    rng = np.random.default_rng(0)
    x, w = (rng.standard_normal((32, 32)).astype("float32") for _ in range(2))
    out = vm["main"](tvm.runtime.tensor(x), tvm.runtime.tensor(w)).numpy()
    np.testing.assert_allclose(out, np.maximum(x @ w, 0), rtol=1e-4, atol=1e-4)

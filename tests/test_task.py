"""Tasks, the template registry, targets, pickling to worker processes and apply_best.

Real data: /work/shared/data/autotvm/nnfusion_osdi20/all_tuned_topi_dense.1000.log, an
unmodified AutoTVM v0.1 log from microsoft/nnfusion @ 4d652edd49c4
(artifacts/kernel_db/autotvm_logs), MIT: CUDA dense records, which apply_best must read
alongside our own log and never apply to a CPU task.
"""
import json
import multiprocessing
import os
import pickle

import numpy as np
import pytest
import tvm
from tvm import s_tir, te

import adatune
import adatune.task as T
from adatune.measure import MeasureInput, MeasureResult
from adatune.records import Record, encode, workload_key

REAL_LOG = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "autotvm",
                        "nnfusion_osdi20", "all_tuned_topi_dense.1000.log")


# ----------------------------------------------------------------------------- registry

def _scale_ref(args, inputs):
    return [inputs[0] * args[1]]


@adatune.template("test_scale", reference=_scale_ref, override=True)
def _scale(cfg, n, factor):
    cfg.define_split("tile", n, num_outputs=2)
    cfg.define_knob("vectorize", [False, True])
    cfg.add_flop(n)
    A = te.placeholder((n,), "float32", name="A")
    B = te.compute((n,), lambda i: A[i] * factor, name="B")
    sch = s_tir.Schedule(te.create_prim_func([A, B]))
    outer, inner = sch.split(sch.get_loops(sch.get_sblock("B"))[0], [None, cfg["tile"].size[-1]])
    if cfg["vectorize"].val:
        sch.vectorize(inner)
    return sch.mod["main"]


def test_builtins_registered():
    names = T.list_templates()
    for name in ["dense", "matmul", "batch_matmul", "conv2d_nchw", "conv2d_nhwc", "depthwise_conv2d_nchw",
                 "depthwise_conv2d_nhwc"]:
        assert name in names
    assert T.get_template("dense").num_outputs == 1


def test_unknown_template_lists_known_ones():
    with pytest.raises(ValueError, match="no template named 'nope'.*dense"):
        T.create("nope", (1,))


def test_user_template_end_to_end():
    task = T.create("test_scale", (64, 3.0))
    assert len(task.config_space) == 7 * 2
    assert task.flop == 64
    for index in (0, len(task.config_space) - 1):
        arrays = [tvm.runtime.tensor(a) for a in task.make_inputs(0)]
        task.build(index)(*arrays)
        np.testing.assert_allclose(arrays[1].numpy(), arrays[0].numpy() * 3.0)
        assert task.check_outputs(arrays)


def test_duplicate_registration_refused():
    def other(cfg, n):
        raise AssertionError("never called")

    with pytest.raises(ValueError, match="already registered"):
        T.template("test_scale")(other)
    with pytest.raises(ValueError, match="num_outputs"):
        T.template("x_bad", num_outputs=0)
    with pytest.raises(ValueError, match="identifier"):
        T.template("has space")


# ----------------------------------------------------------------------------- tasks

def test_task_facts():
    task = T.create("dense", [16, 32, 8, "float32"], "llvm")
    assert task.args == (16, 32, 8, "float32")
    assert task.workload_key == workload_key("dense", [16, 32, 8, "float32"]) == 'dense(16,32,8,"float32")'
    assert task.signature == [((16, 8), "float32"), ((32, 8), "float32"), ((16, 32), "float32")]
    assert task.output_indices == (2,)
    arrays = task.make_inputs(np.random.default_rng(1))
    assert [a.shape for a in arrays] == [(16, 8), (32, 8), (16, 32)]
    assert not arrays[2].any() and arrays[0].any()
    assert np.array_equal(task.make_inputs(5)[0], task.make_inputs(5)[0])
    (want,) = task.reference(arrays[:2])
    np.testing.assert_allclose(want, arrays[0] @ arrays[1].T, rtol=1e-6)
    with pytest.raises(ValueError, match="input 1 has shape"):
        task.reference([arrays[0], arrays[0]])
    with pytest.raises(TypeError, match="args must be a list or tuple"):
        T.create("dense", "16,32,8")
    with pytest.raises(TypeError, match="ints, floats, strings"):
        T.create("dense", (16, object(), 8))


def test_config_forms_agree():
    task = T.create("dense", (16, 32, 8))
    space = task.config_space
    index = space.sample(1, rng=4)[0]
    entity = space.get(index)
    assert task.config(index) == entity
    assert task.config(entity.to_json_dict()) == entity
    assert task.config({"entity": entity.to_json_dict()["entity"]}).index == index
    with pytest.raises(TypeError, match="cannot turn"):
        task.config(1.5)
    with pytest.raises(ValueError):
        task.config(len(space))
    other = T.create("conv2d_nchw", (1, 4, 6, 6, 8, 3, 3, 1, 1))
    with pytest.raises(ValueError):
        task.instantiate(other.config_space.get(0))


def test_compiled_function_is_main():
    task = T.create("matmul", (8, 16, 4))
    lib = task.build(task.config_space.sample(1, rng=0)[0])
    arrays = [tvm.runtime.tensor(a) for a in task.make_inputs(0)]
    lib["main"](*arrays)
    assert task.check_outputs(arrays)


# ----------------------------------------------------------------------------- targets

def test_targets():
    host = T.as_target("llvm")
    assert host.kind.name == "llvm"
    assert int(host.attrs["num-cores"]) == os.cpu_count()
    cpu = tvm.target.codegen.llvm_get_system_cpu()
    if cpu and cpu != "generic":
        assert str(host.attrs["mcpu"]) == cpu
    assert T.as_target(None).same_as(host) or str(T.as_target(None)) == str(host)
    assert T.as_target({"kind": "llvm", "num-cores": 1}).kind.name == "llvm"
    assert T.as_target("cuda").kind.name == "cuda"
    assert T.as_target("c").kind.name == "c"  # any bare kind name
    assert T.as_target(host) is host
    assert T.as_target(str(host)).kind.name == "llvm"  # JSON text, as logs store it
    with pytest.raises(ValueError, match="old-style target string.*dict"):
        T.as_target("llvm -mcpu=skylake-avx512")
    with pytest.raises(ValueError, match="'kind'"):
        T.as_target({"mcpu": "znver3"})
    with pytest.raises(ValueError, match="a tvm Target, a dict or a string"):
        T.as_target(3)
    with pytest.raises(ValueError, match="supports targets \\['llvm'\\], not 'cuda'"):
        T.create("dense", (8, 8, 8), "cuda")


# ----------------------------------------------------------------------------- pickling

def _build_in_worker(blob):
    task = pickle.loads(blob)
    index = task.config_space.sample(1, rng=2)[0]
    arrays = [tvm.runtime.tensor(a) for a in task.make_inputs(0)]
    task.build(index)(*arrays)
    return task.workload_key, index, task.check_outputs(arrays)


def test_pickle_is_small_and_rebuilds_in_a_fresh_process():
    task = T.create("conv2d_nhwc", (1, 6, 6, 4, 8, 3, 3, 1, 1), {"kind": "llvm", "num-cores": 2})
    task.config_space  # a built space must not travel
    blob = pickle.dumps(task)
    assert len(blob) < 600
    back = pickle.loads(blob)
    assert back == task and hash(back) == hash(task)
    assert json.loads(str(back.target)) == json.loads(str(task.target))
    ctx = multiprocessing.get_context("spawn")  # nothing inherited: registry rebuilt by import
    with ctx.Pool(1) as pool:
        key, index, ok = pool.apply(_build_in_worker, (blob,))
    assert key == task.workload_key
    assert ok
    assert task.config_space.is_valid(index)


def test_threads_declare_and_instantiate_topi_templates_at_once():
    """tune_model runs one tuner thread per task; TOPI's op-tag scope is process-global,
    so unguarded concurrent declarations fail with "nested op_tag is not allowed"."""
    import threading

    errors = []
    barrier = threading.Barrier(4)

    def work(k):
        try:
            barrier.wait()
            for i in range(12):  # distinct shapes: the per-process cache must miss
                task = T.create("conv2d_nhwc", (1, 8 + i, 8 + i, 8, 8 + 8 * k, 3, 3, 1, 1))
                task.config_space
                task.instantiate(0)
        except Exception as err:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(err))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []


# ----------------------------------------------------------------------------- apply_best

def _write_log(path, task, entries):
    """entries: (config index, cost seconds or None for a failure)."""
    with open(path, "w") as fh:
        for index, cost in entries:
            inp = MeasureInput(task.target, task, task.config_space.get(index))
            if cost is None:
                res = MeasureResult(("RuntimeError",), 4, 0.1, 1.7e9)
            else:
                res = MeasureResult((cost, cost), 0, 0.1, 1.7e9)
            fh.write(encode(Record.from_measure(inp, res)) + "\n")


def test_apply_best_picks_fastest_successful_record(tmp_path):
    dense = T.create("dense", (16, 32, 8))
    conv = T.create("conv2d_nchw", (1, 4, 6, 6, 8, 3, 3, 1, 1))
    a, b, c = dense.config_space.sample(3, rng=9)
    log = tmp_path / "tune.log"
    _write_log(log, dense, [(a, 3e-5), (b, 1e-5), (c, None)])  # c failed: never chosen
    with open(log, "a") as fh:
        fh.write("# a comment line\n\n")
    _write_log(tmp_path / "conv.log", conv, [(conv.config_space.sample(1, rng=0)[0], 2e-5)])

    with adatune.apply_best([str(log), REAL_LOG]) as best:
        assert dense.best_config().index == b
        lib = dense.build_best()
        func = T.create("dense", (16, 32, 8)).instantiate_best()
        assert isinstance(func, tvm.tirx.PrimFunc)
        with pytest.raises(LookupError, match="no successful llvm record of conv2d_nchw"):
            conv.build_best()
        with adatune.apply_best(tmp_path / "conv.log"):  # innermost block wins
            conv.build_best()
        assert 'dense(16,32,8,"float32")' in best.workload_keys("llvm")
        # the real CUDA log's workloads are there, but only for cuda tasks
        assert best.workload_keys("cuda") and not any("topi" in k for k in best.workload_keys("llvm"))
    arrays = [tvm.runtime.tensor(x) for x in dense.make_inputs(0)]
    lib(*arrays)
    assert dense.check_outputs(arrays)
    assert dense.best_config(str(log)).index == b  # without a with-block
    with pytest.raises(LookupError, match="no tuning log given"):
        dense.build_best()
    with pytest.raises(ValueError, match="does not exist"):
        adatune.apply_best(tmp_path / "missing.log")


def test_apply_best_from_records(tmp_path):
    dense = T.create("dense", (16, 32, 8))
    i, j = dense.config_space.sample(2, rng=3)
    recs = [Record.from_measure(MeasureInput(dense.target, dense, dense.config_space.get(k)),
                                MeasureResult((cost,), 0, 0.1, 1.7e9)) for k, cost in ((i, 2.0), (j, 1.0))]
    assert dense.best_config(recs).index == j
    assert dense.config(recs[0]).index == i
    other = T.create("dense", (8, 8, 8))
    with pytest.raises(ValueError, match="record is for"):
        other.config(recs[0])


def _old_style_log(path, name, args, task, costs):
    """A log as written before defaults were filled in: args exactly as the user gave them."""
    import types

    logged = types.SimpleNamespace(name=name, args=args)
    with open(path, "w") as fh:
        for index, cost in costs:
            inp = MeasureInput(task.target, logged, task.config_space.get(index))
            fh.write(encode(Record.from_measure(inp, MeasureResult((cost,), 0, 0.1, 1.7e9))) + "\n")


def test_defaults_are_part_of_the_task_and_old_keys_still_match(tmp_path):
    short, full = T.create("dense", (16, 32, 8)), T.create("dense", (16, 32, 8, "float32"))
    assert short == full and short.args == (16, 32, 8, "float32")
    assert short.workload_key == full.workload_key == 'dense(16,32,8,"float32")'
    assert short.workload_keys == ('dense(16,32,8,"float32")', "dense(16,32,8)")
    conv = T.create("conv2d_nchw", (1, 4, 6, 6, 8, 3, 3, 2))
    assert conv.args[7:] == (2, 0, 1, "float32")  # stride given; padding, dilation, dtype filled
    assert "conv2d_nchw(1,4,6,6,8,3,3,2)" in conv.workload_keys
    assert "conv2d_nchw(1,4,6,6,8,3,3)" not in conv.workload_keys  # stride 2 is no default
    # a log of the short spelling (the old CLI's) is found by either spelling, and the
    # fastest record of all the spellings wins
    a, b, c = short.config_space.sample(3, rng=2)
    old = tmp_path / "old.log"
    _old_style_log(old, "dense", (16, 32, 8), short, [(a, 3e-5), (b, 1e-5)])
    _write_log(tmp_path / "new.log", full, [(c, 0.5e-5)])
    for task in (short, full):
        assert task.best_config(str(old)).index == b
        assert task.best_config([str(old), str(tmp_path / "new.log")]).index == c
        assert task.config(next(iter(adatune.load_best(old).values()))).index == b
    with pytest.raises(LookupError, match="no successful llvm record"):
        T.create("dense", (16, 32, 8, "float16")).best_config(str(old))


def test_pair_arguments_survive_the_log(tmp_path):
    # (h, w) pairs become JSON lists in the log; the workload key must still match
    task = T.create("conv2d_nhwc", [1, 6, 5, 4, 8, 3, 1, [2, 1], (1, 0)])
    assert task.args[7:9] == ((2, 1), (1, 0))
    index = task.config_space.sample(1, rng=5)[0]
    log = tmp_path / "pairs.log"
    _write_log(log, task, [(index, 1e-5)])
    assert '[2, 1], [1, 0]' in log.read_text() or '[2,1],[1,0]' in log.read_text()
    again = T.create("conv2d_nhwc", (1, 6, 5, 4, 8, 3, 1, (2, 1), [1, 0]))
    assert again.workload_key == task.workload_key
    assert again.best_config(str(log)).index == index

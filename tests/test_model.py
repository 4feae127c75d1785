"""Whole-model tuning (adatune.tune_model) on small real models built with onnx.helper.

Every kernel is built and run by TVM on this CPU; the tuned library is loaded in a fresh
process by plain TVM; outputs are checked against numpy (the CNN) and the untuned TVM
build; interrupted runs are killed for real and resumed from their records.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
tvm = pytest.importorskip("tvm")

import adatune  # noqa: E402
from adatune.model import (ModelImportError, NoTunableKernelError, TaskScheduler, import_model,  # noqa: E402
                           match_kernel, parse_input_spec)
from adatune.model.build import compile_model, kernel_uses, lower_model, run_model, with_kernels  # noqa: E402

from _onnx_models import numpy_small_cnn, relu_only, small_cnn, transformer_block, unsupported_op  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
TARGET = "llvm"  # this CPU, with its mcpu


def _save(model, tmp_path, name):
    path = tmp_path / name
    onnx.save(model, str(path))
    return str(path)


@pytest.fixture(scope="module")
def cnn_run(tmp_path_factory):
    """The small CNN tuned once with a few trials per task (shared by several tests)."""
    tmp = tmp_path_factory.mktemp("cnn")
    model = small_cnn()
    path = _save(model, tmp, "cnn.onnx")
    work = tmp / "work"
    tuned = adatune.tune_model(path, target=TARGET, work_dir=str(work), trials=36, seed=0)
    return model, path, work, tuned


# ---------------------------------------------------------------------- kernels
def test_kernels_match_templates_and_schedules_keep_the_numbers():
    """Each template-covered kernel of both models (epilogues: bias, residual add,
    relu, GELU) scheduled with sampled configs computes what the untuned kernel does."""
    from tvm import s_tir

    from adatune.model.tune import verify_kernel

    seen = {}
    for model, layout in ((small_cnn(), "NHWC"), (small_cnn(), "NCHW"), (transformer_block(), "NHWC")):
        lowered = lower_model(import_model(model).mod, TARGET, layout)
        for use in kernel_uses(lowered):
            m = match_kernel(use.func)
            if m is None:
                continue
            seen.setdefault(m.template, []).append(use.name)
            task = adatune.task.create(m.template, m.args, TARGET)
            for index in task.config_space.sample(2, rng=1):
                sch = s_tir.Schedule(use.func)
                assert m.apply(sch, task.config_space.get(index)), f"{use.name}: epilogue not folded"
                assert verify_kernel(sch.mod["main"], use.func, TARGET) < 1e-4, (use.name, index)
    assert set(seen) == {"conv2d_nchw", "depthwise_conv2d_nchw", "conv2d_nhwc", "depthwise_conv2d_nhwc",
                         "matmul", "batch_matmul"}
    assert any("gelu" in n for n in seen["matmul"]) and any("add" in n for n in seen["conv2d_nchw"])
    # the clamp runs in the depthwise kernel's epilogue
    assert any("maximum" in n and "minimum" in n for n in seen["depthwise_conv2d_nhwc"])


def test_match_reads_template_arguments_off_the_kernel():
    model = import_model(small_cnn(channels=8, size=12)).mod
    lowered = lower_model(model, TARGET, "NCHW")
    found = {m.template: m.args for m in (match_kernel(u.func) for u in kernel_uses(lowered)) if m}
    assert found["conv2d_nchw"] in [(1, 3, 12, 12, 8, 3, 3, 1, 1, 1, "float32"),
                                    (1, 8, 12, 12, 8, 3, 3, 1, 1, 1, "float32")]
    assert found["depthwise_conv2d_nchw"] == (1, 8, 12, 12, 3, 3, 1, 1, 1, "float32")
    assert found["matmul"] == (1, 10, 8, "float32")  # Gemm's transB weight folded to [K, N]
    nhwc = [m for m in (match_kernel(u.func) for u in kernel_uses(lower_model(model, TARGET))) if m]
    assert {(m.template, m.args) for m in nhwc} >= {("conv2d_nhwc", (1, 12, 12, 3, 8, 3, 3, 1, 1, 1, "float32")),
                                                   ("conv2d_nhwc", (1, 12, 12, 8, 8, 3, 3, 1, 1, 1, "float32")),
                                                   ("depthwise_conv2d_nhwc", (1, 12, 12, 8, 3, 3, 1, 1, 1, "float32"))}
    # a kernel without a reduction is no template's
    assert not any(match_kernel(u.func) for u in kernel_uses(lower_model(import_model(relu_only()).mod, TARGET)))


# ---------------------------------------------------------------------- layout
def test_channels_last_transposes_once_at_each_end_and_keeps_the_numbers():
    """NHWC lowering: one transpose at the input, one where the convolutional part
    ends (before Flatten), none between convolutions; the ONNX Clip is folded into the
    depthwise kernel; outputs equal numpy's and the NCHW build's."""
    from tvm import relax

    from adatune.model.layout import clamps_as_binary_ops

    model = small_cnn(channels=8, size=12)
    mod = import_model(model).mod
    names = [u.name for u in kernel_uses(lower_model(mod, TARGET))]
    transposes = [i for i, n in enumerate(names) if "transpose" in n]
    convs = [i for i, n in enumerate(names) if "conv2d" in n]
    assert len(transposes) == 2 and transposes[0] < convs[0] and transposes[1] > convs[-1], names
    assert any("conv2d" in n and "minimum" in n for n in names), names  # the clamp in the epilogue
    # Relax's ConvertLayout alone leaves the ONNX Clip a kernel of its own, behind a transpose
    plain = relax.transform.ConvertLayout({"relax.nn.conv2d": ["NHWC", "HWIO"]})(mod)
    with tvm.target.Target(TARGET):
        plain_names = [u.name for u in kernel_uses(relax.get_pipeline("zero")(plain))]
    assert not any("conv2d" in n and "minimum" in n for n in plain_names), plain_names
    rewritten = relax.transform.ConvertLayout({"relax.nn.conv2d": ["NHWC", "HWIO"]})(clamps_as_binary_ops(mod))
    with tvm.target.Target(TARGET):
        fused = [u.name for u in kernel_uses(relax.get_pipeline("zero")(rewritten))]
    assert any("conv2d" in n and "minimum" in n for n in fused), fused
    x = np.random.default_rng(2).standard_normal((1, 3, 12, 12)).astype(np.float32)
    dev = tvm.cpu()
    outs = {}
    for layout in ("NHWC", "NCHW"):
        vm = tvm.relax.VirtualMachine(compile_model(lower_model(mod, TARGET, layout), TARGET), dev)
        outs[layout] = run_model(vm, [x], dev)[0]
    want = numpy_small_cnn(model, x)
    np.testing.assert_allclose(outs["NHWC"], want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(outs["NHWC"], outs["NCHW"], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="layout"):
        lower_model(mod, TARGET, "NCHW16c")


def test_relax_clamps_are_carried_through_channels_last():
    """Relax's own clip and relu6 (the torch importer's) between two convolutions: after
    the rewrite the layout crosses them (no transposes between the convolutions) and
    the values stay."""
    from tvm import relax

    from adatune.model.layout import to_channels_last

    rng = np.random.default_rng(0)
    w = relax.const(rng.standard_normal((8, 8, 3, 3)).astype("float32") * 0.3)
    for clamp in (lambda y: relax.op.clip(y, relax.prim_value(-0.5), relax.prim_value(0.5)), relax.op.nn.relu6):
        x = relax.Var("x", relax.TensorType((1, 8, 10, 10), "float32"))
        bb = relax.BlockBuilder()
        with bb.function("main", [x]):
            with bb.dataflow():
                y = bb.emit(clamp(bb.emit(relax.op.nn.conv2d(x, w, padding=1))))
                out = bb.emit_output(bb.emit(relax.op.nn.conv2d(y, w, padding=1)))
            bb.emit_func_output(out)
        mod = bb.get()
        plain = relax.transform.ConvertLayout({"relax.nn.conv2d": ["NHWC", "HWIO"]})(mod)
        ours = to_channels_last(mod)
        # two weights, the input and the output: nothing between the convolutions
        assert ours["main"].script().count("permute_dims") == 4
        assert plain["main"].script().count("permute_dims") > 4
        data = rng.standard_normal((1, 8, 10, 10)).astype("float32")
        got = []
        for m in (mod, ours):
            vm = tvm.relax.VirtualMachine(tvm.compile(m, target=TARGET), tvm.cpu())
            got.append(run_model(vm, [data], tvm.cpu())[0])
        np.testing.assert_allclose(got[1], got[0], rtol=1e-5, atol=1e-5)


def test_gelu_runs_a_vectorised_erf_as_accurate_as_float32():
    """The transformer block's GELU uses the polynomial erf, fused into its matmul, and
    the model computes what the C library's erf gives (Relax's plain lowering)."""
    from tvm import relax

    mod = import_model(transformer_block()).mod
    lowered = lower_model(mod, TARGET)
    names = [u.name for u in kernel_uses(lowered)]
    assert any("matmul" in n and "fast_erf" in n for n in names), names
    with tvm.target.Target(TARGET):
        plain = relax.get_pipeline("zero")(mod)
    assert not any("fast_erf" in u.name for u in kernel_uses(plain))
    x = np.random.default_rng(4).standard_normal((1, 32, 64)).astype(np.float32)
    dev = tvm.cpu()
    outs = [run_model(tvm.relax.VirtualMachine(compile_model(m, TARGET), dev), [x], dev)[0]
            for m in (lowered, plain)]
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)


def test_default_schedule_runs_small_row_reductions_in_parallel():
    """Softmax over 4 x 32 rows of 32: 128 rows, but 4,096 iterations of work: its
    reductions run parallel (counting only the rows would leave them on one thread)."""
    from tvm import s_tir

    from adatune.model.default_schedule import default_schedule

    lowered = lower_model(import_model(transformer_block()).mod, TARGET)
    softmax = next(u.func for u in kernel_uses(lowered) if u.name == "softmax")
    sch = s_tir.Schedule(default_schedule(softmax))
    reductions = [b for b in sch.get_child_blocks(sch.get_sblock("root"))
                  if any(int(iv.iter_type) == 2 for iv in sch.get(b).iter_vars)]
    assert len(reductions) == 2  # the row maximum and the sum of exponentials
    for block in reductions:
        assert any(int(sch.get(loop).kind) == 1 for loop in sch.get_loops(block)), sch.get(block).name_hint


# ---------------------------------------------------------------------- scheduler
def test_scheduler_warms_up_then_follows_the_gain_and_skips_converged_tasks():
    s = TaskScheduler([1.0, 4.0, 1.0], patience=2)
    for i in range(3):
        assert s.next_task() == i  # warm-up: every task once, in order
        s.record(i, 16, [1e-3, 1e-3, 5e-4][i])
    # task 1 is called 4x as often: its share of the model (w * l) is the largest
    assert s.next_task() == 1
    s.record(1, 16, 0.5e-3)
    assert s.next_task() == 1  # it also improved: backward gain
    s.record(1, 16, 0.5e-3)
    s.record(1, 16, 0.5e-3)  # two rounds without improvement: converged
    assert s.converged(1) and s.next_task() in (0, 2)
    s.record(0, 16, 1e-3, exhausted=True)
    s.record(2, 16, 5e-4, exhausted=True)
    assert s.next_task() == 1  # the only task left, converged or not
    s.record(1, 0, 0.5e-3, exhausted=True)
    assert s.next_task() is None


# ---------------------------------------------------------------------- end to end
def test_small_cnn_tunes_verifies_and_runs_in_a_fresh_process(cnn_run, tmp_path):
    model, path, work, tuned = cnn_run
    report = json.loads((work / "report.json").read_text())
    assert report["trials"] == 36 and report["fell_back"] == []
    kinds = {t["kind"] for t in report["tasks"]}
    assert "template" in kinds
    templates = [t for t in report["tasks"] if t["kind"] == "template"]
    assert sum(t["trials"] for t in report["tasks"]) == 36
    assert all(t["best_ms"] > 0 for t in templates if t["trials"])
    # MetaSchedule tasks time their candidates too (a wrong device name once failed all).
    ms_tasks = [t for t in report["tasks"] if t["kind"] == "metaschedule" and t["trials"]]
    assert all(t["best_ms"] is not None and t["best_ms"] > 0 for t in ms_tasks), ms_tasks
    # New bests were confirmed: the log keeps first readings beside the confirmed costs.
    lines = [json.loads(line) for line in (work / "records.log").read_text().splitlines()]
    assert any("first_costs" in line.get("adatune", {}) for line in lines)
    assert abs(sum(t["share"] for t in report["tasks"]) - 1.0) < 1e-6
    x = np.random.default_rng(3).standard_normal((1, 3, 16, 16)).astype(np.float32)
    want = numpy_small_cnn(model, x)
    np.testing.assert_allclose(tuned.run(x)[0], want, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(_run_in_plain_tvm(work / "model.so", x, tmp_path), want, rtol=1e-3, atol=1e-4)


def _run_in_plain_tvm(library, x, tmp_path):
    """The exported model run by plain TVM (no adatune) in a fresh interpreter."""
    np.save(tmp_path / "x.npy", x)
    code = textwrap.dedent(f"""
        import sys, numpy as np, tvm
        from tvm import relax
        sys.modules["adatune"] = None  # plain TVM only
        lib = tvm.runtime.load_module({str(library)!r})
        vm = relax.VirtualMachine(lib, tvm.cpu())
        out = vm["main"](tvm.runtime.tensor(np.load({str(tmp_path / "x.npy")!r})))
        out = out[0] if not hasattr(out, "numpy") else out
        np.save({str(tmp_path / "y.npy")!r}, out.numpy())
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    return np.load(tmp_path / "y.npy")


def test_layers_cover_every_kernel_with_its_time_and_flops(cnn_run):
    _, _, work, tuned = cnn_run
    layers = tuned.layers(runs=5)
    assert {r.kernel for r in layers} == set(tuned.kernels) and len(layers) == len(tuned.kernels)
    assert [r.ms for r in layers] == sorted((r.ms for r in layers), reverse=True)
    # This model runs in about 0.1 ms, most of it the VM's per-call overhead, so the
    # kernels' own time is a small and noisy share of it (0.25-0.5 seen): the bounds
    # catch a unit error (a factor of 1,000) or kernels left out, not noise.
    model_ms = tuned.benchmark(repeat=20)
    assert 0.1 * model_ms < sum(r.ms for r in layers) < 3 * model_ms
    for r in layers:
        if r.kind == "template":
            name, args = r.task.split("(")[0], json.loads("[" + r.task.split("(", 1)[1][:-1] + "]")
            flop = adatune.task.create(name, tuple(args), TARGET).flop * r.calls
            # TIR's count adds the epilogue (bias, clamp, ...) to the template's own
            assert flop <= r.flop < 1.5 * flop, (r.kernel, r.flop, flop)
            assert r.gflops == pytest.approx(r.flop / r.ms / 1e6)
    report = json.loads((work / "report.json").read_text())
    assert report["layout"] == "NHWC" and len(report["layers"]) == len(layers)


def test_tuned_model_is_faster_than_untuned(cnn_run):
    _, _, _, tuned = cnn_run
    ms = tuned.benchmark(repeat=30)
    assert tuned.untuned_ms is not None and ms < tuned.untuned_ms / 2, (ms, tuned.untuned_ms)


def test_transformer_block_tunes_and_matches_the_untuned_build(tmp_path):
    model = transformer_block()
    tuned = adatune.tune_model(model, target=TARGET, work_dir=str(tmp_path / "w"), trials=24, seed=1)
    report = tuned.report()
    assert report["verification"]["untuned_relative_error"] < 1e-4
    templates = {t["task"].split("(")[0] for t in report["tasks"] if t["kind"] == "template"}
    assert {"matmul", "batch_matmul"} <= templates
    x = np.random.default_rng(5).standard_normal((1, 32, 64)).astype(np.float32)
    lowered = lower_model(import_model(model).mod, TARGET)
    dev = tvm.cpu()
    want = run_model(tvm.relax.VirtualMachine(compile_model(lowered, TARGET), dev), [x], dev)[0]
    np.testing.assert_allclose(tuned.run(x)[0], want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_run_in_plain_tvm(tmp_path / "w" / "model.so", x, tmp_path), want,
                               rtol=1e-4, atol=1e-5)
    assert tuned.benchmark(repeat=30) < tuned.untuned_ms


def test_metaschedule_tasks_measure_and_confirm_their_bests(tmp_path):
    work = tmp_path / "w"
    tuned = adatune.tune_model(small_cnn(channels=8, size=8), target=TARGET, work_dir=str(work),
                               trials=16, space="metaschedule", seed=0)
    measured = [t for t in tuned.report()["tasks"] if t["kind"] == "metaschedule" and t["trials"]]
    assert measured and all(t["best_ms"] is not None and t["best_ms"] > 0 for t in measured)
    notes = [json.loads(line) for path in work.glob("ms/*/confirmations.jsonl")
             for line in path.read_text().splitlines()]
    assert notes and all(n["confirmed_error"] is None for n in notes)


def test_resume_after_a_kill_measures_nothing_twice(tmp_path):
    path = _save(small_cnn(channels=8, size=12), tmp_path, "cnn.onnx")
    work = tmp_path / "work"
    log = work / "records.log"
    # Template tasks only: every trial is then a line of records.log (MetaSchedule
    # tasks, which measure since their budget overflow was fixed, log to their database).
    cmd = [sys.executable, "-m", "adatune.cli", "tune-model", path, "--work-dir", str(work),
           "--space", "templates", "--no-confirm", "--trials", "20", "--seed", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 6):
            time.sleep(0.5)
            assert proc.poll() is None, "tune-model ended before it could be killed"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    before = log.read_text().splitlines()
    assert 6 <= len(before) < 20
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"{len(before)} resumed" in out.stdout
    lines = log.read_text().splitlines()
    assert lines[:len(before)] == before and len(lines) == 20
    keys = [(json.loads(x)["input"][1], json.dumps(json.loads(x)["input"][2]), json.loads(x)["config"]["index"])
            for x in lines]
    assert len(set(keys)) == len(keys), "a config was measured twice"
    assert json.loads((work / "report.json").read_text())["trials"] == 20
    # a larger budget continues from there
    more = subprocess.run(cmd[:-4] + ["--trials", "26"] + cmd[-2:], capture_output=True, text=True, timeout=600)
    assert more.returncode == 0, more.stderr[-2000:]
    assert "20 resumed" in more.stdout and len(log.read_text().splitlines()) == 26


# ---------------------------------------------------------------------- bad input
def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "adatune.cli", "tune-model", *args],
                          capture_output=True, text=True, timeout=timeout)


def test_bad_input_is_one_line_naming_the_culprit(tmp_path):
    work = str(tmp_path / "w")
    missing = _cli(str(tmp_path / "nope.onnx"), "--work-dir", work, "--trials", "4")
    assert missing.returncode == 1 and "nope.onnx: no such model file" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07this is not protobuf" * 5)
    out = _cli(str(corrupt), "--work-dir", work, "--trials", "4")
    assert out.returncode == 1 and "corrupt.onnx: not a readable ONNX model" in out.stderr
    bad_op = _save(unsupported_op(), tmp_path, "op.onnx")
    out = _cli(bad_op, "--work-dir", work, "--trials", "4")
    assert out.returncode == 1 and "NoSuchOp" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    relu = _save(relu_only(), tmp_path, "relu.onnx")
    out = _cli(relu, "--work-dir", work, "--trials", "4")
    assert out.returncode == 1 and "no tunable kernel" in out.stderr
    cnn = _save(small_cnn(channels=8, size=12), tmp_path, "cnn.onnx")
    out = _cli(cnn, "--work-dir", work, "--trials", "0")
    assert out.returncode == 1 and "--trials must be a positive int" in out.stderr
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    out = _cli(cnn, "--work-dir", str(blocker / "sub"), "--trials", "4")
    assert out.returncode == 1 and "is not writable" in out.stderr and "a-file" in out.stderr
    dyn = _save(relu_only(dynamic=True), tmp_path, "dyn.onnx")
    with pytest.raises(ValueError, match=r"dynamic shape.*--input x:1,8"):
        import_model(dyn)
    assert import_model(dyn, {"x": (2, 8)}).inputs[0].shape == (2, 8)
    with pytest.raises(ValueError, match="name:1,3,224,224"):
        parse_input_spec("x=1,3")
    with pytest.raises(ModelImportError, match="nope.onnx"):
        import_model(str(tmp_path / "nope.onnx"))
    with pytest.raises(NoTunableKernelError):
        adatune.tune_model(relu, target=TARGET, work_dir=work, trials=4)
    with pytest.raises(TypeError, match="model must be"):
        adatune.tune_model(42, work_dir=work, trials=4)
    with pytest.raises(ValueError, match="space"):
        adatune.tune_model(cnn, work_dir=work, trials=4, space="everything")


def test_a_kernel_that_fails_verification_falls_back_and_is_reported():
    """A tuned kernel computing the wrong thing must not ship: the task's kernel keeps
    the default schedule and the report names it."""
    from tvm import te

    from adatune.model.tasks import ModelKernel
    from adatune.model.tune import _build_kernels

    lowered = lower_model(import_model(small_cnn(channels=8, size=12)).mod, TARGET)
    kernels = [ModelKernel(u, match_kernel(u.func)) for u in kernel_uses(lowered)]
    victim = next(k for k in kernels if k.match is not None)

    def wrong(kernel, config=None):  # same signature, output scaled by 2
        shapes = [[int(d) for d in p.shape] for p in kernel.use.func.params]
        ins = [te.placeholder(s, "float32", name=f"a{i}") for i, s in enumerate(shapes[:-1])]
        out = te.compute(shapes[-1], lambda *i: te.const(2.0, "float32") * te.const(0.0, "float32"), name="o")
        return te.create_prim_func([*ins, out])

    class Bad:
        kind, name, trials, weight, best_latency = "template", "bad", 3, 1, 1e-3
        kernels = [victim]
        scheduled = staticmethod(wrong)

    defaults = {k.name: k.use.func for k in kernels}
    reports, scheduled = _build_kernels([Bad()], kernels, defaults, TARGET)
    assert reports[0].fell_back == [victim.name] and scheduled[victim.name] is defaults[victim.name]


def test_tuning_measures_on_an_rpc_server(tmp_path):
    """The template tasks' candidates are timed inside a real RPC server (tracker and
    server on 127.0.0.1); the model is built for the target and verified as usual."""
    from adatune.measure import LocalBuilder, RPCRunner, local_cluster, measure_option

    path = _save(small_cnn(channels=8, size=12), tmp_path, "cnn.onnx")
    with local_cluster(n_servers=1, key="adatune-model-test", timeout=120) as cl:
        runner = RPCRunner(cl.key, cl.host, cl.tracker_port, timeout=30)
        with measure_option(LocalBuilder(n_parallel=2, timeout=30, prepacked=True), runner) as option:
            tuned = adatune.tune_model(path, target=TARGET, work_dir=str(tmp_path / "w"), trials=12,
                                       space="templates", measure_option=option, seed=0)
        served = sum(runner.server_counts.values())
        confirmed = option.stats.confirmed
    report = tuned.report()
    # Every trial, and every confirmation of a new best, was timed on the server.
    assert report["trials"] == 12 and served == 12 + confirmed
    assert report["verification"]["untuned_relative_error"] < 1e-4
    assert {t["kind"] for t in report["tasks"]} <= {"template", "default"}


def test_a_torch_module_is_imported_through_torch_export(tmp_path):
    """torch is optional (not part of the test install): the path runs where it is."""
    torch = pytest.importorskip("torch")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
            self.fc = torch.nn.Linear(8, 4)

        def forward(self, x):
            y = torch.relu(self.conv(x)).mean(dim=(2, 3))
            return self.fc(y)

    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(1, 3, 12, 12)
    tuned = adatune.tune_model(net, inputs=(x,), target=TARGET, work_dir=str(tmp_path / "w"), trials=8, seed=0)
    with torch.no_grad():
        want = net(x).numpy()
    np.testing.assert_allclose(tuned.run(x.numpy())[0], want, rtol=1e-4, atol=1e-5)
    assert any(t["kind"] == "template" for t in tuned.report()["tasks"])
    with pytest.raises(ValueError, match="example inputs"):
        adatune.tune_model(net, target=TARGET, work_dir=str(tmp_path / "w2"), trials=4)

"""The adaptive evaluator on real TVM kernels, in C++ and in Python."""
import json
import math
import os
import re
import shlex
import statistics
import subprocess

import numpy as np
import pytest
import tvm

from _shared_data import in_ci
from adatune.errors import ArgumentError, ArgumentTypeError, PluginError
from adatune.measure import StopPolicy, batch_cv, kernels, time_adaptive
from adatune.measure import _plugin, evaluator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def matmul():
    spec = kernels.suite_by_name()["matmul128_tiled"]
    mod = kernels.compile_kernel(spec)
    dev = tvm.cpu()
    return mod, dev, kernels.make_args(spec, dev)


def test_plugin_loads():
    assert _plugin.load() is not None, _plugin.unavailable_reason()


@pytest.mark.parametrize("impl", ["cpp", "python"])
def test_time_adaptive_measures_and_computes(matmul, impl):
    mod, dev, args = matmul
    res = time_adaptive(mod, dev, *args, impl=impl, min_batch_ms=2.0)
    assert res.ok and res.impl == impl
    assert 3 <= res.batches <= 20 and len(res.costs) == res.batches
    assert res.batches <= res.calls <= res.batches * res.number
    # Batches end up lasting about min_batch_ms, so fast kernels repeat within a batch.
    assert res.number * res.mean >= 0.5e-3
    assert 1e-7 < res.mean < 1.0 and math.isfinite(res.cv)
    assert res.wall_time >= sum(c * res.number for c in res.costs)
    a, b, c = (x.numpy() for x in args)
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("impl", ["cpp", "python"])
def test_reported_numbers_follow_the_policy_exactly(matmul, impl):
    # Deterministic given the measured series: the C++ loop's mean, CV, convergence and
    # stopping batch are what the Python policy computes from the same batch means,
    # to the last bit (the JSON carries 17 significant digits).
    mod, dev, args = matmul
    p = StopPolicy()
    for _ in range(3):
        res = time_adaptive(mod, dev, *args, impl=impl, min_batch_ms=2.0)
        costs = list(res.costs)
        assert res.mean == p.estimate(costs)
        assert res.cv == batch_cv(costs)
        assert res.converged == p.rule_met(costs)
        stops = [p.should_stop(costs[:k]) for k in range(1, len(costs) + 1)]
        assert stops[-1] and not any(stops[:-1]), stops


def test_cpp_and_python_measure_the_same_time():
    # Same kernel, calibration and policy, runs interleaved. A single-threaded kernel and
    # the fastest of five runs each, because other processes on a 2-core machine only
    # ever slow a run down: the two loops then agree to ~1-2 % (the Python loop's call
    # overhead is about a microsecond on this ~25 us kernel); 20 % is the bound.
    spec = kernels.suite_by_name()["matmul64_tiled"]
    mod, dev = kernels.compile_kernel(spec), tvm.cpu()
    args = kernels.make_args(spec, dev)
    cpp, py = [], []
    for _ in range(5):
        cpp.append(time_adaptive(mod, dev, *args, impl="cpp", min_batch_ms=2.0).mean)
        py.append(time_adaptive(mod, dev, *args, impl="python", min_batch_ms=2.0).mean)
    assert 1 / 1.2 < min(cpp) / min(py) < 1.2, (cpp, py)


def test_fixed_number_and_max_batches(matmul):
    mod, dev, args = matmul
    res = time_adaptive(mod, dev, *args, number=2, min_batches=4, max_batches=4,
                        min_converge_coef=1e-12)
    assert res.number == 2 and res.batches == 4 and res.calls == 8
    assert not res.converged


@pytest.mark.parametrize("impl", ["cpp", "python"])
def test_the_policy_is_validated_once_per_measurement(matmul, impl, monkeypatch):
    from adatune.measure import policy

    mod, dev, args = matmul
    calls = []
    real = policy._checked_fields
    monkeypatch.setattr(policy, "_checked_fields", lambda p: calls.append(1) or real(p))
    assert time_adaptive(mod, dev, *args, impl=impl, max_batches=5, regime_k=2.0).ok
    assert len(calls) == 1


def _idle(res):
    """Wall time outside the warm-up and the timed calls: where a cool-down shows."""
    return res.wall_time - res.warmup_time - sum(c * res.number for c in res.costs)


@pytest.mark.parametrize("impl", ["cpp", "python"])
def test_cooldown_shows_in_wall_time_per_batch(matmul, impl):
    mod, dev, args = matmul
    cool = 20.0  # ms, between batches (not before the first)
    idle = {}
    for batches in (3, 7):
        res = time_adaptive(mod, dev, *args, impl=impl, number=2, min_batches=batches,
                            max_batches=batches, cooldown_ms=cool)
        assert res.ok and res.batches == batches
        idle[batches] = _idle(res)
        assert idle[batches] >= 0.95 * (batches - 1) * cool * 1e-3, idle
    # Four more batches, four more cool-downs (sleep overshoot allowed for).
    assert 0.9 * 4 * cool * 1e-3 <= idle[7] - idle[3] <= (4 * cool + 40) * 1e-3, idle
    none = time_adaptive(mod, dev, *args, impl=impl, number=2, min_batches=7, max_batches=7)
    assert _idle(none) < 0.25 * 6 * cool * 1e-3, _idle(none)


@pytest.fixture(scope="module")
def ewise():
    # 3 x 4 MB, memory-bound: flushing its two 4 MB arguments is real work (~0.2 ms).
    spec = kernels.suite_by_name()["ewise_1m"]
    mod = kernels.compile_kernel(spec)
    dev = tvm.cpu()
    return mod, dev, kernels.make_args(spec, dev)


@pytest.mark.parametrize("impl", ["cpp", "python"])
def test_cache_flush_happens_before_every_timed_call(ewise, impl):
    mod, dev, args = ewise
    fixed = dict(number=5, min_batches=6, max_batches=6)
    res = time_adaptive(mod, dev, *args, impl=impl, flush_cache=True, **fixed)
    assert res.ok and res.calls == 30 and res.cache_flushes == 30
    plain = [time_adaptive(mod, dev, *args, impl=impl, **fixed) for _ in range(3)]
    assert [r.cache_flushes for r in plain] == [0, 0, 0]
    # The flushes are work done outside the timed calls: 30 flushes of 8 MB take
    # ~6 ms here; at least 1.5 ms more than the quietest run without them.
    assert _idle(res) - min(_idle(r) for r in plain) >= 1.5e-3, (_idle(res), plain)
    # With an automatic batch size the (one to three) calibration calls are flushed too.
    auto = time_adaptive(mod, dev, *args, impl=impl, flush_cache=True, max_batches=4)
    assert auto.calls + 1 <= auto.cache_flushes <= auto.calls + 3


def test_wall_budget_stops_early(matmul):
    mod, dev, args = matmul
    res = time_adaptive(mod, dev, *args, number=50, min_converge_coef=1e-12,
                        max_batches=1000, max_wall_ms=1.0)
    assert res.budget_exhausted and res.batches < 1000


def _ids(cases):
    return [",".join(f"{k}={v!r}" for k, v in kwargs.items()) for kwargs, _, _ in cases]


_BAD_OPTIONS = [
    ({"min_converge_coef": 0.0}, "min_converge_coef", ArgumentError),
    ({"min_converge_coef": float("nan")}, "min_converge_coef", ArgumentError),
    ({"min_batches": 0}, "min_batches", ArgumentError),
    ({"min_batches": 5, "max_batches": 3}, "max_batches", ArgumentError),
    ({"min_batch_ms": -1.0}, "min_batch_ms", ArgumentError),
    ({"min_batch_ms": float("nan")}, "min_batch_ms", ArgumentError),
    ({"min_batch_ms": 1e300}, "min_batch_ms", ArgumentError),
    ({"cooldown_ms": -2.0}, "cooldown_ms", ArgumentError),
    ({"cooldown_ms": float("inf")}, "cooldown_ms", ArgumentError),
    ({"max_wall_ms": float("nan")}, "max_wall_ms", ArgumentError),
    ({"number": 0}, "number", ArgumentError),
    ({"number": 10 ** 13}, "number", ArgumentError),
    ({"impl": "fortran"}, "impl", ArgumentError),
    ({"bogus": 1}, "unknown policy parameter.*bogus", ArgumentError),
    ({"number": 2.5}, "number", ArgumentTypeError),
    ({"min_batch_ms": "1"}, "min_batch_ms", ArgumentTypeError),
    ({"min_batches": 2.5}, "min_batches", ArgumentTypeError),
    ({"robust_estimate": 1}, "robust_estimate", ArgumentTypeError),
]


@pytest.mark.parametrize("kwargs, name, error", _BAD_OPTIONS, ids=_ids(_BAD_OPTIONS))
def test_bad_parameters_name_the_parameter(matmul, kwargs, name, error):
    mod, dev, args = matmul
    with pytest.raises(error, match=name):
        time_adaptive(mod, dev, *args, **kwargs)


def _raw(mod, *, func_name="main", device_type=1, device_id=0, number=0, min_batch_ms=1.0,
         cooldown_ms=0.0, flush_cache=False, max_wall_ms=0.0, policy="", args=()):
    """adatune.time_adaptive called directly, as an RPC client or another binding would."""
    fn = _plugin.get_function("adatune.time_adaptive")
    assert fn is not None, _plugin.unavailable_reason()
    return fn(mod, func_name, device_type, device_id, number, min_batch_ms, cooldown_ms,
              flush_cache, max_wall_ms, policy, *args)


_BAD_RAW = [
    ({"min_batch_ms": 1e300}, r"min_batch_ms must be in \(0, 3\.6e\+06\]", ArgumentError),
    ({"min_batch_ms": float("inf")}, "min_batch_ms must be a finite number", ArgumentError),
    ({"min_batch_ms": float("nan")}, "min_batch_ms must be a finite number", ArgumentError),
    ({"min_batch_ms": 0.0}, "min_batch_ms must be in", ArgumentError),
    ({"cooldown_ms": float("inf")}, "cooldown_ms must be a finite number", ArgumentError),
    ({"cooldown_ms": 1e300}, "cooldown_ms must be in", ArgumentError),
    ({"cooldown_ms": -1.0}, "cooldown_ms must be in", ArgumentError),
    ({"max_wall_ms": -1.0}, "max_wall_ms must be >= 0", ArgumentError),
    ({"max_wall_ms": float("inf")}, "max_wall_ms must be a finite number", ArgumentError),
    ({"number": -1}, "number must be in", ArgumentError),
    ({"number": 10 ** 13}, "number must be in", ArgumentError),
    ({"device_type": 2 ** 40}, "device_type must fit in int32", ArgumentError),
    ({"policy": "bogus=1"}, "policy: unknown policy parameter 'bogus'", ArgumentError),
    ({"policy": "min_batches=0"}, "policy: min_batches must be a positive int", ArgumentError),
    ({"policy": "min_batches"}, "policy: malformed item", ArgumentError),
    ({"func_name": "nope"}, "the module has no function 'nope'", ArgumentError),
    ({"number": 2.5}, r"number \(argument 4\) must be an int, got 2.5", ArgumentTypeError),
    ({"flush_cache": 1}, r"flush_cache \(argument 7\) must be a bool", ArgumentTypeError),
    ({"min_batch_ms": True}, "min_batch_ms .* must be a number, got True", ArgumentTypeError),
    ({"func_name": 3}, r"func_name \(argument 1\) must be a str", ArgumentTypeError),
    ({"policy": 3}, r"policy \(argument 9\) must be a str", ArgumentTypeError),
]


@pytest.mark.parametrize("kwargs, message, error", _BAD_RAW, ids=_ids(_BAD_RAW))
def test_plugin_refuses_bad_arguments_by_name(matmul, kwargs, message, error):
    mod, dev, args = matmul
    with pytest.raises(error, match=f"adatune.time_adaptive: {message}") as info:
        _raw(mod, args=args, **kwargs)
    assert type(info.value) is error


def test_plugin_checks_its_argument_count(matmul):
    mod, dev, args = matmul
    fn = _plugin.get_function("adatune.time_adaptive")
    with pytest.raises(ArgumentTypeError, match="expects at least 10 arguments.*got 0"):
        fn()
    with pytest.raises(ArgumentTypeError, match="expects at least 10 arguments.*got 3"):
        fn(mod, "main", 1)
    with pytest.raises(ArgumentTypeError, match=r"mod \(argument 0\) must be a runtime module"):
        fn("not a module", "main", 1, 0, 0, 1.0, 0.0, False, 0.0, "")


def test_a_failing_kernel_is_a_result_and_a_refused_call_raises(matmul):
    mod, dev, args = matmul
    # The kernel fails: the plugin answers with the error in the result, no exception.
    wrong = [tvm.runtime.tensor(np.zeros((3, 3), "float32"), dev)] + list(args[1:])
    out = json.loads(bytes(_raw(mod, args=wrong)).decode())
    assert out["error"] and "mismatch" in out["error"].lower(), out
    assert out["batch_means"] == [] and out["mean"] is None
    ok = json.loads(bytes(_raw(mod, args=args)).decode())
    assert ok["error"] is None and ok["batch_means"] and ok["mean"] > 0
    # The call is refused (as with a Python side and a plugin that disagree on what is
    # valid): an exception naming the argument, not one more "failed kernel".
    cpp = _plugin.get_function("adatune.time_adaptive")
    bad = dict(number=0, min_batch_ms=-1.0, cooldown_ms=0.0, flush_cache=False,
               max_wall_ms=0.0)
    with pytest.raises(ArgumentError, match="min_batch_ms"):
        evaluator._run_cpp(cpp, mod, dev, "main", args, StopPolicy(), bad, "cpp")


def test_plugin_registers_what_the_docs_list():
    # docs/evaluator.md lists the plugin's global functions; nothing else is registered.
    import tvm_ffi

    assert _plugin.load() is not None, _plugin.unavailable_reason()
    with open(os.path.join(ROOT, "docs", "evaluator.md")) as f:
        documented = set(re.findall(r"^\| `(adatune\.\w+)\(", f.read(), re.M))
    registered = {n for n in tvm_ffi.registry.list_global_func_names()
                  if n.startswith("adatune.")}
    assert registered == documented == {"adatune.time_adaptive", "adatune.should_stop",
                                        "adatune.estimate", "adatune.process_info"}


def test_plugin_sources_compile_warning_free_with_the_cmake_flags():
    # The flags come from CMake (build/cmake/compile_commands.json, written by every
    # build): warnings on, and no floating-point contraction (in CMake, not a pragma).
    path = os.path.join(ROOT, "build", "cmake", "compile_commands.json")
    if not os.path.exists(path):
        msg = f"{path} missing: the plugin was not built from this checkout"
        if in_ci():  # CI builds it with `make install`
            pytest.fail(msg)
        pytest.skip(msg)
    with open(path) as f:
        commands = json.load(f)
    sources = sorted(os.path.basename(c["file"]) for c in commands)
    assert sources == sorted(f for f in os.listdir(os.path.join(ROOT, "src"))
                             if f.endswith(".cc"))
    # pip builds in an isolated environment that is gone afterwards: its include
    # directories are this environment's tvm_ffi headers (the same pinned wheel).
    import tvm_ffi

    here = os.path.join(os.path.dirname(tvm_ffi.__file__), "include")
    for c in commands:
        argv = [here if os.path.sep + "tvm_ffi" + os.path.sep in a and not os.path.isdir(a) else a
                for a in shlex.split(c["command"])]
        for flag in ("-Wall", "-Wextra", "-ffp-contract=off"):
            assert flag in argv, (c["file"], flag)
        # Syntax and semantic checks only, no code generation: a few seconds in all.
        out_at = argv.index("-o")
        argv = argv[:out_at] + argv[out_at + 2:] + ["-fsyntax-only"]
        proc = subprocess.run(argv, cwd=c["directory"], capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr
        with open(c["file"]) as f:
            assert not re.search(r"#pragma .*(fp.contract|optimize)", f.read()), c["file"]


def test_unknown_function_is_a_clear_error(matmul):
    mod, dev, args = matmul
    with pytest.raises(ArgumentError, match="no function 'nope'"):
        time_adaptive(mod, dev, *args, func_name="nope")


def test_argument_on_wrong_device_is_a_clear_error(matmul):
    mod, dev, args = matmul
    other = tvm.device("cpu", 1)
    moved = [tvm.runtime.tensor(args[0].numpy(), other)] + list(args[1:])
    with pytest.raises(ArgumentError, match="argument 0"):
        time_adaptive(mod, dev, *moved)


@pytest.mark.parametrize("impl", ["cpp", "python"])
def test_kernel_that_raises_gives_an_error_result(matmul, impl):
    mod, dev, args = matmul
    wrong = [tvm.runtime.tensor(np.zeros((3, 3), "float32"), dev)] + list(args[1:])
    res = time_adaptive(mod, dev, *wrong, impl=impl)
    assert not res.ok and math.isnan(res.mean)
    assert "shape" in res.error.lower() or "mismatch" in res.error.lower(), res.error
    # The process survives and keeps measuring.
    assert time_adaptive(mod, dev, *args, impl=impl).ok


def test_executable_from_tvm_compile_is_accepted():
    spec = kernels.suite_by_name()["ewise_4k"]
    exe = tvm.compile(spec.build(), target=tvm.target.Target({"kind": "llvm", "num-cores": 2}))
    dev = tvm.cpu()
    res = time_adaptive(exe, dev, *kernels.make_args(spec, dev))
    assert res.ok and res.number > 1  # a microsecond kernel gets many calls per batch


def test_broken_plugin_falls_back_to_python_with_one_warning(tmp_path):
    import subprocess
    import sys

    bogus = tmp_path / "libadatune_runtime.so"
    bogus.write_text("not a shared library")
    script = (
        "import tvm, adatune\n"
        "from adatune.measure import kernels, time_adaptive\n"
        "spec = kernels.suite_by_name()['ewise_4k']\n"
        "mod = kernels.compile_kernel(spec); dev = tvm.cpu()\n"
        "args = kernels.make_args(spec, dev)\n"
        "print('IMPL', time_adaptive(mod, dev, *args).impl, time_adaptive(mod, dev, *args).impl)\n"
        "try:\n"
        "    time_adaptive(mod, dev, *args, impl='cpp')\n"
        "except adatune.errors.PluginError as err:\n"
        "    print('REFUSED', type(err).__name__, err)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**__import__("os").environ, "ADATUNE_LIBRARY_PATH": str(bogus)},
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "IMPL python python" in out.stdout
    assert "REFUSED PluginError impl='cpp' but the plugin is unavailable" in out.stdout
    assert out.stderr.count("C++ evaluator unavailable") == 1
    assert str(bogus) in out.stderr


def test_libinfo_names_every_place_searched(monkeypatch, tmp_path):
    from adatune import libinfo

    monkeypatch.setenv(libinfo.ENV_VAR, str(tmp_path))
    paths = libinfo.candidate_paths()
    assert paths[0] == str(tmp_path / libinfo.LIB_NAME)
    assert libinfo.find_lib_path() != paths[0]  # falls through to the installed one
    monkeypatch.setattr(libinfo, "candidate_paths", lambda: [str(tmp_path / "none.so")])
    with pytest.raises(FileNotFoundError, match="none.so"):
        libinfo.find_lib_path()
    assert libinfo.find_lib_path(optional=True) is None

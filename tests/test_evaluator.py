"""The adaptive evaluator on real TVM kernels, in C++ and in Python."""
import math

import numpy as np
import pytest
import tvm

from adatune.measure import kernels, time_adaptive
from adatune.measure import _plugin


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


def test_cpp_and_python_agree_on_the_mean(matmul):
    mod, dev, args = matmul
    cpp = [time_adaptive(mod, dev, *args, impl="cpp").mean for _ in range(3)]
    py = [time_adaptive(mod, dev, *args, impl="python").mean for _ in range(3)]
    # Same kernel, same policy: medians within a factor that tolerates a noisy machine.
    assert 0.5 < np.median(cpp) / np.median(py) < 2.0


def test_fixed_number_and_max_batches(matmul):
    mod, dev, args = matmul
    res = time_adaptive(mod, dev, *args, number=2, min_batches=4, max_batches=4,
                        min_converge_coef=1e-12)
    assert res.number == 2 and res.batches == 4 and res.calls == 8
    assert not res.converged


def test_cache_flush_and_cooldown(matmul):
    mod, dev, args = matmul
    res = time_adaptive(mod, dev, *args, flush_cache=True, cooldown_ms=1.0, max_batches=4)
    assert res.ok and res.batches >= 3


def test_wall_budget_stops_early(matmul):
    mod, dev, args = matmul
    res = time_adaptive(mod, dev, *args, number=50, min_converge_coef=1e-12,
                        max_batches=1000, max_wall_ms=1.0)
    assert res.budget_exhausted and res.batches < 1000


@pytest.mark.parametrize("kwargs, name", [
    ({"min_converge_coef": 0.0}, "min_converge_coef"),
    ({"min_converge_coef": float("nan")}, "min_converge_coef"),
    ({"min_batches": 0}, "min_batches"),
    ({"min_batches": 5, "max_batches": 3}, "max_batches"),
    ({"min_batch_ms": -1.0}, "min_batch_ms"),
    ({"min_batch_ms": float("nan")}, "min_batch_ms"),
    ({"cooldown_ms": -2.0}, "cooldown_ms"),
    ({"number": 0}, "number"),
    ({"impl": "fortran"}, "impl"),
])
def test_bad_parameters_name_the_parameter(matmul, kwargs, name):
    mod, dev, args = matmul
    with pytest.raises(ValueError, match=name):
        time_adaptive(mod, dev, *args, **kwargs)


def test_unknown_function_is_a_clear_error(matmul):
    mod, dev, args = matmul
    with pytest.raises(ValueError, match="no function 'nope'"):
        time_adaptive(mod, dev, *args, func_name="nope")


def test_argument_on_wrong_device_is_a_clear_error(matmul):
    mod, dev, args = matmul
    other = tvm.device("cpu", 1)
    moved = [tvm.runtime.tensor(args[0].numpy(), other)] + list(args[1:])
    with pytest.raises(ValueError, match="argument 0"):
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
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**__import__("os").environ, "ADATUNE_LIBRARY_PATH": str(bogus)},
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "IMPL python python" in out.stdout
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

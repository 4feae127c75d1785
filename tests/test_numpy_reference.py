"""The numpy/OpenBLAS reference child: clean environment, honest kernel, no hangs."""
from __future__ import annotations

import os
import signal
import statistics
import time

import pytest

from adatune.errors import ArgumentError
from adatune.measure import NumpyReference, NumpyReferenceError, alternate
from adatune.measure.numpy_reference import HANDICAP_VARIABLES

#: The handicap as this machine sets it (empty where it sets none).
MACHINE_HANDICAP = {k: os.environ[k] for k in HANDICAP_VARIABLES if k in os.environ}


def _has_avx512() -> bool:
    try:
        with open("/proc/cpuinfo") as fh:
            return any(line.startswith("flags") and " avx512f" in line for line in fh)
    except OSError:
        return False


def _needs_machine_handicap():
    if os.environ.get("OPENBLAS_CORETYPE") != "Haswell":
        pytest.skip("OPENBLAS_CORETYPE=Haswell is not set here, so there is no handicap to remove")
    if not _has_avx512():
        pytest.skip("the CPU has no AVX-512 (no avx512f in /proc/cpuinfo): Haswell kernels "
                    "are what OpenBLAS would pick anyway")


def test_child_runs_without_the_handicap_variables(monkeypatch):
    # Set them if the machine does not, so the removal is checked everywhere.
    for name, value in (("OPENBLAS_CORETYPE", "Haswell"), ("OPENBLAS_L2_SIZE", "512")):
        monkeypatch.setenv(name, os.environ.get(name, value))
    with NumpyReference() as ref:
        info = ref.info
    assert info["handicap_env"] == {}, "the child still sees the OpenBLAS overrides"
    assert info["removed"] == list(HANDICAP_VARIABLES)
    assert "OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE removed" in ref.describe()


def test_child_runs_the_unhandicapped_kernel():
    _needs_machine_handicap()
    with NumpyReference() as ref:
        info = ref.info
        line = ref.describe()
    assert info["blas"] is not None and info["blas"]["internal_api"] == "openblas", info
    assert info["kernel"] != "Haswell", f"the child still runs the forced Haswell kernels: {line}"
    assert f"kernel {info['kernel']}" in line


def test_keeping_the_variables_keeps_the_handicap():
    # The control for the test above: the same child with remove=() sees the machine's kernel.
    _needs_machine_handicap()
    with NumpyReference(remove=()) as ref:
        assert ref.info["kernel"] == "Haswell"
        assert ref.info["handicap_env"] == MACHINE_HANDICAP
        assert "OPENBLAS_CORETYPE=Haswell" in ref.describe()


def test_time_matmul_is_plausible_and_beats_the_handicap():
    _needs_machine_handicap()
    n = 512
    flop = 2.0 * n ** 3
    # One thread each: a two-thread OpenBLAS stalls badly when another job takes a core
    # of this 2-core machine, one thread does not; the kernel gap is the same.
    with NumpyReference(threads=1) as honest, NumpyReference(threads=1, remove=()) as handicapped:
        ours, theirs = alternate(3, lambda: honest.time_matmul(n, n, n),
                                 lambda: handicapped.time_matmul(n, n, n), settle=0.05)
    for s in ours + theirs:
        assert 1e-6 < s < 1.0, s  # 512^3 takes ~1 ms at 200 GFLOPS, ~0.1 s at 2 GFLOPS
    ours_gflops = flop / statistics.median(ours) / 1e9
    theirs_gflops = flop / statistics.median(theirs) / 1e9
    assert ours_gflops > 1.2 * theirs_gflops, (ours_gflops, theirs_gflops)


def test_time_matmul_shapes_and_checks():
    with NumpyReference(threads=1) as ref:
        a = ref.time_matmul(64, 32, 16, min_seconds=0.01)
        b = ref.time_matmul(64, 32, 16, transpose_b=False, min_seconds=0.0)
        assert a > 0 and b > 0
        with pytest.raises(ArgumentError, match="m"):
            ref.time_matmul(0, 32, 16)
        with pytest.raises(ArgumentError, match="min_seconds"):
            ref.time_matmul(8, 8, 8, min_seconds=-1)


@pytest.mark.timeout(60)  # a regression here would hang; fail it instead
def test_killed_child_gives_a_clear_error():
    ref = NumpyReference(threads=1)
    try:
        pid = ref.pid
        os.kill(pid, signal.SIGKILL)
        t0 = time.monotonic()
        with pytest.raises(NumpyReferenceError, match=rf"numpy reference child \(pid {pid}\)"):
            ref.time_matmul(32, 32, 32, min_seconds=0.01)
        assert time.monotonic() - t0 < 10
        with pytest.raises(NumpyReferenceError, match="closed"):
            ref.time_matmul(32, 32, 32)
    finally:
        ref.close()


@pytest.mark.timeout(60)
def test_hung_child_gives_a_clear_error_not_a_hang():
    ref = NumpyReference(threads=1, timeout=1.0)
    try:
        pid = ref.pid
        os.kill(pid, signal.SIGSTOP)  # alive but never answers
        t0 = time.monotonic()
        with pytest.raises(NumpyReferenceError,
                           match=rf"numpy reference child \(pid {pid}\) did not reply"):
            ref.time_matmul(32, 32, 32, min_seconds=0.01)
        assert time.monotonic() - t0 < 10
        with pytest.raises(ProcessLookupError):  # killed (and reaped), not left stopped
            os.kill(pid, 0)
    finally:
        ref.close()


def test_parent_environment_is_untouched(monkeypatch):
    for name, value in (("OPENBLAS_CORETYPE", "Haswell"), ("OPENBLAS_L2_SIZE", "512")):
        monkeypatch.setenv(name, os.environ.get(name, value))
    before = dict(os.environ)
    with NumpyReference(threads=1) as ref:
        ref.time_matmul(16, 16, 16, min_seconds=0.0)
    assert dict(os.environ) == before


def test_without_threadpoolctl_the_kernel_is_unknown(tmp_path, monkeypatch):
    # A shadowing module first on the child's path makes ``import threadpoolctl`` fail there.
    (tmp_path / "threadpoolctl.py").write_text("raise ImportError('hidden for the test')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with NumpyReference(threads=1) as ref:
        assert ref.info["kernel"] == "unknown (threadpoolctl not installed)"
        assert "kernel unknown (threadpoolctl not installed)" in ref.describe()
        assert ref.time_matmul(16, 16, 16, min_seconds=0.0) > 0


def test_alternate_interleaves_rounds():
    calls = []

    def timer(name, value):
        return lambda: calls.append(name) or value

    samples = alternate(3, timer("a", 1.0), timer("b", 2.0))
    assert calls == ["a", "b"] * 3
    assert samples == [[1.0] * 3, [2.0] * 3]
    with pytest.raises(ArgumentError, match="rounds"):
        alternate(0, timer("a", 1.0))

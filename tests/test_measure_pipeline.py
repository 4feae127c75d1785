"""Builder + runner + measure_option on real templates, failures included."""
import dataclasses

import pytest

import adatune.task
from adatune.measure import (LocalBuilder, LocalRunner, MeasureErrorNo, MeasureInput,
                             measure_option)
from adatune.errors import ArgumentError, ArgumentTypeError
from adatune.measure.builder import BuildResult


@pytest.fixture(scope="module")
def task():
    return adatune.task.create("dense", (64, 64, 64, "float32"), "llvm")


@pytest.fixture(scope="module")
def builder():
    b = LocalBuilder(n_parallel=2, timeout=30)
    yield b
    b.close()


def _inputs(task, n, seed=0):
    return [MeasureInput(task.target, task, task.config_space.get(i))
            for i in task.config_space.sample(n, rng=seed)]


@pytest.mark.parametrize("adaptive", [True, False])
def test_measure_batch_builds_checks_and_times(task, builder, adaptive):
    runner = LocalRunner(enable_adaptive_evaluator=adaptive, check_correctness=True,
                         timeout=20, number=2, repeat=2)
    option = measure_option(builder, runner)
    try:
        results = option.measure_batch(_inputs(task, 4))
    finally:
        runner.close()
    assert [r.error_no for r in results] == [0] * 4, [r.costs for r in results]
    for r in results:
        assert all(0 < c < 1 for c in r.costs) and r.all_cost > 0
        assert len(r.costs) == (1 if adaptive else 2)
    assert option.stats.measured == 4 and option.stats.build_seconds > 0


def test_build_timeout_is_a_failed_result_not_a_lost_batch(task):
    b = LocalBuilder(n_parallel=1, timeout=30)
    try:
        assert b.build(_inputs(task, 1))[0].ok  # warm the worker up
        b.timeout = 1e-3  # the warm worker gets 1 ms for the next candidate
        results = b.build(_inputs(task, 1, seed=1))
        assert [r.error_no for r in results] == [MeasureErrorNo.BUILD_TIMEOUT]
        b.timeout = 30
        assert all(r.ok for r in b.build(_inputs(task, 2, seed=2)))  # pool recovered
    finally:
        b.close()


def test_runner_failures_keep_their_error_codes(task, builder):
    inputs = _inputs(task, 3, seed=3)
    built = builder.build(inputs)
    broken = BuildResult("/nonexistent/candidate.so", 0, "", 0.1)
    failed = BuildResult(None, int(MeasureErrorNo.COMPILE_HOST), "boom", 0.1)
    runner = LocalRunner(enable_adaptive_evaluator=False, number=1, repeat=1,
                         min_repeat_ms=60_000, timeout=2)
    try:
        results = runner.run(inputs, [broken, failed, built[2]])
    finally:
        runner.close()
    assert results[0].error_no == MeasureErrorNo.RUNTIME_DEVICE
    assert results[1].error_no == MeasureErrorNo.COMPILE_HOST and results[1].costs == ("boom",)
    # A measurement asking for a minute of repeats overruns the 2 s timeout.
    assert results[2].error_no == MeasureErrorNo.RUN_TIMEOUT


@pytest.mark.parametrize("kwargs, name, error", [
    ({"number": 0}, "number", ArgumentError), ({"timeout": 0}, "timeout", ArgumentError),
    ({"min_converge_coef": float("nan")}, "min_converge_coef", ArgumentError),
    ({"cooldown_interval": -1}, "cooldown_interval", ArgumentError),
    ({"cooldown_interval": 1e9}, "cooldown_interval", ArgumentError),
    ({"min_batch_ms": 1e300}, "min_batch_ms", ArgumentError),
    # min_batches is 3: a cap of 2 is refused when the runner is made, not per candidate.
    ({"max_batches": 2}, "min_batches .* max_batches", ArgumentError),
    ({"number": 1.5}, "number", ArgumentTypeError), ({"repeat": "3"}, "repeat", ArgumentTypeError),
    ({"max_batches": 2.0}, "max_batches", ArgumentTypeError),
    ({"timeout": None}, "timeout", ArgumentTypeError),
])
def test_runner_rejects_bad_options(kwargs, name, error):
    with pytest.raises(error, match=f"LocalRunner: {name}|{name}"):
        LocalRunner(**kwargs)


def test_builder_rejects_bad_options():
    with pytest.raises(ArgumentError, match="LocalBuilder: n_parallel"):
        LocalBuilder(n_parallel=0)
    with pytest.raises(ArgumentTypeError, match="LocalBuilder: n_parallel"):
        LocalBuilder(n_parallel=2.5)
    with pytest.raises(ArgumentError, match="LocalBuilder: timeout"):
        LocalBuilder(timeout=-1)


def test_a_refused_measurement_raises_instead_of_failing_every_candidate(task, builder):
    # A timing argument the evaluator refuses (here one the runner's own check was
    # bypassed for) would refuse every candidate alike: the run stops with the reason
    # instead of reporting each candidate as a failed kernel (error 4).
    inputs = _inputs(task, 2, seed=4)
    built = builder.build(inputs)
    runner = LocalRunner(timeout=20)
    runner.options = dataclasses.replace(runner.options, min_batch_ms=-1.0)
    try:
        with pytest.raises(ArgumentError, match="min_batch_ms"):
            runner.run(inputs, built)
        # A kernel that fails is still a result, and the runner keeps going.
        runner.options = dataclasses.replace(runner.options, min_batch_ms=5.0)
        broken = BuildResult(built[0].filename, 0, "", 0.1)
        results = runner.run(inputs[::-1], [broken, built[1]])
    finally:
        runner.close()
    assert [r.error_no for r in results] == [0, 0]


def test_user_template_is_built_in_workers_and_a_crashing_build_fails_alone():
    import user_template_mod  # noqa: F401  (registers user_mod_scale / user_mod_crash here)

    good = adatune.task.create("user_mod_scale", (256,), "llvm")
    bad = adatune.task.create("user_mod_crash", (256,), "llvm")
    inputs = [MeasureInput(good.target, good, good.config_space.get(i)) for i in range(3)]
    inputs.insert(1, MeasureInput(bad.target, bad, bad.config_space.get(1)))
    runner = LocalRunner(check_correctness=True, timeout=20)
    builder = LocalBuilder(n_parallel=2, timeout=30)
    try:
        results = measure_option(builder, runner).measure_batch(inputs)
    finally:
        runner.close()
        builder.close()
    assert [r.error_no for r in results] == [0, MeasureErrorNo.COMPILE_HOST, 0, 0]
    assert "died" in results[1].costs[0]


def test_prepacked_builds_time_the_compute_with_packed_weights():
    """With ``prepacked=True`` a candidate is built as a model deploys it: the copy that
    packs the weight is split off, the kernel takes the weight packed, and the runner
    times it with inputs of those shapes. The standalone build packs on every call."""
    task = adatune.task.create("dense", (64, 128, 96, "float32"), "llvm")
    inputs = _inputs(task, 3, seed=2)
    plain_b, packed_b = LocalBuilder(n_parallel=2, timeout=30), LocalBuilder(n_parallel=2, timeout=30, prepacked=True)
    runner = LocalRunner(timeout=30)
    try:
        plain, packed = plain_b.build(inputs), packed_b.build(inputs)
        results = runner.run(inputs, packed)
    finally:
        for x in (plain_b, packed_b, runner):
            x.close()
    assert all(b.ok for b in plain + packed)
    assert all(b.arg_specs is None for b in plain)
    for inp, b in zip(inputs, packed):
        bn = inp.config["tile_x"].size[-1]
        assert b.arg_specs == (((64, 96), "float32"), ((128 // bn, 96, bn), "float32"), ((64, 128), "float32"))
    assert [r.error_no for r in results] == [0, 0, 0] and all(r.costs[0] > 0 for r in results)

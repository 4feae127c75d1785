"""``adatune.tune_tasks``: its argument checks (the runs are in test_cli_tune and test_farm)."""
import pytest

import adatune
from adatune.errors import ArgumentError, ArgumentTypeError
from adatune.measure import LocalBuilder, LocalRunner, measure_option
from adatune.tuner import progress_bar


@pytest.fixture(scope="module")
def tasks():
    return [adatune.task.create("dense", (16, 16, 16)), adatune.task.create("dense", (16, 32, 16))]


@pytest.fixture(scope="module")
def option():
    return measure_option(LocalBuilder(n_parallel=1), LocalRunner())


@pytest.mark.parametrize("make, kwargs, error, message", [
    (lambda t: [], {}, ArgumentError, "tasks is empty"),
    (lambda t: t[0], {}, ArgumentTypeError, "use adatune.tune for one"),
    (lambda t: [t[0], "dense"], {}, ArgumentTypeError, r"tasks\[1\] is not an adatune Task"),
    (lambda t: [t[0], t[1], t[0]], {}, ArgumentError, r"tasks\[2\] repeats tasks\[0\]"),
    (lambda t: t, {"n_trial": 0}, ArgumentError, "n_trial"),
    (lambda t: t, {"weights": [1.0]}, ArgumentError, "1 weights for 2 tasks"),
    (lambda t: t, {"weights": [1.0, -1.0]}, ArgumentError, r"weights\[1\]"),
    (lambda t: t, {"callbacks": [progress_bar(10)]}, ArgumentError, "plain callable"),
    (lambda t: t, {"tuner": "magic"}, ArgumentError, "unknown tuner 'magic'"),
])
def test_bad_arguments_are_named(tasks, option, make, kwargs, error, message):
    with pytest.raises(error, match=message):
        adatune.tune_tasks(make(tasks), **{"measure_option": option, **kwargs})


def test_measure_option_is_required(tasks):
    with pytest.raises(ArgumentError, match="measure_option is required"):
        adatune.tune_tasks(tasks, n_trial=4)

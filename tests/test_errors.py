"""One error hierarchy: whatever adatune rejects on purpose is an ``AdatuneError`` and
the built-in a caller expects, and names the argument."""
import pathlib
import re

import pytest

from adatune.errors import AdatuneError, ArgumentError, ArgumentTypeError

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "python" / "adatune"


def test_no_module_outside_the_cli_raises_a_bare_value_or_type_error():
    """A bare ``raise ValueError(...)`` escapes ``except AdatuneError``: the checks of
    ``_checks`` or ``ArgumentError``/``ArgumentTypeError`` are what the package raises."""
    bare = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] == "cli":
            continue
        for no, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\braise (ValueError|TypeError)\b", line):
                bare.append(f"{path.relative_to(PACKAGE)}:{no}: {line.strip()}")
    assert not bare, "\n".join(bare)


def _replay_runner(**kw):
    from adatune.measure.replay import ReplayRunner, ReplaySpace

    return ReplayRunner.__init__(object.__new__(ReplayRunner), object.__new__(ReplaySpace), **kw)


def _space_get(index):
    from adatune.space import ConfigSpace

    cfg = ConfigSpace()
    cfg.define_split("t", 16, num_outputs=2)
    return cfg.get(index)


def _split(**kw):
    from adatune.space import SplitKnob

    return SplitKnob("t", 16, **kw)


def _local_runner(**kw):
    from adatune.metaschedule import adaptive_local_runner

    return adaptive_local_runner(**kw)


def _create_task(args):
    from adatune.task import create

    return create("dense", args)


def _create_tuner(name):
    from adatune.task import create
    from adatune.tuner import create_tuner

    return create_tuner(name, create("dense", (16, 16, 16)))


@pytest.mark.parametrize("call, kind, message", [
    (lambda: _replay_runner(repeats=0), ArgumentError, "ReplayRunner: repeats must be a positive int, got 0"),
    (lambda: _replay_runner(n_parallel=2.0), ArgumentTypeError, "ReplayRunner: n_parallel must be an int"),
    (lambda: _space_get(1.5), ArgumentTypeError, "config index must be an int, got 1.5"),
    (lambda: _space_get(99), ArgumentError, r"config index must be an int in \[0, "),
    (lambda: _split(policy="odd"), ArgumentError, r"define_split\('t'\): policy must be one of"),
    (lambda: _split(max_factor=0), ArgumentError, r"define_split\('t'\): max_factor must be a positive int"),
    (lambda: _local_runner(timeout_sec=0), ArgumentError, "adaptive_local_runner: timeout_sec must be > 0"),
    (lambda: _create_task("16,16,16"), ArgumentTypeError, "args must be a list or tuple"),
    (lambda: _create_tuner("nope"), ArgumentError, "unknown tuner 'nope'"),
])
def test_argument_errors_are_adatune_errors_and_name_the_argument(call, kind, message):
    with pytest.raises(kind, match=message) as info:
        call()
    assert isinstance(info.value, AdatuneError)
    assert isinstance(info.value, ValueError if kind is ArgumentError else TypeError)

"""The persistent worker pool: crashing and hanging jobs fail alone."""
import os
import time

import pytest

from adatune.errors import ArgumentError, ArgumentTypeError
from adatune.measure.worker_pool import WorkerPool


def square(x):
    return x * x


def crash(_):
    os.abort()


def hang(_):
    time.sleep(60)


def fail(_):
    raise ValueError("bad candidate")


def pid(_):
    return os.getpid()


def test_crash_and_hang_fail_alone():
    with WorkerPool(2) as pool:
        jobs = [(3,), (4,)]
        assert [o.value for o in pool.map(square, jobs, timeout=30)] == [9, 16]
        out = pool.map(crash, [(0,)], timeout=30)
        assert out[0].status == "crash" and "exit code" in out[0].message
        out = pool.map(hang, [(0,)], timeout=1.0)
        assert out[0].status == "timeout"
        out = pool.map(fail, [(0,)], timeout=30)
        assert out[0].status == "error" and "bad candidate" in out[0].message
        # The pool still works after all of it.
        assert [o.value for o in pool.map(square, [(5,)] * 3, timeout=30)] == [25] * 3


def test_workers_persist_between_batches():
    with WorkerPool(1) as pool:
        first = pool.map(pid, [(0,)], timeout=30)[0].value
        second = pool.map(pid, [(0,)], timeout=30)[0].value
        assert first == second != os.getpid()


def test_bad_arguments_are_named():
    with pytest.raises(ArgumentError, match="WorkerPool: n_workers"):
        WorkerPool(0)
    with pytest.raises(ArgumentTypeError, match="WorkerPool: n_workers"):
        WorkerPool(1.5)
    with pytest.raises(ArgumentTypeError, match="WorkerPool: initializer"):
        WorkerPool(1, initializer="adatune.templates")

"""Adaptive timing inside real RPC servers (tracker + two servers on 127.0.0.1)."""
import os
import tempfile

import numpy as np
import psutil
import pytest
import tvm

import adatune.task
from adatune.errors import ArgumentError, PluginError
from adatune.measure import (MeasureInput, RPCRunner, StopPolicy, kernels, local_cluster,
                             time_adaptive)
from adatune.measure import evaluator
from adatune.measure.builder import LocalBuilder

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    with local_cluster(n_servers=2, key="adatune-test", timeout=90) as cl:
        yield cl
    for pid in cl.pids:  # every process of the cluster is gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_time_adaptive_runs_inside_the_server(cluster):
    spec = kernels.suite_by_name()["matmul64_tiled"]
    lib = tvm.compile(spec.build(), target=tvm.target.Target({"kind": "llvm", "num-cores": 2}))
    remote = cluster.connect_tracker().request(cluster.key, session_timeout=60)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.so")
        lib.export_library(path)
        remote.upload(path)
    rmod = remote.load_module("kernel.so")
    dev = remote.cpu()
    rng = np.random.default_rng(0)
    host = [rng.standard_normal(s).astype("float32") for s in spec.shapes]
    args = [tvm.runtime.tensor(a, dev) for a in host]
    res = time_adaptive(rmod, dev, *args, session=remote)
    assert res.ok and res.impl == "cpp-rpc" and res.batches >= 3 and res.mean > 0
    np.testing.assert_allclose(args[2].numpy(), host[0] @ host[1], rtol=1e-4, atol=1e-3)
    with pytest.raises(ArgumentError, match="session"):
        time_adaptive(rmod, dev, *args)
    # A kernel that fails inside the server is a result; the session keeps serving.
    wrong = [tvm.runtime.tensor(np.zeros((3, 3), "float32"), dev)] + args[1:]
    bad = time_adaptive(rmod, dev, *wrong, session=remote)
    assert not bad.ok and "shape" in bad.error.lower() and bad.impl == "cpp-rpc"
    # The server's plugin refusing the call (a client and server that disagree on what
    # is valid) raises, naming the argument; it is no failed kernel.
    fn = remote.get_function("adatune.time_adaptive")
    timer = dict(number=0, min_batch_ms=-1.0, cooldown_ms=0.0, flush_cache=False,
                 max_wall_ms=0.0)
    with pytest.raises(PluginError, match=r"(?s)RPC server.s plugin refused.*min_batch_ms"):
        evaluator._run_cpp(fn, rmod, dev, "main", args, StopPolicy(), timer, "cpp-rpc", remote)
    assert time_adaptive(rmod, dev, *args, session=remote).ok


def test_rpc_runner_spreads_over_both_servers(cluster):
    task = adatune.task.create("dense", (32, 32, 32, "float32"), "llvm")
    inputs = [MeasureInput(task.target, task, task.config_space.get(i))
              for i in task.config_space.sample(6, rng=0)]
    builder = LocalBuilder(n_parallel=2, timeout=30)
    runner = RPCRunner(cluster.key, cluster.host, cluster.tracker_port, timeout=30,
                       check_correctness=True)
    try:
        assert runner.n_parallel == 2
        results = runner.run(inputs, builder.build(inputs))
    finally:
        runner.close()
        builder.close()
    assert [r.error_no for r in results] == [0] * 6, [r.costs for r in results]
    # process_info is "pid:ppid"; each session process descends from the server that
    # forked it, and the batch reached both servers.
    parents = {int(key.split(":")[1]) for key in runner.server_counts}
    served_by = set()
    for pid in parents:
        ancestors = {p.pid for p in psutil.Process(pid).parents()} | {pid}
        served_by |= ancestors & {p.pid for p in cluster.servers}
    assert served_by == {p.pid for p in cluster.servers}


def test_rpc_runner_counts_a_busy_server(cluster):
    busy = cluster.connect_tracker().request(cluster.key, session_timeout=30)
    try:
        queue = cluster.connect_tracker().summary()["queue_info"][cluster.key]
        assert queue["free"] == 1  # one server is in a session ...
        runner = RPCRunner(cluster.key, cluster.host, cluster.tracker_port)
        assert runner.n_parallel == 2  # ... and still counts
        runner.close()
    finally:
        del busy
    cluster.wait_registered(30)


def test_rpc_runner_without_servers_is_a_clear_error(cluster):
    with pytest.raises(RuntimeError, match="no RPC server is registered under key 'nobody'"):
        RPCRunner("nobody", cluster.host, cluster.tracker_port)

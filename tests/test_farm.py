"""A farm on 127.0.0.1: a real TVM tracker and real RPC servers (simulated devices that
answer from a recorded space, and real plugin servers), killed by PID at the end."""
import json
import math
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from adatune.errors import ArgumentError
from adatune.farm import Farm, FarmError, FarmJob, FarmMeasure, farm_status, format_status
from adatune.farm.cluster import sim_cluster
from adatune.farm.measure import _measure_simulated
from adatune.measure import MeasureErrorNo, ReplaySpace
from adatune.model.rounds import run_rounds
from adatune.model.scheduler import TaskScheduler
from adatune.tuner import create_tuner

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPACE = os.path.join(ROOT, "bench", "data", "network", "resnet18_conv3x3_56_nhwc.json.gz")
OTHER = os.path.join(ROOT, "bench", "data", "network", "resnet50_conv1x1_56_nhwc.json.gz")


def _scale(path, seconds):
    """The sleep scale that makes the median recorded config take ``seconds``."""
    space = ReplaySpace.load(path)
    return seconds / float(np.median([e.cost for e in space.entries.values() if e.ok]))


def _jobs(space, n, deadline=10.0, seed=0):
    ok = sorted(i for i, e in space.entries.items() if e.ok)
    rng = np.random.default_rng(seed)
    return [FarmJob(_measure_simulated, (int(i),), deadline, label=f"c{k}")
            for k, i in enumerate(rng.choice(ok, n, replace=False))]


def _all_gone(pids):
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.fixture(scope="module")
def space():
    return ReplaySpace.load(SPACE)


def test_a_server_killed_mid_run_costs_only_its_candidate(space):
    with sim_cluster(SPACE, 3, scale=_scale(SPACE, 0.3)) as cl:
        with Farm(cl.tracker_address, cl.key) as farm:
            jobs = _jobs(space, 24)
            futures = [farm.submit(j) for j in jobs]
            victim = None
            deadline = time.monotonic() + 60
            while victim is None and time.monotonic() < deadline:
                busy = [s for s in farm.servers() if s.state == "busy" and s.measured >= 2]
                if busy:
                    victim = busy[0]
                else:
                    time.sleep(0.02)
            assert victim is not None, "no server got busy"
            cl.kill_server(cl.server_at(victim.address))
            results = [f.result(timeout=120) for f in futures]
            stats = {s.address: s for s in farm.servers()}
            counts = dict(farm.counts)
        pids = cl.pids
    _all_gone(pids)
    # Every candidate measured, with its recorded cost, by exactly one server.
    assert all(r["error_no"] == 0 for r in results)
    for job, r in zip(jobs, results):
        assert r["costs"][0] == pytest.approx(space.entries[job.payload[0]].cost)
    assert counts["completed"] == 24 and counts.get("failed", 0) == 0
    # The candidate in flight on the killed server: re-queued once, measured elsewhere.
    moved = [(j, r) for j, r in zip(jobs, results) if j.tried]
    assert len(moved) == 1 and counts["requeued"] == 1
    job, r = moved[0]
    assert job.tried == [victim.address] and r["server"] != victim.address
    assert stats[victim.address].failures == 1
    assert sum(s.measured for s in stats.values()) == 24


def test_a_server_that_always_fails_is_dropped_and_a_hung_one_is_worked_around(space):
    with sim_cluster(SPACE, 2, scale=_scale(SPACE, 0.05)) as cl:
        bad = cl.add_server(fail=True)
        hung = cl.add_server(hang_after=2)
        cl.wait_registered(4)
        with Farm(cl.tracker_address, cl.key, max_failures=3) as farm:
            jobs = _jobs(space, 40, deadline=3.0)
            results = [f.result(timeout=120) for f in [farm.submit(j) for j in jobs]]
            stats = {s.address: s for s in farm.servers()}
            counts = dict(farm.counts)
            bad_addr = next(a for a in stats if cl.server_at(a) is bad)
            hung_addr = next(a for a in stats if cl.server_at(a) is hung)
        pids = cl.pids
    _all_gone(pids)
    assert all(r["error_no"] == 0 for r in results), [r for r in results if r["error_no"]]
    assert stats[bad_addr].state == "dropped" and stats[bad_addr].failures == 3
    assert stats[bad_addr].measured == 0
    # The hung server answered twice, then its third candidate timed out and moved.
    assert stats[hung_addr].measured == 2 and stats[hung_addr].failures >= 1
    assert counts["timeouts"] >= 1
    assert sum(s.measured for s in stats.values()) == 40 == counts["completed"]


def test_the_tracker_restarted_mid_run_is_survived(space):
    with sim_cluster(SPACE, 2, scale=_scale(SPACE, 0.1)) as cl:
        with Farm(cl.tracker_address, cl.key, tracker_timeout=60) as farm:
            jobs = _jobs(space, 100)
            futures = [farm.submit(j) for j in jobs]
            while farm.counts["completed"] < 5:
                time.sleep(0.02)
            cl.restart_tracker(down_seconds=1.0)
            # A server that dies after the restart is replaced by one that can only be
            # reached through the new tracker.
            cl.kill_server(cl.servers[0])
            fresh = cl.add_server()
            # (The surviving server, in its session with the farm, re-registers only
            # when that session ends: the new tracker sees the fresh one first.) Work
            # keeps coming until the farm has reached it: a slot opens its session
            # only when there is work.
            until, seed = time.monotonic() + 90, 1
            while not any(cl.server_at(x.address) is fresh for x in farm.servers()):
                assert time.monotonic() < until, "the farm never reached the fresh server"
                if farm.snapshot()["queued"] < 4:
                    futures += [farm.submit(j) for j in _jobs(space, 10, seed=seed)]
                    seed += 1
                time.sleep(0.1)
            futures += [farm.submit(j) for j in _jobs(space, 20, seed=seed)]
            results = [f.result(timeout=180) for f in futures]
            stats = {s.address: s for s in farm.servers()}
            counts = dict(farm.counts)
            fresh_addr = next((a for a in stats if cl.server_at(a) is fresh), None)
        pids = cl.pids
    _all_gone(pids)
    assert all(r["error_no"] == 0 for r in results)
    assert fresh_addr is not None and stats[fresh_addr].measured > 0
    # The candidate in flight on the killed server (if any) moved; none was lost or doubled.
    assert sum(s.measured for s in stats.values()) == len(futures) == counts["completed"]


class _ReplayTask:
    """A template-like task for run_rounds: one tuner on one recorded space."""

    kind = "template"

    def __init__(self, path, seed):
        self.space = ReplaySpace.load(path)
        self.tuner = create_tuner("rfei", self.space, seed=seed)
        self.name = os.path.basename(path)
        self.trials = 0
        self.spans = []

    def run(self, n, measure_option):
        t0 = time.monotonic()
        s = self.tuner.tune(n, measure_option)
        self.spans.append((t0, time.monotonic()))
        done = s.n_trials - s.n_resumed
        self.trials += done
        return done

    @property
    def best_latency(self):
        r = self.tuner.best_result
        return r.mean_cost if r is not None else math.inf

    @property
    def exhausted(self):
        return not self.tuner.has_next()


def test_two_tasks_tuned_at_once_over_three_servers():
    scale = _scale(SPACE, 0.05)
    with sim_cluster(SPACE, 3, scale=scale) as cl:
        # The servers answer from one space each: give each task its own key's servers?
        # No: one key, so both tasks' candidates share the three servers; the second task
        # is replayed from the same recorded space under another name.
        with Farm(cl.tracker_address, cl.key) as farm:
            tasks = [_ReplayTask(SPACE, 0), _ReplayTask(SPACE, 1)]
            tasks[1].name = "second"
            option = FarmMeasure(farm, simulated=True, tasks_at_once=2)
            scheduler = TaskScheduler([1.0, 1.0])
            rounds = []
            done = run_rounds(tasks, scheduler, 60, 0, 8, 16, option,
                              lambda i, d: rounds.append((i, d)), concurrency=option.tasks_at_once)
            servers = farm.servers()
        pids = cl.pids
    _all_gone(pids)
    # Exact budget: 60 trials measured, counted once each, over both tasks.
    assert done == 60 == sum(t.trials for t in tasks)
    assert rounds[-1][1] == 60 and {i for i, _ in rounds} == {0, 1}
    assert sum(s.measured for s in servers) >= 60  # plus the confirming re-measurements
    assert len([s for s in servers if s.measured]) == 3
    # The two tasks' rounds overlapped in time: both were on the farm at once.
    a, b = tasks[0].spans, tasks[1].spans
    assert any(s0 < e1 and s1 < e0 for s0, e0 in a for s1, e1 in b)


def test_farm_status_lists_servers_and_what_a_running_farm_reports(space, tmp_path, monkeypatch):
    monkeypatch.setenv("ADATUNE_FARM_STATUS_DIR", str(tmp_path))
    with sim_cluster(SPACE, 2, scale=_scale(SPACE, 0.2)) as cl:
        with Farm(cl.tracker_address, cl.key) as farm:
            futures = [farm.submit(j) for j in _jobs(space, 12)]
            [f.result(timeout=60) for f in futures[:6]]
            time.sleep(1.5)  # one status write
            status = farm_status(cl.tracker_address)
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
            out = subprocess.run([sys.executable, "-m", "adatune.cli", "farm", "status",
                                  f"--tracker={cl.tracker_address}"], capture_output=True, text=True,
                                 env=env, timeout=60)
            [f.result(timeout=60) for f in futures]
        pids = cl.pids
    _all_gone(pids)
    assert status["keys"]["sim"]["servers"] and len(status["keys"]["sim"]["servers"]) == 2
    (report,) = status["farms"]
    assert report["counts"]["completed"] >= 6 and len(report["servers"]) == 2
    assert out.returncode == 0, out.stderr
    assert "| sim | 2 |" in out.stdout and "farm pid" in out.stdout
    assert format_status(status).count("127.0.0.1:") >= 2
    assert not list(tmp_path.glob("*.json"))  # a closed farm removes its status file


def test_a_status_write_in_progress_at_close_leaves_no_file(tmp_path):
    # The watcher writes the status file each second; close() racing a write used to
    # unlink first and let the write land after it (a stale farm in `farm status`).
    path = tmp_path / "farm.json"
    with sim_cluster(SPACE, 1, scale=_scale(SPACE, 0.05)) as cl:
        farm = Farm(cl.tracker_address, cl.key, status_path=str(path))
        try:
            deadline = time.monotonic() + 10
            while not path.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert path.exists(), "the farm wrote no status file"
            writing = threading.Event()
            snapshot = farm.snapshot

            def slow_snapshot():
                writing.set()
                time.sleep(1.0)
                return snapshot()

            farm.snapshot = slow_snapshot
            assert writing.wait(5.0), "no status write started"
        finally:
            farm.close()
        pids = cl.pids
    _all_gone(pids)
    time.sleep(1.2)  # past the slow write, had it gone on after close
    assert not list(tmp_path.iterdir())


def test_bad_farm_arguments_and_an_unreachable_tracker_are_reported():
    with pytest.raises(ArgumentError, match="tracker"):
        Farm("nonsense", "sim")
    with pytest.raises(ArgumentError, match="key"):
        Farm("127.0.0.1:9190", "")
    from adatune.measure.rpc import free_port

    with pytest.raises(FarmError, match=r"cannot reach the RPC tracker at 127\.0\.0\.1"):
        Farm(f"127.0.0.1:{free_port()}", "sim")
    with sim_cluster(SPACE, 0) as cl:
        with pytest.raises(FarmError, match="no RPC server is registered under key 'sim'"):
            Farm(cl.tracker_address, "sim")
    with pytest.raises(ArgumentError, match="max_failures"):
        Farm("127.0.0.1:1", "sim", max_failures=0)


def test_a_farm_of_real_plugin_servers_times_real_kernels(tmp_path):
    """Real builds and the adaptive evaluator inside two real `adatune rpc-server`s."""
    import adatune.task
    from adatune.measure import LocalBuilder, local_cluster

    task = adatune.task.create("dense", (64, 64, 64, "float32"))
    with local_cluster(n_servers=2, key="farm-real", timeout=90) as cl:
        with Farm(cl.tracker_address, cl.key) as farm, \
                FarmMeasure(farm, LocalBuilder(n_parallel=2), check_correctness=True) as option:
            tuner = create_tuner("random", task, seed=0)
            summary = tuner.tune(8, option, confirm=False)
            servers = farm.servers()
        # The CLI on the same farm: `adatune tune --farm` of two tasks and its summary lines.
        log = tmp_path / "cli.log"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        out = subprocess.run([sys.executable, "-m", "adatune.cli", "tune", "--task",
                              "dense:64,64,64,float32", "--task", "dense:32,48,32,float32",
                              "--tuner", "random", "--seed", "1",
                              "--trials", "10", "--no-confirm", "--log", str(log), "--farm",
                              "--tracker", cl.tracker_address, "--key", cl.key],
                             capture_output=True, text=True, env=env, timeout=300)
        pids = cl.pids
    _all_gone(pids)
    assert summary.n_trials == 8
    assert tuner.best_result is not None and 0 < tuner.best_result.mean_cost < 1.0
    assert sum(s.measured for s in servers) == 8 and all(s.failures == 0 for s in servers)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "farm bottleneck" in out.stdout and "farm servers: measured" in out.stdout
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(lines) == 10 and all(r["result"][1] == 0 for r in lines)
    per_task = [sum(r["input"][2][:3] == shape for r in lines) for shape in ([64, 64, 64], [32, 48, 32])]
    assert min(per_task) >= 4 and sum(per_task) == 10  # both tasks, the budget exact


def test_an_interrupted_farm_run_resumes_from_its_records_without_re_measuring(tmp_path):
    import adatune.task
    from adatune.records import iter_records
    from adatune.tuner import log_to_file

    task = adatune.task.create("conv2d_nhwc", (1, 56, 56, 64, 64, 3, 3, 1, 1, 1, "float32"))
    log = str(tmp_path / "farm.log")

    class Interrupt(Exception):
        pass

    def stop_after(n):
        def cb(tuner, inputs, results):
            cb.seen += len(results)
            if cb.seen >= n:
                raise Interrupt
        cb.seen = 0
        return cb

    with sim_cluster(SPACE, 3, scale=_scale(SPACE, 0.02)) as cl:
        with Farm(cl.tracker_address, cl.key) as farm:
            option = FarmMeasure(farm, simulated=True)
            with pytest.raises(Interrupt):
                create_tuner("random", task, seed=0).tune(24, option, callbacks=[log_to_file(log), stop_after(9)])
            first = sum(s.measured for s in farm.servers())
            resumed = create_tuner("random", task, seed=0)
            summary = resumed.tune(24, option, callbacks=[log_to_file(log)], resume_from=log)
            total = sum(s.measured for s in farm.servers())
        pids = cl.pids
    _all_gone(pids)
    records = list(iter_records(log))
    assert summary.n_resumed == 9 and summary.n_trials == 24
    assert len(records) == 24 and len({r.config_index for r in records}) == 24
    assert total - first == 15  # only the trials the first run had not measured

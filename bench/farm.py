"""Farm benchmark: throughput against the number of servers, and a fault run.

Every server is a real TVM RPC server registered with a real tracker on 127.0.0.1; its
device is simulated (:mod:`adatune.farm.sim_server`): a measurement of config ``i``
sleeps the run time recorded for ``i`` in an exhaustive space, scaled so that the median
config takes ``--seconds`` (default 0.25 s, about what the adaptive evaluator spends on
one candidate of a CPU conv2d, session traffic included). So dozens of servers fit on
two cores, and what is measured is adatune's dispatch layer (:class:`adatune.farm.Farm`).

1. **Dispatch** (builds from a cache: the candidates need no build): one cluster of 32
   servers; for N in 1, 2, 4, 8, 16, 32 a farm limited to N servers
   (``max_servers``) measures the same stream of ``jobs_per_server x N`` candidates.
   Throughput = candidates / wall seconds; parallel efficiency = throughput(N) /
   (N x throughput(1)), taken within each repeat (each repeat draws its own stream);
   "of ideal" = throughput / (N / mean sleep). N values are interleaved over
   ``--repeats`` rounds; medians over repeats.
2. **Real builds**: the same, with every candidate of the space's own template task (a
   ResNet-18 conv2d) built by this host's ``LocalBuilder`` (two tasks' threads sharing
   it, as ``tune_model`` runs them) and timed on the simulated devices: the point where
   the host's builder, not the farm, limits throughput; the bottleneck the run reports.
3. **Faults**: 8 servers; every ``--kill-every`` seconds one busy server is killed
   (SIGKILL of its process group, mid-measurement) and a replacement started. Reported:
   candidates completed, lost (no valid result: must be 0), counted twice (must be 0),
   re-queued, and throughput relative to a fault-free run of the same stream.

Targets (issue 16): efficiency at 16 servers >= 0.8; the fault run loses and duplicates
nothing and keeps >= 0.8 of the fault-free throughput.

Reproduce (from the repository root)::

    python bench/farm.py --json farm.json                 # full: 3 repeats, 60 s fault run
    python bench/farm.py --quick --json farm-quick.json   # under 10 minutes
"""
from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from typing import Any, Dict, List, Sequence

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

from adatune.farm import Farm, FarmJob, FarmMeasure  # noqa: E402
from adatune.farm.cluster import SimCluster  # noqa: E402
from adatune.farm.measure import _measure_simulated  # noqa: E402
from adatune.measure import ReplaySpace  # noqa: E402

SPACE = os.path.join(ROOT, "bench", "data", "network", "resnet18_conv3x3_56_nhwc.json.gz")
SERVERS = (1, 2, 4, 8, 16, 32)


def _scale(space: ReplaySpace, seconds: float) -> float:
    return seconds / float(np.median([e.cost for e in space.entries.values() if e.ok]))


def _stream(space: ReplaySpace, n: int, seed: int, block: int = 16) -> List[int]:
    """``n`` recorded configs: one seeded block of ``block`` configs, repeated, so that
    streams of every length have the same mean measurement time."""
    ok = sorted(i for i, e in space.entries.items() if e.ok)
    picks = [int(i) for i in np.random.default_rng(seed).choice(ok, block, replace=False)]
    return [picks[k % block] for k in range(n)]


def _counting(returns: Dict[int, int], lock: threading.Lock):
    """A job runner that counts every answer a server returns, per job."""
    def run(session: Any, job: FarmJob) -> Dict[str, Any]:
        value = _measure_simulated(session, job)
        with lock:
            returns[id(job)] = returns.get(id(job), 0) + 1
        return value
    return run


def _run_stream(farm: Farm, indices: Sequence[int], deadline: float) -> Dict[str, Any]:
    returns: Dict[int, int] = {}
    lock = threading.Lock()
    run = _counting(returns, lock)
    before = sum(s.measured for s in farm.servers())
    t0 = time.perf_counter()
    jobs = [FarmJob(run, (i,), deadline, label=f"c{k}") for k, i in enumerate(indices)]
    futures = [farm.submit(j) for j in jobs]
    results = [f.result() for f in futures]
    wall = time.perf_counter() - t0
    ok = sum(r["error_no"] == 0 for r in results)
    return {"candidates": len(jobs), "ok": ok, "lost": len(jobs) - ok, "wall_s": wall,
            "throughput": ok / wall,
            # Results the farm counted (per server) beyond one per candidate.
            "counted_twice": sum(s.measured for s in farm.servers()) - before - ok,
            # Candidates a device answered more than once (a late answer after a re-queue).
            "answered_twice": sum(1 for j in jobs if returns.get(id(j), 0) > 1),
            "requeued": sum(1 for j in jobs if j.tried)}


def dispatch(cluster: SimCluster, space: ReplaySpace, ns: Sequence[int], repeats: int,
             per_server: int, deadline: float) -> Dict[str, Any]:
    rows: Dict[int, List[Dict[str, Any]]] = {n: [] for n in ns}
    rng = random.Random(0)
    for rep in range(repeats):
        order = list(ns)
        rng.shuffle(order)
        for n in order:
            with Farm(cluster.tracker_address, cluster.key, max_servers=n) as farm:
                _warm(farm, space, n, deadline)
                out = _run_stream(farm, _stream(space, per_server * n, seed=rep, block=per_server),
                                  deadline)
                out["servers_used"] = sum(1 for s in farm.servers() if s.measured)
            rows[n].append(out)
            print(f"  dispatch: {n:2d} servers, repeat {rep}: {out['throughput']:.1f} candidates/s",
                  file=sys.stderr, flush=True)
    # Each repeat draws its own stream (its own mean measurement time), shared by every N
    # of that repeat: efficiency and the ratio to the ideal are taken per repeat, then the
    # median over repeats.
    table = []
    for n in ns:
        runs = rows[n]
        for rep, r in enumerate(runs):
            r["ideal"] = n / _mean_sleep(space, cluster.scale, per_server, per_server, seed=rep)
            r["efficiency"] = r["throughput"] / (n * rows[ns[0]][rep]["throughput"]) if ns[0] == 1 else None
        table.append({"servers": n, "throughput": float(np.median([r["throughput"] for r in runs])),
                      "efficiency": (float(np.median([r["efficiency"] for r in runs]))
                                     if ns[0] == 1 else None),
                      "of_ideal": float(np.median([r["throughput"] / r["ideal"] for r in runs])),
                      "lost": sum(r["lost"] for r in runs), "runs": runs})
    return {"table": table}


def _mean_sleep(space: ReplaySpace, scale: float, n: int, block: int = 16, seed: int = 0) -> float:
    return float(np.mean([space.entries[i].cost * scale for i in _stream(space, n, seed, block)]))


def _warm(farm: Farm, space: ReplaySpace, n: int, deadline: float) -> None:
    """One untimed candidate per server first: the farm opens its sessions when work
    comes (once per tuning run), and that start-up is not dispatch throughput."""
    _run_stream(farm, _stream(space, n, seed=99, block=n), deadline)


def real_builds(cluster: SimCluster, space: ReplaySpace, ns: Sequence[int],
                per_server: int) -> Dict[str, Any]:
    """The recorded space's own template task, its candidates built here (two threads
    share the builder, as two tasks' rounds do), timed on the simulated devices."""
    import adatune.task
    from adatune.measure import LocalBuilder, MeasureInput

    task = adatune.task.create(space.name, space.args)
    recorded = sorted(i for i, e in space.entries.items() if e.ok)
    rows = []
    for n in ns:
        with Farm(cluster.tracker_address, cluster.key, max_servers=n) as farm, \
                FarmMeasure(farm, LocalBuilder(), simulated=True) as option:
            _warm(farm, space, n, 60.0)
            picks = [int(i) for i in np.random.default_rng(n).choice(recorded, per_server * n)]
            halves = [picks[0::2], picks[1::2]]
            errors: List[BaseException] = []

            def work(idx: List[int]) -> None:
                try:
                    for k in range(0, len(idx), n):
                        option.measure_batch([MeasureInput(task.target, task, task.config_space.get(i))
                                              for i in idx[k:k + n]])
                except BaseException as err:  # noqa: BLE001 - reported below
                    errors.append(err)

            t0 = time.perf_counter()
            threads = [threading.Thread(target=work, args=(h,)) for h in halves]
            [t.start() for t in threads]
            [t.join() for t in threads]
            wall = time.perf_counter() - t0
            if errors:
                raise errors[0]
            b = option.bottleneck()
        rows.append({"servers": n, "throughput": len(picks) / wall, "wall_s": wall,
                     "builder_busy": b["builder_busy"], "servers_busy": b["servers_busy"],
                     "bottleneck": b["bottleneck"]})
        print(f"  real builds: {n:2d} servers: {rows[-1]['throughput']:.1f} candidates/s, "
              f"bottleneck {b['bottleneck']}", file=sys.stderr, flush=True)
    return {"table": rows, "task": f"{space.name}{tuple(space.args)}"}


def faults(cluster: SimCluster, space: ReplaySpace, n: int, seconds: float, kill_every: float,
           deadline: float) -> Dict[str, Any]:
    """The same stream fault-free and with a server killed every ``kill_every`` s."""
    mean = _mean_sleep(space, cluster.scale, 64, block=64, seed=7)
    count = int(seconds * n / mean)
    indices = _stream(space, count, seed=7, block=64)
    out: Dict[str, Any] = {"servers": n, "kill_every_s": kill_every, "candidates": count}
    for mode in ("fault_free", "faults"):
        with Farm(cluster.tracker_address, cluster.key, max_servers=n) as farm:
            _warm(farm, space, n, deadline)
            stop = threading.Event()
            kills: List[str] = []

            def killer() -> None:
                while not stop.wait(kill_every):
                    busy = [s.address for s in farm.servers() if s.state == "busy"]
                    proc = next((cluster.server_at(a) for a in busy if cluster.server_at(a)), None)
                    if proc is None:
                        continue
                    os.killpg(proc.pid, signal.SIGKILL)
                    cluster.kill_server(proc)
                    kills.append(busy[0])
                    cluster.add_server()

            thread = threading.Thread(target=killer, daemon=True)
            if mode == "faults":
                thread.start()
            res = _run_stream(farm, indices, deadline)
            stop.set()
            if mode == "faults":
                thread.join()
            res["servers_seen"] = len(farm.servers())
            res["dropped"] = sum(1 for s in farm.servers() if s.state == "dropped")
            res["kills"] = len(kills)
        out[mode] = res
        print(f"  faults: {mode}: {res['throughput']:.1f} candidates/s, lost {res['lost']}, "
              f"re-queued {res['requeued']}, kills {res['kills']}", file=sys.stderr, flush=True)
        if mode == "faults":  # back to n live servers for what follows
            cluster.wait_registered(len(cluster.servers))
    out["throughput_ratio"] = out["faults"]["throughput"] / out["fault_free"]["throughput"]
    return out


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1 repeat, shorter streams, 30 s fault run")
    ap.add_argument("--seconds", type=float, default=0.25, help="median simulated measurement (s)")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--kill-every", type=float, default=5.0, help="seconds between kills in the fault run")
    ap.add_argument("--no-builds", action="store_true", help="skip the real-builds part")
    ap.add_argument("--servers", default=",".join(map(str, SERVERS)),
                    help="server counts of the dispatch part (must start with 1)")
    ap.add_argument("--fault-servers", type=int, default=8)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(list(argv))
    repeats = args.repeats or (1 if args.quick else 3)
    ns = tuple(int(x) for x in args.servers.split(","))
    if ns[0] != 1:
        ap.error("--servers must start with 1 (efficiency is relative to one server)")
    per_server = 8 if args.quick else 16
    fault_seconds = 30.0 if args.quick else 60.0
    space = ReplaySpace.load(SPACE)
    deadline = 30 * args.seconds + 5.0
    report: Dict[str, Any] = {"space": os.path.relpath(SPACE, ROOT), "median_measure_s": args.seconds,
                              "cpus": os.cpu_count(), "repeats": repeats}
    t_start = time.time()
    cluster = SimCluster(space=SPACE, key="bench-farm", scale=_scale(space, args.seconds))
    try:
        cluster.start_tracker()
        total = max(max(ns), args.fault_servers)
        for _ in range(total):
            cluster.add_server()
        t0 = time.time()
        cluster.wait_registered(total, timeout=300)
        report["startup_s"] = time.time() - t0
        print(f"{total} simulated servers up in {report['startup_s']:.0f} s", file=sys.stderr)
        report["dispatch"] = dispatch(cluster, space, ns, repeats, per_server, deadline)
        if not args.no_builds:
            bns = tuple(n for n in ((1, 2, 4, 8) if args.quick else (1, 2, 4, 8, 16)) if n <= max(ns))
            report["real_builds"] = real_builds(cluster, space, bns, 4 if args.quick else 8)
        report["faults"] = faults(cluster, space, args.fault_servers, fault_seconds, args.kill_every,
                                  deadline)
    finally:
        cluster.close()
    table = report["dispatch"]["table"]
    eff16 = next((r["efficiency"] for r in table if r["servers"] == 16), None)
    f = report["faults"]
    report.update(efficiency_16=eff16, lost=f["faults"]["lost"] + f["fault_free"]["lost"],
                  duplicated=f["faults"]["counted_twice"] + f["fault_free"]["counted_twice"],
                  fault_throughput_ratio=f["throughput_ratio"], wall_s=time.time() - t_start)
    print(f"\nFarm dispatch on 127.0.0.1, simulated devices (median measurement {args.seconds} s), "
          f"{repeats} repeat(s), medians:\n")
    print("| servers | candidates/s | of ideal (sleep-bound) | efficiency |")
    print("| --- | --- | --- | --- |")
    for r in table:
        print(f"| {r['servers']} | {r['throughput']:.1f} | {r['of_ideal']:.2f} | {r['efficiency']:.2f} |")
    if "real_builds" in report:
        print(f"\nWith real builds ({report['real_builds']['task']}, this host's LocalBuilder):\n")
        print("| servers | candidates/s | builder busy | servers busy | bottleneck |")
        print("| --- | --- | --- | --- | --- |")
        for r in report["real_builds"]["table"]:
            print(f"| {r['servers']} | {r['throughput']:.1f} | {r['builder_busy']:.2f} | "
                  f"{r['servers_busy']:.2f} | {r['bottleneck']} |")
    print(f"\nFault run: {f['servers']} servers, one killed every {f['kill_every_s']:.0f} s "
          f"({f['faults']['kills']} kills), {f['candidates']} candidates:\n")
    print("| run | candidates/s | completed | lost | counted twice | answered twice | re-queued |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for mode in ("fault_free", "faults"):
        r = f[mode]
        print(f"| {mode} | {r['throughput']:.1f} | {r['ok']} | {r['lost']} | {r['counted_twice']} | "
              f"{r['answered_twice']} | {r['requeued']} |")
    print(f"\nefficiency_16 {eff16 if eff16 is None else round(eff16, 2)}, lost {report['lost']}, duplicated {report['duplicated']}, "
          f"fault_throughput_ratio {report['fault_throughput_ratio']:.2f}, {report['wall_s']:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A tracker and simulated devices on 127.0.0.1, for tests and benchmarks.

Every process is started in its own process group and killed by PID when the context
ends; :class:`SimCluster` can kill and start servers, and restart the tracker, mid-run.
"""
from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, Iterator, List, Optional

from .._checks import check_int
from ..measure.rpc import _spawn, _wait_for_port, free_port, stop, tracker_command

__all__ = ["SimCluster", "sim_cluster"]


@dataclass
class SimCluster:
    """A tracker and simulated servers (see :func:`sim_cluster`)."""

    space: str
    key: str
    scale: float
    host: str = "127.0.0.1"
    tracker_port: int = 0
    tracker: Optional[subprocess.Popen] = None
    servers: List[subprocess.Popen] = field(default_factory=list)
    ports: Dict[int, int] = field(default_factory=dict)  # server pid -> the port it was given

    @property
    def tracker_address(self) -> str:
        return f"{self.host}:{self.tracker_port}"

    @property
    def pids(self) -> List[int]:
        return [p.pid for p in [self.tracker, *self.servers] if p is not None]

    def start_tracker(self, timeout: float = 30.0) -> None:
        self.tracker_port = self.tracker_port or free_port(self.host)
        self.tracker = _spawn(tracker_command(self.host, self.tracker_port))
        _wait_for_port(self.host, self.tracker_port, self.tracker, timeout)

    def restart_tracker(self, down_seconds: float = 1.0) -> None:
        """Kill the tracker and start a new one on the same port after ``down_seconds``."""
        stop(self.tracker)
        time.sleep(down_seconds)
        self.start_tracker()

    def add_server(self, fail: bool = False, hang_after: Optional[int] = None,
                   space: Optional[str] = None) -> subprocess.Popen:
        port = free_port(self.host)
        cmd = [sys.executable, "-m", "adatune.farm.sim_server", f"--tracker={self.tracker_address}",
               f"--key={self.key}", f"--space={space or self.space}", f"--scale={self.scale}",
               f"--host={self.host}", f"--port={port}"]
        if fail:
            cmd.append("--fail")
        if hang_after is not None:
            cmd.append(f"--hang-after={hang_after}")
        proc = _spawn(cmd)
        self.servers.append(proc)
        self.ports[proc.pid] = port
        return proc

    def server_at(self, address: str) -> Optional[subprocess.Popen]:
        """The server process listening at ``host:port`` (as the farm names servers)."""
        port = int(address.rsplit(":", 1)[1])
        return next((p for p in self.servers if self.ports.get(p.pid) == port), None)

    def kill_server(self, proc: subprocess.Popen) -> None:
        stop(proc, timeout=2.0)
        if proc in self.servers:
            self.servers.remove(proc)

    def wait_registered(self, n: int, timeout: float = 60.0) -> None:
        """Block until ``n`` servers are registered (busy or free) under the key."""
        from .pool import tracker_summary

        deadline = time.monotonic() + timeout
        count = 0
        while time.monotonic() < deadline:
            try:
                summary = tracker_summary(self.host, self.tracker_port)
                count = sum(1 for i in summary.get("server_info", []) if i.get("key") == f"server:{self.key}")
                if count >= n:
                    return
            except Exception:  # noqa: BLE001 - the tracker is restarting
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{count} of {n} simulated servers registered under {self.key!r} "
                           f"with {self.tracker_address} after {timeout:.0f} s")

    def close(self) -> None:
        for proc in [*self.servers, self.tracker]:
            if proc is not None:
                stop(proc, timeout=2.0)


@contextlib.contextmanager
def sim_cluster(space: str, n_servers: int, key: str = "sim", scale: float = 1.0,
                timeout: float = 120.0) -> Iterator[SimCluster]:
    """A tracker and ``n_servers`` simulated devices answering from ``space``; all killed
    (by process group) on exit."""
    check_int(n_servers, "n_servers", "sim_cluster", low=0)
    cluster = SimCluster(space=space, key=key, scale=scale)
    try:
        cluster.start_tracker()
        for _ in range(n_servers):
            cluster.add_server()
        if n_servers:
            cluster.wait_registered(n_servers, timeout)
        yield cluster
    finally:
        cluster.close()

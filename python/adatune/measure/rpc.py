"""Start TVM RPC trackers and servers that carry the adatune plugin.

A server started here loads ``libadatune_runtime.so`` (``--load-library``), so a client
can call ``adatune.time_adaptive`` inside it: the adaptive loop then runs next to the
device and only the result crosses the network.
"""
from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Tuple

from .. import libinfo
from .._checks import check_positive_int
from ..errors import ArgumentError

logger = logging.getLogger(__name__)


def parse_address(text: str, what: str = "address") -> Tuple[str, int]:
    """Parse ``host:port``; an :class:`~adatune.errors.ArgumentError` (a ``ValueError``)
    names ``what`` when it is malformed."""
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ArgumentError(f"{what} must look like host:port, got {text!r}")
    return host, int(port)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def server_command(host: str = "127.0.0.1", port: int = 9090, port_end: Optional[int] = None,
                   tracker: Optional[str] = None, key: str = "", plugin: Optional[str] = None,
                   python: str = sys.executable) -> List[str]:
    """The command line of a TVM RPC server that loads the adatune plugin."""
    plugin = plugin or libinfo.find_lib_path()
    cmd = [python, "-m", "tvm.exec.rpc_server", f"--host={host}", f"--port={port}",
           f"--port-end={port_end or port + 100}", f"--load-library={plugin}"]
    if tracker:
        parse_address(tracker, "tracker")
        cmd += [f"--tracker={tracker}", f"--key={key}"]
    return cmd


def tracker_command(host: str = "127.0.0.1", port: int = 9190,
                    python: str = sys.executable) -> List[str]:
    return [python, "-m", "tvm.exec.rpc_tracker", f"--host={host}", f"--port={port}",
            f"--port-end={port + 100}"]


def _wait_for_port(host: str, port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[2]} exited with code {proc.returncode} "
                               f"before listening on {host}:{port}")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f} s")


def _spawn(cmd: List[str]) -> subprocess.Popen:
    # Own process group: the server forks a worker per session, and stop() kills them all.
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def stop(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """Terminate a process started here and every child of its process group."""
    if proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass
class LocalCluster:
    """A tracker and servers on this machine (what tests and demos use)."""

    host: str
    tracker_port: int
    key: str
    tracker: subprocess.Popen
    servers: List[subprocess.Popen] = field(default_factory=list)
    server_ports: List[int] = field(default_factory=list)

    @property
    def tracker_address(self) -> str:
        return f"{self.host}:{self.tracker_port}"

    @property
    def pids(self) -> List[int]:
        return [self.tracker.pid] + [s.pid for s in self.servers]

    def connect_tracker(self):
        from tvm import rpc

        return rpc.connect_tracker(self.host, self.tracker_port)

    def wait_registered(self, timeout: float = 30.0) -> None:
        """Block until every server is registered with the tracker under ``key``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            summary = self.connect_tracker().summary()
            free = summary.get("queue_info", {}).get(self.key, {}).get("free", 0)
            if free >= len(self.servers):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{len(self.servers)} servers not registered under {self.key!r} "
                           f"with the tracker at {self.tracker_address} after {timeout:.0f} s")

    def close(self) -> None:
        for proc in self.servers + [self.tracker]:
            stop(proc)


@contextlib.contextmanager
def local_cluster(n_servers: int = 1, key: str = "adatune", host: str = "127.0.0.1",
                  timeout: float = 60.0) -> Iterator[LocalCluster]:
    """Start a tracker and ``n_servers`` plugin-carrying servers; stop them all on exit."""
    check_positive_int(n_servers, "n_servers", "local_cluster")
    tracker_port = free_port(host)
    tracker = _spawn(tracker_command(host, tracker_port))
    cluster = LocalCluster(host=host, tracker_port=tracker_port, key=key, tracker=tracker)
    try:
        _wait_for_port(host, tracker_port, tracker, timeout)
        for _ in range(n_servers):
            port = free_port(host)
            proc = _spawn(server_command(host, port, port + 1, tracker=cluster.tracker_address,
                                         key=key))
            cluster.servers.append(proc)
            cluster.server_ports.append(port)
        for proc, port in zip(cluster.servers, cluster.server_ports):
            _wait_for_port(host, port, proc, timeout)
        cluster.wait_registered(timeout)
        yield cluster
    finally:
        cluster.close()

"""A throw-away PostgreSQL server for the records-store tests.

Starts Debian's server binaries (package ``postgresql``; ``scripts/install-sysdeps.sh``
installs it) on 127.0.0.1 and a free port, with its own data directory in a temporary
folder, once per test session; stops and removes it at the end.  ``initdb`` refuses to
run as root, so as root the server runs as the ``postgres`` system user.

Use the ``postgres_url`` fixture (import it into the test module).
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from typing import List, Optional

import pytest

_USER = "adatune"


def _pg_bin() -> Optional[str]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return os.path.dirname(found[-1])
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One server: ``start()``, ``url``, ``stop()``."""

    def __init__(self, bin_dir: str):
        self.bin_dir = bin_dir
        self.root = tempfile.mkdtemp(prefix="adatune-pg-")
        self.data = os.path.join(self.root, "data")
        self.log = os.path.join(self.root, "server.log")
        self.port = _free_port()
        self._as: List[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        return f"postgresql://{_USER}@127.0.0.1:{self.port}/postgres"

    def _run(self, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(self._as + [os.path.join(self.bin_dir, cmd[0]), *cmd[1:]],
                              capture_output=True, text=True, timeout=timeout)

    def start(self) -> None:
        res = self._run("initdb", "-D", self.data, "-U", _USER, "-A", "trust",
                        "-E", "UTF8", "--no-sync")
        if res.returncode != 0:
            raise RuntimeError(f"initdb failed: {res.stderr[-2000:]}")
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 "
                f"-c unix_socket_directories={self.root} -c fsync=off "
                f"-c max_connections=50")
        res = self._run("pg_ctl", "-D", self.data, "-l", self.log, "-o", opts, "-w",
                        "-t", "60", "start")
        if res.returncode != 0:
            log = open(self.log).read()[-2000:] if os.path.exists(self.log) else ""
            raise RuntimeError(f"pg_ctl start failed: {res.stderr[-2000:]} {log}")

    def stop(self) -> None:
        try:
            res = self._run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30",
                            "stop", timeout=60)
            stopped = res.returncode == 0
        except subprocess.TimeoutExpired:
            stopped = False
        if not stopped:
            self._kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def _kill(self) -> None:
        pid_file = os.path.join(self.data, "postmaster.pid")
        try:
            pid = int(open(pid_file).readline().strip())
        except (OSError, ValueError):
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        for _ in range(50):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


# Test modules import the fixture, so pytest may hold one session fixture per module:
# they share one server, stopped when the last of them is torn down.
_shared = {"server": None, "users": 0}


@pytest.fixture(scope="session")
def postgres_url():
    """URL of a PostgreSQL server running for this test session."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries not found: install the Debian package "
                    "`postgresql` (scripts/install-sysdeps.sh does)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run initdb "
                        "as: install the Debian package `postgresql`")
    if _shared["server"] is None:
        server = PostgresServer(bin_dir)
        try:
            server.start()
        except Exception:
            server.stop()
            raise
        _shared["server"] = server
    _shared["users"] += 1
    try:
        yield _shared["server"].url
    finally:
        _shared["users"] -= 1
        if _shared["users"] == 0:
            _shared["server"].stop()
            _shared["server"] = None

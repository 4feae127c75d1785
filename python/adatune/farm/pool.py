"""A farm: every server registered with a TVM RPC tracker under one key, measuring
candidates of any number of tasks at once, and surviving the servers' faults.

One *slot* (a thread) per registered server holds a session to it and pulls the next
candidate from one shared queue the moment its server is free, so a slow server holds
up nothing but its own candidate (no head-of-line waiting) and N servers work on N
candidates of whatever tasks are waiting. RPC calls release the GIL: the threads wait
on their servers in parallel.

Faults, and what they cost:

* a server that dies mid-measurement (killed, its session broken) or whose candidate
  overruns its deadline (a hung device) costs only that candidate: it is re-queued once,
  for another server, and fails for good (error 4, runtime, or 7, timeout) only if it
  fails there too (a failure on a server since dropped or found hung does not count). A result is delivered once per candidate: a hung slot that answers
  after its deadline is ignored;
* a server that fails ``max_failures`` times in a row is dropped: its slot ends and a
  session the tracker hands out to it later is parked (held idle, so that this farm is
  not given it again) until the farm closes;
* the tracker restarting: sessions already open go on (they do not pass through the
  tracker); slots that need a new session retry until it is back (servers re-register
  by themselves). Only when no server could be reached for ``tracker_timeout`` seconds
  do the waiting candidates fail, with an error that says so;
* servers that register later (replacements) get slots as they appear.

Sessions are asked for with ``session_timeout`` (the server ends a session that lives
longer, which frees a server wedged by a hanging kernel) and are renewed before it.
"""
from __future__ import annotations

import collections
import json
import logging
import os
import socket
import struct
import tempfile
import threading
import time
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple

from .._checks import check_int, check_number, check_positive_int
from ..errors import AdatuneError, ArgumentError
from ..measure.measure import MeasureErrorNo
from ..measure.rpc import parse_address

logger = logging.getLogger(__name__)

__all__ = ["Farm", "FarmError", "FarmJob", "ServerStats", "session_alive", "status_dir", "tracker_summary"]


class FarmError(AdatuneError, RuntimeError):
    """The farm cannot measure: no server reachable, or it was closed."""


@dataclass
class FarmJob:
    """One candidate for the farm.

    ``run(session, job)`` measures it on an open session and returns the result dict
    (``{"error_no": 0, "costs": [...]}`` or ``{"error_no": n, "msg": ...}``); an exception
    it raises is the server's fault (the candidate is re-queued once). ``deadline`` is
    the seconds it may take on a server.
    """

    run: Callable[[Any, "FarmJob"], Dict[str, Any]]
    payload: Tuple[Any, ...]
    deadline: float
    label: str = ""
    tried: List[str] = field(default_factory=list)
    future: Future = field(default_factory=Future)
    submitted: float = field(default_factory=time.monotonic)


@dataclass
class ServerStats:
    """What the farm saw of one server (by ``host:port``)."""

    address: str
    state: str = "idle"  # idle | busy | released (no session: no work) | dropped | lost
    measured: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    busy_seconds: float = 0.0
    in_flight: str = ""
    last_error: str = ""


class _Slot:
    def __init__(self, farm: "Farm", number: int):
        self.farm = farm
        self.number = number
        self.abandoned = False
        self.retired = False
        self.address = ""
        self.job: Optional[FarmJob] = None
        self.started = 0.0
        self.tracker: Any = None
        self.thread = threading.Thread(target=self._loop, name=f"farm-slot-{number}", daemon=True)

    # ------------------------------------------------------------------ sessions
    def _request(self) -> Tuple[Any, str]:
        """A session to a server the tracker hands out, and that server's address."""
        from tvm import rpc
        from tvm.rpc import base

        farm = self.farm
        if self.tracker is None:
            self.tracker = _tracker_socket(farm.host, farm.port)
            self.tracker.settimeout(None)  # the answer comes when a server is free
        base.sendjson(self.tracker, [base.TrackerCode.REQUEST, farm.key, "", farm.priority])
        value = base.recvjson(self.tracker)
        if value[0] != base.TrackerCode.SUCCESS:
            raise RuntimeError(f"tracker refused the request: {value!r}")
        url, port, matchkey = value[1]
        session = rpc.connect(url, port, matchkey, farm.session_timeout)
        return session, f"{url}:{port}"

    def _open(self) -> Tuple[Any, str]:
        farm = self.farm
        delay = 0.2
        while not farm._closing and not self.abandoned:
            try:
                session, address = self._request()
            except Exception as err:  # noqa: BLE001 - tracker down or server gone: retry
                self._drop_tracker()
                farm._note_unreachable(err)
                time.sleep(delay)
                delay = min(2 * delay, 2.0)
                continue
            if farm._is_dropped(address):
                farm._park(session)
                continue
            farm._note_reachable()
            return session, address
        return None, ""

    def _drop_tracker(self) -> None:
        sock, self.tracker = self.tracker, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked on it
            except OSError:
                pass
            sock.close()

    # ------------------------------------------------------------------ loop
    def _loop(self) -> None:
        farm = self.farm
        session, opened, idle_since = None, 0.0, 0.0
        try:
            while not farm._closing and not self.abandoned and not self.retired:
                if session is None:
                    if not farm._wait_for_work(self):
                        break
                    session, self.address = self._open()
                    if session is None:
                        break
                    opened = idle_since = time.monotonic()
                    farm._server(self.address).state = "idle"
                job = farm._take(self)
                if job is None:
                    # Idle: let the server go when there has been no work for a while
                    # (other clients of the key, MetaSchedule rounds, get it), renew the
                    # session before the server ends it, and notice a server that died
                    # between candidates before a candidate is lost on it.
                    now = time.monotonic()
                    if (now - idle_since > farm.idle_release or now - opened > farm._renew_after
                            or not session_alive(session)):
                        farm._release(self)
                        session = None
                    continue
                try:
                    value = job.run(session, job)
                except Exception as err:  # noqa: BLE001 - the server's fault
                    farm._failed(self, job, f"{type(err).__name__}: {err}", MeasureErrorNo.RUNTIME_DEVICE)
                    session = None
                else:
                    farm._done(self, job, value)
                    idle_since = time.monotonic()
                    if idle_since - opened > farm._renew_after:
                        session = None
        finally:
            self._drop_tracker()
            farm._slot_ended(self)


class Farm:
    """Measure candidates on every server registered under ``key`` with a tracker.

    Parameters
    ----------
    tracker : str
        ``host:port`` of the TVM RPC tracker.
    key : str
        Device key the servers registered under.
    max_failures : int, default 3
        Consecutive failures after which a server is dropped.
    requeue : int, default 1
        Times a candidate whose server failed is tried again on another server (failures
        on servers then dropped or found hung do not count; at most ``requeue + 2``
        tries in all).
    session_timeout : float, default 300
        Seconds a session may live (the server enforces it); renewed at 80 %.
    tracker_timeout : float, default 120
        Seconds without reaching any server after which waiting candidates fail.
    max_servers : int, optional
        Use at most this many servers (default: every one registered).
    priority : int, default 1
        Priority of this farm's requests at the tracker.
    idle_release : float, default 5
        Seconds without a candidate after which a slot lets its server go (the tracker
        can then give it to other clients) until work comes again.
    status_path : str, optional
        JSON file the farm's state is written to every second while it runs (read by
        ``adatune farm status``); default: a file per process under
        :func:`status_dir`.

    Use it as a context manager, or call :meth:`close`.
    """

    def __init__(self, tracker: str, key: str, *, max_failures: int = 3, requeue: int = 1,
                 session_timeout: float = 300.0, tracker_timeout: float = 120.0,
                 max_servers: Optional[int] = None, priority: int = 1,
                 idle_release: float = 5.0, status_path: Optional[str] = None):
        self.host, self.port = parse_address(tracker, "Farm: tracker")
        if not isinstance(key, str) or not key:
            raise ArgumentError(f"Farm: key must name the device key the servers registered "
                                f"under, got {key!r}")
        self.key = key
        self.max_failures = check_positive_int(max_failures, "max_failures", "Farm")
        self.requeue = check_int(requeue, "requeue", "Farm", low=0)
        self.session_timeout = check_number(session_timeout, "session_timeout", "Farm", low=1.0)
        self.tracker_timeout = check_number(tracker_timeout, "tracker_timeout", "Farm", low=0.0,
                                            low_open=True)
        self.max_servers = check_positive_int(max_servers, "max_servers", "Farm", allow_none=True)
        self.priority = check_int(priority, "priority", "Farm")
        self.idle_release = check_number(idle_release, "idle_release", "Farm", low=0.0)
        self._renew_after = 0.8 * self.session_timeout
        self._lock = threading.Condition()
        self._queue: Deque[FarmJob] = collections.deque()
        self._slots: List[_Slot] = []
        self._servers: Dict[str, ServerStats] = {}
        self._parked: List[Any] = []
        self._closing = False
        self._unreachable_since: Optional[float] = None
        self._last_error = ""
        self.counts = collections.Counter()  # submitted, completed, requeued, failed, timeouts
        self.started = time.time()
        self.status_path = status_path or os.path.join(
            status_dir(), f"{self.host}_{self.port}_{key}_{os.getpid()}_{id(self)}.json")
        self._registered = self._count_registered(required=True)
        self._status_lock = threading.Lock()
        self._watcher = threading.Thread(target=self._watch, name="farm-watch", daemon=True)
        self._watcher.start()

    # ------------------------------------------------------------------ public
    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def n_servers(self) -> int:
        """Servers measuring or ready to (registered, minus those dropped)."""
        with self._lock:
            return max(1, self._target_slots())

    def submit(self, job: FarmJob) -> Future:
        """Queue ``job``; its future resolves to the result dict (never raises for a
        candidate's failure; raises :class:`FarmError` when the farm cannot measure)."""
        with self._lock:
            if self._closing:
                raise FarmError(f"the farm on {self.address} is closed")
            self.counts["submitted"] += 1
            self._queue.append(job)
            self._fill()
            self._lock.notify_all()
        return job.future

    def servers(self) -> List[ServerStats]:
        with self._lock:
            return [ServerStats(**asdict(s)) for s in self._servers.values()]

    def snapshot(self) -> Dict[str, Any]:
        """The farm's state: servers, queue and counts (what the status file holds)."""
        with self._lock:
            return {"tracker": self.address, "key": self.key, "pid": os.getpid(),
                    "host": socket.gethostname(), "started": self.started, "time": time.time(),
                    "queued": len(self._queue),
                    "in_flight": sum(1 for s in self._slots if s.job is not None and not s.abandoned),
                    "registered": self._registered, "counts": dict(self.counts),
                    "servers": [asdict(s) for s in self._servers.values()],
                    "last_error": self._last_error}

    def close(self) -> None:
        """Stop every slot; candidates still queued fail with :class:`FarmError`."""
        with self._lock:
            if self._closing:
                return
            self._closing = True
            pending = list(self._queue)
            self._queue.clear()
            self._lock.notify_all()
        for job in pending:
            _resolve(job, exc=FarmError(f"the farm on {self.address} was closed before it ran"))
        for slot in list(self._slots):
            slot._drop_tracker()  # unblocks a slot waiting for the tracker
        for slot in list(self._slots):
            slot.thread.join(timeout=2.0)
        self._parked.clear()
        with self._status_lock:  # waits out a write in progress; later ones see _closing
            try:
                os.unlink(self.status_path)
            except OSError:
                pass

    def __enter__(self) -> "Farm":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ slots
    def _count_registered(self, required: bool = False) -> int:
        """Servers registered under the key (busy or not), from the tracker's summary."""
        try:
            summary = tracker_summary(self.host, self.port)
        except Exception as err:  # noqa: BLE001
            if required:
                raise FarmError(f"cannot reach the RPC tracker at {self.address}: {err}") from None
            return self._registered
        n = sum(1 for info in summary.get("server_info", []) if info.get("key") == f"server:{self.key}")
        if required and n == 0:
            raise FarmError(f"no RPC server is registered under key {self.key!r} with the tracker "
                            f"at {self.address}")
        return n

    def _target_slots(self) -> int:
        dropped = sum(1 for s in self._servers.values() if s.state == "dropped")
        n = self._registered - dropped
        return min(n, self.max_servers) if self.max_servers else n

    def _live_slots(self) -> List[_Slot]:
        return [s for s in self._slots if not s.abandoned and not s.retired]

    def _fill(self) -> None:
        """Start slots up to the number of usable servers (called with the lock held)."""
        while not self._closing and len(self._live_slots()) < self._target_slots():
            slot = _Slot(self, len(self._slots))
            self._slots.append(slot)
            slot.thread.start()

    def _slot_ended(self, slot: _Slot) -> None:
        with self._lock:
            if slot in self._slots:
                self._slots.remove(slot)

    def _server(self, address: str) -> ServerStats:
        with self._lock:
            if address not in self._servers:
                self._servers[address] = ServerStats(address)
            return self._servers[address]

    def _is_dropped(self, address: str) -> bool:
        with self._lock:
            s = self._servers.get(address)
            return s is not None and s.state == "dropped"

    def _park(self, session: Any) -> None:
        with self._lock:
            self._parked.append(session)
        time.sleep(0.1)

    # ------------------------------------------------------------------ jobs
    def _wait_for_work(self, slot: _Slot) -> bool:
        """Block a slot without a session until a candidate is queued; False on close."""
        with self._lock:
            while not self._closing and not slot.abandoned and not self._queue:
                self._lock.wait(0.5)
            return not self._closing and not slot.abandoned

    def _release(self, slot: _Slot) -> None:
        with self._lock:
            s = self._servers.get(slot.address)
            if s is not None and s.state == "idle":
                s.state = "released"

    def _take(self, slot: _Slot) -> Optional[FarmJob]:
        """The next job this slot's server may run (one that has not failed on it while
        another server could take it); None after a short wait without one."""
        with self._lock:
            deadline = time.monotonic() + 0.5
            while not self._closing and not slot.abandoned:
                others = any(s.address and s.address != slot.address for s in self._live_slots())
                for job in self._queue:
                    if slot.address not in job.tried or not others:
                        self._queue.remove(job)
                        slot.job, slot.started = job, time.monotonic()
                        s = self._server(slot.address)
                        s.state, s.in_flight = "busy", job.label
                        return job
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._lock.wait(left)
            return None

    def _done(self, slot: _Slot, job: FarmJob, value: Dict[str, Any]) -> None:
        with self._lock:
            if slot.abandoned:  # past its deadline: the job was re-queued or failed already
                return
            slot.job = None
            s = self._servers[slot.address]
            s.busy_seconds += time.monotonic() - slot.started
            s.state, s.in_flight = "idle", ""
            s.measured += 1
            s.consecutive_failures = 0
            self.counts["completed"] += 1
        _resolve(job, value={**value, "server": slot.address})

    def _failed(self, slot: _Slot, job: FarmJob, message: str, error_no: int,
                timed_out: bool = False) -> None:
        """``job`` failed on ``slot``'s server through no fault shown to be its own."""
        with self._lock:
            if slot.abandoned and not timed_out:
                return
            slot.job = None
            s = self._servers[slot.address]
            s.busy_seconds += time.monotonic() - slot.started
            s.in_flight = ""
            s.failures += 1
            s.consecutive_failures += 1
            s.last_error = message
            s.state = "lost" if timed_out else "idle"  # a hung server is not handed out again
            if s.consecutive_failures >= self.max_failures:
                s.state = "dropped"
                slot.retired = True
                logger.warning("farm %s: dropped server %s after %d failures in a row (last: %s)",
                               self.address, slot.address, s.consecutive_failures, message)
            job.tried.append(slot.address)
            # Failures on servers since found dropped or hung were theirs, not the
            # candidate's: they do not count against its re-queue (within a bound, so
            # that a candidate that hangs every server it meets still ends).
            own = sum(1 for a in job.tried if self._servers[a].state not in ("dropped", "lost"))
            if own <= self.requeue and len(job.tried) <= self.requeue + 2 and not self._closing:
                self.counts["requeued"] += 1
                self._queue.appendleft(job)
                self._lock.notify_all()
                job = None
            else:
                self.counts["failed"] += 1
            self._fill()
        if job is not None:
            _resolve(job, value={"error_no": int(error_no), "server": slot.address,
                                 "msg": f"failed on {', '.join(job.tried)}: {message}"})

    # ------------------------------------------------------------------ watching
    def _note_unreachable(self, err: Exception) -> None:
        with self._lock:
            self._last_error = f"{type(err).__name__}: {err}"
            if self._unreachable_since is None:
                self._unreachable_since = time.monotonic()

    def _note_reachable(self) -> None:
        with self._lock:
            self._unreachable_since = None

    def _watch(self) -> None:
        """Deadlines, new servers, the tracker's absence, and the status file."""
        last_poll = last_status = 0.0
        while not self._closing:
            time.sleep(0.05)
            now = time.monotonic()
            with self._lock:
                for slot in self._live_slots():
                    job = slot.job
                    if job is not None and now - slot.started > job.deadline:
                        slot.abandoned = True  # its thread may never come back
                        self.counts["timeouts"] += 1
                        self._failed(slot, job, f"no answer within {job.deadline:.1f} s",
                                     MeasureErrorNo.RUN_TIMEOUT, timed_out=True)
                stuck = (self._queue and self._unreachable_since is not None
                         and not any(s.job is not None for s in self._live_slots())
                         and now - self._unreachable_since > self.tracker_timeout)
                if stuck:
                    pending = list(self._queue)
                    self._queue.clear()
                    self.counts["failed"] += len(pending)
                else:
                    pending = []
            for job in pending:
                _resolve(job, exc=FarmError(
                    f"no server under key {self.key!r} reachable through the tracker at "
                    f"{self.address} for {self.tracker_timeout:.0f} s (last error: {self._last_error})"))
            if now - last_poll > 1.0:
                last_poll = now
                n = self._count_registered()
                with self._lock:
                    self._registered = n
                    self._fill()
            if now - last_status > 1.0:
                last_status = now
                self._write_status()

    def _write_status(self) -> None:
        with self._status_lock:  # close() unlinks under it: no file reappears after close
            if self._closing:
                return
            try:
                os.makedirs(os.path.dirname(self.status_path), exist_ok=True)
                tmp = self.status_path + ".tmp"
                with open(tmp, "w") as f:
                    json.dump(self.snapshot(), f)
                os.replace(tmp, self.status_path)
            except OSError as err:
                logger.debug("farm status file %s not written: %s", self.status_path, err)


def _tracker_socket(host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """A connection to the tracker (without TVM's minute of retries when it is down)."""
    from tvm.rpc import base

    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        sock.sendall(struct.pack("<i", base.RPC_TRACKER_MAGIC))
        if struct.unpack("<i", base.recvall(sock, 4))[0] != base.RPC_TRACKER_MAGIC:
            raise RuntimeError(f"{host}:{port} is not a TVM RPC tracker")
    except BaseException:
        sock.close()
        raise
    return sock


def tracker_summary(host: str, port: int, timeout: float = 5.0) -> Dict[str, Any]:
    """The tracker's summary (``queue_info``, ``server_info``), as TVM's
    ``TrackerSession.summary`` returns it."""
    from tvm.rpc import base

    with _tracker_socket(host, port, timeout) as sock:
        base.sendjson(sock, [base.TrackerCode.SUMMARY])
        value = base.recvjson(sock)
    if value[0] != base.TrackerCode.SUCCESS:
        raise RuntimeError(f"the tracker at {host}:{port} answered {value!r}")
    return value[1]


def session_alive(session: Any) -> bool:
    """Whether an RPC session still answers (one cheap round trip)."""
    try:
        session.get_function("runtime.GetDeviceAttr")
        return True
    except Exception:  # noqa: BLE001 - the connection is gone
        return False


def status_dir() -> str:
    """Where running farms write their status (``ADATUNE_FARM_STATUS_DIR`` or a
    per-user folder in the temporary directory)."""
    return os.environ.get("ADATUNE_FARM_STATUS_DIR") or os.path.join(
        tempfile.gettempdir(), f"adatune-farm-{os.getuid() if hasattr(os, 'getuid') else 'user'}")


def _resolve(job: FarmJob, value: Any = None, exc: Optional[BaseException] = None) -> None:
    """Complete ``job``'s future once (a late second answer is dropped)."""
    if job.future.done():
        return
    try:
        if exc is not None:
            job.future.set_exception(exc)
        else:
            job.future.set_result(value)
    except Exception:  # noqa: BLE001 - InvalidStateError: completed concurrently
        pass

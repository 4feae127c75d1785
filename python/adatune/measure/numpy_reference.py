"""An honest numpy/OpenBLAS reference: numpy's matmul timed in a clean child process.

Some machines set ``OPENBLAS_CORETYPE`` (and ``OPENBLAS_L2_SIZE``) in the environment
for old OpenBLAS builds.  A current OpenBLAS then runs the kernels of the named core,
e.g. ``Haswell`` (AVX2) on an AVX-512 machine, at about half its speed.  Timing numpy
in-process would compare a tuned kernel with that handicapped numpy.  Here numpy runs in
a child interpreter whose environment is the parent's minus those variables, so OpenBLAS
picks its kernels from the CPU as it does on a plain machine; the parent's
``os.environ`` is left as it is.

Threads: ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` (and ``GOTO_NUM_THREADS``) are
passed on unchanged, so a user's choice is kept; when none is set, OpenBLAS uses every
CPU, as it does in any process.  ``threads=`` sets ``OPENBLAS_NUM_THREADS`` in the child
explicitly.

The child speaks a line-based protocol: one JSON request per line on its stdin, one JSON
reply per line on its stdout.  Every reply has a deadline, so a hung or dead child gives
a :class:`NumpyReferenceError` naming it, never a hang.

Examples
--------
>>> with NumpyReference() as ref:                       # doctest: +SKIP
...     tvm_s, np_s = alternate(5, tvm_timer, lambda: ref.time_matmul(512, 512, 512))
...     print(ref.describe(), statistics.median(np_s))
numpy 2.4.6, OpenBLAS 0.3.31.188.0, kernel SkylakeX, 2 threads (OPENBLAS_CORETYPE,
OPENBLAS_L2_SIZE removed) 0.00071
"""
from __future__ import annotations

import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Mapping, NoReturn, Optional, Sequence

from .._checks import check_bool, check_callable, check_number, check_positive_int
from ..errors import AdatuneError, ArgumentError

__all__ = ["NumpyReference", "NumpyReferenceError", "alternate", "reference_env",
           "HANDICAP_VARIABLES", "THREAD_VARIABLES"]

logger = logging.getLogger(__name__)

#: Variables that force OpenBLAS onto another core's kernels or cache sizes.
HANDICAP_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: Thread-count variables passed on to the child unchanged.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "GOTO_NUM_THREADS")
_UNKNOWN_KERNEL = "unknown (threadpoolctl not installed)"


class NumpyReferenceError(AdatuneError, RuntimeError):
    """The numpy reference child hung, died, or failed a request; the message names it."""


def reference_env(base: Optional[Mapping[str, str]] = None, *,
                  remove: Sequence[str] = HANDICAP_VARIABLES,
                  threads: Optional[int] = None) -> Dict[str, str]:
    """The child's environment: ``base`` (default ``os.environ``) without ``remove``.

    Parameters
    ----------
    base : mapping, optional
        The environment to start from; not modified.
    remove : sequence of str
        Variables to drop (default :data:`HANDICAP_VARIABLES`; ``()`` keeps them).
    threads : int, optional
        If given, ``OPENBLAS_NUM_THREADS`` for the child; else the thread variables of
        ``base`` pass unchanged (none set: OpenBLAS uses every CPU).

    Returns
    -------
    dict
        A new environment mapping.
    """
    env = dict(os.environ if base is None else base)
    for name in remove:
        env.pop(name, None)
    if threads is not None:
        env["OPENBLAS_NUM_THREADS"] = str(check_positive_int(threads, "threads", "reference_env"))
    # The child must import adatune from wherever the parent does (an uninstalled checkout).
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def alternate(rounds: int, *timers: Callable[[], float], settle: float = 0.0) -> List[List[float]]:
    """Run one sample of each timer in turn, round after round.

    Background load and clock drift then hit every timer alike; report the median of
    each timer's samples.

    Parameters
    ----------
    rounds : int
        Rounds (samples per timer), >= 1.
    *timers : callable
        Zero-argument callables returning seconds.
    settle : float
        Seconds to sleep before each timer, so that threads another library left
        spinning (OpenBLAS workers spin about 0.1 s after a call) go to sleep first.

    Returns
    -------
    list of list of float
        ``samples[i][r]``: timer ``i``'s result in round ``r``.
    """
    rounds = check_positive_int(rounds, "rounds", "alternate")
    settle = check_number(settle, "settle", "alternate", low=0.0)
    for i, timer in enumerate(timers):
        check_callable(timer, f"timers[{i}]", "alternate")
    samples: List[List[float]] = [[] for _ in timers]
    for _ in range(rounds):
        for timer, out in zip(timers, samples):
            if settle:
                time.sleep(settle)
            out.append(float(timer()))
    return samples


class NumpyReference:
    """numpy's matmul in a child process without the OpenBLAS overrides.

    Parameters
    ----------
    remove : sequence of str
        Variables removed from the child's environment (default
        :data:`HANDICAP_VARIABLES`; ``()`` keeps the parent's environment, e.g. to
        measure the handicap).
    threads : int, optional
        ``OPENBLAS_NUM_THREADS`` for the child; default: the parent's thread variables
        unchanged, all CPUs when none is set.
    timeout : float
        Seconds to wait for each reply, beyond the requested timing time.
    python : str
        The interpreter to run (default: this one).

    Attributes
    ----------
    pid : int
        The child's process id.

    Raises
    ------
    NumpyReferenceError
        If the child does not start and answer within ``timeout``.
    """

    def __init__(self, *, remove: Sequence[str] = HANDICAP_VARIABLES,
                 threads: Optional[int] = None, timeout: float = 60.0,
                 python: str = sys.executable):
        self._timeout = check_number(timeout, "timeout", "NumpyReference", low=0.0, low_open=True)
        remove = tuple(remove)
        self._removed = [name for name in remove if name in os.environ]
        self._kept = {name: os.environ[name] for name in HANDICAP_VARIABLES
                      if name in os.environ and name not in remove}
        env = reference_env(remove=remove, threads=threads)
        # stderr to a file, not a pipe: nothing has to drain it, and its tail explains a crash.
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            [python, "-m", "adatune.measure.numpy_reference"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr, env=env, close_fds=True)
        self.pid = self._proc.pid
        self._buf = b""
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._proc.stdout, selectors.EVENT_READ)
        self._info: Optional[Dict[str, Any]] = None
        logger.debug("numpy reference child pid %d, removed %s", self.pid, self._removed)
        try:
            self._info = self._request({"op": "info"})
        except BaseException:
            self.close()
            raise
        self._info.update(removed=list(self._removed), kept=dict(self._kept), pid=self.pid)

    # -- public -----------------------------------------------------------------------
    @property
    def info(self) -> Dict[str, Any]:
        """What runs in the child.

        Keys: ``numpy`` (version), ``blas`` (threadpoolctl's BLAS entry: ``internal_api``,
        ``version``, ``architecture``, ``num_threads``; ``None`` without threadpoolctl),
        ``kernel`` (the architecture, or ``"unknown (threadpoolctl not installed)"``),
        ``threads`` (int or ``None``), ``threads_env`` (the thread variables the child
        saw), ``handicap_env`` (the :data:`HANDICAP_VARIABLES` the child saw),
        ``removed`` (variables set here and removed there), ``kept`` (handicap variables
        set here and kept there, with values), ``pid``.
        """
        return dict(self._info or {})

    def describe(self) -> str:
        """One line, e.g. ``numpy 2.4.6, OpenBLAS 0.3.31, kernel SkylakeX, 2 threads
        (OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE removed)``."""
        info = self._info or {}
        blas = info.get("blas") or {}
        parts = [f"numpy {info.get('numpy', '?')}"]
        if blas:
            name = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS"}.get(
                blas.get("internal_api"), str(blas.get("internal_api")))
            parts.append(f"{name} {blas.get('version')}")
        parts.append(f"kernel {info.get('kernel', _UNKNOWN_KERNEL)}")
        threads = info.get("threads")
        parts.append(f"{threads} thread{'s' if threads != 1 else ''}" if threads
                     else "threads unknown")
        env = []
        if self._removed:
            env.append(", ".join(self._removed) + " removed")
        if self._kept:
            env.append(", ".join(f"{k}={v}" for k, v in self._kept.items()) + " kept")
        return ", ".join(parts) + (f" ({'; '.join(env)})" if env else " (no OpenBLAS override set)")

    def time_matmul(self, m: int, n: int, k: int, *, transpose_b: bool = True,
                    min_seconds: float = 0.2) -> float:
        """Seconds per call of ``a @ b.T`` (or ``a @ b``) in the child; one timing round.

        ``a`` is ``(m, k)``, ``b`` is ``(n, k)`` with ``transpose_b`` (the dense layout)
        else ``(k, n)``; float32, random, created once per shape and cached in the
        child; the result goes to a preallocated output, as a TVM kernel's does.  One
        warm-up call, then enough calls to last ``min_seconds``.

        Raises
        ------
        NumpyReferenceError
            If the child hangs (no reply within ``min_seconds`` + ``timeout``), has
            died, or fails the request.
        """
        owner = "NumpyReference.time_matmul"
        req = {"op": "matmul", "m": check_positive_int(m, "m", owner),
               "n": check_positive_int(n, "n", owner), "k": check_positive_int(k, "k", owner),
               "transpose_b": check_bool(transpose_b, "transpose_b", owner),
               "min_seconds": check_number(min_seconds, "min_seconds", owner, low=0.0)}
        # The deadline allows the requested time twice over (the last batch may overrun it).
        return float(self._request(req, extra=2.0 * req["min_seconds"]))

    def close(self) -> None:
        """Stop the child: end its stdin, then kill it by PID if it does not exit at once."""
        self._shutdown(grace=1.0)

    def __enter__(self) -> "NumpyReference":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown; nothing left to report to
            pass

    # -- protocol ---------------------------------------------------------------------
    def _name(self) -> str:
        return f"numpy reference child (pid {self.pid})"

    def _stderr_tail(self, limit: int = 800) -> str:
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            return ""
        return f"; its stderr ends: {text[-limit:]}" if text else ""

    def _shutdown(self, grace: float) -> None:
        proc = getattr(self, "_proc", None)
        if proc is None:
            return
        self._proc = None
        try:
            if proc.poll() is None and grace > 0:
                try:
                    proc.stdin.close()  # EOF: a healthy child exits by itself
                    proc.wait(timeout=grace)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            if proc.poll() is None:
                try:
                    os.kill(proc.pid, signal.SIGKILL)  # SIGKILL also ends a stopped child
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5.0)
        finally:
            for stream in (proc.stdin, proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            self._selector.close()
            self._stderr.close()

    def _fail(self, what: str) -> NoReturn:
        """Kill the child (if still there) and raise an error naming it and ``what``."""
        tail = self._stderr_tail()
        proc = self._proc
        self._shutdown(grace=0.0)
        code = f" (exit code {proc.returncode})" if proc is not None else ""
        raise NumpyReferenceError(f"{self._name()} {what}{code}{tail}")

    def _request(self, req: Dict[str, Any], extra: float = 0.0) -> Any:
        op = req["op"]
        if self._proc is None:
            raise NumpyReferenceError(f"{self._name()} is closed; cannot run {op!r}")
        if self._proc.poll() is not None:
            self._fail(f"had exited before {op!r}")
        try:
            self._proc.stdin.write((json.dumps(req) + "\n").encode())
            self._proc.stdin.flush()
        except OSError as err:  # BrokenPipeError: it died since the poll
            self._fail(f"is gone ({err}) before {op!r}")
        self._sent = time.monotonic()
        line = self._read_line(self._sent + self._timeout + extra, op)
        try:
            reply = json.loads(line)
        except ValueError:
            self._fail(f"sent a malformed reply to {op!r}: {line[:200]!r}; killed it")
        if not reply.get("ok"):
            raise NumpyReferenceError(f"{self._name()} failed {op!r}: {reply.get('error')}")
        return reply["value"]

    def _read_line(self, deadline: float, op: str) -> str:
        # Raw reads through a selector, not readline(): readline blocks past any deadline.
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self._selector.select(timeout=left):
                self._fail(f"did not reply to {op!r} within {deadline - self._sent:.1f} s; "
                           "killed it")
            chunk = os.read(fd, 65536)
            if not chunk:  # EOF: the child died mid-request
                try:
                    self._proc.wait(timeout=5.0)
                except subprocess.TimeoutExpired:
                    pass
                self._fail(f"exited before replying to {op!r}")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode(errors="replace")


# -- the child --------------------------------------------------------------------------
def _child_info() -> Dict[str, Any]:
    import numpy as np

    info: Dict[str, Any] = {"numpy": np.__version__, "blas": None, "kernel": _UNKNOWN_KERNEL,
                            "threads": None,
                            "threads_env": {k: os.environ[k] for k in THREAD_VARIABLES
                                            if k in os.environ},
                            # What the child itself sees: the proof that the removal worked.
                            "handicap_env": {k: os.environ[k] for k in HANDICAP_VARIABLES
                                             if k in os.environ}}
    try:
        import threadpoolctl
    except ImportError:
        return info
    blas = [e for e in threadpoolctl.threadpool_info() if e.get("user_api") == "blas"]
    if blas:
        entry = {k: blas[0].get(k) for k in ("internal_api", "version", "architecture",
                                             "num_threads")}
        info.update(blas=entry, kernel=entry.get("architecture") or "unknown",
                    threads=entry.get("num_threads"))
    else:
        info["kernel"] = "unknown (threadpoolctl found no BLAS)"
    return info


def _child_matmul(cache: Dict[tuple, Any], m: int, n: int, k: int, transpose_b: bool,
                  min_seconds: float) -> float:
    import numpy as np

    key = (m, n, k, transpose_b)
    if key not in cache:
        rng = np.random.default_rng(0)
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((n, k) if transpose_b else (k, n), dtype=np.float32)
        cache[key] = (a, b.T if transpose_b else b, np.empty((m, n), dtype=np.float32))
    a, b, out = cache[key]
    np.matmul(a, b, out=out)  # warm-up: page faults, thread pool wake-up
    total, calls, batch = 0.0, 0, 1
    while True:
        t0 = time.perf_counter()
        for _ in range(batch):
            np.matmul(a, b, out=out)
        total += time.perf_counter() - t0
        calls += batch
        if total >= min_seconds:
            return total / calls
        # Batches sized from the rate so far, so the clock is read rarely on tiny shapes.
        per_call = max(total / calls, 1e-9)
        batch = max(1, min(2 * calls, int((min_seconds - total) / per_call) + 1))


def _child_main() -> int:
    # Protocol on a private copy of stdout; fd 1 goes to stderr so that a stray print
    # (from numpy or a library) cannot corrupt a reply.
    proto = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    cache: Dict[tuple, Any] = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "info":
                value: Any = _child_info()
            elif op == "matmul":
                value = _child_matmul(cache, int(req["m"]), int(req["n"]), int(req["k"]),
                                      bool(req["transpose_b"]), float(req["min_seconds"]))
            elif op == "quit":
                return 0
            else:
                raise ArgumentError(f"unknown op {op!r}")
            reply = {"ok": True, "value": value}
        except Exception as err:  # noqa: BLE001 - reported to the parent, the child keeps serving
            reply = {"ok": False, "error": f"{type(err).__name__}: {err}"}
        proto.write(json.dumps(reply) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(_child_main())

"""A TVM RPC server whose "device" answers from a recorded search space.

For scale and fault tests of a farm, and for its benchmark: dozens of these register with
a real tracker on 127.0.0.1 without needing dozens of CPUs or boards. A measurement of
config ``i`` sleeps ``scale`` times the cost recorded for ``i`` (an exhaustive log or a
Kernel Tuner cache, see :class:`adatune.measure.ReplaySpace`) and returns that cost; a
config recorded as failed fails with its error code. It is a test and benchmark tool: it
tunes nothing.

Run it as ``python -m adatune.farm.sim_server --tracker H:P --key K --space FILE``
(``adatune farm sim-server`` is the same). Faults for tests: ``--fail`` (every measurement
raises), ``--hang-after N`` (the N+1-th measurement never returns, as a hung device).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from typing import Any, Optional, Sequence

logger = logging.getLogger(__name__)

#: The remote function a simulated device answers with (``FarmJob.simulated``).
MEASURE_FUNC = "adatune.sim.measure"
#: What a simulated server says it is (``adatune.process_info`` on a real one).
INFO_FUNC = "adatune.sim.info"


class SimulatedDevice:
    """Answers ``measure(index)`` from a recorded space, sleeping ``scale`` x its cost.

    Parameters
    ----------
    space : ReplaySpace or path
    scale : float
        Seconds slept per recorded second of run time.
    fail : bool
        Every measurement raises (a broken board).
    hang_after : int, optional
        Measurements answered before the device hangs for good.
    """

    def __init__(self, space: Any, scale: float = 1.0, fail: bool = False,
                 hang_after: Optional[int] = None):
        from .._checks import check_int, check_number
        from ..measure.replay import ReplaySpace

        self.space = space if isinstance(space, ReplaySpace) else ReplaySpace.load(space)
        self.scale = check_number(scale, "scale", "SimulatedDevice", low=0.0)
        self.fail = bool(fail)
        self.hang_after = check_int(hang_after, "hang_after", "SimulatedDevice", low=0,
                                    allow_none=True)
        self.measured = 0

    def measure(self, index: int) -> str:
        """JSON ``{"error_no", "cost", "msg"}`` for config ``index``, after sleeping."""
        if self.fail:
            raise RuntimeError("simulated device failure (--fail)")
        if self.hang_after is not None and self.measured >= self.hang_after:
            while True:  # a hung device: the session never answers
                time.sleep(3600)
        self.measured += 1
        entry = self.space.entries.get(int(index))
        if entry is None:
            return json.dumps({"error_no": 1, "cost": None,
                               "msg": f"config {index} is not recorded in {self.space.source}"})
        if not entry.ok:
            return json.dumps({"error_no": entry.error_no, "cost": None, "msg": entry.message})
        time.sleep(entry.cost * self.scale)
        return json.dumps({"error_no": 0, "cost": entry.cost, "msg": ""})


def serve(device: SimulatedDevice, tracker: str, key: str, host: str = "127.0.0.1",
          port: int = 9090, port_end: Optional[int] = None) -> None:
    """Register with ``tracker`` under ``key`` and serve ``device`` until killed.

    TVM's server forks a process per session from this one, so the functions registered
    here (and the loaded space) are there in every session.
    """
    import tvm_ffi
    from tvm.rpc.server import PopenRPCServerState

    from ..measure.rpc import parse_address

    parse_address(tracker, "tracker")
    tvm_ffi.register_global_func(MEASURE_FUNC, device.measure, override=True)
    tvm_ffi.register_global_func(INFO_FUNC, lambda: f"{os.getpid()}:{os.getppid()}:simulated",
                                 override=True)
    host_t, port_t = tracker.rsplit(":", 1)
    state = PopenRPCServerState(host, port, port_end or port + 100, tracker_addr=(host_t, int(port_t)),
                                key=key, silent=True)
    logger.info("simulated device on %s:%d under key %r", host, state.port, key)
    print(f"adatune sim-server: {host}:{state.port} key={key} space={device.space.source}",
          file=sys.stderr, flush=True)
    state.thread.join()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tracker", required=True, help="tracker to register with (host:port)")
    p.add_argument("--key", required=True, help="device key to register under")
    p.add_argument("--space", required=True, help="recorded space: exhaustive AutoTVM log or Kernel Tuner cache")
    p.add_argument("--scale", type=float, default=1.0,
                   help="seconds slept per recorded second of run time (default 1)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9090, help="first port to try")
    p.add_argument("--fail", action="store_true", help="every measurement fails (fault tests)")
    p.add_argument("--hang-after", type=int, default=None,
                   help="hang for good after this many measurements (fault tests)")


def run(args: argparse.Namespace) -> int:
    device = SimulatedDevice(args.space, args.scale, args.fail, args.hang_after)
    serve(device, args.tracker, args.key, args.host, args.port)
    return 0


def main(argv: Sequence[str] = ()) -> int:
    p = argparse.ArgumentParser(prog="python -m adatune.farm.sim_server", description=__doc__.split("\n\n")[0])
    add_arguments(p)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    return run(p.parse_args(list(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""``adatune rpc-server`` and ``adatune rpc-tracker``."""
from __future__ import annotations

import os
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("rpc-server", help="start a TVM RPC server with the adatune plugin loaded")
    p.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    p.add_argument("--port", type=int, default=9090, help="first port to try (default 9090)")
    p.add_argument("--port-end", type=int, default=None, help="last port to try")
    p.add_argument("--tracker", default=None, help="register with this tracker (host:port)")
    p.add_argument("--key", default="", help="device key to register under")
    p.add_argument("--plugin", default=None,
                   help="path of libadatune_runtime.so (default: the installed one)")
    p.set_defaults(func=_run_server)

    t = sub.add_parser("rpc-tracker", help="start a TVM RPC tracker")
    t.add_argument("--host", default="0.0.0.0")
    t.add_argument("--port", type=int, default=9190)
    t.set_defaults(func=_run_tracker)


def _run_server(args) -> int:
    from ..measure.rpc import server_command

    if args.tracker and not args.key:
        raise ValueError("--key is required with --tracker")
    cmd = server_command(args.host, args.port, args.port_end, args.tracker, args.key,
                         plugin=args.plugin)
    print(f"adatune: {' '.join(cmd)}", file=sys.stderr)
    os.execv(cmd[0], cmd)  # replace this process: its PID is the server's
    return 0


def _run_tracker(args) -> int:
    from ..measure.rpc import tracker_command

    cmd = tracker_command(args.host, args.port)
    os.execv(cmd[0], cmd)
    return 0

"""``adatune farm status`` and ``adatune farm sim-server``."""
from __future__ import annotations

import json
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("farm", help="a tuning farm behind one RPC tracker: status, simulated devices")
    fsub = p.add_subparsers(dest="farm_command", metavar="FARM_COMMAND")
    s = fsub.add_parser("status", help="servers per key (free/busy) and what running farms report")
    s.add_argument("--tracker", required=True, help="host:port of the tracker")
    s.add_argument("--key", default=None, help="only this device key")
    s.add_argument("--json", action="store_true", help="print JSON instead of tables")
    s.set_defaults(func=_status)
    from ..farm.sim_server import add_arguments

    m = fsub.add_parser("sim-server", help="a simulated device answering from a recorded space "
                        "(tests and benchmarks only: it tunes nothing)")
    add_arguments(m)
    m.set_defaults(func=_sim_server)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _status(args) -> int:
    from ..farm.status import farm_status, format_status

    status = farm_status(args.tracker, args.key)
    print(json.dumps(status, indent=1) if args.json else format_status(status))
    return 0


def _sim_server(args) -> int:
    from ..farm.sim_server import run

    print("adatune farm sim-server: a simulated device for tests and benchmarks", file=sys.stderr)
    return run(args)

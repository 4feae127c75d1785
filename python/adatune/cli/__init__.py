"""The ``adatune`` command line.

Each sub-command lives in its own module under ``adatune.cli`` and exposes
``add_parser(subparsers)``, which registers the command and sets ``func`` (called with
the parsed namespace, returning the exit code).  Modules are listed here so the
parser is built without importing TVM: commands import heavy layers inside ``func``.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import List, Optional

from .._version import __version__
from ..errors import AdatuneError

_COMMAND_MODULES = (
    "adatune.cli.demo",
    "adatune.cli.rpc_server",
    "adatune.cli.tune",
    "adatune.cli.tune_model",
    "adatune.cli.records",
    "adatune.cli.featurize",
    "adatune.cli.ms_tune",
    "adatune.cli.plot",
    "adatune.cli.farm",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="adatune", description="Adaptive autotuning for Apache TVM."
    )
    parser.add_argument("--version", action="version", version=f"adatune {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    # Before TVM starts its thread pool in this process (see measure.runner.timing_env).
    from ..measure.runner import use_timing_env

    use_timing_env()
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("adatune: interrupted", file=sys.stderr)
        return 130
    except (AdatuneError, ValueError, TypeError, FileNotFoundError, RuntimeError) as err:
        print(f"adatune {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""``adatune featurize LOG_OR_DIR OUT_DIR``: tuning logs -> per-task feature tables.

Writes ``OUT_DIR/<target>/<task>.csv`` and ``<task>.meta.json``; see
:mod:`adatune.featurize.pipeline`.
"""
from __future__ import annotations

import sys


def add_parser(sub) -> None:
    p = sub.add_parser("featurize", help="turn tuning logs into feature tables (CSV)")
    p.add_argument("log", help="log file, directory or MetaSchedule database")
    p.add_argument("out_dir", help="output directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-j", "--jobs", type=int, default=-1,
                   help="worker processes, -1 (default) for one per CPU; 1 reads serially, "
                        "which is faster only when no core is idle. Inputs under 16 MiB "
                        "are always read serially")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from ..featurize import featurize_log

    result = featurize_log(args.log, args.out_dir, progress=not args.no_progress,
                           n_jobs=args.jobs)
    print(result.summary.format(), file=sys.stderr)
    for (target, task), path in sorted(result.tables.items()):
        print(f"{path}")
    print(f"{result.n_records} record(s) in {len(result.tables)} table(s)", file=sys.stderr)
    return 0

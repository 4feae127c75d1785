"""``adatune records``: summarise, pick the best of, store, query and export tuning logs.

    adatune records summary PATH
    adatune records best PATH --nbest 3 [--out best.log]
    adatune records commit PATH --db sqlite:///records.db [--nbest 20]
    adatune records query --db URL [--target cuda] [--task NAME] [--workload KEY]
    adatune records export --db URL OUT [--target cuda] [--nbest 1]

``--db`` defaults to ``$ADATUNE_RECORDS_DB`` or ``~/.adatune/records.db``.  Arguments
are checked by the library calls they go to (``--nbest`` as their ``nbest``).
"""
from __future__ import annotations

import collections
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("records", help="read, summarise, store and query tuning logs")
    rsub = p.add_subparsers(dest="records_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])

    s = rsub.add_parser("summary", help="counts per target and task, malformed lines")
    s.add_argument("path", help="log file, directory or MetaSchedule database")
    s.add_argument("--errors", type=int, default=10, help="rejected lines to show")
    s.set_defaults(func=_summary)

    b = rsub.add_parser("best", help="best records per workload as an AutoTVM log")
    b.add_argument("path")
    b.add_argument("--nbest", type=int, default=1, help="records per workload and layout")
    b.add_argument("--out", help="write here instead of stdout")
    b.set_defaults(func=_best)

    c = rsub.add_parser("commit", help="store a log's best records in a database")
    c.add_argument("path")
    c.add_argument("--db", help="sqlite path/URL or postgresql://... URL")
    c.add_argument("--nbest", type=int, default=20, help="kept per (target, workload, layout)")
    c.set_defaults(func=_commit)

    q = rsub.add_parser("query", help="print stored records as AutoTVM lines")
    q.add_argument("--db")
    q.add_argument("--target", help="target string or bare kind (cuda, llvm, ...)")
    q.add_argument("--task", help="task name")
    q.add_argument("--workload", help="workload key")
    q.add_argument("--nbest", type=int, default=1)
    q.set_defaults(func=_query)

    e = rsub.add_parser("export", help="write stored best records as a TopHub-style log")
    e.add_argument("--db")
    e.add_argument("out", help="output log file")
    e.add_argument("--target")
    e.add_argument("--nbest", type=int, default=1)
    e.set_defaults(func=_export)


def _summary(args) -> int:
    from ..records import ReadSummary, iter_records

    summary = ReadSummary(max_errors=max(args.errors, 0))
    per_task = collections.Counter()
    ok = collections.Counter()
    workloads = collections.defaultdict(set)
    best = {}
    for record in iter_records(args.path, summary):
        key = (record.target, record.task_name)
        per_task[key] += 1
        if record.ok:
            ok[key] += 1
            wk = record.workload_key
            workloads[key].add(wk)
            cost = record.mean_cost
            if cost < best.get(key, float("inf")):
                best[key] = cost
    print(summary.format(max_errors=args.errors))
    if per_task:
        print("\n| target | task | records | ok | workloads | best cost (ms) |")
        print("|---|---|---:|---:|---:|---:|")
        for (target, task), n in sorted(per_task.items()):
            short = target if len(target) <= 40 else target[:37] + "..."
            b = best.get((target, task))
            print(f"| {short} | {task} | {n} | {ok[(target, task)]} | "
                  f"{len(workloads[(target, task)])} | "
                  f"{'-' if b is None else f'{b * 1e3:.4f}'} |")
    return 0


def _best(args) -> int:
    from ..records import create_records_by_workloads, encode

    groups = create_records_by_workloads(args.path, nbest=args.nbest)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    n = 0
    try:
        for key in sorted(groups):
            for record in groups[key].to_list():
                out.write(encode(record) + "\n")
                n += 1
    finally:
        if args.out:
            out.close()
    print(f"{n} record(s) for {len(groups)} workload(s)", file=sys.stderr)
    return 0


def _commit(args) -> int:
    from ..records import ReadSummary, iter_records, open_store

    summary = ReadSummary()
    with open_store(args.db) as store:
        # the store consumes the stream in batches, one transaction each
        inserted = store.commit(iter_records(args.path, summary), nbest=args.nbest)
        total = store.count()
    print(summary.format(), file=sys.stderr)
    print(f"{inserted} new record(s) stored; {total} in {args.db or 'the default store'}")
    return 0


def _query(args) -> int:
    from ..records import encode, open_store

    with open_store(args.db) as store:
        records = store.query(target=args.target, task=args.task, workload=args.workload,
                              nbest=args.nbest)
    for record in records:
        print(encode(record))
    print(f"{len(records)} record(s)", file=sys.stderr)
    return 0


def _export(args) -> int:
    from ..records import open_store

    with open_store(args.db) as store:
        n = store.export(args.out, target=args.target, nbest=args.nbest)
    print(f"{n} record(s) written to {args.out}")
    return 0

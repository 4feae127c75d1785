"""Records layer at scale: featurize and commit a million-record log.

The log is built by replicating the shared real AutoTVM logs
(../shared/data/autotvm/nnfusion_osdi20, microsoft/nnfusion @ 4d652edd49c4, 18,266 lines
of v0.1 records for three CUDA templates) with costs perturbed by a log-normal factor,
into a temporary directory.  For two sizes N and 10 N it measures, each run in a fresh
process (so peak RSS is that run's own):

* ``adatune featurize`` (``featurize_log``), serial and with one worker per CPU;
* the naive baseline a user would write: ``pandas.read_json(lines=True)`` of the whole
  log, the same per-record features (``adatune.featurize.record_features``), one big
  DataFrame, per-(target, task) standardisation and ``to_csv``;
* ``SQLRecordsStore.commit`` of the whole log into a fresh SQLite store (best 20 per
  workload), at the larger size.

Printed: a markdown table of records/s (wall clock, and per CPU-second, which is what
to compare on a shared machine), peak RSS and the ratios ours / baseline, and how peak
RSS grows from N to 10 N.  Ours: medians over ``--repeat`` runs at N, one run at
10 N; the baseline runs once per size, up to ``--baseline-max`` records (at 1 M it
would need about 8 GB and ten minutes; the table then compares with its run at N).

Reproduce::

    python bench/records.py --quick --json out.json   # N = 25,000 and 250,000; ~4 min
    python bench/records.py --json out.json           # N = 100,000 and 1,000,000; ~8 min
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "python"))
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "autotvm" / "nnfusion_osdi20"


# ----------------------------------------------------------------------------- the log

def build_log(data_dir: Path, n_records: int, out: Path, seed: int = 0) -> int:
    """Write ``n_records`` lines: the real logs repeated, costs perturbed (same text
    format, so every line is a valid v0.1 record).  Returns bytes written."""
    import numpy as np

    rng = np.random.default_rng(seed)
    templates = []
    for path in sorted(data_dir.glob("*.log")):
        for line in path.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            cut = line.rindex('"r": [')
            obj = json.loads(line)
            costs, error_no, all_cost, ts = obj["r"]
            templates.append((line[:cut], costs, error_no, all_cost, ts))
    factors = rng.lognormal(0.0, 0.1, size=n_records)
    written = 0
    with open(out, "w") as f:
        batch = []
        for i in range(n_records):
            prefix, costs, error_no, all_cost, ts = templates[i % len(templates)]
            if error_no == 0:
                costs = [c * factors[i] for c in costs]
            batch.append(f'{prefix}"r": [{json.dumps(costs)}, {error_no}, {all_cost}, '
                         f'{ts + i}], "v": 0.1}}\n')
            if len(batch) == 10000:
                text = "".join(batch)
                written += len(text)
                f.write(text)
                batch = []
        text = "".join(batch)
        written += len(text)
        f.write(text)
    return written


# ----------------------------------------------------------------------------- workers

def _peak_rss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024.0  # Linux: KiB


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (worker pools)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def _work_featurize(log: str, out: str, jobs: int) -> dict:
    from adatune.featurize import featurize_log

    t0, c0 = time.perf_counter(), _cpu_seconds()
    res = featurize_log(log, out, n_jobs=jobs)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "cpu_seconds": _cpu_seconds() - c0, "records": res.n_records,
            "peak_rss_mb": _peak_rss_mb(),
            "peak_rss_mb_workers": _peak_rss_mb(resource.RUSAGE_CHILDREN)}


def _work_pandas(log: str, out: str) -> dict:
    import numpy as np
    import pandas as pd

    from adatune.featurize import record_features
    from adatune.featurize.flops import estimate_flops
    from adatune.records import decode_obj

    t0, c0 = time.perf_counter(), _cpu_seconds()
    df = pd.read_json(log, lines=True, dtype=False)
    rows = []
    for i, r, v in zip(df["i"], df["r"], df["v"]):
        rec = decode_obj({"i": i, "r": r, "v": v})
        feats = dict(record_features(rec))
        flops = estimate_flops(rec.task_name, rec.args)
        cost = rec.mean_cost
        feats["label"] = (0.0 if not rec.ok else
                          (flops / cost / 1e9 if flops else 1.0 / cost))
        feats["error_no"] = rec.error_no
        feats["_target"], feats["_task"] = rec.target, rec.task_name
        rows.append(feats)
    table = pd.DataFrame(rows)
    del rows, df
    n = 0
    for g, (key, part) in enumerate(table.groupby(["_target", "_task"], sort=False)):
        part = part.drop(columns=["_target", "_task"]).dropna(axis=1, how="all")
        for col in part.columns:
            if col in ("label", "error_no"):
                continue
            if not pd.api.types.is_numeric_dtype(part[col]):
                part[col] = part[col].astype("category").cat.codes
            else:
                std = part[col].std(ddof=0)
                part[col] = (part[col] - part[col].mean()) / (std if std > 0 else 1.0)
        part.to_csv(Path(out) / f"table{g}.csv", index=False, float_format="%.7g")
        n += len(part)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "cpu_seconds": _cpu_seconds() - c0, "records": int(n),
            "peak_rss_mb": _peak_rss_mb(),
            "peak_rss_mb_workers": 0.0, "_check": float(np.float64(n))}


def _work_commit(log: str, db: str) -> dict:
    from adatune.records import ReadSummary, iter_records, open_store

    t0, c0 = time.perf_counter(), _cpu_seconds()
    store = open_store(db)
    summary = ReadSummary()
    store.commit(iter_records(log, summary), nbest=20)  # as `adatune records commit`
    n = summary.kept
    stored = store.count()
    store.close()
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "cpu_seconds": _cpu_seconds() - c0, "records": n,
            "stored": stored,
            "peak_rss_mb": _peak_rss_mb(), "peak_rss_mb_workers": 0.0}


def _run_worker(*args: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT / "python") + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, __file__, "--_worker", *args],
                          capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {args[0]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ----------------------------------------------------------------------------- driver

def _median_run(repeat: int, work: Path, *args: str) -> dict:
    runs = []
    for _ in range(repeat):
        out = work / "out"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        if args[0] == "commit":
            db = work / "bench.db"
            for suffix in ("", "-wal", "-shm"):
                Path(str(db) + suffix).unlink(missing_ok=True)
            runs.append(_run_worker("commit", args[1], str(db)))
        else:
            runs.append(_run_worker(args[0], args[1], str(out), *args[2:]))
    seconds = statistics.median(r["seconds"] for r in runs)
    result = dict(runs[0])
    result["seconds"] = seconds
    result["records_per_s"] = result["records"] / seconds
    result["cpu_seconds"] = statistics.median(r.get("cpu_seconds", math.nan) for r in runs)
    result["records_per_cpu_s"] = result["records"] / result["cpu_seconds"]
    result["peak_rss_mb"] = statistics.median(r["peak_rss_mb"] for r in runs)
    result["peak_rss_mb_workers"] = statistics.median(r["peak_rss_mb_workers"] for r in runs)
    result["repeats"] = repeat
    return result


def run(quick: bool, repeat: int, data_dir: Path, baseline_max: int) -> dict:
    small = 25_000 if quick else 100_000
    sizes = [small, 10 * small]
    jobs = os.cpu_count() or 1
    work = Path(tempfile.mkdtemp(prefix="adatune-bench-records-"))
    results = {"sizes": sizes, "cpus": jobs, "machine": platform.platform(),
               "python": platform.python_version(), "runs": {},
               # other jobs share the machine: wall-clock rates scale with the CPU left
               "load_average_start": os.getloadavg()}
    try:
        for n in sizes:
            log = work / f"log_{n}.log"
            t0 = time.perf_counter()
            size = build_log(data_dir, n, log)
            print(f"built {n:,} records ({size / 2**20:.0f} MiB) in "
                  f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
            reps = repeat if n == small else 1
            runs = results["runs"].setdefault(str(n), {"log_mib": size / 2**20})
            runs["ours_serial"] = _median_run(reps, work, "featurize", str(log), "1")
            runs["ours_parallel"] = _median_run(reps, work, "featurize", str(log), str(jobs))
            if n <= baseline_max:
                # once: at ~2k records/s and ~8 KB of RSS per record it is the slow part
                runs["pandas"] = _median_run(1, work, "pandas", str(log))
            if n == sizes[-1]:
                runs["commit_sqlite"] = _median_run(1, work, "commit", str(log))
            for name, r in runs.items():
                if isinstance(r, dict):
                    print(f"  {n:>9,} {name:14s} {r['records_per_s']:>10,.0f} rec/s  "
                          f"peak RSS {r['peak_rss_mb']:.0f} MB", file=sys.stderr)
            log.unlink()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    results["load_average_end"] = os.getloadavg()
    big = results["runs"][str(sizes[-1])]
    small_runs = results["runs"][str(sizes[0])]
    # The headline is the command's default (one worker per CPU); the serial figure stays
    # beside it because on a busy machine it is the faster one.
    ours = big["ours_serial"]
    results["featurize_records_per_s"] = big["ours_parallel"]["records_per_s"]
    results["featurize_records_per_s_serial"] = ours["records_per_s"]
    results["featurize_records_per_s_parallel"] = big["ours_parallel"]["records_per_s"]
    results["featurize_records_per_cpu_s"] = ours["records_per_cpu_s"]
    base = big.get("pandas", small_runs["pandas"])
    results["pandas_records_per_s"] = base["records_per_s"]
    results["pandas_peak_rss_mb"] = base["peak_rss_mb"]
    par = big["ours_parallel"]
    results["peak_rss_mb_parallel"] = par["peak_rss_mb"] + par["peak_rss_mb_workers"]
    results["peak_rss_mb"] = results["peak_rss_mb_parallel"]  # the default, all processes
    results["commit_records_per_s"] = big["commit_sqlite"]["records_per_s"]
    def _rss(r):
        return r["peak_rss_mb"] + r["peak_rss_mb_workers"]

    results["rss_growth_10x"] = {name: _rss(big[name]) / _rss(small_runs[name])
                                 for name in ("ours_serial", "ours_parallel", "pandas")
                                 if name in big}
    return results


def print_table(results: dict) -> None:
    small, big = results["sizes"]
    load = results.get("load_average_start"), results.get("load_average_end")
    print(f"\n### featurize ({results['cpus']} CPUs; 1/5/15-min load average "
          f"{'/'.join(f'{x:.1f}' for x in load[0])} at the start, "
          f"{'/'.join(f'{x:.1f}' for x in load[1])} at the end)\n")
    print("| records | log (MiB) | method | records/s (wall) | records per CPU-s | "
          "peak RSS (MB) | wall speed vs pandas | CPU speed vs pandas | RSS vs pandas |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    for n in (small, big):
        runs = results["runs"][str(n)]
        # beyond --baseline-max the baseline did not run: compare with its smaller run
        base = runs.get("pandas", results["runs"][str(small)]["pandas"])
        workers = (f"adatune, {results['cpus']} workers" if runs["log_mib"] >= 16
                   else "adatune, -j (serial < 16 MiB)")
        for name, label in (("pandas", "pandas (whole log)"),
                            ("ours_serial", "adatune, 1 process"),
                            ("ours_parallel", workers)):
            if name not in runs:
                print(f"| {n:,} | {runs['log_mib']:.0f} | {label} | not run "
                      f"(--baseline-max) | | | | | |")
                continue
            r = runs[name]
            rss = r["peak_rss_mb"] + r["peak_rss_mb_workers"]
            print(f"| {n:,} | {runs['log_mib']:.0f} | {label} | {r['records_per_s']:,.0f} | "
                  f"{r['records_per_cpu_s']:,.0f} | {rss:.0f} | "
                  f"{r['records_per_s'] / base['records_per_s']:.2f}x | "
                  f"{r['records_per_cpu_s'] / base['records_per_cpu_s']:.2f}x | "
                  f"{rss / base['peak_rss_mb']:.2f}x |")
    growth = results["rss_growth_10x"]
    print(f"\nPeak RSS growth from {small:,} to {big:,} records (10x): "
          + ", ".join(f"{k} {v:.2f}x" for k, v in growth.items()))
    c = results["runs"][str(big)]["commit_sqlite"]
    print(f"\ncommit of {big:,} records into SQLite (best 20 per workload): "
          f"{c['records_per_s']:,.0f} records/s, {c['stored']:,} stored, "
          f"peak RSS {c['peak_rss_mb']:.0f} MB")
    print(f"\nfeaturize_records_per_s = {results['featurize_records_per_s']:,.0f} "
          f"(default: one worker per CPU; one process: "
          f"{results['featurize_records_per_s_serial']:,.0f}, "
          f"{results['featurize_records_per_cpu_s']:,.0f} per CPU-second; target >= 50,000); "
          f"peak_rss_mb = {results['peak_rss_mb']:.0f} (target < 1024)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="25k and 250k records")
    parser.add_argument("--repeat", type=int, default=3, help="runs at the smaller size")
    parser.add_argument("--json", help="write raw numbers here")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="AutoTVM logs to replicate")
    parser.add_argument("--baseline-max", type=int, default=250_000,
                        help="largest log the pandas baseline loads (it needs ~8 KB of "
                             "RSS per record)")
    parser.add_argument("--_worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._worker:
        kind, *rest = args._worker
        if kind == "featurize":
            out = _work_featurize(rest[0], rest[1], int(rest[2]))
        elif kind == "pandas":
            out = _work_pandas(rest[0], rest[1])
        else:
            out = _work_commit(rest[0], rest[1])
        print(json.dumps(out))
        return 0
    data = Path(args.data)
    if not data.is_dir():
        print(f"no data directory {data}", file=sys.stderr)
        return 1
    results = run(args.quick, max(1, args.repeat), data, args.baseline_max)
    print_table(results)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Offline replay of the adaptive evaluator's stopping rule on repeated real timings.

Kernel Tuner cache files (``../shared/data/kernel_tuner/{convolution,pnpoly}/
{RTX_2080_Ti,RTX_3090}.json.gz``, from AutoTuningAssociation/benchmark_hub, MIT) keep,
for every valid configuration, ``times``: about 10 individual runs in the order they
were taken.  ``bench/data/cpu_timings/*.json.gz`` are the same format, recorded on this
project's CPU kernels by ``bench/evaluator.py --record-dir`` (one configuration per
kernel and repetition, 20 consecutive batch means of >= 1 ms).  Every file found there,
plus any given on the command line, is replayed.

The replay treats every recorded run as one batch mean (there is no separate warm-up
call: a run that is consumed counts as used, the first included),
feeds the prefixes ``times[:k]`` for k = 1, 2, ... to ``should_stop`` and stops at the
first True or when the recorded runs run out; the configuration's reported cost is
``estimate(prefix)``.

Metrics per file: the share of recorded runs saved (1 - used / recorded), and the
relative error ``|estimate / median(all recorded runs) - 1|`` (median and 99th
percentile over configurations).  ``savings`` over all files sums runs over files.

Leave-one-file-out (``--lofo``): the defaults are the choice made on all these files,
so their scores there are training scores.  For each file in turn, the parameters are
chosen on the others (from :data:`LOFO_GRID`, by :func:`choose_policy`) and scored on
the held-out file, which the choice never saw; the held-out scores are the honest
estimate of how the rule does on a kernel and device it was not tuned on.  The same
procedure run on all files (``chosen_on_all``) gives the shipped defaults.

Reproduce (from the repository root)::

    python bench/stopping_replay.py                 # table: paper rule vs shipped rule
    python bench/stopping_replay.py --json out.json # plus the raw numbers
    python bench/stopping_replay.py --quick         # every 4th configuration only
    python bench/stopping_replay.py --ablation      # the defaults with one part off
    python bench/stopping_replay.py --lofo          # leave-one-file-out (~1 minute)
    python bench/stopping_replay.py --lofo more/*.json.gz   # with files of your own

The paper rule and the shipped defaults run side by side in one process.
"""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import itertools
import json
import math
import os
import sys
import time
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

from adatune.measure.policy import StopPolicy  # noqa: E402

DATA_DIR = os.path.join(os.path.dirname(ROOT), "shared", "data", "kernel_tuner")
FILES = ("convolution/RTX_2080_Ti.json.gz", "convolution/RTX_3090.json.gz",
         "pnpoly/RTX_2080_Ti.json.gz", "pnpoly/RTX_3090.json.gz")
# Repeated CPU timings recorded here (``bench/evaluator.py --record-dir``), same format.
CPU_DIR = os.path.join(ROOT, "bench", "data", "cpu_timings")
# The bar the shipped defaults must meet (docs/evaluator-policy.md).
BAR = {"median_err": 0.005, "p99_err": 0.03, "savings": 0.50}


def default_paths() -> List[str]:
    """The four Kernel Tuner cache files in the shared data folder."""
    return [os.path.join(DATA_DIR, f) for f in FILES]


def all_paths(extra: Sequence[str] = ()) -> List[str]:
    """Every repeated-timing file: the shared four, the recorded CPU ones, then ``extra``.

    A shared or recorded file that is missing is left out (a checkout without the
    shared data still replays the CPU files); an ``extra`` path must exist.  A folder
    in ``extra`` stands for the ``*.json.gz`` files under it.
    """
    paths = [p for p in default_paths() if os.path.exists(p)]
    if os.path.isdir(CPU_DIR):
        paths += sorted(os.path.join(CPU_DIR, f) for f in os.listdir(CPU_DIR)
                        if f.endswith(".json.gz"))
    for p in extra:
        if os.path.isdir(p):
            found = sorted(os.path.join(d, f) for d, _, fs in os.walk(p) for f in fs
                           if f.endswith(".json.gz"))
            if not found:
                raise ValueError(f"{p}: no *.json.gz file under this folder")
            paths += found
        elif os.path.exists(p):
            paths.append(p)
        else:
            raise ValueError(f"{p}: no such file")
    seen = set()
    return [p for p in paths if not (os.path.abspath(p) in seen or seen.add(os.path.abspath(p)))]


def short_name(path: str) -> str:
    """A file's name relative to the shared or CPU folder (the path itself otherwise)."""
    for base, tag in ((DATA_DIR, ""), (CPU_DIR, "cpu/")):
        if os.path.abspath(path).startswith(os.path.abspath(base) + os.sep):
            return tag + os.path.relpath(os.path.abspath(path), os.path.abspath(base))
    return path


def load_times(path: str, stride: int = 1) -> List[List[float]]:
    """Recorded runs of every valid configuration (every ``stride``-th, in file order).

    Raises
    ------
    ValueError
        When the file has no ``cache`` mapping or no configuration with ``times``.
    """
    with gzip.open(path, "rt") as f:
        doc = json.load(f)
    cache = doc.get("cache") if isinstance(doc, dict) else None
    if not isinstance(cache, dict):
        raise ValueError(f"{path}: no 'cache' mapping of configurations")
    series = [[float(t) for t in v["times"]] for v in cache.values()
              if isinstance(v, dict) and isinstance(v.get("times"), list) and v["times"]]
    if not series:
        raise ValueError(f"{path}: no configuration carries a list of 'times'")
    return series[::stride]


def replay_series(series: Iterable[Sequence[float]], policy: StopPolicy) -> Dict[str, Any]:
    """Replay one policy on a list of recorded run sequences."""
    used = recorded = ran_out = 0
    errors = []
    for times in series:
        n = len(times)
        k = 1
        while k < n and not policy.should_stop(times[:k]):
            k += 1
        if k == n and not policy.should_stop(times):
            ran_out += 1
        ref = float(np.median(times))
        errors.append(abs(policy.estimate(times[:k]) / ref - 1.0))
        used += k
        recorded += n
    errs = np.asarray(errors)
    return {
        "configs": len(errors), "recorded": recorded, "used": used,
        "savings": 1.0 - used / recorded, "ran_out": ran_out,
        "median_err": float(np.median(errs)), "p99_err": float(np.percentile(errs, 99)),
        "max_err": float(errs.max()),
    }


def replay_file(path: str, stride: int = 1, policy: Optional[StopPolicy] = None,
                **policy_kwargs: Any) -> Dict[str, Any]:
    """Replay a stopping rule on one cache file.

    Parameters
    ----------
    path : str
        A Kernel Tuner cache file (gzipped JSON).
    stride : int
        Use every ``stride``-th configuration (1: all).
    policy : StopPolicy, optional
        The rule; default ``StopPolicy(**policy_kwargs)``.
    **policy_kwargs :
        Fields of :class:`StopPolicy` (ignored when ``policy`` is given).

    Returns
    -------
    dict
        ``configs, recorded, used, savings, ran_out, median_err, p99_err, max_err``
        (errors are fractions, not percent).
    """
    if policy is None:
        policy = StopPolicy(**policy_kwargs)
    out = replay_series(load_times(path, stride), policy)
    out["file"] = short_name(path)
    return out


def replay_all(paths: Optional[Sequence[str]] = None, stride: int = 1,
               policy: Optional[StopPolicy] = None, **policy_kwargs: Any) -> Dict[str, Any]:
    """Replay a rule on several files; ``savings`` sums runs over all of them.

    Returns
    -------
    dict
        ``files``: per-file results (see :func:`replay_file`); ``savings``, ``used``,
        ``recorded``; ``meets_bar``: whether every file has median error <= 0.5 % and
        p99 error <= 3 % and the summed savings are >= 50 %.
    """
    if policy is None:
        policy = StopPolicy(**policy_kwargs)
    files = [replay_file(p, stride, policy) for p in (paths or all_paths())]
    used = sum(f["used"] for f in files)
    recorded = sum(f["recorded"] for f in files)
    savings = 1.0 - used / recorded
    meets = savings >= BAR["savings"] and all(
        f["median_err"] <= BAR["median_err"] and f["p99_err"] <= BAR["p99_err"] for f in files)
    fields = {k: _jsonable(v) for k, v in dataclasses.asdict(policy).items()}
    return {"files": files, "used": used, "recorded": recorded, "savings": savings,
            "meets_bar": meets, "policy": fields}


# Candidates for leave-one-file-out: the parts that trade runs saved against error
# (docs/evaluator-policy.md), a step either side, all combinations (108; --lofo replays
# each once per file, under a minute on two cores for the eight files here).
LOFO_GRID: Dict[str, Tuple[Any, ...]] = {
    "settle_batches": (4, 5, 6),
    "last_k": (1, 2, 3),
    "tail_tol": (math.inf, 0.01, 0.005),
    "max_rel_se": (0.01, 0.012),
    "last_tol": (0.01, 0.015),
}


def candidate_params(grid: Mapping[str, Sequence[Any]]) -> List[Dict[str, Any]]:
    """Every combination of the grid's values (other fields keep their defaults)."""
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


def _within_bar(result: Mapping[str, Any]) -> bool:
    return result["median_err"] <= BAR["median_err"] and result["p99_err"] <= BAR["p99_err"]


def _pooled(results: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Runs saved summed over files, the worst per-file errors, and whether the bar holds."""
    used = sum(r["used"] for r in results)
    recorded = sum(r["recorded"] for r in results)
    savings = 1.0 - used / recorded
    med = max(r["median_err"] for r in results)
    p99 = max(r["p99_err"] for r in results)
    errors_ok = med <= BAR["median_err"] and p99 <= BAR["p99_err"]
    return {"savings": savings, "worst_median_err": med, "worst_p99_err": p99,
            "errors_ok": errors_ok, "meets_bar": errors_ok and savings >= BAR["savings"],
            "files_within_bar": sum(_within_bar(r) for r in results), "files": len(results)}


def choose_policy(per_candidate: Sequence[Sequence[Dict[str, Any]]]) -> int:
    """Index of the candidate to pick from its results on the training files.

    The candidate whose errors are within the bar on the most training files; among
    those, the one saving the most runs there (summed over the files).  Ties go to the
    earlier candidate.

    Counting files within the bar, rather than requiring all of them, keeps a file
    where no candidate can meet it (the noisy CPU timings, docs/evaluator-policy.md)
    from sending the choice to a fallback that ignores every other file.  The savings
    bar is no constraint here: pooled savings depend on the mix of files (the steady
    convolution files save most), so holding out one of them would leave only
    candidates below 50 % and the choice to chance.
    """
    def key(i: int) -> Tuple[int, float, int]:
        results = per_candidate[i]
        return (sum(_within_bar(r) for r in results), _pooled(results)["savings"], -i)

    return max(range(len(per_candidate)), key=key)


_SERIES: List[List[List[float]]] = []  # a worker's copy of every file's series


def _set_series(series: List[List[List[float]]]) -> None:
    global _SERIES
    _SERIES = series


def _replay_candidate(params: Dict[str, Any]) -> List[Dict[str, Any]]:
    policy = StopPolicy(**params)
    return [replay_series(s, policy) for s in _SERIES]


def leave_one_file_out(paths: Optional[Sequence[str]] = None, stride: int = 1,
                       grid: Optional[Mapping[str, Sequence[Any]]] = None,
                       jobs: Optional[int] = None) -> Dict[str, Any]:
    """Choose the parameters on all files but one, score them on that one, for each file.

    Every candidate of ``grid`` (default :data:`LOFO_GRID`) is replayed once per file
    (in ``jobs`` processes; the command line uses one per CPU); a fold's choice
    (:func:`choose_policy`) sees only its training files' results.

    Returns
    -------
    dict
        ``folds``: per held-out file, the chosen parameters (``params``), the training
        summary (``train``, with ``files_within_bar``) and the held-out result
        (``held_out``, as :func:`replay_file`); ``held_out``: the held-out results
        pooled (runs saved summed over the held-out files, worst errors, ``meets_bar``,
        ``files_within_bar``); ``chosen_on_all``: the same choice made on every file
        (what the shipped defaults must be); ``candidates``.
    """
    paths = list(paths or all_paths())
    if len(paths) < 2:
        raise ValueError(f"leave-one-file-out needs two files at least, got {len(paths)}")
    candidates = candidate_params(LOFO_GRID if grid is None else grid)
    series = [load_times(p, stride) for p in paths]
    names = [short_name(p) for p in paths]
    jobs = jobs or 1
    if jobs > 1 and len(candidates) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(jobs, initializer=_set_series, initargs=(series,)) as pool:
            table = list(pool.map(_replay_candidate, candidates, chunksize=4))
    else:
        _set_series(series)
        table = [_replay_candidate(c) for c in candidates]
    # table[c][f]: candidate c replayed on file f
    for row in table:
        for name, res in zip(names, row):
            res["file"] = name
    folds = []
    for held in range(len(paths)):
        train = [f for f in range(len(paths)) if f != held]
        best = choose_policy([[row[f] for f in train] for row in table])
        folds.append({"held_out_file": names[held], "params": candidates[best],
                      "train_files": [names[f] for f in train],
                      "train": _pooled([table[best][f] for f in train]),
                      "held_out": table[best][held]})
    everything = choose_policy(table)
    return {"folds": folds, "held_out": _pooled([f["held_out"] for f in folds]),
            "chosen_on_all": {"params": candidates[everything],
                              "train": _pooled(table[everything])},
            "candidates": len(candidates), "grid": {k: list(v) for k, v in
                                                    (grid or LOFO_GRID).items()},
            "stride": stride}


def format_lofo(lofo: Dict[str, Any]) -> str:
    default = StopPolicy()
    rows = ["| held-out file | chosen on the other files (vs defaults) | saved (train) "
            "| held-out saved | held-out median err | held-out p99 err | errors within bar |",
            "|" + " --- |" * 7]
    for f in lofo["folds"]:
        changed = ", ".join(f"{k}={v}" for k, v in f["params"].items()
                            if getattr(default, k) != v) or "the defaults"
        h = f["held_out"]
        ok = _within_bar(h)
        rows.append(f"| {f['held_out_file'].replace('.json.gz', '')} | {changed} "
                    f"| {f['train']['savings']:.1%} | {h['savings']:.1%} | {h['median_err']:.2%} "
                    f"| {h['p99_err']:.2%} | {'yes' if ok else 'no'} |")
    pooled = lofo["held_out"]
    rows.append(f"| **held-out, pooled** | | | {pooled['savings']:.1%} "
                f"| {pooled['worst_median_err']:.2%} (worst) | {pooled['worst_p99_err']:.2%} "
                f"(worst) | {pooled['files_within_bar']} of {pooled['files']} |")
    if "chosen_on_all" in lofo:
        chosen = lofo["chosen_on_all"]
        changed = ", ".join(f"{k}={v}" for k, v in chosen["params"].items()
                            if getattr(default, k) != v) or "the defaults"
        rows.append(f"\nchosen on all {chosen['train']['files']} files: {changed} "
                    f"(saves {chosen['train']['savings']:.1%}, within the error bar on "
                    f"{chosen['train']['files_within_bar']} files)")
    return "\n".join(rows)


def _jsonable(v: Any) -> Any:
    return str(v) if isinstance(v, float) and math.isinf(v) else v


# Each row switches one part of the shipped rule off (docs/evaluator-policy.md).
ABLATIONS = (
    ("shipped defaults", {}),
    ("no regime detection (regime_tol=inf)", {"regime_tol": math.inf, "warmup_max": math.inf}),
    ("no newest-batch agreement (last_tol=inf)", {"last_tol": math.inf}),
    ("no settle wait (settle_batches=1)", {"settle_batches": 1}),
    ("no standard-error test (max_rel_se=inf)", {"max_rel_se": math.inf}),
    ("any transient is a warm-up (warmup_max=inf)", {"warmup_max": math.inf}),
    ("short segment allowed (stable_ratio=0.5)", {"stable_ratio": 0.5}),
    ("estimate drops the whole prefix (max_drop=20)", {"max_drop": 20}),
    ("no fallback (fallback_drop=2)", {"fallback_drop": 2}),
)


def _ablation_table(rows: Sequence[Any]) -> str:
    names = [f["file"].replace(".json.gz", "") for f in rows[0][1]["files"]]
    out = ["| variant | saved | " + " | ".join(f"{n} med / p99" for n in names) + " | bar |",
           "|" + " --- |" * (len(names) + 3)]
    for label, res in rows:
        cells = " | ".join(f"{f['median_err']:.2%} / {f['p99_err']:.2%}" for f in res["files"])
        out.append(f"| {label} | {res['savings']:.1%} | {cells} | "
                   f"{'yes' if res['meets_bar'] else 'no'} |")
    return "\n".join(out)


def format_table(paper: Dict[str, Any], ours: Dict[str, Any]) -> str:
    head = ("| file | configs | saved paper | saved ours | median err paper | median err ours "
            "| p99 err paper | p99 err ours | ran out (ours) |")
    rows = [head, "|" + " --- |" * 9]
    for a, b in zip(paper["files"], ours["files"]):
        rows.append(
            f"| {b['file']} | {b['configs']} | {a['savings']:.1%} | {b['savings']:.1%} "
            f"| {a['median_err']:.2%} | {b['median_err']:.2%} | {a['p99_err']:.2%} "
            f"| {b['p99_err']:.2%} | {b['ran_out']} |")
    rows.append(f"| **all** | {sum(f['configs'] for f in ours['files'])} "
                f"| {paper['savings']:.1%} | {ours['savings']:.1%} | | | | | |")
    return "\n".join(rows)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", metavar="PATH", help="write the raw numbers here")
    ap.add_argument("--quick", action="store_true", help="every 4th configuration only")
    ap.add_argument("--ablation", action="store_true",
                    help="also replay the defaults with one part switched off at a time")
    ap.add_argument("--lofo", action="store_true",
                    help="also choose the parameters on all files but one and score them on "
                         "the held-out one, for each file")
    ap.add_argument("extra", nargs="*", metavar="PATH",
                    help="more cache files (or folders of *.json.gz), replayed with the "
                         "shared and the recorded CPU ones")
    ap.add_argument("--data", nargs="+", metavar="FILE",
                    help="replay only these cache files (default: shared + CPU + PATHs)")
    ap.add_argument("--jobs", type=int, default=None,
                    help="processes for --lofo (default: one per CPU)")
    args = ap.parse_args(argv)
    stride = 4 if args.quick else 1
    paths = args.data or all_paths(args.extra)
    t0 = time.perf_counter()
    paper = replay_all(paths, stride, StopPolicy.paper())
    t1 = time.perf_counter()
    ours = replay_all(paths, stride, StopPolicy())
    t2 = time.perf_counter()
    print(format_table(paper, ours))
    print(f"\nshipped defaults meet the bar (median <= 0.5 %, p99 <= 3 % per file, "
          f"savings >= 50 %): {ours['meets_bar']}   [replay {t1 - t0:.1f} s paper, "
          f"{t2 - t1:.1f} s ours]")
    raw = {"stride": stride, "bar": BAR, "paper": paper, "ours": ours,
           "seconds": {"paper": t1 - t0, "ours": t2 - t1}}
    if args.ablation:
        rows = [(label, ours if not change else
                 replay_all(paths, stride, StopPolicy(**change))) for label, change in ABLATIONS]
        print("\n" + _ablation_table(rows))
        raw["ablation"] = {label: res for label, res in rows}
    if args.lofo:
        t3 = time.perf_counter()
        lofo = leave_one_file_out(paths, stride, jobs=args.jobs or os.cpu_count())
        print(f"\nleave-one-file-out ({lofo['candidates']} candidates, "
              f"{time.perf_counter() - t3:.0f} s):\n")
        print(format_lofo(lofo))
        pooled = lofo["held_out"]
        print(f"\nheld-out scores meet the bar (each held-out file median <= 0.5 %, "
              f"p99 <= 3 %; runs saved over the held-out files >= 50 %): "
              f"{pooled['meets_bar']}")
        raw["lofo"] = lofo
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=2, default=_jsonable)
    return 0


if __name__ == "__main__":
    sys.exit(main())

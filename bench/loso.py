"""Choose a tuner's defaults by leave-one-space-out, from replay runs.

Input: one or more JSON files written by ``bench/replay.py --json`` whose runs cover the
candidate settings (tuner labels, e.g. the ``rfei-*`` ablations) on the same spaces and
seeds. For each space S in turn, the candidate with the lowest median over the *other*
spaces of its per-space median trials to 99 % of the optimum is chosen (ties: the lower
mean), and its score on S is the left-out score. The median of the left-out scores is
what the selection procedure, not one candidate, achieves on a space it has not seen.

Reproduce (the candidates of docs/tuners.md, then the selection)::

    python bench/replay.py --seeds 6 --budget 200 --jobs 2 \\
        --tuners rfei-dynamic,rfei-fixed,rfei-local25,rfei-plan8-local25,rfei-eps0.5-now \\
        --json loso-runs.json
    python bench/loso.py loso-runs.json --json loso.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

METRIC = "trials_to_99"


def _load(paths: Sequence[str]) -> List[Dict[str, Any]]:
    runs: List[Dict[str, Any]] = []
    for path in paths:
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, json.JSONDecodeError) as err:
            raise SystemExit(f"{path}: not a readable replay JSON ({err})") from None
        if "runs" not in doc:
            raise SystemExit(f"{path}: no 'runs' (write it with bench/replay.py --json)")
        runs += doc["runs"]
    return runs


def per_space_medians(runs: Sequence[Dict[str, Any]], metric: str = METRIC) -> Dict[str, Dict[str, float]]:
    """``{tuner: {space: median over seeds of metric}}``."""
    vals: Dict[str, Dict[str, List[float]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        vals[r["tuner"]][os.path.basename(os.path.dirname(r["space"])) + "/" + os.path.basename(r["space"])
                         ].append(float(r[metric]))
    return {t: {s: float(np.median(v)) for s, v in by.items()} for t, by in vals.items()}


def leave_one_space_out(table: Dict[str, Dict[str, float]], candidates: Sequence[str]) -> Dict[str, Any]:
    """The choice made without each space and its score there."""
    spaces = sorted(set.intersection(*(set(table[c]) for c in candidates)))
    if len(spaces) < 2:
        raise SystemExit(f"leave-one-space-out needs at least 2 spaces that every candidate ran on, "
                         f"got {spaces}")
    rows = []
    for held in spaces:
        train = [s for s in spaces if s != held]
        ranked = sorted(candidates, key=lambda c: (np.median([table[c][s] for s in train]),
                                                   np.mean([table[c][s] for s in train])))
        rows.append({"space": held, "chosen": ranked[0], "score": table[ranked[0]][held],
                     **{f"score_{c}": table[c][held] for c in candidates}})
    scores = [r["score"] for r in rows]
    return {"spaces": spaces, "rows": rows, "median_left_out": float(np.median(scores)),
            "worst_left_out": float(np.max(scores)),
            "chosen_counts": {c: sum(r["chosen"] == c for r in rows) for c in candidates},
            "median_per_candidate": {c: float(np.median([table[c][s] for s in spaces])) for c in candidates}}


def markdown(result: Dict[str, Any], candidates: Sequence[str]) -> str:
    head = "| left-out space | chosen on the others | its score | " + " | ".join(candidates) + " |"
    out = [head, "|" + "---|" * (3 + len(candidates))]
    for r in result["rows"]:
        out.append(f"| {r['space']} | {r['chosen']} | {r['score']:g} | "
                   + " | ".join(f"{r[f'score_{c}']:g}" for c in candidates) + " |")
    out.append(f"| **median** | | **{result['median_left_out']:g}** | "
               + " | ".join(f"{result['median_per_candidate'][c]:g}" for c in candidates) + " |")
    return "\n".join(out)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", help="bench/replay.py --json outputs")
    ap.add_argument("--candidates", default=None,
                    help="comma-separated tuner labels (default: every rfei-* label in the runs)")
    ap.add_argument("--metric", default=METRIC, help=f"per-run metric to minimise (default {METRIC})")
    ap.add_argument("--json", default=None, help="write the choice per left-out space here")
    args = ap.parse_args(argv)
    table = per_space_medians(_load(args.runs), args.metric)
    candidates = ([c.strip() for c in args.candidates.split(",") if c.strip()] if args.candidates
                  else sorted(t for t in table if t.startswith("rfei")))
    missing = [c for c in candidates if c not in table]
    if missing:
        raise SystemExit(f"--candidates: no runs of {missing}; the runs hold {sorted(table)}")
    result = leave_one_space_out(table, candidates)
    print(f"Leave-one-space-out over {len(result['spaces'])} spaces, {args.metric} "
          f"(median over seeds per space):\n")
    print(markdown(result, candidates))
    print(f"\nchosen: {result['chosen_counts']}; median left-out score {result['median_left_out']:g}, "
          f"worst {result['worst_left_out']:g}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"metric": args.metric, "candidates": list(candidates), **result}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

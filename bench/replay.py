"""Replay benchmark: every tuner and peer on exhaustive, real search spaces.

Each input file holds the measured cost of *every* config of one search space, so the
optimum is known and a tuner's progress is exact. Inputs (any number, any mix):

* Kernel Tuner cache files (``../shared/data/kernel_tuner/*/*.json.gz``, GPU
  convolution and pnpoly from AutoTuningAssociation/benchmark_hub, MIT);
* exhaustive AutoTVM v0.1/v0.2 logs, e.g. ``bench/data/*.json`` and
  ``bench/data/network/*.json.gz`` (adatune's CPU templates brute-forced on this machine
  by ``bench/gen_exhaustive_logs.py``; the second set: layers of ResNet-18/50,
  MobileNetV2 and BERT-base for the host's AVX-512 target).

Each file becomes a :class:`adatune.measure.ReplaySpace`; our tuners measure through a
:class:`adatune.measure.ReplayRunner` (batches of 8, as a real runner). Compared on the
same spaces, seeds and budgets:

* ours: ``random``, ``grid``, ``ga``, ``xgb-reg``, ``xgb-rank`` (AutoTVM's XGBoost
  tuner), ``droplet`` (AutoTVM's DropletSearch, ``tuner="droplet"``, from a start drawn
  with the seed: from its fixed default start every seed walks one path), ``rfei-fixed``
  (random forest + EI, epsilon 0.05), ``rfei-dynamic`` (uncertainty-aware epsilon, the
  default ``RFEITuner``);
* Kernel Tuner 1.5 in simulation mode (``kt-<strategy>``, :data:`KT_STRATEGIES`: its
  bayes_opt, GA, annealing and random sampling, dual annealing, greedy ILS/MLS, basin
  hopping and the two hybrids; greedy ILS/MLS also with adjacent neighbours and full
  climbs, see ``_KT_VARIANTS``): the space is written as a Kernel Tuner cache file and
  ``tune_kernel(simulation_mode=True)`` runs on it with a restriction accepting exactly
  the recorded configs (failures included, as for ours) and ``max_fevals`` = budget
  (dual annealing: more, see ``_KT_FEVALS_PER_TRIAL``);
* Optuna 5's TPE (``optuna-tpe``) and Gaussian-process sampler (``optuna-gp``, needs
  torch, which the bench extra leaves out: without it the default list leaves it out
  with a note) over the same categorical knobs (``optuna-gp-ordinal``: the GP over the
  knobs' value positions as integers, which keeps their order), and SMAC3 2.4 (``smac``: its
  hyperparameter-optimisation facade, random forest + log EI + local search +
  interleaved random configs) over ordinal knobs, driven by ask/tell; an unrecorded
  combination scores as a failure without counting as a measurement.

Every tuner is counted in unique measurements. Per space, tuner and seed: trials to
reach the optimum, 99 % and 95 % of the optimum throughput (budget + 1 when never
reached), best quality (optimum cost / best cost found) after 50/100/200/400 trials,
simulated seconds (recorded compile + run time) to 99 %, and tuner overhead per trial.
Summaries: medians and IQRs over seeds per space; per tuner, the median over spaces of
the per-space medians; a wins table (lowest median trials-to-99 % per space).

Reproduce (from the repository root)::

    python bench/replay.py --json replay.json --plot replay.png          # full: 20 seeds, 400 trials
    python bench/replay.py --quick --json out.json SPACES...             # quick: 4 seeds, 200 trials
    python bench/replay.py --tuners rfei-dynamic,xgb-reg --seeds 3 FILE  # a subset
    python bench/replay.py --tuners rfei-dynamic,rfei-nolocal,rfei-plan32-nolocal,xgb-reg --seeds 16
                                                                         # ablations (ABLATIONS)

With ``--json OUT``, every finished run is appended to ``OUT.partial.jsonl`` as it ends;
an interrupted invocation rerun as it was skips the runs found there (a line cut by the
interruption is reported and skipped), and the file goes once ``OUT`` is written.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import glob
import gzip
import importlib.util
import json
import math
import os
import random
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "python"))

from adatune.measure import ReplayRunner, ReplaySpace  # noqa: E402
from adatune.tuner import UncertaintyEpsilon, create_tuner  # noqa: E402

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "data")
DEFAULT_SPACES = (sorted(glob.glob(os.path.join(SHARED, "kernel_tuner", "*", "*.json.gz")))
                  + sorted(glob.glob(os.path.join(ROOT, "bench", "data", "*.json")))
                  + sorted(glob.glob(os.path.join(ROOT, "bench", "data", "network", "*.json.gz"))))

OURS: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "rfei-dynamic": ("rfei", {}),
    "rfei-fixed": ("rfei", {"epsilon": 0.05}),
    "xgb-reg": ("xgb", {}),
    "xgb-rank": ("xgb-rank", {}),
    "ga": ("ga", {}),
    "random": ("random", {}),
    "grid": ("grid", {}),
    "droplet": ("droplet", {"start_position": "random"}),
}
# Ablations (not run by default; name them in --tuners): what the tuner defaults buy.
# The earlier ones are pinned to the defaults they were run against (plan 64, epsilon in
# [0.02, 0.5], no local share, first fit after 16, EI only) so that the tables in docs/
# keep their meaning.
_OLD: Dict[str, Any] = {"plan_size": 64, "epsilon": UncertaintyEpsilon(0.02, 0.5), "local_share": 0.0,
                        "first_fit": 16, "thompson_share": 0.0}
# Stop 23's defaults (a refit every 16, first fit after 16, plans ranked by EI only): the
# ablations of stops 9-23 were run against them and stay pinned to them.
_STOP23: Dict[str, Any] = {"plan_size": 16, "first_fit": 16, "thompson_share": 0.0}
ABLATIONS: Dict[str, Tuple[str, Dict[str, Any]]] = {
    "rfei-stop23": ("rfei", dict(_STOP23)),
    "rfei-fixed-stop23": ("rfei", {**_STOP23, "epsilon": 0.05}),
    # against stop 23's defaults (local share 0.5, epsilon in [0.02, 0.2])
    "rfei-nolocal": ("rfei", {**_STOP23, "local_share": 0.0}),
    "rfei-local25": ("rfei", {**_STOP23, "local_share": 0.25}),
    "rfei-local25-top2": ("rfei", {**_STOP23, "local_share": 0.25, "local_top": 2}),
    "rfei-plan8-nolocal": ("rfei", {**_STOP23, "plan_size": 8, "local_share": 0.0}),
    "rfei-plan8-local25": ("rfei", {**_STOP23, "plan_size": 8, "local_share": 0.25}),
    "rfei-plan32-nolocal": ("rfei", {**_STOP23, "plan_size": 32, "local_share": 0.0}),  # the stop-8 defaults
    "rfei-plan32-local25": ("rfei", {**_STOP23, "plan_size": 32, "local_share": 0.25}),
    "rfei-plan32-local50": ("rfei", {**_STOP23, "plan_size": 32}),
    "rfei-plan32-leaf2": ("rfei", {**_STOP23, "plan_size": 32, "local_share": 0.0, "min_samples_leaf": 2}),
    "rfei-plan32-mf0.5": ("rfei", {**_STOP23, "plan_size": 32, "local_share": 0.0, "max_features": 0.5}),
    "rfei-eps0.5-now": ("rfei", {**_STOP23, "epsilon": UncertaintyEpsilon(0.02, 0.5)}),  # wider epsilon range
    "rfei-mf0.5": ("rfei", {**_STOP23, "max_features": 0.5}),  # decorrelated trees: a wider spread
    "rfei-marg25": ("rfei", {**_STOP23, "marginal_share": 0.25}),  # a quarter of model picks by knob ratio
    # issue 15, stop 24: an earlier first fit, shorter plans, Thompson draws
    "rfei-ff8": ("rfei", {**_STOP23, "first_fit": 8}),
    "rfei-plan8-ff8": ("rfei", {**_STOP23, "plan_size": 8, "first_fit": 8}),
    "rfei-ts": ("rfei", {**_STOP23, "thompson_share": 1.0}),  # global picks by one tree each
    "rfei-ts50": ("rfei", {**_STOP23, "thompson_share": 0.5}),
    "rfei-ts-plan8": ("rfei", {**_STOP23, "thompson_share": 1.0, "plan_size": 8, "first_fit": 8}),
    "rfei-ts-plan8-fixed": ("rfei", {**_STOP23, "thompson_share": 1.0, "plan_size": 8, "first_fit": 8,
                                     "epsilon": 0.05}),
    "rfei-ts50-plan8": ("rfei", {**_STOP23, "thompson_share": 0.5, "plan_size": 8, "first_fit": 8}),
    "rfei-ts-plan8-local25": ("rfei", {**_STOP23, "thompson_share": 1.0, "plan_size": 8, "first_fit": 8,
                                       "local_share": 0.25}),
    # issue 15, stop 25: hedges for the narrow optima (pnpoly/RTX_3090), on the default
    "rfei-ts75": ("rfei", {"thompson_share": 0.75}),  # at plans of 8 rounds to ts50's split mostly
    "rfei-ts50-marg": ("rfei", {"thompson_share": 0.5, "marginal_share": 0.25}),  # TPE-like knob ratios
    # against the earlier defaults
    "rfei-previous": ("rfei", dict(_OLD)),
    "rfei-first-fit-64": ("rfei", {**_OLD, "first_fit": None}),
    "rfei-sa": ("rfei", {**_OLD, "exhaustive_limit": 0}),
    "xgb-first-fit-16": ("xgb", {"first_fit": 16}),
    "rfei-plan32": ("rfei", {**_OLD, "plan_size": 32}),
    "rfei-plan32-eps0.2": ("rfei", {**_OLD, "plan_size": 32, "epsilon": UncertaintyEpsilon(0.02, 0.2)}),
    "rfei-fixed-plan32": ("rfei", {**_OLD, "plan_size": 32, "epsilon": 0.05}),
    "rfei-xi0.01": ("rfei", {**_OLD, "xi": 0.01}),
    "rfei-eps0.2": ("rfei", {**_OLD, "epsilon": UncertaintyEpsilon(0.02, 0.2)}),
}
KT_STRATEGIES = ("bayes_opt", "genetic_algorithm", "simulated_annealing", "random_sample",
                 # the strongest in Schoonhoven et al. (2022), and Kernel Tuner 1.5's hybrids
                 "dual_annealing", "greedy_ils", "greedy_mls", "basinhopping",
                 "adaptive_tabu_greywolf", "hybrid_vndx",
                 # greedy ILS/MLS with adjacent neighbours and full climbs: _KT_VARIANTS
                 "greedy_ils-best", "greedy_mls-best")
# Kernel Tuner 1.5's greedy ILS/MLS, as shipped, barely beat random sampling here, even
# on a convex bowl, for two reasons in their defaults (not in this harness):
# - the hill climber, with ``restart=True``, returns after the first improving neighbour
#   (``if found_improved and restart: break`` leaves the climb). MLS then draws a new
#   random start; ILS perturbs the point it reached, not its best;
# - the "Hamming" neighbourhood is every other value of every knob (33 configs on a 12^3
#   space), so a best-improvement climb makes about three moves in 100 evaluations.
# The "-best" variants use two documented options, ``neighbor="adjacent"`` (one index
# step on any subset of knobs) and ``restart=False`` (climb until no neighbour improves).
# On the 12^3 bowl, at 100 trials and over six seeds, they reach the optimum in 5 (ILS)
# and 3 (MLS) seeds, against 0 and 1 as shipped. They are reported next to the defaults
# as the strongest way a Kernel Tuner user could run them.
_KT_BEST = {"neighbor": "adjacent", "restart": False}
_KT_VARIANTS = {"greedy_ils-best": ("greedy_ils", _KT_BEST), "greedy_mls-best": ("greedy_mls", _KT_BEST)}

# A Kernel Tuner strategy ends after about this many seconds of its own time; its trace
# holds the unique configs it measured by then (fewer than the budget: never reached).
# SciPy's basin hopping evaluates mostly repeated or restricted points on the larger
# spaces (more than 5 minutes for one 200-trial run on the 2080 Ti convolution space);
# the slowest other peers (Optuna TPE, SMAC3) take 35-50 s for a run. In simulation mode
# Kernel Tuner's time limit also counts the cached compile and benchmark times of each
# new config; :func:`_own_time_budget` makes it count the strategy's own time only.
KT_TIME_LIMIT_S = 60.0

# Kernel Tuner passes max_fevals to SciPy's dual_annealing as maxfun, which counts the
# repeated evaluations of configs it already has (its continuous points snap to the same
# grid points): with max_fevals = budget it ends after about a third of the budget in
# unique trials. It gets more evaluations; its trace is cut at the budget like any other.
_KT_FEVALS_PER_TRIAL = {"dual_annealing": 8}
ASK_TELL_PEERS = ("optuna-tpe", "optuna-gp", "optuna-gp-ordinal", "smac")
ALL_TUNERS = (*OURS, *(f"kt-{s}" for s in KT_STRATEGIES), *ASK_TELL_PEERS)
_KNOWN = (*ALL_TUNERS, *ABLATIONS)
# What each peer imports, and how to get it. torch is not in adatune's [bench] extra: the
# default PyPI wheel is a 5.5 GB CUDA build, and only Optuna's GPSampler needs it.
_BENCH_EXTRA = "pip install -e '.[bench]'"
PEER_MODULES = {
    "kt-": (("kernel_tuner", _BENCH_EXTRA),),
    "optuna-": (("optuna", _BENCH_EXTRA),),
    "optuna-gp": (("torch", "pip install torch --index-url https://download.pytorch.org/whl/cpu"),),
    "smac": (("smac", _BENCH_EXTRA),),
}


def missing_modules(tuners: Sequence[str]) -> List[str]:
    """One line per tuner whose peer library is not installed: what it needs, how to
    get it (checked before any run starts, not hours into one)."""
    out = []
    for t in tuners:
        needs = [m for prefix, mods in PEER_MODULES.items() if t.startswith(prefix) for m in mods]
        for module, how in needs:
            if importlib.util.find_spec(module) is None:
                out.append(f"{t} needs the {module!r} module ({how}), or leave {t} out of --tuners")
    return out


LEVELS = {"opt": 1.0, "99": 0.99, "95": 0.95}
CHECKPOINTS = (50, 100, 200, 400)
OUR_BATCH = 8
_TOL = 1e-9


# ---------------------------------------------------------------------- one run
def _space(path: str, _cache: Dict[str, ReplaySpace] = {}) -> ReplaySpace:  # noqa: B006 - per-process cache
    if path not in _cache:
        _cache[path] = ReplaySpace.load(path)
    return _cache[path]


def _run_ours(space: ReplaySpace, label: str, seed: int, budget: int) -> Dict[str, Any]:
    name, kw = OURS[label] if label in OURS else ABLATIONS[label]
    # A fresh copy per run: an epsilon policy keeps its last value.
    tuner = create_tuner(name, space, seed=seed, **copy.deepcopy(kw))
    trace: List[Tuple[float, float]] = []

    def _collect(_tuner: Any, inputs: Sequence[Any], results: Sequence[Any]) -> None:
        for res in results:
            trace.append((space.quality(res.mean_cost), res.all_cost))

    summary = tuner.tune(budget, ReplayRunner(space, n_parallel=OUR_BATCH), callbacks=[_collect])
    eps = [float(e) for e in getattr(tuner, "epsilon_history", [])]
    return {"trace": trace, "tuner_seconds": summary.tuner_time, "epsilons": eps}


def _scalar_values(knob: Any) -> List[Any]:
    """A knob's candidates as Kernel Tuner / Optuna values: the values when scalar, else positions."""
    vals = [getattr(knob, "candidates", None)]
    cands = list(knob.candidates) if vals[0] is not None else list(range(len(knob)))
    if all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in cands):
        return cands
    return list(range(len(cands)))


def _axes(space: ReplaySpace) -> List[Tuple[str, List[Any], List[int]]]:
    """The peers' search axes: per knob, its name, the values the recorded configs use
    (scalars, else positions) and their positions in our ``config_space``.

    A network space is a template's grid restricted to a few values per knob (see
    bench/gen_exhaustive_logs.py); our tuners see it through the space's constraint. A
    peer is given the same restriction as axes, so its product is 1-4x the recorded set
    (the template's validity rules inside it), as a Kernel Tuner GPU space is, instead of
    10-1,000x with every value of the unrestricted template."""
    cs = space.config_space
    used: List[set] = [set() for _ in cs.knobs]
    for idx in space.entries:
        for k, d in enumerate(cs.digits(idx)):
            used[k].add(d)
    axes = []
    for (name, knob), pos in zip(cs.knobs.items(), used):
        vals = _scalar_values(knob)
        axes.append((name, [vals[d] for d in sorted(pos)], sorted(pos)))
    return axes


def _digits(axes: Sequence[Tuple[str, List[Any], List[int]]], choice: Sequence[int]) -> List[int]:
    """Our config-space digits of a peer's choice (an index into each axis's values)."""
    return [pos[c] for (_, _, pos), c in zip(axes, choice)]


def _write_kt_cache(space: ReplaySpace, path: str) -> Dict[str, int]:
    """Write ``space`` as a Kernel Tuner cache file; returns config key -> our index."""
    axes = _axes(space)
    cs = space.config_space
    cache, keys = {}, {}
    for idx, entry in space.entries.items():
        values = [vals[pos.index(d)] for (_, vals, pos), d in zip(axes, cs.digits(idx))]
        key = ",".join(str(v) for v in values)
        rec: Dict[str, Any] = dict(zip((n for n, _, _ in axes), values))
        if entry.ok:
            rec["time"] = entry.cost * 1e3
        else:
            rec["time"] = "CompilationFailedConfig" if entry.error_no in (2, 3, 6) else "RuntimeFailedConfig"
        rec.update(compile_time=entry.charge * 1e3, verification_time=0, benchmark_time=0)
        cache[key] = rec
        keys[key] = idx
    doc = {"device_name": "replay", "kernel_name": "replay", "problem_size": [1],
           "tune_params_keys": [n for n, _, _ in axes], "tune_params": {n: v for n, v, _ in axes},
           "objective": "time", "cache": cache}
    with open(path, "w") as f:
        json.dump(doc, f)
    return keys


def _own_time_budget() -> None:
    """Make Kernel Tuner's time limit count wall time only, not the simulated compile and
    benchmark times it adds per new config in simulation mode (which would end a run
    after a minute of simulated measurements: the budget is in trials here)."""
    from datetime import timedelta

    from kernel_tuner import util as kt_util

    kt_util.TuningBudget.get_time_spent = lambda self: timedelta(seconds=self.start_timer.get())


def _run_kt(space: ReplaySpace, strategy: str, seed: int, budget: int) -> Dict[str, Any]:
    from constraint import FunctionConstraint
    from kernel_tuner import tune_kernel

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "cache.json")
        keys = _write_kt_cache(space, path)
        axes = _axes(space)
        names = [n for n, _, _ in axes]
        recorded = set(keys)

        def _recorded(*values: Any) -> bool:
            return ",".join(str(v) for v in values) in recorded

        strategy, options = _KT_VARIANTS.get(strategy, (strategy, {}))
        options = {**options, "max_fevals": min(_KT_FEVALS_PER_TRIAL.get(strategy, 1) * budget, len(keys)),
                   "time_limit": KT_TIME_LIMIT_S}
        _own_time_budget()
        random.seed(seed)
        np.random.seed(seed)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results, _env = tune_kernel(
                "replay", "", (1,), [], {n: v for n, v, _ in axes},
                restrictions=[FunctionConstraint(_recorded, names)], strategy=strategy,
                strategy_options=options,
                cache=path,
                simulation_mode=True, quiet=True, verbose=False)
        elapsed = time.perf_counter() - t0
    trace, seen = [], set()
    for r in results:
        if r is None:
            continue
        key = ",".join(str(r[n]) for n in names)
        if key in seen or key not in keys:
            continue
        seen.add(key)
        entry = space.entries[keys[key]]
        trace.append((space.quality(entry.cost), entry.charge))
        if len(trace) >= budget:
            break
    return {"trace": trace, "tuner_seconds": elapsed, "epsilons": []}


class _AskTell:
    """What the ask/tell peers (Optuna, SMAC3) share: a proposal in knob positions is
    looked up in the space; an unrecorded combination (invalid in the real space) or a
    failed config scores twice the worst recorded cost, so the peer learns to avoid it,
    and only a recorded config not proposed before counts as a trial.

    A run ends when the budget is spent or when ``_MAX_STALE_ASKS`` asks in a row
    brought no new config: Optuna's GPSampler settles on its incumbent and re-proposes
    it (on mobilenetv2_conv1x1_14_nhwc, seed 0: 64 new configs in the first 350 asks,
    none in the next 350), and since each ask refits its GP on every told trial,
    duplicates included, a stuck run took over 10 minutes to spend its ask cap."""

    def __init__(self, space: ReplaySpace, budget: int):
        self.space = space
        self.want = min(budget, space.n_recorded)
        self.worst = max(e.cost for e in space.entries.values() if e.ok)
        self.trace: List[Tuple[float, float]] = []
        self.seen: set = set()
        self.stale = 0  # asks since the last new config

    @property
    def done(self) -> bool:
        return len(self.trace) >= self.want or self.stale >= _MAX_STALE_ASKS

    def cost(self, digits: Sequence[int]) -> float:
        idx = self.space.config_space.from_digits(list(digits))
        entry = self.space.entries.get(idx)
        self.stale += 1
        if entry is not None and idx not in self.seen:
            self.seen.add(idx)
            self.trace.append((self.space.quality(entry.cost), entry.charge))
            self.stale = 0
        return entry.cost if entry is not None and entry.ok else 2 * self.worst


# Peers re-propose known and unrecorded configs; their asks are capped at this many per
# budgeted trial (a run that hits the cap reports fewer trials: never reached).
_MAX_ASKS_PER_TRIAL = 20
# ... and a run ends after this many asks in a row without a new config (see _AskTell).
_MAX_STALE_ASKS = 100


def _run_optuna(space: ReplaySpace, sampler_name: str, seed: int, budget: int) -> Dict[str, Any]:
    """``sampler_name``: ``tpe`` or ``gp`` over categorical knobs, or ``gp-ordinal``: the GP
    over each knob's value positions as integers, so its kernel sees their order (as
    SMAC3's ordinal knobs do; with categorical knobs it sees only same or different)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    axes = _axes(space)
    ordinal = sampler_name.endswith("-ordinal")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # GPSampler is marked experimental
        sampler = (optuna.samplers.TPESampler(seed=seed) if sampler_name == "tpe"
                   else optuna.samplers.GPSampler(seed=seed))
    study = optuna.create_study(direction="minimize", sampler=sampler)
    run = _AskTell(space, budget)
    t0 = time.perf_counter()
    for _ in range(_MAX_ASKS_PER_TRIAL * budget):
        if run.done:
            break
        trial = study.ask()
        if ordinal:
            choice = [trial.suggest_int(name, 0, len(vals) - 1) for name, vals, _ in axes]
        else:
            choice = [vals.index(trial.suggest_categorical(name, vals)) for name, vals, _ in axes]
        study.tell(trial, run.cost(_digits(axes, choice)))
    return {"trace": run.trace, "tuner_seconds": time.perf_counter() - t0, "epsilons": []}


def _run_smac(space: ReplaySpace, seed: int, budget: int) -> Dict[str, Any]:
    """SMAC3's hyperparameter-optimisation facade (random forest, log EI, local and
    random search interleaved, Sobol initial design sized for ``budget`` trials) over
    the knobs as ordinal hyperparameters (positions keep their order, as a SMAC user
    would declare tile sizes)."""
    import logging

    from ConfigSpace import ConfigurationSpace, Constant, OrdinalHyperparameter
    from smac import HyperparameterOptimizationFacade as HPO
    from smac import Scenario
    from smac.main.exceptions import ConfigurationSpaceExhaustedException
    from smac.runhistory.dataclasses import TrialValue

    logging.getLogger("smac").setLevel(logging.ERROR)
    axes = _axes(space)
    cs = ConfigurationSpace(seed=seed)
    for name, vals, _ in axes:
        cs.add(Constant(name, 0) if len(vals) == 1 else OrdinalHyperparameter(name, list(range(len(vals)))))
    run = _AskTell(space, budget)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sized = Scenario(cs, deterministic=True, n_trials=budget, seed=seed, output_directory=tmp)
        scenario = Scenario(cs, deterministic=True, n_trials=_MAX_ASKS_PER_TRIAL * budget, seed=seed,
                            output_directory=tmp)
        smac = HPO(scenario, lambda config, seed=0: 0.0, initial_design=HPO.get_initial_design(sized),
                   overwrite=True, logging_level=logging.ERROR)
        for _ in range(_MAX_ASKS_PER_TRIAL * budget):
            if run.done:
                break
            try:
                info = smac.ask()
            except ConfigurationSpaceExhaustedException:
                break  # it has proposed every combination: the run ends with what it found
            choice = [int(info.config[name]) for name, _, _ in axes]
            smac.tell(info, TrialValue(cost=run.cost(_digits(axes, choice))))
    return {"trace": run.trace, "tuner_seconds": time.perf_counter() - t0, "epsilons": []}


def run_one(path: str, label: str, seed: int, budget: int) -> Dict[str, Any]:
    """One tuner on one space with one seed; returns its per-trial trace and metrics."""
    space = _space(path)
    if label in OURS or label in ABLATIONS:
        out = _run_ours(space, label, seed, budget)
    elif label.startswith("kt-"):
        out = _run_kt(space, label[3:], seed, budget)
    elif label in ("optuna-tpe", "optuna-gp", "optuna-gp-ordinal"):
        out = _run_optuna(space, label[7:], seed, budget)
    elif label == "smac":
        out = _run_smac(space, seed, budget)
    else:
        raise ValueError(f"unknown tuner {label!r}; choose from {_KNOWN}")
    return _metrics(path, label, seed, budget, out)


def _metrics(path: str, label: str, seed: int, budget: int, out: Dict[str, Any]) -> Dict[str, Any]:
    trace = out["trace"]
    best, curve, clock, clocks = 0.0, [], 0.0, []
    for q, charge in trace:
        best = max(best, q)
        clock += charge
        curve.append(best)
        clocks.append(clock)
    row: Dict[str, Any] = {"space": path, "tuner": label, "seed": seed, "n_trials": len(trace),
                           "curve": [round(q, 6) for q in curve],
                           "tuner_seconds": out["tuner_seconds"],
                           "overhead_per_trial_ms": 1e3 * out["tuner_seconds"] / max(1, len(trace)),
                           "epsilons": out["epsilons"]}
    for key, level in LEVELS.items():
        hit = next((i for i, q in enumerate(curve) if q >= level - _TOL), None)
        row[f"trials_to_{key}"] = hit + 1 if hit is not None else budget + 1
        row[f"seconds_to_{key}"] = clocks[hit] if hit is not None else None
    for c in CHECKPOINTS:
        if c <= budget:
            row[f"best_at_{c}"] = curve[min(c, len(curve)) - 1] if curve else 0.0
    return row


# ---------------------------------------------------------------------- summaries
def _q(xs: Sequence[float]) -> Tuple[float, float, float]:
    a = np.asarray([x for x in xs if x is not None], dtype=float)
    if a.size == 0:
        return (math.nan, math.nan, math.nan)
    return tuple(float(v) for v in np.percentile(a, [50, 25, 75]))


def summarise(runs: List[Dict[str, Any]], spaces: Sequence[str], tuners: Sequence[str],
              budget: int) -> Dict[str, Any]:
    per_space: Dict[str, Dict[str, Any]] = {}
    for sp in spaces:
        per_space[sp] = {}
        for t in tuners:
            mine = [r for r in runs if r["space"] == sp and r["tuner"] == t]
            if not mine:
                continue
            s: Dict[str, Any] = {"seeds": len(mine)}
            for key in LEVELS:
                med, lo, hi = _q([r[f"trials_to_{key}"] for r in mine])
                s[f"median_trials_to_{key}"], s[f"iqr_trials_to_{key}"] = med, [lo, hi]
                s[f"reached_{key}"] = sum(r[f"trials_to_{key}"] <= budget for r in mine)
            s["median_seconds_to_99"] = _q([r["seconds_to_99"] for r in mine])[0]
            for c in CHECKPOINTS:
                if c <= budget:
                    med, lo, hi = _q([r[f"best_at_{c}"] for r in mine])
                    s[f"median_best_at_{c}"], s[f"iqr_best_at_{c}"] = med, [lo, hi]
            s["median_overhead_per_trial_ms"] = _q([r["overhead_per_trial_ms"] for r in mine])[0]
            per_space[sp][t] = s
    overall: Dict[str, Any] = {}
    for t in tuners:
        rows = [per_space[sp][t] for sp in spaces if t in per_space[sp]]
        if not rows:
            continue
        overall[t] = {
            "median_trials_to_opt": float(np.median([r["median_trials_to_opt"] for r in rows])),
            "median_trials_to_99pct": float(np.median([r["median_trials_to_99"] for r in rows])),
            "median_trials_to_95pct": float(np.median([r["median_trials_to_95"] for r in rows])),
            "median_overhead_per_trial_ms": float(np.median([r["median_overhead_per_trial_ms"] for r in rows])),
            "per_space": {os.path.relpath(sp, os.path.dirname(ROOT)): {
                "median_trials_to_opt": per_space[sp][t]["median_trials_to_opt"],
                "median_trials_to_99pct": per_space[sp][t]["median_trials_to_99"],
                "median_trials_to_95pct": per_space[sp][t]["median_trials_to_95"],
                "iqr_trials_to_99pct": per_space[sp][t]["iqr_trials_to_99"],
                **{f"median_best_at_{c}": per_space[sp][t][f"median_best_at_{c}"]
                   for c in CHECKPOINTS if c <= budget},
            } for sp in spaces if t in per_space[sp]},
        }
    wins = {t: 0.0 for t in tuners}
    for sp in spaces:
        vals = {t: per_space[sp][t]["median_trials_to_99"] for t in tuners if t in per_space[sp]}
        if vals:
            best = min(vals.values())
            winners = [t for t, v in vals.items() if v == best]
            for t in winners:
                wins[t] += 1.0 / len(winners)
    return {"per_space": per_space, "overall": overall, "wins_99": wins}


def _short(path: str) -> str:
    parts = os.path.normpath(path).split(os.sep)
    name = parts[-1].split(".")[0]
    return f"{parts[-2]}/{name}" if parts[-2] not in ("data",) else name


def markdown(summary: Dict[str, Any], spaces: Sequence[str], tuners: Sequence[str], budget: int) -> str:
    out = []
    hdr = ["tuner", "trials to 99% (median over spaces)", "trials to 95%", "trials to optimum",
           "vs xgb-reg (99%)", "wins (99%)", "overhead ms/trial"]
    out.append("| " + " | ".join(hdr) + " |")
    out.append("|" + " --- |" * len(hdr))
    base = summary["overall"].get("xgb-reg", {}).get("median_trials_to_99pct")
    for t in tuners:
        o = summary["overall"].get(t)
        if o is None:
            continue
        ratio = f"{o['median_trials_to_99pct'] / base:.2f}x" if base else "-"
        out.append(f"| {t} | {o['median_trials_to_99pct']:.1f} | {o['median_trials_to_95pct']:.1f} | "
                   f"{o['median_trials_to_opt']:.1f} | {ratio} | {summary['wins_99'][t]:.2f} | "
                   f"{o['median_overhead_per_trial_ms']:.2f} |")
    cps = [c for c in CHECKPOINTS if c <= budget]
    out.append("")
    hdr = ["space", "tuner", "to 99% median [IQR]", "to 95%", "to opt", *(f"best@{c}" for c in cps)]
    out.append("| " + " | ".join(hdr) + " |")
    out.append("|" + " --- |" * len(hdr))
    for sp in spaces:
        for t in tuners:
            s = summary["per_space"][sp].get(t)
            if s is None:
                continue
            lo, hi = s["iqr_trials_to_99"]
            out.append(f"| {_short(sp)} | {t} | {s['median_trials_to_99']:.0f} [{lo:.0f}-{hi:.0f}] | "
                       f"{s['median_trials_to_95']:.0f} | {s['median_trials_to_opt']:.0f} | "
                       + " | ".join(f"{s[f'median_best_at_{c}']:.3f}" for c in cps) + " |")
    return "\n".join(out)


def _is_peer(label: str) -> bool:
    """The issue's peers: every Kernel Tuner strategy, Optuna's samplers, SMAC3 and
    Droplet (AutoTVM's last search); not our own tuners, XGBoost or random sampling."""
    return (label.startswith(("kt-", "optuna-")) and label != "kt-random_sample") or label in ("smac", "droplet")


def against_peers(summary: Dict[str, Any], spaces: Sequence[str], ours: str = "rfei-dynamic") -> Optional[str]:
    """``ours`` against the best peer: overall (the peer with the lowest median over
    spaces) and space by space (the lowest peer on that space), trials to 99 %."""
    overall = summary["overall"]
    peers = [t for t in overall if _is_peer(t)]
    if ours not in overall or not peers:
        return None
    best = min(peers, key=lambda t: overall[t]["median_trials_to_99pct"])
    mine = overall[ours]["median_trials_to_99pct"]
    out = [f"{ours} against the best peer, trials to 99 % (median over seeds; seeds in brackets "
           f"where fewer than {ours}'s):", "",
           f"overall: {mine:.1f} against {best} {overall[best]['median_trials_to_99pct']:.1f} "
           f"= {mine / overall[best]['median_trials_to_99pct']:.2f}x", "",
           f"| space | {ours} | xgb-reg | best peer on the space | its trials | ratio |",
           "| --- | ---: | ---: | --- | ---: | ---: |"]
    ratios = []
    for sp in spaces:
        row = summary["per_space"][sp]
        if ours not in row:
            continue
        here = {t: row[t] for t in peers if t in row}
        if not here:
            continue
        top = min(here, key=lambda t: (here[t]["median_trials_to_99"], -here[t]["seeds"]))
        ratio = row[ours]["median_trials_to_99"] / here[top]["median_trials_to_99"]
        ratios.append((ratio, _short(sp)))
        seeds = f" [{here[top]['seeds']}]" if here[top]["seeds"] < row[ours]["seeds"] else ""
        xgb = f"{row['xgb-reg']['median_trials_to_99']:.1f}" if "xgb-reg" in row else "-"
        out.append(f"| {_short(sp)} | {row[ours]['median_trials_to_99']:.1f} | {xgb} | {top}{seeds} | "
                   f"{here[top]['median_trials_to_99']:.1f} | {ratio:.2f}x |")
    worst = max(ratios)
    out += ["", f"worst space: {worst[1]} at {worst[0]:.2f}x the best peer there; "
            f"{sum(r > 1.5 for r, _ in ratios)} of {len(ratios)} spaces above 1.5x"]
    return "\n".join(out)


def plot(runs: List[Dict[str, Any]], spaces: Sequence[str], tuners: Sequence[str], budget: int,
         path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(spaces)
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.8 * rows), squeeze=False)
    cmap = plt.get_cmap("tab20")
    for k, sp in enumerate(spaces):
        ax = axes[k // cols][k % cols]
        for j, t in enumerate(tuners):
            curves = [r["curve"] for r in runs if r["space"] == sp and r["tuner"] == t and r["curve"]]
            if not curves:
                continue
            m = np.array([c + [c[-1]] * (budget - len(c)) for c in curves])
            x = np.arange(1, budget + 1)
            med, lo, hi = (np.percentile(m, p, axis=0) for p in (50, 25, 75))
            style = "--" if t.startswith(("kt-", "optuna")) else "-"
            ax.plot(x, med, style, color=cmap(j), label=t, lw=2 if t.startswith("rfei") else 1)
            ax.fill_between(x, lo, hi, color=cmap(j), alpha=0.12)
        ax.set_title(_short(sp), fontsize=9)
        ax.set_xscale("log")
        ax.set_ylim(0.5, 1.01)
        ax.set_xlabel("unique trials")
        ax.set_ylabel("best quality (optimum / best cost)")
        ax.grid(alpha=0.3)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    axes[0][0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------------- main
def _merged(paths: Sequence[str], runs: List[Dict[str, Any]], spaces: Sequence[str], budget: int,
            ap: argparse.ArgumentParser) -> List[Dict[str, Any]]:
    """``runs`` joined with the runs of earlier JSON outputs on the same ``spaces`` (matched by
    name: the earlier run may have been made from another checkout) and ``budget``."""
    by_name = {_short(sp): sp for sp in spaces}
    out: Dict[Tuple[str, str, int], Dict[str, Any]] = {}
    for path in paths:
        try:
            with (gzip.open(path, "rt") if path.endswith(".gz") else open(path)) as f:
                doc = json.load(f)
        except (OSError, ValueError) as err:
            ap.error(f"--merge {path}: not a readable replay JSON ({err})")
        if doc.get("budget") != budget:
            ap.error(f"--merge {path}: budget {doc.get('budget')}, this run's is {budget}")
        for r in doc.get("runs", ()):
            sp = by_name.get(_short(r["space"]))
            if sp is not None:
                out[(sp, r["tuner"], r["seed"])] = {**r, "space": sp}
    for r in runs:
        out[(r["space"], r["tuner"], r["seed"])] = r
    return list(out.values())


def _checkpoint_path(json_path: Optional[str]) -> Optional[str]:
    """Where finished runs are appended while a run with ``--json`` goes on (removed once
    the JSON is written): a rerun of the same command skips the runs it holds."""
    return f"{json_path}.partial.jsonl" if json_path else None


def _finished_runs(path: Optional[str], spaces: Sequence[str], budget: int) -> Dict[Tuple[str, str, int], Dict[str, Any]]:
    """Runs of an interrupted earlier invocation (same spaces by name, same budget)."""
    if not path or not os.path.exists(path):
        return {}
    by_name = {_short(sp): sp for sp in spaces}
    done: Dict[Tuple[str, str, int], Dict[str, Any]] = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                key = (by_name.get(_short(r["space"])), r["tuner"], int(r["seed"]))
                run_budget = r.pop("budget")
            except (ValueError, KeyError, TypeError) as err:  # a line cut by the interruption
                print(f"{path}:{n}: unreadable run skipped ({err})", file=sys.stderr)
                continue
            if key[0] is not None and run_budget == budget:
                done[key] = {**r, "space": key[0]}
    return done


def _progress(done: int, total: int, t0: float) -> None:
    if done % 10 == 0 or done == total:
        print(f"[{done}/{total} runs, {time.time() - t0:.0f} s]", file=sys.stderr, flush=True)


def main(argv: Sequence[str] = ()) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spaces", nargs="*", help="Kernel Tuner caches / exhaustive AutoTVM logs "
                    "(default: ../shared/data/kernel_tuner/*/*.json.gz and bench/data/*.json)")
    ap.add_argument("--quick", action="store_true", help="4 seeds, 200 trials (fewer spaces when none are named)")
    ap.add_argument("--seeds", type=int, default=None, help="seeds per space and tuner (full: 20)")
    ap.add_argument("--first-seed", type=int, default=0,
                    help="seeds run are first-seed .. first-seed + seeds - 1 (to extend an earlier run)")
    ap.add_argument("--merge", nargs="+", default=(), metavar="JSON",
                    help="earlier --json outputs whose runs join this one's tables (a run of the "
                    "same space, tuner and seed here replaces theirs); with --tuners '' only merges")
    ap.add_argument("--budget", type=int, default=None, help="unique trials per run (full: 400)")
    ap.add_argument("--tuners", default=None, help="comma-separated labels (default: every tuner "
                    "and peer; a peer whose library is missing is left out, with a note)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes")
    ap.add_argument("--json", default=None, help="write raw numbers and summaries here (while it "
                    "runs, finished runs go to JSON.partial.jsonl; the same command resumes from it)")
    ap.add_argument("--plot", default=None, help="write the best-so-far PNG here")
    args = ap.parse_args(list(argv))
    if args.tuners is None:
        tuners = []
        for t in ALL_TUNERS:
            missing = missing_modules([t])
            for line in missing:
                print(f"left out: {line}", file=sys.stderr)
            if not missing:
                tuners.append(t)
    else:
        tuners = [t.strip() for t in args.tuners.split(",") if t.strip()]
    for t in tuners:
        if t not in _KNOWN:
            ap.error(f"unknown tuner {t!r}; choose from {', '.join(_KNOWN)}")
    missing = missing_modules(tuners)
    if missing:
        ap.error("; ".join(missing))
    spaces = [os.path.abspath(p) for p in (args.spaces or DEFAULT_SPACES)]
    if args.quick and not args.spaces:
        spaces = spaces[::2]
    for sp in spaces:
        _space(sp)  # fail early, naming the file, on unreadable input
    n_seeds = args.seeds or (4 if args.quick else 20)
    budget = args.budget or (200 if args.quick else 400)
    if args.first_seed < 0:
        ap.error(f"--first-seed must be >= 0, got {args.first_seed}")
    jobs = [(sp, t, s) for sp in spaces for t in tuners
            for s in range(args.first_seed, args.first_seed + n_seeds)]
    # Optuna's asks cost grows with its study (about 70 % of the CPU of a quick run):
    # start those first so the pool does not end on a tail of them.
    jobs.sort(key=lambda job: job[1] not in ASK_TELL_PEERS)
    checkpoint = _checkpoint_path(args.json)
    finished = _finished_runs(checkpoint, spaces, budget)
    runs = [finished[j] for j in jobs if j in finished]
    if runs:
        print(f"resuming: {len(runs)} of {len(jobs)} runs from {checkpoint}", file=sys.stderr)
    todo = [j for j in jobs if j not in finished]
    t0 = time.time()
    with (open(checkpoint, "a") if checkpoint else contextlib.nullcontext()) as ckpt:
        if ckpt is not None and ckpt.tell() > 0:
            ckpt.write("\n")  # the last line may have been cut: never append to it
        def keep(run: Dict[str, Any], k: int) -> None:
            runs.append(run)
            if ckpt is not None:
                ckpt.write(json.dumps({**run, "budget": budget}) + "\n")
                ckpt.flush()
            _progress(k, len(todo), t0)

        if args.jobs > 1:
            with ProcessPoolExecutor(args.jobs) as ex:
                futs = [ex.submit(run_one, sp, t, s, budget) for sp, t, s in todo]
                for k, f in enumerate(futs, 1):
                    keep(f.result(), k)
        else:
            for k, (sp, t, s) in enumerate(todo, 1):
                keep(run_one(sp, t, s, budget), k)
    wall = time.time() - t0
    if args.merge:
        runs = _merged(args.merge, runs, spaces, budget, ap)
        tuners = list(dict.fromkeys([*tuners, *(r["tuner"] for r in runs)]))
        n_seeds = len({r["seed"] for r in runs})
    summary = summarise(runs, spaces, tuners, budget)
    print(f"Replay of {len(spaces)} exhaustive spaces, {n_seeds} seeds, budget {budget} unique trials, "
          f"{wall:.0f} s. Medians over seeds per space, then over spaces; never reached = "
          f"budget + 1.\n")
    print(markdown(summary, spaces, tuners, budget))
    table = against_peers(summary, spaces)
    if table:
        print("\n" + table)
    if "rfei-dynamic" in summary["overall"] and "xgb-reg" in summary["overall"]:
        o = summary["overall"]
        print(f"\nrfei-dynamic / xgb-reg trials to 99%: "
              f"{o['rfei-dynamic']['median_trials_to_99pct'] / o['xgb-reg']['median_trials_to_99pct']:.2f}")
    if args.plot:
        plot(runs, spaces, tuners, budget, args.plot)
    if args.json:
        report = {"budget": budget, "seeds": n_seeds, "wall_seconds": wall,
                  "spaces": {os.path.relpath(sp, os.path.dirname(ROOT)): {
                      "n_recorded": _space(sp).n_recorded, "n_failed": _space(sp).n_failed,
                      "optimum_seconds": _space(sp).optimum_cost} for sp in spaces},
                  **summary["overall"],
                  "summary": {"overall": summary["overall"], "wins_99": summary["wins_99"],
                              "per_space": {os.path.relpath(k, os.path.dirname(ROOT)): v
                                            for k, v in summary["per_space"].items()}},
                  "runs": runs}
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
        if checkpoint and os.path.exists(checkpoint):
            os.remove(checkpoint)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

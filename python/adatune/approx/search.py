"""Search strategies over an application's knob space, for :class:`ApproxTuner`.

A strategy proposes configs (indices of a :class:`~adatune.space.ConfigSpace` with one
choice knob per operator) and observes their QoS and speedup.

``ConstrainedEISearch`` (the ``"rfei"`` tuner) fits two random forests
(:class:`~adatune.tuner.ForestEI`), one on QoS and one on speedup, each predicting a
mean and a spread across trees (read as independent normal distributions), and ranks
unmeasured configs by one of two acquisitions:

* ``"ehvi"`` (the default): expected hypervolume improvement of the predicted
  (QoS, speedup) over the feasible Pareto front measured so far, above the reference
  point (tuner threshold, speedup 1). It is exact for two objectives (a sum over the
  front's QoS strips, see :func:`_ehvi`) and rewards every part of the front,
  including configs that might beat the best QoS seen so far (approximations that
  are more accurate than the baseline by chance sit at the front's high-QoS end);
* ``"cei"``: constrained expected improvement::

      a(x) = EI_speedup(x; best feasible speedup at level t) * P(QoS(x) >= t)

  at the tuner threshold and, with ``n_levels > 1``, at QoS levels drawn at random
  between the threshold and the best QoS measured, one ranking per level taken in
  turn (``"both"`` adds the EHVI ranking to those).

Optionally (``local_share``) a share of every plan goes to Pareto local search: unmeasured
one-knob neighbours of the current front's configs. A fraction epsilon of every plan is
random, set by :class:`~adatune.tuner.UncertaintyEpsilon` from the speedup forest
(RFEITuner's rule).

``RegistrySearch`` drives any tuner of :data:`adatune.tuner.TUNERS` on a scalar
objective: the speedup of configs that clear the threshold, a failed measurement for
those that do not (OpenTuner's "threshold accuracy, minimise time" objective).
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from ..space import ConfigSpace
from .._checks import check_choice, check_positive_int
from ..errors import ArgumentError
from ..tuner.epsilon import DEFAULT_EPS_RANGE, UNSET, EpsilonPolicy, UncertaintyEpsilon, resolve_epsilon
from ..tuner.planner import Planner, interleave
from ..tuner.forest import ForestEI, expected_improvement

__all__ = ["SearchStrategy", "ConstrainedEISearch", "RegistrySearch", "make_search"]

logger = logging.getLogger(__name__)

#: Spaces up to this size are scored exhaustively at every refit.
_SCORE_ALL_LIMIT = 8192


class SearchStrategy:
    """Proposes configs of ``space`` and learns from what they measured."""

    def __init__(self, space: ConfigSpace, threshold: float, rng: np.random.Generator):
        self.space = space
        self.threshold = float(threshold)
        self.rng = rng
        self.visited: set = set()

    def propose(self, n: int) -> List[int]:
        raise NotImplementedError

    def observe(self, indices: Sequence[int], qos: Sequence[float], speedup: Sequence[float]) -> None:
        raise NotImplementedError


def _onehot(space: ConfigSpace, indices: Sequence[int],
            knob_features: Optional[Sequence[np.ndarray]] = None) -> np.ndarray:
    """One column per (operator, knob), so forests can split on "operator uses knob k";
    then, per operator, the chosen knob's position and its numeric features (when
    given), so they can also split on "more aggressive than knob k"."""
    radices = space.radices
    offsets = np.concatenate([[0], np.cumsum(radices)[:-1]]).astype(np.int64)
    n_hot = int(sum(radices))
    extra = [] if knob_features is None else list(knob_features)
    width = n_hot + len(radices) + sum(f.shape[1] for f in extra)
    out = np.zeros((len(indices), width), dtype=np.float64)
    if len(indices):
        digits = np.array([space.digits(int(i)) for i in indices], dtype=np.int64)
        rows = np.repeat(np.arange(len(indices)), len(radices))
        out[rows, (digits + offsets[None, :]).ravel()] = 1.0
        out[:, n_hot:n_hot + len(radices)] = digits
        col = n_hot + len(radices)
        for op, f in enumerate(extra):
            out[:, col:col + f.shape[1]] = f[digits[:, op]]
            col += f.shape[1]
    return out


class _AdditiveForest:
    """A ridge model on the features plus a :class:`ForestEI` on its residuals.

    Knob effects in approximate programs are close to additive (predtuner's QoS and
    cost models assume exactly that); a forest alone learns an additive function of
    many operators slowly. The ridge part carries the additive trend, the forest the
    interactions and the uncertainty (its spread across trees).
    """

    def __init__(self, n_estimators: int, random_state: int, alpha: float = 1.0):
        self.forest = ForestEI(n_estimators=n_estimators, random_state=random_state)
        self.alpha = alpha

    def fit(self, X: np.ndarray, y: np.ndarray) -> "_AdditiveForest":
        from sklearn.linear_model import Ridge

        self.ridge = Ridge(alpha=self.alpha).fit(X, y)
        self.forest.fit(X, y - self.ridge.predict(X))
        return self

    def predict(self, X) -> tuple:
        X = np.asarray(X, dtype=np.float64)
        mu, sd = self.forest.predict(X)
        return self.ridge.predict(X) + mu, sd


class ConstrainedEISearch(SearchStrategy):
    """Two forests, EHVI or constrained EI, dynamic epsilon (see the module docstring).

    Parameters
    ----------
    space, threshold, rng
        As in :class:`SearchStrategy`.
    baseline_qos : float
        Top of the QoS levels explored with ``n_levels > 1`` (``"cei"``, ``"both"``).
    plan_size : int, default 10
        Proposals between two refits.
    first_fit : int, default 16
        Random measurements before the first fit.
    n_levels : int, default 4
        QoS levels per plan, evenly spaced from the threshold to the best QoS measured
        (1: plain constrained EI at the threshold).
    n_estimators : int, default 32
        Trees per forest (fits dominate the tuner's time; 32 keep a refit well under
        a second on a busy 2-core machine).
    epsilon : float or EpsilonPolicy, optional
        Share of each plan picked at random; default
        ``UncertaintyEpsilon(*DEFAULT_EPS_RANGE)`` on the speedup forest's spread.
    n_candidates : int, default 4096
        Candidates scored per refit when the space is too large to score whole.
    knob_features : list of ndarray, optional
        Per operator, a ``(n_knobs, d)`` array of numeric knob features (e.g. a
        multiplier's cost and error), appended to the one-hot encoding.
    additive_prior : bool or {"qos", "cost"}, default True
        Each forest models the residuals of a ridge fit on the features (an additive
        trend over operators); ``False``: plain forests; ``"qos"`` / ``"cost"``: only
        that model gets the ridge part.
    acquisition : {"ehvi", "cei", "both"}, default "ehvi"
        Expected hypervolume improvement, multi-level constrained EI, or both rankings
        taken in turn. On the benchmark apps EHVI reached 95 % of the front's
        hypervolume in fewer evaluations than constrained EI (docs/approx.md).
    local_share : float in [0, 1], default 0.0
        Share of each plan's model picks spent on unmeasured one-knob neighbours of the
        measured Pareto front (Pareto local search), taken front config after front
        config, highest QoS first.
    local_mode : {"model", "random"}, default "model"
        Which neighbour of a front config comes first: the best by EHVI, or a random one.
    eps_range : (float, float)
        Deprecated: ``epsilon=UncertaintyEpsilon(low, high)``.
    """

    def __init__(self, space: ConfigSpace, threshold: float, rng: np.random.Generator,
                 baseline_qos: float, plan_size: int = 10, first_fit: int = 16, n_levels: int = 4,
                 n_estimators: int = 32, epsilon: Union[None, float, EpsilonPolicy] = None,
                 n_candidates: int = 4096, knob_features: Optional[Sequence[np.ndarray]] = None,
                 additive_prior: bool = True, acquisition: str = "ehvi", local_share: float = 0.0,
                 local_mode: str = "model", *, eps_range: Any = UNSET):
        super().__init__(space, threshold, rng)
        owner = "ConstrainedEISearch"
        self.acquisition = check_choice(acquisition, "acquisition", ("ehvi", "cei", "both"), owner)
        self.local_mode = check_choice(local_mode, "local_mode", ("model", "random"), owner)
        self.additive_prior = check_choice(additive_prior, "additive_prior", (True, False, "qos", "cost"), owner)
        if knob_features is not None:
            knob_features = [np.asarray(f, dtype=np.float64).reshape(r, -1)
                             for f, r in zip(knob_features, space.radices)]
            if len(knob_features) != len(space.radices) or not all(np.isfinite(f).all() for f in knob_features):
                raise ArgumentError("ConstrainedEISearch: knob_features needs one finite (n_knobs, d) array per operator")
        self.knob_features = knob_features
        self.baseline_qos = float(baseline_qos)
        self.n_levels = check_positive_int(n_levels, "n_levels", owner)
        self.n_estimators = check_positive_int(n_estimators, "n_estimators", owner)
        self.n_candidates = check_positive_int(n_candidates, "n_candidates", owner)
        epsilon = resolve_epsilon(owner, epsilon, UNSET if eps_range is UNSET else True, eps_range,
                                  UncertaintyEpsilon(*DEFAULT_EPS_RANGE))
        self.planner = Planner(plan_size, first_fit, epsilon, local_share, owner=owner)
        self._xs: List[int] = []
        self._qos: List[float] = []
        self._sp: List[float] = []

    # The planner owns these.
    plan_size = property(lambda self: self.planner.plan_size)
    first_fit = property(lambda self: self.planner.first_fit)
    local_share = property(lambda self: self.planner.local_share)
    epsilon_policy = property(lambda self: self.planner.policy)
    epsilon = property(lambda self: self.planner.epsilon)
    epsilon_history = property(lambda self: self.planner.epsilon_history)
    _plan = property(lambda self: self.planner.plan[self.planner.pos:])

    def propose(self, n: int) -> List[int]:
        def random_pick(taken):
            pick = self.space.sample(1, self.rng, exclude=taken)
            return pick[0] if pick else None

        return self.planner.propose(n, self.visited, random_pick)

    def observe(self, indices, qos, speedup) -> None:
        for i, q, s in zip(indices, qos, speedup):
            self.visited.add(int(i))
            self._xs.append(int(i))
            self._qos.append(float(q))
            self._sp.append(float(s))
        if self.planner.observe(len(indices)):
            self._refit()

    def _levels(self) -> List[float]:
        # from the threshold up to the best QoS seen (approximations sometimes beat the
        # baseline, and that end of the front counts as much as the cheap end)
        top = max(self.baseline_qos, max(self._qos, default=self.baseline_qos))
        if self.n_levels == 1 or top <= self.threshold:
            return [self.threshold]
        # the threshold always, plus levels drawn afresh for each plan: over many plans
        # every part of the front gets pressure (fixed levels left gaps between them)
        return [self.threshold] + sorted(self.rng.uniform(self.threshold, top, self.n_levels - 1).tolist())

    def _candidates(self) -> List[int]:
        if self.space.n_configs <= _SCORE_ALL_LIMIT:
            return [i for i in range(self.space.n_configs) if i not in self.visited]
        cands = set(self.space.sample(self.n_candidates, self.rng, exclude=self.visited))
        # neighbours of the current front: local refinement
        for g in self._front_indices():
            cands.update(i for i in self.space.neighbors(g, self.rng) if i not in self.visited)
        return list(cands)

    def _front_indices(self) -> List[int]:
        """Measured configs on the feasible Pareto front, highest QoS first."""
        from .pareto import pareto_mask

        qos, sp = np.array(self._qos), np.array(self._sp)
        ok = np.flatnonzero(qos >= self.threshold)
        if not len(ok):
            return []
        on = ok[pareto_mask(np.c_[qos[ok], sp[ok]])]
        return [self._xs[k] for k in on[np.argsort(-qos[on], kind="stable")]]

    def _local_pool(self, front: List[int]) -> List[List[int]]:
        """Per front config, its unvisited one-knob neighbours (shuffled)."""
        return [[i for i in self.space.neighbors(g, self.rng) if i not in self.visited] for g in front]

    def _local_picks(self, n: int, cands: List[int], score: np.ndarray) -> List[int]:
        """Pareto local search: ``n`` unvisited one-knob neighbours of the current front,
        one front config after another (highest QoS first), each time the neighbour
        with the best ``score`` (``local_mode="model"``) or a random one."""
        pools = [p for p in self._local_pool(self._front_indices()) if p]
        if not pools:
            return []
        where = {c: k for k, c in enumerate(cands)}
        if self.local_mode == "model":
            pools = [sorted(p, key=lambda i: -score[where[i]] if i in where else 0.0) for p in pools]
        out: List[int] = []
        seen: set = set()
        while len(out) < n and any(pools):
            for p in pools:
                while p and p[0] in seen:
                    p.pop(0)
                if p and len(out) < n:
                    seen.add(p[0])
                    out.append(p.pop(0))
        return out

    def _refit(self) -> None:
        seed = int(self.rng.integers(2 ** 31))
        X = _onehot(self.space, self._xs, self.knob_features)
        qos, sp = np.array(self._qos), np.array(self._sp)
        ap = self.additive_prior
        qmake = _AdditiveForest if ap in (True, "qos") else ForestEI
        smake = _AdditiveForest if ap in (True, "cost") else ForestEI
        qmodel = qmake(n_estimators=self.n_estimators, random_state=seed).fit(X, qos)
        smodel = smake(n_estimators=self.n_estimators, random_state=seed + 1).fit(X, sp)
        feasible = qos >= self.threshold
        best = float(sp[feasible].max()) if feasible.any() else float(sp.min())

        def spread(n: int) -> np.ndarray:
            return smodel.predict(_onehot(self.space, self.space.sample(n, self.rng), self.knob_features))[1]

        n_model, n_local = self.planner.start_plan(spread, best)
        cands = self._candidates()
        if not cands:
            self.planner.set_plan([], [], 0)
            return
        Xc = _onehot(self.space, cands, self.knob_features)
        q_mu, q_sd = qmodel.predict(Xc)
        s_mu, s_sd = smodel.predict(Xc)
        from scipy.special import ndtr  # deferred like forest.py: a slow import

        rankings = []
        ehvi = None
        if self.acquisition in ("ehvi", "both") or n_local:
            ehvi = _ehvi(q_mu, q_sd, s_mu, s_sd, np.c_[qos[feasible], sp[feasible]], (self.threshold, 1.0))
        if self.acquisition in ("ehvi", "both"):
            rankings.append(np.lexsort((-(s_mu * ndtr((q_mu - self.threshold) / np.maximum(q_sd, 1e-12))), -ehvi)))
        levels = self._levels() if self.acquisition in ("cei", "both") else []
        for level in levels:
            ok = qos >= level
            best_l = float(sp[ok].max()) if ok.any() else float(sp.min())
            p_ok = np.where(q_sd > 0, ndtr((q_mu - level) / np.where(q_sd > 0, q_sd, 1.0)),
                            (q_mu >= level).astype(np.float64))
            acq = expected_improvement(s_mu, s_sd, best_l) * p_ok
            # ties (often all-zero EI far from the data) broken by feasible mean speedup
            rankings.append(np.lexsort((-(s_mu * p_ok), -acq)))
        local = self._local_picks(n_local, cands, ehvi) if n_local else []
        ranked = interleave([(cands[k] for k in r) for r in rankings], seen=set(local))
        # the rest of each plan is random (propose() falls back)
        self.planner.set_plan(local, ranked, n_model)


def _ehvi(q_mu: np.ndarray, q_sd: np.ndarray, s_mu: np.ndarray, s_sd: np.ndarray, front: np.ndarray,
          ref: tuple) -> np.ndarray:
    """Expected hypervolume improvement of independent Gaussian (QoS, speedup) predictions
    over ``front`` (``(n, 2)``, both maximised), above the reference point ``ref``.

    With the front sorted by QoS descending (``q_1 > ... > q_n``, speedups ``s_1 < ... <
    s_n``), a point ``(a, b)`` above ``ref`` is undominated iff ``b > s_i`` for the ``i``
    with ``q_{i+1} < a <= q_i`` (``s_0`` = the reference speedup, ``q_0 = +inf``,
    ``q_{n+1}`` = the reference QoS). The improvement of ``y`` is therefore a sum over
    those QoS strips of ``(min(q_i, y_q) - q_{i+1})^+ * (y_s - s_i)^+``, and with
    independent coordinates each term's expectation is a product of two one-sided
    expectations ``E[(Y - t)^+]`` (the EI formula).
    """
    from .pareto import pareto_mask

    pts = np.asarray(front, dtype=np.float64).reshape(-1, 2)
    pts = pts[(pts[:, 0] > ref[0]) & (pts[:, 1] > ref[1])]
    if len(pts):
        pts = pts[pareto_mask(pts)]
        pts = pts[np.argsort(-pts[:, 0], kind="stable")]
    qs = np.concatenate([[np.inf], pts[:, 0], [ref[0]]])
    ss = np.concatenate([[ref[1]], pts[:, 1]])
    out = np.zeros_like(np.asarray(q_mu, dtype=np.float64))
    prev_hi = np.zeros_like(out)  # E[(Y_q - q_i)^+] of the strip's top; 0 for q_0 = inf
    for i in range(len(ss)):
        lo = expected_improvement(q_mu, q_sd, qs[i + 1])
        out += (lo - prev_hi) * expected_improvement(s_mu, s_sd, ss[i])
        prev_hi = lo
    return np.maximum(out, 0.0)


class _AppTask:
    """The little a registry tuner asks of a task."""

    def __init__(self, name: str, space: ConfigSpace):
        self.name = name
        self.config_space = space
        self.args = ()
        self.target = None
        self.flop = 0


class RegistrySearch(SearchStrategy):
    """A tuner of :data:`adatune.tuner.TUNERS` on the thresholded speedup."""

    def __init__(self, space: ConfigSpace, threshold: float, rng: np.random.Generator, tuner_name: str,
                 app_name: str = "approx", **tuner_kwargs: Any):
        super().__init__(space, threshold, rng)
        from ..tuner.registry import create_tuner

        self._task = _AppTask(app_name, space)
        self.tuner = create_tuner(tuner_name, self._task, seed=int(rng.integers(2 ** 31)), **tuner_kwargs)
        self._pending: Dict[int, Any] = {}

    def propose(self, n: int) -> List[int]:
        out: List[int] = []
        # GA waits for a whole generation before breeding: ask until it gives nothing.
        while len(out) < n and self.tuner.has_next():
            batch = self.tuner.next_batch(n - len(out))
            if not batch:
                break
            for c in batch:
                self._pending[int(c.index)] = c
                out.append(int(c.index))
        self.visited.update(out)
        return out

    def observe(self, indices, qos, speedup) -> None:
        from ..measure.measure import MeasureErrorNo, MeasureInput, MeasureResult

        inputs, results = [], []
        for i, q, s in zip(indices, qos, speedup):
            cfg = self._pending.pop(int(i), None) or self.space.get(int(i))
            inputs.append(MeasureInput(None, self._task, cfg))
            if q >= self.threshold:
                results.append(MeasureResult((1.0 / float(s),), MeasureErrorNo.NO_ERROR, 0.0, 0.0))
            else:
                results.append(MeasureResult(("QoS below threshold",), MeasureErrorNo.WRONG_ANSWER, 0.0, 0.0))
        if inputs:
            self.tuner.update(inputs, results)


def make_search(name: str, space: ConfigSpace, threshold: float, rng: np.random.Generator,
                baseline_qos: float, app_name: str = "approx", **kwargs: Any) -> SearchStrategy:
    """The strategy called ``name``: ``"rfei"`` (:class:`ConstrainedEISearch`) or any registry tuner.

    ``"rfei-scalar"`` is the registry's single-objective RFEI on the thresholded speedup.
    """
    from ..tuner.registry import TUNERS

    if name == "rfei":
        return ConstrainedEISearch(space, threshold, rng, baseline_qos, **kwargs)
    reg = "rfei" if name == "rfei-scalar" else name
    if reg not in TUNERS:
        raise ArgumentError(f"tuner: unknown tuner {name!r}; choose 'rfei', 'rfei-scalar' or one of "
                         f"{sorted(t for t in TUNERS if t != 'rfei')}")
    if reg == "ga":
        kwargs.setdefault("pop_size", 16)
    elif reg in ("rfei", "xgb", "xgb-rank"):
        kwargs.setdefault("plan_size", 8)
    return RegistrySearch(space, threshold, rng, reg, app_name=app_name, **kwargs)

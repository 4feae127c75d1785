"""ApproxTuner: search an application's knobs for the cheapest configs at each QoS."""
from __future__ import annotations

import logging
import math
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from .._checks import check_callable, check_mapping, check_number, check_positive_int, check_seed
from ..errors import ArgumentError, ArgumentTypeError, NotTunedError
from ..space import ConfigSpace
from .app import ApproxApp, KnobsT
from .config import Config, dump_configs, load_configs
from .pareto import take_best_n as _take_best_n
from .search import SearchStrategy, make_search

__all__ = ["ApproxTuner"]

logger = logging.getLogger(__name__)


class ApproxTuner:
    """Tunes an :class:`ApproxApp` for the Pareto front of (QoS, speedup).

    After :meth:`tune`:

    * :attr:`all_configs` -- every measured config (cost relative to the baseline);
    * :attr:`kept_configs` -- those whose tuning QoS clears the keep threshold
      (``qos >= threshold``: a relative threshold of 0 keeps the baseline);
    * :attr:`best_configs_prefilter` -- the front of the kept ones (``take_best_n``);
    * :attr:`best_configs` -- those re-measured on the test inputs that still clear
      the keep threshold there (all of the prefilter set when ``test_configs=False``).

    Parameters
    ----------
    app : ApproxApp
    progress : bool, default True
        Show a progress bar (tqdm) while tuning.
    """

    def __init__(self, app: ApproxApp, progress: bool = True):
        if not isinstance(app, ApproxApp):
            raise ArgumentTypeError(f"ApproxTuner: app must be an ApproxApp, got {type(app).__name__}")
        self.app = app
        self.progress = bool(progress)
        self.space = ConfigSpace()
        for op, knobs in app.op_knobs.items():
            self.space.define_knob(op, [k.name for k in knobs])
        self._reset()

    def _reset(self) -> None:
        self.all_configs: List[Config] = []
        self.kept_configs: List[Config] = []
        self.best_configs_prefilter: List[Config] = []
        self.best_configs: List[Config] = []
        self.baseline_tune_qos: Optional[float] = None
        self.baseline_test_qos: Optional[float] = None
        self.baseline_cost: Optional[float] = None
        self.tuner_threshold: Optional[float] = None
        self.tune_keep_threshold: Optional[float] = None
        self.test_keep_threshold: Optional[float] = None
        self.search = None
        self.n_evaluations = 0
        self._tuned = False
        self._tested = False

    @property
    def tuned(self) -> bool:
        """Whether :meth:`tune` has completed."""
        return self._tuned

    @property
    def tested(self) -> bool:
        """Whether the last :meth:`tune` re-measured its best configs on the test inputs."""
        return self._tested

    # ------------------------------------------------------------------ conversions
    def knobs_of(self, index: int) -> KnobsT:
        """Operator -> knob name of a config index of :attr:`space`."""
        return {op: str(self.space.get(int(index))[op].val) for op in self.app.op_knobs}

    def index_of(self, knobs: Mapping[str, str]) -> int:
        """Config index of an operator -> knob name mapping."""
        knobs = self.app.check_config(knobs)
        return self.space.index_of([[op, "ot", knobs[op]] for op in self.app.op_knobs])

    # ------------------------------------------------------------------ tuning
    def tune(self, max_iter: int, qos_tuner_threshold: float, qos_keep_threshold: Optional[float] = None,
             is_threshold_relative: bool = False, take_best_n: Optional[int] = None,
             test_configs: bool = True, app_kwargs: Optional[Dict[str, Any]] = None, *,
             tuner: Union[str, Callable[..., SearchStrategy]] = "rfei", seed: Optional[int] = None,
             tuner_kwargs: Optional[Dict[str, Any]] = None,
             stop_when: Optional[Callable[["ApproxTuner"], bool]] = None) -> List[Config]:
        """Measure up to ``max_iter`` configs and return the best ones.

        The first seven parameters are predtuner's, in its order and with its defaults;
        the rest are keyword-only. The baseline is measured as the full configuration
        :attr:`ApproxApp.baseline_config` (``app.add_baseline_to_knobs({})``), once on the
        tuning inputs (QoS and the cost every config is divided by) and, when test QoS
        or relative thresholds need it, once on the test inputs. Apps that accept
        abbreviated configs and apps that require full ones both take it. Every config
        the search proposes is passed whole.

        Parameters
        ----------
        max_iter : int
            Configs measured by the search (the baseline is measured besides).
        qos_tuner_threshold : float
            QoS the search aims to stay above.
        qos_keep_threshold : float, optional
            QoS a config needs to be kept; ``None`` means the tuner threshold. ``0.0``
            is a threshold like any other.
        is_threshold_relative : bool, default False
            Thresholds are QoS *losses* from the baseline: the tuning thresholds are
            ``baseline tune QoS - t``, the test keep threshold ``baseline test QoS - t``.
        take_best_n : int, optional
            ``None``: keep the strict Pareto front; ``n``: top it up to ``n`` configs
            with those nearest to it.
        test_configs : bool, default True
            Re-measure the front on the test inputs and drop those that fall below the
            keep threshold there.
        app_kwargs : dict, optional
            Extra keyword arguments for every ``measure_qos_cost`` call.
        tuner : str or callable, default "rfei"
            ``"rfei"`` (two forests, expected hypervolume improvement; see
            :class:`~adatune.approx.search.ConstrainedEISearch`) or a tuner of
            :data:`adatune.tuner.TUNERS` (``"random"``, ``"ga"``, ...; ``"rfei-scalar"``
            for the single-objective RFEI); or a factory
            ``f(space, threshold, rng, baseline_qos=..., app_name=..., **tuner_kwargs)``
            returning a :class:`~adatune.approx.search.SearchStrategy`.
        seed : int, optional
        tuner_kwargs : dict, optional
            Constructor arguments of the search strategy.
        stop_when : callable, optional
            ``stop_when(tuner) -> bool``, asked after every batch: end the search early
            (e.g. once a target speedup is reached). :attr:`all_configs` is up to date.
        """
        max_iter = check_positive_int(max_iter, "max_iter", "tune")
        qos_tuner_threshold = check_number(qos_tuner_threshold, "qos_tuner_threshold", "tune")
        qos_keep_threshold = check_number(qos_keep_threshold, "qos_keep_threshold", "tune", allow_none=True)
        take_best_n = check_positive_int(take_best_n, "take_best_n", "tune", allow_none=True)
        check_mapping(app_kwargs, "app_kwargs", "tune", allow_none=True)
        check_mapping(tuner_kwargs, "tuner_kwargs", "tune", allow_none=True)
        check_callable(stop_when, "stop_when", "tune", allow_none=True)
        check_seed(seed, "seed", "tune")
        if not (isinstance(tuner, str) or callable(tuner)):
            raise ArgumentTypeError(f"tune: tuner must be a tuner name or a factory, got {tuner!r}")
        self._reset()
        self._app_kwargs = dict(app_kwargs or {})
        rng = np.random.default_rng(seed)

        self._setup_thresholds(qos_tuner_threshold, qos_keep_threshold, is_threshold_relative, test_configs)
        base, b_qos = self.app.baseline_config, self.baseline_tune_qos
        if callable(tuner):
            self.search = tuner(self.space, self.tuner_threshold, rng, baseline_qos=b_qos, app_name=self.app.name,
                                **dict(tuner_kwargs or {}))
            if not isinstance(self.search, SearchStrategy):
                raise ArgumentTypeError(f"tune: the tuner factory returned {self.search!r}, not a SearchStrategy")
        else:
            kw = dict(tuner_kwargs or {})
            if tuner == "rfei":
                kw.setdefault("knob_features", self._knob_features())
            self.search = make_search(tuner, self.space, self.tuner_threshold, rng, baseline_qos=b_qos,
                                      app_name=self.app.name, **kw)
        base_idx = self.index_of(base)
        self.all_configs.append(Config(b_qos, 1.0, base))
        self.search.visited.add(base_idx)
        self.search.observe([base_idx], [b_qos], [1.0])  # the baseline is known data for every search
        self._search_loop(max_iter, stop_when)

        return self._select(take_best_n, test_configs)

    def _setup_thresholds(self, qos_tuner_threshold: float, qos_keep_threshold: Optional[float],
                          is_threshold_relative: bool, test_configs: bool) -> None:
        """Measure the baseline and turn the arguments into absolute thresholds."""
        # The full baseline config, not predtuner's `{}`: an app that completes
        # abbreviated configs with add_baseline_to_knobs keeps the given entries, and an
        # app that indexes every operator would fail on `{}`.
        base = self.app.baseline_config
        b_qos, b_cost = self._measure_raw(base, is_test=False)
        if not (math.isfinite(b_cost) and b_cost > 0):
            raise ArgumentError(f"tune: the baseline of {self.app.name} measured cost {b_cost}; need > 0")
        self.baseline_tune_qos, self.baseline_cost = b_qos, b_cost
        if test_configs or is_threshold_relative:
            self.baseline_test_qos = self._measure_raw(base, is_test=True)[0]
        # `is None`, never truthiness: a keep threshold of 0.0 is a real threshold.
        keep = qos_tuner_threshold if qos_keep_threshold is None else qos_keep_threshold
        if is_threshold_relative:
            self.tuner_threshold = b_qos - float(qos_tuner_threshold)
            self.tune_keep_threshold = b_qos - float(keep)
            self.test_keep_threshold = self.baseline_test_qos - float(keep)
        else:
            self.tuner_threshold = float(qos_tuner_threshold)
            self.tune_keep_threshold = self.test_keep_threshold = float(keep)

    def _select(self, take_best_n: Optional[int], test_configs: bool) -> List[Config]:
        """Keep threshold, front, test re-measurement: fills the result lists."""
        self.kept_configs = [c for c in self.all_configs if c.qos >= self.tune_keep_threshold]
        self.best_configs_prefilter = _take_best_n(self.kept_configs, take_best_n)
        if test_configs:
            for c in self.best_configs_prefilter:
                c.test_qos = self._measure_raw(c.knobs, is_test=True)[0]
            self.best_configs = [c for c in self.best_configs_prefilter if c.test_qos >= self.test_keep_threshold]
            self._tested = True
        else:
            self.best_configs = list(self.best_configs_prefilter)
        self._tuned = True
        logger.info("%s: %d configs measured, %d kept, %d best", self.app.name, len(self.all_configs),
                    len(self.kept_configs), len(self.best_configs))
        return self.best_configs

    def _knob_features(self) -> Optional[List[np.ndarray]]:
        """Per operator, the knobs' ``features`` (an ``ApproxKnob`` keyword), when every
        knob with features gives the same number; knobs without them get zeros."""
        out = []
        for op, knobs in self.app.op_knobs.items():
            feats = [k.kwargs.get("features") for k in knobs]
            dims = {len(f) for f in feats if f is not None}
            if not dims:
                out.append(np.zeros((len(knobs), 0)))
                continue
            if len(dims) > 1:
                raise ArgumentError(f"{self.app.name}: knobs of operator {op!r} give features of different "
                                 f"lengths {sorted(dims)}")
            d = dims.pop()
            out.append(np.array([np.zeros(d) if f is None else np.asarray(f, np.float64) for f in feats]))
        return out if any(f.shape[1] for f in out) else None

    def _measure_raw(self, knobs: KnobsT, is_test: bool) -> Tuple[float, float]:
        out = self.app.measure_qos_cost(dict(knobs), is_test, **self._app_kwargs)
        try:
            qos, cost = (float(v) for v in out)
        except (TypeError, ValueError):
            raise ArgumentTypeError(f"{self.app.name}.measure_qos_cost must return (qos, cost), got {out!r}") from None
        if not math.isfinite(qos):
            raise ArgumentError(f"{self.app.name}.measure_qos_cost returned a non-finite QoS {qos} for {knobs}")
        self.n_evaluations += 1
        return qos, cost

    def _search_loop(self, max_iter: int, stop_when: Optional[Callable[["ApproxTuner"], bool]]) -> None:
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=max_iter, desc=f"tuning {self.app.name}", unit="cfg", leave=False)
        done = 0
        try:
            while done < max_iter:
                batch = self.search.propose(min(8, max_iter - done))
                if not batch:
                    logger.info("%s: search space exhausted after %d configs", self.app.name, done)
                    break
                qs, sps = [], []
                for idx in batch:
                    knobs = self.knobs_of(idx)
                    qos, cost = self._measure_raw(knobs, is_test=False)
                    rel = cost / self.baseline_cost
                    if not (math.isfinite(rel) and rel > 0):
                        raise ArgumentError(f"{self.app.name}.measure_qos_cost returned cost {cost} for {knobs}")
                    self.all_configs.append(Config(qos, rel, knobs))
                    qs.append(qos)
                    sps.append(1.0 / rel)
                self.search.observe(batch, qs, sps)
                done += len(batch)
                if bar is not None:
                    bar.update(len(batch))
                    best = max(c.speedup for c in self.all_configs if c.qos >= self.tuner_threshold
                               or c is self.all_configs[0])
                    bar.set_postfix(best_speedup=f"{best:.3f}")
                if stop_when is not None and stop_when(self):
                    logger.info("%s: stop_when ended the search after %d configs", self.app.name, done)
                    break
        finally:
            if bar is not None:
                bar.close()

    # ------------------------------------------------------------------ persistence
    def dump_configs(self, filepath: Union[str, os.PathLike], best_only: bool = True) -> None:
        """Write configs to ``filepath`` as JSON (parent directories created).

        Parameters
        ----------
        filepath : path
        best_only : bool, default True
            ``True``: :attr:`best_configs` (after the test-set filter, when used);
            ``False``: every config within the keep threshold (:attr:`kept_configs`).
        """
        if not self._tuned:
            raise NotTunedError("dump_configs: no tuning session has run; call tune() first")
        meta = {"app": self.app.name, "baseline_tune_qos": self.baseline_tune_qos,
                "baseline_test_qos": self.baseline_test_qos, "tuner_threshold": self.tuner_threshold,
                "tune_keep_threshold": self.tune_keep_threshold, "test_keep_threshold": self.test_keep_threshold,
                "best_only": bool(best_only)}
        dump_configs(self.best_configs if best_only else self.kept_configs, filepath, meta)

    @staticmethod
    def load_configs(path: Union[str, os.PathLike]) -> List[Config]:
        """Read configs written by :meth:`dump_configs`."""
        return load_configs(path)

    # ------------------------------------------------------------------ plotting
    def plot_configs(self, show_qos_loss: bool = False, connect_best_points: bool = False) -> "Figure":  # noqa: F821
        """QoS-vs-speedup scatter plots of the configs: a matplotlib ``Figure`` with one
        panel, or two when the test phase ran (see
        :func:`~adatune.approx.plotting.plot_tuner_configs` for what each shows)."""
        from .plotting import plot_tuner_configs

        return plot_tuner_configs(self, show_qos_loss=show_qos_loss, connect_best_points=connect_best_points)

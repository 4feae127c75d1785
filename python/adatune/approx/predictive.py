"""Predictive tuning (predtuner's "modeled" mode): search on models, report measurements.

Two models stand in for the application during the search:

* **linear cost** -- ``cost(c) = sum_op op_cost[op] / speedup(op, c[op])``: each
  operator's baseline cost divided by its knob's speedup;
* **additive QoS** -- ``qos(c) = q0 + sum_op (q(op, c[op]) - q0)``, where ``q0`` is the
  baseline QoS and ``q(op, k)`` the QoS with only ``op`` approximated by ``k``. These
  single-knob QoS values are profiled once per (operator, knob) -- ``sum(n_knobs - 1)``
  measurements -- and cached to a JSON file, so later runs skip the profiling.

The search (any tuner of :class:`ApproxTuner`) runs on the models; the configs it
would report are then always re-measured on the application, and only those
measurements decide what is kept and returned.

The application provides :meth:`ModeledApp.op_costs` and :meth:`ModeledApp.knob_speedup`.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from ..errors import ArgumentError, ArgumentTypeError, RecordError
from .app import ApproxApp, KnobsT
from .config import Config
from .tuner import ApproxTuner

__all__ = ["ModeledApp", "LinearCostModel", "AdditiveQoSModel", "PredictiveApproxTuner"]

logger = logging.getLogger(__name__)


class ModeledApp(ApproxApp):
    """An :class:`ApproxApp` that also tells the cost model its operators' costs."""

    def op_costs(self) -> Dict[str, float]:
        """Baseline cost of each operator (any unit, only ratios matter)."""
        raise NotImplementedError(f"{type(self).__name__} must implement op_costs() for the linear cost model")

    def knob_speedup(self, op: str, knob: str) -> float:
        """Speedup of ``knob`` on ``op`` over the baseline knob (default: the knob's
        ``speedup`` keyword, 1.0 for the baseline)."""
        for k in self.op_knobs[op]:
            if k.name == knob:
                if k is self.baseline_knob:
                    return 1.0
                if "speedup" not in k.kwargs:
                    raise ArgumentError(f"{self.name}: knob {knob!r} has no 'speedup'; pass ApproxKnob(..., "
                                     f"speedup=...) or override knob_speedup()")
                return float(k.kwargs["speedup"])
        raise ArgumentError(f"{self.name}: operator {op!r} has no knob {knob!r}")


class LinearCostModel:
    """Per-operator cost divided by the knob's speedup, summed."""

    def __init__(self, app: ModeledApp):
        costs = app.op_costs()
        if set(costs) != set(app.op_knobs):
            raise ArgumentError(f"{app.name}: op_costs() must name exactly the operators {app.ops}")
        self.op_costs = {op: float(c) for op, c in costs.items()}
        self.speedups = {(op, k.name): float(app.knob_speedup(op, k.name))
                         for op, ks in app.op_knobs.items() for k in ks}
        bad = [key for key, s in self.speedups.items() if not s > 0]
        if bad:
            raise ArgumentError(f"{app.name}: knob speedups must be > 0, got {bad}")

    def predict(self, knobs: KnobsT) -> float:
        return sum(self.op_costs[op] / self.speedups[(op, k)] for op, k in knobs.items())


class AdditiveQoSModel:
    """Baseline QoS plus the sum of single-knob QoS changes (profiled, cached).

    Parameters
    ----------
    app : ApproxApp
    cache_path : path, optional
        JSON file of the profile; read when it exists and matches the app, else written.
    app_kwargs : dict, optional
        Passed to ``measure_qos_cost`` while profiling.
    """

    def __init__(self, app: ApproxApp, cache_path: Union[None, str, os.PathLike] = None,
                 app_kwargs: Optional[Mapping[str, Any]] = None):
        self.app = app
        self.cache_path = cache_path
        self.n_profiled = 0
        kw = dict(app_kwargs or {})
        cached = self._read_cache()
        if cached is not None:
            self.base_qos, self.single = cached
            return
        base = app.baseline_config
        self.base_qos = float(app.measure_qos_cost(dict(base), False, **kw)[0])
        self.n_profiled += 1
        self.single: Dict[Tuple[str, str], float] = {}
        for op, ks in app.op_knobs.items():
            for k in ks:
                if k is app.baseline_knob:
                    continue
                self.single[(op, k.name)] = float(app.measure_qos_cost({**base, op: k.name}, False, **kw)[0])
                self.n_profiled += 1
        self._write_cache()

    def predict(self, knobs: KnobsT) -> float:
        b = self.app.baseline_knob.name
        return self.base_qos + sum(self.single[(op, k)] - self.base_qos for op, k in knobs.items() if k != b)

    def _expected_keys(self):
        return sorted(f"{op}\t{k.name}" for op, ks in self.app.op_knobs.items() for k in ks
                      if k is not self.app.baseline_knob)

    def _read_cache(self):
        if self.cache_path is None or not os.path.exists(self.cache_path):
            return None
        try:
            with open(self.cache_path, encoding="utf-8") as f:
                d = json.load(f)
        except json.JSONDecodeError as e:
            raise RecordError("bad_json", f"AdditiveQoSModel: cache {self.cache_path} is not JSON "
                                          f"(line {e.lineno})") from None
        if d.get("app") != self.app.name or sorted(d.get("single", {})) != self._expected_keys():
            logger.info("QoS profile cache %s does not match %s: re-profiling", self.cache_path, self.app.name)
            return None
        single = {tuple(key.split("\t")): float(v) for key, v in d["single"].items()}
        return float(d["base_qos"]), single

    def _write_cache(self) -> None:
        if self.cache_path is None:
            return
        d = {"app": self.app.name, "base_qos": self.base_qos,
             "single": {f"{op}\t{k}": v for (op, k), v in self.single.items()}}
        with open(self.cache_path, "w", encoding="utf-8") as f:
            json.dump(d, f, indent=1)


class _ModelApp(ApproxApp):
    """The application as its models see it (what the search measures)."""

    def __init__(self, app: ApproxApp, qos_model: AdditiveQoSModel, cost_model: LinearCostModel):
        self._inner_name = app.name
        super().__init__({op: list(ks) for op, ks in app.op_knobs.items()})
        self._baseline_knob = app.baseline_knob
        self.qos_model, self.cost_model = qos_model, cost_model

    @property
    def name(self) -> str:
        return f"{self._inner_name}[model]"

    def measure_qos_cost(self, with_approxes: KnobsT, is_test: bool = False) -> Tuple[float, float]:
        return self.qos_model.predict(with_approxes), self.cost_model.predict(with_approxes)


class PredictiveApproxTuner(ApproxTuner):
    """:class:`ApproxTuner` whose search runs on a linear cost and an additive QoS model.

    Parameters
    ----------
    app : ModeledApp
    cache_dir : path, optional
        Where the QoS profile is cached (``<app name>_qos_profile.json``).
    progress : bool, default True

    After :meth:`tune`, :attr:`model_configs` holds what the search saw (predictions)
    and :attr:`all_configs` the re-measured configs; everything reported comes from
    measurements.
    """

    def __init__(self, app: ModeledApp, cache_dir: Union[None, str, os.PathLike] = None, progress: bool = True):
        if not isinstance(app, ModeledApp):
            raise ArgumentTypeError(f"PredictiveApproxTuner: app must be a ModeledApp, got {type(app).__name__}")
        if cache_dir is not None and not os.path.isdir(cache_dir):
            raise ArgumentError(f"PredictiveApproxTuner: cache_dir {cache_dir} is not a directory")
        super().__init__(app, progress=progress)
        self.cache_dir = cache_dir
        self.model_configs: List[Config] = []
        self.qos_model: Optional[AdditiveQoSModel] = None

    def tune(self, max_iter: int, qos_tuner_threshold: float, qos_keep_threshold: Optional[float] = None,
             is_threshold_relative: bool = False, take_best_n: Optional[int] = None,
             test_configs: bool = True, app_kwargs: Optional[Dict[str, Any]] = None, *, tuner: Any = "rfei",
             seed: Optional[int] = None, tuner_kwargs: Optional[Dict[str, Any]] = None,
             stop_when: Any = None) -> List[Config]:
        """As :meth:`ApproxTuner.tune`; ``max_iter`` counts model evaluations, and the
        configs the search would report are re-measured before anything is kept."""
        cache = None if self.cache_dir is None else os.path.join(self.cache_dir, f"{self.app.name}_qos_profile.json")
        self.qos_model = AdditiveQoSModel(self.app, cache, app_kwargs)
        model_app = _ModelApp(self.app, self.qos_model, LinearCostModel(self.app))
        inner = ApproxTuner(model_app, progress=self.progress)
        inner.tune(max_iter, qos_tuner_threshold, qos_keep_threshold, is_threshold_relative, take_best_n,
                   test_configs=False, tuner=tuner, seed=seed, tuner_kwargs=tuner_kwargs, stop_when=stop_when)
        self.search = inner.search
        self.model_configs = inner.all_configs
        # thresholds and every reported number from real measurements
        self._reset()
        self.search, self.model_configs = inner.search, inner.all_configs
        self._app_kwargs = dict(app_kwargs or {})
        self._setup_thresholds(qos_tuner_threshold, qos_keep_threshold, is_threshold_relative, test_configs)
        base = self.app.baseline_config
        self.all_configs = [Config(self.baseline_tune_qos, 1.0, base)]
        for c in inner.best_configs_prefilter:
            if c.knobs == base:
                continue
            qos, cost = self._measure_raw(c.knobs, is_test=False)
            self.all_configs.append(Config(qos, cost / self.baseline_cost, c.knobs))
        return self._select(take_best_n, test_configs)

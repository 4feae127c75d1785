"""The application interface: operators, their knobs, and one measurement call."""
from __future__ import annotations

import abc
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from .knobs import ApproxKnob, BaselineKnob

__all__ = ["ApproxApp", "KnobsT"]

#: A configuration as the application sees it: operator name -> knob name.
KnobsT = Dict[str, str]


class ApproxApp(abc.ABC):
    """An application made of operators, each with a choice of approximation knobs.

    Subclasses define :attr:`name` and :meth:`measure_qos_cost`. QoS is "higher is
    better" (accuracy, PSNR, ...); cost is anything to minimise (time, energy), in any
    unit: tuners always report it relative to the baseline configuration.

    Parameters
    ----------
    op_knobs : mapping of str to iterable of ApproxKnob
        The knobs each operator may take.
    target_device : str, optional
        Keep only knobs that exist on this device (:meth:`ApproxKnob.exists_on_device`).
    """

    def __init__(self, op_knobs: Mapping[str, Iterable[ApproxKnob]], target_device: Optional[str] = None):
        if not isinstance(op_knobs, Mapping) or not op_knobs:
            raise ValueError(f"{type(self).__name__}: op_knobs must be a non-empty mapping "
                             f"operator -> knobs, got {op_knobs!r}")
        self.target_device = target_device
        filtered: Dict[str, List[ApproxKnob]] = {}
        by_name: Dict[str, ApproxKnob] = {}
        for op, knobs in op_knobs.items():
            if not isinstance(op, str) or not op:
                raise ValueError(f"{type(self).__name__}: operator names must be non-empty str, got {op!r}")
            kept = []
            for k in knobs:
                if not isinstance(k, ApproxKnob):
                    raise ValueError(f"{type(self).__name__}: operator {op!r} has {k!r}, not an ApproxKnob")
                if by_name.get(k.name, k) is not k:
                    raise ValueError(f"{type(self).__name__}: two different knobs are named {k.name!r}")
                by_name[k.name] = k
                if k.exists_on_device(target_device) and k not in kept:
                    kept.append(k)
            filtered[op] = kept
        self.op_knobs: Dict[str, List[ApproxKnob]] = filtered
        self._baseline_knob = self._find_baseline_knob()
        self.add_baseline_to_knobs(self._baseline_knob)

    # ------------------------------------------------------------------ abstract
    @property
    @abc.abstractmethod
    def name(self) -> str:
        """Name of the application (used in file names and plots)."""

    @abc.abstractmethod
    def measure_qos_cost(self, with_approxes: KnobsT, is_test: bool) -> Tuple[float, float]:
        """Run the application with ``with_approxes`` (operator -> knob name).

        ``is_test`` selects the held-apart test input set instead of the tuning set.
        Returns ``(qos, cost)``.
        """

    # ------------------------------------------------------------------ derived
    @property
    def ops(self) -> List[str]:
        """Operator names in definition order."""
        return list(self.op_knobs)

    @property
    def knobs(self) -> List[ApproxKnob]:
        """Every distinct knob, in first-use order."""
        seen: Dict[str, ApproxKnob] = {}
        for ks in self.op_knobs.values():
            for k in ks:
                seen.setdefault(k.name, k)
        return list(seen.values())

    @property
    def baseline_knob(self) -> ApproxKnob:
        """The knob with the highest ``baseline_priority``, else the added ``__baseline__``."""
        return self._baseline_knob

    @property
    def baseline_config(self) -> KnobsT:
        """Every operator on the baseline knob."""
        return {op: self._baseline_knob.name for op in self.op_knobs}

    def add_baseline_to_knobs(self, knob: ApproxKnob) -> None:
        """Make ``knob`` available on every operator (first in each list)."""
        for op, ks in self.op_knobs.items():
            if knob not in ks:
                ks.insert(0, knob)

    def get_tuner(self, **kwargs: Any) -> "ApproxTuner":  # noqa: F821
        """An :class:`~adatune.approx.ApproxTuner` for this application."""
        from .tuner import ApproxTuner

        return ApproxTuner(self, **kwargs)

    def check_config(self, with_approxes: Mapping[str, str]) -> KnobsT:
        """Validate a configuration; returns it as a plain dict."""
        if not isinstance(with_approxes, Mapping):
            raise ValueError(f"{self.name}: a configuration must map operator -> knob name, "
                             f"got {with_approxes!r}")
        missing = [op for op in self.op_knobs if op not in with_approxes]
        extra = [op for op in with_approxes if op not in self.op_knobs]
        if missing or extra:
            raise ValueError(f"{self.name}: configuration operators differ from the app's "
                             f"(missing {missing}, unknown {extra})")
        for op, kname in with_approxes.items():
            if all(k.name != kname for k in self.op_knobs[op]):
                raise ValueError(f"{self.name}: operator {op!r} has no knob {kname!r}; "
                                 f"choose one of {[k.name for k in self.op_knobs[op]]}")
        return dict(with_approxes)

    def _find_baseline_knob(self) -> ApproxKnob:
        candidates = [k for k in self.knobs if k.baseline_priority is not None]
        if not candidates:
            return BaselineKnob()
        return max(candidates, key=lambda k: k.baseline_priority)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, ops={len(self.op_knobs)}, "
                f"knobs={len(self.knobs)}, target_device={self.target_device!r})")

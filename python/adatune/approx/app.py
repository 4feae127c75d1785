"""The application interface: operators, their knobs, and one measurement call."""
from __future__ import annotations

import abc
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from .._checks import check_mapping
from ..errors import ArgumentError, ArgumentTypeError
from .knobs import ApproxKnob, _check_name

__all__ = ["ApproxApp", "KnobsT"]

#: A configuration as the application sees it: operator name -> knob name.
KnobsT = Dict[str, str]


class ApproxApp(abc.ABC):
    """An application made of operators, each with a choice of approximation knobs.

    Subclasses define :attr:`name` and :meth:`measure_qos_cost`. QoS is "higher is
    better" (accuracy, PSNR, ...); cost is anything to minimise (time, energy), in any
    unit: tuners always report it relative to the baseline configuration.

    At construction the baseline knob is found (:meth:`ApproxKnob.unique_baseline`: the
    highest ``baseline_priority``, else a new ``__baseline__`` knob) and offered on
    every operator that lacks it, first in its list.

    Parameters
    ----------
    op_knobs : mapping of str to iterable of ApproxKnob
        The knobs each operator may take.
    target_device : str, optional
        Keep only knobs that exist on this device (:meth:`ApproxKnob.exists_on_device`).
    """

    def __init__(self, op_knobs: Mapping[str, Iterable[ApproxKnob]], target_device: Optional[str] = None):
        owner = type(self).__name__
        check_mapping(op_knobs, "op_knobs", owner, non_empty=True)
        if target_device is not None:
            _check_name(target_device, "target_device", owner)
        self.target_device = target_device
        filtered: Dict[str, List[ApproxKnob]] = {}
        by_name: Dict[str, ApproxKnob] = {}
        for op, knobs in op_knobs.items():
            _check_name(op, "operator name", owner)
            kept = []
            for k in knobs:
                if not isinstance(k, ApproxKnob):
                    raise ArgumentTypeError(f"{owner}: operator {op!r} has {k!r}, not an ApproxKnob")
                if by_name.get(k.name, k) is not k:
                    raise ArgumentError(f"{owner}: two different knobs are named {k.name!r}")
                by_name[k.name] = k
                if k.exists_on_device(target_device) and k not in kept:
                    kept.append(k)
            filtered[op] = kept
        self.op_knobs: Dict[str, List[ApproxKnob]] = filtered
        self._baseline_knob = ApproxKnob.unique_baseline(self.knobs)
        self._offer_baseline_everywhere()

    # ------------------------------------------------------------------ abstract
    @property
    @abc.abstractmethod
    def name(self) -> str:
        """Name of the application (used in file names and plots)."""

    @abc.abstractmethod
    def measure_qos_cost(self, with_approxes: KnobsT, is_test: bool) -> Tuple[float, float]:
        """Run the application with ``with_approxes`` (operator -> knob name).

        ``is_test`` selects the held-apart test input set instead of the tuning set.
        Returns ``(qos, cost)``. Call :meth:`add_baseline_to_knobs` on ``with_approxes``
        first to accept abbreviated configurations (``measure_qos_cost({}, False)`` is
        then the baseline).
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
        """Every operator on the baseline knob (``add_baseline_to_knobs({})``)."""
        return self.add_baseline_to_knobs({})

    def add_baseline_to_knobs(self, approxes: Mapping[str, str]) -> KnobsT:
        """``approxes`` completed to a full configuration: every operator it does not
        name is mapped to the baseline knob; the ones it names keep their knob.

        Parameters
        ----------
        approxes : mapping of str to str
            A possibly abbreviated configuration (operator -> knob name).

        Returns
        -------
        dict
            One entry per operator of :attr:`ops`, in their order.
        """
        check_mapping(approxes, "approxes", f"{type(self).__name__}.add_baseline_to_knobs")
        unknown = [op for op in approxes if op not in self.op_knobs]
        if unknown:
            # the reference drops them silently; a misspelt operator then reads as "baseline"
            raise ArgumentError(f"{type(self).__name__}.add_baseline_to_knobs: unknown operators {unknown}; "
                                f"the app has {self.ops}")
        base = self._baseline_knob.name
        return {op: approxes.get(op, base) for op in self.op_knobs}

    def get_tuner(self, **kwargs: Any) -> "ApproxTuner":  # noqa: F821
        """An :class:`~adatune.approx.ApproxTuner` for this application (``kwargs``:
        its constructor arguments after ``app``)."""
        from .tuner import ApproxTuner

        return ApproxTuner(self, **kwargs)

    def check_config(self, with_approxes: Mapping[str, str]) -> KnobsT:
        """Validate a full configuration; returns it as a plain dict."""
        check_mapping(with_approxes, "with_approxes", f"{type(self).__name__}.check_config")
        missing = [op for op in self.op_knobs if op not in with_approxes]
        extra = [op for op in with_approxes if op not in self.op_knobs]
        if missing or extra:
            raise ArgumentError(f"{self.name}: configuration operators differ from the app's "
                                f"(missing {missing}, unknown {extra})")
        for op, kname in with_approxes.items():
            if all(k.name != kname for k in self.op_knobs[op]):
                raise ArgumentError(f"{self.name}: operator {op!r} has no knob {kname!r}; "
                                    f"choose one of {[k.name for k in self.op_knobs[op]]}")
        return dict(with_approxes)

    def _offer_baseline_everywhere(self) -> None:
        """Put the baseline knob first on every operator that lacks it."""
        for ks in self.op_knobs.values():
            if self._baseline_knob not in ks:
                ks.insert(0, self._baseline_knob)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, ops={len(self.op_knobs)}, "
                f"knobs={len(self.knobs)}, target_device={self.target_device!r})")

"""Approximation knobs: the choices an application offers for each of its operators."""
from __future__ import annotations

from typing import Any, Iterable, Optional

from .._checks import check_int
from ..errors import ArgumentError, ArgumentTypeError

__all__ = ["ApproxKnob", "BaselineKnob", "BASELINE_KNOB_NAME"]

#: Name of the knob added to every operator when no knob claims to be the baseline.
BASELINE_KNOB_NAME = "__baseline__"


def _check_name(value: Any, name: str, owner: str) -> str:
    """A non-empty ``str`` (knob and operator names)."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{owner}: {name} must be a str, got {value!r}")
    if not value:
        raise ArgumentError(f"{owner}: {name} must not be empty")
    return value


class ApproxKnob:
    """One approximation choice (a knob) that operators of an application may take.

    Parameters
    ----------
    name : str
        Unique within an application.
    devices : iterable of str, optional
        Devices on which the knob exists; ``None`` means every device.
    baseline_priority : int, optional
        Knobs with a priority are candidates for the baseline (the exact, reference
        choice); the highest priority wins. ``None``: never the baseline.
    **kwargs
        Extra attributes the application reads (e.g. a multiplier), stored as given in
        :attr:`kwargs`.
    """

    def __init__(self, name: str, devices: Optional[Iterable[str]] = None,
                 baseline_priority: Optional[int] = None, **kwargs: Any):
        self.name = _check_name(name, "name", "ApproxKnob")
        owner = f"ApproxKnob({name!r})"
        if isinstance(devices, str):
            # a bare string would silently become a set of its characters
            raise ArgumentTypeError(f"{owner}: devices must be a list of device names, not the string {devices!r}")
        self.devices = None if devices is None else frozenset(str(d) for d in devices)
        self.baseline_priority = check_int(baseline_priority, "baseline_priority", owner, allow_none=True)
        self.kwargs = dict(kwargs)

    def exists_on_device(self, device: Optional[str]) -> bool:
        """Whether the knob is usable on ``device`` (``None``: no device restriction asked)."""
        if self.devices is None or device is None:
            return True
        return device in self.devices

    @classmethod
    def unique_baseline(cls, knobs: Iterable["ApproxKnob"]) -> "ApproxKnob":
        """The baseline among ``knobs``: the one with the highest ``baseline_priority``
        (the first of equals), or a new :class:`BaselineKnob` when none has a priority."""
        candidates = [k for k in knobs if k.baseline_priority is not None]
        if not candidates:
            return BaselineKnob()
        return max(candidates, key=lambda k: k.baseline_priority)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ApproxKnob) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        extra = "" if self.devices is None else f", devices={sorted(self.devices)}"
        prio = "" if self.baseline_priority is None else f", baseline_priority={self.baseline_priority}"
        return f"{type(self).__name__}({self.name!r}{extra}{prio})"


class BaselineKnob(ApproxKnob):
    """The no-approximation knob added to every operator when no knob is a baseline."""

    def __init__(self, name: str = BASELINE_KNOB_NAME):
        super().__init__(name, devices=None, baseline_priority=0)

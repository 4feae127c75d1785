"""Approximation knobs: the choices an application offers for each of its operators."""
from __future__ import annotations

from typing import Any, Iterable, Optional

__all__ = ["ApproxKnob", "BaselineKnob", "BASELINE_KNOB_NAME"]

#: Name of the knob added to every operator when no knob claims to be the baseline.
BASELINE_KNOB_NAME = "__baseline__"


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
        Extra attributes the application reads (e.g. a multiplier), stored as given.
    """

    def __init__(self, name: str, devices: Optional[Iterable[str]] = None,
                 baseline_priority: Optional[int] = None, **kwargs: Any):
        if not isinstance(name, str) or not name:
            raise ValueError(f"ApproxKnob: name must be a non-empty str, got {name!r}")
        if isinstance(devices, str):
            raise ValueError(f"ApproxKnob({name!r}): devices must be a list of device names, "
                             f"not the string {devices!r}")
        if baseline_priority is not None and (isinstance(baseline_priority, bool)
                                              or not isinstance(baseline_priority, int)):
            raise ValueError(f"ApproxKnob({name!r}): baseline_priority must be an int or None, "
                             f"got {baseline_priority!r}")
        self.name = name
        self.devices = None if devices is None else frozenset(str(d) for d in devices)
        self.baseline_priority = baseline_priority
        self.kwargs = dict(kwargs)

    def exists_on_device(self, device: Optional[str]) -> bool:
        """Whether the knob is usable on ``device`` (``None``: no device restriction asked)."""
        if self.devices is None or device is None:
            return True
        return device in self.devices

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

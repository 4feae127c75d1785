"""Tuners by name, and the one-call ``adatune.tune``."""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional, Sequence

from .droplet import DropletTuner
from .ga import GATuner
from .grid_tuner import GridSearchTuner
from .random_tuner import RandomTuner
from .rfei import RFEITuner
from .tuner import Tuner, TuneSummary
from .xgb_tuner import XGBTuner
from ..errors import ArgumentError

__all__ = ["TUNERS", "create_tuner", "tune"]


def _xgb_rank(task: Any, **kw: Any) -> XGBTuner:
    return XGBTuner(task, loss_type="rank", **kw)


#: name -> factory(task, **kwargs)
TUNERS: Dict[str, Callable[..., Tuner]] = {
    "rfei": RFEITuner,
    "xgb": XGBTuner,
    "xgb-rank": _xgb_rank,
    "ga": GATuner,
    "random": RandomTuner,
    "grid": GridSearchTuner,
    "droplet": DropletTuner,
}


def create_tuner(name: str, task: Any, **kwargs: Any) -> Tuner:
    """Make a tuner by name (one of :data:`TUNERS`); ``kwargs`` go to its constructor."""
    try:
        factory = TUNERS[name]
    except (KeyError, TypeError):
        raise ArgumentError(f"unknown tuner {name!r}; choose one of {sorted(TUNERS)}") from None
    return factory(task, **kwargs)


def tune(task: Any, tuner: "str | Tuner" = "rfei", n_trial: int = 200, measure_option: Any = None,
         callbacks: Sequence[Callable] = (), early_stopping: Optional[int] = None,
         resume_from: Optional[str] = None, confirm: bool = True,
         **tuner_kwargs: Any) -> TuneSummary:
    """Tune ``task`` in one call: ``adatune.tune(task, "rfei", n_trial=200, measure_option=mo)``.

    Parameters
    ----------
    task : Task
    tuner : str or Tuner
        A name from :data:`TUNERS` or a tuner built for ``task``.
    n_trial : int
    measure_option : MeasureBatch
        Required (e.g. ``adatune.measure.measure_option(...)``).
    callbacks, early_stopping, resume_from, confirm
        As in :meth:`Tuner.tune` (``confirm``: re-measure a would-be new best first).
    **tuner_kwargs
        Constructor arguments when ``tuner`` is a name (e.g. ``seed=0``).
    """
    if measure_option is None:
        raise ArgumentError("tune: measure_option is required (see adatune.measure.measure_option)")
    if isinstance(tuner, Tuner):
        if tuner_kwargs:
            raise ArgumentError(f"tune: tuner arguments {sorted(tuner_kwargs)} given with a ready tuner")
        if tuner.task is not task:
            raise ArgumentError("tune: the tuner was built for another task")
        t = tuner
    else:
        t = create_tuner(tuner, task, **tuner_kwargs)
    return t.tune(n_trial, measure_option, early_stopping=early_stopping, callbacks=callbacks,
                  resume_from=resume_from, confirm=confirm)

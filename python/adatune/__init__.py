"""adatune: adaptive autotuning for Apache TVM.

Layers (data flows left to right): ``space`` -> ``tuner`` -> ``measure`` -> ``records``.
Public names are re-exported here; submodules are imported lazily so that
``import adatune`` stays cheap and never drags TVM into processes that do not need it.
"""
import logging

from ._version import __version__
from . import libinfo
from ._lazy import lazy_exports

logging.getLogger(__name__).addHandler(logging.NullHandler())

# name -> submodule that defines it; resolved on first access (PEP 562).
_LAZY = {
    "measure": "adatune.measure",
    "time_adaptive": "adatune.measure",
    "should_stop": "adatune.measure",
    "measure_option": "adatune.measure",
    "tune": "adatune.tuner",
    "tuner": "adatune.tuner",
    "space": "adatune.space",
    "task": "adatune.task",
    "template": "adatune.task",
    "apply_best": "adatune.task",
    "records": "adatune.records",
    "featurize": "adatune.featurize",
    "load_best": "adatune.records",
    "metaschedule": "adatune.metaschedule",
    "approx": "adatune.approx",
    "model": "adatune.model",
    "tune_model": "adatune.model",
    "tune_tasks": "adatune.model",
    "TunedModel": "adatune.model",
    "lorien": "adatune.lorien",
    "errors": "adatune.errors",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())

__all__ = ["__version__", "libinfo", *sorted(_LAZY)]

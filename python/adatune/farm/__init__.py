"""A tuning farm: many devices behind one TVM RPC tracker, many tasks at once.

:class:`Farm` keeps a session to every server registered under a key and feeds them
candidates of any number of tasks from one queue, surviving servers that die, hang or
keep failing, and a tracker that restarts. :class:`FarmMeasure` is the ``MeasureBatch``
tuners use on it (``tune_model(..., measure_option=FarmMeasure(farm))`` tunes several of
a model's tasks at once). :mod:`.sim_server` is a simulated device for scale and fault
tests; :func:`farm_status` is what ``adatune farm status`` prints.
"""
from .._lazy import lazy_exports

_LAZY = {
    "Farm": ".pool",
    "FarmError": ".pool",
    "FarmJob": ".pool",
    "ServerStats": ".pool",
    "status_dir": ".pool",
    "FarmMeasure": ".measure",
    "FarmStats": ".measure",
    "SimulatedDevice": ".sim_server",
    "farm_status": ".status",
    "format_status": ".status",
    "sim_cluster": ".cluster",
}

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())

__all__ = sorted(_LAZY)

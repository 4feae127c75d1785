"""One tuning record: what every log format decodes into and the AutoTVM line encodes.

A :class:`Record` remembers which AutoTVM line version it came from (0.1 or 0.2), so
:func:`adatune.records.encode` writes it back in that version.  Arguments, entity and
extras are held as the JSON values they are (lists, dicts): converting them to tuples
cost more than parsing the line, on the path every record read takes.  Treat them as
read-only.  The line formats themselves live in :mod:`adatune.records.formats`.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from ..errors import ArgumentTypeError, RecordError
from .workload import infer_layout, workload_key

__all__ = ["Record", "RecordError", "make_record", "FAILED_COST"]

#: Cost AutoTVM writes for a failed measurement.
FAILED_COST = 1e9


class _cached:
    """A per-instance cached attribute (``functools.cached_property`` without its lock,
    which in Python 3.11 cost more than the values it caches here)."""

    def __init__(self, func):
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, owner=None):
        if obj is None:
            return self
        value = self.func(obj)
        obj.__dict__[self.name] = value
        return value


def _jsonable(value: Any) -> Any:
    """Tuples -> lists, recursively, so a record built in memory equals its decoded line."""
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, eq=True)
class Record:
    """One measured configuration of one task on one target.

    Parameters
    ----------
    target : str
        The target as written in the log (a TVM 0.27 target prints as JSON).
    task_name : str
        Template or task name.
    args : list
        Workload arguments (tensors as ``["TENSOR", shape, dtype]``).
    config_index : int
        Index of the config in its space (-1 when unknown, e.g. MetaSchedule).
    entity : list
        ``[[knob_name, kind, value], ...]`` with kind ``sp``/``ot``/``re``/``an``/...
    costs : tuple of float
        Run times in seconds; ``(1e9,)`` for failed measurements.
    error_no : int
        AutoTVM error code, 0 for success.
    all_cost : float
        Seconds spent building and running the candidate.
    timestamp : float
        Unix time of the measurement.
    version : float
        Line format the record came from (0.1 or 0.2); :func:`encode` keeps it.
    code_hash : str or None
    template_key : str
        v0.1's template key (``"direct"``, ...); empty for v0.2.
    tvm_version : str or None
    extra : dict
        Everything else worth keeping (v0.1 kwargs and workload, MetaSchedule trace
        and workload hash).

    Notes
    -----
    Records compare by value; the hash uses the scalar fields only (the list fields
    are not hashable), which is consistent with equality.
    """

    target: str
    task_name: str
    args: List[Any]
    config_index: int
    entity: List[Any]
    costs: Tuple[Any, ...]
    error_no: int
    all_cost: float
    timestamp: float
    version: float = 0.2
    code_hash: Optional[str] = None
    template_key: str = ""
    tvm_version: Optional[str] = None
    extra: Dict[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.target, self.task_name, self.config_index, self.costs,
                     self.error_no, self.timestamp))

    @property
    def ok(self) -> bool:
        """True for a successful measurement with at least one finite cost."""
        return self.error_no == 0 and math.isfinite(self.mean_cost)

    @_cached
    def mean_cost(self) -> float:
        """Mean run time in seconds; ``inf`` for failed or cost-less records."""
        if self.error_no != 0 or not self.costs:
            return math.inf
        try:
            value = sum(self.costs) / len(self.costs)
        except TypeError:
            return math.inf
        return value if value == value else math.inf  # NaN counts as failed

    @_cached
    def workload_key(self) -> str:
        """Stable, printable key of (task name, arguments); see :func:`workload_key`."""
        key = workload_key(self.task_name, self.args)
        shash = self.extra.get("ms_workload_hash") if self.extra else None
        return f"{key}#{shash}" if shash is not None else key

    @_cached
    def layout(self) -> str:
        """Data layout of this record, see :func:`adatune.records.infer_layout`."""
        return infer_layout(self.task_name, self.args, self.entity)

    def config_dict(self) -> dict:
        """The config as AutoTVM v0.2 writes it."""
        return {"index": self.config_index, "code_hash": self.code_hash,
                "entity": self.entity}

    @classmethod
    def from_measure(cls, inp: Any, res: Any) -> "Record":
        """Build a record from a ``MeasureInput`` and its ``MeasureResult``.

        ``inp.target`` may be a ``tvm.target.Target`` (stored as ``str(target)``, which
        TVM 0.27 prints as JSON) or a string.  Failed results are stored with cost
        ``1e9`` like AutoTVM does, since their ``costs`` hold error messages.  A confirmed
        result (``res.first_costs`` set) keeps its confirmation as the costs and its first
        measurement under ``extra["first_costs"]`` (the line's ``"adatune"`` field).
        """
        target = inp.target if isinstance(inp.target, str) else str(inp.target)
        task = inp.task
        config = inp.config
        if hasattr(config, "to_json_dict"):
            cfg = config.to_json_dict()
        elif isinstance(config, Mapping):
            cfg = dict(config)
        else:
            raise ArgumentTypeError(f"Record.from_measure: inp.config must be a config entity "
                                    f"(with to_json_dict()) or a dict, got {config!r}")
        error_no = int(res.error_no)
        if error_no == 0:
            costs = tuple(float(c) for c in res.costs)
        else:
            costs = (FAILED_COST,)
        tvm = sys.modules.get("tvm")
        return cls(
            target=target,
            task_name=str(task.name),
            args=_serialize_args(task.args),
            config_index=int(cfg.get("index", -1)),
            entity=_jsonable(cfg.get("entity") or []),
            costs=costs,
            error_no=error_no,
            all_cost=float(res.all_cost),
            timestamp=float(res.timestamp),
            version=0.2,
            code_hash=cfg.get("code_hash"),
            tvm_version=getattr(tvm, "__version__", None),
            # A confirmed result's first measurement (AutoTVM readers ignore "adatune").
            extra=({"first_costs": [float(c) for c in first]}
                   if (first := getattr(res, "first_costs", None)) else {}),
        )


def _serialize_args(args: Iterable[Any]) -> list:
    """Make task arguments JSON-serialisable the way AutoTVM does."""
    out = []
    for arg in args:
        if hasattr(arg, "shape") and hasattr(arg, "dtype"):
            out.append(["TENSOR", [int(s) for s in arg.shape], str(arg.dtype)])
        elif isinstance(arg, (list, tuple)):
            out.append(_serialize_args(arg))
        elif arg is None or isinstance(arg, (bool, int, float, str)):
            out.append(arg)
        elif hasattr(arg, "value"):  # tvm IntImm / FloatImm
            out.append(arg.value)
        else:
            out.append(str(arg))
    return out


_FIELDS = tuple(f.name for f in fields(Record))
_new_object = object.__new__


def make_record(*values: Any) -> Record:
    """``Record(*values)`` in field order, for a decoder that validated the values.

    The frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``,
    which took half of the construction time on the read path.
    """
    record = _new_object(Record)
    record.__dict__.update(zip(_FIELDS, values))
    return record

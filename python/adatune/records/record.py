"""One tuning record and its one-line AutoTVM encoding.

Two AutoTVM line formats exist in the wild and both are read:

* v0.1 (TVM <= 0.6, TopHub's oldest packages)::

    {"i": [target, task_name, args, kwargs, workload,
           {"i": index, "t": template_key, "c": code_hash, "e": entity}],
     "r": [costs, error_no, all_cost, timestamp], "v": 0.1}

* v0.2 (TVM >= 0.7, and what adatune writes)::

    {"input": [target, task_name, args, []],
     "config": {"index": i, "code_hash": h, "entity": [[name, kind, value], ...]},
     "result": [costs, error_no, all_cost, timestamp],
     "version": 0.2, "tvm_version": "..."}

A :class:`Record` remembers which version it came from, and :func:`encode` writes it
back in that version, so ``decode(encode(r)) == r`` for every record.  Arguments,
entity and extras are held as the JSON values they are (lists, dicts): converting
them to tuples cost more than parsing the line, on the path every record read takes.
Treat them as read-only.
"""
from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field, fields
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from . import _json
from ..errors import RecordError
from .workload import infer_layout, workload_key

__all__ = ["Record", "RecordError", "encode", "decode", "decode_obj",
           "FAILED_COST"]

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
        ``1e9`` like AutoTVM does, since their ``costs`` hold error messages.
        """
        target = inp.target if isinstance(inp.target, str) else str(inp.target)
        task = inp.task
        config = inp.config
        if hasattr(config, "to_json_dict"):
            cfg = config.to_json_dict()
        elif isinstance(config, Mapping):
            cfg = dict(config)
        else:
            raise ValueError(f"config {config!r} has no to_json_dict()")
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


# ----------------------------------------------------------------------------- encode

def encode(record: Record) -> str:
    """Encode a record as one AutoTVM JSON line (no trailing newline).

    The line has the record's own version (0.1 or 0.2).  Extra data that AutoTVM's
    format has no place for (MetaSchedule traces) goes under an ``"adatune"`` key,
    which AutoTVM readers ignore.
    """
    result = [list(record.costs), record.error_no, record.all_cost, record.timestamp]
    extra = dict(record.extra) if record.extra else {}
    if record.version == 0.1:
        kwargs = extra.pop("kwargs", {})
        workload = extra.pop("workload", None)
        line = {
            "i": [record.target, record.task_name, record.args, kwargs, workload,
                  {"i": record.config_index, "t": record.template_key,
                   "c": record.code_hash, "e": record.entity}],
            "r": result,
            "v": 0.1,
        }
    else:
        line = {
            "input": [record.target, record.task_name, record.args, []],
            "config": record.config_dict(),
            "result": result,
            "version": record.version,
        }
        if record.tvm_version is not None:
            line["tvm_version"] = record.tvm_version
        if record.template_key:
            extra["template_key"] = record.template_key
    if extra:
        line["adatune"] = extra
    return json.dumps(line)


# ----------------------------------------------------------------------------- decode

def decode(line: "str | bytes") -> Record:
    """Decode one AutoTVM JSON line (v0.1 or v0.2).

    Raises
    ------
    RecordError
        With a ``reason`` category when the line is not valid JSON or not a record.
    """
    try:
        obj = _json.loads(line)
    except ValueError as err:
        raise RecordError("bad_json", f"not valid JSON: {err}") from None
    return decode_obj(obj)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_entity(entity: Any) -> None:
    if type(entity) is not list:
        raise RecordError("wrong_type", "config entity is not a list")
    for knob in entity:
        if type(knob) is not list or len(knob) != 3 or type(knob[0]) is not str \
                or type(knob[1]) is not str:
            raise RecordError("wrong_type",
                              f"config entity item {knob!r} is not [name, kind, value]")


def _check_result(result: Any) -> Tuple[tuple, int, float, float]:
    if not isinstance(result, list):
        raise RecordError("wrong_type", "result is not a list")
    if not (len(result) == 4):
        raise RecordError("missing_field", f"result has {len(result)} fields, expected "
                                           "[costs, error_no, all_cost, timestamp]")
    costs, error_no, all_cost, timestamp = result
    if not (_is_int(error_no) and error_no >= 0):
        raise RecordError("wrong_type",
                          f"error_no {error_no!r} is not a non-negative integer")
    if not isinstance(costs, list):
        raise RecordError("wrong_type", "costs is not a list")
    if error_no == 0:
        if not (len(costs) > 0):
            raise RecordError("bad_value", "successful record without costs")
        values = []
        for c in costs:
            kind = type(c)
            if kind is not float and kind is not int:
                raise RecordError("wrong_type", "costs are not numbers")
            values.append(float(c))
        costs = tuple(values)
    else:
        # Failed records may carry error messages instead of times; keep them as text.
        costs = tuple(float(c) if _is_num(c) else str(c) for c in costs) or (FAILED_COST,)
    if not _is_num(all_cost):
        raise RecordError("wrong_type", f"all_cost {all_cost!r} is not a number")
    if not _is_num(timestamp):
        raise RecordError("wrong_type", f"timestamp {timestamp!r} is not a number")
    return costs, error_no, float(all_cost), float(timestamp)


_FIELDS = tuple(f.name for f in fields(Record))
_new_object = object.__new__


def _make_record(*values: Any) -> Record:
    """``Record(*values)`` for values already validated: the frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``, which took half of
    the construction time on the read path."""
    record = _new_object(Record)
    record.__dict__.update(zip(_FIELDS, values))
    return record


def decode_obj(obj: Any) -> Record:
    """Decode an already-parsed JSON object (see :func:`decode`)."""
    if not isinstance(obj, dict):
        raise RecordError("not_object", "line is not a JSON object")
    if "input" in obj or "config" in obj or "result" in obj:
        return _decode_v02(obj)
    if "i" in obj or "r" in obj:
        return _decode_v01(obj)
    raise RecordError("unknown_format", "neither an AutoTVM v0.1 ('i', 'r') nor v0.2 "
                                        "('input', 'config', 'result') record")


def _decode_v02(obj: dict) -> Record:
    for key in ("input", "config", "result"):
        if not (key in obj):
            raise RecordError("missing_field", f"missing field {key!r}")
    inp, config = obj["input"], obj["config"]
    if not isinstance(inp, list):
        raise RecordError("wrong_type", "input is not a list")
    if not (len(inp) >= 3):
        raise RecordError("missing_field", "input needs [target, task_name, args, ...]")
    target, task_name, args = inp[0], inp[1], inp[2]
    if not isinstance(target, str):
        raise RecordError("wrong_type", "target is not a string")
    if not isinstance(task_name, str):
        raise RecordError("wrong_type", "task name is not a string")
    if not isinstance(args, list):
        raise RecordError("wrong_type", "task args are not a list")
    if not isinstance(config, dict):
        raise RecordError("wrong_type", "config is not an object")
    if not ("index" in config and "entity" in config):
        raise RecordError("missing_field", "config needs 'index' and 'entity'")
    index, entity, code_hash = config["index"], config["entity"], config.get("code_hash")
    if not _is_int(index):
        raise RecordError("wrong_type", f"config index {index!r} is not an integer")
    _check_entity(entity)
    if not (code_hash is None or isinstance(code_hash, str)):
        raise RecordError("wrong_type", "code_hash is not a string")
    costs, error_no, all_cost, timestamp = _check_result(obj["result"])
    version = obj.get("version", 0.2)
    if not _is_num(version):
        raise RecordError("wrong_type", f"version {version!r} is not a number")
    tvm_version = obj.get("tvm_version")
    if not (tvm_version is None or isinstance(tvm_version, str)):
        raise RecordError("wrong_type", "tvm_version is not a string")
    extra = obj.get("adatune") or {}
    if not isinstance(extra, dict):
        raise RecordError("wrong_type", "'adatune' field is not an object")
    template_key = extra.pop("template_key", "") if extra else ""
    return _make_record(target, task_name, args, index, entity, costs, error_no, all_cost,
                        timestamp, float(version), code_hash, str(template_key),
                        tvm_version, extra)


def _decode_v01(obj: dict) -> Record:
    if not ("i" in obj and "r" in obj):
        raise RecordError("missing_field", "v0.1 record needs 'i' and 'r'")
    inp = obj["i"]
    if not isinstance(inp, list):
        raise RecordError("wrong_type", "'i' is not a list")
    if not (len(inp) == 6):
        raise RecordError("missing_field",
                          "'i' needs [target, task_name, args, kwargs, workload, config]")
    target, task_name, args, kwargs, workload, config = inp
    if not isinstance(target, str):
        raise RecordError("wrong_type", "target is not a string")
    if not isinstance(task_name, str):
        raise RecordError("wrong_type", "task name is not a string")
    if not isinstance(args, list):
        raise RecordError("wrong_type", "task args are not a list")
    if not isinstance(kwargs, dict):
        raise RecordError("wrong_type", "kwargs is not an object")
    if not isinstance(config, dict):
        raise RecordError("wrong_type", "config is not an object")
    if not ("i" in config and "e" in config):
        raise RecordError("missing_field", "config needs 'i' and 'e'")
    index, entity = config["i"], config["e"]
    if not _is_int(index):
        raise RecordError("wrong_type", f"config index {index!r} is not an integer")
    _check_entity(entity)
    template_key = config.get("t", "")
    code_hash = config.get("c")
    if not isinstance(template_key, str):
        raise RecordError("wrong_type", "template key is not a string")
    if not (code_hash is None or isinstance(code_hash, str)):
        raise RecordError("wrong_type", "code_hash is not a string")
    costs, error_no, all_cost, timestamp = _check_result(obj["r"])
    extra = obj.get("adatune")
    extra = dict(extra) if type(extra) is dict else {}
    extra["kwargs"] = kwargs
    extra["workload"] = workload
    return _make_record(target, task_name, args, index, entity, costs, error_no, all_cost,
                        timestamp, 0.1, code_hash, template_key, None, extra)

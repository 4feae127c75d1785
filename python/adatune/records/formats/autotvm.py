"""AutoTVM JSON lines, v0.1 and v0.2: the one module that knows them.

Two versions exist in the wild, often mixed in one file, and both are read:

* v0.1 (TVM <= 0.6, TopHub's oldest packages)::

    {"i": [target, task_name, args, kwargs, workload,
           {"i": index, "t": template_key, "c": code_hash, "e": entity}],
     "r": [costs, error_no, all_cost, timestamp], "v": 0.1}

* v0.2 (TVM >= 0.7, and what adatune writes)::

    {"input": [target, task_name, args, []],
     "config": {"index": i, "code_hash": h, "entity": [[name, kind, value], ...]},
     "result": [costs, error_no, all_cost, timestamp],
     "version": 0.2, "tvm_version": "..."}

:func:`encode` writes a record back in its own version, so ``decode(encode(r)) == r``.
:func:`decode_plain` is the featurizer's fast path: the fields of the lines
:func:`decode` accepts in their plain form, checked here beside :func:`decode` so that
the two cannot drift apart.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Tuple

from .. import _json
from ...errors import RecordError
from ..lines import iter_log_lines
from ..record import FAILED_COST, Record, make_record
from ..summary import ReadSummary
from .base import LogFormat, PlainFields

__all__ = ["encode", "decode", "decode_obj", "decode_plain", "AutoTVMFormat"]

try:  # pragma: no cover - which branch runs depends on the environment
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover
    from json import loads as _fast_loads

#: Keys a line may have and still be plain (anything else, e.g. "adatune", is not).
_V01_KEYS = frozenset(("i", "r", "v"))
_V02_KEYS = frozenset(("input", "config", "result", "version", "tvm_version"))
_SCALAR = frozenset((int, float, str, bool, type(None)))
_NUM = frozenset((int, float))


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


def _check_task(target: Any, task_name: Any, args: Any) -> None:
    """The task part both versions share: target string, task name, argument list."""
    if not isinstance(target, str):
        raise RecordError("wrong_type", "target is not a string")
    if not isinstance(task_name, str):
        raise RecordError("wrong_type", "task name is not a string")
    if not isinstance(args, list):
        raise RecordError("wrong_type", "task args are not a list")


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
    _check_task(target, task_name, args)
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
    return make_record(target, task_name, args, index, entity, costs, error_no, all_cost,
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
    _check_task(target, task_name, args)
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
    return make_record(target, task_name, args, index, entity, costs, error_no, all_cost,
                        timestamp, 0.1, code_hash, template_key, None, extra)


# ----------------------------------------------------------------------------- plain lines

def decode_plain(line: bytes, _loads=_fast_loads, _scalar=_SCALAR, _num=_NUM
                 ) -> Optional[PlainFields]:
    """``(target, task_name, args, entity, error_no, costs)`` of a plain line, else None.

    Plain: :func:`decode` accepts the line, it has no v0.1 keyword arguments and no
    ``adatune`` extras (nothing beyond the fields above matters), every cost is a float,
    and every knob is ``[name, kind, value]`` with a JSON scalar or a list of scalars as
    its value.  None for every other line, valid or not: the caller decodes those with
    :func:`decode`, which keeps the exact rejection reasons.
    """
    try:
        obj = _loads(line)
    except ValueError:
        return None
    if obj.__class__ is not dict:
        return None
    keys = obj.keys()
    if keys <= _V01_KEYS:
        if "i" not in obj or "r" not in obj:
            return None
        inp = obj["i"]
        if inp.__class__ is not list or len(inp) != 6:
            return None
        kwargs = inp[3]
        config = inp[5]
        if kwargs.__class__ is not dict or kwargs or config.__class__ is not dict \
                or "i" not in config or "e" not in config:
            return None
        index = config["i"]
        entity = config["e"]
        chash = config.get("c")
        if index.__class__ is not int or config.get("t", "").__class__ is not str \
                or not (chash is None or chash.__class__ is str):
            return None
        res = obj["r"]
    elif keys <= _V02_KEYS:
        if "input" not in obj or "config" not in obj or "result" not in obj:
            return None
        inp = obj["input"]
        config = obj["config"]
        tvm_version = obj.get("tvm_version")
        if inp.__class__ is not list or len(inp) < 3 or config.__class__ is not dict \
                or "index" not in config or "entity" not in config \
                or obj.get("version", 0.2).__class__ not in _num \
                or not (tvm_version is None or tvm_version.__class__ is str):
            return None
        index = config["index"]
        entity = config["entity"]
        chash = config.get("code_hash")
        if index.__class__ is not int or not (chash is None or chash.__class__ is str):
            return None
        res = obj["result"]
    else:
        return None
    if res.__class__ is not list or len(res) != 4:
        return None
    costs, error_no, all_cost, timestamp = res
    if error_no.__class__ is not int or error_no < 0 or costs.__class__ is not list \
            or all_cost.__class__ not in _num or timestamp.__class__ not in _num:
        return None
    for c in costs:
        if c.__class__ is not float:
            return None
    if error_no == 0 and not costs:
        return None
    target = inp[0]
    task = inp[1]
    args = inp[2]
    if target.__class__ is not str or task.__class__ is not str or args.__class__ is not list \
            or entity.__class__ is not list:
        return None
    for knob in entity:
        if knob.__class__ is not list or len(knob) != 3:
            return None
        name, kind, value = knob
        if name.__class__ is not str or kind.__class__ is not str:
            return None
        if value.__class__ is list:
            for v in value:
                if v.__class__ not in _scalar:
                    return None
        elif value.__class__ not in _scalar:
            return None
    return target, task, args, entity, error_no, costs


# ----------------------------------------------------------------------------- the format

class AutoTVMFormat(LogFormat):
    """AutoTVM log files: one JSON record per line, v0.1 and v0.2 mixed, ``#`` comments."""

    name = "autotvm"
    splittable = True
    decode_plain = staticmethod(decode_plain)

    def sniff(self, path: Path, head: bytes) -> bool:
        """True when the first record line of ``head`` opens like an AutoTVM record."""
        for raw in head.split(b"\n"):
            line = raw.strip()
            if not line or line[:1] == b"#":
                continue
            return line.startswith((b'{"i"', b'{"input"', b'{"r"', b'{"config"', b'{"result"'))
        return False

    def iter_lines(self, path: Path, summary: ReadSummary,
                   on_bytes: Optional[Callable[[int], None]] = None,
                   start: int = 0, end: Optional[int] = None,
                   context: Any = None) -> Iterator[Tuple[int, bytes]]:
        return iter_log_lines(path, summary, on_bytes, start, end)

    def decode(self, item: Any, context: Any = None) -> Record:
        return decode(item)

"""Raw features of one record: task inputs, attributes, knobs, and the label.

Feature names (columns of the tables ``adatune featurize`` writes):

* ``in_<i>``: the task arguments flattened in order (tensor tags skipped, so
  ``["TENSOR", [1, 3], "float32"]`` gives ``1``, ``3``, ``"float32"``);
* ``attr_layout`` (see :func:`adatune.records.infer_layout`) and ``attr_<key>``
  for v0.1 keyword arguments;
* knobs: ``sp_<knob>_<i>`` split factors, ``re_<knob>_<i>`` reorder positions,
  ``an_<knob>_<i>`` annotations, ``ot_<knob>`` other knobs, ``<kind>_<knob>`` for
  kinds beyond these; MetaSchedule records give ``ms_d<inst>`` (``_<i>``) from the
  trace's sampling decisions;
* ``label``: GFLOPS when the workload's FLOPs are known, else ``1 / mean cost`` (1/s),
  and 0 for a failed record; ``error_no`` keeps the error code.

Values are numbers, strings (categorical) or None (missing).
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

from ..records import Record
from ..records.workload import layout_depends_on_config

__all__ = ["record_features", "record_values", "label_of", "flatten_values", "LABEL_GFLOPS",
           "LABEL_INV_COST"]

LABEL_GFLOPS = "gflops"
LABEL_INV_COST = "inv_cost"

_LIST_KINDS = {"sp": "sp", "re": "re", "an": "an"}


_SCALARS = frozenset((int, float, str))


def flatten_values(value: Any, out: List[Any]) -> None:
    """Append the leaves of ``value`` (lists/tuples, tensor tags dropped) to ``out``."""
    kind = type(value)
    if kind is list or kind is tuple:
        items = value[1:] if value and value[0] == "TENSOR" else value
        for item in items:
            # runs for every argument of every record: scalars first, no recursion
            if type(item) in _SCALARS:
                out.append(item)
            else:
                flatten_values(item, out)
    elif kind is bool:
        out.append(int(value))
    elif value is None:
        out.append(None)
    elif kind in _SCALARS:
        out.append(value)
    elif isinstance(value, dict):
        for key in sorted(value):
            flatten_values(value[key], out)
    else:
        out.append(str(value))


def _scalar(value: Any) -> Any:
    kind = type(value)
    if kind is int or kind is float or kind is str:
        return value
    if kind is bool:
        return int(value)
    if value is None:
        return None
    return str(value)


def record_features(record: Record) -> List[Tuple[str, Any]]:
    """``[(name, value)]`` of one record, in a stable order (label not included)."""
    feats: List[Tuple[str, Any]] = []
    flat: List[Any] = []
    flatten_values(record.args, flat)
    feats.extend((f"in_{i}", v) for i, v in enumerate(flat))
    feats.append(("attr_layout", record.layout))
    extra = record.extra
    if extra:
        kwargs = extra.get("kwargs")
        if isinstance(kwargs, dict):
            for key in sorted(kwargs):
                feats.append((f"attr_{key}", _scalar(kwargs[key])))
        trace = extra.get("ms_trace")
        if isinstance(trace, list) and len(trace) > 1 and isinstance(trace[1], list):
            for decision in trace[1]:
                if isinstance(decision, list) and len(decision) == 2:
                    inst, value = decision
                    if isinstance(value, list):
                        vals: List[Any] = []
                        flatten_values(value, vals)
                        feats.extend((f"ms_d{inst}_{i}", v) for i, v in enumerate(vals))
                    else:
                        feats.append((f"ms_d{inst}", _scalar(value)))
    for name, kind, value in record.entity:
        prefix = _LIST_KINDS.get(kind)
        if prefix is not None and isinstance(value, list):
            feats.extend((f"{prefix}_{name}_{i}", _scalar(v)) for i, v in enumerate(value))
        elif kind == "ot":
            feats.append((f"ot_{name}", _scalar(value)))
        elif isinstance(value, list):
            vals = []
            flatten_values(value, vals)
            feats.extend((f"{kind}_{name}_{i}", v) for i, v in enumerate(vals))
        else:
            feats.append((f"{kind}_{name}", _scalar(value)))
    return feats


def record_values(record: Record, cache: Optional[list] = None) -> Tuple[tuple, List[Any]]:
    """The values of :func:`record_features` without their names, and a schema key.

    Records with equal keys have equal feature names, so a featurizer builds names
    once per key: this is the per-record fast path.  Values are raw (``None`` and
    bools included); :func:`record_features` is the reference it must agree with.

    ``cache`` (an empty list to start with, kept by the caller) remembers the last
    record's task, arguments and their values: logs hold long runs of records of one
    workload, and comparing the arguments is cheaper than flattening them again.
    """
    args = record.args
    if cache and cache[0] == record.task_name and cache[1] == args and \
            not layout_depends_on_config(record.task_name):
        vals = list(cache[2])  # flattened arguments and the layout
        n_in = len(vals) - 1
    else:
        vals = []
        flatten_values(args, vals)
        n_in = len(vals)
        vals.append(record.layout)
        if cache is not None:
            cache[:] = [record.task_name, args, tuple(vals)]
    extra_key: tuple = ()
    extra = record.extra
    if extra:
        kwargs = extra.get("kwargs")
        if kwargs or "ms_trace" in extra:
            # Rare (v0.1 keyword arguments, MetaSchedule traces): the reference path.
            feats = record_features(record)
            return ("named", tuple(name for name, _ in feats)), [v for _, v in feats]
    shape = []
    for knob in record.entity:
        value = knob[2]
        kind = type(value)
        if kind is list:
            for v in value:
                if type(v) not in _FLAT:
                    break
            else:
                vals.extend(value)
                shape.append((knob[0], knob[1], len(value)))
                continue
            flat: List[Any] = []
            flatten_values(value, flat)
            if len(flat) != len(value):  # nested knob values: name them one by one
                feats = record_features(record)
                return ("named", tuple(n for n, _ in feats)), [v for _, v in feats]
            vals.extend(flat)
            shape.append((knob[0], knob[1], len(value)))
        elif kind in _FLAT:
            vals.append(value)
            shape.append((knob[0], knob[1], -1))
        else:
            vals.append(_scalar(value))
            shape.append((knob[0], knob[1], -1))
    return (n_in, extra_key, tuple(shape)), vals


_FLAT = frozenset((int, float, str, bool, type(None)))


def label_of(record: Record, flops: Optional[float]) -> float:
    """GFLOPS when ``flops`` is known, else 1 / mean cost; 0 for failed records."""
    if not record.ok:
        return 0.0
    cost = record.mean_cost
    if cost <= 0:
        return 0.0
    if flops is not None:
        return flops / cost / 1e9
    return 1.0 / cost

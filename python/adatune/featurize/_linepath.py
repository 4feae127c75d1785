"""The featurize fast path: raw feature rows straight from parsed AutoTVM lines.

Building a :class:`~adatune.records.Record` per line (validation into a frozen
object, cached properties, then flattening it again into feature values) cost more
than parsing the JSON.  Here a parsed line is validated and turned into its row in
one pass, and what is the same for every line of a workload (target, task, the
flattened arguments, the layout, the FLOPs, the group) is computed once per run of
lines of that workload; what is the same for every config of one knob layout (the
schema and its FLOPs key) once per layout.

The fast path accepts only the lines it can prove :func:`adatune.records.decode`
accepts and whose features :func:`~adatune.featurize.record_values` would give
without its reference path (no v0.1 keyword arguments, no ``adatune`` extras, no
packed NCHWc templates whose layout depends on the config, flat knob values, float
costs).  Every other line, valid or not, goes through ``decode`` and the record
path, so rejections keep their exact reason, message and line number.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ..records.record import Record, RecordError, decode
from ..records.summary import ReadSummary
from ..records.workload import _name_hints, infer_layout
from .features import _flatten
from .flops import estimate_flops

try:  # pragma: no cover - which branch runs depends on the environment
    from orjson import loads as _loads
except ImportError:  # pragma: no cover
    from json import loads as _loads

_V01_KEYS = frozenset(("i", "r", "v"))
_V02_KEYS = frozenset(("input", "config", "result", "version", "tvm_version"))
_FLAT = frozenset((int, float, str, bool, type(None)))
_NUM = frozenset((int, float))
_LIST_KINDS = frozenset(("sp", "re", "an"))
_INF = math.inf
_NAN = math.nan


def _names(n_in: int, shape: tuple) -> List[str]:
    """Feature names of a fast-path schema key, as :func:`record_features` names them."""
    names = [f"in_{i}" for i in range(n_in)]
    names.append("attr_layout")
    for name, kind, n in shape:
        if n < 0:
            names.append(f"{kind}_{name}")
        else:
            names.extend(f"{kind}_{name}_{i}" for i in range(n))
    return names


def featurize_lines(lines: Iterable[Tuple[int, bytes]], path: Path, summary: ReadSummary,
                    get_group: Callable[[str, str], Any], add_record: Callable[[Record], None],
                    flops_cache: Dict[tuple, Optional[float]], flops_cache_max: int,
                    buffer_rows: int) -> None:
    """Featurize the ``(line number, line)`` pairs of one AutoTVM log into groups.

    Parameters
    ----------
    lines : iterable
        From :func:`adatune.records.iter_log_lines` (blank and comment lines counted).
    path : Path
        The file, for rejection messages.
    summary : ReadSummary
        Counts kept and rejected lines.
    get_group : callable
        ``(target, task_name) -> group`` (created on first use).
    add_record : callable
        The record path, for lines the fast path does not take.
    flops_cache, flops_cache_max : dict, int
        FLOPs by ``(task, schema key, flattened arguments)``, shared with the record
        path (same keys), cleared when it grows past ``flops_cache_max``.
    buffer_rows : int
        Flush a group when its buffer holds this many rows.
    """
    where = str(path)
    # workload of the previous fast line: (target, task, args) and what follows from it
    w_target = w_task = w_args = None
    group = base = None
    n_in = 0
    last_shape: Optional[list] = None
    schema = None
    coded: List[Any] = []  # base with category codes
    knob_cat: List[Tuple[int, int]] = []
    direct = False
    cat_version = -1
    flops = _NAN
    flat_types = _FLAT.issuperset
    for lineno, line in lines:
        try:
            obj = _loads(line)
        except ValueError:
            obj = None
        row = None
        if obj.__class__ is dict:
            # -- the line's parts, by version; None where the fast path must not go
            if obj.keys() <= _V01_KEYS and "i" in obj and "r" in obj:
                inp = obj["i"]
                res = obj["r"]
                if inp.__class__ is list and len(inp) == 6:
                    kwargs = inp[3]
                    config = inp[5]
                    if kwargs.__class__ is dict and not kwargs and config.__class__ is dict \
                            and "i" in config and "e" in config:
                        index = config["i"]
                        entity = config["e"]
                        tkey = config.get("t", "")
                        chash = config.get("c")
                        if index.__class__ is not int or tkey.__class__ is not str or \
                                not (chash is None or chash.__class__ is str):
                            inp = None
                    else:
                        inp = None
                else:
                    inp = None
            elif obj.keys() <= _V02_KEYS and "input" in obj and "config" in obj \
                    and "result" in obj:
                inp = obj["input"]
                res = obj["result"]
                config = obj["config"]
                version = obj.get("version", 0.2)
                tvm_version = obj.get("tvm_version")
                if inp.__class__ is list and len(inp) >= 3 and config.__class__ is dict \
                        and "index" in config and "entity" in config \
                        and version.__class__ in _NUM \
                        and (tvm_version is None or tvm_version.__class__ is str):
                    index = config["index"]
                    entity = config["entity"]
                    chash = config.get("code_hash")
                    if index.__class__ is not int or \
                            not (chash is None or chash.__class__ is str):
                        inp = None
                else:
                    inp = None
            else:
                inp = None
            # -- result: [costs, error_no, all_cost, timestamp]
            if inp is not None and res.__class__ is list and len(res) == 4:
                costs, error_no, all_cost, timestamp = res
                if error_no.__class__ is int and error_no >= 0 and costs.__class__ is list \
                        and all_cost.__class__ in _NUM and timestamp.__class__ in _NUM:
                    for c in costs:
                        if c.__class__ is not float:
                            break
                    else:
                        if error_no == 0:
                            if costs:
                                cost = sum(costs) / len(costs)
                                row = [1.0 / cost if 0 < cost < _INF else 0.0, 0.0, 0]
                        else:
                            row = [0.0, 0.0, error_no]
            # -- workload: the same as the previous line's, or validated afresh
            if row is not None:
                target = inp[0]
                task = inp[1]
                args = inp[2]
                if target != w_target or task != w_task or args != w_args:
                    if target.__class__ is str and task.__class__ is str \
                            and args.__class__ is list and not _name_hints(task)[0]:
                        flat: List[Any] = []
                        _flatten(args, flat)
                        n_in = len(flat)
                        flat.append(infer_layout(task, args))
                        base = flat
                        group = get_group(target, task)
                        w_target, w_task, w_args = target, task, args
                        last_shape = None
                        coded = base
                    else:
                        w_target = w_task = w_args = None
                        row = None
            # -- config: knob values after the workload's values
            if row is not None and entity.__class__ is list:
                row += coded
                shape = []
                for knob in entity:
                    if knob.__class__ is not list or len(knob) != 3:
                        break
                    name, kind, value = knob
                    if value.__class__ is list:
                        if kind.__class__ is not str or kind not in _LIST_KINDS \
                                or name.__class__ is not str or not flat_types(map(type, value)):
                            break
                        row += value
                        shape.append((name, kind, len(value)))
                    elif value.__class__ in _FLAT and name.__class__ is str \
                            and kind.__class__ is str:
                        row.append(value)
                        shape.append((name, kind, -1))
                    else:
                        break
                else:
                    if shape != last_shape or group.cat_version != cat_version:
                        key = (n_in, (), tuple(shape))
                        schema = group.schemas.get(key)
                        if schema is None:
                            schema = group._schema(key, _names(n_in, key[2]), row[3:])
                        fkey = (task, key, tuple(base[:n_in]))
                        f = flops_cache.get(fkey, flops_cache)
                        if f is flops_cache:
                            if len(flops_cache) > flops_cache_max:
                                flops_cache.clear()  # bounded memory, many workloads
                            f = flops_cache[fkey] = estimate_flops(task, args)
                        flops = _NAN if f is None else f
                        # The workload's values with their category codes, once per
                        # run instead of per row (codes are assigned on first sight,
                        # which is this row either way).
                        n_base = len(base)
                        coded = group.encode_values(base, schema.cols[:n_base])
                        row[3:3 + n_base] = coded
                        knob_cat = [(p + 3, c) for p, c in schema.cat if p >= n_base]
                        direct = schema.contiguous and not knob_cat
                        if flops != flops:
                            group.flops_missing = True
                        last_shape = shape
                        cat_version = group.cat_version
                    row[1] = flops
                    summary.kept += 1
                    if direct:
                        group.buffer.append(row)
                    else:
                        group.add_row(schema, row, knob_cat)
                    if len(group.buffer) >= buffer_rows:
                        group.flush()
                    continue
        # -- the record path: everything the fast path did not take
        try:
            record = decode(line)
        except RecordError as err:
            summary.reject(where, lineno, err.reason, str(err))
            continue
        summary.kept += 1
        add_record(record)

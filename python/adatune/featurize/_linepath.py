"""The featurize fast path: raw feature rows straight from plain log lines.

Building a :class:`~adatune.records.Record` per line (validation into a frozen
object, cached properties, then flattening it again into feature values) cost more
than parsing the JSON.  Here the format's ``decode_plain`` (see
:mod:`adatune.records.formats.autotvm`, the one place that knows what a valid line
is) hands over the fields of a plain line, and they are turned into the line's row in
one pass.  What is the same for every line of a workload (target, task, the flattened
arguments, the layout, the FLOPs, the group) is computed once per run of lines of
that workload; what is the same for every config of one knob layout (the schema and
its FLOPs key) once per layout.

On top of the format's notion of plain, rows are built here only where
:func:`~adatune.featurize.record_values` would give them without its reference path:
no packed NCHWc templates (their layout depends on the config) and list values only
for ``sp``/``re``/``an`` knobs.  Every other line, valid or not, goes through the
format's ``decode`` and the record path, so rejections keep their exact reason,
message and line number.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

from ..records import LogFormat, ReadSummary, Record, RecordError
from ..records.workload import infer_layout, layout_depends_on_config
from .features import flatten_values
from .flops import estimate_flops

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


def featurize_lines(fmt: LogFormat, lines: Iterable[Tuple[int, bytes]], path: Path,
                    summary: ReadSummary, get_group: Callable[[str, str], Any],
                    add_record: Callable[[Record], None],
                    flops_cache: Dict[tuple, Optional[float]], flops_cache_max: int,
                    buffer_rows: int) -> None:
    """Featurize the ``(line number, line)`` pairs of one log of format ``fmt``.

    Parameters
    ----------
    fmt : LogFormat
        A format with a ``decode_plain`` and context-free ``decode``.
    lines : iterable
        From ``fmt.iter_lines`` (blank and comment lines counted).
    path : Path
        The file, for rejection messages.
    summary : ReadSummary
        Counts kept and rejected lines.
    get_group : callable
        ``(target, task_name) -> group`` (a :class:`~adatune.featurize.collect.Group`,
        created on first use).
    add_record : callable
        The record path, for lines the fast path does not take.
    flops_cache, flops_cache_max : dict, int
        FLOPs by ``(task, schema key, flattened arguments)``, shared with the record
        path (same keys), cleared when it grows past ``flops_cache_max``.
    buffer_rows : int
        Flush a group when its buffer holds this many rows.
    """
    where = str(path)
    decode_plain = fmt.decode_plain
    decode = fmt.decode
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
    for lineno, line in lines:
        fields = decode_plain(line)
        if fields is not None:
            target, task, args, entity, error_no, costs = fields
            # -- workload: the same as the previous line's, or set up afresh
            if target != w_target or task != w_task or args != w_args:
                if layout_depends_on_config(task):
                    w_target = w_task = w_args = None
                    fields = None
                else:
                    flat: List[Any] = []
                    flatten_values(args, flat)
                    n_in = len(flat)
                    flat.append(infer_layout(task, args))
                    base = flat
                    group = get_group(target, task)
                    w_target, w_task, w_args = target, task, args
                    last_shape = None
                    coded = base
        if fields is not None:
            if error_no == 0:
                cost = sum(costs) / len(costs)
                row = [1.0 / cost if 0 < cost < _INF else 0.0, 0.0, 0]
            else:
                row = [0.0, 0.0, error_no]
            row += coded
            # -- config: knob values after the workload's values
            shape = []
            for name, kind, value in entity:
                if value.__class__ is list:
                    if kind not in _LIST_KINDS:
                        break
                    row += value
                    shape.append((name, kind, len(value)))
                else:
                    row.append(value)
                    shape.append((name, kind, -1))
            else:
                if shape != last_shape or group.cat_version != cat_version:
                    key = (n_in, (), tuple(shape))
                    schema = group.schemas.get(key)
                    if schema is None:
                        schema = group.schema_for(key, _names(n_in, key[2]), row[3:])
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

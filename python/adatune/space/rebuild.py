"""Rebuild a :class:`ConfigSpace` from logged entities (replaying AutoTVM logs).

A log stores each config's entity (``[["tile_x", "sp", [-1, 8]], ...]``) and index,
not the space. The space is recovered knob by knob:

* ``sp``: the loop extent is the least common multiple of the logged split products
  (every candidate of a no-tail split divides the extent) unless ``extents`` gives it;
  candidates follow AutoTVM's ``factors`` policy.
* ``ot``: the distinct logged values; ``re``/``an``: the distinct logged permutations /
  annotation lists, or the full policy when every combination was logged.

When the logged ``indices`` are given, they pin the layout down: the index is a
mixed-radix number (first knob least significant), so each knob's radix and the
position of every value must reproduce every logged index. Hypotheses (split extents
``k * lcm``, choice knobs with unseen candidates) are tried depth-first until all
indices agree; a ``ValueError`` says which knob could not be matched.

This module builds knobs only; :meth:`ConfigSpace.from_records` puts them in a space
(so the space imports its rebuilding, not the other way round).
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from .knobs import AnnotateKnob, ChoiceKnob, Knob, ReorderKnob, SplitKnob, _ANNOTATE_POLICIES, _freeze
from .._checks import check_int
from ..errors import ArgumentError

__all__ = ["knobs_from_records"]

_MAX_EXTENT_MULTIPLE = 16
_MAX_UNSEEN_CHOICES = 8
_PLACEHOLDER = "__adatune_unseen_{}__"


def _columns(entities: Sequence[Sequence[Sequence[Any]]]) -> Tuple[List[Tuple[str, str]], List[List[Any]]]:
    if not isinstance(entities, Sequence) or len(entities) == 0:
        raise ArgumentError("from_records: need at least one logged entity")
    head = None
    cols: List[List[Any]] = []
    for r, ent in enumerate(entities):
        if not isinstance(ent, (list, tuple)) or not all(isinstance(x, (list, tuple)) and len(x) == 3 for x in ent):
            raise ArgumentError(f"from_records: entity #{r} is not a list of [name, kind, value]: {ent!r}")
        sig = [(str(x[0]), str(x[1])) for x in ent]
        if head is None:
            head = sig
            cols = [[] for _ in sig]
            for name, kind in sig:
                if kind not in ("sp", "ot", "re", "an"):
                    raise ArgumentError(f"from_records: knob {name!r} has unknown kind {kind!r}")
        elif sig != head:
            raise ArgumentError(f"from_records: entity #{r} has knobs {sig}, entity #0 has {head}")
        for c, x in zip(cols, ent):
            c.append(x[2])
    return head, cols


def _distinct(values: Sequence[Any]) -> List[Any]:
    seen: Dict[Any, Any] = {}
    for v in values:
        seen.setdefault(_freeze(v), v)
    return list(seen.values())


def _split_hypotheses(name: str, values: Sequence[Any], extents: Mapping[str, int]) -> Iterator[Knob]:
    n_out = None
    lcm = 1
    for v in values:
        if not isinstance(v, (list, tuple)) or not v or not all(isinstance(f, numbers.Integral) for f in v):
            raise ArgumentError(f"from_records: split {name!r} has a malformed value {v!r}")
        if n_out is None:
            n_out = len(v)
        elif len(v) != n_out:
            raise ArgumentError(f"from_records: split {name!r} mixes {n_out} and {len(v)} factors")
        if v[0] != -1 or any(f < 1 for f in v[1:]):
            raise ArgumentError(f"from_records: split {name!r} value {list(v)} is not of the form [-1, f1, ...]")
        lcm = math.lcm(lcm, math.prod(v[1:]))
    if name in extents:
        yield SplitKnob(name, int(extents[name]), n_out, "factors")
        return
    for k in range(1, _MAX_EXTENT_MULTIPLE + 1):
        yield SplitKnob(name, lcm * k, n_out, "factors")


def _seq_hypotheses(kind: str, name: str, values: Sequence[Any]) -> Iterator[Knob]:
    distinct = _distinct(values)
    n_axes = len(distinct[0]) if isinstance(distinct[0], (list, tuple)) else None
    if n_axes is None or any(not isinstance(v, (list, tuple)) or len(v) != n_axes for v in distinct):
        raise ArgumentError(f"from_records: {kind} knob {name!r} has values of different lengths or types")
    if kind == "re":
        full = ReorderKnob(name, n_axes, "all") if n_axes <= ReorderKnob._MAX_ALL_AXES else None
        if full is not None and len(distinct) == len(full):
            yield full
        yield ReorderKnob(name, n_axes, "candidate", sorted(tuple(v) for v in distinct))
        if full is not None and len(distinct) < len(full):
            yield full
    else:
        used = {str(a) for v in distinct for a in v}
        for policy, opts in _ANNOTATE_POLICIES.items():
            if used <= set(opts):
                yield AnnotateKnob(name, n_axes, policy)
        yield AnnotateKnob(name, n_axes, "candidate", sorted(tuple(str(a) for a in v) for v in distinct))


def _sort_key(v: Any) -> Tuple:
    if isinstance(v, bool):
        return (0, int(v), "")
    if isinstance(v, numbers.Real):
        return (1, float(v), "")
    return (2, 0.0, repr(v))


def _choice_default(name: str, values: Sequence[Any]) -> ChoiceKnob:
    return ChoiceKnob(name, sorted(_distinct(values), key=_sort_key))


def _choice_from_digits(name: str, values: Sequence[Any], rest: Sequence[int]) -> Iterator[Tuple[Knob, List[int]]]:
    """Choice knobs whose value positions reproduce ``rest % radix`` for every record."""
    distinct = _distinct(values)
    for radix in range(len(distinct), len(distinct) + _MAX_UNSEEN_CHOICES + 1):
        pos: Dict[Any, int] = {}
        ok = True
        for v, idx in zip(values, rest):
            d = idx % radix
            key = _freeze(v)
            if pos.setdefault(key, d) != d:
                ok = False
                break
        if not ok or len(set(pos.values())) != len(pos):
            continue
        slots: List[Any] = [None] * radix
        taken = [False] * radix
        for v in distinct:
            p = pos[_freeze(v)]
            slots[p], taken[p] = v, True
        for p in range(radix):
            if not taken[p]:
                slots[p] = _PLACEHOLDER.format(p)
        yield ChoiceKnob(name, slots), [i // radix for i in rest]


def _solve(head, cols, rest: List[int], k: int, extents) -> Optional[List[Knob]]:
    if k == len(head):
        return [] if all(r == 0 for r in rest) else None
    name, kind = head[k]
    values = cols[k]
    if kind == "ot":
        options = _choice_from_digits(name, values, rest)
    else:
        def _checked() -> Iterator[Tuple[Knob, List[int]]]:
            hyps = _split_hypotheses(name, values, extents) if kind == "sp" else _seq_hypotheses(kind, name, values)
            for knob in hyps:
                try:
                    digits = [knob.index_of(v) for v in values]
                except ValueError:
                    continue
                r = len(knob)
                if all(i % r == d for i, d in zip(rest, digits)):
                    yield knob, [i // r for i in rest]
        options = _checked()
    for knob, nxt in options:
        tail = _solve(head, cols, nxt, k + 1, extents)
        if tail is not None:
            return [knob] + tail
    return None


def knobs_from_records(entities: Sequence[Sequence[Sequence[Any]]],
                       indices: Optional[Sequence[int]] = None,
                       extents: Optional[Mapping[str, int]] = None) -> List[Knob]:
    """The knobs, in order, of the config space that produced these logged entities.

    Parameters
    ----------
    entities : list of entity lists
        Each ``[[name, kind, value], ...]`` as in a log's ``config.entity`` (v0.2) or
        ``config.e`` (v0.1); all must name the same knobs in the same order.
    indices : list of int, optional
        The logged config indices, one per entity. When given, a space of the returned
        knobs is guaranteed to map every entity to its logged index.
    extents : dict, optional
        Known loop extents of split knobs by name (otherwise inferred).

    Returns
    -------
    list of Knob

    Raises
    ------
    ValueError
        On malformed or inconsistent entities, or when no layout reproduces the indices.
    """
    head, cols = _columns(entities)
    extents = dict(extents or {})
    if indices is None:
        knobs: List[Knob] = []
        for (name, kind), values in zip(head, cols):
            if kind == "sp":
                knobs.append(next(_split_hypotheses(name, values, extents)))
            elif kind == "ot":
                knobs.append(_choice_default(name, values))
            else:
                knobs.append(next(_seq_hypotheses(kind, name, values)))
        return knobs
    if len(indices) != len(entities):
        raise ArgumentError(f"from_records: {len(indices)} indices for {len(entities)} entities")
    rest = []
    for r, i in enumerate(indices):
        rest.append(check_int(i, f"index #{r}", "from_records", low=0))
    found = _solve(head, cols, rest, 0, extents)
    if found is None:
        raise ArgumentError("from_records: no space layout reproduces the logged indices "
                            f"(knobs {[n for n, _ in head]}); pass the split extents explicitly")
    return found

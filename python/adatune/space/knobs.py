"""Knobs: the individual dimensions of a config space and the values they take.

Each knob kind mirrors one of AutoTVM's transform spaces and serialises its values the
same way, so logs written here read back in AutoTVM-era tools and vice versa:

======  ==================  ==========================
kind    knob                serialised value
======  ==================  ==========================
``sp``  :class:`SplitKnob`     ``[-1, 4, 8]`` (first factor = "the rest")
``ot``  :class:`ChoiceKnob`    the candidate itself (``16``, ``true``, ``"vec"``)
``re``  :class:`ReorderKnob`   a permutation ``[0, 2, 1]``
``an``  :class:`AnnotateKnob`  one annotation per axis ``["none", "vec"]``
======  ==================  ==========================

The candidate order is AutoTVM's, so the mixed-radix config index of a config is the
same number AutoTVM would have logged for it.
"""
from __future__ import annotations

import itertools
import math
import numbers
from typing import Any, Dict, Hashable, List, Optional, Sequence, Tuple

import numpy as np
from .._checks import check_choice, check_positive_int
from ..errors import ArgumentError

__all__ = [
    "Knob",
    "SplitKnob",
    "ChoiceKnob",
    "ReorderKnob",
    "AnnotateKnob",
    "SplitEntity",
    "ChoiceEntity",
    "ReorderEntity",
    "AnnotateEntity",
    "factors_of",
    "powers_of_two",
]


def factors_of(n: int) -> List[int]:
    """All divisors of ``n`` in increasing order."""
    n = check_positive_int(n, "n", "factors_of")
    small = [i for i in range(1, math.isqrt(n) + 1) if n % i == 0]
    return sorted(set(small) | {n // i for i in small})


def powers_of_two(n: int) -> List[int]:
    """Powers of two ``1, 2, 4, ...`` not larger than ``n``."""
    n = check_positive_int(n, "n", "powers_of_two")
    return [1 << k for k in range(n.bit_length())]


# --------------------------------------------------------------------------- entities


class SplitEntity:
    """A chosen split of one loop: ``size`` as AutoTVM logs it, ``factors`` resolved.

    Parameters
    ----------
    size : sequence of int
        Split factors, outermost first; the first may be ``-1`` ("whatever remains").
    extent : int, optional
        Extent of the loop being split; needed to resolve ``-1`` in :attr:`factors`.
    """

    kind = "sp"
    __slots__ = ("size", "extent")

    def __init__(self, size: Sequence[int], extent: Optional[int] = None):
        self.size = [int(s) for s in size]
        self.extent = None if extent is None else int(extent)

    @property
    def factors(self) -> List[int]:
        """The factors with ``-1`` replaced by the outer extent (rounded up on a tail)."""
        if -1 not in self.size:
            return list(self.size)
        if self.extent is None:
            raise ArgumentError("SplitEntity.factors: the loop extent is unknown, cannot resolve -1")
        known = math.prod(s for s in self.size if s != -1)
        return [-(-self.extent // known) if s == -1 else s for s in self.size]

    @property
    def val(self) -> List[int]:
        return self.size

    def apply(self, sch: Any, loop: Any) -> Any:
        """Split ``loop`` on a ``tvm.s_tir.Schedule``; returns the new loops, outermost first."""
        return sch.split(loop, factors=[None if s == -1 else s for s in self.size])

    def to_json(self) -> List[int]:
        return list(self.size)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SplitEntity) and self.size == other.size

    def __hash__(self) -> int:
        return hash(("sp", tuple(self.size)))

    def __repr__(self) -> str:
        return f"sp{self.size}"


class ChoiceEntity:
    """A chosen candidate of a plain knob (AutoTVM's ``OtherOptionEntity``)."""

    kind = "ot"
    __slots__ = ("val",)

    def __init__(self, val: Any):
        self.val = val

    def to_json(self) -> Any:
        return self.val

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChoiceEntity) and type(self.val) is type(other.val) and self.val == other.val

    def __hash__(self) -> int:
        return hash(("ot", _freeze(self.val)))

    def __repr__(self) -> str:
        return f"ot({self.val!r})"


class ReorderEntity:
    """A chosen loop order: ``perm[i]`` is the position (in the given loops) of new loop i."""

    kind = "re"
    __slots__ = ("perm",)

    def __init__(self, perm: Sequence[int]):
        self.perm = [int(p) for p in perm]

    @property
    def val(self) -> List[int]:
        return self.perm

    def apply(self, sch: Any, loops: Sequence[Any]) -> None:
        """Reorder ``loops`` on a ``tvm.s_tir.Schedule`` following :attr:`perm`."""
        if len(loops) != len(self.perm):
            raise ArgumentError(f"ReorderEntity.apply: expected {len(self.perm)} loops, got {len(loops)}")
        sch.reorder(*[loops[p] for p in self.perm])

    def to_json(self) -> List[int]:
        return list(self.perm)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReorderEntity) and self.perm == other.perm

    def __hash__(self) -> int:
        return hash(("re", tuple(self.perm)))

    def __repr__(self) -> str:
        return f"re{self.perm}"


class AnnotateEntity:
    """Chosen annotations, one per axis (``"none"``, ``"unroll"``, ``"vec"``, ``"parallel"``...)."""

    kind = "an"
    __slots__ = ("anns",)

    def __init__(self, anns: Sequence[str]):
        self.anns = [str(a) for a in anns]

    @property
    def val(self) -> List[str]:
        return self.anns

    def to_json(self) -> List[str]:
        return list(self.anns)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnnotateEntity) and self.anns == other.anns

    def __hash__(self) -> int:
        return hash(("an", tuple(self.anns)))

    def __repr__(self) -> str:
        return f"an{self.anns}"


def _freeze(value: Any) -> Hashable:
    """A hashable stand-in for a JSON value; ``True`` and ``1`` stay distinct."""
    if isinstance(value, (list, tuple)):
        return ("list", tuple(_freeze(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, _freeze(v)) for k, v in value.items())))
    return (type(value).__name__, value)


# --------------------------------------------------------------------------- knobs


class Knob:
    """One dimension of a config space: a name, an ordered list of candidates.

    Subclasses set ``kind`` (the two-letter AutoTVM tag) and implement
    ``entity(i)``, ``index_of(json_value)`` and ``_feature_rows()``.
    """

    kind = ""

    def __init__(self, name: str):
        if not isinstance(name, str) or not name:
            raise ArgumentError(f"knob name must be a non-empty string, got {name!r}")
        self.name = name
        self._table: Optional[np.ndarray] = None

    def __len__(self) -> int:
        raise NotImplementedError

    def entity(self, i: int) -> Any:
        raise NotImplementedError

    def index_of(self, value: Any) -> int:
        """Position of a serialised value among the candidates; ``ValueError`` if absent."""
        raise NotImplementedError

    @property
    def n_features(self) -> int:
        return self.feature_table().shape[1]

    def feature_names(self) -> List[str]:
        n = self.n_features
        return [self.name] if n == 1 else [f"{self.name}.{k}" for k in range(n)]

    def feature_table(self) -> np.ndarray:
        """Feature rows of every candidate, shape ``(len(knob), n_features)``; cached."""
        if self._table is None:
            self._table = np.asarray(self._feature_rows(), dtype=np.float64).reshape(len(self), -1)
        return self._table

    def _feature_rows(self) -> Any:
        raise NotImplementedError

    def same_as(self, other: "Knob") -> bool:
        """True when ``other`` defines exactly the same candidates (idempotent redefinition)."""
        return type(self) is type(other) and self._signature() == other._signature()

    def _signature(self) -> Tuple:
        raise NotImplementedError

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state["_table"] = None  # recomputed on demand; keeps pickles small
        return state

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {len(self)} candidates)"


class SplitKnob(Knob):
    """Split a loop of ``extent`` into ``num_outputs`` nested loops.

    Candidates are enumerated in AutoTVM's order (depth-first over the factor list,
    the innermost factor varying slowest; the outermost is ``-1``).

    Parameters
    ----------
    name : str
    extent : int
        Loop extent (>= 1).
    num_outputs : int
        Number of loops after the split (>= 1).
    policy : {"factors", "power2"}
        ``"factors"``: divisors of ``extent``, no tail. ``"power2"``: powers of two,
        tails allowed (the ``-1`` factor is then ``ceil(extent / product)``).
    max_factor : int, optional
        Drop candidate factors larger than this (the ``-1`` factor is not limited).
    """

    kind = "sp"

    def __init__(self, name: str, extent: int, num_outputs: int = 2, policy: str = "factors",
                 max_factor: Optional[int] = None):
        super().__init__(name)
        owner = f"define_split({name!r})"
        check_positive_int(extent, "extent", owner)
        check_positive_int(num_outputs, "num_outputs", owner)
        check_choice(policy, "policy", ("factors", "power2"), owner)
        check_positive_int(max_factor, "max_factor", owner, allow_none=True)
        self.extent = int(extent)
        self.num_outputs = int(num_outputs)
        self.policy = policy
        self.max_factor = None if max_factor is None else int(max_factor)
        base = factors_of(self.extent) if policy == "factors" else powers_of_two(self.extent)
        self.factor_list = [f for f in base if self.max_factor is None or f <= self.max_factor]
        self.candidates: List[Tuple[int, ...]] = self._enumerate()
        self._lookup = {c: i for i, c in enumerate(self.candidates)}

    def _enumerate(self) -> List[Tuple[int, ...]]:
        # AutoTVM's DFS: stack[0] is the slowest-varying digit and becomes the *last*
        # factor after reversal. Pruning on prod > extent does not change the order.
        out: List[Tuple[int, ...]] = []
        depth = self.num_outputs - 1
        stack = [0] * depth
        no_tail = self.policy == "factors"

        def visit(level: int, prod: int) -> None:
            if level == depth:
                if self.extent % prod == 0 or (not no_tail and prod < self.extent):
                    out.append((-1,) + tuple(reversed(stack)))
                return
            for f in self.factor_list:
                if prod * f > self.extent:
                    break  # factor_list is increasing
                stack[level] = f
                visit(level + 1, prod * f)

        visit(0, 1)
        return out

    def __len__(self) -> int:
        return len(self.candidates)

    def entity(self, i: int) -> SplitEntity:
        return SplitEntity(self.candidates[i], self.extent)

    def index_of(self, value: Any) -> int:
        key = tuple(int(v) for v in value) if isinstance(value, (list, tuple)) else None
        if key is None or key not in self._lookup:
            raise ArgumentError(f"split knob {self.name!r} (extent {self.extent}, policy {self.policy!r}) "
                                f"has no candidate {value!r}")
        return self._lookup[key]

    def _feature_rows(self) -> Any:
        # log2 of every factor, the -1 resolved to the real (ceil) outer extent.
        rows = []
        for c in self.candidates:
            known = math.prod(c[1:])
            rows.append([math.log2(-(-self.extent // known))] + [math.log2(f) for f in c[1:]])
        return rows

    def _signature(self) -> Tuple:
        return (self.extent, self.num_outputs, self.policy, self.max_factor)


class ChoiceKnob(Knob):
    """A knob choosing one of the listed ``candidates`` (AutoTVM's ``define_knob``).

    Candidates must be JSON-serialisable and distinct. Numeric (and boolean) candidates
    are featurised by value, others by their position in the list.
    """

    kind = "ot"

    def __init__(self, name: str, candidates: Sequence[Any]):
        super().__init__(name)
        if isinstance(candidates, (str, bytes)) or not isinstance(candidates, Sequence) or len(candidates) == 0:
            raise ArgumentError(f"define_knob({name!r}): candidates must be a non-empty list, got {candidates!r}")
        self.candidates = list(candidates)
        frozen = [_freeze(c) for c in self.candidates]
        if len(set(frozen)) != len(frozen):
            raise ArgumentError(f"define_knob({name!r}): candidates must be distinct, got {self.candidates!r}")
        self._lookup = {f: i for i, f in enumerate(frozen)}

    def __len__(self) -> int:
        return len(self.candidates)

    def entity(self, i: int) -> ChoiceEntity:
        return ChoiceEntity(self.candidates[i])

    def index_of(self, value: Any) -> int:
        key = _freeze(value)
        if key not in self._lookup:
            # JSON turns tuples into lists; a logged 1 may stand for True in old logs.
            alt = _freeze(list(value)) if isinstance(value, tuple) else None
            if alt in self._lookup:
                return self._lookup[alt]
            raise ArgumentError(f"knob {self.name!r} has no candidate {value!r}; candidates: {self.candidates!r}")
        return self._lookup[key]

    def _feature_rows(self) -> Any:
        if all(isinstance(c, numbers.Real) for c in self.candidates):
            return [[float(c)] for c in self.candidates]
        return [[float(i)] for i in range(len(self.candidates))]

    def _signature(self) -> Tuple:
        return tuple(_freeze(c) for c in self.candidates)


class ReorderKnob(Knob):
    """A choice of loop order among permutations of ``n_axes`` loops.

    Parameters
    ----------
    name : str
    n_axes : int
        Number of loops being reordered.
    policy : {"all", "identity", "candidate"}
        ``"all"``: every permutation (AutoTVM's order, ``itertools.permutations``);
        ``"identity"``: only the given order; ``"candidate"``: the listed ``candidates``.
    candidates : list of permutations, optional
        Required with ``policy="candidate"``.
    """

    kind = "re"
    _MAX_ALL_AXES = 8  # 8! = 40320 candidates; more is never a sensible knob

    def __init__(self, name: str, n_axes: int, policy: str = "all",
                 candidates: Optional[Sequence[Sequence[int]]] = None):
        super().__init__(name)
        check_positive_int(n_axes, "n_axes", f"define_reorder({name!r})")
        self.n_axes = int(n_axes)
        self.policy = policy
        if policy == "all":
            if self.n_axes > self._MAX_ALL_AXES:
                raise ArgumentError(f"define_reorder({name!r}): policy 'all' over {n_axes} axes is too large; "
                                    "list the candidates instead")
            perms = list(itertools.permutations(range(self.n_axes)))
        elif policy == "identity":
            perms = [tuple(range(self.n_axes))]
        elif policy == "candidate":
            if not candidates:
                raise ArgumentError(f"define_reorder({name!r}): policy 'candidate' needs a non-empty candidates list")
            perms = [tuple(int(p) for p in c) for c in candidates]
            for p in perms:
                if sorted(p) != list(range(self.n_axes)):
                    raise ArgumentError(f"define_reorder({name!r}): {list(p)} is not a permutation of "
                                        f"range({self.n_axes})")
            if len(set(perms)) != len(perms):
                raise ArgumentError(f"define_reorder({name!r}): candidates must be distinct")
        else:
            raise ArgumentError(f"define_reorder({name!r}): policy must be 'all', 'identity' or 'candidate', "
                                f"got {policy!r}")
        self.candidates: List[Tuple[int, ...]] = perms
        self._lookup = {p: i for i, p in enumerate(perms)}

    def __len__(self) -> int:
        return len(self.candidates)

    def entity(self, i: int) -> ReorderEntity:
        return ReorderEntity(self.candidates[i])

    def index_of(self, value: Any) -> int:
        key = tuple(int(v) for v in value) if isinstance(value, (list, tuple)) else None
        if key is None or key not in self._lookup:
            raise ArgumentError(f"reorder knob {self.name!r} has no candidate {value!r}")
        return self._lookup[key]

    def _feature_rows(self) -> Any:
        return [list(p) for p in self.candidates]

    def _signature(self) -> Tuple:
        return (self.n_axes, tuple(self.candidates))


_ANNOTATE_POLICIES = {
    "try_unroll": ("none", "unroll"),
    "try_vec": ("none", "vec"),
    "try_unroll_vec": ("none", "unroll", "vec"),
    "try_parallel": ("none", "parallel"),
}


class AnnotateKnob(Knob):
    """Annotations for ``n_axes`` loops: every combination of per-axis options.

    Parameters
    ----------
    name : str
    n_axes : int
    policy : {"try_unroll", "try_vec", "try_unroll_vec", "try_parallel", "candidate"}
        A per-axis option set applied to every axis, or ``"candidate"`` with an explicit
        list of full annotation lists.
    candidates : list of list of str, optional
        With ``policy="candidate"``: each entry holds one annotation per axis.

    Combinations are enumerated with the last axis varying fastest (AutoTVM's order).
    """

    kind = "an"

    def __init__(self, name: str, n_axes: int, policy: str = "try_unroll",
                 candidates: Optional[Sequence[Sequence[str]]] = None):
        super().__init__(name)
        check_positive_int(n_axes, "n_axes", f"define_annotate({name!r})")
        self.n_axes = int(n_axes)
        self.policy = policy
        if policy == "candidate":
            if not candidates:
                raise ArgumentError(f"define_annotate({name!r}): policy 'candidate' needs a non-empty candidates list")
            combos = [tuple(str(a) for a in c) for c in candidates]
            for c in combos:
                if len(c) != self.n_axes:
                    raise ArgumentError(f"define_annotate({name!r}): {list(c)} has {len(c)} entries, "
                                        f"expected {self.n_axes}")
            if len(set(combos)) != len(combos):
                raise ArgumentError(f"define_annotate({name!r}): candidates must be distinct")
        elif policy in _ANNOTATE_POLICIES:
            combos = list(itertools.product(_ANNOTATE_POLICIES[policy], repeat=self.n_axes))
        else:
            raise ArgumentError(f"define_annotate({name!r}): unknown policy {policy!r}; expected one of "
                                f"{sorted(_ANNOTATE_POLICIES) + ['candidate']}")
        self.candidates: List[Tuple[str, ...]] = combos
        self._lookup = {c: i for i, c in enumerate(combos)}
        self._vocab = sorted({a for c in combos for a in c})

    def __len__(self) -> int:
        return len(self.candidates)

    def entity(self, i: int) -> AnnotateEntity:
        return AnnotateEntity(self.candidates[i])

    def index_of(self, value: Any) -> int:
        key = tuple(str(v) for v in value) if isinstance(value, (list, tuple)) else None
        if key is None or key not in self._lookup:
            raise ArgumentError(f"annotate knob {self.name!r} has no candidate {value!r}")
        return self._lookup[key]

    def _feature_rows(self) -> Any:
        # Position of each axis' annotation in the sorted vocabulary: stable across runs.
        pos = {a: i for i, a in enumerate(self._vocab)}
        return [[pos[a] for a in c] for c in self.candidates]

    def _signature(self) -> Tuple:
        return (self.n_axes, tuple(self.candidates))


KNOB_KINDS = {"sp": SplitKnob, "ot": ChoiceKnob, "re": ReorderKnob, "an": AnnotateKnob}

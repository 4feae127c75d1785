"""ConfigSpace (the knobs a template declares) and ConfigEntity (one point in it).

A config index is a mixed-radix number whose first knob is the least significant
digit, exactly as in AutoTVM, so indices in AutoTVM logs mean the same config here.
Spaces are never enumerated: sizes are Python ints, indices are decoded digit by digit.
"""
from __future__ import annotations

import logging
import math
import pickle
from collections import OrderedDict
from typing import Any, Callable, Container, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np

from .knobs import AnnotateKnob, ChoiceKnob, Knob, ReorderKnob, SplitKnob
from .rebuild import knobs_from_records
from .._checks import check_callable, check_int
from ..errors import ArgumentError, ArgumentTypeError

__all__ = ["ConfigSpace", "ConfigEntity", "ENUMERATE_LIMIT", "space_from_records"]

logger = logging.getLogger(__name__)

#: Spaces up to this many configs may be listed outright when sampling most of them.
ENUMERATE_LIMIT = 1 << 20
_INT64_SAFE = (1 << 62)

RngLike = Union[None, int, np.random.Generator]


def _rng(rng: RngLike) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


class ConfigSpace:
    """The tunable knobs of a template, in declaration order.

    Templates call ``define_*`` on it to declare knobs; reading ``cfg[name]`` while
    declaring returns the knob's first candidate so the template body still runs.

    Examples
    --------
    >>> cfg = ConfigSpace()
    >>> cfg.define_split("tile_x", 64, num_outputs=2)
    sp[-1, 1]
    >>> cfg.define_knob("unroll", [0, 16])
    ot(0)
    >>> len(cfg)
    14
    >>> cfg.get(13).to_json_dict()["entity"]
    [['tile_x', 'sp', [-1, 64]], ['unroll', 'ot', 16]]
    """

    def __init__(self) -> None:
        self._knobs: "OrderedDict[str, Knob]" = OrderedDict()
        self._constraints: List[Callable[["ConfigEntity"], bool]] = []
        self._allowed: Optional[frozenset] = None
        self._allowed_sorted: Optional[np.ndarray] = None
        self._radices: Optional[List[int]] = None
        self._strides: Optional[List[int]] = None
        self.flop = 0.0

    # ------------------------------------------------------------------ declaring
    def _add(self, knob: Knob) -> Any:
        old = self._knobs.get(knob.name)
        if old is not None:
            if not old.same_as(knob):
                raise ArgumentError(f"knob {knob.name!r} is already defined with different candidates")
            return old.entity(0)
        self._knobs[knob.name] = knob
        self._radices = self._strides = None
        return knob.entity(0)

    def define_split(self, name: str, extent: int, num_outputs: int = 2, policy: str = "factors",
                     max_factor: Optional[int] = None):
        """Declare a split of a loop of ``extent``; see :class:`~adatune.space.SplitKnob`."""
        return self._add(SplitKnob(name, extent, num_outputs, policy, max_factor))

    def define_knob(self, name: str, candidates: Sequence[Any]):
        """Declare a knob choosing one of ``candidates`` (logged as ``"ot"``)."""
        return self._add(ChoiceKnob(name, candidates))

    def define_reorder(self, name: str, n_axes: int, policy: str = "all",
                       candidates: Optional[Sequence[Sequence[int]]] = None):
        """Declare a loop-order choice; see :class:`~adatune.space.ReorderKnob`."""
        return self._add(ReorderKnob(name, n_axes, policy, candidates))

    def define_annotate(self, name: str, n_axes: int, policy: str = "try_unroll",
                        candidates: Optional[Sequence[Sequence[str]]] = None):
        """Declare per-axis annotations; see :class:`~adatune.space.AnnotateKnob`."""
        return self._add(AnnotateKnob(name, n_axes, policy, candidates))

    def add_constraint(self, predicate: Callable[["ConfigEntity"], bool]) -> None:
        """Mark configs invalid when ``predicate(entity)`` is false; samplers skip them."""
        check_callable(predicate, "predicate", "add_constraint")
        if predicate not in self._constraints:
            self._constraints.append(predicate)

    def restrict(self, indices: Iterable[int]) -> None:
        """Mark every config outside ``indices`` invalid (a recorded or otherwise known
        set of configs). Same effect as a constraint "index in indices", but checked
        without building the config, so that sparse spaces sample fast."""
        allowed = set()
        for i in indices:
            self._check_index(i)
            allowed.add(int(i))
        self._allowed = frozenset(allowed) if self._allowed is None else self._allowed & allowed
        ordered = sorted(self._allowed)
        wide = bool(ordered) and ordered[-1] >= _INT64_SAFE  # past int64: Python ints
        self._allowed_sorted = np.array(ordered, dtype=object if wide else np.int64)

    @property
    def allowed(self) -> Optional[frozenset]:
        """The indices :meth:`restrict` allows (None: not restricted)."""
        return self._allowed

    def add_flop(self, flop: float) -> None:
        """Accumulate the FLOP count of the kernel (AutoTVM templates call this)."""
        self.flop += float(flop)

    # ------------------------------------------------------------------ reading
    def __getitem__(self, name: str) -> Any:
        try:
            return self._knobs[name].entity(0)
        except KeyError:
            raise KeyError(f"no knob named {name!r}; knobs: {list(self._knobs)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._knobs

    @property
    def knobs(self) -> Mapping[str, Knob]:
        """Knobs by name, in declaration order (the digit order of the index)."""
        return self._knobs

    @property
    def constraints(self) -> List[Callable[["ConfigEntity"], bool]]:
        return list(self._constraints)

    def _layout(self):
        if self._radices is None:
            self._radices = [len(k) for k in self._knobs.values()]
            strides, s = [], 1
            for r in self._radices:
                strides.append(s)
                s *= r
            self._strides = strides
        return self._radices, self._strides

    @property
    def n_configs(self) -> int:
        """Exact number of configs (a Python int; may exceed 2**63)."""
        return math.prod(self._layout()[0])

    def __len__(self) -> int:
        # Python caps len() at sys.maxsize (OverflowError beyond); n_configs has no cap.
        return self.n_configs

    @property
    def radices(self) -> List[int]:
        return list(self._layout()[0])

    def _check_index(self, index: Any) -> int:
        return check_int(index, "config index", low=0, high=self.n_configs - 1)

    def digits(self, index: int) -> List[int]:
        """Per-knob candidate positions of ``index`` (first knob least significant)."""
        index = self._check_index(index)
        out = []
        for r in self._layout()[0]:
            index, d = divmod(index, r)
            out.append(d)
        return out

    def from_digits(self, digits: Sequence[int]) -> int:
        radices, strides = self._layout()
        if len(digits) != len(radices):
            raise ArgumentError(f"expected {len(radices)} digits, got {len(digits)}")
        idx = 0
        for d, r, s in zip(digits, radices, strides):
            if not 0 <= int(d) < r:
                raise ArgumentError(f"digit {d} out of range [0, {r})")
            idx += int(d) * s
        return idx

    def get(self, index: int) -> "ConfigEntity":
        """The config with this index."""
        digits = self.digits(index)
        ents = OrderedDict((name, knob.entity(d)) for (name, knob), d in zip(self._knobs.items(), digits))
        return ConfigEntity(int(index), ents, space=self)

    def index_of(self, entity: Union["ConfigEntity", Sequence[Sequence[Any]]]) -> int:
        """Index of a config given as a :class:`ConfigEntity` or a logged entity list.

        ``entity`` must name every knob exactly once (in any order).
        """
        if isinstance(entity, ConfigEntity):
            pairs = [(name, e.to_json()) for name, e in entity.items()]
        else:
            if not isinstance(entity, (list, tuple)):
                raise ArgumentError(f"entity must be a list of [name, kind, value], got {entity!r}")
            pairs = []
            for item in entity:
                if not isinstance(item, (list, tuple)) or len(item) != 3:
                    raise ArgumentError(f"entity item must be [name, kind, value], got {item!r}")
                name, kind, value = item
                knob = self._knobs.get(name)
                if knob is not None and knob.kind != kind:
                    raise ArgumentError(f"knob {name!r} is {knob.kind!r} in the space but {kind!r} in the entity")
                pairs.append((name, value))
        seen = dict(pairs)
        if len(seen) != len(pairs):
            raise ArgumentError(f"entity names a knob twice: {[n for n, _ in pairs]}")
        missing = [n for n in self._knobs if n not in seen]
        extra = [n for n in seen if n not in self._knobs]
        if missing or extra:
            raise ArgumentError(f"entity does not match the space: missing {missing}, unknown {extra}")
        return self.from_digits([k.index_of(seen[n]) for n, k in self._knobs.items()])

    # ------------------------------------------------------------------ validity
    def is_valid(self, index: int) -> bool:
        """True when every constraint accepts the config (and :meth:`restrict` allows it)."""
        if self._allowed is not None and index not in self._allowed:
            self._check_index(index)
            return False
        if not self._constraints:
            self._check_index(index)
            return True
        ent = self.get(index)
        return all(bool(p(ent)) for p in self._constraints)

    # ------------------------------------------------------------------ sampling
    def sample(self, n: int, rng: RngLike = None, exclude: Iterable[int] = (),
               max_attempts: Optional[int] = None) -> List[int]:
        """Up to ``n`` distinct valid indices drawn uniformly, none of them in ``exclude``.

        Small spaces are shuffled outright; large ones are sampled by drawing each digit
        uniformly (uniform over the product, exact for any size) and rejecting repeats,
        excluded and invalid configs. Fewer than ``n`` come back only when the space
        runs out or ``max_attempts`` draws (default ``100 * n + 100_000``) were rejected.
        The default is sized for sparse constrained spaces: with 720 valid configs of
        349,920 (a restricted replay space) one draw in 486 is valid, and the earlier
        ``100 * n + 1000`` returned nothing for most batches, which ended tuners early.
        """
        n = check_int(n, "n", "sample", low=0)
        gen = _rng(rng)
        excluded = exclude if isinstance(exclude, (set, frozenset)) else set(int(i) for i in exclude)
        total = self.n_configs
        if n == 0 or total == 0:
            return []
        if self._allowed_sorted is not None:
            return self._sample_allowed(n, gen, excluded)
        if total <= ENUMERATE_LIMIT and (total <= 4 * n + len(excluded) or total <= 4096):
            out = []
            for i in gen.permutation(total).tolist():
                if i in excluded or not self.is_valid(i):
                    continue
                out.append(i)
                if len(out) == n:
                    break
            return out
        limit = 100 * n + 100_000 if max_attempts is None else int(max_attempts)
        chosen: Dict[int, None] = {}
        rejected = 0
        while len(chosen) < n and rejected < limit:
            for i in self._draw(gen, max(2 * (n - len(chosen)), 16)):
                if i in chosen or i in excluded or not self.is_valid(i):
                    rejected += 1
                    if rejected >= limit:
                        break
                    continue
                chosen[i] = None
                if len(chosen) == n:
                    break
        if len(chosen) < n:
            logger.debug("sample: %d of %d requested after %d rejections", len(chosen), n, rejected)
        return list(chosen)

    def _sample_allowed(self, n: int, gen: np.random.Generator, excluded: Container[int]) -> List[int]:
        """:meth:`sample` of a restricted space: from its allowed set, no rejection of
        configs outside it (one valid config in hundreds, in a replayed space)."""
        pool = self._allowed_sorted
        chosen: Dict[int, None] = {}

        def take(candidates: List[int]) -> bool:
            for i in candidates:
                if i not in chosen and i not in excluded and self.is_valid(i):
                    chosen[i] = None
                    if len(chosen) == n:
                        return True
            return False

        if len(pool) > 4 * n + 65536:  # a few of many: draw positions, rejecting repeats
            for _ in range(8):
                if take(pool[gen.integers(0, len(pool), size=2 * n + 16)].tolist()):
                    return list(chosen)
        take(gen.permutation(pool).tolist())  # small, or mostly excluded: go through all
        return list(chosen)

    def _draw(self, gen: np.random.Generator, m: int) -> List[int]:
        """``m`` uniform indices (with replacement)."""
        total = self.n_configs
        if total < _INT64_SAFE:
            return gen.integers(0, total, size=m).tolist()
        radices, strides = self._layout()
        cols = [gen.integers(0, r, size=m).tolist() for r in radices]
        return [sum(c[j] * s for c, s in zip(cols, strides)) for j in range(m)]

    # ------------------------------------------------------------------ neighbourhoods
    def neighbors(self, index: int, rng: RngLike = None, n: Optional[int] = None) -> List[int]:
        """Configs differing from ``index`` in exactly one knob.

        With ``n``, returns ``n`` of them chosen at random (fewer if there are fewer);
        otherwise all of them, in knob order (shuffled when ``rng`` is given).
        """
        digits = self.digits(index)
        radices, strides = self._layout()
        index = int(index)
        if n is None:
            out = [index + (v - d) * s
                   for d, r, s in zip(digits, radices, strides) for v in range(r) if v != d]
            if rng is not None:
                _rng(rng).shuffle(out)
            return out
        gen = _rng(rng)
        n_total = sum(r - 1 for r in radices)
        if n >= n_total:
            return self.neighbors(index, gen)
        out: Dict[int, None] = {}
        while len(out) < n:
            out[self.random_neighbor(index, gen, _digits=digits)] = None
        return list(out)

    def random_neighbor(self, index: int, rng: RngLike = None, _digits: Optional[List[int]] = None) -> int:
        """Change one random knob (with more than one candidate) to another random value.

        This is the mutation step of simulated annealing and of the genetic tuner.
        Returns ``index`` itself when no knob has more than one candidate.
        """
        gen = _rng(rng)
        digits = self.digits(index) if _digits is None else _digits
        radices, strides = self._layout()
        movable = [k for k, r in enumerate(radices) if r > 1]
        if not movable:
            return int(index)
        k = movable[int(gen.integers(len(movable)))]
        v = int(gen.integers(radices[k] - 1))
        if v >= digits[k]:
            v += 1
        return int(index) + (v - digits[k]) * strides[k]

    def random_neighbors(self, indices: Sequence[int], rng: RngLike = None) -> List[int]:
        """:meth:`random_neighbor` of each index, vectorised (simulated annealing's step)."""
        gen = _rng(rng)
        idx = [int(i) for i in indices]
        radices, strides = self._layout()
        movable = np.array([k for k, r in enumerate(radices) if r > 1], dtype=np.int64)
        if not idx or movable.size == 0:
            return idx
        total = self.n_configs
        if total >= _INT64_SAFE:
            return [self.random_neighbor(i, gen) for i in idx]
        arr = np.asarray(idx, dtype=np.int64)
        if arr.min() < 0 or arr.max() >= total:
            raise ArgumentError(f"random_neighbors: index out of range [0, {total})")
        rad = np.asarray(radices, dtype=np.int64)
        strd = np.asarray(strides, dtype=np.int64)
        k = movable[gen.integers(movable.size, size=arr.size)]
        cur = (arr // strd[k]) % rad[k]
        new = gen.integers(0, rad[k] - 1)
        new = new + (new >= cur)
        return (arr + (new - cur) * strd[k]).tolist()

    # ------------------------------------------------------------------ features
    def feature_names(self) -> List[str]:
        return [f for k in self._knobs.values() for f in k.feature_names()]

    def features(self, indices: Iterable[int]) -> np.ndarray:
        """Knob features of each config, shape ``(len(indices), n_features)``, float64.

        Split knobs give ``log2`` of every factor (the ``-1`` resolved to the real outer
        extent), choice knobs their numeric value (or candidate position when not
        numeric), reorder knobs the permutation, annotate knobs an option code per axis.
        """
        idx = list(indices)
        tables = [k.feature_table() for k in self._knobs.values()]
        width = sum(t.shape[1] for t in tables)
        out = np.empty((len(idx), width), dtype=np.float64)
        if not idx:
            return out
        digits = self.digit_matrix(idx, "features")
        col = 0
        for k, t in enumerate(tables):
            out[:, col:col + t.shape[1]] = t[digits[:, k]]
            col += t.shape[1]
        return out

    def digit_matrix(self, indices: Iterable[int], owner: str = "digit_matrix") -> np.ndarray:
        """:meth:`digits` of every index at once, shape ``(len(indices), n_knobs)``, int64
        (indices past int64 are decoded as Python ints)."""
        idx = list(indices)
        radices, strides = self._layout()
        total = self.n_configs
        for i in idx:
            if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)) or not 0 <= i < total:
                raise ArgumentError(f"{owner}: bad config index {i!r} (space has {total} configs)")
        out = np.empty((len(idx), len(radices)), dtype=np.int64)
        if total < _INT64_SAFE:
            arr = np.asarray(idx, dtype=np.int64)
            for k, (r, s) in enumerate(zip(radices, strides)):
                out[:, k] = (arr // s) % r
        else:
            for k, (r, s) in enumerate(zip(radices, strides)):
                out[:, k] = [(int(i) // s) % r for i in idx]
        return out

    # ------------------------------------------------------------------ rebuilding
    @classmethod
    def from_records(cls, entities: Sequence[Sequence[Sequence[Any]]],
                     indices: Optional[Sequence[int]] = None,
                     extents: Optional[Mapping[str, int]] = None) -> "ConfigSpace":
        """Rebuild a space from logged entities; see :func:`adatune.space.space_from_records`."""
        space = cls()
        for knob in knobs_from_records(entities, indices=indices, extents=extents):
            space._add(knob)
        return space

    # ------------------------------------------------------------------ misc
    def __iter__(self):
        # Iterating would enumerate; make the accident loud instead of silently slow.
        raise ArgumentTypeError("ConfigSpace is not iterable; use range(space.n_configs) with space.get(i), "
                                "or space.sample(n)")

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        kept = []
        for p in self._constraints:
            try:
                pickle.dumps(p)
                kept.append(p)
            except Exception:  # noqa: BLE001 - any pickling failure means "cannot travel"
                logger.warning("constraint %r cannot be pickled; the copy of this space will not check it", p)
        state["_constraints"] = kept
        return state

    def __repr__(self) -> str:
        knobs = ", ".join(f"{n}:{k.kind}[{len(k)}]" for n, k in self._knobs.items())
        return f"ConfigSpace(len={self.n_configs}, {knobs})"


class ConfigEntity:
    """One config: its index and the chosen value of every knob.

    Passed to the template for the second call: ``define_*`` are no-ops there and
    ``cfg[name]`` returns the chosen entity (``.size`` for splits, ``.val`` otherwise).
    Pickles without its space (only the chosen values travel to build workers).
    """

    def __init__(self, index: int, entities: "OrderedDict[str, Any]", space: Optional[ConfigSpace] = None):
        self.index = int(index)
        self._entities = OrderedDict(entities)
        self.space = space
        self.flop = 0.0

    # template-facing no-ops: the space was declared on the first call
    def _noop_define(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self[name]

    define_split = _noop_define
    define_knob = _noop_define
    define_reorder = _noop_define
    define_annotate = _noop_define

    def add_constraint(self, predicate: Callable[["ConfigEntity"], bool]) -> None:
        return None

    def add_flop(self, flop: float) -> None:
        self.flop += float(flop)

    def __getitem__(self, name: str) -> Any:
        try:
            return self._entities[name]
        except KeyError:
            raise KeyError(f"config has no knob named {name!r}; knobs: {list(self._entities)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entities

    def items(self):
        return self._entities.items()

    def keys(self):
        return self._entities.keys()

    def entity_json(self) -> List[List[Any]]:
        """The AutoTVM entity list ``[[name, kind, value], ...]``."""
        return [[name, e.kind, e.to_json()] for name, e in self._entities.items()]

    def to_json_dict(self) -> Dict[str, Any]:
        """``{"index": i, "code_hash": None, "entity": [...]}`` as AutoTVM v0.2 logs it."""
        return {"index": self.index, "code_hash": None, "entity": self.entity_json()}

    @classmethod
    def from_json_dict(cls, d: Mapping[str, Any], space: ConfigSpace) -> "ConfigEntity":
        """Inverse of :meth:`to_json_dict`; the index is recomputed from the entity.

        Accepts the v0.2 keys (``index``, ``entity``) and the v0.1 ones (``i``, ``e``).
        """
        if not isinstance(d, Mapping):
            raise ArgumentError(f"config must be a JSON object, got {type(d).__name__}")
        entity = d.get("entity", d.get("e"))
        if entity is None:
            raise ArgumentError(f"config has no 'entity' (or 'e') field: keys {sorted(d)}")
        return space.get(space.index_of(entity))

    def features(self) -> np.ndarray:
        """Knob features of this config (needs the space; see :meth:`ConfigSpace.features`)."""
        if self.space is None:
            raise ArgumentError("this ConfigEntity has no space attached (it was unpickled); "
                                "use space.features([entity.index])")
        return self.space.features([self.index])[0]

    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        state["space"] = None
        return state

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ConfigEntity) and self.index == other.index
                and self.entity_json() == other.entity_json())

    def __hash__(self) -> int:
        return hash(self.index)

    def __repr__(self) -> str:
        body = ",".join(f"{n}={e!r}" for n, e in self._entities.items())
        return f"ConfigEntity({self.index}: {body})"

    def __str__(self) -> str:
        return f"{self.index}:" + ",".join(repr(e) for e in self._entities.values())


def space_from_records(entities: Sequence[Sequence[Sequence[Any]]],
                       indices: Optional[Sequence[int]] = None,
                       extents: Optional[Mapping[str, int]] = None) -> ConfigSpace:
    """Rebuild the config space that produced these logged entities.

    See :func:`adatune.space.rebuild.knobs_from_records` for the parameters and how the
    knobs are recovered; with ``indices`` the rebuilt space maps every entity to its
    logged index.

    Raises
    ------
    ValueError
        On malformed or inconsistent entities, or when no layout reproduces the indices.
    """
    return ConfigSpace.from_records(entities, indices=indices, extents=extents)

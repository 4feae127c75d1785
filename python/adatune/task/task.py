"""Task: one template applied to one workload on one target.

A task is cheap to pickle (name, arguments and the target as a dict); the process
that unpickles it looks the template up in the registry again.  The config space and
the kernel's signature are built on first use and cached per process, so measuring
workers pay for them once.
"""
from __future__ import annotations

import functools
import importlib
import json
import math
import numbers
import threading
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import AdatuneError, ArgumentError, ArgumentTypeError
from ..records.workload import workload_key as _workload_key
from .registry import TemplateSpec, get_template, list_templates
from .target import as_target, target_to_dict

__all__ = ["Task", "create"]


# Relative tolerance of the norm-wise check in Task.check_outputs, by dtype prefix.
_RTOL = {"float16": 2e-2, "bfloat16": 5e-2, "float32": 1e-4, "float64": 1e-10}

# TE keeps its current op-tag scope in a class attribute, not per thread: two threads
# declaring TOPI compute at once fail with "nested op_tag is not allowed". Every call of
# a template function (declare or instantiate) holds this lock; compilation does not.
_TEMPLATE_LOCK = threading.RLock()


def _freeze_args(args: Any, where: str) -> Tuple[Any, ...]:
    if isinstance(args, (str, bytes)) or not isinstance(args, (list, tuple)):
        raise ArgumentTypeError(f"{where}: args must be a list or tuple, got {args!r}")
    out = []
    for i, a in enumerate(args):
        if isinstance(a, (list, tuple)):
            out.append(_freeze_args(a, f"{where}[{i}]"))
        elif a is None or isinstance(a, (bool, str)):
            out.append(a)
        elif isinstance(a, numbers.Integral):
            out.append(int(a))
        elif isinstance(a, numbers.Real):
            out.append(float(a))
        else:
            raise ArgumentTypeError(f"{where}[{i}]: task arguments must be ints, floats, strings or "
                             f"nested lists of them (they are logged as JSON), got {a!r}")
    return tuple(out)


def _as_primfunc(result: Any, name: str):
    import tvm

    if isinstance(result, tvm.tirx.PrimFunc):
        return result
    if isinstance(result, tvm.IRModule):
        funcs = list(result.functions.values())
        if len(funcs) != 1:
            raise ArgumentError(f"template {name!r} returned an IRModule with {len(funcs)} functions; "
                                "return one PrimFunc")
        return funcs[0]
    mod = getattr(result, "mod", None)  # a tvm.s_tir.Schedule
    if isinstance(mod, tvm.IRModule):
        return _as_primfunc(mod, name)
    raise ArgumentError(f"template {name!r} must return a tvm.tirx.PrimFunc, got {type(result).__name__}")


def _signature(func) -> List[Tuple[Tuple[int, ...], str]]:
    sig = []
    buffer_map = getattr(func, "buffer_map", None)
    for param in func.params:
        # TVM 0.27 PrimFunc parameters are the buffers themselves; older ones map vars.
        buf = buffer_map[param] if buffer_map is not None else param
        sig.append((tuple(int(s) for s in buf.shape), str(buf.dtype)))
    return sig


@functools.lru_cache(maxsize=256)
def _declare(name: str, args: Tuple[Any, ...], target_json: str):
    """Build the space, FLOP count and kernel signature of a task (cached per process)."""
    from ..space import ConfigSpace

    spec = get_template(name)
    space = ConfigSpace()
    target = as_target(json.loads(target_json))
    with _TEMPLATE_LOCK, target:
        func = _as_primfunc(spec.func(space, *args), name)
    return space, float(space.flop), _signature(func)


class Task:
    """A tuning task: template ``name`` applied to ``args`` for ``target``.

    Parameters
    ----------
    name : str
        A registered template (see :func:`adatune.task.list_templates`).
    args : sequence
        The template's arguments (ints, floats, strings, nested lists of them);
        trailing ones the template has defaults for may be left out.
    target : tvm.target.Target, dict, str or None
        See :func:`adatune.task.as_target`; ``None`` is the host CPU.

    Attributes
    ----------
    name, target
        As given (``target`` as a ``tvm.target.Target``).
    args : tuple
        The arguments as nested tuples, with the template's defaults filled in, so
        ``create("dense", (64, 64, 64))`` and ``create("dense", (64, 64, 64,
        "float32"))`` are the same task, logged under the same workload key.
    workload_key : str
        ``name(args)`` as :func:`adatune.records.workload_key` writes it.
    """

    def __init__(self, name: str, args: Sequence[Any], target: Any = None):
        self._spec: TemplateSpec = get_template(name)
        self.name = name
        where = f"task {name!r} args"
        self.args = _freeze_args(self._spec.with_defaults(_freeze_args(args, where)), where)
        self.target = as_target(target)
        kind = self.target.kind.name
        if kind not in self._spec.target_kinds:
            raise ArgumentError(f"template {name!r} supports targets {list(self._spec.target_kinds)}, "
                                f"not {kind!r}")
        self._target_json = json.dumps(target_to_dict(self.target), sort_keys=True)

    # ------------------------------------------------------------------ declared facts
    def _declared(self):
        try:
            return _declare(self.name, self.args, self._target_json)
        except AdatuneError:
            raise  # the template's own check, already naming the argument
        except TypeError as err:  # the call itself: wrong number or names of arguments
            raise ArgumentError(f"template {self.name!r} rejected args {self.args!r}: {err}") from err

    @property
    def config_space(self):
        """The :class:`~adatune.space.ConfigSpace` the template declares for these args."""
        return self._declared()[0]

    @property
    def flop(self) -> float:
        """Floating-point operations of one run of the kernel."""
        return self._declared()[1]

    @property
    def workload_key(self) -> str:
        return _workload_key(self.name, self.args)

    @property
    def workload_keys(self) -> Tuple[str, ...]:
        """Every key this task's records may be logged under: :attr:`workload_key`
        first, then the keys of the argument spellings that leave trailing defaults
        out (what logs written before defaults were filled in hold)."""
        return (self.workload_key,) + tuple(_workload_key(self.name, args)
                                            for args in self._spec.short_spellings(self.args))

    @property
    def signature(self) -> List[Tuple[Tuple[int, ...], str]]:
        """``(shape, dtype)`` of every kernel argument, in argument order."""
        return list(self._declared()[2])

    @property
    def output_indices(self) -> Tuple[int, ...]:
        """Positions of the outputs among the kernel's arguments."""
        n = len(self._declared()[2])
        return tuple(range(n - self._spec.num_outputs, n))

    # ------------------------------------------------------------------ configs
    def config(self, config: Any):
        """A :class:`~adatune.space.ConfigEntity` from an entity, an index, a logged config
        dict (``{"index", "entity"}``) or a :class:`~adatune.records.Record`."""
        from ..space import ConfigEntity

        if isinstance(config, ConfigEntity):
            return config
        if isinstance(config, bool):
            raise ArgumentTypeError(f"task {self.name!r}: config must be an index or entity, got {config!r}")
        if isinstance(config, numbers.Integral):
            return self.config_space.get(int(config))
        if hasattr(config, "config_dict") and hasattr(config, "workload_key"):  # a Record
            if config.workload_key not in self.workload_keys:
                raise ArgumentError(f"record is for {config.workload_key}, not for task {self.workload_key}")
            config = config.config_dict()
        if isinstance(config, Mapping):
            return ConfigEntity.from_json_dict(config, self.config_space)
        raise ArgumentTypeError(f"task {self.name!r}: cannot turn {type(config).__name__} into a config")

    def instantiate(self, config: Any):
        """The scheduled ``tvm.tirx.PrimFunc`` for ``config`` (see :meth:`config`)."""
        entity = self.config(config)
        with _TEMPLATE_LOCK, self.target:
            try:
                result = self._spec.func(entity, *self.args)
            except KeyError as err:
                raise ArgumentError(f"config {entity} does not fit template {self.name!r}: {err}") from err
        return _as_primfunc(result, self.name)

    def build(self, config: Any):
        """Compile ``config`` for the task's target; returns a callable runtime Module."""
        import tvm

        return tvm.compile(self.instantiate(config), target=self.target).jit()

    def best_config(self, best: Any = None):
        """The best logged config of this task, from ``best`` (an
        :class:`~adatune.task.ApplyBest`, a log path or records) or the innermost
        active ``with adatune.apply_best(...)`` block."""
        from .apply_best import resolve_best

        return self.config(resolve_best(best).record_for(self))

    def instantiate_best(self, best: Any = None):
        """:meth:`instantiate` of :meth:`best_config`."""
        return self.instantiate(self.best_config(best))

    def build_best(self, best: Any = None):
        """:meth:`build` of :meth:`best_config`: the tuned kernel in one call."""
        return self.build(self.best_config(best))

    # ------------------------------------------------------------------ checking answers
    def make_inputs(self, rng: Union[None, int, np.random.Generator] = None) -> List[np.ndarray]:
        """Random inputs and zeroed outputs, one array per kernel argument, in order."""
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        outs = set(self.output_indices)
        arrays = []
        for i, (shape, dtype) in enumerate(self.signature):
            if i in outs:
                arrays.append(np.zeros(shape, dtype=dtype))
            elif np.issubdtype(np.dtype(dtype), np.floating):
                arrays.append(gen.uniform(-1.0, 1.0, size=shape).astype(dtype))
            elif np.dtype(dtype) == np.bool_:
                arrays.append(gen.integers(0, 2, size=shape).astype(dtype))
            else:
                arrays.append(gen.integers(-8, 8, size=shape).astype(dtype))
        return arrays

    def reference(self, arrays: Sequence[Any]) -> List[np.ndarray]:
        """Expected outputs (one per output index) for the inputs in ``arrays``.

        ``arrays`` is every kernel argument (as :meth:`make_inputs` gives) or only the
        inputs; tvm tensors are accepted too.
        """
        if self._spec.reference is None:
            raise ArgumentError(f"template {self.name!r} has no numpy reference")
        n_in = len(self.signature) - self._spec.num_outputs
        if len(arrays) < n_in:
            raise ArgumentError(f"task {self.name!r} needs {n_in} input arrays, got {len(arrays)}")
        inputs = [a.numpy() if hasattr(a, "numpy") else np.asarray(a) for a in arrays[:n_in]]
        for i, (arr, (shape, dtype)) in enumerate(zip(inputs, self.signature)):
            if tuple(arr.shape) != shape:
                raise ArgumentError(f"task {self.name!r}: input {i} has shape {arr.shape}, expected {shape}")
        out = self._spec.reference(self.args, inputs)
        out = [out] if isinstance(out, np.ndarray) else list(out)
        if len(out) != self._spec.num_outputs:
            raise ArgumentError(f"reference of {self.name!r} returned {len(out)} arrays, "
                                f"expected {self._spec.num_outputs}")
        return [np.asarray(o) for o in out]

    def check_outputs(self, arrays: Sequence[Any], rtol: Optional[float] = None) -> bool:
        """True when the outputs in ``arrays`` match :meth:`reference` of its inputs.

        The test is norm-wise, ``max|got - want| <= rtol * max(1, max|want|)``, so the
        rounding of long float sums in another order passes and real errors do not.
        """
        expected = self.reference(arrays)
        for idx, want in zip(self.output_indices, expected):
            got = arrays[idx]
            got = got.numpy() if hasattr(got, "numpy") else np.asarray(got)
            if got.shape != want.shape:
                return False
            tol = rtol if rtol is not None else _RTOL.get(str(want.dtype), 0.0)
            if tol == 0.0:
                if not np.array_equal(got, want):
                    return False
                continue
            scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
            err = float(np.max(np.abs(got.astype(np.float64) - want), initial=0.0))
            if not math.isfinite(err) or err > tol * scale:
                return False
        return True

    # ------------------------------------------------------------------ identity
    def __reduce__(self):
        # str(target) keeps TVM's attribute order, so the copy prints (and logs) the same.
        # The template's module travels too, so a worker process (which starts fresh and
        # knows only the built-ins) can import a user's template before rebuilding.
        module = getattr(get_template(self.name).func, "__module__", None)
        return (_restore_task, (self.name, self.args, json.loads(str(self.target)), module))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Task) and self.name == other.name and self.args == other.args
                and self._target_json == other._target_json)

    def __hash__(self) -> int:
        return hash((self.name, self.args, self._target_json))

    def __repr__(self) -> str:
        return f"Task({self.workload_key}, target={self.target.kind.name})"


def _restore_task(name: str, args: Tuple[Any, ...], target: Dict[str, Any],
                  module: Optional[str] = None) -> Task:
    if module and module != "__main__" and name not in list_templates():
        importlib.import_module(module)  # registers the template, as it did in the parent
    return Task(name, args, target)


def create(name: str, args: Sequence[Any], target: Any = None) -> Task:
    """Create a :class:`Task` (AutoTVM's ``autotvm.task.create``).

    Examples
    --------
    >>> task = create("dense", (64, 64, 64, "float32"), "llvm")   # doctest: +SKIP
    >>> len(task.config_space) > 1                                  # doctest: +SKIP
    True
    """
    return Task(name, args, target)

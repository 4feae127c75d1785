"""The template registry: template names -> schedule functions and their references.

A template is a function ``f(cfg, *args) -> tvm.tirx.PrimFunc``.  It is called twice per
config: with a :class:`~adatune.space.ConfigSpace` to declare its knobs, and with a
:class:`~adatune.space.ConfigEntity` to build one scheduled kernel.  The registry also
keeps what the measure layer needs to check a kernel's answer: a numpy reference and
how many of the kernel's trailing arguments are outputs.
"""
from __future__ import annotations

import functools
import inspect
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .._checks import check_positive_int
from ..errors import ArgumentError, ArgumentTypeError

__all__ = ["TemplateSpec", "template", "get_template", "list_templates"]

logger = logging.getLogger(__name__)

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
_REGISTRY: Dict[str, "TemplateSpec"] = {}
_LOCK = threading.Lock()


@dataclass(frozen=True)
class TemplateSpec:
    """A registered template.

    Attributes
    ----------
    name : str
        Registry name; also the task name written to tuning logs.
    func : callable
        ``func(cfg, *args) -> tvm.tirx.PrimFunc``.
    reference : callable or None
        ``reference(args, inputs) -> list of np.ndarray``: the expected outputs for the
        input arrays, computed with numpy; ``None`` when the template has none.
    num_outputs : int
        The kernel's last ``num_outputs`` parameters are outputs, the others inputs.
    target_kinds : tuple of str
        TVM target kinds the template's schedules are written for (``"llvm"``...).
    """

    name: str
    func: Callable[..., Any]
    reference: Optional[Callable[[Tuple[Any, ...], Sequence[Any]], List[Any]]] = None
    num_outputs: int = 1
    target_kinds: Tuple[str, ...] = ("llvm",)

    def with_defaults(self, args: Sequence[Any]) -> Tuple[Any, ...]:
        """``args`` with the template's trailing defaults filled in.

        ``dense(cfg, M, N, K, dtype="float32")`` given ``(64, 64, 64)`` gives
        ``(64, 64, 64, "float32")``, so a workload is named the same whether a default
        was spelled out or not.  Arguments missing a default are left missing (the
        template refuses them when called).
        """
        args = tuple(args)
        params = _parameters(self.func)
        if len(args) >= len(params):
            return args
        tail = []
        for param in params[len(args):]:
            if param.default is inspect.Parameter.empty:
                return args
            tail.append(param.default)
        return args + tuple(tail)

    def short_spellings(self, args: Sequence[Any]) -> List[Tuple[Any, ...]]:
        """The ways ``args`` (complete) were written with trailing defaults left out,
        longest first: ``(64, 64, 64)`` for ``dense``'s ``(64, 64, 64, "float32")``."""
        full = self.with_defaults(args)
        params = _parameters(self.func)
        out: List[Tuple[Any, ...]] = []
        n = min(len(full), len(params))
        while n > 0 and params[n - 1].default is not inspect.Parameter.empty \
                and _same(full[n - 1], params[n - 1].default):
            n -= 1
            out.append(full[:n])
        return out


def _same(value: Any, default: Any) -> bool:
    """Equal as logged: tuples and lists alike, ``1`` and ``True`` not."""
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return len(value) == len(default) and all(_same(a, b) for a, b in zip(value, default))
    return type(value) is type(default) and value == default


@functools.lru_cache(maxsize=None)
def _parameters(func: Callable[..., Any]) -> Tuple[inspect.Parameter, ...]:
    """The positional parameters of a template after ``cfg`` (up to a ``*args``)."""
    try:
        params = list(inspect.signature(func).parameters.values())[1:]
    except (TypeError, ValueError):  # a builtin or C function: nothing to fill in
        return ()
    out = []
    for param in params:
        if param.kind not in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            break
        out.append(param)
    return tuple(out)


def _make_spec(name: str, func: Callable[..., Any], reference: Optional[Callable[..., List[Any]]],
               num_outputs: int, target_kinds: Sequence[str]) -> TemplateSpec:
    """A validated TemplateSpec (errors name the template and the argument)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ArgumentError(f"template name must be an identifier-like string, got {name!r}")
    check_positive_int(num_outputs, "num_outputs", f"template {name!r}")
    if reference is not None and not callable(reference):
        raise ArgumentTypeError(f"template {name!r}: reference must be callable, got {reference!r}")
    kinds = (target_kinds,) if isinstance(target_kinds, str) else tuple(target_kinds)
    if not kinds or not all(isinstance(k, str) and k for k in kinds):
        raise ArgumentError(f"template {name!r}: target_kinds must be non-empty strings, got {target_kinds!r}")
    if not callable(func):
        raise ArgumentTypeError(f"template {name!r}: {func!r} is not callable")
    return TemplateSpec(name, func, reference, num_outputs, kinds)


def _put(spec: TemplateSpec, override: bool) -> None:
    with _LOCK:
        old = _REGISTRY.get(spec.name)
        if old is not None and not override and old.func is not spec.func:
            raise ArgumentError(f"template {spec.name!r} is already registered by "
                                f"{_describe(old.func)}; pass override=True to replace it")
        _REGISTRY[spec.name] = spec
    logger.debug("registered template %r (%s)", spec.name, _describe(spec.func))


def template(name: str, *, reference: Optional[Callable[..., List[Any]]] = None,
             num_outputs: int = 1, target_kinds: Sequence[str] = ("llvm",),
             override: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a tuning template under ``name`` (decorator).

    Parameters
    ----------
    name : str
        Task name used by :func:`adatune.task.create` and written to logs.
    reference : callable, optional
        ``reference(args, inputs) -> list of np.ndarray`` returning the expected
        outputs (one per output) for the input arrays, in numpy.
    num_outputs : int
        Number of trailing kernel parameters that are outputs.
    target_kinds : sequence of str
        Target kinds the template supports; tasks for other kinds are refused.
    override : bool
        Replace an existing template of the same name (a built-in included) instead
        of raising.

    Examples
    --------
    >>> from tvm import te
    >>> @template("my_add", override=True)  # doctest: +SKIP
    ... def my_add(cfg, n):
    ...     cfg.define_knob("vec", [False, True])
    ...     ...
    """
    _make_spec(name, _check_later, reference, num_outputs, target_kinds)  # fail at decoration

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        spec = _make_spec(name, func, reference, num_outputs, target_kinds)
        _load_builtins()  # a built-in of the same name is taken, whenever it loads
        _put(spec, override)
        return func

    return register


def _check_later(*args: Any) -> None:
    """Stands for the function while the decorator's own arguments are checked."""


def _describe(func: Callable[..., Any]) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


_BUILTINS_LOCK = threading.RLock()
_builtins_loaded = False


def _load_builtins() -> None:
    """Register the built-in templates (once).

    Done on the first lookup or registration, not at import: the templates import TVM,
    and worker processes which only unpickle a Task must find them too.
    """
    global _builtins_loaded
    if _builtins_loaded:
        return
    with _BUILTINS_LOCK:
        if _builtins_loaded:
            return
        from .. import templates  # TVM is imported here, when templates are first needed

        _builtins_loaded = True
        for name, func, options in templates.BUILTINS:
            spec = _make_spec(name, func, options.get("reference"),
                              options.get("num_outputs", 1), options.get("target_kinds", ("llvm",)))
            _put(spec, override=False)


def get_template(name: str) -> TemplateSpec:
    """The registered template ``name``; ``ValueError`` listing the known ones if absent."""
    spec = _REGISTRY.get(name)
    if spec is None:
        _load_builtins()
        spec = _REGISTRY.get(name)
    if spec is None:
        raise ArgumentError(f"no template named {name!r}; registered: {list_templates()}")
    return spec


def list_templates() -> List[str]:
    """Names of all registered templates (built-ins included), sorted."""
    _load_builtins()
    return sorted(_REGISTRY)

"""The template registry: template names -> schedule functions and their references.

A template is a function ``f(cfg, *args) -> tvm.tirx.PrimFunc``.  It is called twice per
config: with a :class:`~adatune.space.ConfigSpace` to declare its knobs, and with a
:class:`~adatune.space.ConfigEntity` to build one scheduled kernel.  The registry also
keeps what the measure layer needs to check a kernel's answer: a numpy reference and
how many of the kernel's trailing arguments are outputs.
"""
from __future__ import annotations

import importlib
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

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
        Replace an existing template of the same name instead of raising.

    Examples
    --------
    >>> from tvm import te
    >>> @template("my_add", override=True)  # doctest: +SKIP
    ... def my_add(cfg, n):
    ...     cfg.define_knob("vec", [False, True])
    ...     ...
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"template name must be an identifier-like string, got {name!r}")
    if isinstance(num_outputs, bool) or not isinstance(num_outputs, int) or num_outputs < 1:
        raise ValueError(f"template {name!r}: num_outputs must be a positive int, got {num_outputs!r}")
    if reference is not None and not callable(reference):
        raise ValueError(f"template {name!r}: reference must be callable, got {reference!r}")
    kinds = (target_kinds,) if isinstance(target_kinds, str) else tuple(target_kinds)
    if not kinds or not all(isinstance(k, str) and k for k in kinds):
        raise ValueError(f"template {name!r}: target_kinds must be non-empty strings, got {target_kinds!r}")

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(func):
            raise ValueError(f"template {name!r}: {func!r} is not callable")
        spec = TemplateSpec(name, func, reference, num_outputs, kinds)
        with _LOCK:
            old = _REGISTRY.get(name)
            if old is not None and not override and old.func is not func:
                raise ValueError(f"template {name!r} is already registered by "
                                 f"{_describe(old.func)}; pass override=True to replace it")
            _REGISTRY[name] = spec
        logger.debug("registered template %r (%s)", name, _describe(func))
        return func

    return register


def _describe(func: Callable[..., Any]) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


def _load_builtins() -> None:
    # Importing the package registers the built-in templates; done on lookup so that
    # worker processes which only unpickle a Task find them too.  The import system
    # makes this cheap after the first time and safe across threads.
    importlib.import_module("adatune.templates")


def get_template(name: str) -> TemplateSpec:
    """The registered template ``name``; ``ValueError`` listing the known ones if absent."""
    spec = _REGISTRY.get(name)
    if spec is None:
        _load_builtins()
        spec = _REGISTRY.get(name)
    if spec is None:
        raise ValueError(f"no template named {name!r}; registered: {list_templates()}")
    return spec


def list_templates() -> List[str]:
    """Names of all registered templates (built-ins included), sorted."""
    _load_builtins()
    return sorted(_REGISTRY)

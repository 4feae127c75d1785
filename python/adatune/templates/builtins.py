"""The declarations of the built-in templates, collected as their modules are imported.

Template modules mark their functions with :func:`builtin` instead of registering them,
so this package imports nothing from :mod:`adatune.task`; the task registry reads
:data:`BUILTINS` (importing this package) on its first lookup.  The dependency is one
way: task -> templates.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

__all__ = ["BUILTINS", "builtin"]

#: ``(name, function, registration options)`` of every built-in template, in import order.
BUILTINS: List[Tuple[str, Callable[..., Any], Dict[str, Any]]] = []


def builtin(name: str, **options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare ``func`` as built-in template ``name``; ``options`` are those of
    :func:`adatune.task.template` (``reference``, ``num_outputs``, ``target_kinds``)."""

    def declare(func: Callable[..., Any]) -> Callable[..., Any]:
        BUILTINS.append((name, func, dict(options)))
        return func

    return declare

"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package lists ``name -> module`` and gets a module-level ``__getattr__`` that imports
the module on first access and caches the value in the package namespace, so that
importing the package never pulls in TVM, SQLAlchemy or scikit-learn by itself.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, List, Mapping, Tuple


def lazy_exports(package: str, table: Mapping[str, str],
                 namespace: Dict[str, Any]) -> Tuple[Callable[[str], Any], Callable[[], List[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` resolving the names of ``table``.

    ``table`` maps a public name to the module defining it, absolute
    (``"adatune.measure"``) or relative to ``package`` (``".runner"``). A name that is
    the module's own last component resolves to the module itself.
    """

    def __getattr__(name: str) -> Any:
        target = table.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(target, package)
        value = module if target.endswith("." + name) else getattr(module, name)
        namespace[name] = value
        return value

    def __dir__() -> List[str]:
        return sorted(set(namespace) | set(table))

    return __getattr__, __dir__

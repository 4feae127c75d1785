"""Load the C++ plugin once per process, or explain once why it cannot be used.

The plugin raises its argument errors with the kinds ``AdatuneArgumentError`` and
``AdatuneArgumentTypeError`` (``src/args.h``); :func:`load` registers them with TVM-FFI as
:class:`~adatune.errors.ArgumentError` and :class:`~adatune.errors.ArgumentTypeError`, so
a bad argument to ``adatune.should_stop`` raises the same class from C++ as from Python.
"""
from __future__ import annotations

import threading
import warnings
from typing import Optional

from .. import libinfo
from ..errors import ArgumentError, ArgumentTypeError

# Error kinds thrown by src/args.h, and the classes they become in Python.
ERROR_KINDS = {"AdatuneArgumentError": ArgumentError,
               "AdatuneArgumentTypeError": ArgumentTypeError}

_lock = threading.Lock()
_state = {"loaded": False, "module": None, "reason": None}


def load() -> Optional[object]:
    """Load ``libadatune_runtime.so`` into this process.

    Returns the loaded runtime module, or ``None`` when the plugin is missing or fails
    to load; the reason is given once as a ``RuntimeWarning`` and kept in
    :func:`unavailable_reason`.
    """
    with _lock:
        if _state["loaded"]:
            return _state["module"]
        _state["loaded"] = True
        _register_error_kinds()
        path = libinfo.find_lib_path(optional=True)
        if path is None:
            _state["reason"] = (
                f"{libinfo.LIB_NAME} not found (searched {', '.join(libinfo.candidate_paths())})"
            )
        else:
            try:
                import tvm

                _state["module"] = tvm.runtime.load_module(path)
            except Exception as err:  # a broken .so must not take the evaluator down
                _state["reason"] = f"{path} failed to load: {err}"
        if _state["module"] is None:
            # A warning (not a log record) so it shows even where logging is not set up.
            warnings.warn(
                "adatune: C++ evaluator unavailable, using the pure-Python evaluator "
                f"(same policy, more timer overhead): {_state['reason']}",
                RuntimeWarning, stacklevel=3,
            )
        return _state["module"]


def _register_error_kinds() -> None:
    try:
        import tvm_ffi
    except ImportError:  # no TVM-FFI: the plugin cannot load either, and says why below
        return
    for kind, cls in ERROR_KINDS.items():
        tvm_ffi.register_error(kind, cls)


def unavailable_reason() -> Optional[str]:
    """Why the plugin could not be loaded, or ``None`` if it loaded (or was not tried)."""
    return _state["reason"]


def get_function(name: str):
    """A global function registered by the plugin, or ``None``."""
    if load() is None:
        return None
    import tvm_ffi

    return tvm_ffi.get_global_func(name, allow_missing=True)

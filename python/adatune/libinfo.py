"""Find the compiled plugin ``libadatune_runtime.so``."""
from __future__ import annotations

import os
from typing import List

LIB_NAME = "libadatune_runtime.so"
ENV_VAR = "ADATUNE_LIBRARY_PATH"


def candidate_paths() -> List[str]:
    """Places searched for the plugin, in order.

    ``$ADATUNE_LIBRARY_PATH`` (a file or a folder) first, then the package's own
    ``lib/`` folder (wheel and editable installs), then a CMake build tree next to
    the source checkout.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    paths = []
    env = os.environ.get(ENV_VAR)
    if env:
        paths.append(env if env.endswith(".so") else os.path.join(env, LIB_NAME))
    paths.append(os.path.join(here, "lib", LIB_NAME))
    repo = os.path.dirname(os.path.dirname(here))
    paths.append(os.path.join(repo, "build", "cmake", LIB_NAME))
    return paths


def find_lib_path(optional: bool = False) -> str | None:
    """Return the absolute path of the plugin.

    Parameters
    ----------
    optional : bool
        Return ``None`` instead of raising when the plugin is not found.

    Raises
    ------
    FileNotFoundError
        Naming every place searched, when the plugin is missing and not optional.
    """
    for path in candidate_paths():
        if os.path.isfile(path):
            return os.path.abspath(path)
    if optional:
        return None
    raise FileNotFoundError(
        f"{LIB_NAME} not found; searched: {', '.join(candidate_paths())}. "
        f"Build it with `pip install -e .` (or `make install`), or set {ENV_VAR}."
    )

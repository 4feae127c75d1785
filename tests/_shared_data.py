"""Where the tests find the shared real data, and what happens when it is missing.

The data is ``../shared/data`` next to the clone (see its README).  CI always has it
and sets ``CI=true``: there a test module that needs a missing file fails at collection,
loudly.  Elsewhere such a module is skipped with a message naming what is missing.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set to anything but a false value."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_shared(*paths: Union[str, Path]) -> pytest.MarkDecorator:
    """A mark (``pytestmark = require_shared(...)``, or a test decorator) for tests that
    need these files or folders of the shared data (relative to :data:`DATA`).

    Missing data skips the tests, except in CI, where the module fails to collect.
    """
    wanted = [DATA / p for p in paths] or [DATA]
    missing = [str(p) for p in wanted if not p.exists()]
    if not missing:
        return pytest.mark.skipif(False, reason="shared data present")
    message = (f"shared data missing: {', '.join(missing)} (expected ../shared/data next to "
               "the clone, see its README)")
    if in_ci():
        pytest.fail(f"{message}; CI must have it", pytrace=False)
    return pytest.mark.skip(reason=message)

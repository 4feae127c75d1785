"""The shared-data rule of tests/_shared_data.py: skip locally, fail loudly in CI."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from _shared_data import require_shared

TESTS = Path(__file__).resolve().parent


def _run(tmp_path, ci):
    """pytest on a module that needs a missing shared file, with ``CI`` set to ``ci``."""
    module = tmp_path / "test_needs_data.py"
    module.write_text(textwrap.dedent("""
        from _shared_data import require_shared

        pytestmark = require_shared("no/such/file.log")

        def test_uses_it():
            pass
    """))
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(TESTS)}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(module)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)


@pytest.mark.parametrize("ci", [None, "", "false"])
def test_missing_data_skips_outside_ci(tmp_path, ci):
    out = _run(tmp_path, ci)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 skipped" in out.stdout


@pytest.mark.parametrize("ci", ["true", "1"])
def test_missing_data_fails_collection_in_ci(tmp_path, ci):
    out = _run(tmp_path, ci)
    assert out.returncode != 0
    assert "shared data missing" in out.stdout and "no/such/file.log" in out.stdout
    assert "CI must have it" in out.stdout


@require_shared("autotvm")
def test_present_data_does_not_skip():
    mark = require_shared("autotvm").mark
    assert mark.name == "skipif" and mark.args == (False,)

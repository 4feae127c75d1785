"""Target strings as logs carry them: their kind, matching, and a file-system-safe name.

Logs hold targets in several spellings: old TVM's ``"cuda -model=unknown"``, and
TVM 0.27's JSON (``{"kind":"llvm","num-cores":2,...}``, which is what ``str(Target)``
prints).  Nothing here needs TVM.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any

__all__ = ["target_str", "target_kind", "target_matches", "target_dirname"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")


def target_str(target: Any) -> str:
    """The string a record stores for ``target`` (a string, a dict, or a TVM Target)."""
    if isinstance(target, str):
        return target
    if isinstance(target, dict):
        return json.dumps(target, sort_keys=True, separators=(",", ":"))
    return str(target)


def target_kind(target: str) -> str:
    """``"cuda"`` for ``"cuda -model=x"``, ``"llvm"`` for ``{"kind": "llvm", ...}``."""
    text = target.strip()
    if text.startswith("{"):
        try:
            kind = json.loads(text).get("kind")
        except (ValueError, AttributeError):
            kind = None
        return str(kind) if kind else "unknown"
    return text.split()[0] if text else "unknown"


def target_matches(record_target: str, wanted: Any) -> bool:
    """True when a record's target is ``wanted``: the same string, or ``wanted`` is a
    bare kind (``"cuda"``) and the record's target is of that kind."""
    wanted_s = target_str(wanted)
    if record_target == wanted_s:
        return True
    if wanted_s.startswith("{") or " " in wanted_s.strip():
        return target_kind(record_target) == target_kind(wanted_s) and \
            _normal(record_target) == _normal(wanted_s)
    return target_kind(record_target) == wanted_s


def _normal(target: str) -> str:
    text = target.strip()
    if text.startswith("{"):
        try:
            return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
        except ValueError:
            return text
    return " ".join(sorted(text.split()))


def target_dirname(target: str) -> str:
    """A directory name unique to ``target``: the target itself when it is already safe
    (``"cuda"``), else its kind, a readable part and a short hash of the full string,
    so two targets never share a directory."""
    if target and _UNSAFE.sub("", target) == target and len(target) <= 64:
        return target
    digest = hashlib.sha1(target.encode("utf-8")).hexdigest()[:10]
    readable = _UNSAFE.sub("_", target if not target.strip().startswith("{")
                           else target_kind(target)).strip("_")[:40]
    return f"{readable or 'target'}-{digest}"

"""JSON loading for the hot read path: ``orjson`` when installed, the standard library otherwise.

Reading logs is dominated by JSON parsing, and orjson parses AutoTVM lines about
three times faster than :mod:`json`.  orjson is stricter (it refuses ``NaN`` and
``Infinity``, which Python's :func:`json.dumps` writes), so a line it refuses is
retried with :mod:`json` before being called malformed.
"""
from __future__ import annotations

import json
from typing import Any, Union

try:  # pragma: no cover - which branch runs depends on the environment
    import orjson as _orjson
except ImportError:  # pragma: no cover
    _orjson = None


def loads(data: Union[str, bytes]) -> Any:
    """Parse one JSON document; raise ``ValueError`` when it is not valid JSON."""
    if _orjson is not None:
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            pass  # maybe NaN/Infinity: let the standard parser decide
    if isinstance(data, (bytes, bytearray)):
        data = data.decode("utf-8")  # UnicodeDecodeError is a ValueError
    return json.loads(data)


__all__ = ["loads"]

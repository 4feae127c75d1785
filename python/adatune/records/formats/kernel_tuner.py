"""Kernel Tuner cache files: the one module that knows them.

A cache is one JSON document (optionally gzipped)::

    {"device_name": ..., "kernel_name": ..., "problem_size": ...,
     "tune_params_keys": [p, ...], "tune_params": {p: [values...]},
     "cache": {"v1,v2,...": {"time": ms, "times": [ms, ...], "compile_time": ms, ...}}}

Each cache entry becomes a :class:`~adatune.records.Record`: the kernel is the task,
``[problem_size]`` its arguments, the device its target, one ``ot`` knob per tuning
parameter, and the config index the mixed-radix number of the parameter values'
positions (first parameter least significant, as a
:class:`~adatune.space.ConfigSpace` of ``define_knob`` calls numbers them).  Times are
milliseconds in the file and seconds in the record (``costs`` holds the cached
``time``); the recorded individual runs are kept in ``extra["kt_times"]``.  Failed configs (``"time": "CompilationFailedConfig"``
etc.) get AutoTVM's error code for what failed and cost ``1e9``.  The header counts as
one ``meta`` line of the read, every entry as one kept or rejected line.
"""
from __future__ import annotations

import datetime
import io
import json
import math
import re
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from ...errors import RecordError
from ..lines import open_binary
from ..record import FAILED_COST, Record, make_record
from ..summary import ReadSummary
from .base import LogFormat

__all__ = ["KernelTunerCache", "KernelTunerFormat", "read_cache", "KT_ERRORS"]

#: Kernel Tuner's failure names -> AutoTVM error codes (3 compile device, 4 runtime
#: device, 1 instantiation, 8 unknown).
KT_ERRORS = {
    "CompilationFailedConfig": 3,
    "RuntimeFailedConfig": 4,
    "InvalidConfig": 1,
    "ErrorConfig": 8,
}
_UNKNOWN_ERROR = 8
_CHARGE_KEYS = ("compile_time", "verification_time", "benchmark_time")
_AUTOTVM_KEYS = (b'"i"', b'"r"', b'"input"', b'"config"', b'"result"')
_CACHE_KEY = re.compile(r'"cache"\s*:')


class KernelTunerCache:
    """The header of a parsed cache file and its entries.

    Attributes
    ----------
    path : Path
    kernel_name, device_name : str
    problem_size : any
        As the file has it (an int or a list).
    params : list of str
        Tuning parameters in key order.
    values : dict
        ``{param: [values...]}``, the candidates of each parameter.
    entries : dict
        ``{key: entry}`` as in the file.
    """

    def __init__(self, path: Path, doc: dict, lines: Dict[str, int]):
        self.path = path
        self.kernel_name = str(doc.get("kernel_name", path.name))
        self.device_name = str(doc.get("device_name", "unknown"))
        self.problem_size = doc.get("problem_size")
        tune_params = doc["tune_params"]
        self.params: List[str] = list(doc.get("tune_params_keys") or tune_params)
        self.values: Dict[str, list] = {p: tune_params[p] for p in self.params}
        self.entries: Dict[str, Any] = doc["cache"]
        self._lines = lines
        # Kernel Tuner keys are ",".join(str(value)): match values by their text.
        self._positions = [{str(v): k for k, v in enumerate(self.values[p])} for p in self.params]
        self._radices = [len(self.values[p]) for p in self.params]

    def line_of(self, key: str) -> int:
        """1-based line of an entry (the ``"cache"`` line when entries share lines)."""
        return self._lines.get(key, self._lines.get("", 1))

    def decode(self, key: Any, entry: Any) -> Record:
        """One cache entry as a Record; RecordError naming the entry when malformed."""
        if not isinstance(key, str) or not isinstance(entry, dict):
            raise RecordError("wrong_type", f"cache entry {key!r} is not \"v1,v2,...\": {{...}}")
        parts = key.split(",")
        if len(parts) != len(self.params):
            raise RecordError("bad_value", f"cache entry {key!r} does not match tune_params "
                                           f"{self.params}")
        index, mult = 0, 1
        entity = []
        for p, text, pos, radix in zip(self.params, parts, self._positions, self._radices):
            digit = pos.get(text)
            if digit is None:
                raise RecordError("bad_value", f"cache entry {key!r}: {p}={text} is not in "
                                               "tune_params")
            index += digit * mult
            mult *= radix
            entity.append([p, "ot", self.values[p][digit]])
        charge_ms = sum(float(entry[k]) for k in _CHARGE_KEYS
                        if isinstance(entry.get(k), (int, float))
                        and not isinstance(entry.get(k), bool))
        time = entry.get("time")
        extra: Dict[str, Any] = {}
        if isinstance(time, str):
            costs: tuple = (FAILED_COST,)
            error_no = KT_ERRORS.get(time, _UNKNOWN_ERROR)
            extra["kt_error"] = time
        elif isinstance(time, bool) or not isinstance(time, (int, float)) \
                or not math.isfinite(time) or time <= 0:
            raise RecordError("bad_value", f"cache entry {key!r}: time {time!r} is not a "
                                           "positive number or a failure name")
        else:
            costs, error_no = (float(time) / 1e3,), 0
            extra["kt_times"] = [float(t) / 1e3 for t in entry.get("times") or ()
                                 if isinstance(t, (int, float)) and not isinstance(t, bool)
                                 and t > 0]
        return make_record(self.device_name, self.kernel_name, [self.problem_size], index,
                           entity, costs, error_no, charge_ms / 1e3,
                           _timestamp(entry.get("timestamp")), 0.2, None, "", None, extra)


def _timestamp(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value).timestamp()
        except ValueError:
            return 0.0
    return 0.0


def _entry_lines(text: str) -> Dict[str, int]:
    """``{key: line}`` of the entries written one per line after ``"cache"`` (the usual
    layout); ``""`` maps to the ``"cache"`` line itself."""
    lines: Dict[str, int] = {}
    in_cache = False
    for lineno, raw in enumerate(io.StringIO(text), 1):
        line = raw.lstrip()
        if not in_cache:
            if _CACHE_KEY.search(line):
                in_cache = True
                lines[""] = lineno
            continue
        if line.startswith('"'):
            end = line.find('"', 1)
            if end > 0:
                lines.setdefault(line[1:end], lineno)
    return lines


def read_cache(path: Path, summary: Optional[ReadSummary] = None) -> Optional[KernelTunerCache]:
    """Parse a cache file; None (with the reason counted in ``summary``) when it is not one."""
    path = Path(path)
    if summary is None:
        summary = ReadSummary()
    with open_binary(path) as f:
        data = f.read()
    summary.bytes_read += len(data)
    try:
        text = data.decode("utf-8")
        doc = json.loads(text)
    except UnicodeDecodeError as err:
        summary.reject(str(path), 1, "bad_json", f"not UTF-8 text: {err}")
        return None
    except json.JSONDecodeError as err:
        summary.reject(str(path), err.lineno, "bad_json", f"malformed JSON: {err.msg}")
        return None
    if not isinstance(doc, dict) or "tune_params" not in doc or "cache" not in doc:
        summary.reject(str(path), 1, "missing_field",
                       "not a Kernel Tuner cache file (needs 'tune_params' and 'cache')")
        return None
    tune_params, cache = doc["tune_params"], doc["cache"]
    keys = doc.get("tune_params_keys") or (list(tune_params) if isinstance(tune_params, dict)
                                           else [])
    if not isinstance(tune_params, dict) or not isinstance(cache, dict):
        summary.reject(str(path), 1, "wrong_type", "'tune_params' and 'cache' must be objects")
        return None
    for p in keys:
        if not isinstance(p, str) or not isinstance(tune_params.get(p), list) \
                or not tune_params[p]:
            summary.reject(str(path), 1, "wrong_type",
                           f"tune_params[{p!r}] must be a non-empty list")
            return None
    summary.meta += 1
    return KernelTunerCache(path, doc, _entry_lines(text))


class KernelTunerFormat(LogFormat):
    """Kernel Tuner cache files (``.json``, ``.json.gz``)."""

    name = "kernel_tuner"

    def sniff(self, path: Path, head: bytes) -> bool:
        """A JSON object naming ``tune_params`` whose first key is not an AutoTVM one."""
        text = head.lstrip()
        if not text.startswith(b"{") or b'"tune_params"' not in text:
            return False
        return not text[1:].lstrip().startswith(_AUTOTVM_KEYS)

    def context(self, path: Path, summary: ReadSummary,
                on_bytes: Optional[Callable[[int], None]] = None
                ) -> Optional[KernelTunerCache]:
        cache = read_cache(path, summary)
        if on_bytes is not None:
            on_bytes(Path(path).stat().st_size)
        return cache

    def iter_lines(self, path: Path, summary: ReadSummary,
                   on_bytes: Optional[Callable[[int], None]] = None,
                   start: int = 0, end: Optional[int] = None,
                   context: Any = None) -> Iterator[Tuple[int, Tuple[str, Any]]]:
        """``(line, (key, entry))`` of the cache entries; ``context`` is :meth:`context`'s
        parse of the file (None, for a file that is no cache, gives nothing)."""
        if context is None:
            return
        for key, entry in context.entries.items():
            yield context.line_of(key), (key, entry)

    def decode(self, item: Any, context: Any = None) -> Record:
        """One ``(key, entry)`` pair; ``context`` is the file's :class:`KernelTunerCache`."""
        if context is None:
            raise RecordError("missing_field", "a cache entry decodes only with its file's header")
        key, entry = item
        return context.decode(key, entry)

"""Reading MetaSchedule JSON databases without TVM.

A database is two JSON-lines files:

* ``database_workload.json``: ``[structural_hash, module]`` per line, the module being
  TVM's serialised IRModule (base64 of an 8-byte length and a JSON node graph in the
  TVM versions we have seen; a plain JSON graph in others).
* ``database_tuning_record.json``: ``[workload_index, [trace, run_secs, target,
  args_info]]`` per line (some versions flatten it to five fields).

Only what a record needs is taken from the module: the names of its blocks, which
name the task (``NT_matmul+T_add``).  Nothing here loads the IR, so databases written
by older TVM versions read fine.  A database is named by its directory or either of
its two files.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from .. import _json
from ...errors import RecordError
from ..lines import iter_log_lines
from ..record import FAILED_COST, Record
from ..summary import ReadSummary
from ..target import target_str
from .base import LogFormat

__all__ = ["is_metaschedule_db", "MetaScheduleFormat", "WORKLOAD_FILE", "RECORD_FILE"]

logger = logging.getLogger(__name__)

WORKLOAD_FILE = "database_workload.json"
RECORD_FILE = "database_tuning_record.json"

# Error code for a MetaSchedule record without a usable run time: AutoTVM's
# RUNTIME_DEVICE is the closest meaning.
_MS_FAILED_ERROR = 4
_MAX_NAME_PARTS = 4


def is_metaschedule_db(path: Path) -> bool:
    """True for a database directory, or either of its two files (when both exist)."""
    path = Path(path)
    if path.is_dir():
        return (path / RECORD_FILE).is_file() and (path / WORKLOAD_FILE).is_file()
    return (path.name == RECORD_FILE and (path.parent / WORKLOAD_FILE).is_file()) or \
        (path.name == WORKLOAD_FILE and (path.parent / RECORD_FILE).is_file())


def _graph_from_module(module: Any) -> Optional[dict]:
    if isinstance(module, dict):
        return module
    if not isinstance(module, str):
        return None
    text = module.lstrip()
    if text.startswith("{"):
        return json.loads(text)
    raw = base64.b64decode(module, validate=False)
    # An 8-byte little-endian length prefix precedes the JSON in the versions seen.
    if len(raw) > 8 and int.from_bytes(raw[:8], "little") == len(raw) - 8:
        return json.loads(raw[8:])
    start = raw.find(b"{")
    return json.loads(raw[start:]) if start >= 0 else None


def _task_name_of(module: Any) -> Optional[str]:
    """Task name from the block names of a serialised module, or None."""
    try:
        graph = _graph_from_module(module)
    except (ValueError, binascii.Error):
        return None
    if not isinstance(graph, dict) or not isinstance(graph.get("nodes"), list):
        return None
    nodes = graph["nodes"]
    names: List[str] = []

    def _string(ref: Any) -> Optional[str]:
        try:
            node = nodes[int(ref)]
        except (TypeError, ValueError, IndexError):
            return None
        if isinstance(node, dict):
            value = node.get("repr_str", node.get("data"))
            return value if isinstance(value, str) else None
        return None

    for node in nodes:
        if not isinstance(node, dict):
            continue
        if node.get("type_key") in ("tir.Block", "tir.SBlock") and \
                isinstance(node.get("attrs"), dict):
            name = _string(node["attrs"].get("name_hint"))
            if name and name != "root" and name not in names:
                names.append(name)
    if not names:
        return None
    return "+".join(names[:_MAX_NAME_PARTS])


def _read_workloads(path: Path, summary: ReadSummary,
                    on_bytes: Optional[Callable[[int], None]]) -> Dict[int, tuple]:
    workloads: Dict[int, tuple] = {}
    # Records refer to workloads by their 0-based position among workload lines.
    for position, (lineno, line) in enumerate(iter_log_lines(path, summary, on_bytes)):
        try:
            obj = _json.loads(line)
        except ValueError as err:
            summary.reject(str(path), lineno, "bad_json", f"not valid JSON: {err}")
            continue
        if not (isinstance(obj, list) and len(obj) >= 2):
            summary.reject(str(path), lineno, "wrong_type",
                           "workload line is not [structural_hash, module]")
            continue
        summary.meta += 1
        shash = str(obj[0])
        name = _task_name_of(obj[1]) or f"workload_{shash}"
        workloads[position] = (shash, name)
    return workloads


def _parse_record(obj: Any, workloads: Dict[int, tuple]) -> Record:
    if not isinstance(obj, list) or len(obj) < 2:
        raise RecordError("wrong_type", "tuning record is not [workload_index, record]")
    index = obj[0]
    body = obj[1] if len(obj) == 2 else obj[1:]
    if not isinstance(index, int) or isinstance(index, bool):
        raise RecordError("wrong_type", f"workload index {index!r} is not an integer")
    if not isinstance(body, list) or len(body) < 3:
        raise RecordError("missing_field", "record needs [trace, run_secs, target, args_info]")
    trace, run_secs, target = body[0], body[1], body[2]
    args_info = body[3] if len(body) > 3 else []
    if index not in workloads:
        raise RecordError("bad_value", f"workload index {index} not in {WORKLOAD_FILE}")
    if not isinstance(target, (str, dict)):
        raise RecordError("wrong_type", "target is neither an object nor a string")
    if args_info is None:
        args_info = []
    if not isinstance(args_info, list):
        raise RecordError("wrong_type", "args_info is not a list")
    if run_secs is not None and not isinstance(run_secs, list):
        raise RecordError("wrong_type", "run_secs is not a list")
    secs = [s for s in (run_secs or []) if s is not None]
    if any(not isinstance(s, (int, float)) or isinstance(s, bool) for s in secs):
        raise RecordError("wrong_type", "run_secs are not numbers")
    # MetaSchedule writes 1e10 (or nothing) for candidates that failed to run.
    if secs and all(0 <= s < FAILED_COST for s in secs):
        costs, error_no = tuple(float(s) for s in secs), 0
    else:
        costs, error_no = (FAILED_COST,), _MS_FAILED_ERROR
    shash, name = workloads[index]
    return Record(
        target=target_str(target), task_name=name, args=args_info, config_index=-1,
        entity=[], costs=costs, error_no=error_no, all_cost=0.0, timestamp=0.0,
        version=0.2, extra={"ms_workload_hash": shash, "ms_trace": trace},
    )


def _folder(path: Path) -> Path:
    path = Path(path)
    return path if path.is_dir() else path.parent


class MetaScheduleFormat(LogFormat):
    """MetaSchedule JSON databases (a directory, or either of its two files)."""

    name = "metaschedule"
    is_directory = True

    def sniff(self, path: Path, head: bytes) -> bool:
        return is_metaschedule_db(path)

    def context(self, path: Path, summary: ReadSummary,
                on_bytes: Optional[Callable[[int], None]] = None) -> Dict[int, tuple]:
        """The database's workloads: ``{position: (structural hash, task name)}``."""
        return _read_workloads(_folder(path) / WORKLOAD_FILE, summary, on_bytes)

    def lines_path(self, path: Path) -> Path:
        return _folder(path) / RECORD_FILE

    def n_bytes(self, path: Path) -> int:
        folder = _folder(path)
        return sum((folder / name).stat().st_size for name in (WORKLOAD_FILE, RECORD_FILE))

    def iter_lines(self, path: Path, summary: ReadSummary,
                   on_bytes: Optional[Callable[[int], None]] = None,
                   start: int = 0, end: Optional[int] = None,
                   context: Any = None) -> Iterator[Tuple[int, bytes]]:
        return iter_log_lines(self.lines_path(path), summary, on_bytes, start, end)

    def decode(self, item: Any, context: Any = None) -> Record:
        """One tuning-record line; ``context`` is :meth:`context`'s workloads."""
        try:
            obj = _json.loads(item)
        except ValueError as err:
            raise RecordError("bad_json", f"not valid JSON: {err}") from None
        return _parse_record(obj, context or {})

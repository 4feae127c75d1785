"""What ``adatune farm status`` shows: the tracker's view of a key's servers, and what
the farms running against that tracker (on this host) report of them."""
from __future__ import annotations

import glob
import json
import os
import time
from typing import Any, Dict, List, Optional

from ..measure.rpc import parse_address
from .pool import FarmError, status_dir, tracker_summary

__all__ = ["farm_status", "format_status"]

#: A status file not rewritten for this long belongs to a farm that is gone.
_STALE_S = 10.0


def _alive(pid: int) -> bool:
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, ValueError):
        return False


def farm_status(tracker: str, key: Optional[str] = None,
                directory: Optional[str] = None) -> Dict[str, Any]:
    """The tracker's summary (servers per key, free and busy) and the live farms' reports.

    Raises
    ------
    FarmError
        When the tracker cannot be reached.
    """
    host, port = parse_address(tracker, "tracker")
    try:
        summary = tracker_summary(host, port)
    except Exception as err:  # noqa: BLE001
        raise FarmError(f"cannot reach the RPC tracker at {host}:{port}: {err}") from None
    keys: Dict[str, Dict[str, Any]] = {}
    for info in summary.get("server_info", []):
        k = str(info.get("key", ""))
        if not k.startswith("server:"):
            continue
        k = k[len("server:"):]
        addr = info.get("addr") or ["?", "?"]
        keys.setdefault(k, {"servers": []})["servers"].append(f"{addr[0]}:{addr[1]}")
    for k, q in summary.get("queue_info", {}).items():
        keys.setdefault(k, {"servers": []}).update(free=int(q.get("free", 0)), pending=int(q.get("pending", 0)))
    for k, v in keys.items():
        v.setdefault("free", 0)
        v.setdefault("pending", 0)
        v["busy"] = max(0, len(v["servers"]) - v["free"])
    if key is not None:
        keys = {k: v for k, v in keys.items() if k == key}
    farms: List[Dict[str, Any]] = []
    for path in sorted(glob.glob(os.path.join(directory or status_dir(), "*.json"))):
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError):
            continue
        if doc.get("tracker") != f"{host}:{port}" or (key is not None and doc.get("key") != key):
            continue
        if not _alive(doc.get("pid", -1)) or time.time() - float(doc.get("time", 0)) > _STALE_S:
            continue
        farms.append(doc)
    return {"tracker": f"{host}:{port}", "keys": keys, "farms": farms}


def format_status(status: Dict[str, Any]) -> str:
    """The status as the text tables ``adatune farm status`` prints."""
    out = [f"tracker {status['tracker']}", "", "| key | servers | free | busy | clients waiting |",
           "| --- | --- | --- | --- | --- |"]
    for k, v in sorted(status["keys"].items()):
        out.append(f"| {k} | {len(v['servers'])} | {v['free']} | {v['busy']} | {v['pending']} |")
    if not status["keys"]:
        out.append("| (no server registered) | 0 | 0 | 0 | 0 |")
    for farm in status["farms"]:
        c = farm.get("counts", {})
        out += ["", f"farm pid {farm['pid']} on {farm.get('host', '?')}, key {farm['key']}: "
                f"{c.get('completed', 0)} measured, {farm.get('in_flight', 0)} in flight, "
                f"{farm.get('queued', 0)} queued, {c.get('requeued', 0)} re-queued, "
                f"{c.get('failed', 0)} failed, up {time.time() - farm['started']:.0f} s",
                "| server | state | candidates | failures | in a row | busy s | now | last error |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for s in farm.get("servers", []):
            out.append(f"| {s['address']} | {s['state']} | {s['measured']} | {s['failures']} | "
                       f"{s['consecutive_failures']} | {s['busy_seconds']:.1f} | {s['in_flight'] or '-'} | "
                       f"{(s['last_error'] or '-')[:60]} |")
    if not status["farms"]:
        out += ["", "no farm is running against this tracker on this host"]
    return "\n".join(out)

"""Tuning records: read, encode, group, keep best-N, store and query tuning logs.

Imports no TVM.  Reads AutoTVM v0.1/v0.2 JSON lines and MetaSchedule JSON databases.
"""
from .record import FAILED_COST, FrozenDict, Record, RecordError, decode, decode_obj, encode
from .workload import UNKNOWN_LAYOUT, infer_layout, layout_family, workload_key

__all__ = [
    "FAILED_COST", "FrozenDict", "Record", "RecordError", "decode", "decode_obj", "encode",
    "UNKNOWN_LAYOUT", "infer_layout", "layout_family", "workload_key",
]

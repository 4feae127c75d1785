"""Tuning records: read, encode, group, keep best-N, store and query tuning logs.

Imports no TVM.  Reads AutoTVM v0.1/v0.2 JSON lines, MetaSchedule JSON databases and
Kernel Tuner caches (:func:`iter_records`; one module per format in
:mod:`adatune.records.formats`), encodes records as AutoTVM lines (:func:`encode`,
:func:`decode`), groups them by workload and layout (:class:`TuneRecords`,
:func:`create_records_by_workloads`), finds the best per workload (:func:`load_best`),
keeps them in a SQLite or PostgreSQL store (:func:`open_store`) and plots best-so-far
curves of logs (:func:`plot_logs`; matplotlib is imported when called, FLOP counts
come from the caller).  Lorien's names
(:class:`AutoTVMRecords`; with the featurizer, :mod:`adatune.lorien`) are an
alias layer over these.
"""
from .._lazy import lazy_exports
from .best import load_best
from .formats import LogFormat, format_names, format_of, get_format, register_format
from .formats.autotvm import decode, decode_obj, encode
from .lorien import AutoTVMRecords
from .plot import log_curves, plot_logs
from .reader import LOG_SUFFIXES, iter_log_range, iter_records, log_files, log_units, read_records
from .record import FAILED_COST, Record, RecordError
from .summary import ReadError, ReadSummary
from .target import target_dirname, target_kind, target_matches, target_str
from .tune_records import TuneRecords, config_key, create_records_by_workloads
from .workload import UNKNOWN_LAYOUT, infer_layout, layout_family, workload_key


# The store pulls in SQLAlchemy; load it only when asked for.
_LAZY = {name: ".store" for name in ("RecordsStore", "SQLRecordsStore", "open_store", "normalize_url")}
__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())


__all__ = [
    "FAILED_COST", "Record", "RecordError", "decode", "decode_obj", "encode",
    "UNKNOWN_LAYOUT", "infer_layout", "layout_family", "workload_key",
    "LOG_SUFFIXES", "iter_log_range", "iter_records", "log_files", "log_units", "read_records",
    "ReadError", "ReadSummary",
    "LogFormat", "format_names", "format_of", "get_format", "register_format",
    "TuneRecords", "config_key", "create_records_by_workloads", "load_best",
    "AutoTVMRecords",
    "log_curves", "plot_logs",
    "target_dirname", "target_kind", "target_matches", "target_str",
    "RecordsStore", "SQLRecordsStore", "open_store", "normalize_url",
]

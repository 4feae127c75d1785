"""Lorien's records container under its own name: an alias over :class:`TuneRecords`.

``AutoTVMRecords(target_key, workload_key=None, group_by_layout=False)`` keeps the
records of one task, best first, in one bucket or one per data layout, as Lorien's
``lorien.dialect.tvm_dial.autotvm_dial.result.AutoTVMRecords`` does.

Lorien's records are ``(MeasureInput, MeasureResult)`` pairs; ours are
:class:`~adatune.records.Record` objects, and that is what every method here returns.
A pair is accepted wherever a record goes in (converted with
:meth:`Record.from_measure`), so a tuner callback's ``(inp, res)`` can be pushed as is.
"""
from __future__ import annotations

from typing import Any, Dict, Hashable, Optional

from ..errors import ArgumentTypeError
from .._checks import check_bool
from .formats.autotvm import decode as _decode
from .formats.autotvm import encode as _encode
from .record import Record
from .tune_records import TuneRecords

__all__ = ["AutoTVMRecords", "as_record"]


def as_record(item: Any) -> Record:
    """A :class:`Record` from a Record or a ``(MeasureInput, MeasureResult)`` pair."""
    if isinstance(item, Record):
        return item
    if isinstance(item, tuple) and len(item) == 2 and hasattr(item[0], "task") \
            and hasattr(item[1], "error_no"):
        return Record.from_measure(item[0], item[1])
    raise ArgumentTypeError(f"expected a Record or a (MeasureInput, MeasureResult) pair, got "
                            f"{type(item).__name__}")


class AutoTVMRecords(TuneRecords):
    """The records of one tuning task, best first (Lorien's ``AutoTVMRecords``).

    Parameters
    ----------
    target_key : str
        The target string of the records (as logged).
    workload_key : str, optional
        :attr:`Record.workload_key` of the task; None takes the first pushed record's.
    group_by_layout : bool
        Keep one bucket per data layout (see :func:`adatune.records.infer_layout`)
        instead of one for all, so ``nbest`` counts per layout.
    nbest : int, keyword-only
        Records kept per bucket, -1 (default) for all: an extension Lorien does not
        have (it pops the worst by hand); :meth:`pop` works the same here.

    Notes
    -----
    ``peak`` returns the best record, ``pop`` removes and returns the worst one,
    ``to_list(nbest)`` the best ``nbest`` (all with -1), best first, of any layout.
    Failed records are not kept (``push`` returns False); a config pushed twice is
    kept once, with its better cost.
    """

    def __init__(self, target_key: str, workload_key: Optional[str] = None,
                 group_by_layout: bool = False, *, nbest: int = -1):
        super().__init__(target_key, workload_key, nbest)
        self.by_layout = check_bool(group_by_layout, "group_by_layout", "AutoTVMRecords")

    @property
    def target_key(self) -> str:
        """Lorien's name for :attr:`target`."""
        return self.target

    def _bucket(self, record: Record) -> Hashable:
        return record.layout if self.by_layout else None

    def push(self, record: Any) -> bool:
        """Add a record (or ``(inp, res)`` pair) to the bucket of its layout."""
        return super().push(as_record(record))

    @staticmethod
    def encode(record: Any) -> str:
        """One AutoTVM JSON line of a record (or pair), in the record's own version."""
        return _encode(as_record(record))

    @staticmethod
    def decode(record_str: "str | bytes") -> Record:
        """The record of one AutoTVM JSON line (RecordError when it is none)."""
        return _decode(record_str)

    @staticmethod
    def gen_record_item(record: Any) -> Dict[str, Any]:
        """The item of one record (or pair) to append to its task item."""
        return TuneRecords.gen_record_item(as_record(record))

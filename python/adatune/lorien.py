"""Lorien's AutoTVM result API under its own names, over adatune's records and featurizer.

=========================================================  =================================
Lorien (``lorien.dialect.tvm_dial.autotvm_dial.result``)   here
=========================================================  =================================
``AutoTVMRecords(target_key, workload_key, group_by_layout)``  :class:`AutoTVMRecords`
``AutoTVMTuneResult.create_records_by_workloads``           best-N containers per workload
``AutoTVMTuneResult.extract_feature(inp)``                  :func:`adatune.featurize.record_features`
``AutoTVMTuneResult.extract_feature_from_file``             :func:`adatune.featurize.featurize_log` of one file
``AutoTVMTuneResult.gen_features``                          :func:`adatune.featurize.featurize_log`
=========================================================  =================================

Records are :class:`~adatune.records.Record` objects, not ``(MeasureInput,
MeasureResult)`` pairs (pairs are accepted as input): see :mod:`adatune.records.lorien`.
"""
from __future__ import annotations

import os
import types
from pathlib import Path
from typing import Any, Dict, List, Union

from .errors import ArgumentError
from .featurize import FeaturizeResult, featurize_log, record_features
from .records import Record, iter_records, log_units
from .records.lorien import AutoTVMRecords, as_record
from .records.tune_records import check_nbest, group_records

__all__ = ["AutoTVMRecords", "AutoTVMTuneResult"]

PathLike = Union[str, os.PathLike]

# What a measure input alone is featurized with: features never read the result.
_UNMEASURED = types.SimpleNamespace(costs=(), error_no=0, all_cost=0.0, timestamp=0.0)


class AutoTVMTuneResult:
    """The result of an AutoTVM tuning job: Lorien's static helpers.

    Nothing is held per instance; every method is static, as in Lorien.
    """

    @staticmethod
    def create_records_by_workloads(log_file_path: PathLike, nbest: int,
                                    workload: Any = None) -> List[AutoTVMRecords]:
        """Parse a log and group its successful records by (target, workload).

        Parameters
        ----------
        log_file_path : str or path
            A log file or directory (any format :func:`adatune.records.iter_records`
            reads).
        nbest : int
            Records kept per workload (its best ones); -1 keeps all.
        workload : str or Task, optional
            Only this workload: a workload key, a task name, or a task.  The list then
            has one entry (per target and logged spelling of its key).

        Returns
        -------
        list of AutoTVMRecords
            Sorted by (target, workload key); each best first.
        """
        nbest = check_nbest(nbest, "create_records_by_workloads")
        groups = group_records(iter_records(log_file_path),
                               lambda target, key: AutoTVMRecords(target, key, nbest=nbest),
                               workload)
        return [groups[key] for key in sorted(groups)]

    @staticmethod
    def extract_feature(inp: Any) -> Dict[str, Any]:
        """The features of one measure input, ``{name: value}`` (result not needed).

        ``inp`` is a ``MeasureInput`` (its task's name and arguments and its config),
        a :class:`~adatune.records.Record` or an ``(inp, res)`` pair.  Names are those
        of the feature tables (``in_<i>``, ``attr_layout``, ``sp_<knob>_<i>``, ...).
        """
        if isinstance(inp, Record) or isinstance(inp, tuple):
            record = as_record(inp)
        else:
            record = Record.from_measure(inp, _UNMEASURED)
        return dict(record_features(record))

    @staticmethod
    def extract_feature_from_file(log_file_path: PathLike, out_path: PathLike) -> FeaturizeResult:
        """Featurize one log file (or one MetaSchedule database) into ``out_path``.

        Writes the same tables as :meth:`gen_features` (``<target>/<task>.csv`` and
        ``.meta.json``), for this one input.

        Raises
        ------
        ArgumentError
            When ``log_file_path`` is a directory of several logs (use
            :meth:`gen_features`).
        FileNotFoundError
            When it does not exist.
        """
        units = log_units(log_file_path)
        if Path(log_file_path).is_dir() and not (len(units) == 1 and units[0][0].is_directory):
            raise ArgumentError(f"extract_feature_from_file: {log_file_path} is a directory of "
                                f"{len(units)} log(s); use gen_features for directories")
        return featurize_log(log_file_path, out_path)

    @staticmethod
    def gen_features(log_file_path: PathLike, out_path: PathLike,
                     n_jobs: int = -1) -> FeaturizeResult:
        """Featurize a log file or a directory of logs into per-(target, task) tables.

        Writes ``out_path/<target>/<task>.csv`` (features standardised or category
        coded, then ``label`` and ``error_no``) and ``<task>.meta.json`` (columns,
        means, stds, category maps, label kind); see :func:`adatune.featurize.featurize_log`,
        whose two streaming phases are Lorien's two (``n_jobs`` is an addition).
        """
        return featurize_log(log_file_path, out_path, n_jobs=n_jobs)

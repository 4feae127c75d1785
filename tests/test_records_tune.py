"""TuneRecords, create_records_by_workloads and load_best.

Real data: ../shared/data/autotvm/nnfusion_osdi20/*.log (microsoft/nnfusion @ 4d652edd49c4).
"""
from __future__ import annotations

import pytest

from _shared_data import DATA, require_shared
from adatune.errors import NoRecordError
from adatune.records import (ReadSummary, Record, TuneRecords, create_records_by_workloads,
                             encode, iter_records, load_best, read_records)

NNFUSION = DATA / "autotvm" / "nnfusion_osdi20"
DENSE = NNFUSION / "all_tuned_topi_dense.1000.log"

pytestmark = require_shared(NNFUSION, DATA / "metaschedule")


def _rec(cost, index=0, layout="NCHW", error_no=0, tile_ic=None, target="llvm"):
    entity = [["tile_x", "sp", [-1, index + 1]]]
    task = "conv2d"
    if tile_ic is not None:
        task = "conv2d_NCHWc.x86"
        entity = [["tile_ic", "sp", [-1, tile_ic]], ["tile_x", "sp", [-1, index + 1]]]
    return Record(target=target, task_name=task, args=[[1, 3, 8, 8], layout],
                  config_index=index, entity=entity, costs=(cost,), error_no=error_no,
                  all_cost=1.0, timestamp=float(index))


def test_best_first_pop_worst_peak_best():
    tr = TuneRecords("llvm", _rec(1.0).workload_key)
    for i, cost in enumerate([3.0, 1.0, 2.0, 5.0, 4.0]):
        assert tr.push(_rec(cost, index=i))
    assert len(tr) == 5
    assert [r.mean_cost for r in tr.to_list()] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [r.mean_cost for r in tr.to_list(nbest=2)] == [1.0, 2.0]
    assert tr.peak().mean_cost == 1.0
    assert tr.pop().mean_cost == 5.0  # the worst goes
    assert len(tr) == 4 and tr.peak().mean_cost == 1.0
    assert [r.mean_cost for r in tr] == [1.0, 2.0, 3.0, 4.0]


def test_nbest_bound_failed_records_and_duplicates():
    tr = TuneRecords("llvm", _rec(1.0).workload_key, nbest=3)
    for i, cost in enumerate([5.0, 4.0, 3.0, 2.0, 1.0, 6.0]):
        tr.push(_rec(cost, index=i))
    assert [r.mean_cost for r in tr.to_list()] == [1.0, 2.0, 3.0]
    assert not tr.push(_rec(0.5, index=9, error_no=4))  # failed: never kept
    assert not tr.push(_rec(2.5, index=3))  # config 3 is already there, faster
    assert tr.push(_rec(0.9, index=3))  # the same config measured faster replaces it
    assert [(r.config_index, r.mean_cost) for r in tr.to_list()] == [(3, 0.9), (4, 1.0),
                                                                    (2, 3.0)]
    with pytest.raises(ValueError, match="pushed into"):
        tr.push(_rec(1.0, target="cuda"))
    with pytest.raises(ValueError, match="nbest"):
        TuneRecords("llvm", "k", nbest=0)
    with pytest.raises(TypeError, match="nbest"):
        TuneRecords("llvm", "k", nbest=2.0)
    empty = TuneRecords("llvm", "k")
    with pytest.raises(NoRecordError, match="empty"):
        empty.peak()
    with pytest.raises(NoRecordError, match="empty"):
        empty.pop()


def test_group_by_layout_keeps_best_per_layout():
    # One x86 NCHWc workload whose configs pack channels by 4, 8 or 16: one layout each.
    records = [_rec(c, index=i, tile_ic=ic)
               for i, (c, ic) in enumerate([(3.0, 8), (1.5, 8), (2.0, 16), (4.0, 4),
                                            (1.0, 16)])]
    tr = TuneRecords("llvm", records[0].workload_key, nbest=1)
    for r in records:
        tr.push(r)
    best = tr.group_by_layout()
    assert {k: v.mean_cost for k, v in best.items()} == {"NCHW16c": 1.0, "NCHW4c": 4.0,
                                                         "NCHW8c": 1.5}
    assert tr.layouts == ["NCHW16c", "NCHW4c", "NCHW8c"]
    # nbest is per layout: three layouts, one record each
    assert [r.mean_cost for r in tr.to_list()] == [1.0, 1.5, 4.0]
    task_item = tr.gen_task_item()
    assert task_item["workload_key"] == tr.workload_key
    assert task_item["n_records"] == 3 and task_item["layouts"] == tr.layouts
    items = tr.gen_record_items()
    assert [i["layout"] for i in items] == ["NCHW16c", "NCHW8c", "NCHW4c"]
    assert items[0]["line"] == encode(tr.peak()) and items[0]["cost"] == 1.0


def test_create_records_by_workloads_on_real_log():
    summary = ReadSummary()
    groups = create_records_by_workloads(DENSE, nbest=3, summary=summary)
    assert summary.kept == 1266
    all_records = [r for r in iter_records(DENSE)]
    ok = [r for r in all_records if r.ok]
    expected = {}
    for r in ok:
        expected.setdefault(r.workload_key, []).append(r.mean_cost)
    assert {k for _, k in groups} == set(expected)
    for (target, key), tr in groups.items():
        assert target == "cuda"
        costs = [r.mean_cost for r in tr.to_list()]
        assert costs == sorted(expected[key])[:3]
        assert all(r.ok for r in tr.to_list())
    one_key = sorted(expected)[0]
    only = create_records_by_workloads(DENSE, nbest=2, workload=one_key)
    assert list(only) == [("cuda", one_key)] and len(only[("cuda", one_key)]) == 2
    by_task = create_records_by_workloads(DENSE, nbest=1, workload="tvm_matmul_tune_op")
    assert len(by_task) == len(expected)


def test_load_best_matches_a_brute_force_minimum():
    best = load_best(NNFUSION)  # streamed from the directory
    records, _ = read_records(NNFUSION)
    brute = {}
    for r in records:
        if r.ok and (r.workload_key not in brute
                     or r.mean_cost < brute[r.workload_key].mean_cost):
            brute[r.workload_key] = r
    assert best == brute
    assert len(best) == 31
    assert load_best(records) == best  # records in, same answer
    # target filtering: a bare kind matches "cuda -model=unknown", another kind nothing
    assert len(load_best(records, target="cuda")) == 31
    assert load_best(records, target="llvm") == {}
    only_model = load_best(records, target="cuda -model=unknown")
    assert {r.task_name for r in only_model.values()} == {"topi_nn_conv2d"}


def test_load_best_of_metaschedule_databases():
    best = load_best(DATA / "metaschedule", target="metal")
    assert best and all(r.ok for r in best.values())
    assert all("#" in key for key in best)

"""Lorien's names (adatune.lorien, adatune.records.AutoTVMRecords) on the shared real logs.

Data: ../shared/data/autotvm/nnfusion_osdi20/*.log (microsoft/nnfusion @ 4d652edd49c4,
AutoTVM v0.1, CUDA) and ../shared/data/metaschedule/web-llm (mlc-ai/web-llm
@ 89bbaa4c9a4c).  Every expectation is computed here from the raw JSON lines with the
json module, not with adatune's reader.
"""
from __future__ import annotations

import csv
import json
import math
import types
from collections import defaultdict

import numpy as np
import pytest

from _shared_data import DATA, require_shared
from adatune.lorien import AutoTVMRecords, AutoTVMTuneResult
from adatune.measure.measure import MeasureInput, MeasureResult
from adatune.records import AutoTVMRecords as RecordsAutoTVMRecords
from adatune.records import Record, decode

NNFUSION = DATA / "autotvm" / "nnfusion_osdi20"
DENSE = NNFUSION / "all_tuned_topi_dense.1000.log"
CONV = NNFUSION / "relay_deepspeech2_tuned_conv2d.1000.log"
WEBLLM = DATA / "metaschedule" / "web-llm"

pytestmark = require_shared(NNFUSION, WEBLLM)


def _raw(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def _by_workload(lines):
    """{(target, task, args json): {config index: best mean cost}} of successful lines."""
    out = defaultdict(dict)
    for obj in lines:
        target, task, args = obj["i"][0], obj["i"][1], obj["i"][2]
        costs, error_no = obj["r"][0], obj["r"][1]
        if error_no != 0:
            continue
        cost = sum(costs) / len(costs)
        per_config = out[(target, task, json.dumps(args))]
        index = obj["i"][5]["i"]
        per_config[index] = min(cost, per_config.get(index, math.inf))
    return out


def _key_of(record):
    return (record.target, record.task_name, json.dumps(record.args))


def test_the_records_package_exports_the_same_class():
    assert AutoTVMRecords is RecordsAutoTVMRecords


def test_create_records_by_workloads_keeps_the_best_n_of_every_workload():
    want = _by_workload(_raw(DENSE))
    groups = AutoTVMTuneResult.create_records_by_workloads(str(DENSE), nbest=3)
    assert isinstance(groups, list) and len(groups) == len(want) == 22
    for records in groups:
        assert isinstance(records, AutoTVMRecords)
        best = records.peak()
        expected = sorted(want[_key_of(best)].values())
        assert records.target_key == "cuda" and records.workload_key == best.workload_key
        assert [r.mean_cost for r in records.to_list()] == expected[:3]
        assert best.mean_cost == expected[0]
    # one workload only: a list of one
    first = _raw(DENSE)[0]["i"]
    key = f"{first[1]}({','.join(str(a) for a in first[2])})"
    (only,) = AutoTVMTuneResult.create_records_by_workloads(DENSE, nbest=-1, workload=key)
    assert only.workload_key == key == "tvm_matmul_tune_op(1,256,10)"
    assert len(only) == len(want[("cuda", first[1], json.dumps(first[2]))])
    # a directory of logs, every format's records grouped the same way
    everything = AutoTVMTuneResult.create_records_by_workloads(NNFUSION, nbest=1)
    all_lines = [obj for path in sorted(NNFUSION.glob("*.log")) for obj in _raw(path)]
    assert len(everything) == len(_by_workload(all_lines)) == 31
    with pytest.raises(ValueError, match="nbest"):
        AutoTVMTuneResult.create_records_by_workloads(DENSE, nbest=0)


def test_container_semantics_push_peak_pop_to_list():
    lines = [obj for obj in _raw(CONV)]
    target, task, args = lines[0]["i"][:3]
    want = sorted(_by_workload(lines)[(target, task, json.dumps(args))].values())
    records = AutoTVMRecords(target)  # workload_key from the first record pushed
    raw_lines = [line for line in open(CONV) if line.strip()]
    kept = [records.push(AutoTVMRecords.decode(line)) for line in raw_lines
            if json.loads(line)["i"][2] == args]
    assert sum(kept) == len(records) == len(want)  # failed records are not kept
    assert records.workload_key.startswith("topi_nn_conv2d(")
    assert [r.mean_cost for r in records.to_list()] == want  # best first, all with -1
    assert [r.mean_cost for r in records.to_list(nbest=2)] == want[:2]
    assert records.peak().mean_cost == want[0]
    assert records.pop().mean_cost == want[-1]  # the worst goes
    assert len(records) == len(want) - 1 and records.to_list()[-1].mean_cost == want[-2]
    other = next(obj for obj in lines if obj["i"][2] != args)
    with pytest.raises(ValueError, match="pushed into"):
        records.push(AutoTVMRecords.decode(json.dumps(other)))
    with pytest.raises(TypeError, match="Record or a"):
        records.push("not a record")


def _layout_record(cost, index, tile_ic):
    # an x86 NCHWc workload: the layout follows the tile_ic split (NCHW8c, NCHW16c)
    return Record(target="llvm", task_name="conv2d_NCHWc.x86",
                  args=[["TENSOR", [1, 64, 56, 56], "float32"], "NCHW"], config_index=index,
                  entity=[["tile_ic", "sp", [-1, tile_ic]], ["tile_oc", "sp", [-1, index + 1]]],
                  costs=(cost,), error_no=0, all_cost=1.0, timestamp=float(index))


def test_group_by_layout_buckets_and_nbest_per_bucket():
    items = [_layout_record(c, i, ic) for i, (c, ic) in
             enumerate([(3.0, 8), (1.0, 16), (2.0, 8), (0.5, 8), (4.0, 16)])]
    by_layout = AutoTVMRecords("llvm", items[0].workload_key, group_by_layout=True, nbest=1)
    one_bucket = AutoTVMRecords("llvm", items[0].workload_key, nbest=1)
    for item in items:
        by_layout.push(item)
        one_bucket.push(item)
    # the best of each layout survives; without layouts, the best of all
    assert [(r.layout, r.mean_cost) for r in by_layout.to_list()] == [("NCHW8c", 0.5),
                                                                      ("NCHW16c", 1.0)]
    assert [r.mean_cost for r in one_bucket.to_list()] == [0.5]
    assert by_layout.peak().mean_cost == 0.5 and by_layout.pop().mean_cost == 1.0


def test_encode_decode_and_items():
    line = open(DENSE).readline()
    record = AutoTVMRecords.decode(line)
    assert record == decode(line)
    assert json.loads(AutoTVMRecords.encode(record)) == json.loads(line)
    item = AutoTVMRecords.gen_record_item(record)
    assert item["cost"] == sum(json.loads(line)["r"][0]) / len(json.loads(line)["r"][0])
    assert decode(item["line"]) == record
    json.dumps(item)  # committable as is
    # a (MeasureInput, MeasureResult) pair goes wherever a record goes
    task = types.SimpleNamespace(name=record.task_name, args=tuple(record.args))
    pair = (MeasureInput(record.target, task, record.config_dict()),
            MeasureResult(record.costs, 0, record.all_cost, record.timestamp))
    again = AutoTVMRecords.decode(AutoTVMRecords.encode(pair))
    assert (again.workload_key, again.entity, again.costs) == (record.workload_key,
                                                               record.entity, record.costs)
    records = AutoTVMRecords(record.target, record.workload_key)
    assert records.push(pair) and records.peak().costs == record.costs
    task_item = records.gen_task_item()
    json.dumps(task_item)
    assert task_item["workload_key"] == record.workload_key and task_item["n_records"] == 1
    assert [i["line"] for i in task_item["records"]] == [AutoTVMRecords.encode(pair)]


def test_extract_feature_of_a_measure_input():
    obj = _raw(CONV)[0]
    target, task_name, args = obj["i"][:3]
    config = {"index": obj["i"][5]["i"], "entity": obj["i"][5]["e"]}
    inp = MeasureInput(target, types.SimpleNamespace(name=task_name, args=args), config)
    feats = AutoTVMTuneResult.extract_feature(inp)
    # data ["TENSOR", [1, 1, 340, 181], "float32"] first, tensor tag dropped
    assert [feats[f"in_{i}"] for i in range(5)] == [1, 1, 340, 181, "float32"]
    assert feats["attr_layout"] == "NCHW"
    assert [feats[f"sp_tile_f_{i}"] for i in range(4)] == obj["i"][5]["e"][0][2] == [-1, 1, 4, 2]
    assert "label" not in feats and "error_no" not in feats
    record = decode(json.dumps(obj))
    assert AutoTVMTuneResult.extract_feature(record) == feats
    assert AutoTVMTuneResult.extract_feature((inp, MeasureResult((1.0,), 0, 0.0, 0.0))) == feats


def _table(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], np.array([[float(x) for x in row] for row in rows[1:]])


def test_extract_feature_from_file_featurizes_one_file(tmp_path):
    result = AutoTVMTuneResult.extract_feature_from_file(DENSE, tmp_path / "one")
    header, rows = _table(result.tables[("cuda", "tvm_matmul_tune_op")])
    lines = _raw(DENSE)
    assert len(rows) == len(lines) == 1266
    # GFLOPS labels: 2 M N K / mean cost, 0 for failed lines
    want = [2.0 * math.prod(o["i"][2]) / (sum(o["r"][0]) / len(o["r"][0])) / 1e9
            if o["r"][1] == 0 else 0.0 for o in lines]
    np.testing.assert_allclose(rows[:, header.index("label")], want, rtol=1e-6)
    assert list(rows[:, header.index("error_no")]) == [o["r"][1] for o in lines]
    # a MetaSchedule database is one input too; a directory of logs is not
    assert AutoTVMTuneResult.extract_feature_from_file(WEBLLM, tmp_path / "ms").n_records == 19
    with pytest.raises(ValueError, match="gen_features"):
        AutoTVMTuneResult.extract_feature_from_file(NNFUSION, tmp_path / "dir")


def test_gen_features_of_a_directory(tmp_path):
    out = tmp_path / "features"
    result = AutoTVMTuneResult.gen_features(NNFUSION, out, n_jobs=1)
    counts = defaultdict(int)
    lines = [obj for path in sorted(NNFUSION.glob("*.log")) for obj in _raw(path)]
    for obj in lines:
        counts[(obj["i"][0], obj["i"][1])] += 1
    assert {k: len(_table(p)[1]) for k, p in result.tables.items()} == dict(counts)
    assert result.n_records == len(lines) == 18266
    # the conv2d table's tile_f split, standardised with its own mean and std
    path = result.tables[("cuda -model=unknown", "topi_nn_conv2d")]
    header, rows = _table(path)
    raw = np.array([o["i"][5]["e"][0][2][2] for o in lines if o["i"][1] == "topi_nn_conv2d"],
                   dtype=float)
    meta = json.loads(path.with_name(path.name[:-4] + ".meta.json").read_text())
    assert meta["numeric"]["sp_tile_f_2"]["mean"] == pytest.approx(raw.mean())
    assert meta["numeric"]["sp_tile_f_2"]["std"] == pytest.approx(raw.std())
    np.testing.assert_allclose(rows[:, header.index("sp_tile_f_2")],
                               (raw - raw.mean()) / raw.std(), rtol=1e-5, atol=1e-6)

"""Readers and line encoding of adatune.records on the shared real logs.

Data (../shared/data, see its README):
* autotvm/nnfusion_osdi20/*.log: microsoft/nnfusion @ 4d652edd49c4, AutoTVM v0.1 lines.
* metaschedule/web-llm, metaschedule/mlc-llm-vicuna-v1-7b: mlc-ai/web-llm @ 89bbaa4c9a4c,
  mlc-ai/mlc-llm @ d4c96e16a311, MetaSchedule JSON databases.
"""
from __future__ import annotations

import gzip
import json
import math
import sys
from pathlib import Path

import pytest

from _shared_data import DATA, require_shared
from adatune.records import (Record, RecordError, ReadSummary, decode, encode, infer_layout,
                             iter_records, layout_family, read_records, workload_key)

NNFUSION = DATA / "autotvm" / "nnfusion_osdi20"
MS = DATA / "metaschedule"

NNFUSION_LINES = {
    "alexnet_nchw_tuned_conv2d.1000.log": 5000,
    "all_tuned_tilling_dense_nn.1000.log": 8000,
    "all_tuned_topi_dense.1000.log": 1266,
    "deepspeech2_tuned_conv2d.1000.log": 2000,
    "relay_deepspeech2_tuned_conv2d.1000.log": 2000,
}

pytestmark = require_shared(NNFUSION, MS / "web-llm", MS / "mlc-llm-vicuna-v1-7b")


@pytest.mark.parametrize("name", sorted(NNFUSION_LINES))
def test_v01_real_files_read_whole_and_round_trip(name):
    path = NNFUSION / name
    summary = ReadSummary()
    records = list(iter_records(path, summary))
    assert summary.kept == len(records) == NNFUSION_LINES[name]
    assert summary.rejected == 0 and summary.lines_read == NNFUSION_LINES[name]
    raw_lines = path.read_text().splitlines()
    for line, record in zip(raw_lines[:300], records[:300]):
        assert record.version == 0.1
        assert decode(encode(record)) == record
        # the re-encoded line carries the same JSON content as the original
        assert json.loads(encode(record)) == json.loads(line)
    errors = {r.error_no for r in records}
    assert 0 in errors and errors <= {0, 1, 2, 4, 6}
    for record in records:
        assert record.ok == (record.error_no == 0)
        if not record.ok:
            assert record.mean_cost == math.inf


def test_v01_fields_of_a_known_line():
    first = (NNFUSION / "relay_deepspeech2_tuned_conv2d.1000.log").open().readline()
    r = decode(first)
    assert r.target == "cuda -model=unknown"
    assert r.task_name == "topi_nn_conv2d"
    assert r.args[0] == ["TENSOR", [1, 1, 340, 181], "float32"]
    assert r.config_index == 237414 and r.template_key == "direct"
    assert r.entity[0] == ["tile_f", "sp", [-1, 1, 4, 2]]
    assert r.error_no == 1 and r.costs == (1e9,)
    assert r.timestamp == 1582736923.842062
    assert r.layout == "NCHW"
    assert r.workload_key.startswith('topi_nn_conv2d(["TENSOR",[1,1,340,181],"float32"]')


def test_v02_line_round_trip_is_equivalent():
    line = ('{"input": ["llvm -keys=cpu -mcpu=skylake", "conv2d_NCHWc.x86", '
            '[["TENSOR", [1, 64, 56, 56], "float32"], ["TENSOR", [64, 64, 3, 3], "float32"], '
            '[1, 1], [1, 1, 1, 1], [1, 1], "NCHW", "NCHW", "float32"], {}], '
            '"config": {"index": 42, "code_hash": null, "entity": [["tile_ic", "sp", [-1, 16]], '
            '["tile_oc", "sp", [-1, 8]], ["unroll_kw", "ot", true]]}, '
            '"result": [[0.00123, 0.00125], 0, 1.5, 1700000000.25], "version": 0.2, '
            '"tvm_version": "0.9.0"}')
    r = decode(line)
    assert r.version == 0.2 and r.tvm_version == "0.9.0"
    assert r.mean_cost == pytest.approx(0.00124)
    assert r.layout == "NCHW16c"  # packed by the tile_ic split, not the "NCHW" argument
    again = encode(r)
    assert decode(again) == r
    want, got = json.loads(line), json.loads(again)
    want["input"][3] = []  # AutoTVM writes kwargs as an empty list in v0.2
    assert got == want


def test_from_measure_uses_measure_layer_types():
    from adatune.measure.measure import MeasureInput, MeasureResult

    class _Config:  # the space layer's ConfigEntity contract: to_json_dict()
        def to_json_dict(self):
            return {"index": 7, "code_hash": None,
                    "entity": [["tile_x", "sp", [-1, 8]], ["unroll", "ot", 16]]}

    class _Task:
        name = "dense"
        args = (512, 512, (3, 4), "float32")

    inp = MeasureInput("llvm", _Task(), _Config())
    ok = Record.from_measure(inp, MeasureResult((0.001, 0.003), 0, 2.0, 10.0))
    assert ok.args == [512, 512, [3, 4], "float32"]
    assert ok.mean_cost == pytest.approx(0.002) and ok.ok
    assert decode(encode(ok)) == ok
    assert ok.workload_key == workload_key("dense", (512, 512, (3, 4), "float32"))
    failed = Record.from_measure(inp, MeasureResult(("compile error",), 2, 0.5, 11.0))
    assert failed.costs == (1e9,) and not failed.ok and failed.error_no == 2
    assert decode(encode(failed)) == failed


def test_from_measure_with_a_tvm_target_stores_its_json():
    tvm = pytest.importorskip("tvm")
    from adatune.measure.measure import MeasureInput, MeasureResult

    class _Task:
        name = "matmul"
        args = (64, 64, 64)

    target = tvm.target.Target({"kind": "llvm", "num-cores": 2})
    cfg = {"index": 0, "code_hash": None, "entity": []}
    r = Record.from_measure(MeasureInput(target, _Task(), cfg),
                            MeasureResult((1e-3,), 0, 1.0, 1.0))
    assert r.target == str(target) and json.loads(r.target)["kind"] == "llvm"
    assert r.tvm_version == tvm.__version__
    assert decode(encode(r)) == r


@pytest.mark.parametrize("db", ["web-llm", "mlc-llm-vicuna-v1-7b"])
def test_metaschedule_databases(db):
    folder = MS / db
    n_lines = sum(1 for _ in open(folder / "database_tuning_record.json"))
    n_workloads = sum(1 for _ in open(folder / "database_workload.json"))
    records, summary = read_records(folder)
    assert summary.kept == len(records) == n_lines
    assert summary.meta == n_workloads and summary.rejected == 0
    assert summary.lines_read == n_lines + n_workloads
    first = records[0]
    assert first.task_name == "T_take"
    assert json.loads(first.target)["kind"] == "metal"
    assert first.args[0] == ["TENSOR", "float32", [32001, 4096]]
    assert first.costs == (pytest.approx(2.7195748109902267e-05),) and first.ok
    assert "#" in first.workload_key  # structural hash keeps distinct modules apart
    for r in records:
        assert decode(encode(r)) == r
    # either file of the pair names the same database
    for name in ("database_tuning_record.json", "database_workload.json"):
        again, _ = read_records(folder / name)
        assert again == records


def test_directory_read_counts_every_file():
    summary = ReadSummary()
    n = sum(1 for _ in iter_records(DATA / "autotvm", summary))
    assert n == sum(NNFUSION_LINES.values()) and summary.files == len(NNFUSION_LINES)


def test_comments_blank_malformed_lines_and_gzip(tmp_path):
    good = (NNFUSION / "all_tuned_topi_dense.1000.log").read_text().splitlines()[:3]
    lines = ["# a TopHub-style header", "", good[0], "not json at all", "   ",
             '{"input": ["llvm", "x", [1], []], "config": {"index": 0, "entity": []}}',
             '[1, 2, 3]', good[1], '{"i": ["cuda", "t", [1], {}, null, {"i": "7", "e": []}], '
             '"r": [[1.0], 0, 1.0, 1.0], "v": 0.1}', good[2][:40], good[2]]
    log = tmp_path / "mixed.log"
    log.write_text("\n".join(lines) + "\n")
    summary = ReadSummary()
    records = list(iter_records(log, summary))
    assert records == [decode(g) for g in good]
    assert (summary.kept, summary.comments, summary.blank, summary.rejected) == (3, 1, 2, 5)
    assert summary.lines_read == len(lines)
    assert [(e.line, e.reason) for e in summary.errors] == [
        (4, "bad_json"), (6, "missing_field"), (7, "not_object"), (9, "wrong_type"),
        (10, "bad_json")]
    assert all(e.path == str(log) for e in summary.errors)
    assert "mixed.log:4: bad_json" in summary.format()

    gz = tmp_path / "mixed.log.gz"
    with gzip.open(gz, "wt") as f:
        f.write("\n".join(lines) + "\n")
    gz_summary = ReadSummary()
    assert list(iter_records(gz, gz_summary)) == records
    assert gz_summary.rejected == 5


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.log"):
        list(iter_records(tmp_path / "nope.log"))


def test_decode_errors_name_the_problem():
    with pytest.raises(RecordError, match="not valid JSON") as err:
        decode("{")
    assert err.value.reason == "bad_json"
    with pytest.raises(RecordError, match="error_no") as err:
        decode('{"input": ["llvm", "t", [], []], "config": {"index": 0, "entity": []}, '
               '"result": [[1.0], -1, 0.0, 0.0]}')
    assert err.value.reason == "wrong_type"


def test_nan_and_infinity_written_by_python_json_are_read():
    # Python's json.dumps writes Infinity; orjson refuses it, so the reader retries.
    line = ('{"input": ["llvm", "t", [], []], "config": {"index": 0, "entity": []}, '
            '"result": [[Infinity], 4, 0.0, 0.0], "version": 0.2}')
    r = decode(line)
    assert r.error_no == 4 and not r.ok


def test_workload_keys_are_stable_and_container_blind():
    a = workload_key("conv2d", [["TENSOR", [1, 3, 224, 224], "float32"], (1, 1), "NCHW"])
    b = workload_key("conv2d", (("TENSOR", (1, 3, 224, 224), "float32"), [1, 1], "NCHW"))
    assert a == b == 'conv2d(["TENSOR",[1,3,224,224],"float32"],[1,1],"NCHW")'
    assert hash(a) == hash(b)
    assert workload_key("dense", [1, 2]) != workload_key("dense", [2, 1])
    with pytest.raises(TypeError, match="task_name"):
        workload_key(None, [])


@pytest.mark.parametrize("task,args,entity,want", [
    ("conv2d_nhwc", [["TENSOR", [1, 56, 56, 64], "float32"], "NHWC", "HWIO"], [], "NHWC"),
    ("conv2d", [["TENSOR", [1, 4, 56, 56, 16], "float32"], "NCHW16c", "NCHW16c"], [],
     "NCHW16c"),
    ("conv2d", [["TENSOR", [1, 4, 56, 56, 16], "float32"], "NCHW1n16c"], [], "NCHW1n16c"),
    ("conv2d_NCHWc.x86", [["TENSOR", [1, 64, 56, 56], "float32"], "NCHW"],
     [["tile_ic", "sp", [-1, 8]], ["tile_oc", "sp", [-1, 16]]], "NCHW8c"),
    ("tvm_conv2d_nchw_tune_op", [[1, 3, 224, 224], [64, 3, 7, 7]], [], "NCHW"),
    ("kernel_only", [[3, 3], "OIHW"], [], "OIHW"),
    ("depthwise", ["HWIO"], [], "HWIO"),
    ("dense", [["TENSOR", [1, 1024], "float32"], "float32"], [], "unknown"),
])
def test_layout_inference(task, args, entity, want):
    assert infer_layout(task, args, entity) == want


def test_layout_family():
    assert layout_family("NCHW16c") == "NCHWc"
    assert layout_family("NCHW1n16c") == "NCHWnc"
    assert layout_family("NHWC") == "NHWC"


def test_records_layer_imports_without_tvm():
    import subprocess

    code = ("import sys, adatune.records, adatune.featurize, adatune.records.store; "
            "from adatune.records import iter_records; "
            "assert 'tvm' not in sys.modules, 'tvm imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_from_measure_with_the_space_layers_config_round_trips_to_the_same_entity():
    from adatune.measure.measure import MeasureInput, MeasureResult
    from adatune.space import ConfigEntity, ConfigSpace

    space = ConfigSpace()
    space.define_split("tile_x", 64, num_outputs=2)
    space.define_knob("unroll", [0, 16, 64])

    class _Task:
        name = "dense"
        args = (64, 64, 64, "float32")

    for index in (0, 5, len(space) - 1):
        config = space.get(index)
        record = decode(encode(Record.from_measure(
            MeasureInput("llvm", _Task(), config), MeasureResult((1e-3,), 0, 1.0, 2.0))))
        again = ConfigEntity.from_json_dict(record.config_dict(), space)
        assert again.index == index == record.config_index
        assert again.to_json_dict() == config.to_json_dict()

"""``adatune featurize``: a hand-checked small log, targets kept apart, real logs.

Real data: ../shared/data/autotvm/nnfusion_osdi20/ (microsoft/nnfusion @ 4d652edd49c4) and
../shared/data/metaschedule/web-llm (mlc-ai/web-llm @ 89bbaa4c9a4c).
"""
from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from _shared_data import DATA, require_shared
from adatune.featurize import (FeatureEncoder, estimate_flops, featurize_log,
                               record_features, record_values)
from adatune.records import Record, encode, iter_records, target_dirname

NNFUSION = DATA / "autotvm" / "nnfusion_osdi20"

pytestmark = require_shared(NNFUSION, DATA / "metaschedule" / "web-llm")

DENSE_ARGS = [["TENSOR", [4, 8], "float32"], ["TENSOR", [2, 8], "float32"]]  # 128 FLOPs


def _line(target, task, args, tile, unroll, costs, error_no=0, index=0):
    return encode(Record(target=target, task_name=task, args=args, config_index=index,
                         entity=[["tile_x", "sp", [-1, tile]], ["unroll", "ot", unroll]],
                         costs=tuple(costs), error_no=error_no, all_cost=1.0,
                         timestamp=1.0 + index))


def _read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], [[float(x) for x in row] for row in rows[1:]]


@pytest.fixture
def small_log(tmp_path):
    lines = [
        "# hand-checked featurize input",
        _line("llvm", "dense", DENSE_ARGS, 2, 0, [1e-6], index=0),
        _line("llvm", "dense", DENSE_ARGS, 4, 16, [2e-6, 2e-6], index=1),
        _line("llvm", "dense", DENSE_ARGS, 4, 0, [1e9], error_no=4, index=2),
        "{broken",
        _line("cuda", "dense", DENSE_ARGS, 8, 0, [1e-6], index=3),
        _line("llvm", "mytask", [3], 2, 0, [0.5], index=4),
        _line("llvm", "mytask", [3], 4, 0, [0.25], index=5),
    ]
    path = tmp_path / "small.log"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_hand_checked_table(small_log, tmp_path):
    out = tmp_path / "out"
    result = featurize_log(small_log, out)
    assert result.summary.rejected == 1 and result.summary.comments == 1
    assert result.n_records == 6
    header, rows = _read_csv(out / "llvm" / "dense.csv")
    assert header == ["in_0", "in_1", "in_2", "in_3", "in_4", "in_5", "attr_layout",
                      "sp_tile_x_0", "sp_tile_x_1", "ot_unroll", "label", "error_no"]
    s2, s1 = math.sqrt(2), 1 / math.sqrt(2)
    want = [
        # constant numeric columns normalise to 0 (std 0 -> 1); "float32" and the
        # layout are category 0; tile 2,4,4 and unroll 0,16,0 are standardised
        [0, 0, 0, 0, 0, 0, 0, 0, -s2, -s1, 128 / 1e-6 / 1e9, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, s1, s2, 128 / 2e-6 / 1e9, 0],
        [0, 0, 0, 0, 0, 0, 0, 0, s1, -s1, 0.0, 4],
    ]
    np.testing.assert_allclose(np.array(rows), np.array(want), rtol=1e-6, atol=1e-6)
    meta = json.loads((out / "llvm" / "dense.meta.json").read_text())
    assert meta["target"] == "llvm" and meta["task_name"] == "dense"
    assert meta["n_rows"] == 3 and meta["label"] == "gflops"
    assert meta["numeric"]["sp_tile_x_1"]["mean"] == pytest.approx(10 / 3)
    assert meta["numeric"]["sp_tile_x_1"]["std"] == pytest.approx(math.sqrt(8 / 9))
    assert meta["numeric"]["in_0"] == {"mean": 4.0, "std": 1.0}
    assert meta["categorical"] == {"in_2": {"float32": 0}, "in_5": {"float32": 0},
                                   "attr_layout": {"unknown": 0}}
    # unknown FLOPs: label is 1 / mean cost
    header2, rows2 = _read_csv(out / "llvm" / "mytask.csv")
    assert [r[-2] for r in rows2] == [2.0, 4.0]
    assert json.loads((out / "llvm" / "mytask.meta.json").read_text())["label"] == "inv_cost"


def test_targets_never_overwrite_each_other(small_log, tmp_path):
    out = tmp_path / "out"
    result = featurize_log(small_log, out)
    assert set(result.tables) == {("llvm", "dense"), ("cuda", "dense"), ("llvm", "mytask")}
    _, cuda_rows = _read_csv(out / "cuda" / "dense.csv")
    _, llvm_rows = _read_csv(out / "llvm" / "dense.csv")
    assert len(cuda_rows) == 1 and len(llvm_rows) == 3
    a, b = target_dirname("cuda -model=a"), target_dirname("cuda -model=b")
    assert a != b and "/" not in a
    json_target = '{"kind":"llvm","num-cores":2}'
    assert target_dirname(json_target).startswith("llvm-")


def test_encoder_reproduces_table_rows(small_log, tmp_path):
    out = tmp_path / "out"
    featurize_log(small_log, out)
    enc = FeatureEncoder.from_meta(out / "llvm" / "dense.meta.json")
    records = [r for r in iter_records(small_log) if r.target == "llvm" and
               r.task_name == "dense"]
    _, rows = _read_csv(out / "llvm" / "dense.csv")
    np.testing.assert_allclose(enc.transform(records), np.array(rows)[:, :-2], atol=1e-6)
    with pytest.raises(ValueError, match="not a featurize meta"):
        bad = tmp_path / "bad.json"
        bad.write_text("{}")
        FeatureEncoder.from_meta(bad)


def test_small_buffers_and_a_column_turning_categorical(tmp_path):
    # unroll is a number in the first rows and a string later: the column becomes
    # categorical and the earlier numbers get codes of their text
    lines = [_line("llvm", "t", [1], 2, u, [1e-3 * (i + 1)], index=i)
             for i, u in enumerate([0, 16, "auto", 16, "off", 0, 7])]
    log = tmp_path / "mixed.log"
    log.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    featurize_log(log, out, buffer_rows=2)
    header, rows = _read_csv(out / "llvm" / "t.csv")
    meta = json.loads((out / "llvm" / "t.meta.json").read_text())
    cmap = meta["categorical"]["ot_unroll"]
    col = header.index("ot_unroll")
    got = [rows[i][col] for i in range(7)]
    assert got == [cmap[str(u)] for u in [0, 16, "auto", 16, "off", 0, 7]]
    assert len(set(cmap.values())) == len(cmap) == 5
    assert [r[-2] for r in rows] == pytest.approx([1 / (1e-3 * (i + 1)) for i in range(7)])


def test_record_values_agree_with_record_features():
    records = list(iter_records(NNFUSION / "relay_deepspeech2_tuned_conv2d.1000.log"))[:50]
    records += list(iter_records(DATA / "metaschedule" / "web-llm"))[:5]
    for r in records:
        _, values = record_values(r)
        assert values == [v for _, v in record_features(r)]


def test_flops_of_real_workloads():
    conv = next(iter(iter_records(NNFUSION / "relay_deepspeech2_tuned_conv2d.1000.log")))
    # data 1x1x340x181, kernel 32x1x41x11, stride 2, no padding -> 150 x 86 outputs
    assert estimate_flops(conv.task_name, conv.args) == 2.0 * 32 * 150 * 86 * 1 * 41 * 11
    first = next(iter(iter_records(NNFUSION / "alexnet_nchw_tuned_conv2d.1000.log")))
    assert estimate_flops(first.task_name, first.args) == 2.0 * 384 * 13 * 13 * 192 * 9
    assert estimate_flops("tvm_matmul_tune_op", [16, 256, 256]) == 2.0 * 16 * 256 * 256
    assert estimate_flops("softmax", [[1, 2]]) is None


def test_real_logs_and_metaschedule(tmp_path):
    out = tmp_path / "out"
    result = featurize_log(DATA / "metaschedule" / "web-llm", out)
    assert result.n_records == result.summary.kept == 19
    for (target, task), path in result.tables.items():
        header, rows = _read_csv(path)
        meta = json.loads(path.with_name(path.name[:-4] + ".meta.json").read_text())
        assert header[:-2] == meta["columns"] and len(rows) == meta["n_rows"]
        assert all(len(r) == len(header) for r in rows)
    result = featurize_log(NNFUSION / "all_tuned_topi_dense.1000.log", out, progress=True)
    header, rows = _read_csv(result.tables[("cuda", "tvm_matmul_tune_op")])
    assert len(rows) == 1266
    labels = np.array([r[-2] for r in rows])
    errors = np.array([r[-1] for r in rows])
    assert (labels[errors != 0] == 0).all() and (labels[errors == 0] > 0).all()
    # standardised columns: mean 0 over the table
    for i, name in enumerate(header[:-2]):
        if name.startswith("sp_"):
            assert abs(np.mean([r[i] for r in rows])) < 1e-5


def test_parallel_workers_write_the_same_tables(tmp_path, monkeypatch):
    import adatune.featurize.pipeline as pipeline

    # Cut even this small input into byte ranges read by two worker processes.
    monkeypatch.setattr(pipeline, "_RANGE_BYTES", 16 << 10)
    real = (NNFUSION / "all_tuned_topi_dense.1000.log").read_text().splitlines()
    mixed = [_line("llvm", "t", [1], 2, u, [1e-3 * (i + 1)], index=i)
             for i, u in enumerate([0, 16, 3, 16, 5, 0, 7] * 20 + ["auto", 16, "off"])]
    lines = real[:400] + mixed + ["{not json"] + real[400:800]
    log = tmp_path / "big.log"
    log.write_text("\n".join(lines) + "\n")
    serial = featurize_log(log, tmp_path / "a", n_jobs=1)
    parallel = featurize_log(log, tmp_path / "b", n_jobs=2)
    assert serial.n_records == parallel.n_records == len(lines) - 1
    for key, path in serial.tables.items():
        other = parallel.tables[key]
        assert path.read_text() == other.read_text()
        meta_a = path.with_name(path.name[:-4] + ".meta.json").read_text()
        meta_b = other.with_name(other.name[:-4] + ".meta.json").read_text()
        assert json.loads(meta_a)["categorical"] == json.loads(meta_b)["categorical"]
    bad_line = lines.index("{not json") + 1
    assert [(e.line, e.reason) for e in parallel.summary.errors] == [(bad_line, "bad_json")]
    assert parallel.summary.lines_read == serial.summary.lines_read == len(lines)
    assert parallel.summary.files == 1


def test_kernel_tuner_cache_featurizes_through_the_record_path(tmp_path):
    import gzip

    path = DATA / "kernel_tuner" / "pnpoly" / "RTX_3090.json.gz"
    doc = json.loads(gzip.decompress(path.read_bytes()))
    result = featurize_log(path, tmp_path / "out")
    ((target, task), table), = result.tables.items()
    assert (target, task) == (doc["device_name"], doc["kernel_name"])
    header, rows = _read_csv(table)
    assert header == ["in_0", "attr_layout"] + [f"ot_{p}" for p in doc["tune_params_keys"]] \
        + ["label", "error_no"]
    entries = list(doc["cache"].values())
    assert len(rows) == len(entries) == 4092
    # label 1 / seconds (no FLOPs for a Kernel Tuner kernel), 0 for the failed ones
    want = [0.0 if isinstance(e["time"], str) else 1e3 / e["time"] for e in entries]
    np.testing.assert_allclose([r[-2] for r in rows], want, rtol=1e-6)
    assert [r[-1] for r in rows] == [0 if not isinstance(e["time"], str) else 4 for e in entries]

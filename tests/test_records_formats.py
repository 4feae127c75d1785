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


# ----------------------------------------------------------------------------- formats

KT = DATA / "kernel_tuner"


def test_formats_are_sniffed_by_content_not_by_name(tmp_path):
    from adatune.records import format_of, log_files

    assert format_of(NNFUSION / "all_tuned_topi_dense.1000.log").name == "autotvm"
    assert format_of(KT / "pnpoly" / "RTX_3090.json.gz").name == "kernel_tuner"
    for path in (MS / "web-llm", MS / "web-llm" / "database_workload.json",
                 MS / "web-llm" / "database_tuning_record.json"):
        assert format_of(path).name == "metaschedule"
    # an AutoTVM log named .json, a Kernel Tuner cache without .gz, a file of neither
    renamed = tmp_path / "tune.json"
    renamed.write_text((NNFUSION / "all_tuned_topi_dense.1000.log").read_text())
    cache = tmp_path / "cache.txt"
    cache.write_bytes(gzip.decompress((KT / "pnpoly" / "RTX_3090.json.gz").read_bytes()))
    other = tmp_path / "notes.log"
    other.write_text("hello\n")
    assert [format_of(p).name for p in (renamed, cache, other)] == [
        "autotvm", "kernel_tuner", "autotvm"]  # unknown content is read (and rejected) as lines
    assert [name for name, _ in log_files(DATA)] == [
        "autotvm"] * 5 + ["kernel_tuner"] * 4 + ["metaschedule"] * 2


def _kt_expected(path):
    """Records of a Kernel Tuner cache, computed from its JSON alone."""
    doc = json.loads(gzip.decompress(path.read_bytes()))
    params = doc["tune_params_keys"]
    values = [doc["tune_params"][p] for p in params]
    out = {}
    for key, entry in doc["cache"].items():
        index, mult = 0, 1
        for text, vals in zip(key.split(","), values):
            index += [str(v) for v in vals].index(text) * mult
            mult *= len(vals)
        out[index] = entry
    return doc, out


def test_kernel_tuner_caches_read_as_records():
    path = KT / "convolution" / "RTX_2080_Ti.json.gz"
    doc, expected = _kt_expected(path)
    summary = ReadSummary()
    records = list(iter_records(path, summary))
    assert summary.kept == len(records) == len(expected) == 6768
    assert summary.meta == 1 and summary.rejected == 0
    codes = {"CompilationFailedConfig": 3, "RuntimeFailedConfig": 4}
    for r in records:
        entry = expected[r.config_index]
        assert r.task_name == doc["kernel_name"] and r.target == doc["device_name"]
        assert r.args == [doc["problem_size"]]
        assert [k[0] for k in r.entity] == doc["tune_params_keys"]
        assert [k[2] for k in r.entity] == [entry[p] for p in doc["tune_params_keys"]]
        if isinstance(entry["time"], str):
            assert r.error_no == codes[entry["time"]] and not r.ok
        else:
            assert r.ok and r.mean_cost == pytest.approx(entry["time"] / 1e3, rel=1e-12)
            assert r.extra["kt_times"] == pytest.approx([t / 1e3 for t in entry["times"]])
        assert r.all_cost == pytest.approx(sum(entry[k] for k in (
            "compile_time", "verification_time", "benchmark_time")) / 1e3)
    for r in records[:50]:
        assert decode(encode(r)) == r
    from adatune.records import load_best

    (best,) = load_best(path).values()
    assert best.mean_cost == pytest.approx(min(e["time"] for e in expected.values()
                                               if not isinstance(e["time"], str)) / 1e3)


def test_malformed_kernel_tuner_entries_are_reported_not_fatal(tmp_path):
    doc = {"kernel_name": "k", "tune_params_keys": ["a", "b"],
           "tune_params": {"a": [1, 2], "b": ["x", "y"]}, "cache": {}}
    lines = ['"1,x": {"time": 1.5}', '"2,y": {"time": -1}', '"3,x": {"time": 2.0}',
             '"2,x": {"time": "RuntimeFailedConfig"}', '"1": {"time": 1.0}']
    text = json.dumps(doc)[:-len('"cache": {}}')] + '"cache": {\n' + ",\n".join(lines) + "\n}}\n"
    path = tmp_path / "k.json"
    path.write_text(text)
    summary = ReadSummary()
    records = list(iter_records(path, summary))
    assert [(r.config_index, r.error_no) for r in records] == [(0, 0), (1, 4)]
    assert summary.kept == 2 and summary.rejected == 3 and summary.meta == 1
    assert [(e.line, e.reason) for e in summary.errors] == [(3, "bad_value"), (4, "bad_value"),
                                                            (6, "bad_value")]
    assert "time -1" in summary.errors[0].message and "a=3" in summary.errors[1].message
    broken = tmp_path / "broken.json"
    broken.write_text(text[:-5])
    summary = ReadSummary()
    assert list(iter_records(broken, summary)) == []
    assert summary.rejected == 1 and summary.errors[0].reason == "bad_json"


def test_a_registered_format_is_read_everywhere(tmp_path, monkeypatch):
    import adatune.records.formats as formats
    from adatune.featurize import featurize_log
    from adatune.records import LogFormat, get_format, load_best, register_format

    monkeypatch.setattr(formats, "_REGISTRY", dict(formats._REGISTRY))
    monkeypatch.setattr(formats, "_ORDER", list(formats._ORDER))

    class CsvCosts(LogFormat):
        """``# csv-costs`` header, then ``task,n,seconds`` lines."""

        name = "csv-costs"

        def sniff(self, path, head):
            return head.startswith(b"# csv-costs")

        def iter_lines(self, path, summary, on_bytes=None, start=0, end=None, context=None):
            return get_format("autotvm").iter_lines(path, summary, on_bytes, start, end)

        def decode(self, item, context=None):
            task, n, seconds = item.decode().split(",")
            return Record(target="llvm", task_name=task, args=[int(n)], config_index=0,
                          entity=[], costs=(float(seconds),), error_no=0, all_cost=0.0,
                          timestamp=0.0)

    register_format(CsvCosts())
    assert formats.format_names()[-1] == "autotvm"  # the fallback stays last
    path = tmp_path / "costs.log"
    path.write_text("# csv-costs\nadd,4,0.5\nadd,4,0.25\nmul,2,1.0\n")
    assert {k: r.mean_cost for k, r in load_best(path).items()} == {"add(4)": 0.25,
                                                                    "mul(2)": 1.0}
    result = featurize_log(path, tmp_path / "out")
    assert result.n_records == 3 and set(result.tables) == {("llvm", "add"), ("llvm", "mul")}
    with pytest.raises(ValueError, match="taken"):
        register_format(CsvCosts())
    with pytest.raises(ValueError, match="known"):
        get_format("nope")


def test_plain_decode_agrees_with_decode_on_real_lines():
    from adatune.records.formats.autotvm import decode_plain

    n_plain = 0
    for path in sorted(NNFUSION.glob("*.log")):
        for raw in path.read_bytes().splitlines()[:400]:
            fields = decode_plain(raw)
            record = decode(raw)
            if fields is not None:
                n_plain += 1
                costs = list(record.costs) if record.error_no == 0 else fields[5]
                assert fields == (record.target, record.task_name, record.args,
                                  record.entity, record.error_no, costs)
    assert n_plain > 1500  # most real lines are plain


def test_record_layers_have_no_import_cycles():
    import ast

    root = Path(__file__).resolve().parents[1] / "python" / "adatune"
    layers = ("records", "featurize", "space", "task", "templates", "lorien")
    modules = {}
    for path in root.rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        modules[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    graph = {}
    for name, (path, is_pkg) in modules.items():
        base = name.split(".") if is_pkg else name.split(".")[:-1]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):  # function-level imports too
            if isinstance(node, ast.ImportFrom):
                mod = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else node.module
                for alias in node.names:
                    targets.add(f"{mod}.{alias.name}" if f"{mod}.{alias.name}" in modules else mod)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module" \
                    and node.args and isinstance(node.args[0], ast.Constant):
                targets.add(node.args[0].value)
        edges = set()
        for target in targets:  # importing a.b.c imports a.b too (but not our own parents)
            pieces = str(target).split(".")
            for i in range(2, len(pieces) + 1):
                dep = ".".join(pieces[:i])
                if dep in modules and dep != name and not name.startswith(dep + "."):
                    edges.add(dep)
        graph[name] = edges
    mine = {m for m in modules if m.count(".") and m.split(".")[1] in layers}

    def reaches(start, goal, seen):
        for nxt in graph.get(start, ()):
            if nxt == goal:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if reaches(nxt, goal, seen):
                    return True
        return False

    cycles = sorted(m for m in mine if reaches(m, m, set()))
    assert not cycles, f"modules on an import cycle: {cycles}"

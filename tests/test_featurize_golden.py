"""``adatune featurize`` output pinned byte for byte on a small mixed real log.

The input is built from real data: the first 120 lines of each log in
../shared/data/autotvm/nnfusion_osdi20/ (microsoft/nnfusion @ 4d652edd49c4, AutoTVM v0.1),
the same records re-encoded as v0.2 lines for a second target, comment, blank and
malformed lines, a column that turns categorical midway, and the MetaSchedule database
../shared/data/metaschedule/web-llm (mlc-ai/web-llm @ 89bbaa4c9a4c).  The expected
tables in tests/data/featurize_golden/ were written by the implementation before the
featurize fast path (commit 59768bf); any change to the CSV or meta.json bytes, or to
the read accounting, fails here.  Regenerate (only for an intended format change) with
``ADATUNE_REGEN_GOLDEN=1 python -m pytest tests/test_featurize_golden.py``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest

from _shared_data import DATA, require_shared
from adatune.featurize import featurize_log
from adatune.records import decode, encode

HERE = Path(__file__).resolve().parent
NNFUSION = DATA / "autotvm" / "nnfusion_osdi20"
WEBLLM = DATA / "metaschedule" / "web-llm"

pytestmark = require_shared(NNFUSION, WEBLLM)
GOLDEN = HERE / "data" / "featurize_golden"


def _build_input(root: Path) -> Path:
    lines = ["# golden featurize input", ""]
    for path in sorted(NNFUSION.glob("*.log")):
        head = path.read_text().splitlines()[:120]
        lines.extend(head)
        for i, line in enumerate(head[:40]):
            rec = decode(line)
            # v0.2 lines of another target; every 7th has an "ot" knob turned to text,
            # so that column becomes categorical after numbers were seen
            entity = [list(k) for k in rec.entity]
            if i % 7 == 3:
                entity[-1] = [entity[-1][0], "ot", "text%d" % (i % 2)]
            lines.append(encode(dataclasses.replace(
                rec, target="llvm -mcpu=skylake", version=0.2, extra={}, entity=entity)))
        lines.append("{broken json")
        lines.append('{"input": ["cuda", "t", [1], []], "config": {}, "result": []}')
        lines.append("   ")
    root.mkdir(parents=True)
    (root / "mixed.log").write_text("\n".join(lines) + "\n")
    shutil.copytree(WEBLLM, root / "webllm_db")
    return root


def _outputs(out: Path) -> dict:
    return {str(p.relative_to(out)): p.read_bytes()
            for p in sorted(out.rglob("*")) if p.is_file()}


def _summary(result) -> dict:
    s = result.summary
    return {"kept": s.kept, "rejected": s.rejected, "comments": s.comments,
            "blank": s.blank, "files": s.files, "n_records": result.n_records,
            "errors": [[Path(e.path).name, e.line, e.reason, e.message] for e in s.errors]}


@pytest.mark.parametrize("buffer_rows", [4096, 7])
def test_output_matches_golden(tmp_path, buffer_rows):
    src = _build_input(tmp_path / "in")
    out = tmp_path / "out"
    result = featurize_log(src, out, buffer_rows=buffer_rows)
    got = _outputs(out)
    got["summary.json"] = (json.dumps(_summary(result), indent=1) + "\n").encode()
    if os.environ.get("ADATUNE_REGEN_GOLDEN") and buffer_rows == 4096:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        for name, data in got.items():
            (GOLDEN / name).parent.mkdir(parents=True, exist_ok=True)
            (GOLDEN / name).write_bytes(data)
    want = _outputs(GOLDEN)
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], f"{name} differs from the golden output"
    assert result.summary.rejected == 10 and result.n_records > 800


def _edge_lines() -> list:
    """Lines at the edges of what the fast path takes, valid and not, built from a
    real record of all_tuned_topi_dense.1000.log."""
    real = (NNFUSION / "all_tuned_topi_dense.1000.log").read_text().splitlines()[:3]
    base = json.loads(real[0])
    out = list(real)

    def variant(fn):
        obj = json.loads(json.dumps(base))
        fn(obj)
        out.append(json.dumps(obj))

    def setr(i, v):
        return lambda o: o["r"].__setitem__(i, v)

    def setcfg(k, v):
        return lambda o: o["i"][5].__setitem__(k, v)

    for fn in [setr(1, True), setr(1, -1), setr(1, 1.0), setr(0, [1, 2]), setr(0, []),
               setr(0, [1e-3, "x"]), setr(2, "slow"), setr(3, None), setr(3, False),
               setcfg("i", True), setcfg("i", 1.5), setcfg("t", 3), setcfg("c", 7),
               setcfg("c", "abc"), setcfg("e", {}), setcfg("e", [["k", "sp"]]),
               setcfg("e", [["k", "sp", [1, [2, 3]]]]), setcfg("e", [["k", "ot", [1, 2]]]),
               setcfg("e", [["k", "ot", {"a": 1}]]), setcfg("e", [[1, "sp", [1, 2]]]),
               setcfg("e", [["k", "sp", [True, None, "s", 2.5]]]),
               setcfg("e", [["k", "xx", 4], ["m", "an", ["unroll", "vec"]]]),
               lambda o: o["i"].__setitem__(3, {"layout": "NCHW"}),
               lambda o: o["i"].__setitem__(2, [["TENSOR", [1, 2], "float32"], True]),
               lambda o: o["i"].__setitem__(1, "conv2d_NCHWc.x86"),
               lambda o: o["i"].__setitem__(0, 5),
               lambda o: o.__setitem__("adatune", {"note": 1}),
               lambda o: o.__setitem__("extra_key", 1),
               lambda o: o["i"].pop()]:
        variant(fn)
    v02 = {"input": ["llvm", "dense_nopack.x86", [["TENSOR", [4, 8], "float32"]], []],
           "config": {"index": 3, "code_hash": None,
                      "entity": [["tile_y", "sp", [-1, 2]], ["unroll", "ot", 1]]},
           "result": [[1e-4, 2e-4], 0, 0.5, 1.0], "version": 0.2, "tvm_version": "0.27"}
    # a workload argument turning from numbers to text within one task and knob layout
    for dtype in (32, 16, "float32", 32, "int8", None, 8):
        obj = json.loads(json.dumps(v02))
        obj["input"][2] = [[4, 8, dtype]]
        out.append(json.dumps(obj))
    out.append(json.dumps(v02))
    for key, value in [("version", True), ("version", "0.2"), ("tvm_version", 27),
                       ("adatune", {"template_key": "direct"})]:
        obj = json.loads(json.dumps(v02))
        obj[key] = value
        out.append(json.dumps(obj))
    obj = json.loads(json.dumps(v02))
    obj["config"]["index"] = "3"
    out.append(json.dumps(obj))
    out.append(json.dumps(v02).replace("0.0001", "NaN"))
    out.append(json.dumps(v02).replace("0.0001", "1e400"))
    out.append("[1, 2]")
    return out


@pytest.mark.parametrize("buffer_rows", [64, 3])
def test_fast_path_equals_record_path(tmp_path, monkeypatch, buffer_rows):
    """Every line, valid or not, gives the same tables and accounting whether the
    fast line path or the Record path (decode + record_values) featurizes it."""
    from adatune.records import get_format

    src = _build_input(tmp_path / "in")
    with open(src / "mixed.log", "a") as f:
        f.write("\n".join(_edge_lines()) + "\n")
    fast = featurize_log(src, tmp_path / "fast", buffer_rows=buffer_rows)

    # a format without a plain decode is featurized through records only
    monkeypatch.setattr(get_format("autotvm"), "decode_plain", None)
    slow = featurize_log(src, tmp_path / "slow", buffer_rows=buffer_rows)
    assert _summary(fast) == _summary(slow)
    assert fast.summary.rejected > 20  # the invalid edge lines were seen and refused
    assert _outputs(tmp_path / "fast") == _outputs(tmp_path / "slow")

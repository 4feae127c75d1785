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

from adatune.featurize import featurize_log
from adatune.records import decode, encode

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
NNFUSION = DATA / "autotvm" / "nnfusion_osdi20"
WEBLLM = DATA / "metaschedule" / "web-llm"
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

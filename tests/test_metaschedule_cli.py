"""``adatune ms-tune``: a TVMScript file tuned end to end, and its error messages."""
from __future__ import annotations

import json

import numpy as np
import pytest

tvm = pytest.importorskip("tvm")

from adatune.cli import main  # noqa: E402

SCRIPT = '''
from tvm.script import tirx as T

@T.prim_func(s_tir=True)
def add_one(A: T.Buffer((64, 64), "float32"), B: T.Buffer((64, 64), "float32")):
    T.func_attr({"global_symbol": "main"})
    for i, j in T.grid(64, 64):
        with T.sblock("B"):
            vi, vj = T.axis.remap("SS", [i, j])
            B[vi, vj] = A[vi, vj] + T.float32(1.0)
'''


def test_ms_tune_tvmscript_file(tmp_path, capsys):
    path = tmp_path / "add_one.py"
    path.write_text(SCRIPT)
    work = tmp_path / "work"
    rc = main(["ms-tune", str(path), "--work-dir", str(work), "--trials", "4", "--per-iter", "4",
               "--num-cores", "2", "--seed", "0"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "best latency:" in out
    lines = (work / "database_tuning_record.json").read_text().splitlines()
    assert 1 <= len(lines) <= 4 and all(json.loads(line) for line in lines)
    # The database applies: the best schedule computes A + 1.
    import tvm.s_tir.meta_schedule as ms

    from adatune.cli.ms_tune import load_tvmscript

    mod = load_tvmscript(str(path))
    db = ms.database.JSONDatabase(work_dir=str(work), allow_missing=False)
    # MetaSchedule keys the workload by the PrimFunc it normalised (noalias added).
    sch = ms.tir_integration.compile_tir(db, mod["main"], tvm.target.Target({"kind": "llvm", "num-cores": 2}))
    lib = tvm.compile(sch.mod, target="llvm")
    a = np.random.default_rng(0).standard_normal((64, 64)).astype("float32")
    b = tvm.runtime.tensor(np.zeros_like(a))
    lib["main"](tvm.runtime.tensor(a), b)
    np.testing.assert_allclose(b.numpy(), a + 1, rtol=1e-6)


def test_ms_tune_target_is_the_host_cpu():
    from adatune.cli.ms_tune import _target
    from adatune.task.target import as_target

    host = as_target("llvm")
    assert str(_target("llvm", None)) == str(host)  # mcpu included: not generic x86-64
    assert int(_target("llvm", 1).attrs["num-cores"]) == 1
    assert _target('{"kind": "llvm", "mcpu": "core-avx2"}', 2).attrs["mcpu"] == "core-avx2"
    with pytest.raises(ValueError, match="--target: .*old-style"):
        _target("llvm -mcpu=core-avx2", None)


def test_ms_tune_errors(tmp_path, capsys):
    assert main(["ms-tune", str(tmp_path / "missing.py"), "--work-dir", str(tmp_path)]) == 1
    assert "no such TVMScript file" in capsys.readouterr().err
    assert main(["ms-tune", "matmul-xyz", "--work-dir", str(tmp_path)]) == 1
    assert "unknown workload" in capsys.readouterr().err
    assert main(["ms-tune", "matmul-64", "--work-dir", str(tmp_path), "--target", "c"]) == 1
    assert "not supported" in capsys.readouterr().err
    bad = tmp_path / "two.py"
    bad.write_text(SCRIPT + SCRIPT.replace("add_one", "add_two").replace("from tvm.script", "#"))
    assert main(["ms-tune", str(bad), "--work-dir", str(tmp_path)]) == 1
    assert "exactly one" in capsys.readouterr().err
    assert main(["ms-tune", "matmul-64", "--work-dir", str(tmp_path), "--trials", "0"]) == 1
    assert "--trials" in capsys.readouterr().err

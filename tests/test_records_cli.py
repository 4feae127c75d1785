"""``adatune records ...`` and ``adatune featurize`` end to end, in process.

Data: ../shared/data/autotvm/nnfusion_osdi20/all_tuned_topi_dense.1000.log (microsoft/nnfusion
@ 4d652edd49c4) and ../shared/data/metaschedule/web-llm (mlc-ai/web-llm @ 89bbaa4c9a4c).
"""
from __future__ import annotations

from _postgres import postgres_url  # noqa: F401  (session fixture)
from _shared_data import DATA, require_shared
from adatune.cli import main
from adatune.records import iter_records, load_best

DENSE = DATA / "autotvm" / "nnfusion_osdi20" / "all_tuned_topi_dense.1000.log"

pytestmark = require_shared(DENSE, DATA / "metaschedule" / "web-llm")


def test_summary(capsys, tmp_path):
    bad = tmp_path / "bad.log"
    bad.write_text(DENSE.read_text().splitlines()[0] + "\n{oops\n# note\n")
    assert main(["records", "summary", str(bad)]) == 0
    out = capsys.readouterr().out
    assert "lines read: 3, kept: 1, rejected: 1" in out
    assert f"{bad}:2: bad_json" in out
    assert main(["records", "summary", str(DATA / "metaschedule" / "web-llm")]) == 0
    out = capsys.readouterr().out
    assert "kept: 19" in out and "| T_take |" in out


def test_best(capsys, tmp_path):
    out = tmp_path / "best.log"
    assert main(["records", "best", str(DENSE), "--nbest", "2", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    best = load_best(DENSE)
    assert len(lines) == 2 * len(best)
    assert load_best(out) == best
    assert main(["records", "best", str(DENSE), "--nbest", "0"]) == 1
    assert "nbest" in capsys.readouterr().err


def test_commit_query_export_sqlite(capsys, tmp_path):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["records", "commit", str(DENSE), "--db", db, "--nbest", "3"]) == 0
    assert "new record(s) stored" in capsys.readouterr().out
    assert main(["records", "query", "--db", db, "--target", "cuda", "--nbest", "1"]) == 0
    printed = capsys.readouterr().out.splitlines()
    best = load_best(DENSE)
    assert len(printed) == len(best)
    out = tmp_path / "exported.log"
    assert main(["records", "export", "--db", db, str(out)]) == 0
    assert load_best(out) == best
    for action in (["commit", str(DENSE)], ["query"], ["export", str(out)]):
        assert main(["records", *action, "--db", db, "--nbest", "0"]) == 1
        assert "nbest must be a positive int or -1" in capsys.readouterr().err


def test_commit_and_query_postgres(capsys, postgres_url, tmp_path):  # noqa: F811
    # the CLI's default table is shared on the session server: commit is idempotent,
    # so running this twice is harmless
    assert main(["records", "commit", str(DENSE), "--db", postgres_url]) == 0
    capsys.readouterr()
    assert main(["records", "query", "--db", postgres_url, "--task",
                 "tvm_matmul_tune_op"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == len(load_best(DENSE))


def test_featurize_command(capsys, tmp_path):
    out = tmp_path / "feat"
    assert main(["featurize", str(DENSE), str(out), "--no-progress"]) == 0
    assert (out / "cuda" / "tvm_matmul_tune_op.csv").is_file()
    assert (out / "cuda" / "tvm_matmul_tune_op.meta.json").is_file()
    n_rows = len((out / "cuda" / "tvm_matmul_tune_op.csv").read_text().splitlines()) - 1
    assert n_rows == sum(1 for _ in iter_records(DENSE))
    assert main(["featurize", str(tmp_path / "missing"), str(out)]) == 1
    assert "missing" in capsys.readouterr().err

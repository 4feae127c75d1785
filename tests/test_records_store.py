"""Records stores on SQLite and on a real PostgreSQL server (started by tests/_postgres.py).

Records come from ../shared/data/autotvm/nnfusion_osdi20/ (microsoft/nnfusion
@ 4d652edd49c4) and ../shared/data/metaschedule/web-llm (mlc-ai/web-llm @ 89bbaa4c9a4c).
"""
from __future__ import annotations

import multiprocessing
import uuid
from dataclasses import replace

import pytest

from _postgres import postgres_url  # noqa: F401  (session fixture)
from _shared_data import DATA, require_shared
from adatune.records import (SQLRecordsStore, iter_records, load_best, normalize_url,
                             open_store)

NNFUSION = DATA / "autotvm" / "nnfusion_osdi20"
DENSE = NNFUSION / "all_tuned_topi_dense.1000.log"
CONV = NNFUSION / "relay_deepspeech2_tuned_conv2d.1000.log"

pytestmark = require_shared(DENSE, CONV, DATA / "metaschedule" / "web-llm")


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'records.db'}"
    return request.getfixturevalue("postgres_url")


def _open(url):
    # a table per test keeps tests on the shared PostgreSQL server independent
    return SQLRecordsStore(url, table=f"t_{uuid.uuid4().hex[:12]}")


def _expected_top(records, nbest):
    groups = {}
    for r in records:
        if r.ok:
            groups.setdefault((r.target, r.workload_key, r.layout), []).append(r)
    return {k: sorted(v, key=lambda r: r.mean_cost)[:nbest] for k, v in groups.items()}


def test_commit_is_idempotent_and_keeps_best_n(store_url):
    records = list(iter_records(DENSE))
    store = _open(store_url)
    try:
        first = store.commit(records, nbest=5)
        expected = _expected_top(records, 5)
        assert first == sum(len(v) for v in expected.values())
        assert store.commit(records, nbest=5) == 0  # the same records: nothing new
        assert store.commit(records[:100] + records[:100], nbest=5) == 0
        assert store.count() == first
        got = store.query(target="cuda", nbest=5)
        by_key = {}
        for r in got:
            by_key.setdefault((r.target, r.workload_key, r.layout), []).append(r)
        assert {k: [r.mean_cost for r in v] for k, v in by_key.items()} == \
            {k: [r.mean_cost for r in v] for k, v in expected.items()}
        # best first within a workload; nbest=1 gives load_best's answer
        best = store.query(target="cuda", nbest=1)
        assert {r.workload_key: r for r in best} == load_best(records)
        key = best[0].workload_key
        assert [r.workload_key for r in store.query(workload=key)] == [key] * 5
        assert store.query(target="llvm") == []
        assert store.query(task="no_such_task") == []
    finally:
        store.close()


def test_query_filters_target_task_and_export_round_trip(store_url, tmp_path):
    store = _open(store_url)
    try:
        conv = list(iter_records(CONV))
        dense = list(iter_records(DENSE))
        ms = list(iter_records(DATA / "metaschedule" / "web-llm"))
        store.commit(conv + dense + ms, nbest=3)
        assert {r.task_name for r in store.query(target="cuda -model=unknown")} == \
            {"topi_nn_conv2d"}
        assert {r.task_name for r in store.query(target="cuda")} == \
            {"topi_nn_conv2d", "tvm_matmul_tune_op"}
        assert {r.target for r in store.query(task="tvm_matmul_tune_op")} == {"cuda"}
        metal = store.query(target="metal", nbest=1)
        assert metal and all(r.extra.get("ms_trace") for r in metal)
        out = tmp_path / "best.log"
        n = store.export(out, target="cuda", nbest=1)
        exported = load_best(out)
        assert n == len(exported) == len(load_best(conv + dense))
        assert exported == load_best(conv + dense)
    finally:
        store.close()


def _commit_worker(url, table, lines, nbest):
    from adatune.records import SQLRecordsStore, decode

    store = SQLRecordsStore(url, table=table)
    records = [decode(line) for line in lines]
    # several small commits per process: many interleavings with the other writers
    for i in range(0, len(records), 25):
        store.commit(records[i:i + 25], nbest=nbest)
    store.close()


@pytest.mark.parametrize("nbest", [-1, 4])
def test_concurrent_commits_from_processes_lose_nothing(store_url, nbest):
    from adatune.records import encode

    table = f"c_{uuid.uuid4().hex[:12]}"
    SQLRecordsStore(store_url, table=table).close()  # create the table once
    ok = [r for r in iter_records(DENSE) if r.ok][:400]
    # four writers, each with its own records of the same workloads
    shares = [[encode(r) for r in ok[i::4]] for i in range(4)]
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_commit_worker, args=(store_url, table, s, nbest))
             for s in shares]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = SQLRecordsStore(store_url, table=table)
    try:
        stored = store.query(nbest=-1)
        if nbest == -1:
            assert sorted(map(encode, stored)) == sorted(map(encode, ok))
        else:
            want = _expected_top(ok, nbest)
            got = {}
            for r in stored:
                got.setdefault((r.target, r.workload_key, r.layout), []).append(r.mean_cost)
            assert got == {k: [r.mean_cost for r in v] for k, v in want.items()}
    finally:
        store.close()


def test_commit_skips_failed_and_validates(tmp_path):
    store = open_store(tmp_path / "r.db")
    records = list(iter_records(DENSE))
    failed = [r for r in records if not r.ok]
    assert failed and store.commit(failed) == 0 and store.count() == 0
    with pytest.raises(ValueError, match="nbest"):
        store.commit(records, nbest=0)
    with pytest.raises(TypeError, match="Record"):
        store.commit(["not a record"])
    with pytest.raises(TypeError, match="commit_batch"):
        SQLRecordsStore(tmp_path / "b.db", commit_batch="10")
    with pytest.raises(ValueError, match="commit_batch"):
        SQLRecordsStore(tmp_path / "b.db", commit_batch=0)
    # the same record pushed with another cost is another record
    r = next(r for r in records if r.ok)
    assert store.commit([r, replace(r, costs=(r.costs[0] * 2,))]) == 2
    assert [x.costs for x in store.query()] == [r.costs, (r.costs[0] * 2,)]
    store.close()


def test_sqlite_store_uses_wal(tmp_path):
    store = SQLRecordsStore(tmp_path / "wal.db")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    store.close()


def test_urls():
    assert normalize_url("/x/y.db") == "sqlite:////x/y.db"
    assert normalize_url("postgresql://u@h:1/d") == "postgresql+psycopg://u@h:1/d"
    assert normalize_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    with pytest.raises(ValueError, match="unsupported"):
        normalize_url("mysql://u@h/d")


def test_commit_of_a_stream_in_small_batches_equals_one_batch(tmp_path):
    records = list(iter_records(DENSE))
    whole = SQLRecordsStore(tmp_path / "a.db")
    streamed = SQLRecordsStore(tmp_path / "b.db", commit_batch=97)
    whole.commit(records, nbest=3)
    streamed.commit(iter_records(DENSE), nbest=3)  # a generator, 14 transactions
    assert streamed.query() == whole.query()
    whole.close()
    streamed.close()
    with pytest.raises(ValueError, match="commit_batch"):
        SQLRecordsStore(tmp_path / "c.db", commit_batch=0)

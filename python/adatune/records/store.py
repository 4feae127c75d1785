"""Records stores: best-N records per (target, workload, layout) in a SQL database.

:class:`RecordsStore` is the interface; :class:`SQLRecordsStore` implements it with
SQLAlchemy Core on SQLite (the embedded default, WAL mode) or PostgreSQL (a shared
server, ``postgresql://user@host:port/db``).  :func:`open_store` picks by URL.

Several processes may commit at once: on SQLite every commit is one ``BEGIN
IMMEDIATE`` transaction (writers queue on the database lock, readers keep reading
thanks to WAL); on PostgreSQL each commit takes a transaction-scoped advisory lock
per (target, workload, layout) group it touches, so two writers never prune the same
group from different snapshots.
"""
from __future__ import annotations

import abc
import hashlib
import itertools
import logging
import os
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect

from .._checks import check_positive_int
from ..errors import ArgumentError, ArgumentTypeError
from ._gc import paused_gc
from .formats.autotvm import decode, encode
from .record import Record
from .target import target_kind, target_str
from .tune_records import check_nbest

__all__ = ["RecordsStore", "SQLRecordsStore", "open_store", "normalize_url"]

logger = logging.getLogger(__name__)

_INSERT_CHUNK = 500
_SQLITE_BUSY_TIMEOUT_S = 120.0


class RecordsStore(abc.ABC):
    """Where best records are kept and looked up."""

    @abc.abstractmethod
    def commit(self, records: Iterable[Record], nbest: int = 20) -> int:
        """Store successful records keeping the best ``nbest`` per (target, workload,
        layout); storing a record already there changes nothing.  Returns how many
        records were new."""

    @abc.abstractmethod
    def query(self, target: Any = None, task: Optional[str] = None,
              workload: Optional[str] = None, nbest: int = -1) -> List[Record]:
        """Records of a target (a full target string, or a bare kind such as ``"cuda"``;
        None for all), optionally one task name or workload key, at most ``nbest`` per
        (target, workload, layout), ordered by workload then best first."""

    @abc.abstractmethod
    def count(self) -> int:
        """Number of records stored."""

    def export(self, path: Union[str, os.PathLike], target: Any = None,
               nbest: int = 1) -> int:
        """Write the best records as an AutoTVM log (TopHub style); returns lines written."""
        records = self.query(target=target, nbest=nbest)
        path = Path(path)
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            for record in records:
                f.write(encode(record))
                f.write("\n")
        return len(records)

    def close(self) -> None:
        """Release connections."""

    def __enter__(self) -> "RecordsStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def normalize_url(url: Union[str, os.PathLike]) -> str:
    """SQLAlchemy URL for a store location.

    A plain path means a SQLite file; ``postgresql://`` and ``postgres://`` URLs use the
    psycopg 3 driver.
    """
    text = os.fspath(url)
    if "://" not in text:
        return "sqlite:///" + os.path.abspath(text)
    scheme, rest = text.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg://" + rest
    if scheme.startswith(("sqlite", "postgresql+")):
        return text
    raise ArgumentError(f"unsupported records store URL {text!r}: use a path, sqlite:///PATH "
                        "or postgresql://USER@HOST:PORT/DB")


def _group_lock_key(group: Tuple[str, str, str]) -> int:
    digest = hashlib.blake2b("\x1f".join(group).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class SQLRecordsStore(RecordsStore):
    """A records store in a SQL database (SQLite or PostgreSQL) via SQLAlchemy Core.

    Parameters
    ----------
    url : str or path
        A SQLite file path or URL (``sqlite:///records.db``), or a PostgreSQL URL.
    table : str
        Table name, so several stores can share one database.
    commit_batch : int
        Records per transaction when :meth:`commit` is given a long iterable.
    """

    def __init__(self, url: Union[str, os.PathLike], table: str = "adatune_records",
                 commit_batch: int = 20_000):
        self.commit_batch = check_positive_int(commit_batch, "commit_batch", "SQLRecordsStore")
        self.url = normalize_url(url)
        sa_url = sa.engine.make_url(self.url)
        self.dialect = sa_url.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise ArgumentError(f"unsupported database {self.dialect!r} in {url!r}")
        if self.dialect == "sqlite":
            if sa_url.database and sa_url.database != ":memory:":
                Path(sa_url.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(
                self.url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S,
                                        "isolation_level": None})
            sa.event.listen(self.engine, "connect", _sqlite_on_connect)
            sa.event.listen(self.engine, "begin", _sqlite_on_begin)
        else:
            self.engine = sa.create_engine(self.url, pool_pre_ping=True)
        self.metadata = sa.MetaData()
        self.table = sa.Table(
            table, self.metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("record_hash", sa.String(40), nullable=False, unique=True),
            sa.Column("target", sa.Text, nullable=False),
            sa.Column("target_kind", sa.String(64), nullable=False),
            sa.Column("task_name", sa.Text, nullable=False),
            sa.Column("workload_key", sa.Text, nullable=False),
            sa.Column("layout", sa.String(128), nullable=False),
            sa.Column("cost", sa.Float, nullable=False),
            sa.Column("timestamp", sa.Float, nullable=False),
            sa.Column("line", sa.Text, nullable=False),
            sa.Index(f"ix_{table}_group", "target", "workload_key", "layout", "cost"),
            sa.Index(f"ix_{table}_kind", "target_kind"),
        )
        try:
            with self.engine.begin() as conn:
                self.metadata.create_all(conn, checkfirst=True)
        except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
            # Another process created the table between our check and our CREATE.
            with self.engine.begin() as conn:
                self.metadata.create_all(conn, checkfirst=True)

    def __repr__(self) -> str:
        return f"SQLRecordsStore({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self.engine.dispose()

    def _reader(self):
        return self.engine.connect().execution_options(adatune_read_only=True)

    # ------------------------------------------------------------------ writing
    def _rows(self, records: Iterable[Record]) -> List[Dict[str, Any]]:
        rows: Dict[str, Dict[str, Any]] = {}
        for record in records:
            if not isinstance(record, Record):
                raise ArgumentTypeError(f"commit expects Record objects, got {type(record).__name__}")
            if not record.ok:
                continue
            line = encode(record)
            digest = hashlib.sha1(line.encode("utf-8")).hexdigest()
            rows[digest] = {
                "record_hash": digest, "target": record.target,
                "target_kind": target_kind(record.target)[:64],
                "task_name": record.task_name, "workload_key": record.workload_key,
                "layout": record.layout[:128], "cost": record.mean_cost,
                "timestamp": record.timestamp, "line": line,
            }
        return list(rows.values())

    def _insert(self):
        if self.dialect == "sqlite":
            return sqlite_dialect.insert(self.table).on_conflict_do_nothing(
                index_elements=["record_hash"])
        return pg_dialect.insert(self.table).on_conflict_do_nothing(
            index_elements=["record_hash"])

    def commit(self, records: Iterable[Record], nbest: int = 20) -> int:
        """See :meth:`RecordsStore.commit`.

        A long iterable (a whole log) is consumed in batches of ``commit_batch``
        records, one transaction each, so memory stays bounded.
        """
        nbest = check_nbest(nbest, "commit")
        inserted = 0
        iterator = iter(records)
        with paused_gc():
            while True:
                batch = list(itertools.islice(iterator, self.commit_batch))
                if not batch:
                    break
                inserted += self._commit_batch(batch, nbest)
        return inserted

    def _commit_batch(self, records: List[Record], nbest: int) -> int:
        if nbest != -1:
            # A record outside its batch's own best-N can never be in the store's
            # best-N: drop it before encoding and sending it.
            records = _batch_best(records, nbest)
        rows = self._rows(records)
        if not rows:
            return 0
        groups = sorted({(r["target"], r["workload_key"], r["layout"]) for r in rows})
        t = self.table
        inserted = 0
        with self.engine.begin() as conn:
            if self.dialect == "postgresql":
                # Sorted order: two writers never wait on each other's locks in a cycle.
                for key in sorted({_group_lock_key(g) for g in groups}):
                    conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
            hashes = [r["record_hash"] for r in rows]
            before = self._count_present(conn, hashes)
            for i in range(0, len(rows), _INSERT_CHUNK):
                conn.execute(self._insert(), rows[i:i + _INSERT_CHUNK])
            if nbest != -1:
                for target, workload, layout in groups:
                    in_group = sa.and_(t.c.target == target, t.c.workload_key == workload,
                                       t.c.layout == layout)
                    keep = (sa.select(t.c.id).where(in_group)
                            .order_by(t.c.cost, t.c.id).limit(nbest))
                    conn.execute(sa.delete(t).where(in_group, t.c.id.not_in(keep)))
            # New = present now and not before (a record pruned at once is not new).
            inserted = self._count_present(conn, hashes) - before
        logger.info("committed %d new record(s) into %d group(s)", inserted, len(groups))
        return inserted

    def _count_present(self, conn, hashes: List[str]) -> int:
        t = self.table
        total = 0
        for i in range(0, len(hashes), _INSERT_CHUNK):
            total += conn.execute(sa.select(sa.func.count()).select_from(t).where(
                t.c.record_hash.in_(hashes[i:i + _INSERT_CHUNK]))).scalar_one()
        return total

    # ------------------------------------------------------------------ reading
    def _where(self, target: Any, task: Optional[str], workload: Optional[str]):
        t = self.table
        conds = []
        if target is not None:
            wanted = target_str(target)
            if wanted.startswith("{") or " " in wanted.strip():
                conds.append(t.c.target == wanted)
            else:
                conds.append(sa.or_(t.c.target == wanted, t.c.target_kind == wanted))
        if task is not None:
            conds.append(t.c.task_name == task)
        if workload is not None:
            conds.append(t.c.workload_key == workload)
        return conds

    def query(self, target: Any = None, task: Optional[str] = None,
              workload: Optional[str] = None, nbest: int = -1) -> List[Record]:
        nbest = check_nbest(nbest, "query")
        t = self.table
        rank = sa.func.row_number().over(
            partition_by=(t.c.target, t.c.workload_key, t.c.layout),
            order_by=(t.c.cost, t.c.id)).label("rank")
        inner = sa.select(t.c.line, t.c.target, t.c.workload_key, t.c.cost, t.c.id,
                          rank).where(*self._where(target, task, workload)).subquery()
        stmt = sa.select(inner.c.line).order_by(inner.c.target, inner.c.workload_key,
                                                inner.c.cost, inner.c.id)
        if nbest != -1:
            stmt = stmt.where(inner.c.rank <= nbest)
        with self._reader() as conn:
            return [decode(line) for line in conn.execute(stmt).scalars()]

    def count(self) -> int:
        with self._reader() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self.table))
                       .scalar_one())


def _batch_best(records: List[Record], nbest: int) -> List[Record]:
    groups: Dict[Tuple[str, str, str], List[Record]] = {}
    for record in records:
        if not isinstance(record, Record):
            raise ArgumentTypeError(f"commit expects Record objects, got {type(record).__name__}")
        if record.ok:
            groups.setdefault((record.target, record.workload_key, record.layout),
                              []).append(record)
    kept: List[Record] = []
    for group in groups.values():
        if len(group) > nbest:
            # sorted() is stable: equal costs keep their order, as the store's tie-break
            group = sorted(group, key=lambda r: r.mean_cost)[:nbest]
        kept.extend(group)
    return kept


def _sqlite_on_connect(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(_SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _sqlite_on_begin(conn) -> None:
    # Writers take the write lock at the start: a deferred transaction that reads, then
    # writes, fails with "database is locked" instead of waiting for another writer.
    if conn.get_execution_options().get("adatune_read_only"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def open_store(url: Union[str, os.PathLike, RecordsStore, None] = None) -> RecordsStore:
    """Open a records store by URL or path (``$ADATUNE_RECORDS_DB`` or
    ``~/.adatune/records.db`` when None); a store passes through unchanged."""
    if isinstance(url, RecordsStore):
        return url
    if url is None:
        url = os.environ.get("ADATUNE_RECORDS_DB") or \
            os.path.join(os.path.expanduser("~"), ".adatune", "records.db")
    return SQLRecordsStore(url)

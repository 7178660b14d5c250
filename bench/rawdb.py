"""The storage limits: the same rows written raw into the same database, as fast as it goes.

Two limits, one transaction per batch of the size the broker receives per request. SQLite
takes rows by ``executemany`` into a fresh WAL file, over one connection (it has one writer at
a time); PostgreSQL by ``COPY``, in the cluster the broker uses, over one connection for the
entities and over as many as the load has clients for the stored rows.

- *The entities*: one table (id primary key, JSON document), what no broker built on the same
  database can beat with the same batches.
- *The stored rows*: every row the broker itself wrote for them (entity rows, value index,
  geometry, history series, instances and day rollups, audit), copied raw into empty tables
  of the same definitions. What it leaves out is the broker's own work (HTTP, JSON-LD,
  checks, building rows), so the broker's rate against it is what that work costs, and the
  gap between the two limits is what the data model costs.
"""

from __future__ import annotations

import concurrent.futures
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from psycopg import sql

Row = tuple[str, str]


def raw_insert_rate(path: Path, batches: Sequence[Sequence[Row]]) -> float:
    """Insert every batch into a new SQLite file at ``path``; return rows per second."""
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE entity (id TEXT PRIMARY KEY, doc TEXT NOT NULL)")
        rows = 0
        start = time.perf_counter()
        for batch in batches:
            db.execute("BEGIN")
            db.executemany("INSERT INTO entity (id, doc) VALUES (?, ?)", batch)
            db.execute("COMMIT")
            rows += len(batch)
        elapsed = time.perf_counter() - start
    finally:
        db.close()
    return rows / elapsed


def raw_copy_rate(url: str, batches: Sequence[Sequence[Row]]) -> float:
    """COPY every batch into a new table of the PostgreSQL database at ``url``; return rows per second."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE entity (id text PRIMARY KEY, doc jsonb NOT NULL)")
        rows = 0
        start = time.perf_counter()
        for batch in batches:
            with conn.transaction(), conn.cursor() as cur, cur.copy("COPY entity (id, doc) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(row)
            rows += len(batch)
        elapsed = time.perf_counter() - start
    return rows / elapsed


def _parts(rows: Sequence[Any], count: int) -> list[Sequence[Any]]:
    """``rows`` cut into ``count`` consecutive parts of (nearly) equal length."""
    return [rows[i * len(rows) // count:(i + 1) * len(rows) // count] for i in range(count)]


class StoredRows(NamedTuple):
    rate: float  # entities per second
    rows: int  # rows copied, over all tables
    tables: int  # tables that held rows


def stored_rows_rate(source: Path, target: Path, entities: int, transactions: int) -> StoredRows:
    """Copy every row of the broker's SQLite file ``source`` into a new file ``target`` holding
    the same tables and indexes, each table's rows in ``transactions`` consecutive parts, one
    transaction taking one part of every table."""
    target.unlink(missing_ok=True)
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as broker:
        # Shadow tables (an R*Tree's nodes, a full-text index's segments) come with their table.
        tables = [name for _, name, kind, *_ in broker.execute("PRAGMA table_list")
                  if kind in ("table", "virtual") and not name.startswith("sqlite_")]
        schema = [statement for (statement,) in broker.execute(
            f"SELECT sql FROM sqlite_schema WHERE sql IS NOT NULL AND tbl_name IN ({', '.join('?' * len(tables))}) "
            "ORDER BY type = 'index'", tables)]
        rows = {name: broker.execute(f'SELECT * FROM "{name}"').fetchall() for name in tables}
    statements = {name: f'INSERT INTO "{name}" VALUES ({", ".join("?" * len(found[0]))})'
                  for name, found in rows.items() if found}
    parts = {name: _parts(rows[name], transactions) for name in statements}
    db = sqlite3.connect(target, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        for statement in schema:
            db.execute(statement)
        start = time.perf_counter()
        for part in range(transactions):
            db.execute("BEGIN")
            for name, statement in statements.items():
                db.executemany(statement, parts[name][part])
            db.execute("COMMIT")
        elapsed = time.perf_counter() - start
    finally:
        db.close()
    return StoredRows(entities / elapsed, sum(len(rows[name]) for name in statements), len(statements))


def stored_rows_copy_rate(url: str, tenant: str, entities: int, transactions: int, connections: int) -> StoredRows:
    """Copy every row of ``tenant`` in the broker's PostgreSQL database at ``url`` into new
    tables of a schema of their own, made ``LIKE`` the broker's (columns, defaults, indexes),
    each table's rows in ``transactions`` consecutive parts by ``COPY``, one transaction taking
    one part of every table, the transactions shared out between ``connections`` connections
    working at once (as the broker's load had clients). The copies are dropped afterwards."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT set_config('territoires.tenant', %s, false)", (tenant,))
        tables = [name for (name,) in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant')")]
        lines: dict[str, list[bytes]] = {}
        for name in tables:
            # The query form: a partitioned table's own COPY TO would not read its partitions.
            copying = sql.SQL("COPY (SELECT * FROM {}) TO STDOUT").format(sql.Identifier(name))
            with conn.cursor() as cur, cur.copy(copying) as copy:
                found = b"".join(bytes(block) for block in copy).splitlines(keepends=True)
            if found:
                lines[name] = found
        conn.execute("CREATE SCHEMA raw_rows")
        try:
            for name in lines:
                conn.execute(sql.SQL("CREATE TABLE raw_rows.{} (LIKE {} INCLUDING DEFAULTS INCLUDING INDEXES)")
                             .format(sql.Identifier(name), sql.Identifier(name)))
            parts = {name: _parts(found, transactions) for name, found in lines.items()}
            payloads = [[(name, b"".join(parts[name][part])) for name in lines] for part in range(transactions)]
            elapsed = _copy_at_once(url, [payloads[n::connections] for n in range(connections)])
        finally:
            conn.execute("DROP SCHEMA raw_rows CASCADE")
    return StoredRows(entities / elapsed, sum(map(len, lines.values())), len(lines))


def _copy_at_once(url: str, shares: Sequence[Sequence[Sequence[tuple[str, bytes]]]]) -> float:
    """Seconds for one connection per share, all started together, to run its transactions
    (each a COPY into ``raw_rows`` per table)."""
    connections = [psycopg.connect(url, autocommit=True) for _ in shares]
    start = threading.Barrier(len(shares) + 1)

    def run(conn: psycopg.Connection, transactions: Sequence[Sequence[tuple[str, bytes]]]) -> None:
        start.wait()
        for transaction in transactions:
            with conn.transaction():
                for name, payload in transaction:
                    copying = sql.SQL("COPY raw_rows.{} FROM STDIN").format(sql.Identifier(name))
                    with conn.cursor() as cur, cur.copy(copying) as copy:
                        copy.write(payload)

    try:
        with concurrent.futures.ThreadPoolExecutor(len(shares)) as pool:
            running = [pool.submit(run, conn, share) for conn, share in zip(connections, shares, strict=True)]
            start.wait()
            began = time.perf_counter()
            for done in running:
                done.result()
            return time.perf_counter() - began
    finally:
        for conn in connections:
            conn.close()

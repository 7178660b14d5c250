"""The storage limits: the same rows written raw into the same database, as fast as it goes.

One table (id primary key, JSON document), one transaction per batch of the size the broker
receives per request, one connection: what no broker built on the same database can beat
with the same batches. SQLite takes them by ``executemany`` into a fresh WAL file; PostgreSQL
by ``COPY`` into a jsonb column, in the cluster the broker uses.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

import psycopg

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

"""The storage limit: the same rows inserted raw into a fresh SQLite file, as fast as SQLite goes.

One table (id primary key, JSON document), WAL journal, one transaction per batch of the
size the broker receives per request: what no broker built on the same database can beat.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

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

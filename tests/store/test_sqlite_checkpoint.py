"""WAL checkpoints leave the writers' path: a background thread copies committed pages into
the database file, so writers never pay for its fsyncs and the WAL does not grow unbounded."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from territoires.store.sqlite import SqliteStore
from territoires.store.sqlite_checkpoint import Checkpointer
from tests.contract.conftest import streetlight


def test_committed_pages_reach_the_database_file_without_a_writer_checkpointing(tmp_path: Path):
    store = SqliteStore(tmp_path)
    try:
        with store.session("", write=True) as session:
            session.insert([streetlight(n) for n in range(3000)])
        database = tmp_path / "default.db"
        size_at_commit = database.stat().st_size
        deadline = time.monotonic() + 10
        while database.stat().st_size == size_at_commit and time.monotonic() < deadline:
            time.sleep(0.05)
        assert database.stat().st_size > size_at_commit  # the pages left the WAL
    finally:
        store.close()


def test_closing_checkpoints_what_was_written_and_a_deleted_file_is_forgotten(tmp_path: Path):
    path = tmp_path / "tenant.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # this writer never checkpoints
    writer.execute("CREATE TABLE t(x)")
    writer.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,) for _ in range(2000)])
    size_before = path.stat().st_size
    checkpointer = Checkpointer(interval=60)  # never on its own during the test
    checkpointer.written(path)
    checkpointer.written(tmp_path / "gone.db")  # a tenant deleted meanwhile
    checkpointer.close()
    assert path.stat().st_size > size_before + 1_000_000
    writer.close()

"""Stores written by an older release, opened (and so upgraded) by today's code."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from territoires.store.port import DEFAULT_TENANT
from territoires.store.postgres import PostgresStore
from territoires.store.sqlite import SqliteStore
from tests import postgres


@contextmanager
def sqlite_store_of_layout(tmp_path: Path, layout: int, script: str, insert: str,
                           rows: Sequence[Sequence[Any]]) -> Iterator[SqliteStore]:
    """The store over a default tenant file made at today's layout, then taken back to ``layout``
    by ``script`` and given ``rows`` by ``insert``, as the older release left it."""
    current = SqliteStore(tmp_path)
    with current.session(DEFAULT_TENANT, write=True):
        pass
    current.close()
    older = sqlite3.connect(tmp_path / "default.db")
    older.executescript(script)
    older.executemany(insert, rows)
    older.execute(f"PRAGMA user_version = {layout}")
    older.commit()
    older.close()
    store = SqliteStore(tmp_path)
    try:
        yield store
    finally:
        store.close()


@contextmanager
def postgres_store_of_schema(schema: int, insert: str, rows: Sequence[Sequence[Any]]) -> Iterator[PostgresStore]:
    """The store over a database migrated up to ``schema`` and given ``rows`` (default tenant) by
    ``insert``, upgraded on opening."""
    with postgres.database_at(schema) as url:
        with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
            conn.execute("SELECT set_config('territoires.tenant', '', true)")
            conn.cursor().executemany(insert, rows)
        store = PostgresStore(url, upgrade=True)
        try:
            yield store
        finally:
            store.close()

"""Versioned schema migrations of the PostgreSQL backend.

Migrations are the numbered SQL files of ``postgres_migrations/`` (``0001_entities.sql``…),
applied in order, each in its own transaction, and recorded in ``schema_migrations``. An
advisory lock makes concurrent upgraders (several API processes started at once) wait for
each other instead of applying a migration twice. A migration never drops data: a later
layout is reached by transforming rows in place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import psycopg

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK = 0x7E771701  # pg_advisory_xact_lock key of the upgrader


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every migration shipped with the package, by version."""
    found = []
    for item in resources.files("territoires.store").joinpath("postgres_migrations").iterdir():
        match = _NAME.match(item.name)
        if match:
            found.append(Migration(int(match[1]), match[2], item.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


@dataclass(frozen=True)
class Status:
    """What ``territoires db upgrade|status`` reports."""

    applied: list[Migration]
    version: int
    latest: int
    not_leakproof: list[str]


def status(url: str, *, apply: bool) -> Status:
    """Connect to ``url``, apply the pending migrations if ``apply``, and report."""
    with psycopg.connect(url, autocommit=True) as conn:
        applied = upgrade(conn) if apply else []
        version = current_version(conn)
        return Status(applied, version, latest_version(), functions_not_leakproof(conn) if version else [])


def latest_version() -> int:
    return migrations()[-1].version


def current_version(conn: psycopg.Connection) -> int:
    """The version of the database's schema; 0 for an empty database."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
    if not exists:
        return 0
    return conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


def upgrade(conn: psycopg.Connection, *, target: int | None = None) -> list[Migration]:
    """Apply the migrations the database lacks, up to ``target`` (default: the latest);
    returns those applied. ``conn`` must be in autocommit mode."""
    applied = []
    for migration in migrations():
        if target is not None and migration.version > target:
            break
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                "version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            if conn.execute("SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,)).fetchone():
                continue
            conn.execute(migration.sql)
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                         (migration.version, migration.name))
            applied.append(migration)
    return applied


# Operators the geo-queries and the full-text search need in index conditions. Under row-level
# security the planner keeps a condition out of an index scan unless its function is LEAKPROOF,
# which only a superuser can declare (docs/operations.md); without it geo-queries scan every
# geometry and text searches every document.
INDEXED_FUNCTIONS = ("geometry_overlaps(geometry,geometry)", "ts_match_vq(tsvector,tsquery)")


def functions_not_leakproof(conn: psycopg.Connection) -> list[str]:
    """The functions of ``INDEXED_FUNCTIONS`` not declared LEAKPROOF in this database."""
    rows = conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.oid::regprocedure::text = ANY(%s) "
        "AND NOT p.proleakproof",
        (list(INDEXED_FUNCTIONS),),
    ).fetchall()
    return [name for (name,) in rows]

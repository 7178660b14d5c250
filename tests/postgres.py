"""The PostgreSQL side of the suite: tests run on it when ``TERRITOIRES_TEST_DATABASE_URL``
names a database (``make test`` starts a throwaway cluster when PostgreSQL is installed)."""

from __future__ import annotations

import os

import psycopg

from territoires.store.postgres import PostgresStore

URL = os.environ.get("TERRITOIRES_TEST_DATABASE_URL", "")

# The backends a backend-parametrized test runs on.
BACKENDS = ("sqlite", "postgres") if URL else ("sqlite",)

_migrated = False


def fresh_database() -> str:
    """Empty the test database (schema at the latest version, only the default tenant) and
    return its URL."""
    global _migrated
    if not _migrated:
        PostgresStore(URL, upgrade=True).close()
        _migrated = True
    with psycopg.connect(URL, autocommit=True) as conn:
        conn.execute("TRUNCATE geometries, attr_values, entities, shapes, contexts, tenants")
        conn.execute("INSERT INTO tenants (name) VALUES ('')")
    return URL


def forget_schema() -> None:
    """Let the next ``fresh_database`` apply the migrations again (after a test dropped them)."""
    global _migrated
    _migrated = False

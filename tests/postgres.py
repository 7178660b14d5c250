"""The PostgreSQL side of the suite: tests run on it when ``TERRITOIRES_TEST_DATABASE_URL``
names a database (``make test`` starts a throwaway cluster when PostgreSQL is installed)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from territoires.store import postgres_schema
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
        conn.execute("TRUNCATE history, series_days, series_days_frontier, history_series, history_kept, geometries, attr_values, entities, shapes, contexts, frames, devices, quarantine, ingestion, subscriptions, subscription_versions, outbox, notification_status, outbox_tenants, audit, text_documents, text_facets, text_tallies, api_keys, members, public_types, quotas, quota_usage, tenants")
        conn.execute("INSERT INTO tenants (name) VALUES ('')")
    return URL


def forget_schema() -> None:
    """Let the next ``fresh_database`` apply the migrations again (after a test dropped them)."""
    global _migrated
    _migrated = False


@contextmanager
def database_at(version: int) -> Iterator[str]:
    """The test database with its schema at migration ``version`` (0: none of our objects), as
    an older release left it; the latest schema is put back afterwards."""
    fresh_database()
    with psycopg.connect(URL, autocommit=True) as conn:
        # Extensions (PostGIS) belong to the superuser who created them and stay.
        conn.execute("DROP OWNED BY CURRENT_USER")
        if version:
            postgres_schema.upgrade(conn, target=version)
    try:
        yield URL
    finally:
        with psycopg.connect(URL, autocommit=True) as conn:
            conn.execute("DROP OWNED BY CURRENT_USER")
        forget_schema()
        fresh_database()

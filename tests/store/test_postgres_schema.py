"""Versioned migrations of the PostgreSQL schema (`territoires db upgrade`)."""

from __future__ import annotations

import psycopg
import pytest

from territoires.cli import main
from territoires.ngsild.query import parse_q
from territoires.store import postgres_schema
from territoires.store.port import EntityQuery
from territoires.store.postgres import PostgresStore
from territoires.store.shapes import shape_key, shape_record
from tests import postgres
from tests.contract.conftest import streetlight
from tests.contract.test_store_contract import vocab

pytestmark = pytest.mark.skipif(not postgres.URL, reason="PostgreSQL not available")


@pytest.fixture
def empty_database():
    """The test database with no schema at all (put back afterwards)."""
    with postgres.database_at(0) as url:
        yield url


def test_migrations_are_numbered_without_gaps():
    versions = [m.version for m in postgres_schema.migrations()]
    assert versions == list(range(1, len(versions) + 1))


def test_a_store_refuses_a_database_whose_schema_is_not_current(empty_database):
    with pytest.raises(RuntimeError, match="territoires db upgrade"):
        PostgresStore(empty_database)


def test_db_upgrade_applies_every_migration_once_and_reports_the_version(empty_database, monkeypatch, capsys):
    monkeypatch.setenv("TERRITOIRES_DATABASE_URL", empty_database)
    assert main(["db", "status"]) == 1
    assert main(["db", "upgrade"]) == 0
    out = capsys.readouterr().out
    assert "appliquée : 0001 entities" in out and "appliquée : 0002 values" in out
    assert f"schéma à la version {postgres_schema.latest_version()}" in out
    assert main(["db", "upgrade"]) == 0
    assert "appliquée" not in capsys.readouterr().out
    assert main(["db", "status"]) == 0


def test_an_older_database_is_upgraded_without_losing_its_data(empty_database):
    latest = postgres_schema.latest_version()
    with psycopg.connect(empty_database, autocommit=True) as conn:
        postgres_schema.upgrade(conn, target=1)
    if latest > 1:
        with pytest.raises(RuntimeError):
            PostgresStore(empty_database)
    # Data written at version 1, with the raw layout of version 1.
    with psycopg.connect(empty_database, autocommit=True) as conn, conn.transaction():
        conn.execute("SELECT set_config('territoires.tenant', '', true)")
        key, types, attrs = shape_record(shape_key(streetlight(1)))
        shape = conn.execute("INSERT INTO shapes (key, types, attrs) VALUES (%s, %s, %s) RETURNING shape",
                             (key, list(types), psycopg.types.json.Jsonb(attrs))).fetchone()[0]
        conn.execute("INSERT INTO entities (id, shape, doc) VALUES (%s, %s, %s)",
                     (streetlight(1)["id"], shape, psycopg.types.json.Jsonb(streetlight(1))))
    store = PostgresStore(empty_database, upgrade=True)
    try:
        with store.session("") as session:
            assert [e["id"] for e in session.query(EntityQuery()).entities] == [streetlight(1)["id"]]
            # Indexed by the upgrade: a selective q (answered through the value index) finds it.
            for q in ('powerState=="on"', "dimmingLevel==50", "dimmingLevel>49"):
                found = session.query(EntityQuery(q=parse_q(q, vocab)))
                assert [e["id"] for e in found.entities] == [streetlight(1)["id"]], q
            assert session.query(EntityQuery(q=parse_q('powerState=="off"', vocab))).entities == []
    finally:
        store.close()

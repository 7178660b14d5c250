"""Tenant isolation enforced by PostgreSQL itself (row-level security): SQL that forgets to
restrict the tenant, run as the application's own role, still reaches only one tenant."""

from __future__ import annotations

import psycopg
import pytest

from tests import postgres
from tests.contract.conftest import streetlight

pytestmark = pytest.mark.skipif(not postgres.URL, reason="PostgreSQL not available")


@pytest.fixture
def two_tenants():
    from territoires.store.postgres import PostgresStore

    store = PostgresStore(postgres.fresh_database())
    for tenant, numbers in (("a", range(3)), ("b", range(100, 105))):
        store.create_tenant(tenant)
        with store.session(tenant, write=True) as session:
            session.insert([streetlight(n) for n in numbers])
    yield
    store.close()


def rows(conn: psycopg.Connection, tenant: str | None, sql: str) -> list[tuple]:
    with conn.transaction():
        if tenant is not None:
            conn.execute("SELECT set_config('territoires.tenant', %s, true)", (tenant,))
        return conn.execute(sql).fetchall()


def test_unrestricted_sql_sees_only_the_named_tenant(two_tenants):
    with psycopg.connect(postgres.URL, autocommit=True) as conn:
        for table in ("entities", "geometries", "shapes"):
            assert {t for (t,) in rows(conn, "a", f"SELECT DISTINCT tenant FROM {table}")} == {"a"}
        assert rows(conn, "a", "SELECT count(*) FROM entities") == [(3,)]
        assert rows(conn, "b", "SELECT count(*) FROM entities") == [(5,)]


def test_a_transaction_that_names_no_tenant_sees_nothing(two_tenants):
    with psycopg.connect(postgres.URL, autocommit=True) as conn:
        for table in ("entities", "geometries", "shapes", "contexts"):
            assert rows(conn, None, f"SELECT count(*) FROM {table}") == [(0,)]


def test_writing_into_another_tenant_is_refused_by_the_database(two_tenants):
    with psycopg.connect(postgres.URL, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
            conn.execute("SELECT set_config('territoires.tenant', 'a', true)")
            conn.execute("INSERT INTO entities (tenant, id, shape, doc) VALUES ('b', 'urn:x', 1, '{}')")
        assert rows(conn, "a", "UPDATE entities SET doc = '{}' WHERE tenant = 'b' RETURNING id") == []
        assert rows(conn, "a", "DELETE FROM entities RETURNING tenant") != []  # its own rows only
        assert rows(conn, "b", "SELECT count(*) FROM entities") == [(5,)]


def test_two_thousand_tenants_live_side_by_side_in_one_database():
    from territoires.store.port import EntityQuery
    from territoires.store.postgres import PostgresStore

    store = PostgresStore(postgres.fresh_database())
    try:
        names = [f"commune-{n:04d}" for n in range(2000)]
        for name in names:
            store.create_tenant(name)
        assert store.tenants() == names
        for name in (names[0], names[-1]):
            with store.session(name, write=True) as session:
                session.insert([streetlight(1)])
        with store.session(names[1000]) as session:
            assert session.query(EntityQuery(count=True)).count == 0
        with store.session(names[-1]) as session:
            assert [e["id"] for e in session.query(EntityQuery()).entities] == [streetlight(1)["id"]]
        store.delete_tenant(names[0])
        assert len(store.tenants()) == 1999
    finally:
        store.close()

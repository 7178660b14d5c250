"""Migration 0004 (subscriptions) on a database written by an older release."""

from __future__ import annotations

import psycopg
import pytest

from territoires.ngsild.context import compile_context
from territoires.ngsild.subscription import parse_subscription
from territoires.store.postgres import PostgresStore
from tests import postgres
from tests.contract.conftest import streetlight

pytestmark = pytest.mark.skipif(not postgres.URL, reason="PostgreSQL not available")

NOW = "2026-11-28T10:00:00.000000Z"


@pytest.fixture
def database_at_version_3():
    """The test database with its schema at version 3, the one before subscriptions."""
    with postgres.database_at(3) as url:
        yield url


def test_a_database_without_subscriptions_is_upgraded_and_keeps_its_entities(database_at_version_3):
    with psycopg.connect(database_at_version_3, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('subscriptions')").fetchone()[0] is None
    store = PostgresStore(database_at_version_3, upgrade=True)
    try:
        with store.session("", write=True) as session:
            session.insert([streetlight(1)])
            subscription = parse_subscription(
                {"type": "Subscription", "entities": [{"type": "Streetlight"}],
                 "notification": {"endpoint": {"uri": "http://127.0.0.1:9/n"}}},
                compile_context(None, lambda url: {}), now=NOW, generated_id="urn:ngsi-ld:Subscription:1")
            session.put_subscription(subscription)
        with store.session("") as session:
            assert session.get_subscription("urn:ngsi-ld:Subscription:1") == subscription
            assert [s.id for s in session.active_subscriptions(NOW)] == ["urn:ngsi-ld:Subscription:1"]
    finally:
        store.close()


def test_subscription_rows_are_kept_apart_by_row_level_security(database_at_version_3):
    PostgresStore(database_at_version_3, upgrade=True).close()
    with psycopg.connect(database_at_version_3, autocommit=True) as conn:
        forced = conn.execute(
            "SELECT relname FROM pg_class WHERE relname IN ('subscriptions', 'subscription_versions') "
            "AND relrowsecurity AND relforcerowsecurity ORDER BY relname").fetchall()
        assert forced == [("subscription_versions",), ("subscriptions",)]
        # A transaction that names no tenant sees no row and can write none.
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO subscriptions (tenant, id, active, doc) VALUES ('x', 'urn:a:b', true, '{}')")

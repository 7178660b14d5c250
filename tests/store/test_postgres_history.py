"""Migration 0003 (temporal history) on PostgreSQL: an older database upgrades in place, and the
history tables are under the same forced row-level security as the others."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from territoires.store.port import EntityQuery, HistoryInstance, TemporalQuery
from territoires.store.postgres import PostgresStore
from tests import postgres
from tests.contract.conftest import NOW, streetlight

pytestmark = pytest.mark.skipif(not postgres.URL, reason="PostgreSQL not available")
POWER = "https://uri.etsi.org/ngsi-ld/default-context/powerState"


@pytest.fixture
def database_at_version_2() -> Iterator[str]:
    with postgres.database_at(2) as url:
        yield url


def test_a_database_of_version_2_upgrades_and_records_history(database_at_version_2: str) -> None:
    with psycopg.connect(database_at_version_2, autocommit=True) as conn:
        conn.execute("SELECT set_config('territoires.tenant', '', false)")
        conn.execute("INSERT INTO shapes (key, types, attrs) VALUES ('k', '{}', '{}')")
        conn.execute("INSERT INTO entities (id, shape, doc) SELECT 'urn:ngsi-ld:Streetlight:0001', shape, %s::jsonb "
                     "FROM shapes", (psycopg.types.json.Jsonb(streetlight(1)),))
    store = PostgresStore(database_at_version_2, upgrade=True)
    try:
        with store.session("", write=True) as s:
            assert list(s.get(["urn:ngsi-ld:Streetlight:0001"]))
            instance = {"type": "Property", "value": "off", "createdAt": NOW, "modifiedAt": NOW}
            s.append_history([HistoryInstance("urn:ngsi-ld:Streetlight:0001", POWER, instance, NOW)])
        with store.session("") as s:
            page = s.temporal_query(TemporalQuery(EntityQuery(ids=("urn:ngsi-ld:Streetlight:0001",))))
        assert page.entities[0].series[0].instances[0].instance["value"] == "off"
    finally:
        store.close()


def test_history_tables_and_partitions_force_row_level_security() -> None:
    postgres.fresh_database()
    with psycopg.connect(postgres.URL, autocommit=True) as conn:
        tables = conn.execute(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, "
            "(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid) FROM pg_class c "
            "WHERE c.relname LIKE 'history%%' AND c.relkind IN ('r', 'p')"
        ).fetchall()
        partitions = conn.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'history'::regclass").fetchone()[0]
        # A statement naming no tenant sees no history row, whatever the table it reads.
        conn.execute("SELECT set_config('territoires.tenant', 'rennes', false)")
        conn.execute("INSERT INTO tenants (name) VALUES ('rennes')")
        conn.execute("INSERT INTO history (sid, ts, kind, created) VALUES (1, 1704067200000000, 0, 0)")
        conn.execute("SELECT set_config('territoires.tenant', '', false)")
        seen = conn.execute("SELECT count(*) FROM history_2024").fetchone()[0]
    assert partitions == 51  # 2000-2049 and the default
    assert len(tables) == 3 + partitions
    assert all(rls and forced and policies == 1 for _, rls, forced, policies in tables)
    assert seen == 0

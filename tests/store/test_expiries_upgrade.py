"""Transient entities stored before the value index held expiries (SQLite layout 4, PostgreSQL
schema 17) are found by the expiry sweep once the store is upgraded."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from territoires.store.port import DEFAULT_TENANT, Store
from tests import postgres
from tests.store.older_stores import postgres_store_of_schema, sqlite_store_of_layout

VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
AT = "2026-01-01T00:00:00.000000Z"


def old_entity(n: int, **members: object) -> tuple[int, str, str]:
    eid = f"urn:ngsi-ld:Alert:{n}"
    doc = {"id": eid, "type": [VOCAB + "Alert"], "createdAt": AT, "modifiedAt": AT, "attrs": {
        VOCAB + "severity": [{"type": "Property", "value": "high", "createdAt": AT, "modifiedAt": AT,
                              **members.pop("severity", {})}]}, **members}
    return n, eid, orjson.dumps(doc).decode()


ROWS = [old_entity(1, expiresAt="2027-01-01T00:00:00Z"),
        old_entity(2, severity={"expiresAt": "2027-06-01T00:00:00+02:00"}),
        old_entity(3)]


def assert_the_old_transient_entities_are_due(store: Store) -> None:
    with store.session(DEFAULT_TENANT) as session:
        assert session.expired("2026-12-31T23:59:59Z", 10) == []
        assert session.expired("2027-01-01T00:00:00Z", 10) == ["urn:ngsi-ld:Alert:1"]
        assert sorted(session.expired("2027-06-01T00:00:00Z", 10)) == ["urn:ngsi-ld:Alert:1", "urn:ngsi-ld:Alert:2"]


def test_a_sqlite_file_of_layout_4_has_its_transient_entities_swept(tmp_path: Path) -> None:
    insert = "INSERT INTO entities(rid, id, shape, ngeo, doc) VALUES (?, ?, 1, 0, ?)"
    with sqlite_store_of_layout(tmp_path, 4, "", insert, ROWS) as store:
        assert_the_old_transient_entities_are_due(store)


@pytest.mark.skipif(not postgres.URL, reason="PostgreSQL not available")
def test_a_postgres_database_of_schema_17_has_its_transient_entities_swept() -> None:
    insert = "INSERT INTO entities (rid, id, shape, doc) VALUES (%s, %s, 1, %s)"
    with postgres_store_of_schema(17, insert, ROWS) as store:
        assert_the_old_transient_entities_are_due(store)

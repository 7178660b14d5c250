"""Audit trails written when a record named one attribute (SQLite layout 1, PostgreSQL schema 15)
read the same once upgraded: each old record names its one attribute, or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from territoires.store.port import DEFAULT_TENANT, AuditQuery, AuditRecord, Store
from tests import postgres
from tests.store.older_stores import postgres_store_of_schema, sqlite_store_of_layout

POWER = "https://uri.etsi.org/ngsi-ld/default-context/powerState"
# (at, operation, target, attribute) as an older release wrote them.
OLD_ROWS = [("2026-11-28T10:00:00.000000Z", "create", "urn:ngsi-ld:Streetlight:1", None),
            ("2026-11-28T10:01:00.000000Z", "update", "urn:ngsi-ld:Streetlight:1", POWER)]
NEW = AuditRecord("2026-11-28T10:02:00.000000Z", "update", "urn:ngsi-ld:Streetlight:1", "bridge", "pont",
                  attributes=("@type", POWER))


def assert_trail_reads_old_and_new(store: Store) -> None:
    with store.session(DEFAULT_TENANT, write=True) as session:
        session.append_audit([NEW])
    with store.session(DEFAULT_TENANT) as session:
        records, count = session.query_audit(AuditQuery())
        assert count == 3 and [(r.operation, r.attributes) for r in reversed(records)] == [
            ("create", ()), ("update", (POWER,)), ("update", ("@type", POWER))]
        assert session.query_audit(AuditQuery(attribute=POWER))[1] == 2


def test_a_sqlite_file_of_layout_1_keeps_its_trail(tmp_path: Path) -> None:
    insert = ("INSERT INTO audit(at, operation, target, attribute, kind, subject, name, detail) "
              "VALUES (?, ?, ?, ?, 'key', 'k1', '', '')")
    script = "ALTER TABLE audit RENAME COLUMN attributes TO attribute"
    with sqlite_store_of_layout(tmp_path, 1, script, insert, OLD_ROWS) as store:
        assert_trail_reads_old_and_new(store)


@pytest.mark.skipif(not postgres.URL, reason="PostgreSQL not available")
def test_a_postgres_database_of_schema_15_keeps_its_trail() -> None:
    insert = ("INSERT INTO audit (at, operation, target, attribute, kind, subject, name, detail) "
              "VALUES (%s, %s, %s, %s, 'key', 'k1', '', '')")
    with postgres_store_of_schema(15, insert, OLD_ROWS) as store:
        assert_trail_reads_old_and_new(store)

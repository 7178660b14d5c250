"""The audit trail in a tenant's SQLite file (the storage contract's audit methods).

``audit(seq, at, operation, target, attributes, kind, subject, credential, name, detail)``:
``seq`` never reused (AUTOINCREMENT), so the trail's order survives the retention deleting its
oldest rows; indexes on time (filters, retention), target and subject (the usual questions:
who changed this entity, what did this key do).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from territoires.store.audit_records import (
    AUDIT_COLUMNS,
    READ_COLUMNS,
    audit_record,
    audit_row,
    count_clause,
    page_filters,
)
from territoires.store.port import AuditQuery, AuditRecord
from territoires.store.sqlite_rows import execute_rows

AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    operation TEXT NOT NULL,
    target TEXT NOT NULL,
    attributes TEXT,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    credential TEXT,
    name TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit(at);
CREATE INDEX IF NOT EXISTS audit_by_target ON audit(target, seq);
CREATE INDEX IF NOT EXISTS audit_by_subject ON audit(subject, seq);
"""


class SqliteAudit:
    """Mixed into ``SqliteSession``: ``conn`` is the tenant's connection, in its transaction."""

    conn: sqlite3.Connection

    def append_audit(self, records: Sequence[AuditRecord]) -> None:
        execute_rows(self.conn, f"INSERT INTO audit({AUDIT_COLUMNS}) VALUES {{rows}}",
                     [audit_row(record) for record in records])

    def query_audit(self, query: AuditQuery) -> tuple[list[AuditRecord], int | None]:
        rows = []
        if query.limit > 0:
            where, params = page_filters(query, "?", "instr")
            rows = self.conn.execute(
                f"SELECT {READ_COLUMNS} FROM audit WHERE {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
                (*params, query.limit, query.offset)).fetchall()
        count = None
        if query.count:
            where, params = count_clause(query, "?", "instr")
            count = self.conn.execute(f"SELECT count(*) FROM audit WHERE {where}", params).fetchone()[0]
        return [audit_record(row) for row in rows], count

    def forget_audit(self, before: str) -> int:
        return self.conn.execute("DELETE FROM audit WHERE at < ?", (before,)).rowcount

"""The audit trail in the PostgreSQL backend (migration ``0009_audit.sql``): the storage
contract's audit methods on the session's connection, its tenant named, its rows alone visible
under row-level security.

An append is one statement whatever the number of records: they travel as one JSON array of
rows, which the server splits (row-level security forbids ``COPY`` into the table; nine text
arrays cost the driver and the server several times more than one JSON text).
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import psycopg

from territoires.store.audit_records import (
    AUDIT_COLUMNS,
    READ_COLUMNS,
    audit_record,
    audit_row,
    count_clause,
    page_filters,
)
from territoires.store.port import AuditQuery, AuditRecord

# Each column of AUDIT_COLUMNS from its place in a row.
_FIELDS = ", ".join(f"j ->> {k}" for k in range(len(AUDIT_COLUMNS.split(", "))))


class PostgresAudit:
    """Mixed into ``PostgresSession``: ``conn`` names the session's tenant."""

    conn: psycopg.Connection

    def append_audit(self, records: Sequence[AuditRecord]) -> None:
        if not records:
            return
        # WITH ORDINALITY keeps the given order in the numbers the identity column hands out.
        self.conn.execute(
            f"INSERT INTO audit ({AUDIT_COLUMNS}) SELECT {_FIELDS} "
            "FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS r(j, n) ORDER BY n",
            (orjson.dumps([audit_row(record) for record in records]).decode(),),
        )

    def query_audit(self, query: AuditQuery) -> tuple[list[AuditRecord], int | None]:
        with self.conn.pipeline():  # one round trip
            rows = None
            if query.limit > 0:
                where, params = page_filters(query, "%s", "strpos")
                rows = self.conn.execute(
                    f"SELECT {READ_COLUMNS} FROM audit WHERE {where} ORDER BY seq DESC LIMIT %s OFFSET %s",
                    (*params, query.limit, query.offset))
            counted = None
            if query.count:
                where, params = count_clause(query, "%s", "strpos")
                counted = self.conn.execute(f"SELECT count(*) FROM audit WHERE {where}", params)
        records = [audit_record(row) for row in rows.fetchall()] if rows is not None else []
        return records, counted.fetchone()[0] if counted is not None else None

    def forget_audit(self, before: str) -> int:
        return self.conn.execute("DELETE FROM audit WHERE at < %s", (before,)).rowcount

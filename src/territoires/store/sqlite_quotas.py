"""Quotas per tenant in the embedded backend.

A tenant's own limits and the usage counters are platform-wide: they live in the registry file
``territoires.db`` beside the tenants' names, which every process of the platform opens; each
counter update is one statement, atomic across processes.
"""

from __future__ import annotations

import sqlite3
import threading

from territoires.ngsild.errors import NonexistentTenant
from territoires.store import quota_records as records
from territoires.store.port import QuotaLimits

QUOTAS_SCHEMA = """
CREATE TABLE IF NOT EXISTS quotas(
    tenant TEXT PRIMARY KEY,
    entities INTEGER,
    requests_per_minute INTEGER,
    uplinks_per_minute INTEGER
);
CREATE TABLE IF NOT EXISTS quota_usage(
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL,
    minute INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (tenant, kind, minute)
) WITHOUT ROWID;
"""

_GET = records.get_limits_sql("?")
_PUT = records.put_limits_sql("?")
_ADD = records.add_usage_sql("?")
_READ = records.read_usage_sql("?")
_FORGET = records.forget_usage_sql("?")


class SqliteQuotas:
    """The store's quotas and usage counters, over the registry connection."""

    _registry: sqlite3.Connection
    _registry_lock: threading.Lock

    def get_quotas(self, tenant: str) -> QuotaLimits:
        with self._registry_lock:
            exists, *limits = self._registry.execute(_GET, (tenant, tenant, tenant)).fetchone()
        if not exists:
            raise NonexistentTenant(f"tenant {tenant!r} does not exist")
        return records.limits_of(limits)

    def put_quotas(self, tenant: str, limits: QuotaLimits) -> None:
        with self._registry_lock:
            self._registry.execute("BEGIN IMMEDIATE")
            try:
                exists = self._registry.execute(f"SELECT {records.tenant_exists('?')}", (tenant, tenant)).fetchone()[0]
                if not exists:
                    raise NonexistentTenant(f"tenant {tenant!r} does not exist")
                if records.is_default(limits):
                    self._registry.execute("DELETE FROM quotas WHERE tenant = ?", (tenant,))
                else:
                    self._registry.execute(_PUT, (tenant, *records.limits_row(limits)))
            except BaseException:
                self._registry.execute("ROLLBACK")
                raise
            self._registry.execute("COMMIT")

    def add_usage(self, tenant: str, kind: str, minute: int, n: int) -> int:
        records.check_kind(kind)
        with self._registry_lock:
            if n == 0:
                row = self._registry.execute(_READ, (tenant, kind, minute)).fetchone()
                return row[0] if row else 0
            # fetchall: a RETURNING statement ends (and commits) once its rows are all read
            rows = self._registry.execute(_ADD, (tenant, kind, minute, n, tenant, tenant)).fetchall()
            self._registry.execute(_FORGET, (tenant, kind, minute))
        return rows[0][0] if rows else 0

    def _forget_quotas_of(self, tenant: str) -> None:
        """Forget the quotas and usage of a deleted tenant (the caller holds the registry lock)."""
        self._registry.execute("DELETE FROM quotas WHERE tenant = ?", (tenant,))
        self._registry.execute("DELETE FROM quota_usage WHERE tenant = ?", (tenant,))


class SqliteEntityCount:
    """The count of a tenant's entities, in its session."""

    conn: sqlite3.Connection

    def entity_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM entities").fetchone()[0]

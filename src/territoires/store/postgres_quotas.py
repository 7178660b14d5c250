"""Quotas per tenant in the PostgreSQL backend (migration ``0008_quotas.sql``).

``quotas`` and ``quota_usage`` are platform-wide tables, like ``tenants``; their rows go with
their tenant (foreign key, ON DELETE CASCADE). A counter update is one upsert, atomic across
processes; the count of a tenant's entities runs under its row-level security.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import psycopg

from territoires.ngsild.errors import NonexistentTenant
from territoires.store import quota_records as records
from territoires.store.port import QuotaLimits

_GET = records.get_limits_sql("%s")
_PUT = records.put_limits_sql("%s")
_ADD = records.add_usage_sql("%s")
_READ = records.read_usage_sql("%s")
_FORGET = records.forget_usage_sql("%s")


class PostgresQuotas:
    """The store's quotas and usage counters, on pooled autocommit connections."""

    _connection: Callable[[], AbstractContextManager[psycopg.Connection]]  # PostgresStore's

    def get_quotas(self, tenant: str) -> QuotaLimits:
        with self._connection() as conn:
            exists, *limits = conn.execute(_GET, (tenant, tenant, tenant)).fetchone()
        if not exists:
            raise NonexistentTenant(f"tenant {tenant!r} does not exist")
        return records.limits_of(limits)

    def put_quotas(self, tenant: str, limits: QuotaLimits) -> None:
        with self._connection() as conn:
            if records.is_default(limits):
                exists = conn.execute(f"SELECT {records.tenant_exists('%s')}", (tenant, tenant)).fetchone()[0]
                if exists:
                    conn.execute("DELETE FROM quotas WHERE tenant = %s", (tenant,))
            else:
                try:
                    conn.execute(_PUT, (tenant, *records.limits_row(limits)))
                    exists = True
                except psycopg.errors.ForeignKeyViolation:
                    exists = False
        if not exists:
            raise NonexistentTenant(f"tenant {tenant!r} does not exist")

    def add_usage(self, tenant: str, kind: str, minute: int, n: int) -> int:
        records.check_kind(kind)
        with self._connection() as conn:
            if n == 0:
                row = conn.execute(_READ, (tenant, kind, minute)).fetchone()
                return row[0] if row else 0
            try:
                with conn.pipeline():  # one round trip
                    added = conn.execute(_ADD, (tenant, kind, minute, n, tenant, tenant))
                    conn.execute(_FORGET, (tenant, kind, minute))
                row = added.fetchone()
            except psycopg.errors.ForeignKeyViolation:  # the tenant was deleted meanwhile
                return 0
        return row[0] if row else 0


class PostgresEntityCount:
    """The count of a tenant's entities, in its session (row-level security names the tenant)."""

    conn: psycopg.Connection

    def entity_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM entities").fetchone()[0]

"""API keys, members and public types in the PostgreSQL backend (migration ``0007_access.sql``).

Platform-wide tables without row-level security, like ``devices``: a key or a person's role is
looked up before a tenant is named. Each row goes with its tenant (foreign key, ON DELETE
CASCADE), so deleting a tenant forgets them in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager

import psycopg

from territoires.ngsild.errors import AlreadyExists, NonexistentTenant
from territoires.store import access_records as records
from territoires.store.port import ApiKey, Member


def _no_tenant(tenant: str | None) -> NonexistentTenant:
    return NonexistentTenant(f"tenant {tenant!r} does not exist")


class PostgresAccess:
    """The store's API keys, members and public types, on pooled autocommit connections."""

    _connection: Callable[[], AbstractContextManager[psycopg.Connection]]  # PostgresStore's

    def put_key(self, key: ApiKey) -> None:
        with self._connection() as conn:
            try:
                created = conn.execute(
                    f"INSERT INTO api_keys ({records.KEY_COLUMNS}) VALUES ({', '.join(['%s'] * 11)}) "
                    "ON CONFLICT (id) DO NOTHING RETURNING id", records.key_row(key)).fetchone()
            except psycopg.errors.ForeignKeyViolation:
                raise _no_tenant(key.tenant) from None
        if created is None:
            raise AlreadyExists(f"the API key {key.id} already exists")

    def get_key(self, key_id: str) -> ApiKey | None:
        with self._connection() as conn:
            row = conn.execute(f"SELECT {records.KEY_COLUMNS} FROM api_keys WHERE id = %s", (key_id,)).fetchone()
        return records.api_key(row) if row else None

    def list_keys(self, tenant: str | None = None, *, offset: int = 0, limit: int = 20) -> tuple[list[ApiKey], int]:
        where, params = records.tenant_filter(tenant, "%s")
        with self._connection() as conn, conn.pipeline():
            page = conn.execute(f"SELECT {records.KEY_COLUMNS} FROM api_keys {where} "
                                'ORDER BY created_at COLLATE "C", id COLLATE "C" LIMIT %s OFFSET %s',
                                (*params, limit, offset))
            count = conn.execute(f"SELECT count(*) FROM api_keys {where}", params)
            rows, total = page.fetchall(), count.fetchone()[0]
        return [records.api_key(row) for row in rows], total

    def revoke_key(self, key_id: str, when: str) -> bool:
        with self._connection() as conn:
            return conn.execute("UPDATE api_keys SET revoked_at = coalesce(revoked_at, %s) WHERE id = %s",
                                (when, key_id)).rowcount > 0

    def touch_keys(self, uses: Mapping[str, str]) -> None:
        if not uses:
            return
        with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(records.TOUCH_KEY.format(mark="%s"), records.touched_rows(uses))

    def put_member(self, member: Member) -> None:
        with self._connection() as conn:
            try:
                conn.execute(f"INSERT INTO members ({records.MEMBER_COLUMNS}) VALUES ({', '.join(['%s'] * 9)})",
                             records.member_row(member))
            except psycopg.errors.ForeignKeyViolation:
                raise _no_tenant(member.tenant) from None
            except psycopg.errors.UniqueViolation:
                raise AlreadyExists(f"the member {member.id} or this very role assignment already exists") from None

    def get_member(self, member_id: str) -> Member | None:
        with self._connection() as conn:
            row = conn.execute(f"SELECT {records.MEMBER_COLUMNS} FROM members WHERE id = %s",
                               (member_id,)).fetchone()
        return records.member(row) if row else None

    def delete_member(self, member_id: str) -> bool:
        with self._connection() as conn:
            return conn.execute("DELETE FROM members WHERE id = %s", (member_id,)).rowcount > 0

    def list_members(self, tenant: str | None = None, *, offset: int = 0,
                     limit: int = 20) -> tuple[list[Member], int]:
        where, params = records.tenant_filter(tenant, "%s")
        with self._connection() as conn, conn.pipeline():
            page = conn.execute(f"SELECT {records.MEMBER_COLUMNS} FROM members {where} "
                                'ORDER BY created_at COLLATE "C", id COLLATE "C" LIMIT %s OFFSET %s',
                                (*params, limit, offset))
            count = conn.execute(f"SELECT count(*) FROM members {where}", params)
            rows, total = page.fetchall(), count.fetchone()[0]
        return [records.member(row) for row in rows], total

    def members_for(self, issuer: str, subject: str, email: str) -> list[Member]:
        where, params = records.members_for_filter(issuer, subject, email, "%s")
        with self._connection() as conn:
            rows = conn.execute(f"SELECT {records.MEMBER_COLUMNS} FROM members WHERE {where} "
                                'ORDER BY created_at COLLATE "C", id COLLATE "C"', params).fetchall()
        return [records.member(row) for row in rows]

    def set_public_types(self, tenant: str, types: Collection[str]) -> None:
        with self._connection() as conn:
            try:
                with conn.transaction():
                    conn.execute("DELETE FROM public_types WHERE tenant = %s", (tenant,))
                    conn.execute("INSERT INTO public_types (tenant, type) SELECT %s, unnest(%s::text[])",
                                 (tenant, sorted(set(types))))
                    # An empty set inserts nothing for the foreign key to check: check the tenant.
                    if not types and conn.execute("SELECT 1 FROM tenants WHERE name = %s",
                                                  (tenant,)).fetchone() is None:
                        raise _no_tenant(tenant)
            except psycopg.errors.ForeignKeyViolation:
                raise _no_tenant(tenant) from None

    def public_types(self, tenant: str) -> frozenset[str]:
        with self._connection() as conn:
            rows = conn.execute("SELECT type FROM public_types WHERE tenant = %s", (tenant,)).fetchall()
        return frozenset(name for (name,) in rows)

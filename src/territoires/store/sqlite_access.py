"""API keys, members and public types in the embedded backend.

They are platform-wide, like the device registry: they live in the registry file
``territoires.db`` beside the tenants' names, so that a key or a person's role is found before
any tenant is named. Deleting a tenant forgets them with its name, under the registry lock.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Collection, Mapping

from territoires.ngsild.errors import AlreadyExists, NonexistentTenant
from territoires.store import access_records as records
from territoires.store.port import DEFAULT_TENANT, ApiKey, Member

ACCESS_SCHEMA = """
CREATE TABLE IF NOT EXISTS api_keys(
    id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    tenant TEXT,
    role TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT,
    last_used_at TEXT,
    created_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys(tenant, created_at, id);
CREATE TABLE IF NOT EXISTS members(
    id TEXT PRIMARY KEY,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    email TEXT NOT NULL,
    role TEXT NOT NULL,
    tenant TEXT,
    scope TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL DEFAULT ''
);
-- One assignment of a role to a person once ('*' names no tenant: no tenant is called so).
CREATE UNIQUE INDEX IF NOT EXISTS members_once ON members(issuer, subject, email, role, ifnull(tenant, '*'), scope);
CREATE INDEX IF NOT EXISTS members_by_subject ON members(subject, issuer);
CREATE INDEX IF NOT EXISTS members_by_email ON members(email);
CREATE INDEX IF NOT EXISTS members_by_tenant ON members(tenant, created_at, id);
CREATE TABLE IF NOT EXISTS public_types(
    tenant TEXT NOT NULL,
    type TEXT NOT NULL,
    PRIMARY KEY (tenant, type)
) WITHOUT ROWID;
"""


class SqliteAccess:
    """The store's API keys, members and public types, over the registry connection."""

    _registry: sqlite3.Connection
    _registry_lock: threading.Lock

    def _check_tenant(self, tenant: str | None) -> None:
        """``NonexistentTenant`` unless ``tenant`` is None, the default tenant or a registered
        one (the caller holds the registry lock)."""
        if tenant is None or tenant == DEFAULT_TENANT:
            return
        if self._registry.execute("SELECT 1 FROM tenants WHERE name = ?", (tenant,)).fetchone() is None:
            raise NonexistentTenant(f"tenant {tenant!r} does not exist")

    def put_key(self, key: ApiKey) -> None:
        with self._registry_lock:
            self._check_tenant(key.tenant)
            try:
                self._registry.execute(f"INSERT INTO api_keys({records.KEY_COLUMNS}) VALUES ({', '.join('?' * 11)})",
                                       records.key_row(key))
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"the API key {key.id} already exists") from None

    def get_key(self, key_id: str) -> ApiKey | None:
        with self._registry_lock:
            row = self._registry.execute(f"SELECT {records.KEY_COLUMNS} FROM api_keys WHERE id = ?",
                                         (key_id,)).fetchone()
        return records.api_key(row) if row else None

    def list_keys(self, tenant: str | None = None, *, offset: int = 0, limit: int = 20) -> tuple[list[ApiKey], int]:
        where, params = records.tenant_filter(tenant, "?")
        with self._registry_lock:
            rows = self._registry.execute(
                f"SELECT {records.KEY_COLUMNS} FROM api_keys {where} ORDER BY created_at, id LIMIT ? OFFSET ?",
                (*params, limit, offset)).fetchall()
            count = self._registry.execute(f"SELECT count(*) FROM api_keys {where}", params).fetchone()[0]
        return [records.api_key(row) for row in rows], count

    def revoke_key(self, key_id: str, when: str) -> bool:
        with self._registry_lock:
            return self._registry.execute("UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                                          (when, key_id)).rowcount > 0

    def touch_keys(self, uses: Mapping[str, str]) -> None:
        if not uses:
            return
        with self._registry_lock:
            self._registry.execute("BEGIN IMMEDIATE")
            try:
                self._registry.executemany(records.TOUCH_KEY.format(mark="?"), records.touched_rows(uses))
            except BaseException:
                self._registry.execute("ROLLBACK")
                raise
            self._registry.execute("COMMIT")

    def put_member(self, member: Member) -> None:
        with self._registry_lock:
            self._check_tenant(member.tenant)
            try:
                self._registry.execute(f"INSERT INTO members({records.MEMBER_COLUMNS}) VALUES ({', '.join('?' * 9)})",
                                       records.member_row(member))
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"the member {member.id} or this very role assignment already exists") from None

    def get_member(self, member_id: str) -> Member | None:
        with self._registry_lock:
            row = self._registry.execute(f"SELECT {records.MEMBER_COLUMNS} FROM members WHERE id = ?",
                                         (member_id,)).fetchone()
        return records.member(row) if row else None

    def delete_member(self, member_id: str) -> bool:
        with self._registry_lock:
            return self._registry.execute("DELETE FROM members WHERE id = ?", (member_id,)).rowcount > 0

    def list_members(self, tenant: str | None = None, *, offset: int = 0,
                     limit: int = 20) -> tuple[list[Member], int]:
        where, params = records.tenant_filter(tenant, "?")
        with self._registry_lock:
            rows = self._registry.execute(
                f"SELECT {records.MEMBER_COLUMNS} FROM members {where} ORDER BY created_at, id LIMIT ? OFFSET ?",
                (*params, limit, offset)).fetchall()
            count = self._registry.execute(f"SELECT count(*) FROM members {where}", params).fetchone()[0]
        return [records.member(row) for row in rows], count

    def members_for(self, issuer: str, subject: str, email: str) -> list[Member]:
        where, params = records.members_for_filter(issuer, subject, email, "?")
        with self._registry_lock:
            rows = self._registry.execute(
                f"SELECT {records.MEMBER_COLUMNS} FROM members WHERE {where} ORDER BY created_at, id", params).fetchall()
        return [records.member(row) for row in rows]

    def set_public_types(self, tenant: str, types: Collection[str]) -> None:
        with self._registry_lock:
            self._check_tenant(tenant)
            self._registry.execute("BEGIN IMMEDIATE")
            try:
                self._registry.execute("DELETE FROM public_types WHERE tenant = ?", (tenant,))
                self._registry.executemany("INSERT INTO public_types(tenant, type) VALUES (?, ?)",
                                           [(tenant, name) for name in set(types)])
            except BaseException:
                self._registry.execute("ROLLBACK")
                raise
            self._registry.execute("COMMIT")

    def public_types(self, tenant: str) -> frozenset[str]:
        with self._registry_lock:
            rows = self._registry.execute("SELECT type FROM public_types WHERE tenant = ?", (tenant,)).fetchall()
        return frozenset(name for (name,) in rows)

    def _forget_access_of(self, tenant: str) -> None:
        """Forget the keys, members and public types of a deleted tenant (the caller holds the
        registry lock)."""
        for table in ("api_keys", "members", "public_types"):
            self._registry.execute(f"DELETE FROM {table} WHERE tenant = ?", (tenant,))

"""Quotas per tenant as rows and statements: what both SQL backends share.

Two platform-wide tables: ``quotas`` (a tenant's own limits, NULL where the default applies)
and ``quota_usage`` (one counter per tenant, kind and one-minute window). The statements are
the same text on both backends; ``mark`` is the driver's placeholder (``?`` or ``%s``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from territoires.ngsild.errors import BadRequestData
from territoires.store.port import QUOTA_KINDS, QuotaLimits

# The columns of a quotas row after its tenant, in the order of ``QuotaLimits``' fields.
LIMIT_COLUMNS = "entities, requests_per_minute, uplinks_per_minute"

# Windows kept before the current one: a process whose clock lags a little behind another's
# still adds to the window it believes current instead of starting it over.
WINDOWS_KEPT_BEFORE = 1


def check_kind(kind: str) -> str:
    if kind not in QUOTA_KINDS:
        raise BadRequestData(f"usage kind must be one of {', '.join(QUOTA_KINDS)}, not {kind!r}")
    return kind


def limits_row(limits: QuotaLimits) -> tuple[int | None, int | None, int | None]:
    return (limits.entities, limits.requests_per_minute, limits.uplinks_per_minute)


def limits_of(row: Sequence[Any]) -> QuotaLimits:
    """The limits of the columns ``LIMIT_COLUMNS`` (NULLs: the defaults apply)."""
    return QuotaLimits(*row)


def is_default(limits: QuotaLimits) -> bool:
    """Whether nothing is left to store: every quota falls back to its default."""
    return limits_row(limits) == (None, None, None)


def tenant_exists(mark: str) -> str:
    """A condition true when the tenant named by the parameter exists (the default tenant, ``''``,
    always does: SQLite's registry does not list it)."""
    return f"({mark} = '' OR EXISTS (SELECT 1 FROM tenants WHERE name = {mark}))"


def add_usage_sql(mark: str) -> str:
    """Add to a window's counter, only for an existing tenant; returns the new total.
    Parameters: tenant, kind, minute, n, tenant, tenant."""
    return (f"INSERT INTO quota_usage (tenant, kind, minute, count) SELECT {mark}, {mark}, {mark}, {mark} "
            f"WHERE {tenant_exists(mark)} "
            "ON CONFLICT (tenant, kind, minute) DO UPDATE SET count = quota_usage.count + excluded.count "
            "RETURNING count")


def read_usage_sql(mark: str) -> str:
    """A window's counter. Parameters: tenant, kind, minute."""
    return f"SELECT count FROM quota_usage WHERE tenant = {mark} AND kind = {mark} AND minute = {mark}"


def forget_usage_sql(mark: str) -> str:
    """Drop the windows of a tenant and kind before the one given minus those kept.
    Parameters: tenant, kind, minute."""
    return (f"DELETE FROM quota_usage WHERE tenant = {mark} AND kind = {mark} "
            f"AND minute < {mark} - {WINDOWS_KEPT_BEFORE}")


def get_limits_sql(mark: str) -> str:
    """Whether the tenant exists, then its own quotas (NULLs when it has none).
    Parameters: tenant ×3."""
    return (f"SELECT {tenant_exists(mark)}, q.entities, q.requests_per_minute, q.uplinks_per_minute "
            f"FROM (SELECT 1) AS one LEFT JOIN quotas q ON q.tenant = {mark}")


def put_limits_sql(mark: str) -> str:
    """Insert or replace a tenant's quotas. Parameters: tenant, then ``limits_row``."""
    return (f"INSERT INTO quotas (tenant, {LIMIT_COLUMNS}) VALUES ({mark}, {mark}, {mark}, {mark}) "
            "ON CONFLICT (tenant) DO UPDATE SET entities = excluded.entities, "
            "requests_per_minute = excluded.requests_per_minute, uplinks_per_minute = excluded.uplinks_per_minute")

"""API keys, members and public types as rows: what both SQL backends share.

Times are stored as the clock writes them (ISO 8601 UTC, fixed width, ``Z``), so that comparing
them as text orders them in time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import astuple
from typing import Any

from territoires.store.port import ApiKey, Member

# The columns of a key row, in the order of ``ApiKey``'s fields.
KEY_COLUMNS = ("id, secret_hash, tenant, role, scope, name, created_at, expires_at, revoked_at, last_used_at, "
               "created_by")
# The columns of a member row, in the order of ``Member``'s fields.
MEMBER_COLUMNS = "id, issuer, subject, email, role, tenant, scope, created_at, created_by"


def key_row(key: ApiKey) -> tuple[Any, ...]:
    return astuple(key)


def member_row(member: Member) -> tuple[Any, ...]:
    return astuple(member)


def api_key(row: Sequence[Any]) -> ApiKey:
    return ApiKey(*row)


def member(row: Sequence[Any]) -> Member:
    return Member(*row)


def tenant_filter(tenant: str | None, mark: str) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause listing the keys or members of one tenant (None: of every tenant and
    none) and its parameters; ``mark`` is the driver's placeholder."""
    return ("WHERE tenant = " + mark, (tenant,)) if tenant is not None else ("", ())


def members_for_filter(issuer: str, subject: str, email: str, mark: str) -> tuple[str, tuple[Any, ...]]:
    """The WHERE clause of ``members_for``: the member names this subject at this issuer, or
    (when ``email`` is given) names no subject but this e-mail address, at this issuer or at
    any issuer (an empty issuer)."""
    by_subject = f"(subject <> '' AND issuer = {mark} AND subject = {mark})"
    if not email:
        return by_subject, (issuer, subject)
    by_email = f"(subject = '' AND email = {mark} AND issuer IN ('', {mark}))"
    return f"{by_subject} OR {by_email}", (issuer, subject, email, issuer)


def touched_rows(uses: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """(when, id, when) for each key of ``uses``: the parameters of an update keeping the later
    of the stored and the given last use."""
    return [(when, key_id, when) for key_id, when in uses.items()]


# The statement ``touched_rows`` feeds (``{mark}`` stands for the driver's placeholder).
TOUCH_KEY = ("UPDATE api_keys SET last_used_at = {mark} "
             "WHERE id = {mark} AND (last_used_at IS NULL OR last_used_at < {mark})")

"""Members: the roles of people who sign in through OpenID Connect (ProConnect, Keycloak).

A tenant admin names a person by the e-mail address their identity provider asserts (the usual
case: the person has not signed in yet), or by the ``sub`` claim at an issuer. When someone
signs in, the OIDC verifier asks :meth:`MemberService.grants` for the roles of their issuer,
subject and e-mail. Those answers are kept in memory for ``cache_seconds`` (5 s): a role given
or removed through another process reaches this one within that delay, at once through this one.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from territoires import clock
from territoires.auth.grants import grant_of
from territoires.auth.keys import actor_label, new_id
from territoires.auth.principal import Grant
from territoires.ngsild.errors import BadRequestData, ResourceNotFound
from territoires.store.port import Member, Store

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_TEXT_LENGTH = 254
_CACHE_ENTRIES = 10_000


def member_json(member: Member) -> dict[str, Any]:
    data: dict[str, Any] = {"id": member.id}
    if member.tenant is not None:
        data["tenant"] = member.tenant
    data["role"] = member.role
    if member.scope:
        data["scope"] = member.scope
    for field, value in (("email", member.email), ("issuer", member.issuer), ("subject", member.subject)):
        if value:
            data[field] = value
    data.update(createdAt=member.created_at, createdBy=member.created_by)
    return data


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > _TEXT_LENGTH:
        raise BadRequestData(f"{what} must be a text of at most {_TEXT_LENGTH} characters, not {value!r}")
    return value.strip()


def _issuer(value: Any) -> str:
    issuer = _text(value, "issuer")
    parts = urlsplit(issuer)
    if issuer and (parts.scheme not in ("https", "http") or not parts.netloc):
        raise BadRequestData(f"issuer must be the http(s) URL of an OpenID Connect issuer, not {issuer!r}")
    return issuer


def _email(value: Any) -> str:
    email = _text(value, "email").lower()
    if email and not _EMAIL.match(email):
        raise BadRequestData(f"email must be an e-mail address such as agent@mairie.fr, not {value!r}")
    return email


class MemberService:
    def __init__(self, store: Store, *, cache_seconds: float = 5.0) -> None:
        self.store = store
        self._cache_seconds = cache_seconds
        self._grants: dict[tuple[str, str, str], tuple[tuple[Grant, ...], float]] = {}
        self._lock = threading.Lock()

    def add(self, tenant: str | None, role: Any, *, email: Any = "", subject: Any = "", issuer: Any = "",
            scope: Any = "", created_by: str | None = None) -> Member:
        """Give ``role`` to a person, known by e-mail (at any trusted issuer, or at ``issuer``)
        or by ``subject`` at ``issuer``."""
        grant = grant_of(role, tenant, scope)
        email, subject, issuer = _email(email), _text(subject, "subject"), _issuer(issuer)
        if not email and not subject:
            raise BadRequestData("name the person by email, or by subject and issuer")
        if subject and not issuer:
            raise BadRequestData("a subject is only unique at its issuer: give the issuer too")
        member = Member(id=new_id(), issuer=issuer, subject=subject, email=email, role=grant.role.value,
                        tenant=grant.tenant, scope=grant.scope, created_at=clock.now(),
                        created_by=actor_label() if created_by is None else created_by)
        self.store.put_member(member)
        self._forget()
        return member

    def get(self, member_id: str, *, within: str | None = None) -> Member:
        """The member of that id; with ``within``, only a member of that tenant."""
        member = self.store.get_member(member_id)
        if member is None or (within is not None and member.tenant != within):
            raise ResourceNotFound(f"no member {member_id!r}" + (f" in tenant {within!r}" if within else ""))
        return member

    def remove(self, member_id: str, *, within: str | None = None) -> None:
        self.get(member_id, within=within)
        if not self.store.delete_member(member_id):
            raise ResourceNotFound(f"no member {member_id!r}")
        self._forget()

    def list(self, tenant: str | None = None, *, offset: int = 0, limit: int = 20) -> tuple[list[Member], int]:
        """Members of one tenant (None: every member), oldest first, and how many in all."""
        return self.store.list_members(tenant, offset=offset, limit=limit)

    def grants(self, issuer: str, subject: str, email: str) -> tuple[Grant, ...]:
        """The grants of a person signing in (``email`` as the token asserts it, or "")."""
        lookup = (issuer, subject, email.strip().lower())
        now = time.monotonic()
        cached = self._grants.get(lookup)
        if cached is not None and now - cached[1] < self._cache_seconds:
            return cached[0]
        found = tuple(dict.fromkeys(grant_of(m.role, m.tenant, m.scope) for m in self.store.members_for(*lookup)))
        with self._lock:
            if len(self._grants) >= _CACHE_ENTRIES:
                self._grants.clear()
            self._grants[lookup] = (found, now)
        return found

    def _forget(self) -> None:
        with self._lock:
            self._grants.clear()

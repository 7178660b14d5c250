"""API keys: the credentials of machines and devices.

A key is presented as ``Authorization: Bearer trk_<id>_<secret>``. The id (12 lowercase base32
characters) names the record; the secret (32 random bytes, base32) is shown once, when the key is
created, and only its SHA-256 is stored: a secret of 256 random bits cannot be guessed, so a
fast hash is right (a slow one would only slow every request down).

Verifying a key costs no database read on most requests: a verified key record is kept in
memory for ``cache_seconds`` (5 s). So a key revoked through another process (or by hand in the
database) still opens requests on this process for at most that long; one revoked through this
service stops at once here. Expiry is checked on every request against the clock.

The last use of each key is recorded at most once a minute per key and process, in batches: the
uses noted since the last write are written together at the next authentication at least
``flush_interval`` (10 s) after it, and by :meth:`KeyService.flush` (call it at shutdown).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from territoires import clock as default_clock
from territoires.auth.errors import Unauthenticated
from territoires.auth.grants import grant_of
from territoires.auth.principal import Principal
from territoires.broker.actor import current_actor
from territoires.ngsild.errors import BadRequestData, ResourceNotFound
from territoires.store.port import ApiKey, Store, Unavailable

TOKEN_PREFIX = "trk_"
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
ID_LENGTH = 12
_TOKEN = re.compile(rf"trk_([a-z2-7]{{{ID_LENGTH}}})_([a-z2-7]{{52}})\Z")
_NAME_LENGTH = 200


def new_id() -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


def new_secret() -> str:
    """32 random bytes as 52 lowercase base32 characters (no padding)."""
    return base64.b32encode(secrets.token_bytes(32)).decode().rstrip("=").lower()


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_of(key_id: str, secret: str) -> str:
    return f"{TOKEN_PREFIX}{key_id}_{secret}"


def parse_token(token: str) -> tuple[str, str]:
    """The (id, secret) of an API key token; ``Unauthenticated`` if it is not shaped like one."""
    match = _TOKEN.match(token)
    if match is None:
        raise Unauthenticated(f"the API key is malformed: expected {TOKEN_PREFIX}<12 characters>_<52 characters>")
    return match[1], match[2]


def instant(value: Any, what: str) -> str:
    """An ISO 8601 instant with its offset, in the clock's fixed-width UTC form."""
    moment = None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            pass
    if moment is None or moment.tzinfo is None:
        raise BadRequestData(f"{what} must be an ISO 8601 instant with its offset, e.g. 2027-01-01T00:00:00Z, "
                             f"not {value!r}")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _seconds(at: str) -> float:
    return datetime.fromisoformat(at).timestamp()


def actor_label() -> str:
    """Who acts now, as the records of keys and members keep it (``kind:subject``)."""
    actor = current_actor()
    return f"{actor.kind}:{actor.subject}"


def key_json(key: ApiKey) -> dict[str, Any]:
    """A key as the administration API and the CLI show it (never its secret nor its hash)."""
    data: dict[str, Any] = {"id": key.id}
    if key.tenant is not None:
        data["tenant"] = key.tenant
    data["role"] = key.role
    if key.scope:
        data["scope"] = key.scope
    data.update(name=key.name, createdAt=key.created_at, createdBy=key.created_by)
    for field, value in (("expiresAt", key.expires_at), ("revokedAt", key.revoked_at),
                         ("lastUsedAt", key.last_used_at)):
        if value is not None:
            data[field] = value
    return data


class KeyService:
    def __init__(self, store: Store, clock: Callable[[], str] = default_clock.now, *,
                 timer: Callable[[], float] = time.time, cache_seconds: float = 5.0,
                 touch_interval: float = 60.0, flush_interval: float = 10.0) -> None:
        """``clock`` stamps records (ISO 8601); ``timer`` (epoch seconds, the same time) is what
        every request reads: formatting an instant would cost more than checking the key."""
        self.store = store
        self._clock = clock
        self._timer = timer
        self._cache_seconds = cache_seconds
        self._touch_interval = touch_interval
        self._flush_interval = flush_interval
        # key id -> (record, its principal, read until, expires at): only keys that exist.
        self._cache: dict[str, tuple[ApiKey, Principal, float, float]] = {}
        self._lock = threading.Lock()
        self._noted: dict[str, float] = {}   # key id -> when its last use was noted
        self._pending: dict[str, str] = {}   # key id -> last use not written yet
        self._flushed = float("-inf")

    # ---- management -----------------------------------------------------------------------
    def create(self, tenant: str | None, role: Any, name: Any = "", expires_at: Any = None,
               created_by: str | None = None, scope: Any = "") -> tuple[ApiKey, str]:
        """Issue a key; returns its record and its token (shown this once, never stored)."""
        grant = grant_of(role, tenant, scope)
        if not isinstance(name, str) or len(name) > _NAME_LENGTH:
            raise BadRequestData(f"name must be a text of at most {_NAME_LENGTH} characters, not {name!r}")
        now = self._clock()
        expires = None if expires_at is None else instant(expires_at, "expiresAt")
        if expires is not None and expires <= now:
            raise BadRequestData(f"expiresAt {expires_at} is already past: give a future instant or none")
        key_id, secret = new_id(), new_secret()
        key = ApiKey(id=key_id, secret_hash=secret_hash(secret), tenant=grant.tenant, role=grant.role.value,
                     scope=grant.scope, name=name, created_at=now, expires_at=expires,
                     created_by=actor_label() if created_by is None else created_by)
        self.store.put_key(key)
        return key, token_of(key_id, secret)

    def get(self, key_id: str, *, within: str | None = None) -> ApiKey:
        """The key of that id; with ``within``, only a key of that tenant (others are not found)."""
        key = self.store.get_key(key_id)
        if key is None or (within is not None and key.tenant != within):
            raise ResourceNotFound(f"no API key {key_id!r}" + (f" in tenant {within!r}" if within else ""))
        return key

    def revoke(self, key_id: str, *, within: str | None = None) -> ApiKey:
        """Revoke a key (again: no change); it stops opening requests (see the module's note)."""
        self.get(key_id, within=within)
        self.store.revoke_key(key_id, self._clock())
        self._cache.pop(key_id, None)
        return self.get(key_id)

    def list(self, tenant: str | None = None, *, offset: int = 0, limit: int = 20) -> tuple[list[ApiKey], int]:
        """Keys of one tenant (None: every key), oldest first, and how many in all."""
        return self.store.list_keys(tenant, offset=offset, limit=limit)

    # ---- authentication ---------------------------------------------------------------------
    def principal(self, token: str) -> Principal:
        """Who presents this token; ``Unauthenticated`` for an unknown, wrong, revoked or expired key."""
        key_id, secret = parse_token(token)
        moment = self._timer()
        cached = self._cache.get(key_id)
        if cached is None or moment >= cached[2]:
            key = self.store.get_key(key_id)
            if key is None:
                self._cache.pop(key_id, None)
                raise Unauthenticated(f"unknown API key {key_id}")
            grant = grant_of(key.role, key.tenant, key.scope)
            principal = Principal(kind="key", subject=key.id, grants=(grant,), credential_id=key.id, name=key.name)
            expires = math.inf if key.expires_at is None else _seconds(key.expires_at)
            cached = (key, principal, moment + self._cache_seconds, expires)
            self._cache[key_id] = cached
        key, principal, _, expires = cached
        # The secret first: the key's state is told only to whoever holds it.
        if not hmac.compare_digest(key.secret_hash, secret_hash(secret)):
            raise Unauthenticated(f"wrong secret for the API key {key_id}")
        if key.revoked_at is not None:
            raise Unauthenticated(f"the API key {key_id} was revoked at {key.revoked_at}")
        if moment >= expires:
            raise Unauthenticated(f"the API key {key_id} expired at {key.expires_at}")
        self._note_use(key_id, moment)
        return principal

    def _note_use(self, key_id: str, moment: float) -> None:
        noted = self._noted.get(key_id)
        if noted is not None and moment - noted < self._touch_interval:
            return
        with self._lock:
            self._noted[key_id] = moment
            self._pending[key_id] = self._clock()
            due = moment - self._flushed >= self._flush_interval
            if due:
                self._flushed = moment
        if due:
            self.flush()

    def flush(self) -> None:
        """Write the last uses noted and not written yet (kept for later if the database is away)."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            self.store.touch_keys(pending)
        except Unavailable:
            with self._lock:
                for key_id, when in pending.items():
                    self._pending[key_id] = max(when, self._pending.get(key_id, when))

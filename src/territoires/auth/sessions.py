"""Browser sessions for the pages, and the CSRF protection of their forms.

After sign-in (``web/login.py``), the session travels in a cookie the server signs and reads
back, so every worker process can check it without a database: ``__Host-territoires-session``,
``Secure; HttpOnly; SameSite=Lax; Path=/``. It holds the session id, the person's subject and
name, a snapshot of their grants and the session's expiry. Over plain http (development on
loopback) browsers refuse ``Secure`` and the ``__Host-`` prefix, so both are dropped there: the
request's scheme decides (behind a TLS proxy, run uvicorn with ``--proxy-headers``).

The value is ``<payload>.<mac>``: the payload is JSON, compressed (a person may hold many
grants), base64url; the MAC is HMAC-SHA256 under a key derived from ``session_secret`` for the
cookie's purpose, so that a value made for one cookie cannot pass for another. The snapshot of
grants is the price of needing no database: a role removed from a person reaches their open
sessions when these expire (``session_max_age``) or when they sign in again.

A form a page serves carries the hidden field ``csrf_token``, an HMAC of the session id: a page
of another site can make a browser post to us with our cookie, but cannot read that token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from territoires.auth.errors import Forbidden
from territoires.auth.principal import Grant, Principal, Role
from territoires.config import Settings

log = logging.getLogger("territoires.auth")

SESSION_COOKIE = "territoires-session"
SECURE_PREFIX = "__Host-"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_MAX_COOKIE = 4000          # bytes browsers keep of one cookie (4096 with its name and attributes)
_MAX_INFLATED = 64 * 1024   # bytes a payload may inflate to


def cookie_name(request: Request, name: str) -> str:
    """The cookie's name for this request: with the ``__Host-`` prefix over https."""
    return SECURE_PREFIX + name if request.url.scheme == "https" else name


class Sessions:
    def __init__(self, settings: Settings, *, now: Callable[[], float] = time.time) -> None:
        secret = settings.session_secret.encode()
        if not secret:
            secret = secrets.token_bytes(32)
            log.warning("no TERRITOIRES_SESSION_SECRET: browser sessions are signed with a key drawn at this start; "
                        "they end when the process stops and do not pass between worker processes")
        self._secret = secret
        self._keys: dict[str, bytes] = {}   # one key per purpose, derived from the secret
        self.max_age = settings.session_max_age
        self._now = now

    # ---- signed values ---------------------------------------------------------------------
    def _key(self, purpose: str) -> bytes:
        if purpose not in self._keys:
            self._keys[purpose] = hmac.new(self._secret, b"territoires:" + purpose.encode(), hashlib.sha256).digest()
        return self._keys[purpose]

    def seal(self, purpose: str, data: Mapping[str, Any], max_age: int) -> str:
        """``data`` signed for ``purpose``, valid ``max_age`` seconds."""
        payload = _b64(zlib.compress(orjson.dumps({**data, "exp": int(self._now()) + max_age})))
        return payload + "." + _b64(hmac.new(self._key(purpose), payload.encode(), hashlib.sha256).digest())

    def unseal(self, purpose: str, value: str | None) -> dict[str, Any] | None:
        """What :meth:`seal` put in ``value`` for ``purpose``; None if absent, altered or expired."""
        if not value or len(value) > _MAX_COOKIE or not value.isascii():  # ours are base64url
            return None
        payload, _, mac = value.partition(".")
        expected = _b64(hmac.new(self._key(purpose), payload.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            return None
        try:  # signed by us: only a change of format could make these fail
            inflater = zlib.decompressobj()
            data = orjson.loads(inflater.decompress(_unb64(payload), _MAX_INFLATED))
        except (ValueError, zlib.error):
            return None
        if not isinstance(data, dict) or not isinstance(data.get("exp"), int) or data["exp"] <= self._now():
            return None
        return data

    # ---- the session cookie ----------------------------------------------------------------
    def open(self, principal: Principal, *, max_age: int | None = None) -> str:
        """A new session's cookie value for a person who has just signed in (valid
        ``max_age`` seconds, the setting's by default)."""
        value = self.seal("session", {
            "sid": secrets.token_urlsafe(16),
            "sub": principal.subject,
            "name": principal.name,
            "grants": [[g.role.value, g.tenant, g.scope] for g in principal.grants],
        }, max_age or self.max_age)
        if len(value) > _MAX_COOKIE:
            raise Forbidden("Vos rôles sont trop nombreux pour tenir dans une session de navigateur : "
                            "utilisez l'API avec un jeton, ou demandez à un administrateur de les regrouper.")
        return value

    def principal_from_cookie(self, value: str | None) -> Principal | None:
        """The principal of a session cookie (kind ``session``); None unless valid."""
        data = self.unseal("session", value)
        if data is None:
            return None
        try:
            grants = tuple(Grant(Role(role), tenant, scope) for role, tenant, scope in data["grants"])
            return Principal(kind="session", subject=data["sub"], grants=grants, credential_id=data["sid"],
                             name=data["name"])
        except (KeyError, TypeError, ValueError):
            return None

    def principal_from_request(self, request: Request) -> Principal | None:
        return self.principal_from_cookie(request.cookies.get(cookie_name(request, SESSION_COOKIE)))

    def set_cookie(self, response: Response, request: Request, name: str, value: str, max_age: int) -> None:
        """Set one of our cookies as this request's scheme allows (see the module's comment)."""
        response.set_cookie(cookie_name(request, name), value, max_age=max_age, path="/",
                            secure=request.url.scheme == "https", httponly=True, samesite="lax")

    def delete_cookie(self, response: Response, request: Request, name: str) -> None:
        response.delete_cookie(cookie_name(request, name), path="/", secure=request.url.scheme == "https",
                               httponly=True, samesite="lax")

    # ---- CSRF ------------------------------------------------------------------------------
    def csrf_token(self, principal: Principal) -> str:
        """The value of the hidden ``csrf_token`` field of the forms served to this session."""
        return _b64(hmac.new(self._key("csrf"), (principal.credential_id or "").encode(), hashlib.sha256).digest())

    def check_csrf(self, request: Request, form: Mapping[str, Any]) -> None:
        """Refuse (Forbidden) an unsafe request whose form lacks the session's CSRF token."""
        if request.method in SAFE_METHODS:
            return
        principal = self.principal_from_request(request)
        if principal is None:
            raise Forbidden("Ce formulaire demande une session ouverte : connectez-vous, puis recommencez.")
        given = form.get(CSRF_FIELD)
        if not isinstance(given, str) or not given:
            raise Forbidden("Le formulaire n'a pas de jeton anti-falsification (csrf_token) : "
                            "rechargez la page, puis recommencez.")
        if not hmac.compare_digest(given.encode(), self.csrf_token(principal).encode()):
            raise Forbidden("Le jeton anti-falsification du formulaire n'est pas celui de votre session : "
                            "rechargez la page, puis recommencez.")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as error:
        raise ValueError(str(error)) from None

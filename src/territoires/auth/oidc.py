"""OpenID Connect: bearer tokens of people, checked against the configured issuer's keys.

Works with the State's agent SSO ProConnect and with Keycloak (any issuer publishing OpenID
Connect discovery). A token is a JWS in compact form; it is accepted only when

- its algorithm is asymmetric (RS*, PS*, ES*): ``none`` and the HMAC family are refused before
  any key is looked up, so a token "signed" with the issuer's public key as an HMAC secret
  (algorithm confusion) never reaches a verification;
- its ``kid`` names a signing key of the issuer's JWKS whose type fits the algorithm (a JWKS of
  one key may serve tokens without ``kid``, as JWS allows);
- the signature verifies, ``iss`` is the configured issuer, ``aud`` names the configured audience,
  and ``exp``, ``nbf``, ``iat`` hold within ``oidc_leeway`` seconds.

The discovery document and the JWKS are fetched with our own HTTP client and kept
``oidc_jwks_ttl`` seconds; a token naming a key not in the set fetches them again at once (the
issuer rotated its keys), but at most once every ``oidc_jwks_refresh`` seconds, so that tokens
with made-up key ids cannot make us hammer the issuer. Concurrent requests share one fetch.

An accepted token's principal is kept in memory for up to ``PRINCIPAL_SECONDS`` (never past the
token's expiry): a request costs no signature check and no look-up of the person's roles, and a
role given or removed reaches a token already in use within that delay.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import jwt
import orjson
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from territoires.auth.errors import AccessError, Unauthenticated
from territoires.auth.principal import Grant, Principal
from territoires.broker.http_client import Answer, HttpClient, HttpError
from territoires.config import Settings

log = logging.getLogger("territoires.auth")

GrantsOf = Callable[[str, str, str], tuple[Grant, ...]]   # (issuer, subject, e-mail) -> the person's grants

# A JWT starts with its base64url-encoded JSON header, so with '{"' encoded: the gate tells
# tokens from API keys by this prefix.
JWT_PREFIX = "eyJ"
ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"})
_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
PRINCIPAL_SECONDS = 10.0
_PRINCIPALS = 10_000               # most tokens kept verified at once
_MAX_TOKEN = 16 * 1024             # characters; a real token is one or two kilobytes
_MAX_DOCUMENT = 512 * 1024         # bytes of a discovery, JWKS, token or userinfo answer
_FETCH_TIMEOUT = 10.0
_PART = re.compile(r"[A-Za-z0-9_-]*\Z")
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "::1"})


class ProviderUnavailable(AccessError):
    """The identity provider cannot be asked (down, or answering nonsense): not the caller's fault."""

    status = 503
    title = "The identity provider cannot be reached"


@dataclass(frozen=True)
class Provider:
    """What the platform uses of the issuer's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str = ""
    # How the client authenticates at the token endpoint (OpenID Connect Discovery's default: basic).
    token_auth_methods: tuple[str, ...] = ("client_secret_basic",)


@dataclass(frozen=True)
class _Key:
    kid: str | None
    kty: str                       # "RSA" or "EC"
    crv: str                       # EC curve ("" for RSA)
    alg: str | None                # the only algorithm the issuer allows with this key, if it says
    public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey

    def fits(self, alg: str) -> bool:
        if self.alg is not None and self.alg != alg:
            return False
        if alg.startswith("ES"):
            return self.kty == "EC" and self.crv == _CURVES[alg]
        return self.kty == "RSA"


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in _LOOPBACK


async def fetch(method: str, url: str, *, body: bytes = b"",
                headers: list[tuple[str, str]] | None = None) -> Answer:
    """One request to the identity provider (a fresh connection: these are rare, and a kept one
    would belong to the event loop of the request that opened it)."""
    client = HttpClient(per_origin=0)
    try:
        return await client.request(method, url, body, headers or [], _FETCH_TIMEOUT, max_body=_MAX_DOCUMENT)
    except TimeoutError:
        raise ProviderUnavailable(f"the identity provider did not answer {url} within {_FETCH_TIMEOUT:g} s") from None
    except HttpError as error:
        raise ProviderUnavailable(f"the identity provider cannot be reached at {url}: {error}") from None
    finally:
        await client.close()


async def fetch_json(method: str, url: str, **kwargs: Any) -> Any:
    answer = await fetch(method, url, **kwargs)
    try:
        document = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        document = None
    if answer.status != 200 or not isinstance(document, dict):
        raise ProviderUnavailable(f"the identity provider answered {url} with HTTP {answer.status}"
                                  + ("" if isinstance(document, dict) else ", not a JSON object"))
    return document


class OidcVerifier:
    """Turns an OpenID Connect bearer token into a :class:`Principal` (kind ``oidc``), or raises
    :class:`Unauthenticated` saying precisely what is wrong with it."""

    def __init__(self, settings: Settings, grants: GrantsOf, *, now: Callable[[], float] = time.time) -> None:
        self.issuer = settings.oidc_issuer
        self.client_id = settings.oidc_client_id
        self.audience = settings.oidc_audience or settings.oidc_client_id
        if self.issuer and (urlsplit(self.issuer).scheme != "https" and not is_loopback(self.issuer)):
            raise ValueError(f"TERRITOIRES_OIDC_ISSUER must be an https URL, not {self.issuer!r}")
        if self.issuer and not self.audience:
            raise ValueError("TERRITOIRES_OIDC_ISSUER needs TERRITOIRES_OIDC_AUDIENCE or TERRITOIRES_OIDC_CLIENT_ID")
        self.leeway = settings.oidc_leeway
        self.ttl = settings.oidc_jwks_ttl
        self.refresh_interval = settings.oidc_jwks_refresh
        self._grants = grants
        self._now = now
        self._provider: Provider | None = None
        self._keys: list[_Key] = []
        self._fetched_at = float("-inf")     # last successful fetch of discovery and keys
        self._tried_at = float("-inf")       # last attempt, successful or not
        self._failure = ""                   # why the last attempt failed ("": it did not)
        self._fetching: asyncio.Task[None] | None = None
        self._principals: dict[str, tuple[Principal, float]] = {}

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    # ---- bearer tokens -----------------------------------------------------------------------
    async def principal(self, token: str) -> Principal:
        """The principal of an API bearer token (``aud`` must name the configured audience)."""
        now = self._now()
        cached = self._principals.get(token)
        if cached is not None and now < cached[1]:
            return cached[0]
        claims = await self.claims(token, audience=self.audience)
        principal = await self.principal_of(claims, kind="oidc", credential_id=_text(claims.get("jti")) or None)
        if len(self._principals) >= _PRINCIPALS:
            self._principals.clear()
        self._principals[token] = (principal, min(now + PRINCIPAL_SECONDS, float(claims["exp"]) + self.leeway))
        return principal

    async def principal_of(self, claims: Mapping[str, Any], *, kind: str, credential_id: str | None) -> Principal:
        """The principal verified ``claims`` describe, with the person's grants. An e-mail the
        issuer says it has not verified is not used to find their roles."""
        issuer, subject = claims["iss"], claims["sub"]
        email = _text(claims.get("email"))
        name = email or _text(claims.get("preferred_username"))
        matching_email = "" if claims.get("email_verified") in (False, "false") else email
        grants = await asyncio.to_thread(self._grants, issuer, subject, matching_email)
        return Principal(kind=kind, subject=f"{issuer}#{subject}", grants=tuple(grants), credential_id=credential_id,
                         name=name)

    async def claims(self, token: str, *, audience: str, nonce: str | None = None,
                     required: tuple[str, ...] = ("iss", "sub", "aud", "exp", "iat")) -> dict[str, Any]:
        """The claims of ``token`` once its signature, issuer, audience, times (and, for an id
        token, the ``nonce`` of the sign-in attempt) are checked; a signed userinfo answer may
        require fewer claims (it need not expire)."""
        if not self.enabled:
            raise Unauthenticated("OpenID Connect tokens are not accepted here: this platform has no issuer "
                                  "configured (TERRITOIRES_OIDC_ISSUER)")
        header = _header(token)
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise Unauthenticated("the token's header names no signature algorithm (alg)")
        if alg.lower() == "none":
            raise Unauthenticated("the token is not signed (alg none): only signed tokens are accepted")
        if alg not in ALGORITHMS:
            raise Unauthenticated(f"the token is signed with {_shown(alg)}: only asymmetric signatures "
                                  f"({', '.join(sorted(ALGORITHMS))}) are accepted")
        if "crit" in header:
            raise Unauthenticated("the token's header lists critical extensions (crit), which are not supported")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise Unauthenticated("the token's key id (kid) is not a string")
        key = await self._key(kid, alg)
        try:
            claims = jwt.decode(token, key.public, algorithms=[alg], audience=audience, issuer=self.issuer,
                                leeway=self.leeway, options={"require": list(required)})
        except jwt.PyJWTError as error:
            raise Unauthenticated(self._refusal(error, _payload(token), audience, key)) from None
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise Unauthenticated("the token's subject (sub) is empty")
        if nonce is not None and claims.get("nonce") != nonce:
            raise Unauthenticated("the id token's nonce is not the one of this sign-in attempt")
        return claims

    def _refusal(self, error: jwt.PyJWTError, payload: dict[str, Any], audience: str, key: _Key) -> str:
        """What a person must know about why a token with a well-formed header was refused."""
        if isinstance(error, jwt.InvalidSignatureError):
            return f"the token's signature does not verify with the issuer's key {key.kid or ''}".rstrip()
        if isinstance(error, jwt.ExpiredSignatureError):
            return f"the token expired at {_instant(payload.get('exp'))}"
        if isinstance(error, jwt.ImmatureSignatureError):
            claim = "nbf" if "nbf" in str(error) else "iat"
            return f"the token is not valid before {_instant(payload.get(claim))} ({claim})"
        if isinstance(error, jwt.InvalidIssuerError):
            return f"the token was issued by {_shown(payload.get('iss'))}, not by the configured issuer {self.issuer}"
        if isinstance(error, jwt.InvalidAudienceError):
            return f"the token is meant for {_shown(payload.get('aud'))}, not for this platform ({audience})"
        if isinstance(error, jwt.MissingRequiredClaimError):
            return f"the token has no {error.claim} claim"
        return f"the token is malformed: {error}"

    # ---- the issuer's discovery document and keys --------------------------------------------
    async def provider(self) -> Provider:
        """The issuer's discovery document (fetched if not known or older than the TTL)."""
        await self._current()
        assert self._provider is not None
        return self._provider

    async def _key(self, kid: str | None, alg: str) -> _Key:
        await self._current()
        key = self._pick(kid, alg)
        if key is None and (self._in_flight() or self._now() - self._tried_at >= self.refresh_interval):
            await self._refetch()  # the issuer may have rotated its keys
            key = self._pick(kid, alg)
        if key is not None:
            return key
        if kid is None:
            raise Unauthenticated("the token names no key (kid) and the issuer publishes several")
        if any(k.kid == kid for k in self._keys):
            raise Unauthenticated(f"the issuer's key {_shown(kid)} cannot verify {alg} signatures")
        raise Unauthenticated(f"the token names the key {_shown(kid)}, which the issuer does not publish")

    def _pick(self, kid: str | None, alg: str) -> _Key | None:
        if kid is None:
            return self._keys[0] if len(self._keys) == 1 and self._keys[0].fits(alg) else None
        return next((k for k in self._keys if k.kid == kid and k.fits(alg)), None)

    async def _current(self) -> None:
        """Make sure the discovery document and keys are known and not older than the TTL."""
        if self._provider is not None and self._now() - self._fetched_at < self.ttl:
            return
        if self._now() - self._tried_at < self.refresh_interval:
            if self._provider is not None:
                return  # the issuer failed a moment ago: keep what we have meanwhile
            if self._failure and not self._in_flight():
                raise ProviderUnavailable(self._failure)
        await self._refetch()

    def _in_flight(self) -> bool:
        task = self._fetching
        return task is not None and not task.done() and task.get_loop() is asyncio.get_running_loop()

    async def _refetch(self) -> None:
        """Fetch discovery and keys once for every request waiting on them (in this event loop)."""
        if not self._in_flight():
            self._tried_at = self._now()
            self._fetching = asyncio.get_running_loop().create_task(self._fetch())
        assert self._fetching is not None
        await asyncio.shield(self._fetching)
        if self._provider is None and self._failure:
            raise ProviderUnavailable(self._failure)

    async def _fetch(self) -> None:
        try:
            provider = _provider(await fetch_json("GET", discovery_url(self.issuer)), self.issuer)
            keys = _keys(await fetch_json("GET", provider.jwks_uri))
        except ProviderUnavailable as failure:
            self._failure = failure.detail
            log.warning("OpenID Connect: %s%s", failure.detail,
                        "; the keys fetched before are kept meanwhile" if self._provider is not None else "")
            return
        self._provider, self._keys, self._failure = provider, keys, ""
        self._fetched_at = self._now()


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def _provider(document: dict[str, Any], issuer: str) -> Provider:
    """The parts of a discovery document we use, checked (OpenID Connect Discovery 1.0, 3 and 4.3)."""
    if document.get("issuer") != issuer:
        raise ProviderUnavailable(f"the discovery document of {issuer} names another issuer, "
                                  f"{_shown(document.get('issuer'))}: check TERRITOIRES_OIDC_ISSUER")
    endpoints = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
        url = document.get(name)
        if url is None and name == "userinfo_endpoint":
            continue
        if not isinstance(url, str) or (urlsplit(url).scheme != "https" and not is_loopback(url)):
            raise ProviderUnavailable(f"the discovery document of {issuer} has no https {name}")
        endpoints[name] = url
    methods = document.get("token_endpoint_auth_methods_supported")
    if isinstance(methods, list) and methods and all(isinstance(m, str) for m in methods):
        endpoints["token_auth_methods"] = tuple(methods)
    return Provider(issuer=issuer, **endpoints)


def _keys(document: dict[str, Any]) -> list[_Key]:
    """The signing keys of a JWKS we can use (RSA, EC); others are skipped."""
    found = document.get("keys")
    if not isinstance(found, list):
        raise ProviderUnavailable("the issuer's JWKS has no list of keys")
    keys = []
    for jwk in found:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig" or jwk.get("kty") not in ("RSA", "EC"):
            continue
        kid, alg = jwk.get("kid"), jwk.get("alg")
        try:
            public = (jwt.algorithms.RSAAlgorithm if jwk["kty"] == "RSA" else jwt.algorithms.ECAlgorithm).from_jwk(jwk)
        except (jwt.InvalidKeyError, KeyError, TypeError, ValueError) as error:
            log.warning("OpenID Connect: the issuer's key %r is skipped: %s", kid, error)
            continue
        if isinstance(public, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            public = public.public_key()  # a JWKS should hold public keys only; never sign with ours
        keys.append(_Key(kid=kid if isinstance(kid, str) else None, kty=jwk["kty"],
                         crv=jwk.get("crv", "") if jwk["kty"] == "EC" else "",
                         alg=alg if isinstance(alg, str) else None, public=public))
    return keys


# ---- reading a compact JWS before trusting it -------------------------------------------------
def _decoded(part: str, what: str) -> dict[str, Any]:
    if not _PART.match(part):
        raise Unauthenticated(f"the token's {what} is not base64url")
    try:
        raw = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise Unauthenticated(f"the token's {what} is not base64url") from None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise Unauthenticated(f"the token's {what} is not JSON") from None
    if not isinstance(value, dict):
        raise Unauthenticated(f"the token's {what} is not a JSON object")
    return value


def _parts(token: str) -> list[str]:
    if len(token) > _MAX_TOKEN:
        raise Unauthenticated(f"the token is longer than {_MAX_TOKEN} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthenticated(f"a token is three base64url parts separated by dots, not {len(parts)}")
    return parts


def _header(token: str) -> dict[str, Any]:
    parts = _parts(token)
    header = _decoded(parts[0], "header")
    _decoded(parts[1], "payload")  # refused here, with a precise reason, rather than after a key look-up
    if not _PART.match(parts[2]) or len(parts[2]) % 4 == 1:
        raise Unauthenticated("the token's signature is not base64url")
    return header


def _payload(token: str) -> dict[str, Any]:
    return _decoded(token.split(".")[1], "payload")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _shown(value: Any) -> str:
    """A value of an untrusted token, quoted and cut short for an error detail."""
    shown = repr(value)
    return shown if len(shown) <= 120 else shown[:117] + "…"


def _instant(value: Any) -> str:
    try:
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (TypeError, ValueError, OverflowError, OSError):
        return _shown(value)

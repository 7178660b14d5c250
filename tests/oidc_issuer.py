"""A real OpenID provider for the tests, on a free loopback port (a thread of stdlib http.server).

    def test_x(oidc_issuer): … oidc_issuer.url …     # the fixture (tests/conftest.py loads it)

It serves what the platform asks of ProConnect or Keycloak:
- ``/.well-known/openid-configuration`` (discovery) and ``/jwks`` (an RSA and an EC key drawn at
  start; ``rotate()`` draws a new one and withdraws the old; ``jwks_fetches`` counts the fetches);
- ``/authorize``: the authorization endpoint; it signs the configured ``user`` in at once and
  sends the browser back to ``redirect_uri`` with a code and the ``state`` (or with
  ``error=access_denied`` when ``deny`` is set);
- ``/token``: the token endpoint: checks the client (secret by HTTP Basic or in the form, as its
  discovery says), the code (once only), the redirect URI and the PKCE verifier; answers an id
  token (with the nonce) and an access token, both signed RS256;
- ``/userinfo``: the user's claims for an access token, as a JWT signed by the issuer (the way
  ProConnect answers); with ``email_in_id_token = False`` the id token holds only the subject,
  as ProConnect's does.

``token(**claims)`` mints a token with any claims, algorithm, key id and key, and ``compact()``
assembles one from raw parts, for the refusal tests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

CLIENT_ID = "territoires-test"
CLIENT_SECRET = "secret-du-client-de-test"
USER = {"sub": "agent-0042", "email": "agent@mairie-rennes.fr", "email_verified": True,
        "given_name": "Camille", "usual_name": "Martin", "siret": "21350238800019"}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def compact(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS from its parts as given (no signing): for tokens no library would make."""
    return ".".join((b64(json.dumps(header).encode()), b64(json.dumps(payload).encode()), b64(signature)))


@dataclass
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

    @property
    def jwk(self) -> dict[str, Any]:
        rsa_private = isinstance(self.private, rsa.RSAPrivateKey)
        algorithm = jwt.algorithms.RSAAlgorithm if rsa_private else jwt.algorithms.ECAlgorithm
        return {**algorithm.to_jwk(self.private.public_key(), as_dict=True), "kid": self.kid, "use": "sig"}


def rsa_key(kid: str) -> SigningKey:
    return SigningKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048))


def ec_key(kid: str) -> SigningKey:
    return SigningKey(kid, ec.generate_private_key(ec.SECP256R1()))


@dataclass
class _Grant:
    """What /authorize gave and /token must find again."""

    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None


@dataclass
class OidcIssuer:
    port: int = 0
    user: dict[str, Any] = field(default_factory=lambda: dict(USER))
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    auth_methods: tuple[str, ...] = ("client_secret_basic", "client_secret_post")
    email_in_id_token: bool = True
    deny: bool = False
    jwks_fetches: int = 0
    token_requests: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rsa = rsa_key("rsa-1")
        self.ec = ec_key("ec-1")
        self.keys: list[SigningKey] = [self.rsa, self.ec]
        self._codes: dict[str, _Grant] = {}
        self._access: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _handler(self))
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="oidc-issuer", daemon=True)

    @property
    def url(self) -> str:
        """The issuer identifier (also the base of its endpoints)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> OidcIssuer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ---- minting tokens ----------------------------------------------------------------------
    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Claims of a valid access token for the test user, changed by ``overrides`` (a value
        of None removes the claim)."""
        now = int(time.time())
        claims = {"iss": self.url, "sub": self.user["sub"], "aud": self.client_id, "iat": now, "exp": now + 300,
                  "jti": secrets.token_hex(8), "email": self.user["email"], "email_verified": True}
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def token(self, *, alg: str = "RS256", key: SigningKey | None = None, kid: str | None = "",
              headers: dict[str, Any] | None = None, **claims: Any) -> str:
        """A token signed with ``key`` (default: the issuer's RSA key, or its EC key for ES*),
        whose header names ``kid`` (default: the key's; None: no kid)."""
        key = key or (self.ec if alg.startswith("ES") else self.rsa)
        header = {**({"kid": key.kid if kid == "" else kid} if kid is not None else {}), **(headers or {})}
        return jwt.encode(self.claims(**claims), key.private, algorithm=alg, headers=header)

    def rotate(self) -> SigningKey:
        """Draw a new RSA key, publish it instead of the current one, and sign with it from now on."""
        with self._lock:
            fresh = rsa_key(f"rsa-{len(self.keys) + 1}")
            self.keys = [fresh if k is self.rsa else k for k in self.keys]
            self.rsa = fresh
        return fresh

    # ---- the endpoints -----------------------------------------------------------------------
    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.url + "/token",
            "userinfo_endpoint": self.url + "/userinfo",
            "jwks_uri": self.url + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "token_endpoint_auth_methods_supported": list(self.auth_methods),
            "code_challenge_methods_supported": ["S256"],
        }

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            self.jwks_fetches += 1
            return {"keys": [key.jwk for key in self.keys]}

    def authorize(self, query: dict[str, str]) -> str:
        """Where the browser goes next: back to the client with a code (or an error)."""
        redirect_uri = query["redirect_uri"]
        back = {"state": query.get("state", "")}
        if self.deny:
            back["error"] = "access_denied"
            back["error_description"] = "la personne a refusé"
        elif (query.get("client_id") != self.client_id or query.get("response_type") != "code"
              or query.get("code_challenge_method") != "S256" or "openid" not in query.get("scope", "").split()):
            back["error"] = "invalid_request"
        else:
            code = secrets.token_urlsafe(16)
            self._codes[code] = _Grant(query["client_id"], redirect_uri, query["code_challenge"], query.get("nonce"))
            back["code"] = code
        return redirect_uri + ("&" if "?" in redirect_uri else "?") + urlencode(back)

    def exchange(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        self.token_requests.append({**form, **({"authorization": authorization} if authorization else {})})
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if authorization and authorization.startswith("Basic ") and "client_secret_basic" in self.auth_methods:
            client_id, _, secret = base64.b64decode(authorization[6:]).decode().partition(":")
        elif secret is not None and "client_secret_post" not in self.auth_methods:
            return 401, {"error": "invalid_client", "error_description": "client_secret_post not allowed"}
        if client_id != self.client_id or secret != self.client_secret:
            return 401, {"error": "invalid_client"}
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return 400, {"error": "invalid_grant", "error_description": "code inconnu ou déjà utilisé"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri differs"}
        verifier = form.get("code_verifier", "")
        if b64(hashlib.sha256(verifier.encode()).digest()) != grant.challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE verifier does not match"}
        access = self.token(aud=self.client_id)
        self._access[access] = dict(self.user)
        id_claims = {"nonce": grant.nonce, "jti": None, "email": None, "email_verified": None}
        if self.email_in_id_token:
            id_claims.update(email=self.user["email"], email_verified=self.user.get("email_verified"))
        return 200, {"access_token": access, "token_type": "Bearer", "expires_in": 300,
                     "id_token": self.token(**id_claims)}

    def userinfo(self, authorization: str | None) -> tuple[int, str]:
        user = self._access.get((authorization or "").removeprefix("Bearer "))
        if user is None:
            return 401, ""
        claims = {"iss": self.url, "aud": self.client_id, **user}
        return 200, jwt.encode(claims, self.rsa.private, algorithm="RS256", headers={"kid": self.rsa.kid})


def _handler(issuer: OidcIssuer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, document: dict[str, Any]) -> None:
            self._send(status, json.dumps(document).encode(), "application/json")

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/.well-known/openid-configuration":
                self._json(200, issuer.discovery())
            elif parts.path == "/jwks":
                self._json(200, issuer.jwks())
            elif parts.path == "/authorize":
                self._send(302, b"", "text/plain", {"Location": issuer.authorize(dict(parse_qsl(parts.query)))})
            elif parts.path == "/userinfo":
                status, body = issuer.userinfo(self.headers.get("Authorization"))
                self._send(status, body.encode(), "application/jwt")
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if urlsplit(self.path).path != "/token":
                self._json(404, {"error": "not_found"})
                return
            status, document = issuer.exchange(dict(parse_qsl(body)), self.headers.get("Authorization"))
            self._json(status, document)

    return Handler


@pytest.fixture
def oidc_issuer() -> Iterator[OidcIssuer]:
    issuer = OidcIssuer().start()
    try:
        yield issuer
    finally:
        issuer.stop()

"""Signing in and out of the pages: the OpenID Connect authorization code flow with PKCE.

``GET /connexion?suivant=/page`` sends the browser to the issuer (ProConnect, Keycloak) with a
fresh ``state``, ``nonce`` and PKCE challenge, which wait in a short-lived signed cookie: no
server-side store, so any worker process can take the return. ``GET /connexion/retour`` checks
``state``, exchanges the code for tokens at the issuer (with the client secret and the PKCE
verifier), verifies the id token (signature, issuer, audience, times, nonce), completes the
person's claims from the userinfo endpoint when the id token lacks their e-mail (ProConnect's
keeps only the subject), opens the session cookie and goes back to the page asked.
``POST /deconnexion`` (its form carries ``csrf_token``) closes the session. Without an OpenID
provider configured, ``/connexion`` sends to the sign-in with an API key (``web/login_key.py``).

The verifier and the sessions are the application's (``app.state.oidc``, ``app.state.sessions``):
the enforcement point reads the same cookies with the same key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import orjson
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from territoires.auth.errors import Unauthenticated
from territoires.auth.oidc import OidcVerifier, Provider, ProviderUnavailable, fetch, is_loopback
from territoires.auth.sessions import SESSION_COOKIE, Sessions, cookie_name
from territoires.config import Settings
from territoires.ngsild.errors import InvalidRequest, PayloadTooLarge, ResourceNotFound

LOGIN_COOKIE = "territoires-connexion"
LOGIN_SECONDS = 600                 # time a person has to sign in at the issuer
_MAX_FORM = 16 * 1024
_RESTART = "recommencez depuis /connexion."


def _oidc_configured(request: Request) -> bool:
    verifier: OidcVerifier = request.app.state.oidc
    return verifier.enabled and bool(verifier.client_id)


def _verifier(request: Request) -> OidcVerifier:
    verifier: OidcVerifier = request.app.state.oidc
    if not _oidc_configured(request):
        raise ResourceNotFound("La connexion n'est pas configurée sur cette plateforme : l'exploitant doit renseigner "
                               "TERRITOIRES_OIDC_ISSUER et TERRITOIRES_OIDC_CLIENT_ID.")
    return verifier


def _sessions(request: Request) -> Sessions:
    return request.app.state.sessions


def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def sign_in(request: Request) -> Response:
    if not _oidc_configured(request):  # no OpenID provider: sign in with an API key
        then = quote(local_page(request.query_params.get("suivant")), safe="")
        return RedirectResponse(f"/connexion/cle?suivant={then}", status_code=303)
    verifier, sessions, settings = _verifier(request), _sessions(request), _settings(request)
    if request.url.scheme != "https" and not is_loopback(str(request.url)):
        raise InvalidRequest("La connexion passe par HTTPS : ouvrez cette adresse en https:// (derrière un "
                             "mandataire TLS, lancez le serveur avec --proxy-headers).")
    provider = await verifier.provider()
    state, nonce, code_verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48)
    redirect_uri = settings.oidc_redirect_url or str(request.url_for("connexion_retour"))
    query = urlencode({
        "response_type": "code",
        "client_id": verifier.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(settings.oidc_scopes),
        "state": state,
        "nonce": nonce,
        "code_challenge": _b64(hashlib.sha256(code_verifier.encode()).digest()),
        "code_challenge_method": "S256",
    }, quote_via=quote)
    endpoint = provider.authorization_endpoint
    response = RedirectResponse(endpoint + ("&" if "?" in endpoint else "?") + query, status_code=302)
    attempt = {"state": state, "nonce": nonce, "verifier": code_verifier, "redirect_uri": redirect_uri,
               "next": local_page(request.query_params.get("suivant"))}
    sessions.set_cookie(response, request, LOGIN_COOKIE, sessions.seal("login", attempt, LOGIN_SECONDS), LOGIN_SECONDS)
    return response


async def signed_in(request: Request) -> Response:
    verifier, sessions = _verifier(request), _sessions(request)
    attempt = sessions.unseal("login", request.cookies.get(cookie_name(request, LOGIN_COOKIE)))
    if attempt is None:
        raise InvalidRequest("Cette tentative de connexion a expiré, ou ce navigateur n'a pas gardé son cookie : "
                             + _RESTART)
    params = request.query_params
    if "error" in params:
        reason = " ".join(filter(None, (params.get("error"), params.get("error_description"))))
        raise Unauthenticated(f"Le fournisseur d'identité n'a pas connecté la personne ({reason[:300]}) : {_RESTART}")
    if not hmac.compare_digest(params.get("state", "").encode(), attempt["state"].encode()):
        raise Unauthenticated(f"Le retour du fournisseur d'identité n'est pas celui de cette tentative de connexion "
                              f"(paramètre state) : {_RESTART}")
    code = params.get("code")
    if not code:
        raise InvalidRequest(f"Le retour du fournisseur d'identité n'apporte pas de code de connexion : {_RESTART}")
    provider = await verifier.provider()
    tokens = await _exchange(provider, _settings(request), code, attempt)
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise ProviderUnavailable("the issuer's token endpoint answered without an id_token")
    claims = await verifier.claims(id_token, audience=verifier.client_id, nonce=attempt["nonce"])
    access_token = tokens.get("access_token")
    if not claims.get("email") and provider.userinfo_endpoint and isinstance(access_token, str):
        claims = await _with_userinfo(verifier, provider, claims, access_token)
    principal = await verifier.principal_of(claims, kind="session", credential_id=None)
    response = RedirectResponse(attempt["next"], status_code=303)
    sessions.set_cookie(response, request, SESSION_COOKIE, sessions.open(principal), sessions.max_age)
    sessions.delete_cookie(response, request, LOGIN_COOKIE)
    return response


async def sign_out(request: Request) -> Response:
    sessions = _sessions(request)
    if sessions.principal_from_request(request) is not None:
        sessions.check_csrf(request, await read_form(request))
    response = RedirectResponse("/", status_code=303)
    sessions.delete_cookie(response, request, SESSION_COOKIE)
    return response


async def _exchange(provider: Provider, settings: Settings, code: str, attempt: dict[str, Any]) -> dict[str, Any]:
    """The tokens the issuer gives for ``code`` (RFC 6749 4.1.3 with the PKCE verifier, RFC 7636)."""
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": attempt["redirect_uri"],
            "code_verifier": attempt["verifier"]}
    headers = [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")]
    client_id, secret = settings.oidc_client_id, settings.oidc_client_secret
    if secret and "client_secret_basic" in provider.token_auth_methods:
        pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"  # RFC 6749 2.3.1: form-encoded first
        headers.append(("Authorization", "Basic " + base64.b64encode(pair.encode()).decode()))
    else:
        form["client_id"] = client_id
        if secret:
            form["client_secret"] = secret
    answer = await fetch("POST", provider.token_endpoint, body=urlencode(form).encode(), headers=headers)
    try:
        document = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"the issuer's token endpoint answered HTTP {answer.status}, not a JSON object")
    if answer.status != 200:
        error = " ".join(str(document.get(k, "")) for k in ("error", "error_description")).strip()
        raise Unauthenticated(f"Le fournisseur d'identité a refusé le code de connexion ({error[:300]}) : {_RESTART}")
    return document


async def _with_userinfo(verifier: OidcVerifier, provider: Provider, claims: dict[str, Any],
                         access_token: str) -> dict[str, Any]:
    """The id token's claims completed by the userinfo endpoint's (OpenID Connect Core 5.3):
    a JSON object, or a JWT signed by the issuer (ProConnect)."""
    answer = await fetch("GET", provider.userinfo_endpoint, headers=[
        ("Authorization", f"Bearer {access_token}"), ("Accept", "application/json, application/jwt")])
    if answer.status != 200:
        raise ProviderUnavailable(f"the issuer's userinfo endpoint answered HTTP {answer.status}")
    if answer.headers.get("content-type", "").startswith("application/jwt"):
        info = await verifier.claims(answer.body.decode("ascii", "replace").strip(), audience=verifier.client_id,
                                     required=("iss", "sub", "aud"))
    else:
        try:
            info = orjson.loads(answer.body)
        except orjson.JSONDecodeError:
            info = None
        if not isinstance(info, dict):
            raise ProviderUnavailable("the issuer's userinfo endpoint answered neither a JSON object nor a JWT")
    if info.get("sub") != claims["sub"]:
        raise Unauthenticated("the userinfo endpoint describes another person than the id token (sub differs)")
    return {**info, **claims}


async def read_form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the pages' forms); other bodies read as empty."""
    if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() != "application/x-www-form-urlencoded":
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM:
            raise PayloadTooLarge(f"Le formulaire dépasse {_MAX_FORM} octets.")
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def local_page(value: str | None) -> str:
    """Where to go after sign-in: a path of this site only (never another site: no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value or len(value) > 2000:
        return "/"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "/"
    return value


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


routes = [
    Route("/connexion", sign_in, methods=["GET"], name="connexion"),
    Route("/connexion/retour", signed_in, methods=["GET"], name="connexion_retour"),
    Route("/deconnexion", sign_out, methods=["POST"], name="deconnexion"),
]

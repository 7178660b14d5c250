"""Signing in to the pages with an API key: for a platform without an OpenID provider (a small
authority, a demonstration: ``make run`` prints a contributor's key), or a person holding a key.

``GET /connexion/cle?suivant=/page`` shows the form; ``POST /connexion/cle`` checks the key as
the API does (unknown, wrong, revoked or expired: refused; repeated failures slowed down like
any authentication) and opens the same session cookie as the OpenID sign-in, holding the key's
grants. The session lasts at most ``KEY_SESSION_SECONDS``, so that a revoked key stops working in
the pages within that time too. A short-lived signed cookie carries the form's own token, so that
another site cannot sign a browser in with the key of its choosing (login CSRF).
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from territoires.auth.errors import Unauthenticated
from territoires.auth.keys import KeyService
from territoires.auth.principal import Principal
from territoires.auth.sessions import SESSION_COOKIE, Sessions, cookie_name
from territoires.web.login import local_page, read_form
from territoires.web.pages import render

KEY_LOGIN_COOKIE = "territoires-connexion-cle"
KEY_LOGIN_SECONDS = 900             # time to paste the key
KEY_SESSION_SECONDS = 3600          # a key's session: a revocation reaches the pages within this


async def key_form(request: Request) -> Response:
    return _form(request, local_page(request.query_params.get("suivant")), "", status=200)


async def key_sign_in(request: Request) -> Response:
    sessions: Sessions = request.app.state.sessions
    form = await read_form(request)
    then = local_page(form.get("suivant"))
    expected = sessions.unseal("key-login", request.cookies.get(cookie_name(request, KEY_LOGIN_COOKIE))) or {}
    if not hmac.compare_digest(str(expected.get("token", "")).encode(), form.get("login_token", "").encode()):
        return _form(request, then, "Le formulaire a expiré : saisissez la clé à nouveau.", status=400)
    address = request.client.host if request.client else ""
    throttle = request.app.state.throttle
    throttle.check(address)
    keys: KeyService = request.app.state.keys
    try:
        principal = keys.principal(form.get("key", "").strip())
    except Unauthenticated:
        await throttle.failed(address)
        return _form(request, then, "Clé refusée : elle est inconnue, mal recopiée, révoquée ou expirée.", status=400)
    throttle.succeeded(address)
    person = Principal(kind="session", subject=f"key:{principal.subject}", grants=principal.grants,
                       name=principal.name)
    response = RedirectResponse(then, status_code=303)
    max_age = min(sessions.max_age, KEY_SESSION_SECONDS)
    sessions.set_cookie(response, request, SESSION_COOKIE, sessions.open(person, max_age=max_age), max_age)
    sessions.delete_cookie(response, request, KEY_LOGIN_COOKIE)
    return response


def _form(request: Request, then: str, error: str, *, status: int) -> Response:
    sessions: Sessions = request.app.state.sessions
    token = secrets.token_urlsafe(24)
    response = render(request, "login_key.html", {"then": then, "login_token": token, "error": error}, status=status)
    sessions.set_cookie(response, request, KEY_LOGIN_COOKIE, sessions.seal("key-login", {"token": token},
                                                                           KEY_LOGIN_SECONDS), KEY_LOGIN_SECONDS)
    return response


routes = [
    Route("/connexion/cle", key_form, methods=["GET"], name="connexion_cle"),
    Route("/connexion/cle", key_sign_in, methods=["POST"]),
]

"""Browser sessions: the sign-in journey through a real local issuer with a real HTTP client
following redirects between two real servers, the signed cookie, CSRF, signing out."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
import uvicorn
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.testclient import TestClient

from territoires.app import create_app
from territoires.auth.errors import Forbidden
from territoires.auth.oidc import OidcVerifier
from territoires.auth.principal import Grant, Principal, Role
from territoires.auth.sessions import Sessions
from territoires.config import Settings
from territoires.web.login import local_page
from tests.oidc_issuer import CLIENT_ID, CLIENT_SECRET, OidcIssuer
from tests.servers import free_port

SECRET = "une-clé-de-session-pour-les-tests"
GRANTS = (Grant(Role.ADMIN, "rennes"), Grant(Role.READER, ""), Grant(Role.CONTRIBUTOR, None, "35238"))
AGENT = Principal(kind="oidc", subject="https://sso.example#agent", grants=GRANTS, name="agent@mairie-rennes.fr")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def grants_of(issuer: str, subject: str, email: str) -> tuple[Grant, ...]:
    """Stands for MemberService.grants: the test user administers Rennes."""
    return GRANTS if email == "agent@mairie-rennes.fr" else ()


def platform_settings(tmp_path: Path, issuer: OidcIssuer, **overrides: Any) -> Settings:
    return Settings(data_dir=tmp_path / "var", auth=False, notifications=False, oidc_issuer=issuer.url,
                    oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET, session_secret=SECRET, **overrides)


def app_for(settings: Settings) -> Starlette:
    app = create_app(settings)
    app.state.oidc = OidcVerifier(settings, grants_of)
    app.state.sessions = Sessions(settings)
    return app


@dataclass
class Served:
    url: str
    app: Starlette


@pytest.fixture
def served(tmp_path: Path, oidc_issuer: OidcIssuer) -> Iterator[Served]:
    """The platform under uvicorn on a loopback port, signing in at the local issuer."""
    app = app_for(platform_settings(tmp_path, oidc_issuer))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        assert thread.is_alive(), "the platform did not start"
        time.sleep(0.02)
    try:
        yield Served(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def browser() -> httpx2.Client:
    return httpx2.Client(follow_redirects=True, timeout=10)


def session_cookie(client: httpx2.Client) -> str | None:
    return client.cookies.get("territoires-session")


# ---- the journey -----------------------------------------------------------------------------
def test_signing_in_opens_a_session_and_goes_back_to_the_page_asked(served: Served, oidc_issuer: OidcIssuer) -> None:
    with browser() as client:
        answer = client.get(served.url + "/connexion", params={"suivant": "/ngsi-ld/v1/types?details=true"})
        assert answer.status_code == 200, answer.text
        assert [r.status_code for r in answer.history] == [302, 302, 303]
        assert str(answer.url) == served.url + "/ngsi-ld/v1/types?details=true"
        to_issuer = answer.history[0].headers["location"]
        asked = parse_qs(urlsplit(to_issuer).query)
        assert to_issuer.startswith(oidc_issuer.url + "/authorize?")
        assert asked["redirect_uri"] == [served.url + "/connexion/retour"]
        assert asked["code_challenge_method"] == ["S256"] and asked["nonce"] and asked["state"]
        set_session = answer.history[2].headers["set-cookie"]
        assert "HttpOnly" in set_session and "SameSite=lax" in set_session and "Path=/" in set_session
        assert "Secure" not in set_session and "__Host-" not in set_session  # plain http on loopback
        assert client.cookies.get("territoires-connexion") is None  # the sign-in attempt is over
        session = served.app.state.sessions.principal_from_cookie(session_cookie(client))
    assert session.kind == "session"
    assert session.subject == f"{oidc_issuer.url}#agent-0042"
    assert session.name == "agent@mairie-rennes.fr"
    assert session.grants == GRANTS and session.credential_id
    exchange = oidc_issuer.token_requests[-1]
    assert exchange["authorization"].startswith("Basic ") and "client_secret" not in exchange
    assert exchange["code_verifier"] and exchange["grant_type"] == "authorization_code"


def test_proconnect_style_claims_come_from_the_signed_userinfo(served: Served, oidc_issuer: OidcIssuer) -> None:
    oidc_issuer.email_in_id_token = False          # ProConnect's id token holds only the subject
    oidc_issuer.auth_methods = ("client_secret_post",)
    with browser() as client:
        answer = client.get(served.url + "/connexion")
        assert answer.status_code == 200 and str(answer.url) == served.url + "/"
        session = served.app.state.sessions.principal_from_cookie(session_cookie(client))
    assert session.name == "agent@mairie-rennes.fr" and session.grants == GRANTS
    assert oidc_issuer.token_requests[-1]["client_secret"] == CLIENT_SECRET


def test_only_pages_of_this_site_are_gone_back_to(served: Served) -> None:
    with browser() as client:
        answer = client.get(served.url + "/connexion", params={"suivant": "https://ailleurs.example/piege"})
        assert str(answer.url) == served.url + "/"
    for outside in ("//ailleurs.example", "/\\ailleurs.example", "https://x", "relative", "/a\nb", ""):
        assert local_page(outside) == "/"
    assert local_page("/observatoire?page=2#carte") == "/observatoire?page=2#carte"


def test_a_person_the_issuer_turned_down_gets_no_session(served: Served, oidc_issuer: OidcIssuer) -> None:
    oidc_issuer.deny = True
    with browser() as client:
        answer = client.get(served.url + "/connexion")
        assert answer.status_code == 401
        assert "n'a pas connecté la personne (access_denied" in answer.json()["detail"]
        assert session_cookie(client) is None


def _first_leg(client: httpx2.Client, served: Served) -> dict[str, str]:
    """Start signing in and stop at the issuer's answer: the parameters it sends back."""
    to_issuer = client.get(served.url + "/connexion", follow_redirects=False).headers["location"]
    back = client.get(to_issuer, follow_redirects=False).headers["location"]
    return {k: v[0] for k, v in parse_qs(urlsplit(back).query).items()}


def test_a_return_with_another_state_is_refused(served: Served) -> None:
    with browser() as client:
        back = _first_leg(client, served)
        answer = client.get(served.url + "/connexion/retour", params={**back, "state": "forge"})
        assert answer.status_code == 401 and "paramètre state" in answer.json()["detail"]
        assert session_cookie(client) is None


def test_a_return_without_the_attempt_cookie_is_refused(served: Served) -> None:
    with browser() as client:
        back = _first_leg(client, served)
        client.cookies.clear()
        answer = client.get(served.url + "/connexion/retour", params=back)
        assert answer.status_code == 400 and "a expiré" in answer.json()["detail"]


def test_a_code_is_good_for_one_sign_in_only(served: Served) -> None:
    with browser() as client:
        back = _first_leg(client, served)
        attempt = client.cookies.get("territoires-connexion")
        assert client.get(served.url + "/connexion/retour", params=back).status_code == 200
        client.cookies.set("territoires-connexion", attempt)
        replay = client.get(served.url + "/connexion/retour", params=back, follow_redirects=False)
        assert replay.status_code == 401 and "a refusé le code de connexion (invalid_grant" in replay.json()["detail"]


def test_signing_in_needs_https_except_on_loopback(tmp_path: Path, oidc_issuer: OidcIssuer) -> None:
    app = app_for(platform_settings(tmp_path, oidc_issuer))
    with TestClient(app, base_url="http://plateforme.example") as plain:
        answer = plain.get("/connexion", follow_redirects=False)
        assert answer.status_code == 400 and "HTTPS" in answer.json()["detail"]
    with TestClient(app, base_url="https://plateforme.example") as secure:
        answer = secure.get("/connexion", follow_redirects=False)
        assert answer.status_code == 302
        set_cookie = answer.headers["set-cookie"]
        assert set_cookie.startswith("__Host-territoires-connexion=") and "Secure" in set_cookie
        assert "redirect_uri=https%3A%2F%2Fplateforme.example%2Fconnexion%2Fretour" in answer.headers["location"]


def test_without_an_issuer_signing_in_is_with_a_key_and_the_return_says_why(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var", auth=False, notifications=False)
    with TestClient(app_for(settings), base_url="http://127.0.0.1") as client:
        answer = client.get("/connexion", follow_redirects=False)
        assert answer.status_code == 303 and answer.headers["location"] == "/connexion/cle?suivant=%2F"
        back = client.get("/connexion/retour", params={"code": "x", "state": "y"})
        assert back.status_code == 404 and "TERRITOIRES_OIDC_ISSUER" in back.json()["detail"]


# ---- the cookie ------------------------------------------------------------------------------
def test_a_session_cookie_reads_back_as_its_principal() -> None:
    sessions = Sessions(Settings(session_secret=SECRET))
    found = sessions.principal_from_cookie(sessions.open(AGENT))
    assert found is not None and found.kind == "session"
    assert (found.subject, found.name, found.grants) == (AGENT.subject, AGENT.name, GRANTS)
    other = sessions.principal_from_cookie(sessions.open(AGENT))
    assert other.credential_id != found.credential_id  # each sign-in is a session of its own


def test_many_grants_still_fit_in_a_cookie() -> None:
    many = Principal(kind="oidc", subject="s", grants=tuple(Grant(Role.ADMIN, f"commune-{n:05d}") for n in range(300)))
    sessions = Sessions(Settings(session_secret=SECRET))
    assert sessions.principal_from_cookie(sessions.open(many)).grants == many.grants


def test_a_tampered_cookie_is_refused() -> None:
    sessions = Sessions(Settings(session_secret=SECRET))
    value = sessions.open(AGENT)
    payload, mac = value.split(".")
    for tampered in (payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + mac,
                     payload + "." + mac[:-1] + ("A" if mac[-1] != "A" else "B"),
                     payload + ".", payload, "." + mac, value + "x"):
        assert sessions.principal_from_cookie(tampered) is None
    assert Sessions(Settings(session_secret="une autre clé")).principal_from_cookie(value) is None
    # a value signed for another purpose (the sign-in attempt) is no session
    assert sessions.principal_from_cookie(sessions.seal("login", {"sub": "x"}, 60)) is None


def test_an_expired_cookie_is_refused() -> None:
    clock = Clock()
    sessions = Sessions(Settings(session_secret=SECRET, session_max_age=3600), now=clock)
    value = sessions.open(AGENT)
    clock.now += 3599
    assert sessions.principal_from_cookie(value) is not None
    clock.now += 2
    assert sessions.principal_from_cookie(value) is None


def test_without_a_secret_each_start_draws_its_own_key(caplog: pytest.LogCaptureFixture) -> None:
    first, second = Sessions(Settings()), Sessions(Settings())
    assert "TERRITOIRES_SESSION_SECRET" in caplog.text
    assert first.principal_from_cookie(first.open(AGENT)) is not None
    assert second.principal_from_cookie(first.open(AGENT)) is None


@hypothesis_settings(max_examples=300, deadline=None)
@given(value=st.text(max_size=500) | st.from_regex(r"[A-Za-z0-9_-]{0,300}\.[A-Za-z0-9_-]{0,60}", fullmatch=True),
       position=st.integers(min_value=0), replacement=st.characters())
def test_fuzzed_cookies_read_as_no_session(value: str, position: int, replacement: str) -> None:
    sessions = Sessions(Settings(session_secret=SECRET))
    assert sessions.principal_from_cookie(value) is None
    valid = sessions.open(AGENT)
    at = position % len(valid)
    mutated = valid[:at] + replacement + valid[at + 1:]
    assert (sessions.principal_from_cookie(mutated) is None) is (mutated != valid)


# ---- CSRF and signing out --------------------------------------------------------------------
@pytest.fixture
def signed_in(tmp_path: Path, oidc_issuer: OidcIssuer) -> Iterator[tuple[TestClient, Sessions, str]]:
    """A test client holding a session cookie, its sessions and the session's CSRF token."""
    app = app_for(platform_settings(tmp_path, oidc_issuer))
    sessions: Sessions = app.state.sessions
    value = sessions.open(AGENT)
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        client.cookies.set("territoires-session", value, domain="127.0.0.1")
        yield client, sessions, sessions.csrf_token(sessions.principal_from_cookie(value))


def test_signing_out_without_the_csrf_token_is_refused(signed_in: tuple[TestClient, Sessions, str]) -> None:
    client, _, _ = signed_in
    missing = client.post("/deconnexion", data={}, follow_redirects=False)
    assert missing.status_code == 403 and "csrf_token" in missing.json()["detail"]
    wrong = client.post("/deconnexion", data={"csrf_token": "pas-le-bon"}, follow_redirects=False)
    assert wrong.status_code == 403 and "n'est pas celui de votre session" in wrong.json()["detail"]
    other_session = Sessions(Settings(session_secret=SECRET))
    stolen = other_session.csrf_token(other_session.principal_from_cookie(other_session.open(AGENT)))
    assert client.post("/deconnexion", data={"csrf_token": stolen}, follow_redirects=False).status_code == 403
    assert client.post("/deconnexion", content=b"csrf_token=\xff\xfe", follow_redirects=False,
                       headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 403
    assert client.cookies.get("territoires-session") is not None


def test_signing_out_closes_the_session(signed_in: tuple[TestClient, Sessions, str]) -> None:
    client, _, token = signed_in
    answer = client.post("/deconnexion", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    assert 'territoires-session=""' in answer.headers["set-cookie"] and "Max-Age=0" in answer.headers["set-cookie"]
    assert client.cookies.get("territoires-session") is None


def test_signing_out_without_a_session_just_goes_home(tmp_path: Path, oidc_issuer: OidcIssuer) -> None:
    with TestClient(app_for(platform_settings(tmp_path, oidc_issuer)), base_url="http://127.0.0.1") as client:
        answer = client.post("/deconnexion", follow_redirects=False)
        assert answer.status_code == 303


def test_safe_methods_need_no_csrf_token(signed_in: tuple[TestClient, Sessions, str]) -> None:
    _, sessions, _ = signed_in

    def request(method: str, cookie: str | None) -> Request:
        headers = [(b"cookie", f"territoires-session={cookie}".encode())] if cookie else []
        return Request({"type": "http", "method": method, "scheme": "http", "server": ("127.0.0.1", 80),
                        "path": "/", "headers": headers, "query_string": b""})

    sessions.check_csrf(request("GET", None), {})
    with pytest.raises(Forbidden, match="session ouverte"):
        sessions.check_csrf(request("POST", None), {"csrf_token": "x"})
    value = sessions.open(AGENT)
    token = sessions.csrf_token(sessions.principal_from_cookie(value))
    sessions.check_csrf(request("PUT", value), {"csrf_token": token})

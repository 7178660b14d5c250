"""Signing in to the pages with an API key (web/login_key.py), on a platform without an
OpenID provider: what ``make run`` offers to try the contributors' pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from territoires.app import create_app
from territoires.config import Settings

DIAGNOSTIC = "/observatoire/diagnostic/commune/35238"


@pytest.fixture
def app(tmp_path: Path) -> Starlette:
    return create_app(Settings(data_dir=tmp_path / "var", auth=True, notifications=False,
                               session_secret="clé-des-tests-de-connexion"))


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


def contributor_key(app: Starlette, scope: str = "commune:35238") -> str:
    return app.state.keys.create(None, "contributor", "contributeur de démonstration", scope=scope)[1]


def form_token(client: TestClient, then: str = DIAGNOSTIC) -> str:
    page = client.get("/connexion/cle", params={"suivant": then})
    assert page.status_code == 200 and 'type="password"' in page.text and 'for="cle"' in page.text
    return re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)


def test_without_an_openid_provider_sign_in_goes_to_the_key_form(client: TestClient) -> None:
    answer = client.get("/connexion", params={"suivant": DIAGNOSTIC}, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/connexion/cle?suivant=%2Fobservatoire%2Fdiagnostic%2Fcommune%2F35238"
    outside = client.get("/connexion", params={"suivant": "https://ailleurs.example/"}, follow_redirects=False)
    assert outside.headers["location"] == "/connexion/cle?suivant=%2F"  # never to another site


def test_a_contributor_key_opens_a_session_for_its_territory(client: TestClient, app: Starlette) -> None:
    assert client.get(DIAGNOSTIC, follow_redirects=False).status_code == 303  # signed out: to sign in
    signed = client.post("/connexion/cle", data={"login_token": form_token(client), "suivant": DIAGNOSTIC,
                                                 "key": contributor_key(app)}, follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == DIAGNOSTIC
    cookie = signed.headers["set-cookie"]
    assert "territoires-session=" in cookie and "HttpOnly" in cookie and "Max-Age=3600" in cookie
    form = client.get(DIAGNOSTIC)
    assert form.status_code == 200 and "<fieldset" in form.text  # the questionnaire, for Rennes
    assert client.get("/observatoire/diagnostic/commune/44109").status_code == 403  # not Nantes


def test_a_wrong_key_or_a_stale_form_is_refused_in_french(client: TestClient, app: Starlette) -> None:
    wrong = client.post("/connexion/cle", data={"login_token": form_token(client), "key": "trk_abcdefghijkl_faux"})
    assert wrong.status_code == 400 and "Clé refusée" in wrong.text and "territoires-session=" not in str(wrong.headers)
    key = contributor_key(app)
    client.cookies.clear()  # another site's form: no token cookie of ours
    forged = client.post("/connexion/cle", data={"login_token": "inventé", "key": key}, follow_redirects=False)
    assert forged.status_code == 400 and "Le formulaire a expiré" in forged.text
    app.state.keys.revoke(key.split("_")[1])
    revoked = client.post("/connexion/cle", data={"login_token": form_token(client), "key": key})
    assert revoked.status_code == 400 and "Clé refusée" in revoked.text

"""The pages in a real browser: a `territoires serve` process (authentication on, the
observatory seeded, sign-in at a real local OpenID provider) and Debian's Chromium driven by
Playwright.

    def test_x(site, page):
        site.sign_in(page, "agent@mairie-rennes.fr", role="contributor", scope="35238")
        page.goto(site.url + "/observatoire/projets")

Browser tests are skipped, with the reason, when /usr/bin/chromium is missing; with
TERRITOIRES_REQUIRE_CHROMIUM=1 (CI) that is an error. The server and the browser are started
once per test session and the browser once per test module (a browser test costs seconds);
each test gets a fresh page in a fresh browser context (no cookies: signed out).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.oidc_issuer import CLIENT_ID, CLIENT_SECRET, OidcIssuer
from tests.servers import platform

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SESSION_SECRET = "clé-des-sessions-des-tests-de-pages"


def territoires(data_dir: Path, *args: str) -> str:
    """Run the `territoires` command on the site's data; its standard output."""
    done = subprocess.run([sys.executable, "-m", "territoires.cli", *args[:1], "--data-dir", str(data_dir), *args[1:]],
                          capture_output=True, text=True, env={**os.environ, "TERRITOIRES_AUTH": "1"}, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"territoires {' '.join(args)} failed: {done.stdout}{done.stderr}")
    return done.stdout


@dataclass
class Site:
    """The platform as a browser sees it."""

    url: str
    data_dir: Path
    issuer: OidcIssuer
    operator_key: str
    _people: Any = field(default_factory=lambda: itertools.count(1))

    def add_member(self, email: str, role: str, *, scope: str = "", tenant: str | None = None) -> None:
        """Give a person a role (national roles have no HTTP route: the command adds them all)."""
        args = ["members", "add", "--role", role, "--email", email]
        if scope:
            args += ["--scope", scope]
        if tenant is not None:
            args += ["--tenant", tenant]
        territoires(self.data_dir, *args)

    def sign_in(self, page: Any, email: str, *, role: str | None = "contributor", scope: str = "",
                tenant: str | None = None, then: str = "/observatoire") -> None:
        """Give ``email`` the role (None: none), then sign the browser page in through /connexion
        at the local provider (which approves at once); the page ends on ``then``."""
        if role is not None:
            self.add_member(email, role, scope=scope, tenant=tenant)
        self.issuer.user = {"sub": f"personne-{next(self._people)}", "email": email, "email_verified": True}
        page.goto(f"{self.url}/connexion?suivant={quote(then, safe='')}")
        page.wait_for_url(self.url + then)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    data_dir = tmp_path_factory.mktemp("site") / "var"
    issuer = OidcIssuer().start()
    try:
        territoires(data_dir, "observatoire", "seed")
        token = territoires(data_dir, "keys", "create", "--role", "operator", "--name", "tests des pages")
        operator_key = token.strip().splitlines()[-1]
        env = {"TERRITOIRES_AUTH": "1", "TERRITOIRES_OIDC_ISSUER": issuer.url, "TERRITOIRES_OIDC_CLIENT_ID": CLIENT_ID,
               "TERRITOIRES_OIDC_CLIENT_SECRET": CLIENT_SECRET, "TERRITOIRES_SESSION_SECRET": SESSION_SECRET,
               "TERRITOIRES_DATABASE_URL": ""}
        with platform(data_dir, env=env) as (url, _):
            yield Site(url, data_dir, issuer, operator_key)
    finally:
        issuer.stop()


def _chromium_missing() -> None:
    reason = f"Chromium absent ({CHROMIUM}) : paquet Debian chromium"
    if os.environ.get("TERRITOIRES_REQUIRE_CHROMIUM") == "1":
        pytest.fail(reason + " (TERRITOIRES_REQUIRE_CHROMIUM=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium, once per test module: while Playwright's synchronous API runs, its event loop
    is the main thread's running loop, which would break ``asyncio.run`` in the other modules'
    tests; so it stops with the module."""
    if not CHROMIUM.exists():
        _chromium_missing()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page in a fresh browser context (its own cookies: nobody signed in)."""
    context = browser.new_context(locale="fr-FR", accept_downloads=True)
    try:
        yield context.new_page()
    finally:
        context.close()

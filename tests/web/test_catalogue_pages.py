"""The catalogue pages as HTML, through the real application (authentication on, the seeded
observatory on a real SQLite file): structure, status codes, errors that keep what was typed,
404, CSRF. The browser journeys are in test_catalogue_journeys.py."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from starlette.testclient import TestClient

from territoires.app import create_app
from territoires.auth.principal import Grant, Principal, Role
from territoires.config import Settings
from territoires.observatoire.seed import load_seed
from territoires.web import catalogue, catalogue_map, pages
from tests import postgres

SECRET = "clé-de-session-des-tests-du-catalogue"
READER = Principal("key", "lecture", (Grant(Role.MODERATOR),))  # reads drafts too
RENNES = "commune:35238"


class Page(HTMLParser):
    """What the tests read of a page: elements by tag with their attributes, and the text."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.texts: list[str] = []
        self._h1 = False
        self.h1: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        self._h1 = self._h1 or tag == "h1"

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1":
            self._h1 = False

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        if self._h1:
            self.h1.append(data)

    def all(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag and all(a.get(k) == v for k, v in attrs.items())]

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.texts))


@pytest.fixture(scope="module", params=postgres.BACKENDS)
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One application per backend for the module (its lifespan closes the broker at the end)."""
    url = postgres.fresh_database() if request.param == "postgres" else ""
    settings = Settings(data_dir=tmp_path_factory.mktemp("catalogue") / "var", database_url=url, auth=True,
                        notifications=False, session_secret=SECRET, oidc_issuer="http://127.0.0.1:9",
                        oidc_client_id="pages")
    application = create_app(settings)
    with TestClient(application, base_url="http://127.0.0.1") as test_client:
        load_seed(application.state.observatory.projects)  # the one the pages and the JSON API share
        yield test_client


@pytest.fixture
def app(served: TestClient) -> Any:
    return served.app


@pytest.fixture
def client(served: TestClient) -> TestClient:
    """The module's client, signed out."""
    served.cookies.clear()
    return served


def signed_in(client: TestClient, app: Any, *grants: Grant, name: str = "agent@rennes.fr") -> str:
    """Give the client a session cookie for a person holding ``grants``; its CSRF token."""
    sessions = app.state.sessions
    value = sessions.open(Principal(kind="oidc", subject=f"https://sso.example#{name}", grants=grants, name=name))
    client.cookies.set("territoires-session", value, domain="127.0.0.1")
    return sessions.csrf_token(sessions.principal_from_cookie(value))


# ---- the foundation ------------------------------------------------------------------------
def test_every_page_has_the_base_layout(client: TestClient) -> None:
    for path in ("/observatoire", "/observatoire/projets", "/observatoire/carte",
                 "/observatoire/projets/ondijon"):
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text[:500])
        page = Page(answer.text)
        assert page.all("html")[0]["lang"] == "fr"
        assert len(page.all("h1")) == 1, path
        assert page.all("a", href="#contenu") and page.all("main", id="contenu")
        assert page.all("link", rel="stylesheet", href="/static/site.css")
        assert "Données territoriales" in page.text and "Licence Ouverte 2.0" in page.text and "GeoNames" in page.text
        nav = [a["href"] for a in page.all("a") if a.get("href", "").startswith("/observatoire/")]
        for target in ("/observatoire/projets", "/observatoire/carte", "/observatoire/diagnostic",
                       "/observatoire/cooperation"):
            assert target in nav
        assert page.all("a", href="/connexion?suivant=" + path.replace("/", "/"))


def test_english_on_demand_and_the_language_switch_keeps_the_query(client: TestClient) -> None:
    page = Page(client.get("/observatoire/projets?q=eau&lang=en").text)
    assert page.all("html")[0]["lang"] == "en"
    assert "Skip to content" in page.text and "Projects catalogue" in page.text
    assert page.all("a", hreflang="fr")[0]["href"] == "/observatoire/projets?q=eau"
    assert page.all("a", hreflang="en")[0]["href"] == "/observatoire/projets?q=eau&lang=en"
    assert page.all("a", href="/observatoire/carte?lang=en")


def test_translator_formats_and_falls_back_to_french() -> None:
    english = pages.translator("en")
    assert english("Aller au contenu") == "Skip to content"
    assert english("{n} projets trouvés", n=3) == "3 projects found"
    assert english("un texte sans traduction") == "un texte sans traduction"
    assert pages.translator("fr")("{n} projets trouvés", n=3) == "3 projets trouvés"


def test_static_files_are_served_with_cache_headers_and_never_outside_the_folder(client: TestClient) -> None:
    css = client.get("/static/site.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert css.headers["cache-control"] == "public, max-age=300"
    assert ":focus-visible" in css.text and "fonts.googleapis" not in css.text
    for escape in ("/static/../pages.py", "/static/%2e%2e/pages.py", "/static/..%2Fpages.py"):
        assert client.get(escape).status_code == 404
    missing = client.get("/static/nulle-part.js")
    assert missing.status_code == 404 and "build-assets" in missing.json()["detail"]
    if (pages.STATIC / "vendor" / "leaflet" / "leaflet.js").exists():
        vendor = client.get("/static/vendor/leaflet/leaflet.js")
        assert vendor.status_code == 200 and "immutable" in vendor.headers["cache-control"]


def test_signed_in_pages_offer_sign_out_with_the_session_csrf_token(client: TestClient, app: Any) -> None:
    token = signed_in(client, app, Grant(Role.CONTRIBUTOR, None, RENNES))
    page = Page(client.get("/observatoire").text)
    form = page.all("form", action="/deconnexion")
    assert form and form[0]["method"] == "post"
    assert page.all("input", name="csrf_token", value=token)
    assert "agent@rennes.fr" in page.text


def test_a_page_form_posted_with_the_session_cookie_passes_the_gate_with_its_token(client: TestClient,
                                                                                   app: Any) -> None:
    """The gate asks a cookie-borne change for its CSRF token: in the header (scripts) or in
    the form's csrf_token field (pages without JavaScript)."""
    token = signed_in(client, app)
    refused = client.post("/deconnexion", data={}, follow_redirects=False)
    assert refused.status_code == 403
    wrong = client.post("/deconnexion", data={"csrf_token": "pas-le-bon"}, follow_redirects=False)
    assert wrong.status_code == 403
    done = client.post("/deconnexion", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303


# ---- home, search --------------------------------------------------------------------------
def test_home_says_what_the_observatory_is_with_counts_by_domain(client: TestClient) -> None:
    page = Page(client.get("/observatoire").text)
    assert "17 projets publiés, par domaine" in page.text
    assert page.all("input", type="search", name="q", id="recherche") and page.all("label", **{"for": "recherche"})
    assert page.all("a", href="/observatoire/projets?domains=public-lighting")
    assert len(page.all("h3")) == catalogue.LATEST


def test_search_with_facets_counts_and_export_links(client: TestClient) -> None:
    answer = client.get("/observatoire/projets", params={"q": "éclairage", "domains": "public-lighting"})
    assert answer.status_code == 200
    page = Page(answer.text)
    heading = next(h for h in re.findall(r"<h2 id=\"resultats\">(.*?)</h2>", answer.text))
    found = int(re.match(r"(\d+) projets? trouvés?", heading).group(1))
    assert found >= 2
    assert len(re.findall(r'<ol class="results-list"', answer.text)) == 1
    assert answer.text.count("<li>\n        <h3>") == found
    assert "OnDijon" in page.text
    checked = page.all("input", name="domains", value="public-lighting")
    assert checked and "checked" in checked[0]
    legends = [t for t, _ in page.elements if t == "legend"]
    assert len(legends) >= 4
    assert re.search(r"Éclairage public <span class=\"count\">\(\d+\)</span>", answer.text)
    export = page.all("a", href="/api/observatoire/v1/projects.csv?q=%C3%A9clairage&domain=public-lighting")
    assert export and page.all("a", href="/api/observatoire/v1/projects.json?q=%C3%A9clairage&domain=public-lighting")
    csv = client.get(export[0]["href"])
    assert csv.status_code == 200 and len(csv.text.strip().splitlines()) == found + 1


def test_a_facets_own_counts_ignore_its_selection(client: TestClient) -> None:
    alone = Page(client.get("/observatoire/projets", params={"status": "deployed"}).text)
    offered = [a["value"] for a in alone.all("input", name="status")]
    assert "deployed" in offered and len(offered) > 1  # the other statuses stay offered


def test_pagination_links_with_rel(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catalogue, "PAGE_SIZE", 5)
    first = client.get("/observatoire/projets")
    assert '<link rel="next" href="/observatoire/projets?page=2">' in first.text
    assert "page 1 sur 4" in first.text and 'rel="prev"' not in first.text
    second = Page(client.get("/observatoire/projets?page=2").text)
    assert second.all("a", rel="prev", href="/observatoire/projets")
    assert second.all("a", rel="next", href="/observatoire/projets?page=3")
    assert second.all("ol", start="6")


def test_bad_search_parameters_answer_400_with_a_french_summary(client: TestClient) -> None:
    answer = client.get("/observatoire/projets", params={"domains": "licornes", "page": "zéro"})
    assert answer.status_code == 400
    page = Page(answer.text)
    assert "valeur inconnue licornes" in page.text and "n'est pas un entier positif" in page.text
    for number in ("²", "①", "99999999999999999999"):  # str.isdigit takes the first two, int does not
        answer = client.get("/observatoire/projets", params={"page": number})
        assert answer.status_code == 400 and "n'est pas un entier positif" in Page(answer.text).text
    empty = client.get("/observatoire/projets", params={"q": "?!"})
    assert empty.status_code == 400 and "aucun mot" in empty.text


def test_the_export_carries_every_filter_of_the_page(client: TestClient) -> None:
    params = [("connectivity", "lorawan"), ("domains", "public-lighting"), ("domains", "water")]
    answer = client.get("/observatoire/projets", params=params)
    found = int(re.search(r"<h2 id=\"resultats\">(\d+) projets? trouvés?", answer.text).group(1))
    export = next(a["href"] for a in Page(answer.text).all("a") if a.get("href", "").startswith(
        "/api/observatoire/v1/projects.json?"))
    assert "connectivity=lorawan" in export and "domain=public-lighting%2Cwater" in export
    assert len(client.get(export).json()) == found


# ---- a project's record ----------------------------------------------------------------------
def test_a_record_laid_out_with_outcomes_provenance_history_and_similar_projects(client: TestClient) -> None:
    answer = client.get("/observatoire/projets/ondijon")
    page = Page(answer.text)
    assert "".join(page.h1).strip() == "OnDijon"
    assert "SIREN 242100410" in page.text and "Métropole" in page.text and "Déployé à l'échelle" in page.text
    assert "Éclairage public" in page.text and "Hyperviseur et poste de pilotage" in page.text
    assert "Marché global de performance" in page.text and "FEDER" in page.text
    caption = [t for t, _ in page.elements if t == "caption"]
    assert len(caption) == 2  # outcomes, history
    assert "Mesuré / Déclaré" in page.text and "Déclaré" in page.text
    assert "Fiche amorcée à partir de sources publiques" in page.text
    assert page.all("a", href="https://francevilledurable.fr/realisations/on-dijon/")
    assert "Historique des modifications" in page.text and "Projets similaires" in page.text
    assert "Dijon Métropole" in page.text and "les projets de sa région" in page.text
    assert not page.all("a", href="/observatoire/projets/ondijon/modifier")  # anonymous: nothing to edit


def test_unknown_or_malformed_project_is_a_french_404_page(client: TestClient) -> None:
    for project in ("nulle-part", "PAS_UN_ID"):
        answer = client.get(f"/observatoire/projets/{project}")
        assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
        assert "Page introuvable" in answer.text and project in answer.text


def test_any_page_problem_is_a_french_page_and_the_api_keeps_its_problem_details(client: TestClient) -> None:
    nowhere = client.get("/observatoire/nulle/part")
    assert nowhere.status_code == 404 and nowhere.headers["content-type"].startswith("text/html")
    assert "<h1>Page introuvable</h1>" in nowhere.text and "Aucune page de l'observatoire" in Page(nowhere.text).text
    assert "<h1>Page not found</h1>" in client.get("/observatoire/nulle/part?lang=en").text
    wrong = client.delete("/observatoire/projets")
    assert wrong.status_code == 405 and "Action impossible ici" in wrong.text
    api = client.get("/api/observatoire/v1/nulle-part")
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"


# ---- the map -------------------------------------------------------------------------------
def test_the_map_places_metropolitan_projects_and_lists_the_others(client: TestClient) -> None:
    answer = client.get("/observatoire/carte")
    page = Page(answer.text)
    if catalogue_map.OUTLINE_FILE.exists():
        assert page.all("svg", role="group") and "<title id=\"carte-titre\">" in answer.text
        assert len(page.all("path")) == 96
        circles = page.all("circle")
        assert len(circles) >= 10
        dijon = next(a for a in page.all("a") if a.get("aria-label", "").startswith("OnDijon"))
        x, y = float(dijon["data-x"]), float(dijon["data-y"])
        assert 0 < x < 613 and 0 < y < 585
        assert "Outre-mer" in page.text and "Martinique" in page.text
    else:
        assert "scripts/build-assets" in page.text
    assert page.all("a", href="/observatoire/projets/ondijon")


def test_the_affine_fit_recovers_a_known_map() -> None:
    points = [(lon, lat) for lon in (-4.0, 0.0, 3.0, 8.0) for lat in (42.0, 45.5, 50.0)]
    truth = catalogue_map.Affine(40.0, 1.5, 200.0, -0.5, -60.0, 3000.0)
    found = catalogue_map.fit([(p, truth(*p)) for p in points])
    for p in points:
        assert found(*p) == pytest.approx(truth(*p), abs=1e-6)


def test_centroid_of_relative_square_paths() -> None:
    assert catalogue_map.centroid("m 0,0 10,0 0,10 -10,0 z") == pytest.approx((5.0, 5.0))
    # after z the pen is back at the ring's start: the second square is relative to (0, 0)
    two = "m 0,0 2,0 0,2 -2,0 z m 10,0 2,0 0,2 -2,0 z"
    assert catalogue_map.centroid(two) == pytest.approx((6.0, 1.0))


# ---- forms ---------------------------------------------------------------------------------
def test_forms_send_anonymous_visitors_to_sign_in_first(client: TestClient) -> None:
    answer = client.get("/observatoire/projets/nouveau", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/connexion?suivant=%2Fobservatoire%2Fprojets%2Fnouveau"


def test_the_form_labels_every_field(client: TestClient, app: Any) -> None:
    signed_in(client, app, Grant(Role.CONTRIBUTOR, None, RENNES))
    page = Page(client.get("/observatoire/projets/nouveau").text)
    labelled = {a["for"] for a in page.all("label")}
    for tag in ("input", "select", "textarea"):
        for field in page.all(tag):
            if field.get("type") in ("hidden", "submit"):
                continue
            assert field["id"] in labelled, field


def test_a_bad_submission_is_400_with_a_summary_and_every_value_kept(client: TestClient, app: Any) -> None:
    token = signed_in(client, app, Grant(Role.CONTRIBUTOR, None, RENNES))
    typed = {"csrf_token": token, "title": "", "summary": "Capteurs « <b>gras</b> » & co",
             "carrierName": "Ville de Rennes", "carrier": "123456789", "carrierKind": "commune",
             "territories": RENNES, "domains": ["water", "energy"], "totalCost": "douze",
             "outcome0_indicator": "Eau économisée", "outcome0_after": "12,5", "action": "draft",
             "outcome_rows": "²", "outcome²_unit": "m3"}
    answer = client.post("/observatoire/projets/nouveau", data=typed)
    assert answer.status_code == 400
    page = Page(answer.text)
    summary = re.search(r'<div class="error-summary".*?</div>', answer.text, re.DOTALL).group(0)
    assert 'href="#title"' in summary and 'href="#totalCost"' in summary
    summary = html.unescape(summary)
    assert "Titre" in summary and "Ce champ est obligatoire." in summary and "n'est pas un nombre" in summary
    assert summary.index("#title") < summary.index("#totalCost")  # in the order of the form
    assert page.all("input", id="carrierName", value="Ville de Rennes")
    assert page.all("input", id="carrier", value="123456789")
    assert page.all("input", id="totalCost", value="douze")
    assert page.all("input", id="outcome0_after", value="12,5")
    assert page.all("option", value="commune", selected="")
    assert "checked" in page.all("input", id="domains-water")[0] and "checked" in page.all("input", id="domains-energy")[0]
    assert "checked" not in page.all("input", id="domains-waste")[0]
    assert "Capteurs « &lt;b&gt;gras&lt;/b&gt; » &amp; co</textarea>" in answer.text  # escaped, kept
    assert page.all("input", id="title")[0].get("aria-invalid") == "true"


def test_a_refusal_of_the_service_names_its_field(client: TestClient, app: Any) -> None:
    token = signed_in(client, app, Grant(Role.CONTRIBUTOR, None, RENNES))
    typed = {"csrf_token": token, "title": "Compteurs d'eau", "carrierName": "Ville de Rennes",
             "carrier": "123456789", "carrierKind": "commune", "territories": RENNES}
    answer = client.post("/observatoire/projets/nouveau", data=typed)
    assert answer.status_code == 400 and 'href="#carrier"' in answer.text and "SIREN du porteur" in answer.text
    assert "Le SIREN 123456789 n'existe pas : sa clé de contrôle est fausse." in html.unescape(answer.text)
    unknown = client.post("/observatoire/projets/nouveau", data={**typed, "carrier": "", "territories": "commune:35999"})
    assert unknown.status_code == 400 and 'href="#territories"' in unknown.text
    assert "Aucun territoire (commune) n'a le code 35999" in html.unescape(unknown.text)
    future = client.post("/observatoire/projets/nouveau", data={
        **typed, "carrier": "", "outcome_rows": "1", "outcome0_indicator": "Eau", "outcome0_unit": "m3",
        "outcome0_after": "3", "outcome0_after_date": "2099-01-01", "outcome0_method": "measured"})
    assert future.status_code == 400 and 'href="#outcome0_after_date"' in future.text
    assert "La date 2099-01-01 est à venir" in html.unescape(future.text)
    assert Page(future.text).all("input", id="outcome0_after_date", value="2099-01-01")  # kept
    elsewhere = client.post("/observatoire/projets/nouveau", data={**typed, "carrier": "", "territories": "commune:21231"})
    assert elsewhere.status_code == 400 and 'href="#territories"' in elsewhere.text
    assert "Vous ne contribuez pour aucun de ces territoires" in elsewhere.text


def test_a_form_without_its_csrf_token_is_refused(client: TestClient, app: Any) -> None:
    signed_in(client, app, Grant(Role.CONTRIBUTOR, None, RENNES))
    typed = {"title": "Sans jeton", "carrierName": "Ville de Rennes", "carrierKind": "commune", "territories": RENNES}
    assert client.post("/observatoire/projets/nouveau", data=typed).status_code == 403
    assert client.post("/observatoire/projets/nouveau", data={**typed, "csrf_token": "faux"}).status_code == 403


def test_a_contributor_drafts_edits_and_a_moderator_publishes(client: TestClient, app: Any) -> None:
    token = signed_in(client, app, Grant(Role.CONTRIBUTOR, None, RENNES))
    typed = {"csrf_token": token, "title": "Arrosage piloté des parcs de Rennes", "carrierName": "Ville de Rennes",
             "carrierKind": "commune", "territories": RENNES, "domains": ["green-spaces"],
             "useCases": ["smart-watering"], "status": "pilot", "totalCost": "48 000",
             "outcome0_indicator": "Eau d'arrosage économisée", "outcome0_unit": "%", "outcome0_after": "30",
             "action": "draft"}
    created = client.post("/observatoire/projets/nouveau", data=typed, follow_redirects=False)
    assert created.status_code == 303, created.text[:2000]
    location = created.headers["location"]
    assert location == "/observatoire/projets/arrosage-pilote-des-parcs-de-rennes?fait=cree"
    draft = Page(client.get(location).text)
    assert "La fiche a été enregistrée." in draft.text and "Brouillon" in draft.text
    assert "48 000 €" in draft.text and "Eau d'arrosage économisée" in draft.text
    client.cookies.clear()
    assert client.get(location).status_code == 404  # a draft is not shown to others

    token = signed_in(client, app, Grant(Role.CONTRIBUTOR, None, RENNES))
    form = Page(client.get("/observatoire/projets/arrosage-pilote-des-parcs-de-rennes/modifier").text)
    assert form.all("input", id="title", value="Arrosage piloté des parcs de Rennes")
    assert form.all("input", id="totalCost", value="48000")
    changed = client.post("/observatoire/projets/arrosage-pilote-des-parcs-de-rennes/modifier",
                          data={**typed, "csrf_token": token, "summary": "Des sondes d'humidité dans 12 parcs.",
                                "action": "submitted"}, follow_redirects=False)
    assert changed.status_code == 303
    record = Page(client.get(changed.headers["location"]).text)
    assert "Soumis à la modération" in record.text and "Des sondes d'humidité dans 12 parcs." in record.text
    assert not record.all("form", action="/observatoire/projets/arrosage-pilote-des-parcs-de-rennes/publier")

    token = signed_in(client, app, Grant(Role.MODERATOR), name="moderation@observatoire.fr")
    shown = Page(client.get("/observatoire/projets/arrosage-pilote-des-parcs-de-rennes").text)
    assert shown.all("form", action="/observatoire/projets/arrosage-pilote-des-parcs-de-rennes/publier")
    published = client.post("/observatoire/projets/arrosage-pilote-des-parcs-de-rennes/publier",
                            data={"csrf_token": token}, follow_redirects=False)
    assert published.status_code == 303 and published.headers["location"].endswith("?fait=publie")
    client.cookies.clear()
    public = Page(client.get("/observatoire/projets/arrosage-pilote-des-parcs-de-rennes").text)
    assert "Brouillon" not in public.text and "Soumis" not in public.text
    history = public.text.split("Historique des modifications", 1)[1].split("Projets similaires", 1)[0]
    assert history.count("contributor (commune:35238)") == 2 and history.count("moderator") == 1
    assert "Résumé" in history and "État de modération" in history


def test_outcomes_are_added_changed_and_removed_row_by_row(client: TestClient, app: Any) -> None:
    token = signed_in(client, app, Grant(Role.CONTRIBUTOR, None, RENNES))
    typed = {"csrf_token": token, "title": "Compteurs de Rennes", "carrierName": "Ville de Rennes",
             "carrierKind": "commune", "territories": RENNES, "outcome_rows": "1",
             "outcome0_indicator": "Fuites détectées", "outcome0_unit": "fuites", "outcome0_after": "14",
             "action": "draft"}
    assert client.post("/observatoire/projets/nouveau", data=typed, follow_redirects=False).status_code == 303
    edit = "/observatoire/projets/compteurs-de-rennes/modifier"
    form = Page(client.get(edit).text)
    assert form.all("input", name="outcome_rows", value="2")  # the record's outcome, and a row to add one
    assert form.all("input", id="outcome0_after", value="14") and form.all("input", id="outcome1_indicator", value="")
    second = {**typed, "outcome_rows": "2", "outcome1_indicator": "Eau économisée", "outcome1_unit": "m3",
              "outcome1_baseline": "1 200", "outcome1_after": "900", "outcome1_after_date": "2025"}
    assert client.post(edit, data=second, follow_redirects=False).status_code == 303
    record = app.state.observatory.projects.get(READER, "compteurs-de-rennes")
    assert [(o["indicator"], o.get("baseline"), o["after"]) for o in record["outcomes"]] == [
        ("Fuites détectées", None, {"value": 14}), ("Eau économisée", {"value": 1200}, {"value": 900, "date": "2025"})]
    wrong = client.post(edit, data={**second, "outcome1_after": "beaucoup"})
    assert wrong.status_code == 400 and "Résultat 2 : valeur après" in html.unescape(wrong.text)
    emptied = {**second, **{f"outcome0_{name}": "" for name in catalogue.OUTCOME_FIELDS}}
    assert client.post(edit, data=emptied, follow_redirects=False).status_code == 303
    record = app.state.observatory.projects.get(READER, "compteurs-de-rennes")
    assert [o["indicator"] for o in record["outcomes"]] == ["Eau économisée"]


def test_contributors_find_their_drafts_and_others_are_turned_away(client: TestClient, app: Any) -> None:
    token = signed_in(client, app, Grant(Role.CONTRIBUTOR, None, RENNES))
    typed = {"csrf_token": token, "title": "Brouillon rennais", "carrierName": "Ville de Rennes",
             "carrierKind": "commune", "territories": RENNES, "action": "draft"}
    assert client.post("/observatoire/projets/nouveau", data=typed, follow_redirects=False).status_code == 303
    page = Page(client.get("/observatoire/projets").text)
    assert page.all("input", type="radio", name="moderation", value="draft")
    drafts = client.get("/observatoire/projets", params={"moderation": "draft"})
    assert drafts.status_code == 200 and "Brouillon rennais" in drafts.text
    assert "moderation=draft" in next(a["href"] for a in Page(drafts.text).all("a") if "projects.csv" in a.get("href", ""))
    signed_in(client, app, Grant(Role.CONTRIBUTOR, None, "commune:21231"))
    assert "Brouillon rennais" not in client.get("/observatoire/projets", params={"moderation": "draft"}).text
    client.cookies.clear()
    anonymous = client.get("/observatoire/projets", params={"moderation": "draft"}, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/connexion?suivant=")
    assert not Page(client.get("/observatoire/projets").text).all("input", type="radio", name="moderation")


def test_only_moderators_publish(client: TestClient, app: Any) -> None:
    token = signed_in(client, app, Grant(Role.CONTRIBUTOR, None, "epci:242100410"))
    answer = client.post("/observatoire/projets/ondijon/renvoyer", data={"csrf_token": token})
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html") and "<h1>Accès refusé</h1>" in answer.text

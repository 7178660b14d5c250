"""The observatory in English (``?lang=en``, issue 4 « French first, English available »).

First, completeness: every French text a page shows from the observatory's data (the labels of
the controlled vocabularies, the reasons given for a partner or a similar project, the maturity
questionnaire) has its English, so that a French term added without it fails here. Then the
pages themselves, through the real application on a seeded SQLite file: under ``?lang=en`` they
are in English (``<html lang="en">``) and none of the French labels they used to show is left.
"""

from __future__ import annotations

import html
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.testclient import TestClient

from territoires.app import create_app
from territoires.auth.principal import Grant, Principal, Role
from territoires.config import Settings
from territoires.observatoire import maturity, similar
from territoires.observatoire import vocabularies as vocab
from territoires.observatoire import working_groups as wg
from territoires.observatoire.bands import POPULATION_BANDS
from territoires.observatoire.intentions import IntentionService
from territoires.observatoire.partners import (
    POOLING_KINDS,
    Closeness,
    PoolingStructure,
    ProjectPartner,
    TerritoryPartner,
    closeness,
)
from territoires.observatoire.registry import EPCI_KIND_LABELS, TerritoryRegistry
from territoires.observatoire.seed import SEEDER, load_seed
from territoires.web import catalogue, cooperation, pages
from tests.web.a11y import assert_accessible
from tests.web.conftest import Site

SECRET = "clé-de-session-des-tests-des-pages-en-anglais"
RENNES = "commune:35238"
# French words that an English reason never holds (the names of places may hold others).
FRENCH_WORDS = re.compile(r"\b(même|déjà|porte|déclaré|déclare|sert|selon|voisin|voisine|moins|tranche|nature|à)\b")


def english(text: str, **values: Any) -> str:
    return pages.translator("en")(text, **values)


def french_only() -> set[str]:
    """The vocabularies' French labels that English does not show (« Eau », not « LoRaWAN », nor
    « Métropole », which English keeps as a name: "Métropole (EPCI)")."""
    labels = {label for v in vocab.VOCABULARIES.values() for label in (v.label, *v.terms.values())}
    return {label for label in labels if label not in english(label)}


# ---- completeness -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(vocab.VOCABULARIES))
def test_every_label_of_every_vocabulary_has_its_english(name: str) -> None:
    vocabulary = vocab.VOCABULARIES[name]
    missing = [label for label in (vocabulary.label, *vocabulary.terms.values()) if not pages.catalogue().get(label)]
    assert not missing, f"add to web/translations/vocabularies.json: {missing}"


def test_the_pages_own_labels_of_fields_kinds_and_roles_have_their_english() -> None:
    labels = [*catalogue.FORM_LABELS.values(), *catalogue.OUTCOME_FIELDS.values(), *catalogue.KIND_LABELS.values(),
              *cooperation.KIND_LABELS.values(), *EPCI_KIND_LABELS.values(), *wg.ROLES.values(),
              *(facet.legend for facet in catalogue.facets(TerritoryRegistry.load(), "fr")), SEEDER.name]
    assert [label for label in labels if not pages.catalogue().get(label)] == []
    assert catalogue.field_label(_request("en"), "outcome0_after_date") == "Outcome 1: date of the value after"
    assert catalogue.field_label(_request("fr"), "outcome0_after_date") == "Résultat 1 : date de la valeur après"


def _request(lang: str) -> Request:
    """A request of a page in ``lang``, for the functions that take one."""
    query = b"lang=en" if lang == "en" else b""
    return Request({"type": "http", "method": "GET", "path": "/", "query_string": query, "headers": []})


def test_the_translation_files_agree_with_each_other() -> None:
    """A French text has one English across the files, never empty, with the same {fields}."""
    fields = string.Formatter()
    seen: dict[str, tuple[str, str]] = {}
    for path in sorted(pages.TRANSLATIONS.glob("*.json")):
        for french, translated in orjson.loads(path.read_bytes()).items():
            assert translated.strip(), (path.name, french)
            assert {f[1] for f in fields.parse(french) if f[1]} == {f[1] for f in fields.parse(translated) if f[1]}, (
                path.name, french)
            earlier = seen.setdefault(french, (path.name, translated))
            assert earlier[1] == translated, f"{french!r}: {earlier} but {path.name} says {translated!r}"


def partner_reasons() -> list[str]:
    """Every kind of reason the partner proposals give, from real territories around Dijon."""
    registry = TerritoryRegistry.load()
    dijon = registry.get("commune", "21231")
    others = [registry.get(kind, code) for kind, code in (
        ("commune", "21166"),    # Chenôve: same EPCI
        ("commune", "21054"),    # Beaune: same département
        ("commune", "39198"),    # Dole (Jura): a neighbour
        ("commune", "25056"),    # Besançon: same région
        ("commune", "35238"))]   # Rennes: elsewhere
    ranks = [closeness(dijon, other, registry) for other in others]
    assert [rank.rank for rank in ranks] == [0, 1, 2, 3, 4]
    ranks.append(Closeness(0, ranks[0].reason, 0.4))  # « à moins de 1 km »
    reasons = []
    for rank in ranks:
        reasons += TerritoryPartner(dijon, rank).reasons
        for status in vocab.STATUSES.terms:
            project = ProjectPartner("urn:ngsi-ld:Project:p", "Compteurs (lot 2)", "Ville", status, dijon, rank)
            reasons += project.reasons
        for kind, served in ((POOLING_KINDS[0], 1), (POOLING_KINDS[1], 2), ("commune", None)):
            reasons += PoolingStructure("SIEL", None, kind, (("urn:ngsi-ld:Project:p", "Réseau LoRa"),), (dijon,),
                                        served, None, rank).reasons
    return list(dict.fromkeys(reasons))


def similar_reasons() -> list[str]:
    """Every kind of reason a similar project is shown with."""
    def point(lon: float, lat: float) -> dict[str, Any]:
        return {"type": "Point", "coordinates": [lon, lat]}

    record = {"id": "a", "useCases": ["hypervision"], "domains": ["water"], "populationBand": POPULATION_BANDS[2].code,
              "typology": "urban", "carrierKind": "commune", "territories": ["t"], "location": point(4.85, 47.32)}
    candidates = [
        {**record, "id": "b"},  # same use case, band, typology, kind of owner and territory
        {"id": "c", "domains": ["water"], "populationBand": POPULATION_BANDS[3].code, "territories": ["u"],
         "location": point(4.851, 47.321)},  # same domain, neighbour band, less than 1 km away
        {"id": "d", "domains": ["water"], "territories": ["u"], "location": point(2.35, 48.85)},  # far
    ]
    return list(dict.fromkeys(reason for shown in similar.rank(record, candidates, 10) for reason in shown["reasons"]))


@pytest.mark.parametrize("kind", ["partners", "similar projects"])
def test_every_reason_the_observatory_gives_has_its_english(kind: str) -> None:
    reasons = partner_reasons() if kind == "partners" else similar_reasons()
    assert len(reasons) >= (12 if kind == "partners" else 8)
    for reason in reasons:
        translated = english(reason)
        assert translated != reason and not FRENCH_WORDS.search(translated), (
            f"{reason!r} -> {translated!r}: add its template to web/translations/phrases.json")
        assert not any(label in translated for label in french_only()), (reason, translated)


def test_a_phrase_translates_its_values_and_leaves_names_alone() -> None:
    assert english("porte déjà ce cas d'usage : Compteurs (lot 2) (déployé à l'échelle)") == \
        "already runs this use case: Compteurs (lot 2) (deployed at scale)"
    assert english("structure de mutualisation (Syndicat)") == "pooling body (Joint authority)"
    assert english("voisin, à moins de 1 km") == "neighbour, less than 1 km away"
    assert english("même EPCI : Dijon Métropole") == "same EPCI: Dijon Métropole"
    assert english("Un texte qu'aucun modèle ne connaît") == "Un texte qu'aucun modèle ne connaît"
    assert pages.translator("fr")("même EPCI : Dijon Métropole") == "même EPCI : Dijon Métropole"


def _bilingual(value: Any, where: str) -> Iterator[tuple[str, dict[str, str]]]:
    if isinstance(value, dict):
        if "fr" in value:
            yield where, value
        for key, item in value.items():
            yield from _bilingual(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _bilingual(item, f"{where}[{index}]")


def maturity_texts() -> list[dict[str, str]]:
    raw = (Path(maturity.__file__).parent / "data" / "maturity.json").read_bytes()
    return [text for _, text in _bilingual(orjson.loads(raw), "maturity.json")]


def test_every_text_of_the_maturity_questionnaire_has_its_english() -> None:
    raw = (Path(maturity.__file__).parent / "data" / "maturity.json").read_bytes()
    texts = list(_bilingual(orjson.loads(raw), "maturity.json"))
    assert len(texts) > 150  # axes, levels, criteria, questions, options
    missing = [where for where, text in texts if not text.get("en", "").strip()]
    assert missing == []
    q = maturity.questionnaire()
    for axis in q.axes:
        assert axis.name("en") != axis.name("fr")
        for question in axis.questions:
            assert question.text("en") != question.text("fr")


# ---- the pages ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("english") / "var", auth=True, notifications=False,
                        session_secret=SECRET, oidc_issuer="http://127.0.0.1:9", oidc_client_id="pages")
    application = create_app(settings)
    with TestClient(application, base_url="http://127.0.0.1", follow_redirects=False) as client:
        load_seed(application.state.observatory.projects)
        IntentionService(application.state.broker).put(SEEDER, "commune:29019", ["iot-network"])  # Brest
        yield client


@pytest.fixture
def client(served: TestClient) -> TestClient:
    served.cookies.clear()
    return served


def signed_in(client: TestClient, *grants: Grant) -> str:
    """A session cookie for a contributor of Rennes; its CSRF token."""
    app: Starlette = client.app  # type: ignore[assignment]
    sessions = app.state.sessions
    value = sessions.open(Principal(kind="oidc", subject="https://sso.example#agent", grants=grants,
                                    name="agent@rennes.fr"))
    client.cookies.set("territoires-session", value, domain="127.0.0.1")
    return sessions.csrf_token(sessions.principal_from_cookie(value))


def english_page(response: Any) -> str:
    """The page's HTML, once checked to be English and to show no French label of a vocabulary."""
    assert '<html lang="en">' in response.text and response.headers["content-language"] == "en"
    left = sorted(set(shown_texts(response.text)) & french_only())
    assert left == [], f"French labels left on {response.url}: {left}"
    return response.text


def shown_texts(page: str) -> list[str]:
    """Each text the page shows (and its options, labels, attributes), cut at the separators of
    lists (« · », « ; », « — »), so that a label shown alone is one item."""
    page = re.sub(r"<script.*?</script>", " ", page, flags=re.DOTALL)
    nodes = re.split(r"<[^>]+>", page) + re.findall(r'(?:aria-label|title)="([^"]*)"', page)
    items = []
    for node in nodes:
        for item in re.split(r" · | ; |—|\(|\)", html.unescape(node)):
            item = re.sub(r"\s+", " ", item).strip(" ,:")
            if item:
                items.append(item)
    return items


def section(page: str, start: str, end: str) -> str:
    return html.unescape(page.split(start, 1)[1].split(end, 1)[0])


def test_home_lists_the_domains_in_english(client: TestClient) -> None:
    response = client.get("/observatoire?lang=en")
    assert response.status_code == 200
    page = english_page(response)
    domains = section(page, 'class="domain-counts"', "</ul>")
    assert "Public lighting</a>" in domains and "Digital infrastructure and IoT networks</a>" in domains
    assert "Éclairage public" not in domains and "Infrastructures numériques" not in domains
    assert "Deployed at scale" in page  # the status of a latest record


def test_search_names_its_facets_and_their_values_in_english(client: TestClient) -> None:
    page = english_page(client.get("/observatoire/projets?lang=en&domains=public-lighting&useCases=led-retrofit"))
    filters = section(page, 'class="filters"', 'class="results"')
    for shown in ("Domain", "Public lighting", "Use cases", "LED lighting retrofit", "Progress", "Funding",
                  "Population band", "200,000 inhabitants or more", "Kind of owner"):
        assert f">{shown}" in filters or f"<span>{shown} " in filters, shown
    assert "Éclairage public" not in filters and "Passage de l'éclairage aux LED" not in filters
    results = section(page, 'class="results-list"', "</ol>")
    assert "Public lighting" in results and "Éclairage public ·" not in results
    unknown = client.get("/observatoire/projets?lang=en&status=nowhere")
    assert unknown.status_code == 400 and "“Progress”: unknown value nowhere." in html.unescape(english_page(unknown))


def test_a_seeded_project_page_in_english(client: TestClient) -> None:
    page = html.unescape(english_page(client.get("/observatoire/projets/ondijon?lang=en")))
    for shown in ("Deployed at scale", "Public safety and order", "Hypervisor and control room",
                  "ERDF (European Regional Development Fund)", "Global performance contract", "Optical fibre",
                  "200,000 inhabitants or more"):
        assert shown in page, shown
    shown = section(page, "Similar projects</h2>", "</ul>")
    assert "same use case ; same population band" in shown and " km away" in shown
    assert not FRENCH_WORDS.search(re.sub(r"<h3>.*?</h3>|<p>[^<]*</p>", "", shown))
    history = section(page, "History of changes", "Similar projects")
    assert "Title" in history and "Territories served" in history and "Titre" not in history
    sdef = html.unescape(english_page(client.get("/observatoire/projets/sdef-infrastructure-iot-mutualisee?lang=en")))
    assert "(Joint authority)" in sdef and "Finistère (Département, code 29" in sdef


def test_the_contributor_form_offers_english_choices(client: TestClient) -> None:
    token = signed_in(client, Grant(Role.CONTRIBUTOR, None, RENNES))
    page = english_page(client.get("/observatoire/projets/nouveau?lang=en"))
    assert re.search(r'<option value="pilot">Pilot</option>', page)
    assert re.search(r'<option value="syndicat">Joint authority</option>', page)
    assert re.search(r'value="public-lighting"> Public lighting</label>', page)
    assert re.search(r'value="feder"> ERDF \(European Regional Development Fund\)</label>', page)
    assert re.search(r'<option value="modelled">Modelled</option>', page)
    refused = client.post("/observatoire/projets/nouveau?lang=en", data={
        "csrf_token": token, "title": "", "carrierName": "Ville de Rennes", "carrierKind": "commune",
        "territories": RENNES, "outcome_rows": "1", "outcome0_unit": "m3", "action": "draft"})
    assert refused.status_code == 400
    summary = html.unescape(section(english_page(refused), 'class="error-summary"', "</div>"))
    assert "Title</a>" in summary and "Outcome 1: indicator</a>" in summary and "Résultat" not in summary


def test_the_diagnostic_form_and_results_in_english(client: TestClient) -> None:
    token = signed_in(client, Grant(Role.CONTRIBUTOR, None, RENNES))
    form = html.unescape(english_page(client.get("/observatoire/diagnostic/commune/35238?lang=en")))
    texts = maturity_texts()
    assert "A1 — Strategy and governance" in form and "I do not know" in form
    saved = client.post("/observatoire/diagnostic/commune/35238?lang=en",
                        data={**maturity.answers_meeting({"A1": 3, "A6": 2}), "csrf_token": token})
    assert saved.status_code == 303
    results = html.unescape(english_page(client.get("/observatoire/diagnostic/commune/35238/resultats?lang=en")))
    assert "Strategy and governance" in results and "Structuring" in results and "Recommendations" in results
    for page in (form, results):
        # Long texts by substring (none is part of another text); short ones as whole items.
        left = [t["fr"] for t in texts if t["fr"] != t["en"] and (
            t["fr"] in page if len(t["fr"]) > 20 else t["fr"] in shown_texts(page))]
        assert left == []
    none_yet = client.get("/observatoire/diagnostic/epci/242100410/resultats?lang=en")
    assert none_yet.status_code == 404 and "Métropole (EPCI) 242100410" in html.unescape(english_page(none_yet))


def test_partners_proposals_give_their_reasons_in_english(client: TestClient) -> None:
    page = html.unescape(english_page(client.get(
        "/observatoire/cooperation?territoire=Quimper&cas=iot-network&lang=en")))
    proposals = section(page, 'id="resultats"', "</section>")
    assert "Partners proposed to Quimper for “Shared IoT network (LoRaWAN…)”" in proposals
    assert "Brest</a>\n      — has declared the same intention · same département: Finistère · 52 km away" in proposals
    assert ("— pooling body (Joint authority) · already runs this use case: Infrastructure IoT LoRa mutualisée · "
            "same département: Finistère · 30 km away") in proposals
    assert not FRENCH_WORDS.search(proposals.replace("Infrastructure IoT LoRa mutualisée", "")
                                   .replace("Vendée Territoire Connecté", "")
                                   .replace("d'énergie et d'équipement du Finistère", ""))
    assert '<option value="iot-network" selected>Shared IoT network (LoRaWAN…)</option>' in page


def test_the_french_pages_keep_their_french(client: TestClient) -> None:
    page = html.unescape(client.get("/observatoire/cooperation?territoire=Quimper&cas=iot-network").text)
    assert '<html lang="fr">' in page
    assert "Brest</a>\n      — a déclaré la même intention · même département : Finistère · à 52 km" in page
    record = html.unescape(client.get("/observatoire/projets/ondijon").text)
    assert "Éclairage public" in record and "même cas d'usage ; même tranche de population" in record


# ---- in the browser -----------------------------------------------------------------------------
def test_english_pages_pass_the_accessibility_checks(site: Site, page: Any) -> None:
    for path in ("/observatoire", "/observatoire/projets?domains=public-lighting", "/observatoire/projets/ondijon",
                 "/observatoire/cooperation?territoire=Quimper&cas=iot-network", "/observatoire/diagnostic"):
        page.goto(site.url + path + ("&" if "?" in path else "?") + "lang=en")
        assert page.locator("html").get_attribute("lang") == "en"
        assert_accessible(page)

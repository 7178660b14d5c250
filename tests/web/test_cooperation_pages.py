"""The cooperation pages: partner proposals and working groups, read as HTML through the real
application (TestClient, with API keys for the people acting), and one journey in Chromium."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from territoires.app import create_app
from territoires.config import Settings
from territoires.observatoire.intentions import IntentionService
from territoires.observatoire.projects import ProjectService
from territoires.observatoire.seed import SEEDER, load_seed
from tests.web.a11y import assert_accessible


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One application for the module (its lifespan closes the store when the client ends)."""
    application = create_app(Settings(data_dir=tmp_path_factory.mktemp("pages") / "var"))
    with TestClient(application, raise_server_exceptions=False, follow_redirects=False) as test_client:
        load_seed(ProjectService(application.state.broker))
        IntentionService(application.state.broker).put(SEEDER, "commune:29019", ["iot-network"])  # Brest
        yield test_client


@pytest.fixture
def app(client: TestClient) -> Starlette:
    return client.app  # type: ignore[return-value]


def bearer(app: Starlette, role: str, scope: str = "") -> dict[str, str]:
    _, token = app.state.keys.create(None, role, f"{role} {scope}".strip(), scope=scope)
    return {"Authorization": f"Bearer {token}"}


def text(response: Any) -> str:
    """The page's visible text, tags removed and blanks folded."""
    main = response.text[response.text.index("<main"):response.text.index("</main>")]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", main)))


def test_partners_page_groups_and_explains_the_proposals(client: TestClient) -> None:
    response = client.get("/observatoire/cooperation", params={"territoire": "Quimper", "cas": "iot-network"})
    assert response.status_code == 200 and response.headers["content-language"] == "fr"
    shown = text(response)
    assert "Partenaires proposés à Quimper pour « Réseau d'objets connectés mutualisé (LoRaWAN…) »" in shown
    assert "Brest — a déclaré la même intention · même département : Finistère · à 52 km" in shown
    assert ("SDEF (Syndicat départemental d'énergie et d'équipement du Finistère) — structure de mutualisation "
            "(Syndicat) · porte déjà ce cas d'usage : Infrastructure IoT LoRa mutualisée · même département : "
            "Finistère · à 30 km") in shown
    assert 'href="/observatoire/projets/sdef-infrastructure-iot-mutualisee"' in response.text
    assert 'href="/observatoire/cooperation?territoire=commune%3A29019&amp;cas=iot-network"' in response.text
    # By INSEE code, and in English.
    english = client.get("/observatoire/cooperation", params={"territoire": "29232", "cas": "iot-network", "lang": "en"})
    assert english.status_code == 200 and "Partners proposed to Quimper" in text(english)


def test_partners_page_asks_to_choose_or_correct(client: TestClient) -> None:
    several = client.get("/observatoire/cooperation", params={"territoire": "saint-e", "cas": "iot-network"})
    assert several.status_code == 200 and "Plusieurs territoires correspondent à « saint-e »" in text(several)
    assert "territoire=commune%3A42218&amp;cas=iot-network" in several.text  # Saint-Étienne, to choose
    refused = client.get("/observatoire/cooperation", params={"territoire": "Zzyzx", "cas": ""})
    assert refused.status_code == 400
    shown = text(refused)
    assert "Aucun territoire ne correspond à « Zzyzx »" in shown and "Choisissez un cas d'usage" in shown
    assert 'href="#territoire"' in refused.text and 'href="#cas"' in refused.text
    assert 'value="Zzyzx"' in refused.text and 'aria-invalid="true"' in refused.text  # what was typed is kept


def test_creating_a_group_needs_a_sign_in_and_keeps_what_was_typed(app: Starlette, client: TestClient) -> None:
    response = client.get("/observatoire/groupes/nouveau")
    assert response.status_code == 303
    assert response.headers["location"] == "/connexion?suivant=%2Fobservatoire%2Fgroupes%2Fnouveau"
    rennes = bearer(app, "contributor", "commune:35238")
    refused = client.post("/observatoire/groupes/nouveau", headers=rennes,
                          data={"titre": "x" * 201, "description": "Échanger nos cahiers des charges",
                                "cas-leak-detection": "1"})
    assert refused.status_code == 400
    assert "Donnez un titre de 200 caractères au plus." in text(refused)
    assert 'href="#groupe-titre"' in refused.text and "Échanger nos cahiers des charges</textarea>" in refused.text
    assert 'name="cas-leak-detection" value="1" checked' in refused.text
    applicant = bearer(app, "applicant")  # a national role, but not one that runs groups
    forbidden = client.post("/observatoire/groupes/nouveau", headers=applicant, data={"titre": "Groupe"})
    assert forbidden.status_code == 403 and "Seuls les contributeurs" in text(forbidden)
    created = client.post("/observatoire/groupes/nouveau", headers=rennes,
                          data={"titre": "Détection des fuites", "cas-leak-detection": "1"})
    assert created.status_code == 303 and created.headers["location"] == "/observatoire/groupes/detection-des-fuites"
    listed = text(client.get("/observatoire/groupes"))
    assert "Détection des fuites" in listed and "1 membre(s) · 0 réunion(s)" in listed


def test_group_page_forms_for_the_animateur_and_joining(app: Starlette, client: TestClient) -> None:
    dijon, brest = bearer(app, "contributor", "commune:21231"), bearer(app, "contributor", "commune:29019")
    client.post("/observatoire/groupes/nouveau", headers=dijon, data={"titre": "Réseaux LoRaWAN"})
    page = "/observatoire/groupes/reseaux-lorawan"
    assert "Ajouter une réunion" not in client.get(page).text  # the public reads, without the forms
    assert "Ajouter une réunion" in client.get(page, headers=dijon).text
    refused = client.post(f"{page}/reunion", headers=dijon,
                          data={"date": "12/03/2026", "titre": "Lancement", "visio": "https://visio.example.fr/x"})
    assert refused.status_code == 400
    assert "Donnez la date au format AAAA-MM-JJ" in text(refused) and 'href="#reunion-date"' in refused.text
    assert 'value="12/03/2026"' in refused.text and 'value="https://visio.example.fr/x"' in refused.text
    refused = client.post(f"{page}/lien", headers=dijon, data={"titre": "CCTP", "url": "ftp://example.fr/cctp"})
    assert refused.status_code == 400 and "Le lien doit commencer par http:// ou https://." in text(refused)
    assert client.post(f"{page}/reunion", headers=dijon, data={"date": "2026-03-12", "titre": "Lancement",
                                                              "lieu": "Dijon"}).status_code == 303
    assert client.post(f"{page}/lien", headers=dijon, data={"titre": "CCTP", "url": "https://example.fr/cctp"}
                       ).status_code == 303
    # Brest joins, then sees no animateur's forms; the public page shows it all.
    assert "Rejoindre le groupe au nom de Brest" in client.get(page, headers=brest).text
    assert client.post(f"{page}/rejoindre", headers=brest,
                       data={"territoire": "urn:ngsi-ld:Territory:commune:29019"}).status_code == 303
    again = client.post(f"{page}/rejoindre", headers=brest, data={"territoire": "urn:ngsi-ld:Territory:commune:29019"})
    assert again.status_code == 409 and "Action refusée" in text(again)
    shown = text(client.get(page))
    assert "Dijon Animateur" in shown and "Brest Membre" in shown
    assert "2026-03-12 Lancement Dijon" in shown and "CCTP" in shown
    denied = client.post(f"{page}/reunion", headers=brest, data={"date": "2026-04-01", "titre": "Suite"})
    assert denied.status_code == 403 and "Action refusée" in text(denied)
    assert client.post(f"{page}/reunion", data={"date": "2026-04-01"}).status_code == 303  # anonymous: sign in
    assert client.get("/observatoire/groupes/inconnu").status_code == 404


def test_the_group_list_takes_any_page_parameter(client: TestClient) -> None:
    # Superscript digits pass str.isdigit but not int; a page far away would overflow the offset.
    for page in ("²", "①", "461168601842738792", "-1", "abc"):
        response = client.get("/observatoire/groupes", params={"page": page})
        assert response.status_code == 200, page


def test_the_animateur_edits_the_group_title_description_and_use_cases(app: Starlette, client: TestClient) -> None:
    dijon, brest = bearer(app, "contributor", "commune:21231"), bearer(app, "contributor", "commune:29019")
    client.post("/observatoire/groupes/nouveau", headers=dijon, data={"titre": "Capteurs de CO2",
                                                                      "description": "Écoles", "cas-leak-detection": "1"})
    page = "/observatoire/groupes/capteurs-de-co2"
    form = client.get(page, headers=dijon).text
    assert "Modifier le groupe" in form and 'value="Capteurs de CO2"' in form and "Écoles</textarea>" in form
    assert 'name="cas-leak-detection" value="1" checked' in form
    assert "Modifier le groupe" not in client.get(page, headers=brest).text
    refused = client.post(f"{page}/groupe", headers=dijon, data={"titre": "", "description": "Écoles et crèches"})
    assert refused.status_code == 400 and 'href="#groupe-titre"' in refused.text
    assert "Écoles et crèches</textarea>" in refused.text  # what was typed is kept
    denied = client.post(f"{page}/groupe", headers=brest, data={"titre": "Pris", "description": ""})
    assert denied.status_code == 403 and "Action refusée" in text(denied)
    saved = client.post(f"{page}/groupe", headers=dijon,
                        data={"titre": "Qualité de l'air des écoles", "description": "", "cas-indoor-air-monitoring": "1"})
    assert saved.status_code == 303
    shown = client.get(page).text
    assert "<h1>Qualité de l&#39;air des écoles</h1>" in shown and "Écoles" not in text(client.get(page))
    group = app.state.observatory.working_groups.get(SEEDER, "capteurs-de-co2")
    assert group["useCases"] == ["indoor-air-monitoring"] and "description" not in group


# ---- in the browser ---------------------------------------------------------------------------
def test_find_partners_for_a_commune_in_the_browser(site: Any, page: Any) -> None:
    page.goto(site.url + "/observatoire/cooperation")
    assert_accessible(page)
    page.get_by_label("Territoire").fill("Quimper")
    page.get_by_label("Cas d'usage envisagé").select_option("iot-network")
    page.get_by_role("button", name="Chercher des partenaires").click()
    page.wait_for_url("**/observatoire/cooperation?territoire=Quimper&cas=iot-network")
    assert_accessible(page)
    pooling = page.locator("#liste-structures")
    assert "même département : Finistère" in pooling.inner_text()
    pooling.get_by_role("link").first.click()
    page.wait_for_url("**/observatoire/projets/sdef-infrastructure-iot-mutualisee")


def test_a_wrong_territory_keeps_what_was_typed_in_the_browser(site: Any, page: Any, tmp_path: Path) -> None:
    page.goto(site.url + "/observatoire/cooperation")
    page.get_by_label("Territoire").fill("Zzyzx")
    page.get_by_label("Cas d'usage envisagé").select_option("leak-detection")
    page.get_by_role("button", name="Chercher des partenaires").click()
    page.wait_for_load_state()
    assert page.locator(".error-summary").inner_text().count("Aucun territoire ne correspond à « Zzyzx »") == 1
    assert page.get_by_label("Territoire").input_value() == "Zzyzx"
    assert page.get_by_label("Cas d'usage envisagé").input_value() == "leak-detection"
    assert_accessible(page)

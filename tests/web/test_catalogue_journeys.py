"""The catalogue as people use it, in Chromium against a real `territoires serve` (authentication
on, the observatory seeded, sign-in at a real local OpenID provider)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

from tests.web.a11y import assert_accessible
from tests.web.conftest import Site


def test_search_then_filter_by_a_facet_shows_the_public_lighting_projects(site: Site, page: Any) -> None:
    page.goto(site.url + "/observatoire")
    assert_accessible(page)
    page.get_by_label("Rechercher un projet").fill("éclairage intelligent")
    page.get_by_role("button", name="Rechercher").click()
    page.wait_for_url(re.compile(r".*/observatoire/projets\?q="))
    assert_accessible(page)
    searched = int(re.match(r"(\d+)", page.locator("#resultats").inner_text()).group(1))
    assert searched >= 1
    page.get_by_role("group", name="Domaine").get_by_role("checkbox", name=re.compile(r"^Éclairage public")).check()
    page.get_by_role("button", name="Appliquer les filtres").click()
    page.wait_for_url(re.compile(r".*domains=public-lighting.*"))
    titles = page.locator(".results-list h3").all_inner_texts()
    assert titles and len(titles) <= searched
    assert page.get_by_role("group", name="Domaine").get_by_role("checkbox", name=re.compile(r"^Éclairage public")).is_checked()
    for link in page.locator(".results-list h3 a").all()[:3]:
        record = page.context.new_page()
        record.goto(site.url + link.get_attribute("href"))
        assert "Éclairage public" in record.locator("main").inner_text()
        record.close()


def test_open_a_project_record(site: Site, page: Any) -> None:
    page.goto(site.url + "/observatoire/projets?q=OnDijon")
    page.get_by_role("link", name="OnDijon").click()
    page.wait_for_url(site.url + "/observatoire/projets/ondijon")
    assert page.get_by_role("heading", level=1).inner_text() == "OnDijon"
    assert page.get_by_role("table", name=re.compile("Résultats du projet")).is_visible()
    assert "Fiche amorcée à partir de sources publiques" in page.locator("main").inner_text()
    assert page.get_by_role("heading", name="Projets similaires").is_visible()
    assert_accessible(page)
    page.keyboard.press("Tab")  # the skip link comes first and is visible when focused
    skip = page.get_by_role("link", name="Aller au contenu")
    assert skip.evaluate("element => element === document.activeElement")
    assert skip.bounding_box()["y"] >= 0


def test_export_csv_downloads_one_line_per_result(site: Site, page: Any) -> None:
    page.goto(site.url + "/observatoire/projets?domains=public-lighting")
    shown = int(re.match(r"(\d+)", page.locator("#resultats").inner_text()).group(1))
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Exporter en CSV").click()
    download = download_info.value
    assert download.suggested_filename == "projets.csv"
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0][:2] == ["Identifiant", "Titre"]
    assert len(rows) == shown + 1
    assert all("Éclairage public" in row[rows[0].index("Domaines")] for row in rows[1:])


def test_a_contributor_creates_a_draft_through_the_form(site: Site, page: Any) -> None:
    site.sign_in(page, "agent.eau@mairie-rennes.fr", role="contributor", scope="commune:35238",
                 then="/observatoire/projets/nouveau")
    assert_accessible(page)
    page.get_by_label("Titre").fill("Télérelève des compteurs d'eau de Rennes")
    page.get_by_role("textbox", name=re.compile(r"^Porteur")).fill("Ville de Rennes")
    page.get_by_label("Nature du porteur").select_option("commune")
    page.get_by_label("Territoires desservis").fill("commune:35238")
    page.get_by_label("Coût total (euros)").fill("cent mille")  # a mistake first
    page.get_by_role("group", name="Domaines").get_by_role("checkbox", name="Eau", exact=True).check()
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    summary = page.get_by_role("alert")
    assert "Coût total" in summary.inner_text()
    assert page.get_by_label("Titre").input_value() == "Télérelève des compteurs d'eau de Rennes"
    assert page.get_by_role("group", name="Domaines").get_by_role("checkbox", name="Eau", exact=True).is_checked()
    assert_accessible(page)
    summary.get_by_role("link", name="Coût total").click()
    assert page.evaluate("document.activeElement.id") in ("totalCost", "contenu") or page.url.endswith("#totalCost")
    page.get_by_label("Coût total (euros)").fill("100000")
    page.get_by_role("button", name="Enregistrer le brouillon").click()
    page.wait_for_url(re.compile(r".*/observatoire/projets/telereleve-des-compteurs-d-eau-de-rennes\?fait=cree"))
    main = page.locator("main").inner_text()
    assert "La fiche a été enregistrée." in main and "Brouillon" in main and "100 000 €" in main
    assert_accessible(page)
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(site.url + "/")
    assert page.goto(site.url + "/observatoire/projets/telereleve-des-compteurs-d-eau-de-rennes").status == 404


def test_the_map_works_without_and_with_javascript(site: Site, browser: Any) -> None:
    plain = browser.new_context(java_script_enabled=False)
    try:
        page = plain.new_page()
        page.goto(site.url + "/observatoire/carte")
        assert_accessible(page)
        points = page.locator("svg .projets a")
        assert points.count() >= 10
        assert points.first.get_attribute("aria-label")
    finally:
        plain.close()
    enhanced = browser.new_context()
    try:
        page = enhanced.new_page()
        page.goto(site.url + "/observatoire/carte")
        page.wait_for_selector(".leaflet-container")
        markers = page.get_by_role("button", name=re.compile(" — "))
        assert markers.count() >= 10
        markers.first.focus()  # markers answer the keyboard (overlapping ones could not all be clicked)
        page.keyboard.press("Enter")
        assert page.locator(".leaflet-popup-content a").get_attribute("href").startswith("/observatoire/projets/")
        assert_accessible(page)
    finally:
        enhanced.close()


def test_the_pages_work_in_english(site: Site, page: Any) -> None:
    page.goto(site.url + "/observatoire/projets?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", level=1).inner_text() == "Projects catalogue"
    page.get_by_role("link", name="FR", exact=True).click()
    assert page.locator("html").get_attribute("lang") == "fr"

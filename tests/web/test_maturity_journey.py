"""The maturity diagnostic in a real browser: a contributor of Rennes finds its commune, fills
the questionnaire (a wrong submission loses nothing), sees its levels as a table and a radar
chart, publishes, and reads its peers' distribution and recommendations linked to a project
of the seeded catalogue."""

from __future__ import annotations

from typing import Any

import httpx2

from territoires.observatoire import maturity
from tests.web.a11y import assert_accessible
from tests.web.conftest import Site

API = "/api/observatoire/v1/territories"


def published_diagnostic(site: Site, kind: str, code: str, levels: dict[str, int]) -> None:
    """A diagnostic submitted and published through the API (an operator may write any)."""
    headers = {"Authorization": f"Bearer {site.operator_key}"}
    with httpx2.Client(base_url=site.url, headers=headers) as client:
        response = client.put(f"{API}/{kind}/{code}/diagnostic", json={"answers": maturity.answers_meeting(levels)})
        assert response.status_code == 200, response.text
        assert client.post(f"{API}/{kind}/{code}/diagnostic/publish").status_code == 200


def answer(page: Any, answers: dict[str, str]) -> None:
    for question, code in answers.items():
        page.check(f"#{question}-{code}")


def test_fill_and_submit_a_diagnostic_then_see_peers_and_recommendations(site: Site, page: Any) -> None:
    # Rillieux-la-Pape (a commune, seeded with a public-lighting project) reached level 5 everywhere;
    # Nantes, a commune of Rennes' population band, published its own diagnostic.
    published_diagnostic(site, "commune", "69286", dict.fromkeys(maturity.axis_ids(), 5))
    published_diagnostic(site, "commune", "44109", {"A1": 4, "A6": 3})
    # Signed out, the questionnaire asks to sign in first.
    response = page.request.get(site.url + "/observatoire/diagnostic/commune/35238", max_redirects=0)
    assert response.status == 303
    assert response.headers["location"] == "/connexion?suivant=%2Fobservatoire%2Fdiagnostic%2Fcommune%2F35238"
    site.sign_in(page, "agent@ville-rennes.fr", role="contributor", scope="commune:35238",
                 then="/observatoire/diagnostic")
    assert_accessible(page)
    page.fill("#q", "35238")
    page.click("button[type=submit] >> text=Chercher")
    page.click("a >> text=Rennes")
    assert page.url.endswith("/observatoire/diagnostic/commune/35238/resultats")
    page.click("text=Remplir le questionnaire")
    assert page.locator("fieldset.maturity-axis").count() == 10
    assert page.locator("fieldset.maturity-axis legend").first.inner_text().startswith("A1 — Stratégie")
    assert_accessible(page)

    # A submission with unanswered questions: the errors are listed, what was chosen is kept.
    wanted = {"A1": 3, "A6": 2, "A7": 2}
    answers = maturity.answers_meeting(wanted)
    first_half = dict(list(answers.items())[:20])
    answer(page, first_half)
    page.click("text=Enregistrer le diagnostic")
    summary = page.locator(".error-summary")
    assert summary.is_visible()
    assert "30 réponse(s) à compléter" in summary.inner_text()
    assert summary.locator("a").first.get_attribute("href") == "#A5-Q1-yes"
    assert all(page.is_checked(f"#{question}-{code}") for question, code in first_half.items())
    assert_accessible(page)
    answer(page, dict(list(answers.items())[20:]))
    page.click("text=Enregistrer le diagnostic")

    # The results: levels as a table and as a radar chart, private until published.
    page.wait_for_url("**/observatoire/diagnostic/commune/35238/resultats*")
    assert "Le diagnostic est enregistré." in page.inner_text("main")
    rows = page.locator("#niveaux-tableau tbody tr")
    assert rows.nth(0).inner_text().split("\t")[1].startswith("3 — Structuration")
    assert rows.nth(5).inner_text().split("\t")[1].startswith("2 — Expérimentation")
    page.wait_for_selector("#maturity-radar[data-drawn=true] canvas")
    assert "Privé" in page.inner_text("main")
    page.click("button >> text=Publier le diagnostic")
    page.wait_for_selector("text=Retirer la publication")
    assert_accessible(page)

    # Peers: a distribution among communes of the same band that published, never a rank.
    peers = page.locator("table.maturity-peers")
    caption = peers.locator("caption").inner_text()
    assert caption == ("Répartition des niveaux parmi les 2 communes de 200 000 habitants et plus "
                       "ayant publié leur diagnostic")
    a1 = peers.locator("tbody tr").nth(0).inner_text().split("\t")
    assert [" ".join(cell.split()) for cell in a1[1:]] == ["0", "0", "1 (votre niveau)", "1", "0", "3"]
    assert "rang" not in page.inner_text("main").lower()

    # Recommendations: next level's criteria, with a catalogue project of a comparable
    # territory (a commune) that reached it, and indicators.
    steps = page.locator(".maturity-steps > li")
    a6 = steps.filter(has_text="A6 Services urbains connectés")
    assert "viser le niveau 3" in a6.inner_text()
    link = a6.locator('a[href="/observatoire/projets/rillieux-la-pape-eclairage-public"]')
    assert link.inner_text() == "Éclairage public intelligent" and "Rillieux-la-Pape" in a6.inner_text()
    assert "Points lumineux télégérés" in a6.inner_text()
    # The history shows the submission and the publication.
    history = page.locator("#historique + .table-scroll tbody tr")
    assert history.count() == 2 and "Publié" in history.nth(1).inner_text()
    # The project linked opens in the catalogue.
    link.click()
    assert page.locator("h1").inner_text() == "Éclairage public intelligent"
    # In English, the same page, its questionnaire texts and its peers in words.
    page.goto(site.url + "/observatoire/diagnostic/commune/35238/resultats?lang=en")
    assert page.locator("table.maturity-peers caption").inner_text() == (
        "Levels among the 2 communes with 200,000 inhabitants or more that published their diagnostic")
    assert "A5 Infrastructure and platform" in page.inner_text("#niveaux-tableau")
    assert_accessible(page)

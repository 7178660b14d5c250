"""Seed content: the 17 publicly documented projects of shared/facts/projects.csv, each with its
source, loaded idempotently, published, through the real broker and the real command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from territoires.auth.principal import ANONYMOUS
from territoires.broker import open_broker
from territoires.cli import main
from territoires.config import Settings
from territoires.observatoire.project_filters import ProjectFilters
from territoires.observatoire.projects import ProjectService
from territoires.observatoire.seed import SEEDER, load_seed, seed_records
from tests import postgres

# The source links of projects.csv, one per row (the TID laureates of a wave share a page).
SOURCES = {
    "ondijon": "https://francevilledurable.fr/realisations/on-dijon/",
    "angers-territoire-intelligent": "https://www.journaldunet.com/smart-city/1486603-angers-smart-city/",
    "timeo-toulouse": "https://banquedesterritoires.fr/25-nuances-de-replicabilite-des-territoires-intelligents",
    "vendee-territoire-connecte": "https://actuia.com/actualite/vendee-territoire-connecte-reseau-dobjets-connectes-"
                                  "et-jumeau-numerique-au-service-de-la-transition-ecologique",
    "rillieux-la-pape-eclairage-public": "http://www.kelnews.fr/2017/11/24/smart-city-certains-investissements-"
                                         "publics-plus-rentables-que-dautres/",
}


@pytest.fixture(params=postgres.BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    return Settings(data_dir=tmp_path / "var", database_url=url)


@pytest.fixture
def service(settings: Settings) -> Iterator[ProjectService]:
    broker = open_broker(settings)
    yield ProjectService(broker)
    broker.close()


def test_all_17_seeded_published_with_their_source(service: ProjectService) -> None:
    report = load_seed(service)
    assert len(report.created) == 17 and report.kept == []
    page = service.list(ANONYMOUS, ProjectFilters(), limit=100)
    assert page.total == 17
    for record in page.projects:
        provenance = record["provenance"]
        assert provenance["seededFromPublicSources"] is True
        assert provenance["licence"] == "Licence Ouverte 2.0"
        assert provenance["sourceUrl"].startswith(("https://", "http://"))
        assert record["moderation"] == "published"
    by_slug = {p["id"].rsplit(":", 1)[1]: p for p in page.projects}
    for slug, url in SOURCES.items():
        assert by_slug[slug]["provenance"]["sourceUrl"] == url
    tid_wave_1 = [p for p in page.projects if "(TID), vague 1" in p.get("description", "")]
    assert len(tid_wave_1) == 4 and all(p["labels"] == ["tid-laureate"] for p in tid_wave_1)


def test_seeded_facts_are_those_of_the_table(service: ProjectService) -> None:
    load_seed(service)
    dijon = service.get(ANONYMOUS, "ondijon")
    assert (dijon["carrierName"], dijon["carrierKind"], dijon["carrier"]) == (
        "Dijon Métropole", "metropole", "urn:ngsi-ld:Organisation:242100410")
    assert dijon["territories"] == ["urn:ngsi-ld:Territory:epci:242100410"] and dijon["departement"] == ["21"]
    assert dijon["status"] == "deployed" and dijon["goLiveDate"] == "2019-04"
    # Unknown facts stay absent: a syndicate's SIREN, the details of a laureate nobody documented.
    sdef = service.get(ANONYMOUS, "sdef-infrastructure-iot-mutualisee")
    assert "carrier" not in sdef and sdef["status"] == "in-progress" and sdef["departement"] == ["29"]
    porto = service.get(ANONYMOUS, "porto-vecchio-tid")
    assert porto["summary"] == "Détails du projet non trouvés." and not {"domains", "useCases", "outcomes"} & set(porto)
    lighting = service.list(ANONYMOUS, ProjectFilters({"domain": ("public-lighting",)}), limit=100).projects
    assert {p["id"].rsplit(":", 1)[1] for p in lighting} == {
        "ondijon", "angers-territoire-intelligent", "sdef-infrastructure-iot-mutualisee", "fute-grand-est",
        "rillieux-la-pape-eclairage-public"}
    metering = service.list(ANONYMOUS, ProjectFilters({"useCase": ("remote-meter-reading",)}), limit=100).projects
    assert {p["id"].rsplit(":", 1)[1] for p in metering} == {"sdef-infrastructure-iot-mutualisee",
                                                            "vendee-territoire-connecte"}


def test_seed_file_has_one_record_per_row_of_the_table() -> None:
    records = seed_records()
    assert len(records) == len({r["id"] for r in records}) == 17
    assert all(r["provenance"]["seededFromPublicSources"] is True for r in records)


def test_seeding_again_keeps_what_is_there(service: ProjectService) -> None:
    load_seed(service)
    service.update(SEEDER, "ondijon", {"lessons": "Un poste de pilotage unique demande une organisation commune."})
    report = load_seed(service)
    assert report.created == [] and len(report.kept) == 17
    assert service.get(ANONYMOUS, "ondijon")["lessons"].startswith("Un poste de pilotage unique")
    assert service.list(ANONYMOUS, ProjectFilters()).total == 17


def test_the_command_seeds_idempotently(settings: Settings, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERRITOIRES_DATABASE_URL", settings.database_url)
    assert main(["--data-dir", str(settings.data_dir), "observatoire", "seed"]) == 0
    assert "17 projet(s) amorcé(s), 0 déjà présent(s)" in capsys.readouterr().out
    assert main(["--data-dir", str(settings.data_dir), "observatoire", "seed"]) == 0
    assert "0 projet(s) amorcé(s), 17 déjà présent(s)" in capsys.readouterr().out
    assert main(["--data-dir", str(settings.data_dir), "observatoire", "reindex"]) == 0
    assert "17 fiche(s) indexée(s)" in capsys.readouterr().out


def test_a_french_query_finds_the_seeded_projects_of_its_use_case(service: ProjectService) -> None:
    """Issue 4's acceptance: 'éclairage intelligent' finds the public-lighting projects and
    "compteurs d'eau" the water-metering ones, ranked by the French full-text search."""
    load_seed(service)

    def found(text: str) -> list[dict]:
        return service.list(ANONYMOUS, ProjectFilters.of({"q": text}), limit=100).projects

    lighting = found("éclairage intelligent")
    assert lighting and all("public-lighting" in p["domains"] for p in lighting)
    water = found("compteurs d'eau")
    assert water and all("water" in p["domains"] for p in water)

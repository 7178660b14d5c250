"""Project records through the real broker (SQLite files, PostgreSQL when configured): the
refusals issue 4 names under "Bad input", moderation rights, derived fields and history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from territoires.auth.errors import Forbidden, Unauthenticated
from territoires.auth.principal import ANONYMOUS, Grant, Principal, Role
from territoires.broker import open_broker
from territoires.config import Settings
from territoires.ngsild.errors import AlreadyExists, BadRequestData, ResourceNotFound
from territoires.observatoire import project_record
from territoires.observatoire.project_filters import ProjectFilters
from territoires.observatoire.projects import TENANT, ProjectService
from territoires.observatoire.registry import TerritoryRegistry
from tests import postgres

MODERATOR = Principal("key", "k-mod", (Grant(Role.MODERATOR),), name="Équipe nationale")
DIJON = Principal("key", "k-dijon", (Grant(Role.CONTRIBUTOR, scope="commune:21231"),), name="Ville de Dijon")
RENNES = Principal("key", "k-rennes", (Grant(Role.CONTRIBUTOR, scope="commune:35238"),), name="Ville de Rennes")
METRO = Principal("key", "k-metro", (Grant(Role.CONTRIBUTOR, scope="epci:242100410"),), name="Dijon Métropole")


@pytest.fixture(params=postgres.BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ProjectService]:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    broker = open_broker(Settings(data_dir=tmp_path / "var", database_url=url))
    yield ProjectService(broker, TerritoryRegistry.load())
    broker.close()


def record(**fields: Any) -> dict[str, Any]:
    return {"title": "Éclairage intelligent du centre-ville", "carrierName": "Ville de Dijon",
            "carrierKind": "commune", "territories": ["commune:21231"], "domains": ["public-lighting"],
            **fields}


def refused(service: ProjectService, principal: Principal = DIJON, **fields: Any) -> str:
    with pytest.raises(BadRequestData) as caught:
        service.create(principal, record(**fields))
    return caught.value.detail


# ---- bad input (issue 4) ----------------------------------------------------------------------
def test_unknown_insee_code_is_refused(service: ProjectService) -> None:
    detail = refused(service, territories=["commune:21999"])
    assert detail.startswith("territories[0]: no commune has code 21999 in the territory registry")
    assert "territories[0]: '2199' is not an INSEE commune code" in refused(service, territories=["commune:2199"])
    assert "unknown territory kind 'canton'" in refused(service, territories=["canton:2101"])


def test_siren_with_a_wrong_check_digit_is_refused(service: ProjectService) -> None:
    assert refused(service, carrier="212102314") == (
        "carrier: SIREN 212102314 has a wrong check digit (Luhn key); check the number")
    assert refused(service, carrier="2121023") == "carrier: '2121023' is not a SIREN: a SIREN has 9 digits"
    created = service.create(DIJON, record(carrier="212102313"))
    assert created["carrier"] == "urn:ngsi-ld:Organisation:212102313"


def test_observed_result_dated_in_the_future_is_refused(service: ProjectService) -> None:
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    outcome = {"indicator": "Consommation d'électricité", "unit": "MWh/an", "baseline": {"value": 900},
               "after": {"value": 400, "date": tomorrow}, "method": "measured"}
    detail = refused(service, outcomes=[outcome])
    assert detail.startswith(f"outcomes[0].after.date: {tomorrow} is in the future, but the result is marked as observed")
    # The same figure as an expected result is a target, and may be dated later.
    created = service.create(DIJON, record(outcomes=[{**outcome, "method": "estimated", "observed": False}]))
    assert created["outcomes"][0]["after"] == {"value": 400, "date": tomorrow}


def test_baseline_without_a_unit_is_refused(service: ProjectService) -> None:
    detail = refused(service, outcomes=[{"indicator": "Consommation", "baseline": {"value": 900, "date": "2022"}}])
    assert detail.startswith("outcomes[0]: a baseline value needs its unit")


def test_oversized_fields_are_refused(service: ProjectService) -> None:
    assert refused(service, summary="x" * 501) == "summary: 501 characters, at most 500 are accepted"
    assert refused(service, domains=["water"] * 51) == "domains: 51 items, at most 50 are accepted"
    assert "bytes of JSON, at most 20000" in refused(service, funding={"note": "x" * 20_001})


def test_other_refusals_name_the_field(service: ProjectService) -> None:
    assert refused(service, domains=["lighting"]).startswith("domains[0]: 'lighting' is not a known domains code")
    assert refused(service, startDate="2024-13") == "startDate: '2024-13' is not a date of the calendar"
    assert refused(service, startDate="24/05/2024").startswith("startDate: '24/05/2024' is not an ISO 8601 date")
    assert refused(service, startDate="2024-06", endDate="2024-05") == "endDate 2024-05 is before startDate 2024-06"
    assert refused(service, colour="blue").startswith("unknown field(s) colour; the fields of a project are")
    assert refused(service, contact="mairie") == "contact: 'mairie' is not an e-mail address (a functional mailbox)"
    assert refused(service, territories=[]).startswith("territories: give at least one territory served")
    with pytest.raises(BadRequestData, match=r"^missing required field\(s\): carrierName, carrierKind$"):
        service.create(DIJON, {"title": "Sans porteur", "territories": ["commune:21231"]})


# ---- derived fields ---------------------------------------------------------------------------
def test_band_region_departement_and_location_come_from_the_territories(service: ProjectService) -> None:
    created = service.create(DIJON, record(populationBand="0-3499"))  # derived fields given are ignored
    assert created["id"] == "urn:ngsi-ld:Project:eclairage-intelligent-du-centre-ville"
    assert created["territories"] == ["urn:ngsi-ld:Territory:commune:21231"]
    assert created["populationBand"] == "100000-199999"  # Dijon, about 160,000 inhabitants
    assert (created["region"], created["departement"]) == (["27"], ["21"])
    lon, lat = created["location"]["coordinates"]
    assert 4.9 < lon < 5.1 and 47.2 < lat < 47.4
    # Dijon Métropole and one of its communes: the population is the métropole's, counted once.
    both = service.create(METRO, record(title="Hyperviseur", territories=["epci:242100410", "commune:21231"]))
    assert both["populationBand"] == "200000+"
    # Two départements of two régions.
    wide = service.create(MODERATOR, record(title="Réseau", territories=["departement:21", "departement:35"]))
    assert (wide["region"], wide["departement"]) == (["27", "53"], ["21", "35"])
    assert wide["populationBand"] == "200000+"


def test_second_project_with_the_same_title_gets_its_own_id(service: ProjectService) -> None:
    first = service.create(DIJON, record())
    second = service.create(DIJON, record())
    assert second["id"] == first["id"] + "-2"
    with pytest.raises(AlreadyExists):
        service.create(DIJON, record(id="eclairage-intelligent-du-centre-ville"))


# ---- moderation -------------------------------------------------------------------------------
def test_contributors_draft_for_their_territory_only(service: ProjectService) -> None:
    with pytest.raises(Forbidden, match="only a moderator or a contributor of one of the record's territories"):
        service.create(RENNES, record())
    with pytest.raises(Unauthenticated):
        service.create(ANONYMOUS, record())
    with pytest.raises(Forbidden, match="only a moderator publishes a record"):
        service.create(DIJON, record(moderation="published"))
    draft = service.create(DIJON, record())
    assert draft["moderation"] == "draft"
    with pytest.raises(Forbidden):
        service.update(RENNES, draft["id"], {"summary": "Pris par Rennes"})
    # A contributor cannot hand its record over to a territory it does not speak for.
    with pytest.raises(Forbidden):
        service.update(DIJON, draft["id"], {"territories": ["commune:35238"]})


def test_drafts_are_seen_by_their_contributors_and_moderators_only(service: ProjectService) -> None:
    draft = service.create(DIJON, record())
    assert service.get(MODERATOR, draft["id"])["title"] == draft["title"]
    assert service.get(DIJON, draft["id"])["moderation"] == "draft"
    for outsider in (ANONYMOUS, RENNES):
        with pytest.raises(ResourceNotFound, match=f"no project {draft['id']} is published"):
            service.get(outsider, draft["id"])
        assert service.list(outsider, ProjectFilters()).total == 0
    assert service.list(DIJON, ProjectFilters(moderation="draft")).total == 1
    assert service.list(RENNES, ProjectFilters(moderation="draft")).total == 0
    assert service.list(MODERATOR, ProjectFilters(moderation="draft")).total == 1
    with pytest.raises(Unauthenticated):
        service.list(ANONYMOUS, ProjectFilters(moderation="draft"))


def test_a_moderator_publishes_then_everyone_reads(service: ProjectService) -> None:
    draft = service.create(DIJON, record())
    submitted = service.update(DIJON, draft["id"], {"moderation": "submitted"})
    assert submitted["moderation"] == "submitted"
    with pytest.raises(Forbidden, match="only a moderator of the observatory publishes"):
        service.publish(DIJON, draft["id"])
    with pytest.raises(Unauthenticated):
        service.publish(ANONYMOUS, draft["id"])
    published = service.publish(MODERATOR, draft["id"])
    assert published["moderation"] == "published"
    shown = service.get(ANONYMOUS, draft["id"])
    assert shown["title"] == draft["title"] and shown["lastEditor"] == {"role": "moderator"}  # names: moderators only
    assert service.list(ANONYMOUS, ProjectFilters({"domain": ("public-lighting",)})).total == 1
    # Changed by its territory, a published record goes back to moderation.
    changed = service.update(DIJON, draft["id"], {"summary": "Nouveau résumé"})
    assert changed["moderation"] == "submitted"
    with pytest.raises(ResourceNotFound):
        service.get(ANONYMOUS, draft["id"])
    assert service.send_back(MODERATOR, draft["id"])["moderation"] == "draft"


def test_update_removes_a_field_given_null_and_checks_the_whole_record(service: ProjectService) -> None:
    created = service.create(DIJON, record(summary="Résumé", status="pilot"))
    changed = service.update(DIJON, created["id"], {"summary": None, "status": "deployed"})
    assert "summary" not in changed and changed["status"] == "deployed"
    with pytest.raises(BadRequestData, match=r"^missing required field\(s\): title$"):
        service.update(DIJON, created["id"], {"title": None})
    with pytest.raises(BadRequestData, match="carrier: SIREN 212102314 has a wrong check digit"):
        service.update(DIJON, created["id"], {"carrier": "212102314"})
    assert service.get(DIJON, created["id"])["status"] == "deployed"  # nothing of a refused change is kept


def test_filters(service: ProjectService) -> None:
    service.create(MODERATOR, record(moderation="published", status="deployed"))
    service.create(MODERATOR, record(title="Compteurs d'eau", territories=["commune:35238"], domains=["water"],
                                     useCases=["remote-meter-reading"], carrierKind="metropole",
                                     moderation="published"))

    def titles(**filters: str) -> list[str]:
        return [p["title"] for p in service.list(ANONYMOUS, ProjectFilters.of(filters)).projects]

    assert titles() == ["Compteurs d'eau", "Éclairage intelligent du centre-ville"]  # by id, made from the title
    assert [p["title"] for p in service.latest(ANONYMOUS, 1)] == ["Compteurs d'eau"]
    assert titles(domain="water") == titles(useCase="remote-meter-reading") == ["Compteurs d'eau"]
    assert titles(region="53") == titles(departement="35") == titles(carrierKind="metropole") == ["Compteurs d'eau"]
    assert titles(status="deployed", populationBand="100000-199999") == ["Éclairage intelligent du centre-ville"]
    assert titles(region="11") == []
    with pytest.raises(BadRequestData, match="domain: 'lighting' is not a known domains code"):
        ProjectFilters.of({"domain": "lighting"})
    with pytest.raises(BadRequestData, match=r"unknown parameter\(s\) colour"):
        ProjectFilters.of({"colour": "blue"})
    assert titles(q="eclairages") == ["Éclairage intelligent du centre-ville"]
    assert titles(q="compteur", domain="water") == ["Compteurs d'eau"] and titles(q="compteur", region="11") == []
    page = service.list(ANONYMOUS, ProjectFilters(), offset=1, limit=1)
    assert (page.total, [p["title"] for p in page.projects]) == (2, ["Éclairage intelligent du centre-ville"])


def test_reads_before_the_observatory_tenant_exists(service: ProjectService) -> None:
    assert TENANT not in service.broker.tenants.list()
    assert service.list(ANONYMOUS, ProjectFilters()).total == 0
    with pytest.raises(ResourceNotFound, match="no project urn:ngsi-ld:Project:absent in the observatory"):
        service.get(ANONYMOUS, "absent")


# ---- history ----------------------------------------------------------------------------------
def test_history_tells_who_changed_what_when(service: ProjectService) -> None:
    created = service.create(DIJON, record(status="pilot", summary="Premier résumé"))
    service.update(DIJON, created["id"], {"status": "deployed", "summary": None, "moderation": "submitted"})
    service.publish(MODERATOR, created["id"])
    events = service.history(MODERATOR, created["id"])
    assert [event["by"] for event in events] == [
        {"role": "contributor", "name": "Ville de Dijon", "scope": "commune:21231"},
        {"role": "contributor", "name": "Ville de Dijon", "scope": "commune:21231"},
        {"role": "moderator", "name": "Équipe nationale"}]
    assert events[0]["changes"]["status"] == "pilot" and events[0]["changes"]["moderation"] == "draft"
    assert events[1]["changes"] == {"status": "deployed", "summary": None, "moderation": "submitted"}
    assert events[2]["changes"] == {"moderation": "published"}
    assert events[0]["at"] < events[1]["at"] < events[2]["at"]
    # Everyone reads the history of a published record; names are shown to moderators only.
    assert [event["by"]["role"] for event in service.history(ANONYMOUS, created["id"])] == [
        "contributor", "contributor", "moderator"]
    assert all("name" not in event["by"] for event in service.history(ANONYMOUS, created["id"]))


def test_history_of_a_draft_is_as_private_as_the_draft(service: ProjectService) -> None:
    created = service.create(DIJON, record())
    with pytest.raises(ResourceNotFound):
        service.history(RENNES, created["id"])
    assert len(service.history(DIJON, created["id"])) == 1


def test_project_ids() -> None:
    assert project_record.project_id("ondijon") == "urn:ngsi-ld:Project:ondijon"
    assert project_record.project_id("urn:ngsi-ld:Project:ondijon") == "urn:ngsi-ld:Project:ondijon"
    with pytest.raises(BadRequestData, match="is not a project id"):
        project_record.project_id("On Dijon")
    assert project_record.slug_of("Éclairage public : l'œuvre") == "eclairage-public-l-oeuvre"

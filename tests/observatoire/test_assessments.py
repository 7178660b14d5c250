"""Maturity diagnostics through the real broker (SQLite files, PostgreSQL when configured):
rights, privacy until published, history, peers and recommendations linked to projects."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from territoires.auth.errors import Forbidden, Unauthenticated
from territoires.auth.principal import ANONYMOUS, Grant, Principal, Role
from territoires.broker import open_broker
from territoires.config import Settings
from territoires.ngsild.errors import BadRequestData, ResourceNotFound
from territoires.observatoire import maturity
from territoires.observatoire.assessments import AssessmentService
from territoires.observatoire.registry import TerritoryRegistry
from tests import postgres

MODERATOR = Principal("key", "k-mod", (Grant(Role.MODERATOR),), name="Équipe nationale")


def contributor(scope: str) -> Principal:
    return Principal("key", f"k-{scope}", (Grant(Role.CONTRIBUTOR, scope=scope),), name=scope)


RENNES = contributor("commune:35238")        # 200 000 inhabitants and more
NANTES = contributor("commune:44109")        # the same band
MONTPELLIER = contributor("commune:34172")   # the same band
STRASBOURG = contributor("commune:67482")    # the same band
DIJON = contributor("commune:21231")         # 100 000 to 199 999


@pytest.fixture(params=postgres.BACKENDS)
def service(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AssessmentService]:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    broker = open_broker(Settings(data_dir=tmp_path / "var", database_url=url))
    yield AssessmentService(broker, TerritoryRegistry.load())
    broker.close()


def submit(service: AssessmentService, who: Principal, levels: dict[str, int], *, publish: bool = False) -> dict[str, Any]:
    kind, code = who.grants[0].scope.split(":")
    submitted = service.submit(who, kind, code, maturity.answers_meeting(levels))
    return service.publish(who, kind, code) if publish else submitted


def project(service: AssessmentService, title: str, territory: str, domains: list[str]) -> str:
    created = service.projects.create(MODERATOR, {
        "title": title, "carrierName": "Une collectivité", "carrierKind": "commune", "territories": [territory],
        "domains": domains, "moderation": "published"})
    return created["id"]


def test_submit_scores_and_keeps_the_diagnostic_private_until_published(service: AssessmentService) -> None:
    submitted = submit(service, RENNES, {"A1": 3, "A5": 2})
    assert submitted["id"] == "urn:ngsi-ld:MaturityAssessment:commune:35238"
    assert submitted["territory"]["name"] == "Rennes" and submitted["territory"]["populationBand"] == "200000+"
    assert submitted["levels"]["A1"] == 3 and submitted["levels"]["A5"] == 2 and submitted["levels"]["A2"] == 1
    assert submitted["published"] is False
    for stranger in (ANONYMOUS, DIJON):
        with pytest.raises(ResourceNotFound, match=r"^commune 35238 \(Rennes\) has no published diagnostic$"):
            service.get(stranger, "commune", "35238")
        with pytest.raises(ResourceNotFound):
            service.history(stranger, "commune", "35238")
        with pytest.raises(ResourceNotFound):
            service.recommendations(stranger, "commune", "35238")
        assert service.peers(stranger, "commune", "35238")["axes"][0]["own"] is None
    assert service.get(MODERATOR, "commune", "35238")["levels"]["A1"] == 3
    # A territory without any diagnostic looks the same to a stranger.
    with pytest.raises(ResourceNotFound, match=r"^commune 44109 \(Nantes\) has no published diagnostic$"):
        service.get(ANONYMOUS, "commune", "44109")
    published = service.publish(RENNES, "commune", "35238")
    assert published["published"] is True
    assert service.get(ANONYMOUS, "commune", "35238")["levels"]["A1"] == 3
    # Submitted again, it stays published, with its new levels; withdrawn, it is private again.
    assert submit(service, RENNES, {"A1": 4})["published"] is True
    assert service.get(ANONYMOUS, "commune", "35238")["levels"]["A1"] == 4
    service.unpublish(RENNES, "commune", "35238")
    with pytest.raises(ResourceNotFound):
        service.get(ANONYMOUS, "commune", "35238")


def test_only_the_territory_contributors_and_moderators_write(service: AssessmentService) -> None:
    answers = maturity.answers_meeting({})
    with pytest.raises(Unauthenticated):
        service.submit(ANONYMOUS, "commune", "35238", answers)
    with pytest.raises(Forbidden, match=r"only the contributors of commune 35238 \(Rennes\) and the moderators"):
        service.submit(DIJON, "commune", "35238", answers)
    assert service.submit(MODERATOR, "commune", "35238", answers)["levels"]["A1"] == 1
    with pytest.raises(Forbidden):
        service.publish(DIJON, "commune", "35238")
    with pytest.raises(ResourceNotFound, match="has no diagnostic yet: submit one first"):
        service.publish(NANTES, "commune", "44109")


def test_bad_input_names_the_territory_or_the_question(service: AssessmentService) -> None:
    with pytest.raises(ResourceNotFound, match=r"^no commune has code 35999 in the territory registry"):
        service.submit(RENNES, "commune", "35999", {})
    with pytest.raises(BadRequestData, match=r"unknown territory kind 'canton'"):
        service.get(RENNES, "canton", "3501")
    with pytest.raises(BadRequestData, match=r"^answers\.A6-Q2: 'three' is not one of its options"):
        service.submit(RENNES, "commune", "35238", {**maturity.answers_meeting({}), "A6-Q2": "three"})
    with pytest.raises(ResourceNotFound):  # nothing was stored by the refused submission
        service.get(RENNES, "commune", "35238")


def test_history_shows_progress_over_time(service: AssessmentService) -> None:
    submit(service, RENNES, {"A1": 2, "A4": 1})
    service.publish(RENNES, "commune", "35238")
    submit(service, RENNES, {"A1": 4, "A4": 3})
    history = service.history(ANONYMOUS, "commune", "35238")
    assert [event["event"] for event in history] == ["submitted", "published", "submitted"]
    assert [(e["levels"]["A1"], e["levels"]["A4"]) for e in history if e["event"] == "submitted"] == [(2, 1), (4, 3)]
    assert history[0]["at"] < history[1]["at"] < history[2]["at"]


def test_peers_are_the_published_diagnostics_of_the_same_kind_and_band(service: AssessmentService) -> None:
    submit(service, RENNES, {"A5": 2}, publish=True)
    submit(service, NANTES, {"A5": 4}, publish=True)
    submit(service, MONTPELLIER, {"A5": 2, "A1": 5}, publish=True)
    submit(service, STRASBOURG, {"A5": 5})                      # not published: not counted
    submit(service, DIJON, {"A5": 5}, publish=True)              # another band: not counted
    submit(service, contributor("epci:243500139"), {"A5": 5}, publish=True)  # Rennes Métropole: another kind
    peers = service.peers(RENNES, "commune", "35238")
    assert (peers["kind"], peers["populationBand"], peers["total"]) == ("commune", "200000+", 3)
    a5 = next(item for item in peers["axes"] if item["axis"] == "A5")
    assert a5 == {"axis": "A5", "counts": {"1": 0, "2": 2, "3": 0, "4": 1, "5": 0}, "median": 2, "own": 2}
    a1 = peers["axes"][0]
    assert a1["counts"] == {"1": 2, "2": 0, "3": 0, "4": 0, "5": 1} and a1["own"] == 1
    assert "rank" not in str(peers)
    # Anyone sees the distribution; the own level only where the diagnostic may be read.
    assert service.peers(ANONYMOUS, "commune", "44109")["axes"][4]["own"] == 4
    assert service.peers(ANONYMOUS, "commune", "67482")["axes"][4]["own"] is None
    # EPCI are compared with EPCI of the same legal form.
    metro = service.peers(ANONYMOUS, "epci", "243500139")
    assert (metro["kind"], metro["epciKind"], metro["total"]) == ("epci", "METRO", 1)


def test_peer_counts_follow_resubmissions_withdrawals_and_a_reindex(service: AssessmentService) -> None:
    def a5_counts() -> dict[str, int]:
        return service.peers(ANONYMOUS, "commune", "35238")["axes"][4]["counts"]

    submit(service, RENNES, {"A5": 2}, publish=True)
    submit(service, NANTES, {"A5": 4}, publish=True)
    submit(service, NANTES, {"A5": 3})                           # stays published, at its new level
    assert a5_counts() == {"1": 0, "2": 1, "3": 1, "4": 0, "5": 0}
    service.unpublish(NANTES, "commune", "44109")
    assert a5_counts() == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 0}
    service.publish(NANTES, "commune", "44109")
    assert service.broker.text_search.reindex("observatoire") > 0  # rebuilding counts nothing twice
    assert a5_counts() == {"1": 0, "2": 1, "3": 1, "4": 0, "5": 0}


def test_recommendations_link_projects_of_comparable_territories_that_reached_the_level(
        service: AssessmentService) -> None:
    nantes_network = project(service, "Réseau LoRaWAN mutualisé", "commune:44109", ["digital-infrastructure"])
    dijon_platform = project(service, "Plateforme de données", "commune:21231", ["administration-data"])
    project(service, "Capteurs de Strasbourg", "commune:67482", ["digital-infrastructure"])
    project(service, "Éclairage de Montpellier", "commune:34172", ["public-lighting"])
    submit(service, NANTES, {"A5": 4}, publish=True)             # same kind and band, reached level 3
    submit(service, DIJON, {"A5": 3}, publish=True)              # same kind, reached level 3
    submit(service, STRASBOURG, {"A5": 5})                       # private: its projects are not linked
    submit(service, MONTPELLIER, {"A5": 2}, publish=True)        # did not reach level 3
    submit(service, RENNES, {"A5": 2, "A1": 5})
    found = service.recommendations(RENNES, "commune", "35238")
    assert found["territory"]["name"] == "Rennes" and found["peers"] == 2
    steps = {step["axis"]: step for step in found["recommendations"]}
    assert "A1" not in steps
    a5 = steps["A5"]
    assert (a5["level"], a5["currentLevel"], a5["levelName"]["fr"]) == (3, 2, "Structuration")
    assert [c["id"] for c in a5["criteria"]] == ["A5-L3a", "A5-L3b"]
    assert a5["projectsBasis"] == "reached-level"
    # Both comparable territories' projects, those of the axis' domain first.
    assert [p["id"] for p in a5["projects"]] == [nantes_network, dijon_platform]
    assert [i["num"] for i in a5["indicators"]] == [31, 32]  # connectivity indicators
    # Peers' median (3, Nantes 4 and Montpellier 2) above Rennes' level 2: A5 comes first.
    assert found["recommendations"][0]["axis"] == "A5" and a5["gap"] == 1
    # No comparable territory reached A4 level 2: projects of A4's domains, labelled as such.
    a4 = steps["A4"]
    assert a4["projectsBasis"] is None and a4["projects"] == []  # no administration-data project in the band
    project(service, "Portail de données de Nantes", "commune:44109", ["administration-data"])
    a4 = {s["axis"]: s for s in service.recommendations(RENNES, "commune", "35238")["recommendations"]}["A4"]
    assert a4["projectsBasis"] == "domain" and a4["projects"][0]["title"] == "Portail de données de Nantes"


def test_measurement_indicators_follow_the_territory_projects(service: AssessmentService) -> None:
    project(service, "Télérelève à Rennes", "commune:35238", ["water"])
    submit(service, RENNES, {})
    steps = {s["axis"]: s for s in service.recommendations(RENNES, "commune", "35238")["recommendations"]}
    assert {i["domain"] for i in steps["A7"]["indicators"]} == {"water"}
    assert {i["domain"] for i in steps["A8"]["indicators"]} == {"participation", "administration-data"}
    assert steps["A2"]["indicators"] == [] and steps["A2"]["projectsBasis"] is None

"""Intentions and partner proposals through the real broker (SQLite files, PostgreSQL when
configured), over the real seed records and records made here: who may declare, how partners
are ranked and explained, what the database bounds leave out, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from territoires.auth.errors import Forbidden, Unauthenticated
from territoires.auth.principal import ANONYMOUS, Grant, Principal, Role
from territoires.broker import open_broker
from territoires.config import Settings
from territoires.ngsild.errors import BadRequestData, ResourceNotFound
from territoires.observatoire import partners as partners_module
from territoires.observatoire.intentions import IntentionService, territory_choices
from territoires.observatoire.partners import PartnerService
from territoires.observatoire.projects import ProjectService
from territoires.observatoire.registry import TerritoryRegistry
from territoires.observatoire.seed import load_seed
from tests import postgres

MODERATOR = Principal("key", "k-mod", (Grant(Role.MODERATOR),), name="Équipe nationale")
DIJON = Principal("key", "k-dijon", (Grant(Role.CONTRIBUTOR, scope="commune:21231"),), name="Ville de Dijon")


@dataclass
class Observatory:
    projects: ProjectService
    intentions: IntentionService
    partners: PartnerService


@pytest.fixture(params=postgres.BACKENDS)
def observatory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Observatory]:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    broker = open_broker(Settings(data_dir=tmp_path / "var", database_url=url))
    registry = TerritoryRegistry.load()
    projects = ProjectService(broker, registry)
    load_seed(projects)
    yield Observatory(projects, IntentionService(broker, registry), PartnerService(broker, registry))
    broker.close()


def intend(observatory: Observatory, *territories: str, use_cases: tuple[str, ...] = ("leak-detection",)) -> None:
    for territory in territories:
        observatory.intentions.put(MODERATOR, territory, list(use_cases))


def published(observatory: Observatory, **fields: Any) -> dict[str, Any]:
    record = {"carrierKind": "commune", "domains": ["water"], "useCases": ["leak-detection"], "status": "deployed",
              "moderation": "published", **fields}
    return observatory.projects.create(MODERATOR, record)


# ---- intentions ----------------------------------------------------------------------------------
def test_a_contributor_declares_the_intentions_of_its_territory(observatory: Observatory) -> None:
    service = observatory.intentions
    assert service.get("commune:21231").as_json() == {
        "territory": "urn:ngsi-ld:Territory:commune:21231", "territoryName": "Dijon", "useCases": []}
    declared = service.put(DIJON, "commune:21231", ["leak-detection", "iot-network", "leak-detection"])
    assert declared.use_cases == ("leak-detection", "iot-network")
    assert service.get("urn:ngsi-ld:Territory:commune:21231").modified_at == declared.modified_at
    assert service.put(DIJON, "commune:21231", ["smart-watering"]).use_cases == ("smart-watering",)
    with pytest.raises(Forbidden):
        service.put(DIJON, "commune:35238", ["leak-detection"])
    with pytest.raises(Unauthenticated):
        service.put(ANONYMOUS, "commune:21231", ["leak-detection"])
    service.delete(DIJON, "commune:21231")
    assert service.get("commune:21231").use_cases == ()
    with pytest.raises(ResourceNotFound, match="commune 21231 \\(Dijon\\) has declared no intention"):
        service.delete(DIJON, "commune:21231")


def test_bad_intentions_are_refused_with_where_to_look(observatory: Observatory) -> None:
    service = observatory.intentions
    with pytest.raises(BadRequestData, match=r"useCases\[1\]: 'lighting' is not a known use case; .*vocabularies"):
        service.put(DIJON, "commune:21231", ["leak-detection", "lighting"])
    with pytest.raises(BadRequestData, match="give at least one use case; DELETE withdraws"):
        service.put(DIJON, "commune:21231", [])
    with pytest.raises(BadRequestData, match="a list of use case codes is expected"):
        service.put(DIJON, "commune:21231", "leak-detection")
    with pytest.raises(ResourceNotFound, match="no commune has code 21999"):
        service.get("commune:21999")
    with pytest.raises(BadRequestData, match="is not kind:code"):
        service.get("21231")


def test_territory_choices_read_codes_and_names() -> None:
    registry = TerritoryRegistry.load()
    assert [t.name for t in territory_choices("21231", registry)] == ["Dijon"]
    assert [t.name for t in territory_choices("epci:242100410", registry)] == ["Dijon Métropole"]
    assert [t.name for t in territory_choices("242100410", registry)] == ["Dijon Métropole"]
    assert territory_choices("dijon", registry)[0].name == "Dijon"
    assert territory_choices("21999", registry) == [] and territory_choices("  ", registry) == []


# ---- proposals -----------------------------------------------------------------------------------
def test_partners_with_the_same_intention_are_ranked_by_closeness(observatory: Observatory) -> None:
    # Chenôve: Dijon Métropole; Beaune: Côte-d'Or; Dole: Jura, 44 km; Chalon-sur-Saône: the région,
    # 60 km; Brest: far away, not proposed; Talant intends another use case.
    intend(observatory, "commune:29019", "commune:71076", "commune:39198", "commune:21054", "commune:21166")
    intend(observatory, "commune:21617", use_cases=("smart-watering",))
    intend(observatory, "commune:21231")  # the origin's own intention is not a proposal
    proposals = observatory.partners.propose("commune:21231", "leak-detection")
    shown = [(p.territory.name, p.closeness.rank, p.reasons) for p in proposals.same_intention]
    assert shown == [
        ("Chenôve", 0, ["a déclaré la même intention", "même EPCI : Dijon Métropole", "à 2 km"]),
        ("Beaune", 1, ["a déclaré la même intention", "même département : Côte-d'Or", "à 35 km"]),
        ("Dole", 2, ["a déclaré la même intention", "voisin, à 44 km"]),
        ("Chalon-sur-Saône", 3, ["a déclaré la même intention", "même région : Bourgogne-Franche-Comté", "à 60 km"]),
    ]
    assert len(observatory.partners.propose("commune:21231", "leak-detection", limit=2).same_intention) == 2
    as_json = proposals.as_json()
    assert as_json["useCaseLabel"] == "Détection de fuites"
    assert as_json["sameIntention"][0]["closeness"] == "epci" and as_json["sameIntention"][2]["distanceKm"] == 43.6
    assert as_json["bounds"] == {"nearKm": 50, "candidatesPerQuery": 200}


def test_a_neighbour_across_a_region_border_is_proposed(observatory: Observatory) -> None:
    # Avignon (Vaucluse, PACA); in Occitanie across the Rhône, Villeneuve-lès-Avignon belongs to
    # Avignon's EPCI, Nîmes only lies 38 km away.
    intend(observatory, "commune:30189", "commune:30351")
    proposals = observatory.partners.propose("commune:84007", "leak-detection")
    assert [(p.territory.name, p.reasons[1:]) for p in proposals.same_intention] == [
        ("Villeneuve-lès-Avignon", ["même EPCI : CA du Grand Avignon (COGA)", "à 3 km"]),
        ("Nîmes", ["voisin, à 38 km"])]


def test_projects_running_the_use_case_are_proposed_with_the_project(observatory: Observatory) -> None:
    published(observatory, title="Sectorisation du réseau d'eau", carrierName="Ville de Beaune",
              territories=["commune:21054"])
    published(observatory, title="Étude des fuites", carrierName="Ville de Chenôve", territories=["commune:21166"],
              status="study")  # not running yet
    observatory.projects.create(DIJON, {"title": "Brouillon de Dijon", "carrierName": "Ville de Dijon",
                                        "carrierKind": "commune", "territories": ["commune:21231"],
                                        "useCases": ["leak-detection"], "status": "pilot"})  # a draft
    published(observatory, title="Fuites à Brest", carrierName="Brest", territories=["commune:29019"])  # far
    running = observatory.partners.propose("commune:21231", "leak-detection").running
    assert [(p.title, p.territory.name, p.reasons) for p in running] == [
        ("Sectorisation du réseau d'eau", "Beaune",
         ["porte déjà ce cas d'usage : Sectorisation du réseau d'eau (déployé à l'échelle)",
          "même département : Côte-d'Or", "à 35 km"])]
    assert running[0].project == "urn:ngsi-ld:Project:sectorisation-du-reseau-d-eau"


def test_pooling_structures_serving_the_use_case(observatory: Observatory) -> None:
    # Seed: the SDEF (a syndicat, Finistère) and Vendée Numérique run an IoT network.
    quimper = observatory.partners.propose("commune:29232", "iot-network")
    names = [p.name for p in quimper.pooling]
    assert names[0].startswith("SDEF") and "Vendée Numérique" in names
    sdef = quimper.pooling[0]
    assert sdef.reasons == ["structure de mutualisation (Syndicat)",
                            "porte déjà ce cas d'usage : Infrastructure IoT LoRa mutualisée",
                            "même département : Finistère", "à 30 km"]
    assert sdef.authorities is None  # its record names the département only
    assert not quimper.running  # syndicats are proposed as pooling structures, not twice
    # A carrier that declares pooling and names the authorities it serves.
    published(observatory, title="Réseau LoRaWAN partagé", carrierName="Ville de Quimperlé",
              territories=["commune:29233", "commune:29151", "commune:29158"], useCases=["iot-network"],
              pooling="Réseau partagé avec deux communes voisines par convention.")
    shared = next(p for p in observatory.partners.propose("commune:29232", "iot-network").pooling
                  if p.name == "Ville de Quimperlé")
    assert shared.authorities == 3 and shared.pooling.startswith("Réseau partagé")
    assert shared.reasons[:3] == ["déclare une mutualisation", "porte déjà ce cas d'usage : Réseau LoRaWAN partagé",
                                  "sert 3 collectivités selon ses fiches"]
    # Far from Dijon, the same structures come after the rest, « ailleurs en France ».
    far = observatory.partners.propose("commune:21231", "iot-network").pooling
    assert {p.closeness.rank for p in far} == {4}


def test_each_tier_is_queried_on_its_own_so_a_bound_keeps_the_closest(
        observatory: Observatory, monkeypatch: pytest.MonkeyPatch) -> None:
    # Six intentions elsewhere in the région come first in creation order; with 3 entities per
    # query, the EPCI and département queries still find Chenôve.
    intend(observatory, "commune:71076", "commune:25056", "commune:70550", "commune:89024", "commune:58194",
           "commune:90010", "commune:21166")
    monkeypatch.setattr(partners_module, "CANDIDATES", 3)
    found = [p.territory.name for p in observatory.partners.propose("commune:21231", "leak-detection").same_intention]
    assert found[0] == "Chenôve" and len(found) <= 3 * 4


def test_bad_proposal_requests(observatory: Observatory) -> None:
    with pytest.raises(ResourceNotFound, match="no commune has code 21999 in the territory registry"):
        observatory.partners.propose("commune:21999", "leak-detection")
    with pytest.raises(BadRequestData, match=r"useCase: 'fuites' is not a known use case; .*GET /api/observatoire/v1/voc"):
        observatory.partners.propose("commune:21231", "fuites")
    with pytest.raises(BadRequestData, match="limit must be from 1 to 100"):
        observatory.partners.propose("commune:21231", "leak-detection", limit=0)


def test_an_empty_observatory_proposes_nothing(tmp_path: Path) -> None:
    broker = open_broker(Settings(data_dir=tmp_path / "empty"))
    try:
        proposals = PartnerService(broker).propose("commune:21231", "leak-detection")
        assert (proposals.same_intention, proposals.running, proposals.pooling) == ([], [], [])
    finally:
        broker.close()

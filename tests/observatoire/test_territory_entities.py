"""Territory and Organisation entities of the observatory, on each backend: written when a
record is created, idempotently, with the relationships a client follows; the full load in
batches with its progress; the command."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from territoires.auth.principal import Grant, Principal, Role
from territoires.broker import open_broker
from territoires.cli import main
from territoires.config import Settings
from territoires.ngsild.model import Entity
from territoires.observatoire.projects import TENANT, ProjectService
from territoires.observatoire.registry import TerritoryRegistry
from territoires.observatoire.seed import load_seed, seed_records
from territoires.observatoire.territories import TerritoryEntities
from territoires.store.port import EntityQuery
from tests import postgres

DIJON = Principal("key", "k-dijon", (Grant(Role.CONTRIBUTOR, scope="commune:21231"),), name="Ville de Dijon")
TERRITORY = "urn:ngsi-ld:Territory:"


@pytest.fixture(params=postgres.BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    return Settings(data_dir=tmp_path / "var", database_url=url)


@pytest.fixture
def service(settings: Settings) -> Iterator[ProjectService]:
    broker = open_broker(settings)
    yield ProjectService(broker, TerritoryRegistry.load())
    broker.close()


def entity(service: ProjectService, entity_id: str) -> dict[str, Any]:
    """The entity as short names -> instance (under the observatory's @context)."""
    stored = service.broker.entities.retrieve(TENANT, entity_id)
    return {"type": [service.context.compact(t) for t in stored["type"]],
            **{service.context.compact(attr): instances[0] for attr, instances in stored["attrs"].items()}}


def of_type(service: ProjectService, name: str) -> list[Entity]:
    query = EntityQuery(types=None, limit=1000)
    return [e for e in service.broker.entities.query(TENANT, query).entities
            if service.context.expand(name) in e["type"]]


def test_creating_a_record_writes_its_territories_and_carrier(service: ProjectService) -> None:
    service.create(DIJON, {"title": "Éclairage", "carrierName": "Ville de Dijon", "carrierKind": "commune",
                           "carrier": "212102313", "territories": ["commune:21231"]})
    dijon = entity(service, TERRITORY + "commune:21231")
    assert dijon["type"] == ["Territory"]
    assert (dijon["name"]["value"], dijon["territoryKind"]["value"], dijon["inseeCode"]["value"]) == (
        "Dijon", "commune", "21231")
    assert dijon["siren"]["value"] == "212102313"
    assert dijon["population"]["value"] > 150_000
    assert dijon["population"]["attrs"][service.context.expand("referenceYear")]["value"] >= 2020
    assert dijon["populationBand"]["value"] == "100000-199999"
    assert dijon["location"]["type"] == "GeoProperty"
    assert dijon["location"]["value"]["type"] == "Point"
    assert dijon["partOf"]["objectList"] == [TERRITORY + "epci:242100410", TERRITORY + "departement:21",
                                             TERRITORY + "region:27"]
    # What it belongs to exists too, so every relationship resolves.
    metropole = entity(service, TERRITORY + "epci:242100410")
    assert (metropole["name"]["value"], metropole["epciKind"]["value"]) == ("Dijon Métropole", "METRO")
    assert "inseeCode" not in metropole and metropole["siren"]["value"] == "242100410"
    assert entity(service, TERRITORY + "region:27")["name"]["value"] == "Bourgogne-Franche-Comté"
    assert "partOf" not in entity(service, TERRITORY + "region:27")
    carrier = entity(service, "urn:ngsi-ld:Organisation:212102313")
    assert carrier["type"] == ["Organisation"]
    assert (carrier["name"]["value"], carrier["siren"]["value"], carrier["organisationKind"]["value"]) == (
        "Ville de Dijon", "212102313", "commune")
    assert len(of_type(service, "Territory")) == 4


def test_writing_again_changes_nothing(service: ProjectService) -> None:
    registry = service.registry
    dijon = registry.commune("21231")
    service.ensure_tenant()
    assert service.territory_entities.ensure([dijon]) == 4
    before = service.broker.entities.retrieve(TENANT, TERRITORY + "commune:21231")
    assert service.territory_entities.ensure([dijon, registry.commune("21166")]) == 1  # only Chenôve is new
    assert service.broker.entities.retrieve(TENANT, TERRITORY + "commune:21231") == before
    service.create(DIJON, {"title": "Éclairage", "carrierName": "Ville de Dijon", "carrierKind": "commune",
                           "territories": ["commune:21231"]})
    assert service.broker.entities.retrieve(TENANT, TERRITORY + "commune:21231") == before


def test_the_seed_writes_the_entities_of_its_records(service: ProjectService) -> None:
    load_seed(service)
    served = {t for record in seed_records() for t in record["territories"]}
    for name in served:
        kind, _, code = name.removeprefix(TERRITORY).partition(":")
        assert entity(service, f"{TERRITORY}{kind}:{code}")["territoryKind"]["value"] == kind
    carriers = {record["carrier"] for record in seed_records() if "carrier" in record}
    assert carriers and len(of_type(service, "Organisation")) == len(carriers)
    # Seeding again writes nothing more.
    assert service.materialise_territories() == 0


def test_the_full_load_goes_in_batches_and_says_how_far(service: ProjectService) -> None:
    full = service.registry
    metropole = full.get("epci", "242100410")
    small = TerritoryRegistry([*full.children(metropole), metropole, full.get("departement", "21"),
                               full.get("region", "27")], full.provenance)
    loader = TerritoryEntities(service.broker, small, TENANT, service.context, batch=10)
    service.ensure_tenant()
    steps: list[tuple[int, int]] = []
    assert loader.load_all(lambda done, total: steps.append((done, total))) == 26
    assert steps == [(10, 26), (20, 26), (26, 26)]
    assert len(of_type(service, "Territory")) == 26
    assert loader.load_all() == 0


def test_the_command_writes_the_entities_of_the_records(settings: Settings, service: ProjectService,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    load_seed(service)
    # As a release that did not write them left the observatory:
    service.broker.entities.batch_delete(TENANT, [e["id"] for e in of_type(service, "Territory")])
    assert not of_type(service, "Territory")
    monkeypatch.setenv("TERRITOIRES_DATABASE_URL", settings.database_url or "")
    assert main(["observatoire", "--data-dir", str(settings.data_dir), "territories"]) == 0
    out = capsys.readouterr().out
    assert "entité(s) Territory ou Organisation écrite(s)" in out
    assert int(out.split("observatoire : ")[-1].split(" ")[0]) > 0
    assert of_type(service, "Territory")

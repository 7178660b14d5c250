"""The text indexer: project records written through the real broker, under the observatory's
@context, are found by a French search with their facets, in step with every write."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from territoires.broker import Broker, open_broker
from territoires.broker.changes import Change
from territoires.broker.text_index import PROJECTS, IndexedType, TextIndexer
from territoires.config import Settings
from territoires.ngsild.errors import AlreadyExists, BadRequestData
from territoires.store.port import TextSearch, TextSearchResult
from territoires.store.sqlite import SqliteStore
from tests import postgres

CONTEXT = "https://territoires.example/ns/v1/territoires-context.jsonld"
TENANT = "observatoire"
P1, P2, P3 = (f"urn:ngsi-ld:Project:{slug}" for slug in ("eclairage-dijon", "compteurs-dijon", "air-ecoles"))


@pytest.fixture(params=postgres.BACKENDS)
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    opened = open_broker(Settings(data_dir=tmp_path / "var", database_url=url))
    opened.tenants.create(TENANT)
    yield opened
    opened.close()


def prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def project(eid: str, title: str, summary: str, **attrs: Any) -> dict[str, Any]:
    body = {"id": eid, "type": "Project", "title": prop(title), "summary": prop(summary),
            "moderation": prop("published"), **{name: prop(value) for name, value in attrs.items()}}
    return body


def create(broker: Broker, body: dict[str, Any]) -> None:
    broker.entities.create(TENANT, body, broker.contexts.compile(TENANT, CONTEXT))


def search(broker: Broker, text: str | None = None, **fields: Any) -> TextSearchResult:
    return broker.text_search.search(TENANT, TextSearch(fields.pop("entity_type", PROJECTS.entity_type), text, **fields))


@pytest.fixture
def catalogue(broker: Broker) -> Broker:
    create(broker, project(P1, "Éclairage public intelligent", "Abaissement nocturne des lampadaires",
                           domains=["public-lighting"], status="deployed", carrierKind="commune",
                           description="Des capteurs de présence pilotent chaque point lumineux.", openSource=True))
    create(broker, project(P2, "Compteurs d'eau communicants", "Télérelève et détection des fuites",
                           domains=["water", "administration-data"], status="pilot", carrierKind="metropole",
                           carrier={"type": "Relationship", "object": "urn:ngsi-ld:Organisation:242100410"}))
    create(broker, project(P3, "Qualité de l'air dans les écoles", "Capteurs de CO2 dans les classes",
                           domains=["air-noise"], status="deployed", carrierKind="commune", openSource=False))
    return broker


def test_records_written_under_the_observatory_context_are_found_with_their_facets(catalogue: Broker) -> None:
    assert search(catalogue, "éclairage intelligent").ids == [P1]
    assert search(catalogue, "compteurs d'eau").ids == [P2]
    assert search(catalogue, "présence").ids == [P1]  # the description is text too
    found = search(catalogue, "capteurs", facets=("status", "domains", "openSource", "moderation"))
    assert set(found.ids) == {P1, P3}
    assert found.facets == {"status": {"deployed": 2}, "domains": {"public-lighting": 1, "air-noise": 1},
                            "openSource": {"true": 1, "false": 1}, "moderation": {"published": 2}}
    found = search(catalogue, filters={"domains": ("water",), "carrierKind": ("metropole",)})
    assert found.ids == [P2]


def test_updates_merges_and_deletions_keep_the_index_in_step(catalogue: Broker) -> None:
    ctx = catalogue.contexts.compile(TENANT, CONTEXT)
    catalogue.entities.update_attributes(TENANT, P1, {"title": prop("Vidéoprotection du centre")}, ctx)
    assert search(catalogue, "éclairage intelligent").ids == []
    assert search(catalogue, "vidéoprotection").ids == [P1]
    catalogue.entities.merge(TENANT, P3, {"status": prop("abandoned")}, ctx)
    assert search(catalogue, filters={"status": ("abandoned",)}).ids == [P3]
    catalogue.entities.delete(TENANT, P2)
    assert search(catalogue, "compteurs").ids == []
    assert search(catalogue, facets=("domains",)).facets["domains"].get("water") is None


def test_a_failed_write_leaves_the_index_as_it_was(catalogue: Broker) -> None:
    with pytest.raises(AlreadyExists):
        create(catalogue, project(P1, "Compteurs intelligents en double", "Même identifiant"))
    assert search(catalogue, "compteurs").ids == [P2]


def test_other_types_are_not_indexed(catalogue: Broker) -> None:
    create(catalogue, {"id": "urn:ngsi-ld:WorkingGroup:eclairage", "type": "WorkingGroup",
                       "title": prop("Groupe éclairage intelligent")})
    assert search(catalogue, "éclairage").ids == [P1]
    assert search(catalogue, "éclairage", entity_type="https://territoires.example/ns/v1#WorkingGroup").ids == []


def test_reindex_rebuilds_the_index_from_the_stored_entities(catalogue: Broker) -> None:
    with catalogue.store.session(TENANT, write=True) as session:
        session.unindex([P1, P2, P3])
    assert search(catalogue).total == 0
    assert catalogue.text_search.reindex(TENANT) == 3
    assert search(catalogue, "éclairage intelligent").ids == [P1] and search(catalogue).total == 3


def test_the_service_refuses_a_bad_search(catalogue: Broker) -> None:
    with pytest.raises(BadRequestData):
        search(catalogue, "de la")
    with pytest.raises(BadRequestData):
        search(catalogue, "eau", limit=5000)


def test_documents_take_list_values_language_maps_and_relationships() -> None:
    how = IndexedType("urn:T", text={"urn:a:title": "title", "urn:a:body": "notes", "urn:a:more": "notes"},
                      facets={"codes": "urn:a:codes", "to": "urn:a:to", "many": "urn:a:many"})
    entity = {"id": "urn:x", "type": ["urn:T"], "attrs": {
        "urn:a:title": [{"type": "LanguageProperty", "languageMap": {"fr": "Éclairage", "en": "Lighting"}}],
        "urn:a:body": [{"type": "Property", "value": ["un", "deux"]}, {"type": "Property", "value": 3,
                                                                        "datasetId": "urn:d"}],
        "urn:a:more": [{"type": "Property", "value": "trois"}],
        "urn:a:codes": [{"type": "Property", "value": ["a", "b", "a"]}],
        "urn:a:to": [{"type": "Relationship", "object": "urn:o:1"}],
        "urn:a:many": [{"type": "ListRelationship", "objectList": [{"object": "urn:o:2"}, "urn:o:3"]}],
    }}
    document = how.document(entity)
    assert document.text_fields == {"title": "Éclairage\nLighting", "notes": "un\ndeux\ntrois"}
    assert document.facets == {"codes": ("a", "b"), "to": ("urn:o:1",), "many": ("urn:o:2", "urn:o:3")}
    indexer = TextIndexer([how])
    assert indexer.how(entity) is how and indexer.how({"id": "urn:y", "type": ["urn:U"]}) is None



def test_the_last_change_of_an_entity_in_one_write_decides(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "data")
    indexer = TextIndexer([PROJECTS])
    made = {"id": P1, "type": [PROJECTS.entity_type], "createdAt": "t", "modifiedAt": "t",
            "attrs": {"http://purl.org/dc/terms/title": [{"type": "Property", "value": "Éclairage"}]}}
    try:
        with store.session("", write=True) as session:
            indexer.observe("", session, [Change(None, made, "t"), Change(made, None, "t")])
            indexer.observe("", session, [Change(None, {**made, "id": P2}, "t")])
        with store.session("") as session:
            assert session.text_search(TextSearch(PROJECTS.entity_type)).ids == [P2]
    finally:
        store.close()

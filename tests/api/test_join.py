"""Linked Entity Retrieval over HTTP (clause 4.5.23): join, joinLevel, containedBy on retrieve and query."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import assert_problem, create

ENTITIES = "/ngsi-ld/v1/entities"
BUILDING, CITY, COUNTRY = "urn:ngsi-ld:Building:018-10", "urn:ngsi-ld:City:Paris", "urn:ngsi-ld:Country:France"


def rel(target: str) -> dict[str, Any]:
    return {"type": "Relationship", "object": target}


def prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


@pytest.fixture
def chain(client):
    """A Building located in a City in a Country (the conformance suite's linked entities)."""
    create(client, {"id": BUILDING, "type": "Building", "name": prop("Eiffel Tower"), "locatedAt": rel(CITY)})
    create(client, {"id": CITY, "type": "City", "name": prop("Paris"), "description": prop("capital"),
                    "isInCountry": rel(COUNTRY)})
    create(client, {"id": COUNTRY, "type": "Country", "name": prop("France"), "description": prop("a country")})
    return client


@pytest.fixture
def buildings(client):
    """Two Buildings, each in its own City, each City in its own Country."""
    for n in (1, 2):
        create(client, {"id": f"urn:ngsi-ld:Building:{n}", "type": "Building", "name": prop(f"B{n}"),
                        "locatedAt": rel(f"urn:ngsi-ld:City:{n}")})
        create(client, {"id": f"urn:ngsi-ld:City:{n}", "type": "City", "name": prop(f"C{n}"),
                        "isInCountry": rel(f"urn:ngsi-ld:Country:{n}")})
        create(client, {"id": f"urn:ngsi-ld:Country:{n}", "type": "Country", "description": prop(f"K{n}")})
    return client


def retrieve(client, entity_id: str = BUILDING, **params: Any) -> Any:
    response = client.get(f"{ENTITIES}/{entity_id}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def query(client, **params: Any) -> Any:
    response = client.get(ENTITIES, params={"type": "Building", **params})
    assert response.status_code == 200, response.text
    return response.json()


# ---- retrieve (018) -------------------------------------------------------------------------


def test_018_10_retrieve_with_inline_linked_entity(chain):
    body = retrieve(chain, join="inline", joinLevel=1)
    assert body["locatedAt"]["object"] == CITY
    assert body["locatedAt"]["entity"] == {"id": CITY, "type": "City", "name": prop("Paris"),
                                           "description": prop("capital"), "isInCountry": rel(COUNTRY)}
    simple = retrieve(chain, join="inline", options="keyValues")
    assert simple["locatedAt"] == {"id": CITY, "type": "City", "name": "Paris", "description": "capital",
                                   "isInCountry": COUNTRY}


def test_018_10_retrieve_with_flat_linked_entity(chain):
    body = retrieve(chain, join="flat", joinLevel=1)
    assert [e["id"] for e in body] == [BUILDING, CITY]
    assert body[0]["locatedAt"] == rel(CITY) and body[1]["isInCountry"] == rel(COUNTRY)
    assert retrieve(chain, join="flat", options="keyValues")[0]["locatedAt"] == CITY


def test_018_11_retrieve_with_inline_linked_entity_and_sys_attrs(chain):
    body = retrieve(chain, join="inline", joinLevel=1, options="sysAttrs")
    assert "createdAt" in body and "createdAt" in body["locatedAt"]["entity"]


def test_018_12_retrieve_with_flat_linked_entity_and_sys_attrs(chain):
    body = retrieve(chain, join="flat", joinLevel=1, options="sysAttrs")
    assert all("createdAt" in e and "modifiedAt" in e for e in body)


def test_018_13_retrieve_with_two_levels_of_linked_entities(chain):
    inline = retrieve(chain, join="inline", joinLevel=2, options="keyValues")
    assert inline["locatedAt"]["isInCountry"]["name"] == "France"
    flat = retrieve(chain, join="flat", joinLevel=2)
    assert [e["id"] for e in flat] == [BUILDING, CITY, COUNTRY]


def test_018_14_retrieve_with_a_non_existent_linked_entity(client):
    plain = {"id": BUILDING, "type": "Building", "locatedAt": rel(CITY)}
    create(client, plain)
    assert retrieve(client, join="inline") == plain
    assert retrieve(client, join="flat") == plain  # nothing linked: the entity alone, not an array


def test_018_20_retrieve_with_two_levels_and_pick(chain):
    body = retrieve(chain, join="inline", joinLevel=2, pick="id,locatedAt{id,name,isInCountry{id,description}}")
    assert body == {"id": BUILDING, "locatedAt": {**rel(CITY), "entity": {
        "id": CITY, "name": prop("Paris"),
        "isInCountry": {**rel(COUNTRY), "entity": {"id": COUNTRY, "description": prop("a country")}}}}}
    flat = retrieve(chain, join="flat", joinLevel=2, pick="id,locatedAt{id,name}")
    assert flat == [{"id": BUILDING, "locatedAt": rel(CITY)}, {"id": CITY, "name": prop("Paris")}]


def test_018_21_retrieve_with_two_levels_and_omit(chain):
    flat = retrieve(chain, join="flat", joinLevel=2, omit="type,locatedAt{name,isInCountry{description}}")
    assert flat == [
        {"id": BUILDING, "name": prop("Eiffel Tower"), "locatedAt": rel(CITY)},
        {"id": CITY, "type": "City", "description": prop("capital"), "isInCountry": rel(COUNTRY)},
        {"id": COUNTRY, "type": "Country", "name": prop("France")},
    ]


def test_retrieve_with_contained_by(chain):
    body = retrieve(chain, join="inline", joinLevel=2, containedBy=COUNTRY)
    assert body["locatedAt"]["entity"]["isInCountry"] == rel(COUNTRY)
    assert retrieve(chain, join="flat", containedBy=f"{CITY},{COUNTRY}")["id"] == BUILDING


def test_retrieve_flat_as_json_ld_and_geojson(chain):
    response = chain.get(f"{ENTITIES}/{BUILDING}", params={"join": "flat"}, headers={"Accept": "application/ld+json"})
    assert all("@context" in e for e in response.json())
    response = chain.get(f"{ENTITIES}/{BUILDING}", params={"join": "flat"}, headers={"Accept": "application/geo+json"})
    collection = response.json()
    assert collection["type"] == "FeatureCollection"
    assert [f["id"] for f in collection["features"]] == [BUILDING, CITY]


def test_join_none_is_a_plain_retrieval(chain):
    assert retrieve(chain, join="@none", joinLevel=3) == retrieve(chain)


# ---- query (019) ----------------------------------------------------------------------------


def test_019_13_query_with_linked_entities(buildings):
    inline = query(buildings, join="inline", joinLevel=1)
    assert [b["locatedAt"]["entity"]["id"] for b in inline] == ["urn:ngsi-ld:City:1", "urn:ngsi-ld:City:2"]
    flat = query(buildings, join="flat", options="keyValues")
    assert [e["id"] for e in flat] == ["urn:ngsi-ld:Building:1", "urn:ngsi-ld:Building:2",
                                       "urn:ngsi-ld:City:1", "urn:ngsi-ld:City:2"]
    assert flat[0]["locatedAt"] == "urn:ngsi-ld:City:1"


def test_019_14_query_with_inline_linked_entities_and_sys_attrs(buildings):
    assert all("createdAt" in b["locatedAt"]["entity"] for b in query(buildings, join="inline", options="sysAttrs"))


def test_019_15_query_with_flat_linked_entities_and_sys_attrs(buildings):
    body = query(buildings, join="flat", options="sysAttrs")
    assert len(body) == 4 and all("createdAt" in e for e in body)


def test_019_16_query_with_two_levels_of_linked_entities(buildings):
    inline = query(buildings, join="inline", joinLevel=2, options="keyValues")
    assert [b["locatedAt"]["isInCountry"]["description"] for b in inline] == ["K1", "K2"]
    assert len(query(buildings, join="flat", joinLevel=2)) == 6


def test_019_20_query_with_linked_entities_and_pick(buildings):
    assert query(buildings, join="flat", pick="id,name") == [
        {"id": "urn:ngsi-ld:Building:1", "name": prop("B1")}, {"id": "urn:ngsi-ld:Building:2", "name": prop("B2")}]
    inline = query(buildings, join="inline", pick="id,locatedAt{id,name}")
    assert inline[0]["locatedAt"]["entity"] == {"id": "urn:ngsi-ld:City:1", "name": prop("C1")}


def test_019_21_query_with_linked_entities_and_omit(buildings):
    inline = query(buildings, join="inline", omit="name,locatedAt{name}")
    assert "name" not in inline[0]
    assert inline[0]["locatedAt"]["entity"] == {"id": "urn:ngsi-ld:City:1", "type": "City",
                                                "isInCountry": rel("urn:ngsi-ld:Country:1")}
    flat = query(buildings, join="flat", omit="name")
    assert flat[2] == {"id": "urn:ngsi-ld:City:1", "type": "City", "name": prop("C1"),
                       "isInCountry": rel("urn:ngsi-ld:Country:1")}


def test_019_22_query_with_two_levels_and_pick(buildings):
    flat = query(buildings, join="flat", joinLevel=2, pick="id,locatedAt{id,isInCountry{id}}")
    assert flat[2:] == [
        {"id": "urn:ngsi-ld:City:1", "isInCountry": rel("urn:ngsi-ld:Country:1")},
        {"id": "urn:ngsi-ld:City:2", "isInCountry": rel("urn:ngsi-ld:Country:2")},
        {"id": "urn:ngsi-ld:Country:1"}, {"id": "urn:ngsi-ld:Country:2"},
    ]


def test_019_23_query_with_two_levels_and_omit(buildings):
    inline = query(buildings, join="inline", joinLevel=2, omit="type,locatedAt{name,isInCountry{description}}")
    assert inline[1]["locatedAt"]["entity"]["isInCountry"]["entity"] == {"id": "urn:ngsi-ld:Country:2",
                                                                          "type": "Country"}


def test_019_24_query_via_post_with_linked_entities(buildings):
    body = {"type": "Query", "entities": [{"type": "Building"}], "join": "flat", "joinLevel": 2}
    response = buildings.post("/ngsi-ld/v1/entityOperations/query", json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()) == 6
    body = {"type": "Query", "entities": [{"type": "Building"}], "join": "inline",
            "pick": ["id", "locatedAt{name}"], "containedBy": ["urn:ngsi-ld:City:2"]}
    response = buildings.post("/ngsi-ld/v1/entityOperations/query", json=body, params={"options": "keyValues"})
    assert response.json() == [{"id": "urn:ngsi-ld:Building:1", "locatedAt": {"name": "C1"}},
                               {"id": "urn:ngsi-ld:Building:2", "locatedAt": "urn:ngsi-ld:City:2"}]


def test_query_counts_and_pages_the_requested_entities_only(buildings):
    response = buildings.get(ENTITIES, params={"type": "Building", "join": "flat", "count": "true", "limit": 1})
    assert response.headers["NGSILD-Results-Count"] == "2"
    assert [e["id"] for e in response.json()] == ["urn:ngsi-ld:Building:1", "urn:ngsi-ld:City:1"]


# ---- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("params", [
    {"join": "deep"}, {"join": "flat", "joinLevel": "0"}, {"join": "flat", "joinLevel": "two"},
    {"join": "inline", "containedBy": "not a uri"}, {"join": "inline", "pick": "id,locatedAt{name"},
    {"join": "inline", "omit": "locatedAt{}"}, {"join": "inline", "pick": "id}"},
])
def test_invalid_join_parameters_are_bad_request_data(chain, params):
    assert_problem(chain.get(f"{ENTITIES}/{BUILDING}", params=params), 400, "BadRequestData")
    assert_problem(chain.get(ENTITIES, params={"type": "Building", **params}), 400, "BadRequestData")


def test_invalid_join_in_a_query_body_is_bad_request_data(chain):
    body = {"type": "Query", "entities": [{"type": "Building"}], "join": "inline", "joinLevel": -1}
    assert_problem(chain.post("/ngsi-ld/v1/entityOperations/query", json=body), 400, "BadRequestData")


def test_join_level_above_the_limit_is_too_complex(chain):
    assert_problem(chain.get(f"{ENTITIES}/{BUILDING}", params={"join": "flat", "joinLevel": "1000"}),
                   403, "TooComplexQuery")


@pytest.mark.parametrize("params", [
    {"pick": "locatedAt{isInCountry{name}}", "join": "inline", "joinLevel": "1"},  # 019_33_01
    {"omit": "locatedAt{isInCountry{name}}", "join": "inline", "joinLevel": "1"},  # 019_33_02
    {"pick": "locatedAt{isInCountry{name}}"},  # 019_33_03
    {"pick": "a{" * 11 + "name" + "}" * 11, "join": "inline", "joinLevel": "10"},  # 019_33_04
    {"omit": "a{" * 11 + "name" + "}" * 11, "join": "inline", "joinLevel": "10"},  # 019_33_05
])
def test_019_33_projection_nested_deeper_than_join_level_is_rejected(chain, params):
    problem = assert_problem(chain.get(ENTITIES, params={"type": "Building", **params}), 400, "BadRequestData")
    assert "joinLevel" in problem["detail"] or "needs join" in problem["detail"]
    body = {"type": "Query", "entities": [{"type": "Building"}], **params}
    assert_problem(chain.post("/ngsi-ld/v1/entityOperations/query", json=body), 400, "BadRequestData")
    query(chain, **{**params, "join": params.get("join", "flat"), "joinLevel": "16"})  # deep enough: answered


def test_5711_01_03_linked_entity_projection_without_join_is_bad_request_data(chain):
    problem = assert_problem(chain.get(f"{ENTITIES}/{BUILDING}", params={"pick": "locatedAt{name}"}),
                             400, "BadRequestData")
    assert "needs join=inline or join=flat" in problem["detail"]
    assert retrieve(chain, pick="locatedAt{name}", join="inline")["locatedAt"]["entity"] == {"name": prop("Paris")}

"""Discovery of entity types and attributes (ETSI 022 – 027)."""

from __future__ import annotations

from .conftest import SDM_CONTEXT, assert_problem, create, streetlight

TYPES = "/ngsi-ld/v1/types"
ATTRIBUTES = "/ngsi-ld/v1/attributes"
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


def city(client) -> None:
    create(client, streetlight(1))
    create(client, streetlight(2))
    create(client, {"id": "urn:ngsi-ld:WasteContainer:1", "type": "WasteContainer",
                    "fillingLevel": {"type": "Property", "value": 0.4, "unitCode": "P1"},
                    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [-1.68, 48.11]}}})


def test_022_01_retrieve_available_entity_types(client):
    city(client)
    body = client.get(TYPES).json()
    assert body["type"] == "EntityTypeList" and body["id"].startswith("urn:ngsi-ld:EntityTypeList:")
    assert sorted(body["typeList"]) == ["Streetlight", "WasteContainer"]


def test_023_01_retrieve_details_of_available_entity_types(client):
    city(client)
    details = {d["typeName"]: d for d in client.get(TYPES, params={"details": "true"}).json()}
    assert details["Streetlight"]["id"] == VOCAB + "Streetlight"
    assert details["Streetlight"]["type"] == "EntityType"
    assert "powerState" in details["Streetlight"]["attributeNames"]
    assert sorted(details["WasteContainer"]["attributeNames"]) == ["fillingLevel", "location"]


def test_024_01_an_unknown_entity_type_is_not_found(client):
    city(client)
    assert_problem(client.get(f"{TYPES}/Nothing"), 404, "ResourceNotFound")


def test_024_02_retrieve_entity_type_information(client):
    city(client)
    info = client.get(f"{TYPES}/Streetlight").json()
    assert info["type"] == "EntityTypeInfo" and info["typeName"] == "Streetlight" and info["entityCount"] == 2
    by_name = {a["attributeName"]: a for a in info["attributeDetails"]}
    assert by_name["refStreetlightControlCabinet"]["attributeTypes"] == ["Relationship"]
    assert by_name["location"]["attributeTypes"] == ["GeoProperty"]


def test_025_01_retrieve_available_attributes(client):
    city(client)
    body = client.get(ATTRIBUTES).json()
    assert body["type"] == "AttributeList"
    assert {"powerState", "fillingLevel", "location"} <= set(body["attributeList"])


def test_026_01_retrieve_details_of_available_attributes(client):
    city(client)
    details = {a["attributeName"]: a for a in client.get(ATTRIBUTES, params={"details": "true"}).json()}
    assert details["location"] == {"id": "https://uri.etsi.org/ngsi-ld/location", "type": "Attribute",
                                   "attributeName": "location", "typeNames": ["Streetlight", "WasteContainer"]}


def test_024_02_02_and_027_02_02_type_and_attribute_information_by_expanded_name(client):
    city(client)
    assert client.get(f"{TYPES}/{VOCAB}Streetlight").json()["entityCount"] == 2
    info = client.get(f"{ATTRIBUTES}/https%3A%2F%2Furi.etsi.org%2Fngsi-ld%2Flocation").json()
    assert info["attributeCount"] == 3 and info["attributeTypes"] == ["GeoProperty"]


def test_027_01_an_unknown_attribute_is_not_found(client):
    assert_problem(client.get(f"{ATTRIBUTES}/nothing"), 404, "ResourceNotFound")


def test_027_02_retrieve_attribute_information_with_a_compacted_name(client):
    city(client)
    info = client.get(f"{ATTRIBUTES}/fillingLevel").json()
    assert info["id"] == VOCAB + "fillingLevel" and info["attributeCount"] == 1 and info["typeNames"] == ["WasteContainer"]


def test_discovery_compacts_names_with_the_requested_context(client):
    create(client, {**streetlight(3), "@context": [SDM_CONTEXT]}, **{"Content-Type": "application/ld+json"})
    expanded = client.get(TYPES).json()["typeList"]
    assert expanded == [SDM_CONTEXT["Streetlight"]]


def test_022_01_the_lists_answer_with_a_trailing_slash_too(client):
    city(client)
    assert sorted(client.get(f"{TYPES}/").json()["typeList"]) == ["Streetlight", "WasteContainer"]
    assert "location" in client.get(f"{ATTRIBUTES}/").json()["attributeList"]

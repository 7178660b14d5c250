"""Query entities (ETSI 019): filters, counting, pagination and representations."""

from __future__ import annotations

import re

from .conftest import assert_problem, create, streetlight

ENTITIES = "/ngsi-ld/v1/entities"


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()]


def city(client) -> None:
    for n in range(1, 7):
        create(client, streetlight(n, dimmingLevel={"type": "Property", "value": n * 20, "unitCode": "P1"},
                                   powerState={"type": "Property", "value": "on" if n % 2 else "off"}))
    create(client, {"id": "urn:ngsi-ld:WasteContainer:1", "type": "WasteContainer",
                    "fillingLevel": {"type": "Property", "value": 0.9, "unitCode": "P1"}})


def test_019_01_01_query_entities_by_ids(client):
    city(client)
    response = client.get(ENTITIES, params={"id": "urn:ngsi-ld:Streetlight:0002,urn:ngsi-ld:Streetlight:0005", "type": "Streetlight"})
    assert ids(response) == ["urn:ngsi-ld:Streetlight:0002", "urn:ngsi-ld:Streetlight:0005"]


def test_019_01_02_query_entities_by_type(client):
    city(client)
    assert len(ids(client.get(ENTITIES, params={"type": "Streetlight"}))) == 6
    assert ids(client.get(ENTITIES, params={"type": "WasteContainer,Nothing"})) == ["urn:ngsi-ld:WasteContainer:1"]


def test_019_01_03_query_entities_by_id_pattern(client):
    city(client)
    assert ids(client.get(ENTITIES, params={"type": "Streetlight,WasteContainer", "idPattern": "Waste"})) == [
        "urn:ngsi-ld:WasteContainer:1"]


def test_019_01_04_query_entities_by_attribute_names(client):
    city(client)
    assert ids(client.get(ENTITIES, params={"attrs": "fillingLevel"})) == ["urn:ngsi-ld:WasteContainer:1"]


def test_019_01_05_query_entities_with_a_geo_query(client):
    city(client)
    params = {"type": "Streetlight", "georel": "near;maxDistance==100", "geometry": "Point", "coordinates": "[-1.6768,48.1173]"}
    assert ids(client.get(ENTITIES, params=params)) == ["urn:ngsi-ld:Streetlight:0001", "urn:ngsi-ld:Streetlight:0002"]


def test_019_03_05_a_query_without_selection_is_refused(client):
    assert_problem(client.get(ENTITIES, params={"id": "urn:ngsi-ld:Streetlight:0001"}), 400, "BadRequestData")
    assert client.get(ENTITIES, params={"local": "true"}).status_code == 200


def test_019_07_count_gives_the_total_in_a_header(client):
    city(client)
    response = client.get(ENTITIES, params={"type": "Streetlight", "limit": "2", "count": "true"})
    assert len(response.json()) == 2 and response.headers["NGSILD-Results-Count"] == "6"


def test_019_09_query_with_q(client):
    city(client)
    response = client.get(ENTITIES, params={"type": "Streetlight", "q": 'dimmingLevel>=60;powerState=="on"'})
    assert ids(response) == ["urn:ngsi-ld:Streetlight:0003", "urn:ngsi-ld:Streetlight:0005"]
    selective = client.get(ENTITIES, params={"type": "Streetlight", "q": "dimmingLevel==40|dimmingLevel==100..120"})
    assert ids(selective) == ["urn:ngsi-ld:Streetlight:0002", "urn:ngsi-ld:Streetlight:0005", "urn:ngsi-ld:Streetlight:0006"]


def test_019_02_02_query_via_post(client):
    city(client)
    body = {"type": "Query", "entities": [{"type": "Streetlight"}], "q": 'powerState=="off"'}
    response = client.post("/ngsi-ld/v1/entityOperations/query", json=body)
    assert ids(response) == ["urn:ngsi-ld:Streetlight:0002", "urn:ngsi-ld:Streetlight:0004", "urn:ngsi-ld:Streetlight:0006"]


def test_019_05_query_as_geojson(client):
    city(client)
    response = client.get(ENTITIES, params={"type": "Streetlight", "limit": "2"}, headers={"Accept": "application/geo+json"})
    collection = response.json()
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 2
    assert collection["features"][0]["geometry"]["type"] == "Point"


def test_next_links_page_through_everything_once_even_while_entities_are_added(client):
    city(client)
    seen: list[str] = []
    response = client.get(ENTITIES, params={"type": "Streetlight", "limit": "4"})
    create(client, streetlight(7))
    while True:
        seen += ids(response)
        links = dict((rel, url) for url, rel in re.findall(r'<([^>]*)>;\s*rel="([^"]+)"', response.headers.get("link", "")))
        assert "http://www.w3.org/ns/json-ld#context" in links
        if "next" not in links:
            break
        response = client.get(links["next"])
    assert seen == [f"urn:ngsi-ld:Streetlight:{n:04d}" for n in range(1, 8)]


def test_deep_offsets_still_answer(client):
    city(client)
    assert ids(client.get(ENTITIES, params={"type": "Streetlight", "offset": "5"})) == ["urn:ngsi-ld:Streetlight:0006"]

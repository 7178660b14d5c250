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


def test_019_26_01_type_star_selects_every_type(client):
    city(client)
    assert len(ids(client.get(ENTITIES, params={"type": "*", "limit": "100"}))) == 7
    assert ids(client.get(ENTITIES, params={"type": "*", "q": "fillingLevel>0.5"})) == ["urn:ngsi-ld:WasteContainer:1"]
    assert_problem(client.get(ENTITIES, params={"type": "*,Streetlight"}), 400, "BadRequestData")
    assert_problem(client.get(ENTITIES, params={"type": "*", "local": "false"}), 400, "BadRequestData")  # 019_26_02


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


def test_5722_01_05_5741_01_05_a_malformed_context_source_filter_is_refused(client):
    city(client)
    # No context source is registered here: a well-formed csf changes nothing, a malformed one is a 400.
    assert len(ids(client.get(ENTITIES, params={"type": "Streetlight", "csf": 'endpoint=="http://x"'}))) == 6
    for path in (ENTITIES, "/ngsi-ld/v1/temporal/entities"):
        assert_problem(client.get(path, params={"type": "Streetlight", "csf": "))bad(("}), 400, "BadRequestData")
    body = {"type": "Query", "entities": [{"type": "Streetlight"}], "csf": "))bad(("}
    assert_problem(client.post("/ngsi-ld/v1/entityOperations/query", json=body), 400, "BadRequestData")


def test_019_02_02_query_via_post(client):
    city(client)
    body = {"type": "Query", "entities": [{"type": "Streetlight"}], "q": 'powerState=="off"'}
    response = client.post("/ngsi-ld/v1/entityOperations/query", json=body)
    assert ids(response) == ["urn:ngsi-ld:Streetlight:0002", "urn:ngsi-ld:Streetlight:0004", "urn:ngsi-ld:Streetlight:0006"]


def test_019_29_08_to_10_a_linked_entity_sub_query_follows_relationships(client):
    """Clause 4.9, EXAMPLES 13 and 14: ``rel{path}`` tests ``path`` on the entities the
    Relationship targets; ``rel{Type:path}`` only on those of that type."""
    for n, name in ((1, "Pisa Tower"), (2, "Eiffel Tower")):
        create(client, {"id": f"urn:ngsi-ld:Building:{n}", "type": "Building",
                        "name": {"type": "Property", "value": name},
                        "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:ann"}})
    create(client, {"id": "urn:ngsi-ld:Person:ann", "type": "Person", "name": {"type": "Property", "value": "Ann"}})
    for n, managed in ((1, "urn:ngsi-ld:Building:1"), (2, ["urn:ngsi-ld:Building:2", "urn:ngsi-ld:Building:9"]),
                       (3, "urn:ngsi-ld:Building:9")):  # 9 is not stored
        create(client, {"id": f"urn:ngsi-ld:Guide:{n}", "type": "Guide",
                        "managedBy": {"type": "Relationship", "object": managed}})

    def guides(q: str) -> list[str]:
        return ids(client.get(ENTITIES, params={"type": "Guide", "q": q, "join": "inline", "joinLevel": "2"}))

    assert guides('managedBy{name}=="Pisa Tower"') == ["urn:ngsi-ld:Guide:1"]
    assert guides('managedBy{Building:name}=="Pisa Tower"') == ["urn:ngsi-ld:Guide:1"]
    assert guides('managedBy{Vehicle:name}=="Pisa Tower"') == []
    assert guides('managedBy{name}~=".*Tower"') == ["urn:ngsi-ld:Guide:1", "urn:ngsi-ld:Guide:2"]  # an array of objects
    assert guides("!managedBy{name}") == ["urn:ngsi-ld:Guide:3"]  # its target is not stored
    assert guides('managedBy{owner{name}}=="Ann";managedBy{name}!="Pisa Tower"') == ["urn:ngsi-ld:Guide:2"]
    assert_problem(client.get(ENTITIES, params={"type": "Guide", "q": "managedBy{name"}), 400, "BadRequestData")
    # 5722_01_03 and 04: Linked Entity retrieval must be asked, at least as deep (clause 5.7.2.4)
    for params in ({"q": "managedBy{name}"}, {"q": "managedBy{owner{name}}", "join": "flat", "joinLevel": "1"}):
        assert_problem(client.get(ENTITIES, params={"type": "Guide", **params}), 400, "BadRequestData")
    body = {"type": "Query", "entities": [{"type": "Guide"}], "q": "managedBy{name}"}
    assert_problem(client.post(QUERY, json=body), 400, "BadRequestData")
    assert ids(client.post(QUERY, json={**body, "join": "inline"})) == ["urn:ngsi-ld:Guide:1", "urn:ngsi-ld:Guide:2"]
    temporal = client.get("/ngsi-ld/v1/temporal/entities", params={"type": "Guide", "q": "managedBy{name}"})
    assert_problem(temporal, 400, "BadRequestData")


def test_019_05_query_as_geojson(client):
    city(client)
    response = client.get(ENTITIES, params={"type": "Streetlight", "limit": "2"}, headers={"Accept": "application/geo+json"})
    collection = response.json()
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 2
    assert collection["features"][0]["geometry"]["type"] == "Point"


def test_636_01_a_geojson_body_carries_its_context_unless_the_request_prefers_body_json(client):
    city(client)
    geojson = {"Accept": "application/geo+json"}
    collection = client.get(ENTITIES, params={"type": "Streetlight"}, headers=geojson).json()
    assert "@context" in collection and all("@context" in feature for feature in collection["features"])
    one = client.get(f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001", headers=geojson).json()
    assert one["type"] == "Feature" and "@context" in one
    plain = {**geojson, "Prefer": "body=json"}
    for response in (client.get(ENTITIES, params={"type": "Streetlight"}, headers=plain),
                     client.get(f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001", headers=plain)):
        assert response.headers["content-type"].startswith("application/geo+json")
        assert 'rel="http://www.w3.org/ns/json-ld#context"' in response.headers["link"]
        assert "@context" not in response.text


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


# ---- clause 4.21 projections, 5.7.1.4 / 5.7.2.4 checks, the Query data type (5.2.23) -----------------

QUERY = "/ngsi-ld/v1/entityOperations/query"
LIGHT = f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001"


def test_5233_01_an_entity_selector_names_several_ids_and_its_id_wins_over_its_id_pattern(client):
    city(client)
    first, second, third = (f"urn:ngsi-ld:Streetlight:{n:04d}" for n in (1, 2, 3))
    by_ids = {"type": "Query", "entities": [{"type": "Streetlight", "id": [first, third]}]}
    assert ids(client.post(QUERY, json=by_ids)) == [first, third]
    precedence = {"type": "Query", "entities": [{"type": "Streetlight", "id": first, "idPattern": f"^{second}$"}]}
    assert ids(client.post(QUERY, json=precedence)) == [first]
    for bad_id in ([first, 5], [], "not a uri"):
        body = {"type": "Query", "entities": [{"type": "Streetlight", "id": bad_id}]}
        assert_problem(client.post(QUERY, json=body), 400, "BadRequestData")


def test_019_02_06_a_query_body_selects_what_any_of_its_entity_selectors_selects(client):
    city(client)
    first, second = "urn:ngsi-ld:Streetlight:0001", "urn:ngsi-ld:Streetlight:0002"
    mixed = {"type": "Query", "entities": [{"type": "Streetlight", "id": first}, {"type": "WasteContainer"}]}
    assert ids(client.post(QUERY, json=mixed)) == [first, "urn:ngsi-ld:WasteContainer:1"]
    patterns = {"type": "Query", "entities": [{"type": "Streetlight", "idPattern": "0001$"},
                                              {"type": "Streetlight", "idPattern": "0002$"}]}
    assert ids(client.post(QUERY, json=patterns)) == [first, second]
    crossed = {"type": "Query", "entities": [{"type": "WasteContainer", "id": first},
                                             {"type": "Streetlight", "id": second}]}
    assert ids(client.post(QUERY, json=crossed)) == [second]
    untyped = {"type": "Query", "entities": [{"type": "Streetlight"}, {"id": first}]}
    problem = assert_problem(client.post(QUERY, json=untyped), 400, "BadRequestData")
    assert "entities[1] needs a type" in problem["detail"]
    unknown = {"type": "Query", "entities": [{"type": "Streetlight", "ids": [first]}]}
    assert "ids" in assert_problem(client.post(QUERY, json=unknown), 400, "BadRequestData")["detail"]


def test_421_01_01_pipe_and_comma_pick_the_same_attributes(client):
    create(client, streetlight(1))
    comma = client.get(LIGHT, params={"pick": "id,powerState,status"})
    pipe = client.get(LIGHT, params={"pick": "id|powerState|status"})
    assert comma.status_code == pipe.status_code == 200, pipe.text
    assert pipe.json() == comma.json() and set(pipe.json()) == {"id", "powerState", "status"}
    listed = client.get(ENTITIES, params={"type": "Streetlight", "omit": "location|refStreetlightControlCabinet"})
    assert ids(listed) == ["urn:ngsi-ld:Streetlight:0001"] and "location" not in listed.json()[0]


def test_421_01_02_an_empty_projection_member_is_rejected(client):
    create(client, streetlight(1))
    for pick in ("powerState||status", "powerState|", "|status"):
        assert "a name is missing" in assert_problem(client.get(LIGHT, params={"pick": pick}), 400, "BadRequestData")["detail"]


def test_5711_01_02_geometry_property_without_geojson_accept_is_bad_request_data(client):
    create(client, streetlight(1))
    for accept in ("application/ld+json", "application/json", "*/*"):
        problem = assert_problem(client.get(LIGHT, params={"geometryProperty": "location"}, headers={"Accept": accept}),
                                 400, "BadRequestData")
        assert "application/geo+json" in problem["detail"]
    geojson = client.get(LIGHT, params={"geometryProperty": "location"}, headers={"Accept": "application/geo+json"})
    assert geojson.status_code == 200 and geojson.json()["geometry"]["type"] == "Point"


def test_019_27_01_query_with_geometry_property_and_non_geojson_accept_is_bad_request_data(client):
    create(client, streetlight(1))
    params = {"type": "Streetlight", "geometryProperty": "location"}
    json_accept = {"Accept": "application/json"}
    assert_problem(client.get(ENTITIES, params=params, headers=json_accept), 400, "BadRequestData")
    body = {"type": "Query", "entities": [{"type": "Streetlight"}]}
    assert_problem(client.post(QUERY, json=body, params={"geometryProperty": "location"}, headers=json_accept),
                   400, "BadRequestData")
    geojson = client.get(ENTITIES, params=params, headers={"Accept": "application/geo+json"})  # 019_27_02
    assert geojson.status_code == 200 and geojson.json()["type"] == "FeatureCollection"


def test_019_32_04_empty_arrays_of_a_query_body_are_bad_request_data(client):
    create(client, streetlight(1))
    for member in ("entities", "attrs", "pick", "omit"):  # Table 5.2.23-1: "Empty array (0 length) is not allowed"
        body = {"type": "Query", "entities": [{"type": "Streetlight"}], member: []}
        problem = assert_problem(client.post(QUERY, json=body), 400, "BadRequestData")
        assert f"{member} is an empty array" in problem["detail"]
    assert ids(client.post(QUERY, json={"type": "Query", "entities": [{"type": "Streetlight"}], "pick": ["id"]})) == [
        "urn:ngsi-ld:Streetlight:0001"]


def test_019_32_08_temporal_q_is_only_for_the_temporal_operation(client):
    create(client, streetlight(1))
    body = {"type": "Query", "entities": [{"type": "Streetlight"}],
            "temporalQ": {"timerel": "after", "timeAt": "2020-01-01T00:00:00Z"}}
    assert "temporalQ" in assert_problem(client.post(QUERY, json=body), 400, "BadRequestData")["detail"]
    assert client.post("/ngsi-ld/v1/temporal/entityOperations/query", json=body).status_code in (200, 206)


def test_5722_01_01_system_attrs_alone_are_too_wide(client):
    city(client)
    for attrs in ("createdAt", "createdAt,modifiedAt,deletedAt"):
        problem = assert_problem(client.get(ENTITIES, params={"attrs": attrs}), 400, "BadRequestData")
        assert "too wide a query" in problem["detail"]
        assert_problem(client.post(QUERY, json={"type": "Query", "attrs": attrs.split(",")}), 400, "BadRequestData")
    assert ids(client.get(ENTITIES, params={"attrs": "createdAt,fillingLevel"})) == ["urn:ngsi-ld:WasteContainer:1"]


def test_5722_01_02_system_q_alone_is_too_wide(client):
    city(client)
    q = 'modifiedAt>"2020-01-01T00:00:00Z"|createdAt<"2020-01-01T00:00:00Z"'
    assert "too wide a query" in assert_problem(client.get(ENTITIES, params={"q": q}), 400, "BadRequestData")["detail"]
    assert_problem(client.post(QUERY, json={"type": "Query", "q": q}), 400, "BadRequestData")
    assert ids(client.get(ENTITIES, params={"q": f"{q}|fillingLevel>0.5"})) == ["urn:ngsi-ld:WasteContainer:1"]
    assert client.get(ENTITIES, params={"q": q, "type": "Streetlight"}).status_code == 200
    assert client.get(ENTITIES, params={"q": q, "local": "true"}).status_code == 200


def test_5741_01_01_system_attrs_alone_are_too_wide_for_the_temporal_evolution_too(client):
    window = {"timerel": "after", "timeAt": "2020-01-01T00:00:00Z"}
    problem = assert_problem(client.get("/ngsi-ld/v1/temporal/entities", params={**window, "attrs": "createdAt"}),
                             400, "BadRequestData")
    assert "too wide a query" in problem["detail"]

"""Temporal API: the history of entities as users write it and read it (ETSI 007 – 009, 014 – 017,
020, 021; clauses 5.6.11 – 5.6.16, 5.7.3, 5.7.4, 6.3.10, 6.18 – 6.24)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from starlette.testclient import TestClient

from territoires.config import Settings
from territoires.ngsild.temporal import parse_instant

from .conftest import CORE, assert_problem, create, operator_client

ENTITIES = "/ngsi-ld/v1/entities"
TEMPORAL = "/ngsi-ld/v1/temporal/entities"
QUERY = "/ngsi-ld/v1/temporal/entityOperations/query"
VEHICLE = "urn:ngsi-ld:Vehicle:B9211"
OTHER = "urn:ngsi-ld:Vehicle:A4567"


def instances(*pairs: tuple[Any, str], **members: Any) -> list[dict[str, Any]]:
    return [{"type": "Property", "value": value, "observedAt": at, **members} for value, at in pairs]


SPEEDS = ((120, "2020-08-01T12:03:00Z"), (80, "2020-08-01T12:05:00Z"), (100, "2020-08-01T12:07:00Z"))
FUEL = ((67, "2020-08-01T12:03:00Z"), (53, "2020-08-01T13:05:00Z"), (40, "2020-08-01T14:07:00Z"))


def vehicle(entity_id: str = VEHICLE, **attrs: Any) -> dict[str, Any]:
    return {"id": entity_id, "type": "Vehicle", "speed": instances(*SPEEDS), "fuelLevel": instances(*FUEL), **attrs}


def provide(client: TestClient, body: dict[str, Any], status: int = 201, **headers: str) -> None:
    response = client.post(TEMPORAL, json=body, headers=headers)
    assert response.status_code == status, response.text


def history(client: TestClient, entity_id: str = VEHICLE, status: int = 200, **params: Any) -> Any:
    response = client.get(f"{TEMPORAL}/{entity_id}", params=params)
    assert response.status_code == status, response.text
    return response.json()


def second(text: str) -> str:
    """An instant spelled to the second, as the test data is (the store may spell it longer)."""
    return parse_instant(text, "instant").strftime("%Y-%m-%dT%H:%M:%SZ")


def values(body: dict[str, Any], attr: str) -> list[Any]:
    """The (value, observedAt) pairs of a normalized temporal attribute."""
    return [(item["value"], second(item["observedAt"])) for item in body[attr]]


def pairs(simplified: dict[str, Any], member: str = "values") -> list[list[Any]]:
    """The [content, time] pairs of a simplified temporal attribute."""
    return [[content, second(at)] for content, at in simplified[member]]


# ---- the user's path: write through /entities, read the evolution -----------------------------------
def test_020_01_the_evolution_of_an_entity_written_through_the_core_api(client):
    create(client, {"id": VEHICLE, "type": "Vehicle",
                    "speed": {"type": "Property", "value": 120, "observedAt": "2020-08-01T12:03:00Z"}})
    for value, at in SPEEDS[1:]:
        response = client.patch(f"{ENTITIES}/{VEHICLE}/attrs", json={"speed": {"type": "Property", "value": value, "observedAt": at}})
        assert response.status_code == 204, response.text
    response = client.post(f"{ENTITIES}/{VEHICLE}/attrs", json={"brandName": {"type": "Property", "value": "Mercedes"}})
    assert response.status_code == 204, response.text
    body = history(client)
    assert body["id"] == VEHICLE and body["type"] == "Vehicle"
    assert values(body, "speed") == list(SPEEDS)
    assert [item["value"] for item in body["brandName"]] == ["Mercedes"]
    ids = [item["instanceId"] for item in body["speed"] + body["brandName"]]
    assert len(set(ids)) == 4 and all(i.startswith("urn:") for i in ids)
    simplified = history(client, options="temporalValues", attrs="speed")
    assert set(simplified) == {"id", "type", "speed"} and simplified["speed"]["type"] == "Property"
    assert pairs(simplified["speed"]) == [list(pair) for pair in SPEEDS]


def test_a_merge_of_no_attribute_records_no_attribute(client):
    # A merge of no attribute used to record every attribute again, as if written at the
    # entity's last modification (the suite's 422_07_01).
    create(client, {"id": VEHICLE, "type": "Vehicle", "speed": {"type": "Property", "value": 120, "observedAt": SPEEDS[0][1]}})
    before = client.get(f"{ENTITIES}/{VEHICLE}", params={"options": "sysAttrs"}).json()
    assert client.patch(f"{ENTITIES}/{VEHICLE}", json={"id": VEHICLE, "type": "Vehicle"}).status_code == 204
    assert client.get(f"{ENTITIES}/{VEHICLE}", params={"options": "sysAttrs"}).json() == before  # nothing changed
    expiring = {"type": "Vehicle", "expiresAt": "2030-01-01T00:00:00Z"}
    assert client.patch(f"{ENTITIES}/{VEHICLE}", json=expiring).status_code == 204
    assert values(history(client), "speed") == [SPEEDS[0]]
    after = client.get(f"{ENTITIES}/{VEHICLE}", params={"options": "sysAttrs"}).json()
    assert after["expiresAt"] == "2030-01-01T00:00:00Z" and after["speed"] == before["speed"]


def test_deleting_an_entity_deletes_its_history(client):
    create(client, {"id": VEHICLE, "type": "Vehicle", "speed": {"type": "Property", "value": 1}})
    assert client.delete(f"{ENTITIES}/{VEHICLE}").status_code == 204
    assert_problem(client.get(f"{TEMPORAL}/{VEHICLE}"), 404, "ResourceNotFound")
    create(client, {"id": VEHICLE, "type": "Vehicle", "speed": {"type": "Property", "value": 2}})
    assert [item["value"] for item in history(client)["speed"]] == [2]


def test_020_17_deleting_an_attribute_is_recorded_with_deleted_at(client):
    create(client, {"id": VEHICLE, "type": "Vehicle", "speed": {"type": "Property", "value": 1},
                    "fuelLevel": {"type": "Property", "value": 50}})
    assert client.delete(f"{ENTITIES}/{VEHICLE}/attrs/fuelLevel").status_code == 204
    body = history(client, timeproperty="deletedAt")
    assert [(item["value"], "deletedAt" in item) for item in body["fuelLevel"]] == [("urn:ngsi-ld:null", True)]
    assert "speed" not in body


def test_020_19_020_20_the_evolution_of_the_scope(client):
    provide(client, vehicle(scope=["/Madrid/Gardens/ParqueNorte", "/CompanyA/OrganizationB/UnitC"]))
    response = client.patch(f"{ENTITIES}/{VEHICLE}", json={"scope": "/Rennes"})
    assert response.status_code == 204, response.text
    assert client.delete(f"{ENTITIES}/{VEHICLE}/attrs/scope").status_code == 204
    body = history(client)
    assert [item["value"] for item in body["scope"]] == [
        ["/Madrid/Gardens/ParqueNorte", "/CompanyA/OrganizationB/UnitC"], "/Rennes", "urn:ngsi-ld:null"]
    assert body["scope"][1]["observedAt"] <= body["scope"][2]["deletedAt"]
    deleted = history(client, timeproperty="deletedAt")
    assert set(deleted) == {"id", "type", "scope"}
    assert [(item["type"], item["value"], "deletedAt" in item) for item in deleted["scope"]] == [
        ("Property", "urn:ngsi-ld:null", True)]
    simplified = history(client, timeproperty="deletedAt", options="temporalValues")["scope"]
    assert simplified["type"] == "Property" and [v for v, _ in simplified["values"]] == ["urn:ngsi-ld:null"]
    assert "scope" not in history(client, pick="id,speed")
    assert set(history(client, pick="scope")) == {"scope"}


# ---- create, update, delete the temporal evolution (007, 008, 009) -----------------------------------
def test_007_01_create_a_temporal_representation_of_an_entity(client):
    response = client.post(TEMPORAL, json=vehicle())
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{TEMPORAL}/{VEHICLE}"
    body = history(client)
    assert values(body, "speed") == list(SPEEDS) and values(body, "fuelLevel") == list(FUEL)
    assert all("instanceId" in item for item in body["speed"])
    # The entity exists from then on, in the state of its latest instances.
    current = client.get(f"{ENTITIES}/{VEHICLE}").json()
    assert current["speed"]["value"] == 100 and current["fuelLevel"]["value"] == 40


def test_007_01_02_create_with_a_json_ld_body(client):
    body = {**vehicle(), "@context": [{"speed": "https://example.org/speed"}, CORE]}
    provide(client, body, **{"Content-Type": "application/ld+json"})
    expanded = history(client)
    assert "https://example.org/speed" in expanded and "speed" not in expanded


@pytest.mark.parametrize("body", [{}, {"type": "Vehicle"}, {"id": "invalidId", "type": "Vehicle"}, []])
def test_007_02_007_03_create_with_an_invalid_body(client, body):
    assert_problem(client.post(TEMPORAL, json=body), 400, "BadRequestData")


def test_007_02_01_create_with_invalid_json(client):
    response = client.post(TEMPORAL, content=b'{"id": ', headers={"Content-Type": "application/json"})
    assert_problem(response, 400, "InvalidRequest")


def test_008_01_update_a_temporal_representation_of_an_entity(client):
    provide(client, vehicle())
    more = {"id": VEHICLE, "type": ["Vehicle", "Truck"], "speed": instances((90, "2020-08-01T12:09:00Z"))}
    provide(client, more, status=204)
    assert values(history(client), "speed") == [*SPEEDS, (90, "2020-08-01T12:09:00Z")]
    assert sorted(client.get(f"{ENTITIES}/{VEHICLE}").json()["type"]) == ["Truck", "Vehicle"]


def test_5611_a_recorded_deletion_can_be_provided(client):
    provide(client, {"id": VEHICLE, "type": "Vehicle", "speed": instances((1, "2026-01-01T00:00:00Z"))})
    provide(client, {"id": VEHICLE, "type": "Vehicle", "speed": instances(("urn:ngsi-ld:null", "2026-01-02T00:00:00Z"))},
            status=204)
    assert [item["value"] for item in history(client)["speed"]] == [1, "urn:ngsi-ld:null"]


def test_009_01_delete_a_temporal_representation_of_an_entity(client):
    provide(client, vehicle())
    response = client.delete(f"{TEMPORAL}/{VEHICLE}")
    assert response.status_code == 204 and response.content == b""
    assert_problem(client.get(f"{TEMPORAL}/{VEHICLE}"), 404, "ResourceNotFound")
    assert_problem(client.get(f"{ENTITIES}/{VEHICLE}"), 404, "ResourceNotFound")


def test_009_02_009_03_delete_an_invalid_or_unknown_temporal_entity(client):
    assert client.delete(f"{TEMPORAL}/").status_code == 405  # 009_02_01: no id, no DELETE on the collection
    assert_problem(client.delete(f"{TEMPORAL}/invalidId"), 400, "BadRequestData")
    assert_problem(client.delete(f"{TEMPORAL}/{OTHER}"), 404, "ResourceNotFound")


# ---- attributes and instances (014 – 017) ---------------------------------------------------------------
def test_014_01_add_attributes_to_a_temporal_entity(client):
    provide(client, vehicle())
    response = client.post(f"{TEMPORAL}/{VEHICLE}/attrs", json={"added": instances((1, "2020-09-01T12:03:00Z"), (2, "2020-09-01T12:05:00Z"))})
    assert response.status_code == 204, response.text
    assert values(history(client), "added") == [(1, "2020-09-01T12:03:00Z"), (2, "2020-09-01T12:05:00Z")]


def test_014_02_014_03_014_04_add_attributes_refused(client):
    provide(client, vehicle())
    added = {"added": instances((1, "2020-09-01T12:03:00Z"))}
    assert_problem(client.post(f"{TEMPORAL}/invalidId/attrs", json=added), 400, "BadRequestData")
    assert_problem(client.post(f"{TEMPORAL}/{OTHER}/attrs", json=added), 404, "ResourceNotFound")
    assert_problem(client.post(f"{TEMPORAL}/{VEHICLE}/attrs", json={}), 400, "BadRequestData")
    assert_problem(client.post(f"{TEMPORAL}/{VEHICLE}/attrs", json={"added": "x", "id": VEHICLE}), 400, "BadRequestData")


def test_015_01_delete_an_attribute_from_a_temporal_entity(client):
    fuel = "urn:ngsi-ld:Vehicle:12345-fuel"
    provide(client, vehicle(fuelLevel=[*instances(*FUEL[:2]), *instances(FUEL[2], datasetId=fuel)]))
    assert client.delete(f"{TEMPORAL}/{VEHICLE}/attrs/fuelLevel").status_code == 204
    assert values(history(client), "fuelLevel") == [FUEL[2]]
    assert client.delete(f"{TEMPORAL}/{VEHICLE}/attrs/fuelLevel", params={"datasetId": fuel}).status_code == 204
    assert "fuelLevel" not in history(client)
    assert client.delete(f"{TEMPORAL}/{VEHICLE}/attrs/speed", params={"deleteAll": "true"}).status_code == 204
    assert "speed" not in history(client)


def test_015_02_015_03_delete_an_attribute_refused(client):
    provide(client, vehicle())
    assert_problem(client.delete(f"{TEMPORAL}/invalidId/attrs/speed"), 400, "BadRequestData")
    assert_problem(client.delete(f"{TEMPORAL}/{VEHICLE}/attrs/invalid(Name"), 400, "BadRequestData")
    assert_problem(client.delete(f"{TEMPORAL}/{OTHER}/attrs/speed"), 404, "ResourceNotFound")
    assert_problem(client.delete(f"{TEMPORAL}/{VEHICLE}/attrs/notExistingAttribute"), 404, "ResourceNotFound")


def test_016_01_modify_an_attribute_instance(client):
    provide(client, vehicle())
    first = history(client)["speed"][0]["instanceId"]
    response = client.patch(f"{TEMPORAL}/{VEHICLE}/attrs/speed/{first}",
                            json={"type": "Property", "value": 129, "observedAt": "2020-08-01T12:03:00Z"})
    assert response.status_code == 204, response.text
    speed = history(client)["speed"]
    assert speed[0]["instanceId"] == first and [item["value"] for item in speed] == [129, 80, 100]


def test_016_02_016_03_modify_an_attribute_instance_refused(client):
    provide(client, vehicle())
    first = history(client)["speed"][0]["instanceId"]
    new = {"type": "Property", "value": 1, "observedAt": "2020-08-01T12:03:00Z"}
    assert_problem(client.patch(f"{TEMPORAL}/invalidId/attrs/speed/{first}", json=new), 400, "BadRequestData")
    assert_problem(client.patch(f"{TEMPORAL}/{VEHICLE}/attrs/speed/invalidId", json=new), 400, "BadRequestData")
    assert_problem(client.patch(f"{TEMPORAL}/{VEHICLE}/attrs/invalid(Id/{first}", json=new), 400, "BadRequestData")
    assert_problem(client.patch(f"{TEMPORAL}/{OTHER}/attrs/speed/{first}", json=new), 404, "ResourceNotFound")
    assert_problem(client.patch(f"{TEMPORAL}/{VEHICLE}/attrs/speed2/{first}", json=new), 404, "ResourceNotFound")
    for unknown in ("urn:ngsi-ld:01234567890123456789", "urn:ngsi-ld:attribute:instance:²"):
        assert_problem(client.patch(f"{TEMPORAL}/{VEHICLE}/attrs/speed/{unknown}", json=new), 404, "ResourceNotFound")


def test_017_01_delete_an_attribute_instance(client):
    provide(client, vehicle())
    first = history(client)["speed"][0]["instanceId"]
    assert client.delete(f"{TEMPORAL}/{VEHICLE}/attrs/speed/{first}").status_code == 204
    assert values(history(client), "speed") == list(SPEEDS[1:])
    assert_problem(client.delete(f"{TEMPORAL}/{VEHICLE}/attrs/speed/{first}"), 404, "ResourceNotFound")
    assert_problem(client.delete(f"{TEMPORAL}/{VEHICLE}/attrs/speed/invalidId"), 400, "BadRequestData")


def test_014_02_01_015_02_01_016_02_017_02_a_missing_entity_id_or_attribute_name_is_bad_request(client):
    provide(client, vehicle())
    first = history(client)["speed"][0]["instanceId"]
    added = {"added": instances((1, "2020-09-01T12:03:00Z"))}
    assert_problem(client.post(f"{TEMPORAL}//attrs", json=added), 400, "BadRequestData")
    assert_problem(client.delete(f"{TEMPORAL}//attrs/speed"), 400, "BadRequestData")
    assert_problem(client.delete(f"{TEMPORAL}//attrs/speed/{first}"), 400, "BadRequestData")
    assert_problem(client.delete(f"{TEMPORAL}/{VEHICLE}/attrs//{first}"), 400, "BadRequestData")
    new = {"type": "Property", "value": 1, "observedAt": "2020-08-01T12:03:00Z"}
    assert_problem(client.patch(f"{TEMPORAL}//attrs/speed/{first}", json=new), 400, "BadRequestData")
    assert client.patch(f"{TEMPORAL}/{VEHICLE}/attrs//{first}", json=new).status_code == 405
    assert values(history(client), "speed") == list(SPEEDS)


# ---- retrieve the temporal evolution of an entity (020) ---------------------------------------------
def test_020_03_retrieve_some_attributes(client):
    provide(client, vehicle())
    body = history(client, attrs="fuelLevel")
    assert "speed" not in body and values(body, "fuelLevel") == list(FUEL)


@pytest.mark.parametrize(
    ("params", "speeds"),
    [
        ({"timerel": "after", "timeAt": "2020-08-01T12:05:00Z"}, SPEEDS[1:]),
        ({"timerel": "after", "timeAt": "2020-08-01T12:05:00.000Z"}, SPEEDS[1:]),
        ({"timerel": "before", "timeAt": "2020-08-01T12:05:00Z"}, SPEEDS[:1]),
        ({"timerel": "between", "timeAt": "2020-08-01T12:03:00Z", "endTimeAt": "2020-08-01T12:05:00Z"}, SPEEDS[:1]),
        ({"lastN": "2"}, SPEEDS[1:]),
        ({"lastN": "7"}, SPEEDS),
        ({"lastN": "1", "timerel": "before", "timeAt": "2020-08-01T12:07:00Z"}, SPEEDS[1:2]),
    ],
)
def test_020_04_020_05_021_26_time_ranges_and_last_instances(client, params, speeds):
    provide(client, vehicle())
    assert values(history(client, attrs="speed", **params), "speed") == list(speeds)


def test_020_06_020_07_020_08_retrieve_refused(client):
    provide(client, vehicle())
    assert_problem(client.get(f"{TEMPORAL}/invalidId"), 400, "BadRequestData")
    assert_problem(client.get(f"{TEMPORAL}/{OTHER}"), 404, "ResourceNotFound")
    assert_problem(client.get(f"{TEMPORAL}/{VEHICLE}", params={"attrs": "unknownAttribute"}), 404, "ResourceNotFound")


@pytest.mark.parametrize(
    "params",
    [{"timerel": "after"}, {"timerel": "before"}, {"timerel": "between", "timeAt": "2020-08-01T12:00:00Z"},
     {"timerel": "after", "timeAt": "2020-08-01"}, {"lastN": "0"}, {"timeproperty": "when"},
     {"options": "aggregatedValues"}, {"options": "aggregatedValues", "aggrMethods": "avg", "aggrPeriodDuration": "hourly"}],
)
def test_020_09_retrieve_with_invalid_temporal_parameters(client, params):
    provide(client, vehicle())
    assert_problem(client.get(f"{TEMPORAL}/{VEHICLE}", params=params), 400, "BadRequestData")


def test_020_10_simplified_temporal_representation(client):
    provide(client, vehicle(category=[{"type": "VocabProperty", "vocab": "sport", "observedAt": "2020-08-01T12:03:00Z"}],
                            parkedIn=[{"type": "Relationship", "object": "urn:ngsi-ld:Parking:1", "observedAt": "2020-08-01T12:03:00Z"}]))
    body = history(client, options="temporalValues")
    assert [(body[a]["type"], sorted(body[a])) for a in ("speed", "category", "parkedIn")] == [
        ("Property", ["type", "values"]), ("VocabProperty", ["type", "vocabs"]), ("Relationship", ["objects", "type"])]
    assert pairs(body["speed"]) == [list(pair) for pair in SPEEDS]
    assert pairs(body["category"], "vocabs") == [[{"vocab": "sport"}, "2020-08-01T12:03:00Z"]]
    assert pairs(body["parkedIn"], "objects") == [["urn:ngsi-ld:Parking:1", "2020-08-01T12:03:00Z"]]
    assert history(client, format="temporalValues", options="aggregatedValues") == body


def test_020_11_aggregated_temporal_representation(client):
    provide(client, vehicle())
    body = history(client, options="aggregatedValues", aggrMethods="avg,max", aggrPeriodDuration="PT1H")
    assert body["speed"] == {
        "type": "Property",
        "avg": [[100, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"]],
        "max": [[120, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"]],
    }
    assert [triple[0] for triple in body["fuelLevel"]["avg"]] == [67, 53, 40]
    whole = history(client, options="aggregatedValues", aggrMethods="min,max,totalCount", attrs="fuelLevel")
    assert [(m, [t[0] for t in whole["fuelLevel"][m]]) for m in ("min", "max", "totalCount")] == [
        ("min", [40]), ("max", [67]), ("totalCount", [3])]


def test_020_12_language_properties_and_the_lang_option(client):
    names = [{"type": "LanguageProperty", "languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}, "observedAt": at}
             for at in ("2020-08-01T12:03:00Z", "2020-08-01T12:05:00Z")]
    provide(client, vehicle(street=names))
    body = history(client, attrs="street", lang="nl")
    assert [(item["value"], item["lang"]) for item in body["street"]] == [("Grote Markt", "nl")] * 2
    simplified = history(client, attrs="street", options="temporalValues")
    assert pairs(simplified["street"], "languageMaps")[0] == [
        {"languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}}, "2020-08-01T12:03:00Z"]


def test_020_21_020_23_pick_and_omit(client):
    provide(client, vehicle())
    assert set(history(client, pick="id,speed")) == {"id", "speed"}
    assert set(history(client, omit="type,speed")) == {"id", "fuelLevel"}
    assert_problem(client.get(f"{TEMPORAL}/{VEHICLE}", params={"pick": "speed", "omit": "speed"}), 400, "BadRequestData")


def test_5731_01_01_5741_01_02_projecting_linked_entities_is_refused(client):
    provide(client, vehicle())
    for path, params in ((f"{TEMPORAL}/{VEHICLE}", {}), (TEMPORAL, {"type": "Vehicle"})):
        for member in ("pick", "omit"):
            response = client.get(path, params={**params, member: "speed,owner{name}"})
            assert "linked entity" in assert_problem(response, 400, "BadRequestData")["detail"], (path, member)


def test_020_json_ld_answers_carry_their_context(client):
    provide(client, vehicle())
    response = client.get(f"{TEMPORAL}/{VEHICLE}", headers={"Accept": "application/ld+json"})
    assert response.headers["content-type"] == "application/ld+json"
    assert response.json()["@context"] == CORE
    plain = client.get(f"{TEMPORAL}/{VEHICLE}")
    assert 'rel="http://www.w3.org/ns/json-ld#context"' in plain.headers["link"]


# ---- query the temporal evolution of entities (021) ---------------------------------------------------
def test_021_01_021_05_query_by_type(client):
    provide(client, vehicle())
    provide(client, {"id": OTHER, "type": "Vehicle", "speed": instances((30, "2020-09-01T12:00:00Z"))})
    provide(client, {"id": "urn:ngsi-ld:Bus:1", "type": "Bus", "speed": instances((50, "2020-08-01T12:00:00Z"))})
    response = client.get(TEMPORAL, params={"type": "Vehicle", "timerel": "after", "timeAt": "2020-08-01T12:04:00Z",
                                            "attrs": "speed", "count": "true"})
    assert response.status_code == 200, response.text
    assert response.headers["NGSILD-Results-Count"] == "2"
    found = {item["id"]: values(item, "speed") for item in response.json()}
    assert found == {VEHICLE: list(SPEEDS[1:]), OTHER: [(30, "2020-09-01T12:00:00Z")]}


def test_021_08_021_09_query_with_q_and_geo_query(client):
    provide(client, vehicle(location=[{"type": "GeoProperty", "value": {"type": "Point", "coordinates": [-1.68, 48.11]},
                                       "observedAt": "2020-08-01T12:03:00Z"}]))
    provide(client, {"id": OTHER, "type": "Vehicle", "speed": instances((30, "2020-09-01T12:00:00Z")),
                     "location": [{"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.35, 48.85]},
                                   "observedAt": "2020-09-01T12:00:00Z"}]})
    by_q = client.get(TEMPORAL, params={"type": "Vehicle", "q": "speed>50"}).json()
    assert [item["id"] for item in by_q] == [VEHICLE]
    near = client.get(TEMPORAL, params={"type": "Vehicle", "georel": "near;maxDistance==10000", "geometry": "Point",
                                        "coordinates": "[2.35,48.85]"}).json()
    assert [item["id"] for item in near] == [OTHER]


def test_021_11_entity_pagination(client):
    for n in range(3):
        provide(client, {"id": f"urn:ngsi-ld:Vehicle:{n}", "type": "Vehicle", "speed": instances((n, "2020-08-01T12:00:00Z"))})
    first = client.get(TEMPORAL, params={"type": "Vehicle", "limit": "2"})
    assert [item["id"] for item in first.json()] == ["urn:ngsi-ld:Vehicle:0", "urn:ngsi-ld:Vehicle:1"]
    assert 'rel="next"' in first.headers["link"]


def test_021_12_021_24_a_query_needs_a_selector(client):
    for params in ({"timerel": "after", "timeAt": "2020-07-01T12:05:00Z"},
                   {"id": f"{VEHICLE},{OTHER}", "timerel": "after", "timeAt": "2020-07-01T12:05:00Z"}):
        assert_problem(client.get(TEMPORAL, params=params), 400, "BadRequestData")


def test_021_13_query_with_a_query_body(client):
    provide(client, vehicle())
    body = {"type": "Query", "entities": [{"type": "Vehicle"}], "attrs": ["speed"],
            "temporalQ": {"timerel": "between", "timeAt": "2020-08-01T12:04:00Z", "endTimeAt": "2020-08-01T12:07:00Z"}}
    response = client.post(QUERY, json=body)
    assert response.status_code == 200, response.text
    assert [values(item, "speed") for item in response.json()] == [[SPEEDS[1]]]
    aggregated = client.post(QUERY, params={"options": "aggregatedValues"},
                             json={**body, "temporalQ": {"timerel": "after", "timeAt": "2020-08-01T12:04:00Z"},
                                   "aggrParams": {"aggrMethods": ["sum"]}})
    assert aggregated.json()[0]["speed"]["sum"][0][0] == 180


def test_021_13_entities_with_nothing_in_the_interval_are_left_out(client):
    provide(client, vehicle())
    provide(client, {"id": OTHER, "type": "Vehicle", "speed": instances((30, "2020-09-01T12:00:00Z"))})
    after = {"timerel": "after", "timeAt": "2020-08-02T12:05:00Z"}
    body = {"type": "Query", "entities": [{"type": "Vehicle"}], "temporalQ": after}
    assert [item["id"] for item in client.post(QUERY, json=body).json()] == [OTHER]
    before = client.get(TEMPORAL, params={"type": "Vehicle", "timerel": "before", "timeAt": "2020-08-02T12:05:00Z",
                                          "count": "true", "limit": "1"})
    assert [item["id"] for item in before.json()] == [VEHICLE]
    assert before.headers["NGSILD-Results-Count"] == "1"
    fuel_only = client.get(TEMPORAL, params={"type": "Vehicle", "attrs": "fuelLevel", **after})
    assert fuel_only.json() == []


def test_021_27_5244_query_body_members_are_checked(client):
    base = {"type": "Query", "entities": [{"type": "Vehicle"}]}
    for extra in ({"temporalQ": {"lastN": 0}}, {"temporalQ": {"timerel": "during", "timeAt": "2020-08-01T12:00:00Z"}},
                  {"temporalQ": {"timerel": "between", "timeAt": "2020-08-01T12:00:00Z"}},
                  {"aggrParams": {"aggrMethods": ["bogus"]}}):
        assert_problem(client.post(QUERY, json={**base, **extra}, params={"options": "aggregatedValues"}), 400, "BadRequestData")


def test_021_27_07_021_27_08_5244_01_01_aggr_methods_in_a_query_body_are_honoured(client):
    provide(client, vehicle())
    base = {"type": "Query", "entities": [{"type": "Vehicle"}], "attrs": ["speed"]}
    after = {"timerel": "after", "timeAt": "2020-08-01T12:00:00Z"}
    for extra in ({"temporalQ": {**after, "aggrMethods": ["avg"]}},
                  {"temporalQ": {**after, "aggrMethods": "avg,max"}},
                  {"temporalQ": after, "aggrParams": {"aggrMethods": ["avg"], "aggrPeriodDuration": "PT0S"}}):
        response = client.post(QUERY, json={**base, **extra})
        assert response.status_code == 200, response.text
        (speed,) = [item["speed"] for item in response.json()]
        assert speed["avg"][0][0] == 100 and "instanceId" not in response.text
    named = client.post(QUERY, params={"options": "temporalValues"},
                        json={**base, "temporalQ": {**after, "aggrMethods": ["avg"]}})
    assert pairs(named.json()[0]["speed"]) == [list(pair) for pair in SPEEDS]


def test_021_23_5741_01_06_a_temporal_query_is_ordered_by_id_only(client):
    for n in (2, 1, 3):
        provide(client, {"id": f"urn:ngsi-ld:Vehicle:{n}", "type": "Vehicle", "speed": instances((n, "2020-08-01T12:00:00Z"))})
    window = {"type": "Vehicle", "timerel": "after", "timeAt": "2020-08-01T00:00:00Z"}
    for order_by in ("speed", "createdAt", "speed.observedAt", "id,speed"):
        problem = assert_problem(client.get(TEMPORAL, params={**window, "orderBy": order_by}), 400, "BadRequestData")
        assert "only be ordered by id" in problem["detail"]
    body = {"type": "Query", "entities": [{"type": "Vehicle"}], "temporalQ": {"timerel": "after", "timeAt": "2020-08-01T00:00:00Z"}}
    assert_problem(client.post(QUERY, json={**body, "ordering": {"orderBy": ["speed"]}}), 400, "BadRequestData")
    descending = client.get(TEMPORAL, params={**window, "orderBy": "id;desc"})
    assert [item["id"] for item in descending.json()] == [f"urn:ngsi-ld:Vehicle:{n}" for n in (3, 2, 1)]


def test_5744_01_08_negated_existence_in_a_conjunction(client):
    at = "2026-03-01T12:00:00Z"
    fast = {"id": "urn:ngsi-ld:Vehicle:fast", "type": "Vehicle", "speed": instances((30, at)), "heading": instances((45, at))}
    multi = {"id": "urn:ngsi-ld:Vehicle:multi", "type": "Vehicle",
             "speed": [*instances((5, at)), *instances((60, at), datasetId="urn:ngsi-ld:Dataset:qp1")]}
    slow = {"id": "urn:ngsi-ld:Vehicle:slow", "type": "Vehicle", "speed": instances((10, at))}
    for body in (fast, multi, slow):
        provide(client, body)
    window = {"type": "Vehicle", "timerel": "between", "timeAt": "2026-03-01T00:00:00Z", "endTimeAt": "2026-03-02T00:00:00Z"}
    found = client.get(TEMPORAL, params={**window, "q": "!heading;speed>25"})
    assert [item["id"] for item in found.json()] == [multi["id"]]
    current = client.get(ENTITIES, params={"type": "Vehicle", "q": "!heading"})
    assert [item["id"] for item in current.json()] == [multi["id"], slow["id"]]
    members = client.get(ENTITIES, params={"type": "Vehicle", "q": "!speed.datasetId|heading"})
    assert [item["id"] for item in members.json()] == [fast["id"], slow["id"]]
    assert_problem(client.get(ENTITIES, params={"type": "Vehicle", "q": "!speed>25"}), 400, "BadRequestData")


def test_5744_03_the_scope_given_as_its_temporal_evolution(client):
    scope = [{"type": "Property", "value": "/R", "observedAt": "2026-03-01T10:00:00Z"},
             {"type": "Property", "value": ["/S", "/T"], "observedAt": "2026-03-01T12:30:00Z"}]
    provide(client, {"id": VEHICLE, "type": "Vehicle", "scope": scope, "speed": instances((1, "2026-03-01T12:15:00Z"))})
    assert [(item["value"], second(item["observedAt"])) for item in history(client)["scope"]] == [
        ("/R", "2026-03-01T10:00:00Z"), (["/S", "/T"], "2026-03-01T12:30:00Z")]  # as given, nothing more
    assert client.get(f"{ENTITIES}/{VEHICLE}").json()["scope"] == ["/S", "/T"]  # the latest is the current Scope
    window = {"type": "Vehicle", "timerel": "between", "timeAt": "2026-03-01T12:00:00Z", "endTimeAt": "2026-03-01T13:00:00Z"}
    assert [item["id"] for item in client.get(TEMPORAL, params={**window, "scopeQ": "/S"}).json()] == [VEHICLE]
    provide(client, {"id": VEHICLE, "type": "Vehicle", "scope": {"type": "Property", "value": "/U"}}, status=204)
    assert [item["value"] for item in history(client)["scope"]][-1] == "/U"  # added to the evolution only
    assert client.get(f"{ENTITIES}/{VEHICLE}").json()["scope"] == ["/S", "/T"]
    bad = {"id": OTHER, "type": "Vehicle", "scope": [{"type": "Property", "value": "/R", "unitCode": "C62"}]}
    assert "clause 4.5.6" in assert_problem(client.post(TEMPORAL, json=bad), 400, "BadRequestData")["detail"]


def test_021_18_filter_instances_by_dataset(client):
    fuel = "urn:ngsi-ld:Dataset:fuel"
    provide(client, vehicle(fuelLevel=[*instances(FUEL[0]), *instances(FUEL[2], datasetId=fuel)]))
    params = {"type": "Vehicle", "options": "temporalValues"}
    body = client.get(TEMPORAL, params={**params, "attrs": "fuelLevel", "datasetId": fuel}).json()
    assert [(item["id"], sorted(item)) for item in body] == [(VEHICLE, ["fuelLevel", "id", "type"])]
    assert body[0]["fuelLevel"]["datasetId"] == fuel and pairs(body[0]["fuelLevel"]) == [list(FUEL[2])]
    assert client.get(TEMPORAL, params={**params, "attrs": "speed", "datasetId": fuel}).json() == []


def test_021_20_faulty_format_or_options(client):
    for params in ({"format": "invalidFormat"}, {"options": "invalidOptions"}, {"options": "temporalValues,invalidOptions"}):
        assert_problem(client.get(TEMPORAL, params={"type": "Vehicle", **params}), 400, "InvalidRequest")


def test_temporal_entities_of_one_tenant_are_invisible_to_another(client):
    client.post("/admin/v1/tenants", json={"name": "rennes"})
    provide(client, vehicle(), **{"NGSILD-Tenant": "rennes"})
    assert_problem(client.get(f"{TEMPORAL}/{VEHICLE}"), 404, "ResourceNotFound")
    found = client.get(f"{TEMPORAL}/{VEHICLE}", headers={"NGSILD-Tenant": "rennes"})
    assert found.status_code == 200 and values(found.json(), "speed") == list(SPEEDS)


# ---- temporal pagination (020_13, 021_15; clause 6.3.10) -----------------------------------------------
@pytest.fixture
def small_pages(settings: Settings) -> Iterator[TestClient]:
    """A platform whose temporal pages hold at most 2 instances of a series."""
    small = Settings(**{**vars(settings), "temporal_page_size": 2})
    with operator_client(small) as test_client:
        yield test_client


def content_range(response: Any) -> tuple[datetime, datetime, str]:
    """The parts of a Content-Range header, its instants as instants."""
    match = re.fullmatch(r"date-time (\d{4}-\d\d-\d\dT[^Z]+Z)-(\d{4}-\d\d-\d\dT[^Z]+Z)/(\*|\d+)",
                         response.headers["content-range"])
    assert match, response.headers["content-range"]
    return parse_instant(match[1], "start"), parse_instant(match[2], "end"), match[3]


def at(text: str) -> datetime:
    return parse_instant(text, "test")


def test_020_13_temporal_pagination_forwards(small_pages):
    provide(small_pages, vehicle())
    response = small_pages.get(f"{TEMPORAL}/{VEHICLE}", params={"attrs": "speed"})
    assert response.status_code == 206
    assert values(response.json(), "speed") == list(SPEEDS[:2])
    assert content_range(response) == (at(SPEEDS[0][1]), at(SPEEDS[1][1]), "*")
    rest = small_pages.get(f"{TEMPORAL}/{VEHICLE}", params={"attrs": "speed", "timerel": "after", "timeAt": "2020-08-01T12:06:00Z"})
    assert rest.status_code == 200 and "content-range" not in rest.headers
    assert values(rest.json(), "speed") == [SPEEDS[2]]


def test_020_13_temporal_pagination_backwards_with_last_n(small_pages):
    provide(small_pages, vehicle(speed=instances(*SPEEDS, (90, "2020-08-01T12:09:00Z"))))
    response = small_pages.get(f"{TEMPORAL}/{VEHICLE}", params={"attrs": "speed", "lastN": "3", "timerel": "before",
                                                                "timeAt": "2021-01-01T00:00:00Z"})
    assert response.status_code == 206
    assert values(response.json(), "speed") == [SPEEDS[2], (90, "2020-08-01T12:09:00Z")]
    assert content_range(response) == (at("2021-01-01T00:00:00Z"), at(SPEEDS[2][1]), "3")


def test_020_14_an_attribute_the_page_cuts_away_is_there_empty(small_pages):
    # speed's instances all come before fuelLevel's: a page of 2 ends before fuelLevel begins.
    late_fuel = ((67, "2020-08-02T12:03:00Z"), (53, "2020-08-02T13:05:00Z"), (40, "2020-08-02T14:07:00Z"))
    provide(small_pages, vehicle(fuelLevel=instances(*late_fuel)))
    response = small_pages.get(f"{TEMPORAL}/{VEHICLE}", params={"timerel": "after", "timeAt": "2019-01-01T01:01:00Z"})
    assert response.status_code == 206
    assert values(response.json(), "speed") == list(SPEEDS[:2]) and response.json()["fuelLevel"] == []
    simplified = small_pages.get(f"{TEMPORAL}/{VEHICLE}", params={
        "timerel": "after", "timeAt": "2019-01-01T01:01:00Z", "options": "temporalValues"}).json()
    assert simplified["fuelLevel"] == {"type": "Property", "values": []}
    backwards = small_pages.get(f"{TEMPORAL}/{VEHICLE}", params={
        "lastN": "100", "timerel": "before", "timeAt": "2021-01-01T01:01:00Z"})
    assert values(backwards.json(), "fuelLevel") == list(late_fuel[1:]) and backwards.json()["speed"] == []


def test_020_13_a_page_is_cut_by_the_datasets_asked_for_only(small_pages):
    # The default instances of speed come first: were they read, they would fill the page.
    fuel = "urn:ngsi-ld:Dataset:fuel"
    late_fuel = ((67, "2020-08-02T12:03:00Z"), (53, "2020-08-02T13:05:00Z"), (40, "2020-08-02T14:07:00Z"))
    provide(small_pages, vehicle(fuelLevel=instances(*late_fuel, datasetId=fuel)))
    response = small_pages.get(f"{TEMPORAL}/{VEHICLE}", params={
        "datasetId": fuel, "timerel": "after", "timeAt": "2019-01-01T01:01:00Z"})
    assert response.status_code == 206
    assert sorted(response.json()) == ["fuelLevel", "id", "type"]
    assert values(response.json(), "fuelLevel") == list(late_fuel[:2])
    assert content_range(response)[1] == at(late_fuel[1][1])


def test_021_15_temporal_pagination_of_a_query(small_pages):
    provide(small_pages, vehicle())
    response = small_pages.get(TEMPORAL, params={"type": "Vehicle", "timerel": "after", "timeAt": "2019-01-01T01:01:00Z"})
    assert response.status_code == 206
    start, end, size = content_range(response)
    assert (start, size) == (at("2019-01-01T01:01:00Z"), "*")
    body = response.json()[0]
    shown = [at(item["observedAt"]) for attr in ("speed", "fuelLevel") for item in body[attr]]
    assert max(shown) == end  # every series is given up to the range's end, none beyond

"""Entities: create, retrieve, replace, merge, delete, attributes (ETSI 001, 002, 010 – 013, 018, 054 – 056)."""

from __future__ import annotations

import orjson
import pytest

from .conftest import CORE, SDM_CONTEXT, assert_problem, create, link, streetlight

ENTITIES = "/ngsi-ld/v1/entities"
BATCH = "/ngsi-ld/v1/entityOperations"
LIGHT = "urn:ngsi-ld:Streetlight:0001"
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


def get(client, entity_id=LIGHT, **params):
    response = client.get(f"{ENTITIES}/{entity_id}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


# ---- create (001) -----------------------------------------------------------------------------
def test_001_01_create_entity(client):
    response = client.post(ENTITIES, json=streetlight(1))
    assert response.status_code == 201 and response.content == b""
    assert response.headers["location"] == f"{ENTITIES}/{LIGHT}"
    body = get(client)
    assert body["powerState"] == {"type": "Property", "value": "on"}
    assert body["lampPower"]["observedAt"] == "2026-11-28T06:00:00Z" and body["lampPower"]["unitCode"] == "WTT"


def test_001_03_create_entity_with_an_existing_id(client):
    create(client, streetlight(1))
    assert_problem(client.post(ENTITIES, json=streetlight(1)), 409, "AlreadyExists")


def test_001_04_context_from_the_link_header(client):
    create(client, {"id": LIGHT, "type": "Streetlight", "powerState": {"type": "Property", "value": "on"}},
           **link("http://testserver" + _host(client, SDM_CONTEXT)))
    expanded = get(client)
    assert expanded["type"] == SDM_CONTEXT["Streetlight"] and SDM_CONTEXT["powerState"] in expanded


def test_001_07_context_from_a_json_ld_body(client):
    body = {**streetlight(1), "@context": [SDM_CONTEXT, CORE]}
    create(client, body, **{"Content-Type": "application/ld+json"})
    assert get(client)["type"] == SDM_CONTEXT["Streetlight"]


def test_001_10_create_entity_with_a_language_property(client):
    body = {**streetlight(1), "name": {"type": "LanguageProperty", "languageMap": {"fr": "Lampadaire", "en": "Streetlight"}}}
    create(client, body)
    assert get(client)["name"] == {"type": "LanguageProperty", "languageMap": {"fr": "Lampadaire", "en": "Streetlight"}}


def test_001_11_create_entity_with_scopes(client):
    create(client, {**streetlight(1), "scope": ["/Rennes/Centre", "/Eclairage"]})
    assert get(client)["scope"] == ["/Rennes/Centre", "/Eclairage"]


def test_001_12_create_entity_with_observation_space(client):
    space = {"type": "Polygon", "coordinates": [[[-1.68, 48.11], [-1.67, 48.11], [-1.67, 48.12], [-1.68, 48.11]]]}
    create(client, {**streetlight(1), "observationSpace": {"type": "GeoProperty", "value": space}})
    assert get(client)["observationSpace"]["value"] == space


def test_001_14_create_entity_with_a_json_property(client):
    config = {"dimming": {"22:00": 50, "06:00": 100}, "profile": ["eco", "nuit"]}
    create(client, {**streetlight(1), "config": {"type": "JsonProperty", "json": config}})
    assert get(client)["config"] == {"type": "JsonProperty", "json": config}


def test_001_15_create_entity_with_a_vocab_property(client):
    create(client, {**streetlight(1), "category": {"type": "VocabProperty", "vocab": "lampPost"}})
    assert get(client)["category"] == {"type": "VocabProperty", "vocab": "lampPost"}


def test_create_list_property_and_list_relationship(client):
    create(client, {**streetlight(1),
                    "readings": {"type": "ListProperty", "valueList": [12, 14, 13]},
                    "feeds": {"type": "ListRelationship", "objectList": [{"object": "urn:ngsi-ld:Cable:1"}, {"object": "urn:ngsi-ld:Cable:2"}]}})
    body = get(client)
    assert body["readings"]["valueList"] == [12, 14, 13]
    assert [o["object"] for o in body["feeds"]["objectList"]] == ["urn:ngsi-ld:Cable:1", "urn:ngsi-ld:Cable:2"]


def test_create_concise_entity(client):
    concise = {"id": LIGHT, "type": "Streetlight", "powerState": "on", "dimmingLevel": {"value": 40, "unitCode": "P1"},
               "refStreetlightControlCabinet": {"object": "urn:ngsi-ld:StreetlightControlCabinet:C12"},
               "location": {"type": "Point", "coordinates": [-1.68, 48.11]}}
    create(client, concise)
    body = get(client)
    assert body["powerState"] == {"type": "Property", "value": "on"}
    assert body["refStreetlightControlCabinet"]["type"] == "Relationship"
    assert body["location"]["type"] == "GeoProperty"
    assert get(client, options="concise") == concise


# ---- retrieve (018) ---------------------------------------------------------------------------
def test_018_01_02_retrieve_some_attributes(client):
    create(client, streetlight(1))
    assert set(get(client, attrs="powerState,status")) == {"id", "type", "powerState", "status"}


def test_018_02_invalid_id_is_bad_request_data(client):
    assert_problem(client.get(f"{ENTITIES}/not-a-uri"), 400, "BadRequestData")


def test_018_03_01_unknown_entity_is_not_found(client):
    assert_problem(client.get(f"{ENTITIES}/urn:ngsi-ld:Streetlight:9999"), 404, "ResourceNotFound")


def test_018_04_simplified_representation(client):
    create(client, streetlight(1))
    simple = get(client, options="keyValues")
    assert simple["powerState"] == "on" and simple["dimmingLevel"] == 60
    assert simple["refStreetlightControlCabinet"] == "urn:ngsi-ld:StreetlightControlCabinet:C12"
    assert simple["location"] == {"type": "Point", "coordinates": [-1.6768, 48.1173]}
    assert get(client, format="simplified") == simple


def test_018_05_geojson_representation(client):
    create(client, streetlight(1))
    response = client.get(f"{ENTITIES}/{LIGHT}", headers={"Accept": "application/geo+json"})
    assert response.headers["content-type"].startswith("application/geo+json")
    feature = response.json()
    assert feature["type"] == "Feature" and feature["id"] == LIGHT
    assert feature["geometry"] == {"type": "Point", "coordinates": [-1.6768, 48.1173]}
    assert feature["properties"]["powerState"]["value"] == "on"


def test_018_06_context_from_link_and_default_context(client):
    create(client, {**streetlight(1), "@context": [SDM_CONTEXT, CORE]}, **{"Content-Type": "application/ld+json"})
    assert get(client)["type"] == SDM_CONTEXT["Streetlight"]
    url = "http://testserver" + _host(client, SDM_CONTEXT)
    response = client.get(f"{ENTITIES}/{LIGHT}", headers={**link(url), "Accept": "application/ld+json"})
    assert response.json()["type"] == "Streetlight" and response.json()["@context"] == url


def test_018_07_language_filter(client):
    create(client, {**streetlight(1), "name": {"type": "LanguageProperty", "languageMap": {"fr": "Lampadaire", "en": "Streetlight"}}})
    assert get(client, lang="fr")["name"] == {"type": "Property", "value": "Lampadaire", "lang": "fr"}
    assert get(client, lang="de,en;q=0.5")["name"]["value"] == "Streetlight"
    assert get(client, lang="fr", options="keyValues")["name"] == "Lampadaire"


def test_018_15_format_and_options(client):
    create(client, streetlight(1))
    assert get(client, format="keyValues")["powerState"] == "on"
    with_sys = get(client, options="sysAttrs")
    assert with_sys["createdAt"].endswith("Z") and with_sys["powerState"]["modifiedAt"].endswith("Z")
    assert "createdAt" not in get(client)


def test_018_16_faulty_options_are_refused(client):
    create(client, streetlight(1))
    assert_problem(client.get(f"{ENTITIES}/{LIGHT}", params={"options": "bogus"}), 400, "InvalidRequest")
    assert_problem(client.get(f"{ENTITIES}/{LIGHT}", params={"format": "bogus"}), 400, "InvalidRequest")
    assert get(client, format="keyValues", options="normalized")["powerState"] == "on"
    assert_problem(client.get(f"{ENTITIES}/{LIGHT}", params={"options": "keyValues,concise"}), 400, "BadRequestData")


def test_018_17_pick_and_omit(client):
    create(client, streetlight(1))
    assert set(get(client, pick="id,powerState")) == {"id", "powerState"}
    omitted = get(client, omit="type,location")
    assert "type" not in omitted and "location" not in omitted and "powerState" in omitted


def test_018_18_pick_omit_and_attrs_exclude_each_other(client):
    create(client, streetlight(1))
    for params in ({"pick": "id", "omit": "type"}, {"pick": "status", "attrs": "status"}, {"omit": "status", "attrs": "status"}):
        assert_problem(client.get(f"{ENTITIES}/{LIGHT}", params=params), 400, "BadRequestData")


def test_018_03_02_and_018_19_nothing_left_to_return_is_not_found(client):
    create(client, streetlight(1))
    assert_problem(client.get(f"{ENTITIES}/{LIGHT}", params={"attrs": "nothing"}), 404, "ResourceNotFound")
    assert_problem(client.get(f"{ENTITIES}/{LIGHT}", params={"pick": "nothing"}), 404, "ResourceNotFound")


def test_retrieve_as_json_ld_carries_the_core_context(client):
    create(client, streetlight(1))
    body = client.get(f"{ENTITIES}/{LIGHT}", headers={"Accept": "application/ld+json"}).json()
    assert body["@context"] == CORE


# ---- delete (002) -----------------------------------------------------------------------------
def test_002_01_delete_entity(client):
    create(client, streetlight(1))
    assert client.delete(f"{ENTITIES}/{LIGHT}").status_code == 204
    assert_problem(client.get(f"{ENTITIES}/{LIGHT}"), 404, "ResourceNotFound")


def test_002_02_and_03_delete_invalid_or_unknown_entity(client):
    assert_problem(client.delete(f"{ENTITIES}/invalid"), 400, "BadRequestData")
    assert_problem(client.delete(f"{ENTITIES}/urn:ngsi-ld:Streetlight:9"), 404, "ResourceNotFound")


# ---- replace (054) and merge (056) ----------------------------------------------------------------
def test_054_01_replace_keeps_created_at(client):
    create(client, streetlight(1))
    created = get(client, options="sysAttrs")["createdAt"]
    replacement = {"id": LIGHT, "type": "Streetlight", "status": {"type": "Property", "value": "broken"}}
    assert client.put(f"{ENTITIES}/{LIGHT}", json=replacement).status_code == 204
    body = get(client, options="sysAttrs")
    assert body["createdAt"] == created and "powerState" not in body and body["status"]["value"] == "broken"


def test_054_02_replace_unknown_entity_is_not_found(client):
    response = client.put(f"{ENTITIES}/urn:ngsi-ld:Streetlight:9", json={"type": "Streetlight"})
    assert_problem(response, 404, "ResourceNotFound")


def test_056_01_merge_entity(client):
    create(client, streetlight(1))
    patch = {"powerState": {"type": "Property", "value": "off"}, "brand": {"type": "Property", "value": "Acme"}}
    assert client.patch(f"{ENTITIES}/{LIGHT}", json=patch).status_code == 204
    body = get(client)
    assert body["powerState"]["value"] == "off" and body["brand"]["value"] == "Acme" and body["status"]["value"] == "ok"


def test_056_03_merge_with_ngsi_ld_null_deletes_the_attribute(client):
    create(client, streetlight(1))
    patch = {"status": {"type": "Property", "value": "urn:ngsi-ld:null"}}
    assert client.patch(f"{ENTITIES}/{LIGHT}", json=patch).status_code == 204
    assert "status" not in get(client)


def test_056_04_merge_deletes_one_dataset_instance(client):
    create(client, {**streetlight(1), "lampPower": [
        {"type": "Property", "value": 70},
        {"type": "Property", "value": 35, "datasetId": "urn:ngsi-ld:Dataset:eco"}]})
    patch = {"lampPower": {"type": "Property", "value": "urn:ngsi-ld:null", "datasetId": "urn:ngsi-ld:Dataset:eco"}}
    assert client.patch(f"{ENTITIES}/{LIGHT}", json=patch).status_code == 204
    assert get(client)["lampPower"] == {"type": "Property", "value": 70}


# ---- attributes (010 – 013, 055) ------------------------------------------------------------------
def test_010_01_append_attributes(client):
    create(client, streetlight(1))
    response = client.post(f"{ENTITIES}/{LIGHT}/attrs", json={"illuminance": {"type": "Property", "value": 12, "unitCode": "LUX"}})
    assert response.status_code == 204
    assert get(client)["illuminance"]["unitCode"] == "LUX"


def test_010_03_append_to_unknown_entity_is_not_found(client):
    response = client.post(f"{ENTITIES}/urn:ngsi-ld:Streetlight:9/attrs", json={"a": {"type": "Property", "value": 1}})
    assert_problem(response, 404, "ResourceNotFound")


def test_010_04_append_with_no_overwrite_reports_what_was_kept(client):
    create(client, streetlight(1))
    body = {"powerState": {"type": "Property", "value": "off"}, "illuminance": {"type": "Property", "value": 3}}
    response = client.post(f"{ENTITIES}/{LIGHT}/attrs", params={"options": "noOverwrite"}, json=body)
    assert response.status_code == 207
    result = response.json()
    assert result["updated"] == [VOCAB + "illuminance"]
    assert [n["attributeName"] for n in result["notUpdated"]] == [VOCAB + "powerState"]
    assert get(client)["powerState"]["value"] == "on"


def test_011_01_update_attributes(client):
    create(client, streetlight(1))
    response = client.patch(f"{ENTITIES}/{LIGHT}/attrs", json={"powerState": {"type": "Property", "value": "off"}})
    assert response.status_code == 204
    assert get(client)["powerState"]["value"] == "off"


def test_011_01_03_update_appends_attributes_the_entity_lacks(client):
    create(client, streetlight(1))
    response = client.patch(f"{ENTITIES}/{LIGHT}/attrs", json={"illuminance": {"type": "Property", "value": 1},
                                                              "status": {"type": "Property", "value": "maintenance"}})
    assert response.status_code == 204
    body = get(client)
    assert body["illuminance"]["value"] == 1 and body["status"]["value"] == "maintenance"


def test_011_update_with_ngsi_ld_null_of_a_missing_attribute_is_reported(client):
    create(client, streetlight(1))
    response = client.patch(f"{ENTITIES}/{LIGHT}/attrs", json={"nothing": {"type": "Property", "value": "urn:ngsi-ld:null"}})
    assert response.status_code == 207
    assert [n["attributeName"] for n in response.json()["notUpdated"]] == [VOCAB + "nothing"]


def test_012_01_partial_attribute_update(client):
    create(client, streetlight(1))
    response = client.patch(f"{ENTITIES}/{LIGHT}/attrs/dimmingLevel", json={"value": 20})
    assert response.status_code == 204
    assert get(client)["dimmingLevel"] == {"type": "Property", "value": 20, "unitCode": "P1"}


@pytest.mark.parametrize(("accept", "served"), [
    ("application/ld+json, application/json", "application/json"),  # equal weights: the list of 6.3.4 decides
    ("application/geo+json, application/json", "application/json"),
    ("application/geo+json, application/ld+json", "application/ld+json"),
    ("application/json;q=0.1, application/ld+json;q=0.9", "application/ld+json"),
    ("application/json;q=0, */*", "application/ld+json"),  # the most specific range weighs JSON
    ("application/*;q=0.5, application/geo+json", "application/geo+json"),
    ("*/*", "application/json"),
    ("application/ld+json;q=notanumber", "application/ld+json"),  # 045_04_04: a malformed weight refuses nothing
])
def test_045_accept_selects_by_weight_then_by_the_specification_s_list(client, accept, served):
    create(client, streetlight(1))
    response = client.get(f"{ENTITIES}/{LIGHT}", headers={"Accept": accept})
    assert response.status_code == 200 and response.headers["content-type"].split(";")[0] == served


def test_045_04_accept_refusing_every_representation_is_not_acceptable(client):
    create(client, streetlight(1))
    for accept in ("application/json;q=0", "application/json;q=0, application/ld+json;q=0, application/geo+json;q=0, */*"):
        assert_problem(client.get(f"{ENTITIES}/{LIGHT}", headers={"Accept": accept}), 406, "InvalidRequest")


def test_044_01_01_every_patch_takes_a_json_merge_patch_body(client):
    create(client, streetlight(1))
    merge_patch = {"Content-Type": "application/merge-patch+json", **link(CORE)}
    patches = ((f"{ENTITIES}/{LIGHT}/attrs", {"powerState": {"type": "Property", "value": "off"}}),
               (f"{ENTITIES}/{LIGHT}/attrs/dimmingLevel", {"value": 20}),
               (f"{ENTITIES}/{LIGHT}", {"status": {"type": "Property", "value": "maintenance"}}))
    for path, body in patches:
        response = client.patch(path, content=orjson.dumps(body), headers=merge_patch)
        assert response.status_code == 204, (path, response.text)
    body = get(client)
    assert (body["powerState"]["value"], body["dimmingLevel"]["value"], body["status"]["value"]) == ("off", 20, "maintenance")
    refused = client.patch(f"{ENTITIES}/{LIGHT}/attrs", content=b"{}", headers={"Content-Type": "text/plain"})
    assert_problem(refused, 415, "InvalidRequest")


def test_012_03_partial_update_of_unknown_attribute_is_not_found(client):
    create(client, streetlight(1))
    assert_problem(client.patch(f"{ENTITIES}/{LIGHT}/attrs/nothing", json={"value": 1}), 404, "ResourceNotFound")


def test_013_01_delete_attribute(client):
    create(client, streetlight(1))
    assert client.delete(f"{ENTITIES}/{LIGHT}/attrs/status").status_code == 204
    assert "status" not in get(client)
    assert_problem(client.delete(f"{ENTITIES}/{LIGHT}/attrs/status"), 404, "ResourceNotFound")


def test_013_delete_attribute_by_dataset_id_and_delete_all(client):
    create(client, {**streetlight(1), "lampPower": [
        {"type": "Property", "value": 70},
        {"type": "Property", "value": 35, "datasetId": "urn:ngsi-ld:Dataset:eco"},
        {"type": "Property", "value": 20, "datasetId": "urn:ngsi-ld:Dataset:nuit"}]})
    url = f"{ENTITIES}/{LIGHT}/attrs/lampPower"
    assert client.delete(url, params={"datasetId": "urn:ngsi-ld:Dataset:eco"}).status_code == 204
    assert len(get(client)["lampPower"]) == 2
    assert client.delete(url, params={"deleteAll": "true"}).status_code == 204
    assert "lampPower" not in get(client)


def test_055_01_replace_attribute_keeps_created_at(client):
    create(client, streetlight(1))
    before = get(client, options="sysAttrs")["status"]["createdAt"]
    response = client.put(f"{ENTITIES}/{LIGHT}/attrs/status", json={"type": "Property", "value": "maintenance"})
    assert response.status_code == 204
    after = get(client, options="sysAttrs")["status"]
    assert after["value"] == "maintenance" and after["createdAt"] == before


def _host(client, context: dict) -> str:
    """Store an inline context as a hosted one and return its path."""
    response = client.post("/ngsi-ld/v1/jsonldContexts", json={"@context": context})
    assert response.status_code == 201
    return response.headers["location"]


# ---- purge (060) ----------------------------------------------------------------------------------
def test_060_01_and_02_purge_needs_a_selection_and_not_both_keep_and_drop(client):
    assert_problem(client.delete(ENTITIES), 400, "BadRequestData")
    assert_problem(client.delete(ENTITIES, params={"type": "Streetlight", "keep": "a", "drop": "b"}), 400, "BadRequestData")


def test_060_03_purge_entities_matching_a_query(client):
    for n in (1, 2, 3):
        create(client, streetlight(n, status={"type": "Property", "value": "broken" if n < 3 else "ok"}))
    assert client.delete(ENTITIES, params={"type": "Streetlight", "q": 'status=="broken"'}).status_code == 204
    left = client.get(ENTITIES, params={"type": "Streetlight"}).json()
    assert [e["id"] for e in left] == ["urn:ngsi-ld:Streetlight:0003"]


def test_5621_01_01_a_purge_does_not_select_through_linked_entities(client):
    create(client, streetlight(1))
    linked = {"type": "Streetlight", "q": 'refStreetlightControlCabinet{status}=="x"'}
    problem = assert_problem(client.delete(ENTITIES, params=linked), 400, "BadRequestData")
    assert "linked entities" in problem["detail"]
    assert get(client)["status"]["value"] == "ok"


def test_060_04_purge_keeps_or_drops_attributes(client):
    create(client, streetlight(1))
    create(client, streetlight(2))
    assert client.delete(ENTITIES, params={"type": "Streetlight", "drop": "status,lampPower"}).status_code == 204
    assert {"status", "lampPower"}.isdisjoint(get(client))
    keep = {"id": "urn:ngsi-ld:Streetlight:0002", "type": "Streetlight", "keep": "powerState"}
    assert client.delete(ENTITIES, params=keep).status_code == 204
    assert set(get(client, "urn:ngsi-ld:Streetlight:0002")) == {"id", "type", "powerState"}


def test_060_06_01_to_04_a_purge_by_ids_or_system_attributes_alone_is_too_wide(client):
    create(client, streetlight(1))
    for params in ({"id": LIGHT}, {"idPattern": ".*"}, {"attrs": "createdAt"},
                   {"q": 'modifiedAt>"2020-01-01T00:00:00Z"'}, {"scopeQ": "/#"}, {"id": LIGHT, "keep": "status"}):
        assert_problem(client.delete(ENTITIES, params=params), 400, "BadRequestData")
    assert get(client)["status"]["value"] == "ok"


def test_060_06_05_a_non_system_attribute_or_the_local_scope_is_selection_enough(client):
    for n in (1, 2, 3):
        create(client, streetlight(n))
    assert client.delete(ENTITIES, params={"id": LIGHT, "attrs": "createdAt,status"}).status_code == 204
    by_q = {"idPattern": ":0002$", "q": 'modifiedAt>"2020-01-01T00:00:00Z"|status=="ok"'}
    assert client.delete(ENTITIES, params=by_q).status_code == 204
    assert [e["id"] for e in client.get(ENTITIES, params={"type": "Streetlight"}).json()] == ["urn:ngsi-ld:Streetlight:0003"]
    assert client.delete(ENTITIES, params={"local": "true"}).status_code == 204
    assert client.get(ENTITIES, params={"type": "Streetlight"}).json() == []


def test_013_02_01_an_attribute_path_without_entity_id_is_bad_request_data(client):
    assert_problem(client.delete(f"{ENTITIES}//attrs/status"), 400, "BadRequestData")
    assert_problem(client.put(f"{ENTITIES}/", json={"type": "Streetlight"}), 400, "BadRequestData")


# ---- NGSI-LD Null outside update and merge fragments (554) -----------------------------------
def test_554_01_01_ngsi_ld_null_as_a_first_level_member_value_is_refused_on_create(client):
    for member, value in (("id", "urn:ngsi-ld:null"), ("type", "urn:ngsi-ld:null"), ("scope", "urn:ngsi-ld:null"),
                          ("status", "urn:ngsi-ld:null"), ("status", {"type": "Property", "value": "urn:ngsi-ld:null"})):
        problem = assert_problem(client.post(ENTITIES, json={**streetlight(1), member: value}), 400, "BadRequestData")
        assert problem["detail"].startswith(member) and "only allowed in update and merge fragments" in problem["detail"]
    assert client.get(f"{ENTITIES}/{LIGHT}").status_code == 404
    assert client.get(f"{ENTITIES}/urn:ngsi-ld:null").status_code == 404


def test_554_01_01_replace_append_and_batch_create_refuse_ngsi_ld_null_but_merge_deletes(client):
    create(client, streetlight(1))
    null_status = {"status": "urn:ngsi-ld:null"}
    assert_problem(client.put(f"{ENTITIES}/{LIGHT}", json={**streetlight(1), **null_status}), 400, "BadRequestData")
    assert_problem(client.post(f"{ENTITIES}/{LIGHT}/attrs", json=null_status), 400, "BadRequestData")
    for operation in ("create", "upsert"):
        response = client.post(f"{BATCH}/{operation}", json=[{**streetlight(2), "type": "urn:ngsi-ld:null"}])
        assert response.status_code == 207, response.text
        [error] = response.json()["errors"]
        assert error["error"]["type"].endswith("/BadRequestData") and "clause 5.5.4" in error["error"]["detail"]
    assert client.get(f"{ENTITIES}/urn:ngsi-ld:Streetlight:0002").status_code == 404
    assert get(client)["status"]["value"] == "ok"
    assert client.patch(f"{ENTITIES}/{LIGHT}", json=null_status).status_code == 204  # merge: Null deletes
    assert "status" not in get(client)


def test_554_01_01_a_fragment_cannot_delete_the_id_or_the_type(client):
    create(client, streetlight(1))
    for member in ("type", "id"):
        null_member = {member: "urn:ngsi-ld:null"}
        for response in (client.patch(f"{ENTITIES}/{LIGHT}", json=null_member),
                         client.patch(f"{ENTITIES}/{LIGHT}/attrs", json=null_member)):
            assert "cannot be deleted" in assert_problem(response, 400, "BadRequestData")["detail"]
    assert get(client)["type"] == "Streetlight"


# ---- batches: the input array (567, 5620) -----------------------------------------------------
def test_567_01_01_a_null_item_fails_the_whole_batch(client):
    problem = assert_problem(client.post(f"{BATCH}/create", json=[streetlight(1), None]), 400, "BadRequestData")
    assert "index 1" in problem["detail"]
    assert client.get(f"{ENTITIES}/{LIGHT}").status_code == 404
    assert_problem(client.post(f"{BATCH}/create", json=[]), 400, "BadRequestData")


@pytest.mark.parametrize("operation", ["upsert", "update", "merge", "delete"])
def test_5620_01_01_and_02_a_null_item_or_an_empty_array_fails_any_batch_operation(client, operation):
    create(client, streetlight(1))
    item = LIGHT if operation == "delete" else {"id": LIGHT, "status": {"type": "Property", "value": "broken"}}
    assert_problem(client.post(f"{BATCH}/{operation}", json=[item, None]), 400, "BadRequestData")
    assert_problem(client.post(f"{BATCH}/{operation}", json=[]), 400, "BadRequestData")
    assert get(client)["status"]["value"] == "ok"

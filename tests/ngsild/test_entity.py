"""Input: entities, fragments and attributes into the internal form (ETSI GS CIM 009 clauses 4.5, 4.6, 5.5.4)."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from territoires.ngsild.context import compile_context
from territoires.ngsild.entity import (
    GEO_ATTRIBUTES,
    MAX_SUB_ATTRIBUTE_DEPTH,
    is_null,
    parse_attribute,
    parse_attributes,
    parse_entity,
    parse_fragment,
    validate_datetime,
    validate_entity_id,
    validate_name,
    validate_scope,
)
from territoires.ngsild.errors import BadRequestData, NgsiLdError
from territoires.ngsild.model import NGSI_LD, NGSI_LD_NULL

NOW = "2026-11-28T10:00:00.000000Z"
SDM = "https://smartdatamodels.org/"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
CTX_TERMS = {
    "sdm": SDM,
    "Streetlight": SDM + "dataModel.Streetlighting/Streetlight",
    "powerState": SDM + "dataModel.Streetlighting/powerState",
    "refStreetlightControlCabinet": SDM + "dataModel.Streetlighting/refStreetlightControlCabinet",
    "WasteContainer": SDM + "dataModel.WasteManagement/WasteContainer",
    "fillingLevel": SDM + "dataModel.WasteManagement/fillingLevel",
}
# An inline user context on top of the core context (nothing to fetch).
CTX = compile_context(CTX_TERMS, None)
CORE = compile_context(None, None)


def parse(body, **kw):
    return parse_entity(body, CTX, now=NOW, **kw)


def attr(entity, name):
    return entity["attrs"][CTX.expand(name)]


STREETLIGHT = {
    "id": "urn:ngsi-ld:Streetlight:streetlight:guadalajara:4567",
    "type": "Streetlight",
    "status": {"type": "Property", "value": "ok"},
    "powerState": {"type": "Property", "value": "off"},
    "dimmingLevel": {"type": "Property", "value": 0.5, "unitCode": "P1", "observedAt": "2026-11-28T09:00:00Z"},
    "refStreetlightControlCabinet": {
        "type": "Relationship",
        "object": "urn:ngsi-ld:StreetlightControlCabinet:cabinet:guadalajara:3",
    },
    "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [-3.1644, 40.6278]}},
    "municipalityInfo": {
        "type": "Property",
        "value": {"district": "Bangalore Urban", "wardNum": 4},
        "deviceInfo": {"type": "Property", "value": {"deviceName": "SL1", "deviceModel": {"brandName": "abc"}}},
    },
}


# ---- the internal form -----------------------------------------------------------------------


def test_normalized_streetlight_internal_form():
    entity = parse(STREETLIGHT)
    assert entity["id"] == STREETLIGHT["id"]
    assert entity["type"] == [SDM + "dataModel.Streetlighting/Streetlight"]
    assert entity["createdAt"] == entity["modifiedAt"] == NOW
    assert attr(entity, "powerState") == [{"type": "Property", "value": "off", "createdAt": NOW, "modifiedAt": NOW}]
    dimming = attr(entity, "dimmingLevel")[0]
    assert (dimming["unitCode"], dimming["observedAt"]) == ("P1", "2026-11-28T09:00:00Z")
    assert attr(entity, "refStreetlightControlCabinet")[0]["object"].startswith("urn:ngsi-ld:StreetlightControl")
    assert attr(entity, "location")[0]["type"] == "GeoProperty"
    info = attr(entity, "municipalityInfo")[0]
    device = info["attrs"][DEFAULT + "deviceInfo"]
    assert device["value"] == {"deviceName": "SL1", "deviceModel": {"brandName": "abc"}}  # keys not expanded
    assert device["createdAt"] == NOW


def test_input_is_not_modified():
    body = copy.deepcopy(STREETLIGHT)
    parse(body)
    assert body == STREETLIGHT


def test_system_attributes_in_input_are_ignored():
    body = {**STREETLIGHT, "createdAt": "2000-01-01T00:00:00Z",
            "status": {"type": "Property", "value": "ok", "modifiedAt": "2000-01-01T00:00:00Z", "instanceId": "urn:x:y"}}
    entity = parse(body)
    assert entity["createdAt"] == NOW
    assert attr(entity, "status")[0] == {"type": "Property", "value": "ok", "createdAt": NOW, "modifiedAt": NOW}


def test_404_01_01_json_ld_keywords_accepted_for_id_and_type():
    entity = parse({"@id": "urn:ngsi-ld:Streetlight:1", "@type": "Streetlight"})
    assert entity["id"] == "urn:ngsi-ld:Streetlight:1"
    assert entity["type"] == [SDM + "dataModel.Streetlighting/Streetlight"]


def test_several_types_and_scopes():
    entity = parse({"id": "urn:x:1", "type": ["Streetlight", "Device", "Streetlight"], "scope": ["/Rennes/Nord", "Rennes"]})
    assert entity["type"] == [SDM + "dataModel.Streetlighting/Streetlight", DEFAULT + "Device"]
    assert entity["scope"] == ["/Rennes/Nord", "Rennes"]
    assert parse({"id": "urn:x:1", "type": "T", "scope": "/Madrid/Gardens/ParqueNorte"})["scope"] == [
        "/Madrid/Gardens/ParqueNorte"
    ]


def test_require_type_false_allows_typeless_entities():
    assert parse({"id": "urn:x:1"}, require_type=False)["type"] == []


# ---- concise representation (clauses 4.5.2.3, 4.5.3.3, 4.5.18-4.5.24) ---------------------------


def test_452_02_concise_creation_infers_types():
    entity = parse({
        "id": "urn:x:1", "type": "Vehicle",
        "speed": 55,
        "location": {"type": "Point", "coordinates": [8.0, 49.0]},
        "area": {"value": {"type": "Point", "coordinates": [1.0, 2.0]}},
        "brandName": {"value": "Volvo", "observedAt": "2026-01-01T00:00:00Z"},
        "isParked": {"object": "urn:ngsi-ld:OffStreetParking:1"},
        "street": {"languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}},
        "category": {"vocab": "commercial"},
        "tickets": {"json": {"speed": 3, "type": "raw"}},
        "depths": {"valueList": [1.2, 3.4]},
        "route": {"objectList": ["urn:ngsi-ld:Road:1", {"object": "urn:ngsi-ld:Road:2"}]},
        "address": {"streetAddress": "Plaza de España", "type": "PostalAddress"},
        "tags": ["a", "b"],
    })
    kinds = {name: attr(entity, name)[0]["type"] for name in (
        "speed", "location", "area", "brandName", "isParked", "street", "category", "tickets", "depths", "route",
        "address", "tags")}
    assert kinds == {
        "speed": "Property", "location": "GeoProperty", "area": "GeoProperty", "brandName": "Property",
        "isParked": "Relationship", "street": "LanguageProperty", "category": "VocabProperty",
        "tickets": "JsonProperty", "depths": "ListProperty", "route": "ListRelationship",
        "address": "Property", "tags": "Property",
    }
    assert attr(entity, "brandName")[0]["observedAt"] == "2026-01-01T00:00:00Z"
    assert attr(entity, "category")[0]["vocab"] == DEFAULT + "commercial"
    assert attr(entity, "tickets")[0]["json"] == {"speed": 3, "type": "raw"}


def test_4522_01_01_object_list_keeps_uris():
    entity = parse({"id": "urn:x:1", "type": "V", "route": {
        "type": "ListRelationship", "objectList": ["urn:ngsi-ld:Road:1", {"object": "urn:ngsi-ld:Road:2"}]}})
    assert attr(entity, "route")[0]["objectList"] == ["urn:ngsi-ld:Road:1", "urn:ngsi-ld:Road:2"]


def test_relationship_object_may_be_an_array_of_uris():
    entity = parse({"id": "urn:x:1", "type": "V", "passengers": {
        "type": "Relationship", "objectType": "Person", "object": ["urn:ngsi-ld:Person:Alice", "urn:ngsi-ld:Person:Bob"]}})
    passengers = attr(entity, "passengers")[0]
    assert passengers["object"] == ["urn:ngsi-ld:Person:Alice", "urn:ngsi-ld:Person:Bob"]
    assert passengers["objectType"] == DEFAULT + "Person"


def test_array_of_attribute_objects_is_several_instances():
    entity = parse({"id": "urn:x:1", "type": "AirQualityObserved", "NO2": [
        {"value": 69, "unitCode": "GQ", "datasetId": "urn:ngsi-ld:Dataset:sensor-A"},
        {"type": "Property", "value": 71, "unitCode": "GQ", "datasetId": "urn:ngsi-ld:Dataset:sensor-B"},
        {"value": 70, "unitCode": "GQ"},
    ]})
    assert [(i["value"], i.get("datasetId")) for i in attr(entity, "NO2")] == [
        (69, "urn:ngsi-ld:Dataset:sensor-A"), (71, "urn:ngsi-ld:Dataset:sensor-B"), (70, None)]


def test_455_01_01_explicit_none_dataset_is_the_default_instance():
    entity = parse({"id": "urn:x:1", "type": "T", "name": {"value": "x", "datasetId": "@none"}})
    assert "datasetId" not in attr(entity, "name")[0]


def test_core_geo_attributes_are_geoproperties():
    for name in ("location", "observationSpace", "operationSpace"):
        entity = parse({"id": "urn:x:1", "type": "T", name: {"type": "Property", "value": {"type": "Point", "coordinates": [1, 2]}}})
        assert attr(entity, name)[0]["type"] == "GeoProperty"
        assert CTX.expand(name) in GEO_ATTRIBUTES


def test_471_01_01_string_encoded_geometry_becomes_an_object():
    entity = parse({"id": "urn:x:1", "type": "V",
                    "location": {"type": "GeoProperty", "value": '{"type": "Point", "coordinates": [17.1, 48.7]}'}})
    assert attr(entity, "location")[0]["value"] == {"type": "Point", "coordinates": [17.1, 48.7]}


def test_property_with_explicit_type_keeps_a_geometry_value():
    entity = parse({"id": "urn:x:1", "type": "T", "shape": {"type": "Property", "value": {"type": "Point", "coordinates": [1, 2]}}})
    assert attr(entity, "shape")[0]["type"] == "Property"


def test_datetime_comma_fraction_is_normalised():
    entity = parse({"id": "urn:x:1", "type": "T", "t": {"value": 1, "observedAt": "2026-11-28T09:00:00,123Z"}})
    assert attr(entity, "t")[0]["observedAt"] == "2026-11-28T09:00:00.123Z"


def test_two_names_for_one_iri_merge_into_one_attribute():
    entity = parse({"id": "urn:x:1", "type": "T",
                    "powerState": {"value": "on"},
                    SDM + "dataModel.Streetlighting/powerState": {"value": "off", "datasetId": "urn:ngsi-ld:Dataset:b"}})
    assert [i["value"] for i in attr(entity, "powerState")] == ["on", "off"]


def test_462_01_03_unicode_letter_names_are_accepted():
    entity = parse({"id": "urn:x:1", "type": "Bâtiment", "hauteurÉtage": 3, "dc:title": "x", "https://ex.org/p": 1})
    assert entity["type"] == [DEFAULT + "Bâtiment"]
    assert DEFAULT + "hauteurÉtage" in entity["attrs"]
    assert "https://ex.org/p" in entity["attrs"]


def test_451_02_07_iri_with_non_ascii_characters_is_an_id():
    assert validate_entity_id("urn:ngsi-ld:Ville:Orléans") == "urn:ngsi-ld:Ville:Orléans"
    entity = parse({"id": "urn:x:1", "type": "T", "locatedAt": {"object": "urn:ngsi-ld:Ciudad:París"}})
    assert attr(entity, "locatedAt")[0]["object"] == "urn:ngsi-ld:Ciudad:París"


def test_ngsildproof_keeps_its_sealed_members():
    entity = parse({"id": "urn:x:1", "type": "T", "ngsildproof": {
        "type": "Property", "value": {"type": "DataIntegrityProof"}, "entityIdSealed": "urn:x:1", "entityTypeSealed": "T"}})
    proof = attr(entity, "ngsildproof")[0]
    assert (proof["entityIdSealed"], proof["entityTypeSealed"]) == ("urn:x:1", "T")


@pytest.mark.parametrize("proof", ["not-a-proof-object", {"type": "Property", "value": "not-a-proof-object"},
                                   {"type": "Relationship", "object": "urn:x:proof"}, [{"type": "DataIntegrityProof"}]])
def test_452_03_03_ngsildproof_holds_a_proof_object(proof):
    with pytest.raises(BadRequestData, match="Data Integrity proof"):
        parse({"id": "urn:x:1", "type": "T", "ngsildproof": proof})
    with pytest.raises(BadRequestData, match="Data Integrity proof"):  # PUT /attrs/ngsildproof
        parse_attribute("ngsildproof", proof, CTX, now=NOW)


def test_value_type_and_lang_members():
    entity = parse({"id": "urn:x:1", "type": "T", "n": {"value": 3, "valueType": "Integer"}, "s": {"value": "oui", "lang": "fr"}})
    assert attr(entity, "n")[0]["valueType"] == DEFAULT + "Integer"
    assert attr(entity, "s")[0]["lang"] == "fr"


def test_5232_01_01_a_language_property_keeps_its_lang_string_value_type():
    street = {"type": "LanguageProperty", "languageMap": {"en": "hello", "sk": ["ahoj", "servus"]}}
    for value_type in ("langString", "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"):
        entity = parse({"id": "urn:x:1", "type": "T", "street": {**street, "valueType": value_type}})
        assert attr(entity, "street")[0]["languageMap"] == street["languageMap"]


# ---- fragments and NGSI-LD Null ------------------------------------------------------------------


def test_fragment_carries_types_scope_and_attributes():
    fragment = parse_fragment({"type": "Streetlight", "scope": "/Rennes", "powerState": "on"}, CTX, now=NOW)
    assert fragment["type"] == [SDM + "dataModel.Streetlighting/Streetlight"]
    assert fragment["scope"] == ["/Rennes"]
    assert list(fragment["attrs"]) == [SDM + "dataModel.Streetlighting/powerState"]
    assert "id" not in fragment


def test_parse_attributes_refuses_entity_members():
    assert list(parse_attributes({"powerState": "on"}, CTX, now=NOW)) == [SDM + "dataModel.Streetlighting/powerState"]
    with pytest.raises(BadRequestData, match="Only attributes"):
        parse_attributes({"type": "T", "powerState": "on"}, CTX, now=NOW)


@pytest.mark.parametrize("body", [
    {"p": {"type": "Property", "value": NGSI_LD_NULL}},
    {"p": {"value": NGSI_LD_NULL}},
    {"p": NGSI_LD_NULL},
    {"p": {"type": "Relationship", "object": NGSI_LD_NULL}},
    {"p": {"type": "GeoProperty", "value": NGSI_LD_NULL}},
    {"p": {"type": "LanguageProperty", "languageMap": {"@none": NGSI_LD_NULL}}},
    {"p": {"type": "VocabProperty", "vocab": NGSI_LD_NULL}},
    {"p": {"type": "JsonProperty", "json": NGSI_LD_NULL}},
    {"p": {"type": "ListProperty", "valueList": [NGSI_LD_NULL]}},
    {"p": {"type": "ListRelationship", "objectList": [{"object": NGSI_LD_NULL}]}},
])
def test_null_marks_deletion_where_allowed(body):
    fragment = parse_fragment(body, CORE, now=NOW, allow_null=True)
    assert is_null(fragment["attrs"][DEFAULT + "p"][0])
    with pytest.raises(BadRequestData, match="urn:ngsi-ld:null"):
        parse_fragment(body, CORE, now=NOW)


def test_null_sub_attribute_and_member_in_update_fragment():
    fragment = parse_fragment(
        {"p": {"value": 1, "unitCode": NGSI_LD_NULL, "accuracy": NGSI_LD_NULL}}, CORE, now=NOW, allow_null=True)
    instance = fragment["attrs"][DEFAULT + "p"][0]
    assert instance["unitCode"] == NGSI_LD_NULL
    assert is_null(instance["attrs"][DEFAULT + "accuracy"])
    assert not is_null(instance)


def test_554_01_merge_fragment_allows_null_inside_values_only_in_merge():
    body = {"address": {"type": "Property", "value": {"street": "Pariser Platz", "country": NGSI_LD_NULL}}}
    fragment = parse_fragment(body, CORE, now=NOW, merge=True)
    assert fragment["attrs"][DEFAULT + "address"][0]["value"]["country"] == NGSI_LD_NULL
    with pytest.raises(BadRequestData, match="merge"):
        parse_fragment(body, CORE, now=NOW, allow_null=True)


def test_558_01_04_dataset_id_cannot_be_nulled():
    with pytest.raises(BadRequestData, match="datasetId cannot be deleted"):
        parse_attribute("temperature", {"datasetId": NGSI_LD_NULL}, CORE, now=NOW, allow_null=True, partial=True)


def test_scope_null_in_fragment():
    assert parse_fragment({"scope": NGSI_LD_NULL}, CORE, now=NOW, allow_null=True)["scope"] == NGSI_LD_NULL
    with pytest.raises(BadRequestData):
        parse_fragment({"scope": NGSI_LD_NULL}, CORE, now=NOW)


@pytest.mark.parametrize("member", ["id", "@id", "type", "@type", "scope", "expiresAt", "createdAt"])
def test_554_01_01_ngsi_ld_null_as_an_entity_member_value_is_refused_outside_fragments(member):
    body = {"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle", member: NGSI_LD_NULL}
    with pytest.raises(BadRequestData, match=f"^{member}: urn:ngsi-ld:null is only allowed in update and merge"):
        parse_entity(body, CORE, now=NOW)
    with pytest.raises(BadRequestData, match="urn:ngsi-ld:null is only allowed"):  # append, batch update
        parse_fragment({member: NGSI_LD_NULL}, CORE, now=NOW)


# ---- one attribute (PATCH / PUT /attrs/{attrId}) ---------------------------------------------------


def test_parse_attribute_whole_and_several_instances():
    [instance] = parse_attribute("powerState", {"type": "Property", "value": "on"}, CTX, now=NOW)
    assert instance == {"type": "Property", "value": "on", "createdAt": NOW, "modifiedAt": NOW}
    instances = parse_attribute("NO2", [{"value": 1, "datasetId": "urn:d:a"}, {"value": 2}], CTX, now=NOW)
    assert [i.get("datasetId") for i in instances] == ["urn:d:a", None]


def test_partial_fragment_keeps_only_what_is_given():
    [patch] = parse_attribute("temperature", {"value": 100, "observedAt": "2022-03-14T13:00:00.000Z"}, CORE,
                              now=NOW, partial=True)
    assert patch == {"value": 100, "observedAt": "2022-03-14T13:00:00.000Z"}
    [patch] = parse_attribute("temperature", {"unitCode": "CEL"}, CORE, now=NOW, partial=True)
    assert patch == {"unitCode": "CEL"}
    [patch] = parse_attribute("temperature", {"type": "Property", "value": 1, "accuracy": 0.5}, CORE, now=NOW,
                              partial=True)
    assert patch["type"] == "Property"
    assert patch["attrs"][DEFAULT + "accuracy"]["value"] == 0.5


def test_012_02_04_empty_partial_fragment_is_refused():
    with pytest.raises(BadRequestData, match="empty"):
        parse_attribute("speed", {}, CORE, now=NOW, partial=True)


# ---- rejections ------------------------------------------------------------------------------------

ID = "urn:ngsi-ld:Vehicle:A1"


def entity_with(**attrs):
    return {"id": ID, "type": "Vehicle", **attrs}


@pytest.mark.parametrize("body, fragment", [
    # the body itself
    ([], "must be a JSON object"),
    ("urn:x", "must be a JSON object"),
    ({"type": "Vehicle"}, "no id"),
    ({"id": ID}, "no type"),
    ({"id": ID, "type": []}, "at least one type"),
    ({"id": "thisisaninvaliduri", "type": "Vehicle"}, "not an absolute URI"),
    ({"id": 42, "type": "Vehicle"}, "URI string"),
    ({"id": "urn:", "type": "Vehicle"}, "not an absolute URI"),
    ({"id": ID, "type": "1Vehicle"}, "not a valid name"),
    ({"id": ID, "type": 3}, "non-empty string"),
    # 4.6.2 names, 4.5.1 reserved names
    (entity_with(**{"my attr": 1}), "not a valid name"),
    (entity_with(**{"": 1}), "non-empty string"),
    (entity_with(**{"a<b": 1}), "not a valid name"),
    (entity_with(**{"http://ex.org/a(b)": 1}), "not a valid name"),
    (entity_with(**{"tab\tname": 1}), "not a valid name"),
    (entity_with(datasetId={"value": 1}), "reserved"),
    (entity_with(instanceId={"value": 1}), "reserved"),
    (entity_with(observedAt={"value": 1}), "reserved"),
    (entity_with(p={"value": 1, "bad name": {"value": 2}}), "not a valid name"),
    # 4.18 scope
    (entity_with(scope="/1Madrid"), "not a Scope"),
    (entity_with(scope="/Madrid//Gardens"), "not a Scope"),
    (entity_with(scope="/Madrid-Centro"), "not a Scope"),
    (entity_with(scope=["/Madrid", "/a b"]), "not a Scope"),
    (entity_with(scope=NGSI_LD_NULL), "only allowed in update and merge fragments"),
    (entity_with(scope=[]), "at least one Scope"),
    # 4.2.2 / 4.5.2 / 4.5.3 members
    (entity_with(speed={"type": "Property"}), "must have a 'value'"),
    (entity_with(speed={"type": "Property", "value": None}), "JSON null is not a value"),
        (entity_with(speed={"type": "Property", "value": "urn:ngsi-ld:null"}), "only allowed in update"),
    (entity_with(isParked={"type": "Relationship"}), "must have a 'object'"),
    (entity_with(isParked={"type": "Relationship", "object": "not a uri"}), "not an absolute URI"),
    (entity_with(isParked={"type": "Relationship", "object": []}), "empty array"),
    (entity_with(isParked={"object": 5}), "not an absolute URI"),
    (entity_with(street={"type": "LanguageProperty"}), "must have a 'languageMap'"),
    (entity_with(speed={"type": "Property", "value": 1, "object": "urn:x:y"}), "cannot have a 'object'"),
    (entity_with(speed={"type": "Property", "value": 1, "languageMap": {"fr": "x"}}), "cannot have"),
    (entity_with(speed={"type": "Property", "value": 1, "valueList": [1]}), "cannot have"),
    (entity_with(speed={"type": "Property", "value": 1, "previousValue": 0}), "output-only"),
    (entity_with(speed={"type": "Property", "value": 1, "entityIdSealed": "urn:x:y"}), "ngsildproof"),
    (entity_with(speed={"type": "Property", "value": 1, "objectType": "Car"}), "only a Relationship"),
    (entity_with(isParked={"type": "Relationship", "object": "urn:x:y", "unitCode": "MTR"}), "no unitCode"),
    (entity_with(isParked={"type": "Relationship", "object": "urn:x:y", "value": 1}), "cannot have"),
    (entity_with(isParked={"type": "Relationship", "object": "urn:x:y", "previousObject": "urn:x:z"}), "output-only"),
    (entity_with(speed={"value": 1, "object": "urn:x:y"}), "not several"),
    (entity_with(speed={"type": "Propery", "value": 1}), "unknown attribute type"),
    (entity_with(speed={"type": ["Property"], "value": 1}), "unknown attribute type"),
    (entity_with(speed={"type": "Property", "value": 1, "@context": {}}), "@context"),
    (entity_with(speed={"value": 1, "@context": "https://ex.org/c"}), "@context"),
    (entity_with(address={"street": "x", "@context": "https://ex.org/c"}), "@context"),
    # 4.5.21, 4.5.22, 4.5.24, 4.5.20, 4.6.5 subtypes
    (entity_with(route={"type": "ListRelationship", "objectList": ["not a uri"]}), "not an absolute URI"),
    (entity_with(route={"type": "ListRelationship", "objectList": "urn:x:y"}), "array of URIs"),
    (entity_with(depths={"type": "ListProperty", "valueList": [1.2], "value": 3}), "cannot have"),
    (entity_with(depths={"type": "ListProperty", "valueList": 1.2}), "an array is expected"),
    (entity_with(tickets={"type": "JsonProperty", "json": {"a": 1}, "unitCode": "MTR"}), "no unitCode"),
    (entity_with(tickets={"type": "JsonProperty", "json": {"a": 1}, "value": 1}), "cannot have"),
    (entity_with(tickets={"type": "JsonProperty", "json": 5}), "JSON object"),
    (entity_with(tickets={"json": [1, 2]}), "JSON object"),
    (entity_with(category={"type": "VocabProperty", "vocab": 3}), "term or IRI"),
    (entity_with(category={"type": "VocabProperty", "vocab": "x", "unitCode": "MTR"}), "no unitCode"),
    (entity_with(street={"type": "LanguageProperty", "languageMap": {"fr": 3}}), "string or an array of strings"),
    (entity_with(street={"type": "LanguageProperty", "languageMap": {"fr": ["a", 1]}}), "string or an array"),
    (entity_with(street={"type": "LanguageProperty", "languageMap": {"": "x"}}), "not a language tag"),
    (entity_with(street={"type": "LanguageProperty", "languageMap": {}}), "non-empty JSON object"),
    (entity_with(street={"languageMap": {"@none": NGSI_LD_NULL}}), "only allowed in update"),
    (entity_with(street={"type": "LanguageProperty", "languageMap": {"fr": "x"}, "unitCode": "MTR"}), "no unitCode"),
    # 5232_01_02: Table 5.2.32-1, a LanguageProperty's valueType is langString
    (entity_with(street={"type": "LanguageProperty", "languageMap": {"fr": "x"}, "valueType": "xsd:string"}),
     "valueType is langString"),
    (entity_with(s={"value": "x", "lang": "not a tag"}), "not a language tag"),
    # 4.6.3 DateTime
    (entity_with(speed={"value": 1, "observedAt": "2026-11-28"}), "not a UTC DateTime"),
    (entity_with(speed={"value": 1, "observedAt": "2026-11-28T10:00:00+02:00"}), "not a UTC DateTime"),
    (entity_with(speed={"value": 1, "observedAt": "2026-11-28T10:00:00"}), "not a UTC DateTime"),
    (entity_with(speed={"value": 1, "observedAt": {"@value": "2026-11-28T10:00:00Z"}}), "not a UTC DateTime"),
    (entity_with(speed={"value": 1, "observedAt": "2026-02-30T10:00:00Z"}), "calendar"),
    (entity_with(speed={"value": 1, "observedAt": "2025-02-29T10:00:00Z"}), "calendar"),
    (entity_with(speed={"value": 1, "observedAt": "2026-11-28T24:00:00Z"}), "calendar"),
    (entity_with(speed={"value": 1, "unitCode": 3}), "unit code"),
    (entity_with(speed={"value": 1, "datasetId": "sensor A"}), "not an absolute URI"),
    # 4.7 geo
    (entity_with(location={"type": "Property", "value": 7}), "geometry"),
    (entity_with(location={"type": "GeoProperty", "value": "not a geometry"}), "not JSON"),
    (entity_with(location={"type": "Relationship", "object": "urn:x:y"}), "is a GeoProperty"),
    (entity_with(location={"type": "GeometryCollection", "geometries": []}), "GeometryCollection"),
    (entity_with(area={"type": "GeoProperty", "value": {"type": "Point", "coordinates": "x"}}), "Point"),
    # 5.5.4 NGSI-LD Null outside fragments
    (entity_with(speed=NGSI_LD_NULL), "only allowed in update"),
    (entity_with(speed=None), "JSON null is not a value"),
    (entity_with(isParked={"type": "Relationship", "object": NGSI_LD_NULL}), "only allowed in update"),
    (entity_with(speed={"value": 1, "accuracy": {"value": NGSI_LD_NULL}}), "only allowed in update"),
    (entity_with(address={"value": {"street": "x", "city": {"name": NGSI_LD_NULL}}}), "only allowed in merge"),
    # 4.5.5 datasetId
    (entity_with(name=[{"value": "a", "datasetId": "urn:d:1"}, {"value": "b", "datasetId": "urn:d:1"}]), "urn:d:1"),
    (entity_with(name=[{"value": "a"}, {"value": "b", "datasetId": "@none"}]), "default instance"),
    (entity_with(speed={"value": 1, "accuracy": [{"value": 1}, {"value": 2}]}), "single instance"),
    # values
    (entity_with(speed={"value": {1, 2}}), "not a JSON value"),
    (entity_with(expiresAt="tomorrow"), "not a UTC DateTime"),
])
def test_malformed_entity_is_bad_request_data(body, fragment):
    with pytest.raises(BadRequestData) as raised:
        parse(body)
    assert fragment in raised.value.detail


def test_sub_attribute_nesting_is_bounded():
    body = {"value": 0}
    for level in range(MAX_SUB_ATTRIBUTE_DEPTH):
        body = {"value": level, "sub": body}
    parse(entity_with(p=body))  # at the limit
    with pytest.raises(BadRequestData, match="nested more than"):
        parse(entity_with(p={"value": 1, "sub": body}))


@pytest.mark.parametrize("depth", [65, 100_000])
def test_deep_json_values_are_bad_request_data_not_recursion_error(depth):
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    for attribute in ({"value": value}, {"json": value}, {"valueList": [value]}, value):
        with pytest.raises(BadRequestData, match="nested more than"):
            parse(entity_with(p=attribute))


def test_451_02_invisible_characters_make_no_uri():
    for codepoint in (0x202E, 0x200B, 0xFEFF, 0x2028, 0x00A0, 0xFE0F, 0xE0100, 0xFDD0, 0x1FFFE, 0x115F, 0x3164,
                      0xFFA0, 0x2800, 0x20, 0x0A):
        with pytest.raises(BadRequestData):
            validate_entity_id(f"urn:ngsi-ld:Vehicle:A{chr(codepoint)}B")
    for markup in '<>"{}|\\^`':
        with pytest.raises(BadRequestData):
            validate_entity_id(f"urn:ngsi-ld:Vehicle:A{markup}B")


def test_validators():
    assert validate_datetime("2024-02-29T23:59:59.999999Z", "t") == "2024-02-29T23:59:59.999999Z"
    assert validate_scope("Madrid") == "Madrid"
    assert validate_name("sdm:fillingLevel", "n") == "sdm:fillingLevel"
    for bad in ("2024-02-29T23:59:59.9999999Z", "2024-2-29T23:59:59Z", "2024-02-29 23:59:59Z", 20240229):
        with pytest.raises(BadRequestData):
            validate_datetime(bad, "t")
    for bad in ("/", "a/", "_a", "/a/1b"):
        with pytest.raises(BadRequestData):
            validate_scope(bad)


# ---- robustness: any JSON in, the internal form or an NGSI-LD error out ------------------------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                     st.sampled_from([NGSI_LD_NULL, "urn:x:y", "@none", "Property", "Point", "value", "fr"]), st.text(max_size=6))
_keys = st.one_of(st.sampled_from(["type", "value", "object", "languageMap", "vocab", "json", "valueList", "objectList",
                                   "datasetId", "observedAt", "unitCode", "objectType", "lang", "@context", "id",
                                   "coordinates", "scope", "p", "q", "location"]), st.text(max_size=4))
_json = st.recursive(_scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(_keys, kids, max_size=5),
                     max_leaves=25)


@settings(max_examples=400, deadline=None)
@given(body=st.dictionaries(_keys, _json, max_size=6), allow_null=st.booleans(), merge=st.booleans())
def test_any_json_gives_an_entity_or_an_ngsi_ld_error(body, allow_null, merge):
    for parser in (
        lambda: parse_entity({"id": ID, "type": "T", **body}, CORE, now=NOW),
        lambda: parse_fragment(body, CORE, now=NOW, allow_null=allow_null, merge=merge),
        lambda: parse_attribute("p", body, CORE, now=NOW, allow_null=allow_null, partial=merge),
        lambda: parse_attribute("p", body.get("p"), CORE, now=NOW),
    ):
        try:
            parser()
        except NgsiLdError:
            pass


def test_core_location_iri():
    assert NGSI_LD + "location" in GEO_ATTRIBUTES


@pytest.mark.parametrize("body", [
    {"p": None},
    {"p": {"value": None}},
    {"p": {"type": "Property", "value": None}},
    {"p": {"type": "Relationship", "object": None}},
    {"p": {"type": "LanguageProperty", "languageMap": None}},
    {"p": {"type": "Property", "value": 1, "observedAt": None}},
])
def test_057_03_02_json_null_is_refused_even_where_ngsi_ld_null_is_allowed(body):
    for allow_null in (True, False):
        with pytest.raises(BadRequestData):
            parse_fragment(body, CORE, now=NOW, allow_null=allow_null)

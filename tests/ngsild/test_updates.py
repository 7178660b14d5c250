"""Update semantics (ETSI GS CIM 009 clauses 5.5.8, 5.5.12, 5.6.2-5.6.5, 5.6.17-5.6.19) as pure functions."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from territoires.ngsild.context import compile_context
from territoires.ngsild.entity import SCOPE, parse_attribute, parse_entity, parse_fragment
from territoires.ngsild.errors import BadRequestData, ResourceNotFound
from territoires.ngsild.model import NGSI_LD_NULL
from territoires.ngsild.render import render_entity
from territoires.ngsild.updates import (
    append_attributes,
    delete_attribute,
    merge_entity,
    merge_measures,
    partial_update_attribute,
    replace_attribute,
    replace_entity,
    update_attributes,
)

T0 = "2026-11-28T10:00:00.000000Z"
T1 = "2026-11-28T11:00:00.000000Z"
CTX = compile_context(None, None)
ID = "urn:ngsi-ld:Vehicle:A4567"


def iri(name):
    return CTX.expand(name)


def stored(**attrs):
    return parse_entity({"id": ID, "type": "Vehicle", **attrs}, CTX, now=T0)


def fragment(body, **kw):
    return parse_fragment(body, CTX, now=T1, **kw)


def shown(entity, **kw):
    """The entity as a client reads it back (normalized, without id and type)."""
    out = render_entity(entity, CTX, **kw)
    del out["id"], out["type"]
    return out


def frozen(entity):
    return orjson.dumps(entity)


TEMPERATURE = {"type": "Property", "value": 25, "unitCode": "CEL", "observedAt": "2022-03-14T01:59:26.535Z"}
SPEED = [
    {"type": "Property", "value": 55, "source": {"type": "Property", "value": "Speedometer"}},
    {"type": "Property", "value": 54.5, "source": {"type": "Property", "value": "GPS"},
     "datasetId": "urn:ngsi-ld:Property:gpsBxyz123-speed"},
]


# ---- Update Attributes (5.6.2, 5.5.8) ------------------------------------------------------------


def test_558_01_02_update_replaces_the_whole_attribute():
    # 5.5.8 EXAMPLE 2: unitCode is removed
    entity = stored(temperature=TEMPERATURE)
    new, result = update_attributes(
        entity, fragment({"temperature": {"type": "Property", "value": 100, "observedAt": "2022-03-14T13:00:00.000Z"}}), now=T1)
    assert shown(new) == {"temperature": {"type": "Property", "value": 100, "observedAt": "2022-03-14T13:00:00.000Z"}}
    assert result == {"updated": [iri("temperature")], "notUpdated": []}
    instance = new["attrs"][iri("temperature")][0]
    assert (instance["createdAt"], instance["modifiedAt"], new["modifiedAt"]) == (T0, T1, T1)


def test_558_01_03_update_with_null_deletes_the_attribute():
    # 5.5.8 EXAMPLE 3
    entity = stored(temperature=TEMPERATURE, speed=55)
    new, result = update_attributes(
        entity, fragment({"temperature": {"type": "Property", "value": NGSI_LD_NULL}}, allow_null=True), now=T1)
    assert shown(new) == {"speed": {"type": "Property", "value": 55}}
    assert result["updated"] == [iri("temperature")]


@pytest.mark.parametrize("null", [
    {"type": "Relationship", "object": NGSI_LD_NULL},
    {"type": "GeoProperty", "value": NGSI_LD_NULL},
    {"type": "LanguageProperty", "languageMap": {"@none": NGSI_LD_NULL}},
    NGSI_LD_NULL,
])
def test_011_07_update_with_null_deletes_any_kind(null):
    entity = stored(target={"type": "Property", "value": 1}, other=2)
    new, _ = update_attributes(entity, fragment({"target": null}, allow_null=True), now=T1)
    assert list(shown(new)) == ["other"]


def test_011_08_and_011_09_null_targets_one_instance():
    entity = stored(speed=SPEED)
    new, _ = update_attributes(entity, fragment({"speed": {"value": NGSI_LD_NULL, "datasetId": SPEED[1]["datasetId"]}},
                                                allow_null=True), now=T1)
    assert shown(new)["speed"] == SPEED[0]
    new, _ = update_attributes(entity, fragment({"speed": NGSI_LD_NULL}, allow_null=True), now=T1)
    assert shown(new)["speed"] == SPEED[1]


def test_011_01_03_update_appends_what_does_not_exist():
    entity = stored(speed=SPEED)
    new, result = update_attributes(entity, fragment({
        "isParked2": {"type": "Relationship", "object": "urn:ngsi-ld:OffStreetParking:Downtown1",
                      "datasetId": "urn:ngsi-ld:Relationship:parked12345"},
        "speed": {"type": "Property", "value": 99, "datasetId": "urn:ngsi-ld:Property:gpsBxyz123-speed"},
    }), now=T1)
    assert [i["value"] for i in new["attrs"][iri("speed")]] == [55, 99]
    assert new["attrs"][iri("isParked2")][0]["createdAt"] == T1
    assert result == {"updated": [iri("isParked2"), iri("speed")], "notUpdated": []}


def test_558_01_04_update_with_a_new_dataset_id_adds_an_instance():
    entity = stored(temperature={"type": "Property", "value": 25})
    new, _ = update_attributes(
        entity, fragment({"temperature": {"type": "Property", "value": 30, "datasetId": "urn:ngsi-ld:Dataset:extra"}}), now=T1)
    assert sorted(i["value"] for i in new["attrs"][iri("temperature")]) == [25, 30]


def test_011_01_04_update_can_change_the_attribute_type():
    entity = stored(brandName="Mercedes")
    new, _ = update_attributes(entity, fragment({"brandName": {"type": "Relationship", "object": "urn:ngsi-ld:Brand:01"}}), now=T1)
    assert shown(new)["brandName"] == {"type": "Relationship", "object": "urn:ngsi-ld:Brand:01"}


def test_011_05_update_replaces_scope_only_when_there_is_one():
    with_scope = parse_entity({"id": ID, "type": "Building", "scope": "/Madrid"}, CTX, now=T0)
    new, result = update_attributes(with_scope, fragment({"scope": "/Rennes"}), now=T1)
    assert new["scope"] == ["/Rennes"] and result["updated"] == [SCOPE]
    without = parse_entity({"id": ID, "type": "Building"}, CTX, now=T0)
    new, result = update_attributes(without, fragment({"scope": "/Rennes"}), now=T1)
    assert "scope" not in new
    assert result == {"updated": [], "notUpdated": [{"attributeName": SCOPE, "reason": "the entity has no scope to update"}]}
    assert new["modifiedAt"] == T0  # nothing changed


@pytest.mark.parametrize("types, expected", [
    ("Car", ["Vehicle", "Car"]),
    (["Car", "Truck"], ["Vehicle", "Car", "Truck"]),
    ("Vehicle", ["Vehicle"]),
    (["Vehicle", "Car"], ["Vehicle", "Car"]),
])
def test_011_06_update_adds_types(types, expected):
    new, _ = update_attributes(stored(), fragment({"type": types}), now=T1)
    assert new["type"] == [iri(t) for t in expected]


def test_update_null_on_nothing_is_not_updated():
    new, result = update_attributes(stored(speed=1), fragment({"temperature": NGSI_LD_NULL}, allow_null=True), now=T1)
    assert result["notUpdated"] == [{"attributeName": iri("temperature"), "reason": "there is no such attribute instance to delete"}]
    assert shown(new) == {"speed": {"type": "Property", "value": 1}}


def test_update_drops_null_members_and_sub_attributes_of_the_replacement():
    entity = stored(temperature=TEMPERATURE)
    new, _ = update_attributes(entity, fragment(
        {"temperature": {"value": 3, "unitCode": NGSI_LD_NULL, "accuracy": NGSI_LD_NULL, "source": "probe"}},
        allow_null=True), now=T1)
    assert shown(new)["temperature"] == {"type": "Property", "value": 3, "source": {"type": "Property", "value": "probe"}}


# ---- Append Attributes (5.6.3) --------------------------------------------------------------------


def test_010_01_append_adds_and_replaces():
    entity = stored(brandName="Mercedes", speed=SPEED)
    new, result = append_attributes(entity, fragment({
        "brandName": "Volvo",
        "speed": {"value": 12, "datasetId": "urn:ngsi-ld:Property:new"},
        "isParked": {"object": "urn:ngsi-ld:OffStreetParking:Downtown1"},
    }), no_overwrite=False, now=T1)
    assert shown(new)["brandName"] == {"type": "Property", "value": "Volvo"}
    assert [i.get("datasetId") for i in new["attrs"][iri("speed")]] == [
        None, "urn:ngsi-ld:Property:gpsBxyz123-speed", "urn:ngsi-ld:Property:new"]
    assert result == {"updated": [iri("brandName"), iri("speed"), iri("isParked")], "notUpdated": []}
    brand = new["attrs"][iri("brandName")][0]
    assert (brand["createdAt"], brand["modifiedAt"]) == (T0, T1)


def test_010_04_append_no_overwrite_keeps_existing_instances():
    entity = stored(speed=SPEED)
    new, result = append_attributes(entity, fragment({"speed": [
        {"value": 1},
        {"value": 2, "datasetId": "urn:ngsi-ld:Property:gpsBxyz123-speed"},
        {"value": 3, "datasetId": "urn:ngsi-ld:Property:new"},
    ]}), no_overwrite=True, now=T1)
    assert [i["value"] for i in new["attrs"][iri("speed")]] == [55, 54.5, 3]
    assert result["updated"] == [iri("speed")]
    assert [d["reason"] for d in result["notUpdated"]] == [
        "the attribute exists and noOverwrite was asked",
        "the attribute exists and noOverwrite was asked (datasetId urn:ngsi-ld:Property:gpsBxyz123-speed)",
    ]


def test_010_07_append_scope_replaced_or_extended():
    entity = parse_entity({"id": ID, "type": "Building", "scope": "/Madrid"}, CTX, now=T0)
    new, _ = append_attributes(entity, fragment({"scope": ["/Rennes", "/Madrid"]}), no_overwrite=False, now=T1)
    assert new["scope"] == ["/Rennes", "/Madrid"]
    new, _ = append_attributes(entity, fragment({"scope": ["/Rennes", "/Madrid"]}), no_overwrite=True, now=T1)
    assert new["scope"] == ["/Madrid", "/Rennes"]


def test_append_adds_types_and_touches_modified_at():
    new, result = append_attributes(stored(), fragment({"type": "Car"}), no_overwrite=False, now=T1)
    assert new["type"] == [iri("Vehicle"), iri("Car")]
    assert new["modifiedAt"] == T1 and result == {"updated": [], "notUpdated": []}


# ---- Partial Attribute Update (5.6.4, 5.5.8) ---------------------------------------------------------


def patch(name, body):
    return parse_attribute(name, body, CTX, now=T1, allow_null=True, partial=True)


def test_558_01_01_partial_update_overwrites_given_members_only():
    # 5.5.8 EXAMPLE 1: unitCode untouched
    entity = stored(temperature=TEMPERATURE)
    new = partial_update_attribute(entity, iri("temperature"), patch(
        "temperature", {"type": "Property", "value": 100, "observedAt": "2022-03-14T13:00:00.000Z"}), now=T1)
    assert shown(new)["temperature"] == {"type": "Property", "value": 100, "unitCode": "CEL",
                                         "observedAt": "2022-03-14T13:00:00.000Z"}
    instance = new["attrs"][iri("temperature")][0]
    assert (instance["createdAt"], instance["modifiedAt"], new["modifiedAt"]) == (T0, T1, T1)


def test_012_01_02_partial_update_targets_the_dataset_id():
    entity = stored(speed=SPEED)
    new = partial_update_attribute(entity, iri("speed"), patch(
        "speed", {"value": 20, "datasetId": "urn:ngsi-ld:Property:gpsBxyz123-speed"}), now=T1)
    assert [i["value"] for i in new["attrs"][iri("speed")]] == [55, 20]
    assert new["attrs"][iri("speed")][1]["attrs"] == entity["attrs"][iri("speed")][1]["attrs"]


def test_partial_update_sub_attributes_are_replaced_or_deleted():
    entity = stored(speed={"value": 55, "source": {"value": "GPS", "accuracy": 3}, "quality": "good"})
    new = partial_update_attribute(entity, iri("speed"), patch(
        "speed", {"source": {"value": "Speedometer"}, "quality": NGSI_LD_NULL, "unitCode": "KMH"}), now=T1)
    assert shown(new)["speed"] == {"type": "Property", "value": 55, "unitCode": "KMH",
                                   "source": {"type": "Property", "value": "Speedometer"}}


def test_partial_update_member_null_deletes_the_member():
    entity = stored(temperature=TEMPERATURE)
    new = partial_update_attribute(entity, iri("temperature"), patch("temperature", {"unitCode": NGSI_LD_NULL}), now=T1)
    assert "unitCode" not in shown(new)["temperature"]


@pytest.mark.parametrize("null", [
    {"type": "Property", "value": NGSI_LD_NULL},
    {"type": "Relationship", "object": NGSI_LD_NULL},
    {"type": "GeoProperty", "value": NGSI_LD_NULL},
    {"type": "LanguageProperty", "languageMap": {"@none": NGSI_LD_NULL}},
])
def test_012_05_partial_update_with_null_deletes_the_attribute(null):
    entity = stored(target={"type": "Property", "value": 1}, other=2)
    new = partial_update_attribute(entity, iri("target"), patch("target", null), now=T1)
    assert list(shown(new)) == ["other"]


def test_012_06_partial_update_with_null_deletes_one_instance():
    entity = stored(speed=SPEED)
    new = partial_update_attribute(entity, iri("speed"), patch(
        "speed", {"value": NGSI_LD_NULL, "datasetId": "urn:ngsi-ld:Property:gpsBxyz123-speed"}), now=T1)
    assert shown(new)["speed"] == SPEED[0]


def test_012_02_03_partial_update_cannot_change_the_type():
    entity = stored(speed=SPEED)
    with pytest.raises(BadRequestData, match="cannot make it a Relationship"):
        partial_update_attribute(entity, iri("speed"), patch(
            "speed", {"type": "Relationship", "object": "urn:ngsi-ld:Entity:01"}), now=T1)
    with pytest.raises(BadRequestData, match="has 'value', not 'object'"):
        partial_update_attribute(entity, iri("speed"), patch("speed", {"object": "urn:ngsi-ld:Entity:01"}), now=T1)


@pytest.mark.parametrize("name, body", [
    ("speed", {"value": 1, "datasetId": "urn:ngsi-ld:Dataset:unknown"}),  # 012_03_03
    ("brandName", {"value": 1}),  # 012_03_04
])
def test_012_03_partial_update_of_what_does_not_exist(name, body):
    entity = stored(speed=[SPEED[1]])
    with pytest.raises(ResourceNotFound):
        partial_update_attribute(entity, iri(name), patch(name, body), now=T1)
    with pytest.raises(ResourceNotFound):  # 012_03_02: no default instance
        partial_update_attribute(entity, iri("speed"), patch("speed", {"value": 1}), now=T1)


def test_564_01_01_scope_cannot_be_partially_updated():
    with pytest.raises(BadRequestData, match="scope"):
        partial_update_attribute(stored(), SCOPE, [{"value": "/x"}], now=T1)


def test_partial_update_of_a_geoproperty_value_is_a_geometry():
    entity = stored(location={"type": "Point", "coordinates": [1, 2]}, area={"type": "Point", "coordinates": [1, 2]})
    new = partial_update_attribute(entity, iri("area"), patch("area", {"value": {"type": "Point", "coordinates": [3, 4]}}), now=T1)
    assert shown(new)["area"]["value"] == {"type": "Point", "coordinates": [3, 4]}
    with pytest.raises(BadRequestData, match="geometry"):
        partial_update_attribute(entity, iri("area"), patch("area", {"value": 7}), now=T1)
    with pytest.raises(BadRequestData, match="geometry"):
        partial_update_attribute(entity, iri("location"), patch("location", {"value": 7}), now=T1)


def test_012_04_partial_update_of_a_language_property():
    entity = stored(street={"languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}})
    new = partial_update_attribute(entity, iri("street"), patch("street", {"languageMap": {"en": "Big Place"}}), now=T1)
    assert shown(new)["street"] == {"type": "LanguageProperty", "languageMap": {"en": "Big Place"}}


# ---- Replace Attribute (5.6.19) -------------------------------------------------------------------


def test_055_01_replace_attribute_keeps_created_at():
    entity = stored(temperature=TEMPERATURE)
    instances = parse_attribute("temperature", {"type": "Property", "value": 3}, CTX, now=T1)
    new = replace_attribute(entity, iri("temperature"), instances, now=T1)
    assert shown(new)["temperature"] == {"type": "Property", "value": 3}
    assert new["attrs"][iri("temperature")][0]["createdAt"] == T0
    kind = parse_attribute("temperature", {"type": "Relationship", "object": "urn:x:y"}, CTX, now=T1)
    assert shown(replace_attribute(entity, iri("temperature"), kind, now=T1))["temperature"]["type"] == "Relationship"


def test_055_02_replace_attribute_instance_by_dataset_id():
    entity = stored(speed=SPEED)
    instances = parse_attribute("speed", {"value": 1, "datasetId": "urn:ngsi-ld:Property:gpsBxyz123-speed"}, CTX, now=T1)
    new = replace_attribute(entity, iri("speed"), instances, now=T1)
    assert shown(new)["speed"] == [SPEED[0], {"type": "Property", "value": 1, "datasetId": "urn:ngsi-ld:Property:gpsBxyz123-speed"}]


def test_055_03_replace_attribute_errors():
    entity = stored(speed=[SPEED[1]])
    with pytest.raises(ResourceNotFound):
        replace_attribute(entity, iri("brandName"), parse_attribute("brandName", 1, CTX, now=T1), now=T1)
    with pytest.raises(ResourceNotFound):
        replace_attribute(entity, iri("speed"), parse_attribute("speed", 1, CTX, now=T1), now=T1)
    with pytest.raises(BadRequestData, match="scope"):
        replace_attribute(entity, "scope", [], now=T1)


# ---- Delete Attribute (5.6.5) -------------------------------------------------------------------------


def test_013_01_delete_attribute():
    entity = stored(speed=SPEED, other=1)
    assert shown(delete_attribute(entity, iri("speed"), now=T1))["speed"] == SPEED[1]
    assert shown(delete_attribute(entity, iri("speed"), dataset_id="@none", now=T1))["speed"] == SPEED[1]
    assert shown(delete_attribute(entity, iri("speed"), dataset_id=SPEED[1]["datasetId"], now=T1))["speed"] == SPEED[0]
    new = delete_attribute(entity, iri("speed"), delete_all=True, now=T1)
    assert list(shown(new)) == ["other"] and new["modifiedAt"] == T1


def test_013_03_delete_what_does_not_exist():
    entity = stored(speed=[SPEED[1]])
    with pytest.raises(ResourceNotFound):
        delete_attribute(entity, iri("brandName"), now=T1)
    with pytest.raises(ResourceNotFound):
        delete_attribute(entity, iri("speed"), now=T1)  # no default instance
    with pytest.raises(ResourceNotFound):
        delete_attribute(entity, iri("speed"), dataset_id="urn:ngsi-ld:Dataset:unknown", now=T1)


def test_013_04_delete_scope():
    entity = parse_entity({"id": ID, "type": "Building", "scope": "/Madrid"}, CTX, now=T0)
    assert "scope" not in delete_attribute(entity, SCOPE, now=T1)
    assert "scope" not in delete_attribute(entity, "scope", now=T1)
    with pytest.raises(ResourceNotFound, match="no scope"):
        delete_attribute(stored(), SCOPE, now=T1)


# ---- Merge Entity (5.6.17, 5.5.12) -------------------------------------------------------------------


def merge(entity, body, **kw):
    return merge_entity(entity, fragment(body, merge=True), now=T1, **kw)


def test_5512_example_1_merge_keeps_members_not_given():
    entity = stored(temperature=TEMPERATURE)
    new, result = merge(entity, {"temperature": {"type": "Property", "value": 100, "observedAt": "2022-03-14T13:00:00.000Z"}})
    assert shown(new)["temperature"] == {"type": "Property", "value": 100, "unitCode": "CEL",
                                         "observedAt": "2022-03-14T13:00:00.000Z"}
    assert result == {"updated": [iri("temperature")], "notUpdated": []}


def test_5611_01_merge_sets_and_removes_the_entity_s_expires_at():
    entity = stored(speed=1)
    later, _ = merge(entity, {"expiresAt": "2030-01-01T00:00:00Z"})
    assert later["expiresAt"] == "2030-01-01T00:00:00Z" and later["modifiedAt"] == T1
    assert "expiresAt" not in merge(later, {"expiresAt": NGSI_LD_NULL})[0]
    assert "expiresAt" not in entity  # the stored entity is never changed
    with pytest.raises(BadRequestData, match="expiresAt"):
        merge(entity, {"expiresAt": "not-a-date"})


def test_554_01_04_merge_patches_json_object_values():
    # 5.5.12 EXAMPLE 2
    entity = stored(address={"type": "Property", "value": {"street": "Straße des 17. Juni", "city": "Berlin", "country": "Germany"}})
    new, _ = merge(entity, {"address": {"type": "Property", "value": {"street": "Pariser Platz", "country": NGSI_LD_NULL}}})
    assert shown(new)["address"] == {"type": "Property", "value": {"street": "Pariser Platz", "city": "Berlin"}}
    assert NGSI_LD_NULL not in frozen(new).decode()


@pytest.mark.parametrize("null", [
    {"type": "Property", "value": NGSI_LD_NULL},
    {"type": "Relationship", "object": NGSI_LD_NULL},
    {"type": "GeoProperty", "value": NGSI_LD_NULL},
    {"type": "LanguageProperty", "languageMap": {"@none": NGSI_LD_NULL}},
    NGSI_LD_NULL,
])
def test_056_03_merge_null_deletes_the_attribute(null):
    entity = stored(target={"type": "Property", "value": 1}, other=2)
    new, result = merge(entity, {"target": null})
    assert list(shown(new)) == ["other"]
    assert result["updated"] == [iri("target")]


def test_056_04_and_056_05_merge_null_deletes_one_instance():
    entity = stored(speed=SPEED)
    new, _ = merge(entity, {"speed": {"value": NGSI_LD_NULL, "datasetId": SPEED[1]["datasetId"]}})
    assert shown(new)["speed"] == SPEED[0]
    new, _ = merge(entity, {"speed": {"value": NGSI_LD_NULL}})
    assert shown(new)["speed"] == SPEED[1]


def test_merge_sub_attributes_member_by_member():
    entity = stored(speed={"value": 55, "source": {"value": "GPS", "accuracy": 3, "vendor": "acme"}, "quality": "good"})
    new, _ = merge(entity, {"speed": {"value": 60, "source": {"value": "GPS2", "vendor": NGSI_LD_NULL},
                                      "quality": NGSI_LD_NULL, "note": "fresh"}})
    assert shown(new)["speed"] == {
        "type": "Property", "value": 60, "note": {"type": "Property", "value": "fresh"},
        "source": {"type": "Property", "value": "GPS2", "accuracy": {"type": "Property", "value": 3}}}
    source = new["attrs"][iri("speed")][0]["attrs"][iri("source")]
    assert (source["createdAt"], source["modifiedAt"]) == (T0, T1)


def test_merge_adds_attributes_types_and_replaces_scope():
    entity = parse_entity({"id": ID, "type": "Building", "scope": "/Madrid", "name": "Eiffel"}, CTX, now=T0)
    new, result = merge(entity, {"type": "Landmark", "scope": "/Paris",
                                 "height": {"value": {"total": 330, "antenna": NGSI_LD_NULL}, "unitCode": "MTR"}})
    assert new["type"] == [iri("Building"), iri("Landmark")]
    assert new["scope"] == ["/Paris"]
    assert shown(new)["height"] == {"type": "Property", "value": {"total": 330}, "unitCode": "MTR"}
    assert result["updated"] == [iri("height"), SCOPE]
    new, _ = merge(entity, {"scope": NGSI_LD_NULL})
    assert "scope" not in new


def test_merge_language_maps_and_other_kinds():
    entity = stored(street={"languageMap": {"fr": "Grand Place", "nl": "Grote Markt"}},
                    isParked={"object": "urn:ngsi-ld:OffStreetParking:1"},
                    location={"type": "Point", "coordinates": [1, 2]})
    new, _ = merge(entity, {"street": {"languageMap": {"en": "Big Place", "nl": NGSI_LD_NULL}},
                            "isParked": {"object": "urn:ngsi-ld:OffStreetParking:2", "observedAt": "2026-01-01T00:00:00Z"},
                            "location": {"type": "Point", "coordinates": [3, 4]}})
    out = shown(new)
    assert out["street"]["languageMap"] == {"fr": "Grand Place", "en": "Big Place"}
    assert out["isParked"] == {"type": "Relationship", "object": "urn:ngsi-ld:OffStreetParking:2",
                               "observedAt": "2026-01-01T00:00:00Z"}
    assert out["location"]["value"] == {"type": "Point", "coordinates": [3, 4]}


def test_merge_of_another_type_replaces_the_instance():
    entity = stored(brandName={"value": "Mercedes", "unitCode": "X"})
    new, _ = merge(entity, {"brandName": {"object": "urn:ngsi-ld:Brand:01"}})
    assert shown(new)["brandName"] == {"type": "Relationship", "object": "urn:ngsi-ld:Brand:01"}
    assert new["attrs"][iri("brandName")][0]["createdAt"] == T0


def test_merge_no_overwrite_and_observed_at():
    entity = stored(temperature=TEMPERATURE, speed=55)
    new, result = merge(entity, {"temperature": 30, "humidity": 0.4}, no_overwrite=True)
    assert shown(new)["temperature"]["value"] == 25 and shown(new)["humidity"]["value"] == 0.4
    assert result["notUpdated"][0]["attributeName"] == iri("temperature")
    new, _ = merge(entity, {"temperature": 30, "speed": 60}, observed_at="2026-11-28T11:00:00Z")
    assert shown(new)["temperature"]["observedAt"] == "2026-11-28T11:00:00Z"
    assert "observedAt" not in shown(new)["speed"]  # it had none


def test_merge_of_null_on_nothing_is_not_updated():
    new, result = merge(stored(speed=1), {"temperature": NGSI_LD_NULL})
    assert result["notUpdated"][0]["reason"] == "there is no such attribute instance to delete"
    assert new["modifiedAt"] == T0


def test_merged_new_attribute_loses_its_null_markers():
    new, _ = merge(stored(), {"p": {"value": {"a": 1, "b": NGSI_LD_NULL, "c": {"d": None}}, "q": NGSI_LD_NULL}})
    assert shown(new)["p"] == {"type": "Property", "value": {"a": 1, "c": {}}}


# ---- Replace Entity (5.6.18) ---------------------------------------------------------------------------


def test_054_01_replace_entity_keeps_created_at_only():
    old = stored(speed=55, brandName="Mercedes")
    new_body = parse_entity({"id": ID, "type": "Car", "scope": "/Paris", "speed": 60}, CTX, now=T1)
    new = replace_entity(old, new_body, now=T1)
    assert (new["createdAt"], new["modifiedAt"]) == (T0, T1)
    assert new["type"] == [iri("Car")] and new["scope"] == ["/Paris"]
    assert shown(new) == {"scope": "/Paris", "speed": {"type": "Property", "value": 60}}
    assert new["attrs"][iri("speed")][0]["createdAt"] == T1


def test_054_03_replace_entity_replaces_scopes():
    old = parse_entity({"id": ID, "type": "Building", "scope": ["/Madrid", "/Rennes"]}, CTX, now=T0)
    assert "scope" not in replace_entity(old, parse_entity({"id": ID, "type": "Building"}, CTX, now=T1), now=T1)


def test_replace_entity_refuses_another_id():
    with pytest.raises(BadRequestData, match="not the id"):
        replace_entity(stored(), parse_entity({"id": "urn:x:other", "type": "T"}, CTX, now=T1), now=T1)


# ---- purity: the stored entity is never changed ------------------------------------------------------------

_OPERATIONS = [
    lambda e: append_attributes(e, fragment({"speed": 1, "new": 2, "type": "Car", "scope": "/X"}), no_overwrite=False, now=T1),
    lambda e: append_attributes(e, fragment({"speed": 1, "new": 2}), no_overwrite=True, now=T1),
    lambda e: update_attributes(e, fragment({"speed": NGSI_LD_NULL, "temperature": {"value": 1, "unitCode": NGSI_LD_NULL}},
                                            allow_null=True), now=T1),
    lambda e: merge(e, {"temperature": {"value": 2, "accuracy": NGSI_LD_NULL}, "address": {"value": {"city": NGSI_LD_NULL}},
                        "speed": {"value": NGSI_LD_NULL, "datasetId": SPEED[1]["datasetId"]}}),
    lambda e: partial_update_attribute(e, iri("temperature"), patch("temperature", {"value": 3, "accuracy": 0.1}), now=T1),
    lambda e: replace_attribute(e, iri("temperature"), parse_attribute("temperature", 4, CTX, now=T1), now=T1),
    lambda e: delete_attribute(e, iri("speed"), delete_all=True, now=T1),
]


@settings(max_examples=30, deadline=None)
@given(operation=st.sampled_from(_OPERATIONS), scope=st.booleans())
def test_operations_never_change_the_stored_entity(operation, scope):
    body = {"id": ID, "type": "Vehicle", "speed": SPEED, "temperature": {**TEMPERATURE, "accuracy": 0.5},
            "address": {"value": {"city": "Rennes", "street": "Rue de Nantes"}}}
    if scope:
        body["scope"] = ["/Rennes"]
    entity = parse_entity(body, CTX, now=T0)
    before = frozen(entity)
    operation(entity)
    assert frozen(entity) == before


def test_measures_observed_before_the_current_instance_are_kept_out_as_late():
    entity = stored(speed=[{"value": 80, "observedAt": "2026-11-28T10:00:00Z"},
                           {"value": 81, "observedAt": "2026-11-28T10:00:00Z", "datasetId": "urn:ngsi-ld:Dataset:gps"}],
                    temperature={"value": 20})
    measures = fragment({"speed": [{"value": 79, "observedAt": "2026-11-28T09:59:59.500000Z"},  # before, another spelling
                                   {"value": 82, "observedAt": "2026-11-28T10:00:00.5Z", "datasetId":
                                    "urn:ngsi-ld:Dataset:gps"}],  # after: text order would say before
                         "temperature": {"value": 21, "observedAt": "2026-11-28T08:00:00Z"},  # nothing to compare with
                         "pressure": {"value": 1013, "observedAt": "2020-01-01T00:00:00Z"}})  # a new attribute
    new, late = merge_measures(entity, measures, now=T1)
    assert {name: [i["value"] for i in instances] for name, instances in new["attrs"].items()} == {
        iri("speed"): [80, 82], iri("temperature"): [21], iri("pressure"): [1013]}
    assert [(name, instance["value"]) for name, instance in late] == [(iri("speed"), 79)]
    assert new["modifiedAt"] == T1


def test_measures_all_late_leave_the_entity_as_it_is():
    entity = stored(speed={"value": 80, "observedAt": "2026-11-28T10:00:00Z"})
    new, late = merge_measures(entity, fragment({"speed": {"value": 79, "observedAt": "2026-11-28T09:00:00Z"}}), now=T1)
    assert new is entity
    assert [(name, instance["value"]) for name, instance in late] == [(iri("speed"), 79)]


def _merge_then_split(entity, measures):
    """What merge_measures means: the measures not late merged as a Merge Entity would."""
    def older(name, instance):
        for current in entity["attrs"].get(name, ()):
            if current.get("datasetId") == instance.get("datasetId"):
                mine, theirs = instance.get("observedAt"), current.get("observedAt")
                return mine is not None and theirs is not None and mine < theirs
        return False
    late = [(name, i) for name, instances in measures["attrs"].items() for i in instances if older(name, i)]
    fresh = {name: [i for i in instances if not older(name, i)] for name, instances in measures["attrs"].items()}
    fresh = {name: instances for name, instances in fresh.items() if instances}
    if not fresh:
        return entity, late
    return merge_entity(entity, {**measures, "attrs": fresh}, now=T1)[0], late


_INSTANT = st.sampled_from(["2026-11-28T09:00:00.000000Z", "2026-11-28T10:00:00.000000Z", "2026-11-28T10:30:00.000000Z"])
_MEASURE = st.fixed_dictionaries(
    {"value": st.one_of(st.integers(-5, 5), st.sampled_from(["on", "off", NGSI_LD_NULL]))},
    optional={"observedAt": _INSTANT, "datasetId": st.sampled_from(["urn:ngsi-ld:Dataset:a", "urn:ngsi-ld:Dataset:b"]),
              "unitCode": st.sampled_from(["WTT", "KWH"]), "quality": st.just({"value": 1})})
_ATTRIBUTES = st.dictionaries(st.sampled_from(["speed", "power", "state"]),
                              st.one_of(_MEASURE, st.lists(_MEASURE, min_size=1, max_size=3)), max_size=3)


def _without_nulls(body):
    return {name: [m for m in (value if isinstance(value, list) else [value]) if m["value"] != NGSI_LD_NULL]
            for name, value in body.items()}


def _one_per_dataset(instances):
    return list({m.get("datasetId"): m for m in instances}.values())


@settings(max_examples=300, deadline=None)
@given(before=_ATTRIBUTES, measures=_ATTRIBUTES, scope=st.booleans(), new_type=st.booleans())
def test_merge_measures_is_a_merge_of_the_measures_not_late(before, measures, scope, new_type):
    body = {name: _one_per_dataset(instances) for name, instances in _without_nulls(before).items() if instances}
    entity = stored(**body)
    given_fragment = fragment({name: _one_per_dataset(value if isinstance(value, list) else [value])
                               for name, value in measures.items()}, allow_null=True, merge=True)
    if scope:
        given_fragment["scope"] = ["/Rennes"]
    if new_type:
        given_fragment["type"] = [iri("Sensor")]
    frozen_before = frozen(entity)
    assert merge_measures(entity, given_fragment, now=T1) == _merge_then_split(entity, given_fragment)
    assert frozen(entity) == frozen_before

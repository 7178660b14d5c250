"""Output: normalized, concise and keyValues representations and their options (clauses 4.5, 4.15, 4.21, 6.3)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from territoires.ngsild.context import compile_context
from territoires.ngsild.entity import RESERVED_NAMES, parse_entity
from territoires.ngsild.errors import BadRequestData
from territoires.ngsild.model import NGSI_LD_NULL
from territoires.ngsild.render import render_entity

NOW = "2026-11-28T10:00:00.000000Z"
SDM = "https://smartdatamodels.org/"
CTX_TERMS = {
    "Streetlight": SDM + "dataModel.Streetlighting/Streetlight",
    "powerState": SDM + "dataModel.Streetlighting/powerState",
    "dimmingLevel": SDM + "dataModel.Streetlighting/dimmingLevel",
    "refStreetlightControlCabinet": SDM + "dataModel.Streetlighting/refStreetlightControlCabinet",
    "WasteContainer": SDM + "dataModel.WasteManagement/WasteContainer",
    "fillingLevel": SDM + "dataModel.WasteManagement/fillingLevel",
    "ParkingSpot": SDM + "dataModel.Parking/ParkingSpot",
    "AirQualityObserved": SDM + "dataModel.Environment/AirQualityObserved",
        "NO2": SDM + "dataModel.Environment/NO2",
    "Person": "https://schema.org/Person",
    "Male": "https://schema.org/Male",
}
# An inline user context on top of the core context (nothing to fetch).
CTX = compile_context(CTX_TERMS, None)
CORE = compile_context(None, None)


def parse(body, ctx=CTX):
    return parse_entity(body, ctx, now=NOW)


# ---- Smart Data Models payloads, each in the three forms -------------------------------------------
# Derived from the smart-data-models examples (dataModel.Streetlighting, .WasteManagement, .Parking,
# .Environment), with the attributes a territory sends daily.

STREETLIGHT = {
    "normalized": {
        "id": "urn:ngsi-ld:Streetlight:streetlight:guadalajara:4567",
        "type": "Streetlight",
        "areaServed": {"type": "Property", "value": "Roundabouts city entrance"},
        "circuit": {"type": "Property", "value": "C-456-A467"},
        "dateLastLampChange": {"type": "Property", "value": {"@type": "DateTime", "@value": "2016-07-08T08:02:21.753Z"}},
        "dimmingLevel": {"type": "Property", "value": 0.8, "unitCode": "P1", "observedAt": "2026-11-28T09:00:00Z"},
        "lanternHeight": {"type": "Property", "value": 10, "unitCode": "MTR"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [-3.164485591715449, 40.62785133667262]}},
        "municipalityInfo": {
            "type": "Property",
            "value": {"district": "Bangalore Urban", "ulbName": "BMC", "cityId": "23", "wardNum": 4},
            "deviceInfo": {
                "type": "Property",
                "value": {"rfId": "5634684", "deviceName": "SL1", "deviceModel": {"brandName": "abc", "modelName": "SL1"}},
            },
        },
        "powerState": {"type": "Property", "value": "off"},
        "refStreetlightControlCabinet": {
            "type": "Relationship", "object": "urn:ngsi-ld:StreetlightControlCabinet:cabinet:guadalajara:G3"},
        "refStreetlightGroup": {"type": "Relationship", "object": "urn:ngsi-ld:StreetlightGroup:streetlightgroup:G345"},
        "status": {"type": "Property", "value": "ok"},
    },
    "concise": {
        "id": "urn:ngsi-ld:Streetlight:streetlight:guadalajara:4567",
        "type": "Streetlight",
        "areaServed": "Roundabouts city entrance",
        "circuit": "C-456-A467",
        "dateLastLampChange": {"@type": "DateTime", "@value": "2016-07-08T08:02:21.753Z"},
        "dimmingLevel": {"value": 0.8, "unitCode": "P1", "observedAt": "2026-11-28T09:00:00Z"},
        "lanternHeight": {"value": 10, "unitCode": "MTR"},
        "location": {"type": "Point", "coordinates": [-3.164485591715449, 40.62785133667262]},
        "municipalityInfo": {
            "value": {"district": "Bangalore Urban", "ulbName": "BMC", "cityId": "23", "wardNum": 4},
            "deviceInfo": {"rfId": "5634684", "deviceName": "SL1", "deviceModel": {"brandName": "abc", "modelName": "SL1"}},
        },
        "powerState": "off",
        "refStreetlightControlCabinet": {"object": "urn:ngsi-ld:StreetlightControlCabinet:cabinet:guadalajara:G3"},
        "refStreetlightGroup": {"object": "urn:ngsi-ld:StreetlightGroup:streetlightgroup:G345"},
        "status": "ok",
    },
    "keyValues": {
        "id": "urn:ngsi-ld:Streetlight:streetlight:guadalajara:4567",
        "type": "Streetlight",
        "areaServed": "Roundabouts city entrance",
        "circuit": "C-456-A467",
        "controllingMethod": "individual",
        "current": 250,
        "dateLastLampChange": {"@type": "DateTime", "@value": "2016-07-08T08:02:21.753Z"},
        "deviceInfo": {"rfID": "5634684", "deviceBatteryStatus": "Connected", "deviceName": "SL1",
                       "deviceModel": {"brandName": "abc", "manufacturerName": "xyz", "modelName": "SL1"}},
        "dimmingLevel": 0.8,
        "lanternHeight": 10,
        "location": {"coordinates": [-3.164485591715449, 40.62785133667262], "type": "Point"},
        "observationDateTime": "2021-01-11T15:51:02+05:30",
        "powerState": "off",
        "refStreetlightControlCabinet": "urn:ngsi-ld:StreetlightControlCabinet:cabinet:guadalajara:G3",
        "status": "ok",
        "voltage": 50,
    },
}

WASTE_CONTAINER = {
    "normalized": {
        "id": "urn:ngsi-ld:WasteContainer:wastecontainer:1021:AAWD",
        "type": "WasteContainer",
        "RFID": {"type": "Property", "value": "67855734"},
        "binCapacity": {"type": "Property", "value": 43, "unitCode": "LTR"},
        "binColor": {"type": "Property", "value": "Green"},
        "fillingLevel": {"type": "Property", "value": 0.65, "unitCode": "P1", "observedAt": "2026-11-28T06:45:00Z"},
        "license_plate": {"type": "Property", "value": "KA23F2345"},
        "location": {"type": "GeoProperty", "value": {"coordinates": [-8.768460000000001, 42.60214472222222], "type": "Point"}},
        "refWasteContainerIsle": {"type": "Relationship", "object": "urn:ngsi-ld:WasteContainerIsle:Rennes:12"},
        "wardId": {"type": "Property", "value": "21"},
    },
    "concise": {
        "id": "urn:ngsi-ld:WasteContainer:wastecontainer:1021:AAWD",
        "type": "WasteContainer",
        "RFID": "67855734",
        "binCapacity": {"value": 43, "unitCode": "LTR"},
        "binColor": "Green",
        "fillingLevel": {"value": 0.65, "unitCode": "P1", "observedAt": "2026-11-28T06:45:00Z"},
        "license_plate": "KA23F2345",
        "location": {"coordinates": [-8.768460000000001, 42.60214472222222], "type": "Point"},
        "refWasteContainerIsle": {"object": "urn:ngsi-ld:WasteContainerIsle:Rennes:12"},
        "wardId": "21",
    },
    "keyValues": {
        "id": "urn:ngsi-ld:WasteContainer:wastecontainer:1021:AAWD",
        "type": "WasteContainer",
        "RFID": "67855734",
        "binCapacity": 43,
        "binCategory": "Household Bin",
        "binClearedTime": "2021-03-11T15:51:02+05:30",
        "binColor": "Green",
        "fillingLevel": 0.65,
        "license_plate": "KA23F2345",
        "location": {"coordinates": [-8.768460000000001, 42.60214472222222], "type": "Point"},
        "wardId": "21",
    },
}

PARKING_SPOT = {
    "normalized": {
        "id": "urn:ngsi-ld:ParkingSpot:santander:daoiz_velarde_1_5:3",
        "type": "ParkingSpot",
        "category": {"type": "Property", "value": ["onStreet"]},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [-3.80356167695194, 43.46296641666926]}},
        "name": {"type": "Property", "value": "A-13"},
        "refParkingSite": {"type": "Relationship", "object": "urn:ngsi-ld:ParkingSite:santander:daoiz_velarde_1_5"},
        "status": {
            "type": "Property", "value": "free", "observedAt": "2018-09-21T12:00:00Z",
            "parkingPermit": {"type": "Property", "value": "yes"},
        },
    },
    "concise": {
        "id": "urn:ngsi-ld:ParkingSpot:santander:daoiz_velarde_1_5:3",
        "type": "ParkingSpot",
        "category": ["onStreet"],
        "location": {"type": "Point", "coordinates": [-3.80356167695194, 43.46296641666926]},
        "name": "A-13",
        "refParkingSite": {"object": "urn:ngsi-ld:ParkingSite:santander:daoiz_velarde_1_5"},
        "status": {"value": "free", "observedAt": "2018-09-21T12:00:00Z", "parkingPermit": "yes"},
    },
    "keyValues": {
        "category": ["onStreet"],
        "id": "urn:ngsi-ld:ParkingSpot:santander:daoiz_velarde_1_5:3",
        "location": {"coordinates": [-3.80356167695194, 43.46296641666926], "type": "Point"},
        "name": "A-13",
        "refParkingSite": "urn:ngsi-ld:ParkingSite:santander:daoiz_velarde_1_5",
        "status": "free",
        "type": "ParkingSpot",
    },
}

_ADDRESS = {"addressCountry": "ES", "addressLocality": "Madrid", "streetAddress": "Plaza de España", "type": "PostalAddress"}
AIR_QUALITY = {
    "normalized": {
        "id": "urn:ngsi-ld:AirQualityObserved:Madrid-AmbientObserved-28079004-2016-03-15T11:00:00",
        "type": "AirQualityObserved",
        "NO2": [
            {"type": "Property", "value": 69, "unitCode": "GQ", "observedAt": "2016-03-15T11:00:00Z",
             "datasetId": "urn:ngsi-ld:Dataset:sensor-A"},
            {"type": "Property", "value": 73, "unitCode": "GQ", "observedAt": "2016-03-15T11:00:00Z",
             "datasetId": "urn:ngsi-ld:Dataset:sensor-B"},
        ],
        "address": {"type": "Property", "value": _ADDRESS},
        "airQualityLevel": {"type": "Property", "value": "moderate"},
        "dateObserved": {"type": "Property", "value": "2016-03-15T11:00:00/2016-03-15T12:00:00"},
        "location": {"type": "GeoProperty", "value": {"coordinates": [-3.712247222222222, 40.423852777777775], "type": "Point"}},
        "refPointOfInterest": {"type": "Relationship", "object": "urn:ngsi-ld:PointOfInterest:28079004-Pza.deEspanya"},
        "relativeHumidity": {"type": "Property", "value": 0.54, "unitCode": "P1"},
        "temperature": {"type": "Property", "value": 12.2, "unitCode": "CEL"},
    },
    "concise": {
        "id": "urn:ngsi-ld:AirQualityObserved:Madrid-AmbientObserved-28079004-2016-03-15T11:00:00",
        "type": "AirQualityObserved",
        "NO2": [
            {"value": 69, "unitCode": "GQ", "observedAt": "2016-03-15T11:00:00Z", "datasetId": "urn:ngsi-ld:Dataset:sensor-A"},
            {"value": 73, "unitCode": "GQ", "observedAt": "2016-03-15T11:00:00Z", "datasetId": "urn:ngsi-ld:Dataset:sensor-B"},
        ],
        "address": {"value": _ADDRESS},
        "airQualityLevel": "moderate",
        "dateObserved": "2016-03-15T11:00:00/2016-03-15T12:00:00",
        "location": {"coordinates": [-3.712247222222222, 40.423852777777775], "type": "Point"},
        "refPointOfInterest": {"object": "urn:ngsi-ld:PointOfInterest:28079004-Pza.deEspanya"},
        "relativeHumidity": {"value": 0.54, "unitCode": "P1"},
        "temperature": {"value": 12.2, "unitCode": "CEL"},
    },
    "keyValues": {
        "id": "urn:ngsi-ld:AirQualityObserved:Madrid-AmbientObserved-28079004-2016-03-15T11:00:00",
        "type": "AirQualityObserved",
        "CO": 500,
        "CO_Level": "moderate",
        "NO2": {"dataset": {"urn:ngsi-ld:Dataset:sensor-A": 69, "urn:ngsi-ld:Dataset:sensor-B": 73}},
        "address": _ADDRESS,
        "airQualityIndex": 65,
        "dateObserved": "2016-03-15T11:00:00/2016-03-15T12:00:00",
        "location": {"coordinates": [-3.712247222222222, 40.423852777777775], "type": "Point"},
        "refPointOfInterest": "urn:ngsi-ld:PointOfInterest:28079004-Pza.deEspanya",
        "relativeHumidity": 0.54,
        "source": "http://datos.madrid.es",
        "temperature": 12.2,
    },
}

PAYLOADS = {"Streetlight": STREETLIGHT, "WasteContainer": WASTE_CONTAINER, "ParkingSpot": PARKING_SPOT,
            "AirQualityObserved": AIR_QUALITY}
CASES = [(name, form) for name in PAYLOADS for form in ("normalized", "concise", "keyValues")]


@pytest.mark.parametrize("name, form", CASES)
def test_smart_data_models_round_trip(name, form):
    body = PAYLOADS[name][form]
    rendered = render_entity(parse(body), CTX, form=form)
    assert rendered == body
    orjson.dumps(rendered)  # ready for orjson


@pytest.mark.parametrize("name", PAYLOADS)
def test_smart_data_models_normalized_and_concise_describe_one_entity(name):
    normalized, concise = PAYLOADS[name]["normalized"], PAYLOADS[name]["concise"]
    assert parse(normalized) == parse(concise)
    entity = parse(normalized)
    assert render_entity(entity, CTX, form="concise") == concise
    assert parse(render_entity(entity, CTX, form="concise")) == entity


def test_streetlight_internal_names_are_expanded():
    entity = parse(STREETLIGHT["normalized"])
    assert entity["type"] == [SDM + "dataModel.Streetlighting/Streetlight"]
    assert SDM + "dataModel.Streetlighting/refStreetlightControlCabinet" in entity["attrs"]
    assert "https://uri.etsi.org/ngsi-ld/default-context/circuit" in entity["attrs"]


def test_557_01_03_unmatched_iri_compacts_to_the_full_name():
    rendered = render_entity(parse(STREETLIGHT["concise"]), CORE, form="concise")
    assert rendered["type"] == SDM + "dataModel.Streetlighting/Streetlight"
    assert rendered[SDM + "dataModel.Streetlighting/powerState"] == "off"
    assert rendered["circuit"] == "C-456-A467"


# ---- concise: what must keep its type or its "value" member -------------------------------------------

AMBIGUOUS_VALUES = [
    {"type": "Point", "coordinates": [1, 2]},  # a Property holding a geometry
    {"type": "Feature", "geometry": None},
    {"value": 1, "unitCode": "MTR"},
    {"object": "urn:x:y"},
    {"languageMap": {"fr": "x"}},
    {"@context": "https://ex.org", "a": 1},
    [{"type": "Property", "value": 1}],
    [{"value": 1}, {"value": 2}],
]


@pytest.mark.parametrize("value", AMBIGUOUS_VALUES)
def test_concise_keeps_what_would_read_back_otherwise(value):
    entity = parse({"id": "urn:x:1", "type": "T", "p": {"type": "Property", "value": value}})
    concise = render_entity(entity, CTX, form="concise")
    assert parse(concise) == entity
    assert concise["p"] != value


def test_concise_several_instances_are_attribute_objects():
    entity = parse({"id": "urn:x:1", "type": "T", "p": [{"type": "Property", "value": 1},
                                                       {"type": "Property", "value": 2, "datasetId": "urn:d:2"}]})
    assert render_entity(entity, CTX, form="concise")["p"] == [{"value": 1}, {"value": 2, "datasetId": "urn:d:2"}]


def test_4522_01_01_object_list_forms():
    entity = parse({"id": "urn:x:1", "type": "Vehicle", "route": {"objectList": ["urn:ngsi-ld:Road:1", "urn:ngsi-ld:Road:2"]}})
    assert render_entity(entity, CTX)["route"] == {
        "type": "ListRelationship", "objectList": [{"object": "urn:ngsi-ld:Road:1"}, {"object": "urn:ngsi-ld:Road:2"}]}
    assert render_entity(entity, CTX, form="concise")["route"] == {"objectList": ["urn:ngsi-ld:Road:1", "urn:ngsi-ld:Road:2"]}
    assert render_entity(entity, CTX, form="keyValues")["route"] == ["urn:ngsi-ld:Road:1", "urn:ngsi-ld:Road:2"]


# ---- keyValues (clause 4.5.4) ----------------------------------------------------------------------------

VEHICLE = {
    "id": "urn:ngsi-ld:Vehicle:A4567",
    "type": "Vehicle",
    "speed": [{"type": "Property", "value": 55}, {"type": "Property", "value": 11, "datasetId": "urn:ngsi-ld:Dataset:gps"}],
    "brandName": {"type": "LanguageProperty", "languageMap": {"en": "hi"}},
    "street": {"type": "JsonProperty", "json": {"a": 1}},
    "gender": {"type": "VocabProperty", "vocab": "Male"},
    "tyreTreadDepths": {"type": "ListProperty", "valueList": [1.2, 3.4], "unitCode": "MMT"},
    "isParked": {"type": "Relationship", "object": "urn:ngsi-ld:OffStreetParking:1", "observedAt": "2017-07-29T12:00:04Z",
                 "providedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Person:Bob"}},
    "passengers": {"type": "Relationship", "objectType": "Person", "object": ["urn:ngsi-ld:Person:Alice", "urn:ngsi-ld:Person:Bob"]},
    "route": {"type": "ListRelationship", "objectList": [{"object": "urn:ngsi-ld:Road:1"}, {"object": "urn:ngsi-ld:Road:2"}]},
}


def test_vehicle_normalized_round_trip_compacts_vocab_and_object_type():
    entity = parse(VEHICLE)
    assert entity["attrs"]["https://uri.etsi.org/ngsi-ld/default-context/gender"][0]["vocab"] == "https://schema.org/Male"
    assert render_entity(entity, CTX) == VEHICLE
    assert parse(render_entity(entity, CTX, form="concise")) == entity


def test_454_01_simplified_representation_per_attribute_type():
    assert render_entity(parse(VEHICLE), CTX, form="keyValues") == {
        "id": "urn:ngsi-ld:Vehicle:A4567",
        "type": "Vehicle",
        "speed": {"dataset": {"@none": 55, "urn:ngsi-ld:Dataset:gps": 11}},
        "brandName": {"languageMap": {"en": "hi"}},
        "street": {"json": {"a": 1}},
        "gender": {"vocab": "Male"},
        "tyreTreadDepths": [1.2, 3.4],
        "isParked": "urn:ngsi-ld:OffStreetParking:1",
        "passengers": ["urn:ngsi-ld:Person:Alice", "urn:ngsi-ld:Person:Bob"],
        "route": ["urn:ngsi-ld:Road:1", "urn:ngsi-ld:Road:2"],
    }


def test_keyvalues_single_instance_with_dataset_id_keeps_it():
    entity = parse({"id": "urn:x:1", "type": "T", "p": {"value": 1, "datasetId": "urn:d:1"}})
    assert render_entity(entity, CTX, form="keyValues")["p"] == {"dataset": {"urn:d:1": 1}}


# ---- options ---------------------------------------------------------------------------------------------


def test_sys_attrs_on_entity_attributes_and_sub_attributes():
    entity = parse(PARKING_SPOT["normalized"])
    rendered = render_entity(entity, CTX, sys_attrs=True)
    assert (rendered["createdAt"], rendered["modifiedAt"]) == (NOW, NOW)
    assert rendered["status"]["createdAt"] == NOW
    assert rendered["status"]["parkingPermit"]["modifiedAt"] == NOW
    concise = render_entity(entity, CTX, form="concise", sys_attrs=True)
    assert concise["name"] == {"value": "A-13", "createdAt": NOW, "modifiedAt": NOW}
    assert parse(concise) == entity  # system attributes are ignored on input
    simplified = render_entity(entity, CTX, form="keyValues", sys_attrs=True)
    assert (simplified["createdAt"], simplified["name"]) == (NOW, "A-13")
    assert "createdAt" not in render_entity(entity, CTX)


def test_6311_01_expires_at_only_with_sys_attrs():
    entity = parse({"id": "urn:x:1", "type": "T", "expiresAt": "2030-01-01T00:00:00Z",
                    "p": {"value": 1, "expiresAt": "2029-01-01T00:00:00Z"}})
    assert "expiresAt" not in render_entity(entity, CTX)
    assert "expiresAt" not in render_entity(entity, CTX)["p"]
    rendered = render_entity(entity, CTX, sys_attrs=True)
    assert (rendered["expiresAt"], rendered["p"]["expiresAt"]) == ("2030-01-01T00:00:00Z", "2029-01-01T00:00:00Z")


def test_attrs_projection():
    entity = parse(STREETLIGHT["normalized"])
    keep = frozenset({CTX.expand("powerState"), CTX.expand("location")})
    assert render_entity(entity, CTX, attrs=keep) == {
        "id": STREETLIGHT["normalized"]["id"], "type": "Streetlight",
        "location": STREETLIGHT["normalized"]["location"], "powerState": STREETLIGHT["normalized"]["powerState"]}
    assert render_entity(entity, CTX, attrs=frozenset()) == {"id": STREETLIGHT["normalized"]["id"], "type": "Streetlight"}


BUILDING = {"id": "urn:ngsi-ld:Building:randomUUID", "type": "Building",
            "name": {"type": "Property", "value": "Eiffel Tower"},
            "subCategory": {"type": "Property", "value": "tourism"},
            "airQualityLevel": {"type": "Property", "value": 4, "unitCode": "C62", "observedAt": "2020-09-09T16:40:00.000Z"},
            "almostFull": {"type": "Property", "value": False}}


@pytest.mark.parametrize("pick, omit, expected", [
    ({"name"}, None, {"name": BUILDING["name"]}),
    (None, {"name"}, {k: v for k, v in BUILDING.items() if k != "name"}),
    ({"id"}, None, {"id": BUILDING["id"]}),
    (None, {"id"}, {k: v for k, v in BUILDING.items() if k != "id"}),
    ({"id", "name"}, None, {"id": BUILDING["id"], "name": BUILDING["name"]}),
    (None, {"type", "name"}, {k: v for k, v in BUILDING.items() if k not in ("type", "name")}),
    ({"@id", "@type"}, None, {"id": BUILDING["id"], "type": "Building"}),
])
def test_018_17_pick_and_omit(pick, omit, expected):
    def expanded(names):
        return None if names is None else frozenset(n if n in ("id", "type", "@id", "@type") else CTX.expand(n) for n in names)

    assert render_entity(parse(BUILDING), CTX, pick=expanded(pick), omit=expanded(omit)) == expected


def test_scope_rendering_and_pick():
    entity = parse({"id": "urn:x:1", "type": "T", "scope": ["/Rennes/Nord", "/Rennes/Sud"], "p": 1})
    assert render_entity(entity, CTX)["scope"] == ["/Rennes/Nord", "/Rennes/Sud"]
    assert render_entity(parse({"id": "urn:x:1", "type": "T", "scope": "/Rennes"}), CTX)["scope"] == "/Rennes"
    assert "scope" not in render_entity(entity, CTX, pick=frozenset({"id"}))
    assert render_entity(entity, CTX, omit=frozenset({"https://uri.etsi.org/ngsi-ld/scope"})).keys() == {"id", "type", "p"}


def test_dataset_id_filter():
    entity = parse(AIR_QUALITY["normalized"])
    rendered = render_entity(entity, CTX, dataset_id=frozenset({"urn:ngsi-ld:Dataset:sensor-B"}))
    assert rendered["NO2"] == AIR_QUALITY["normalized"]["NO2"][1]
    assert "temperature" not in rendered  # no instance of that dataset: not returned (clause 4.5.5)
    defaults = render_entity(entity, CTX, dataset_id=frozenset({"@none"}))
    assert "NO2" not in defaults and defaults["temperature"]["value"] == 12.2


def test_several_types():
    entity = parse({"id": "urn:x:1", "type": ["Streetlight", "Device"]})
    assert render_entity(entity, CTX)["type"] == ["Streetlight", "Device"]


# ---- lang (clause 4.15) -----------------------------------------------------------------------------------

STREET = {"id": "urn:x:1", "type": "Building", "street": {
    "type": "LanguageProperty", "languageMap": {"fr": "Grand Place", "nl": "Grote Markt", "en-US": "Main Square", "de": "Marktplatz"},
    "observedAt": "2026-01-01T00:00:00Z"}}


@pytest.mark.parametrize("lang, tag", [
    ("fr", "fr"),
    ("FR", "fr"),  # tags compare case-insensitively
    ("fr;q=0.2,nl;q=0.9", "nl"),  # quality values outrank list position
    ("nl-BE", "nl"),  # a longer range falls back to its prefix
    ("en", "en-US"),  # a shorter range matches a longer tag
    ("es", "fr"),  # nothing matches: any supported language
    ("*", "fr"),
    ("fr-CH,fr;q=0.9,en;q=0.8,*;q=0.5", "fr"),
    ("es,de;q=0", "fr"),  # q=0: not acceptable
])
def test_415_01_language_filter(lang, tag):
    entity = parse(STREET)
    value = STREET["street"]["languageMap"][tag]
    assert render_entity(entity, CTX, lang=lang)["street"] == {
        "type": "Property", "value": value, "lang": tag, "observedAt": "2026-01-01T00:00:00Z"}
    assert render_entity(entity, CTX, form="concise", lang=lang)["street"] == {
        "value": value, "lang": tag, "observedAt": "2026-01-01T00:00:00Z"}
    assert render_entity(entity, CTX, form="keyValues", lang=lang)["street"] == value


def test_018_07_language_filter_default_language_first():
    entity = parse({"id": "urn:x:1", "type": "T", "street": {"languageMap": {"fr": "Grand Place", "@none": "Grote Markt"}}})
    assert render_entity(entity, CTX, form="keyValues", lang="de")["street"] == "Grote Markt"
    assert render_entity(entity, CTX, form="keyValues")["street"] == {"languageMap": {"fr": "Grand Place", "@none": "Grote Markt"}}


@pytest.mark.parametrize("lang", ["fr;q=2", "fr;x=1", "fr;q=a", "f r", ""])
def test_malformed_lang_is_bad_request_data(lang):
    with pytest.raises(BadRequestData, match="lang"):
        render_entity(parse(STREET), CTX, lang=lang)


def test_unknown_form_is_bad_request_data():
    with pytest.raises(BadRequestData, match="representation"):
        render_entity(parse(STREET), CTX, form="simplified")


def test_rendering_does_not_modify_the_entity():
    entity = parse(VEHICLE)
    before = orjson.dumps(entity)
    for form in ("normalized", "concise", "keyValues"):
        render_entity(entity, CTX, form=form, sys_attrs=True, lang="en")
    assert orjson.dumps(entity) == before


# ---- round trips over generated entities ------------------------------------------------------------------

_GEOMETRIES = [
    {"type": "Point", "coordinates": [2.35, 48.85]},
    {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]},
]
_names = st.from_regex(r"[a-z][A-Za-z0-9_]{0,8}", fullmatch=True).filter(
    lambda n: n not in RESERVED_NAMES and n not in ("location", "observationSpace", "operationSpace", "ngsildproof")
    and not CTX.expand(n).startswith("@") and CTX.compact(CTX.expand(n)) == n
)
_text = st.text(max_size=8).filter(lambda s: s != NGSI_LD_NULL)
_scalars = st.one_of(st.booleans(), st.integers(-2**53, 2**53), st.floats(allow_nan=False, allow_infinity=False), _text)
_keys = st.one_of(st.sampled_from(["type", "value", "object", "@context", "coordinates", "languageMap"]), _text)
_json = st.recursive(
    _scalars,
    lambda kids: st.lists(st.one_of(kids, st.none()), max_size=3)
    | st.dictionaries(_keys, st.one_of(kids, st.none()), max_size=3),
    max_leaves=8,
)
_values = st.one_of(_json, st.sampled_from(_GEOMETRIES + [{"type": "Feature"}, [{"type": "Property", "value": 1}]]))
_uris = st.from_regex(r"urn:ngsi-ld:[A-Z][a-z]{0,5}:[A-Za-z0-9]{1,6}", fullmatch=True)
_dates = st.sampled_from(["2026-11-28T10:00:00Z", "2020-09-09T16:40:00.000Z"])
_tags = st.sampled_from(["fr", "en", "nl-BE", "@none"])


def _attribute(depth: int):
    def with_members(base, members):
        return st.fixed_dictionaries(base, optional=members)

    unit = {"unitCode": st.sampled_from(["MTR", "CEL", "P1"]), "observedAt": _dates}
    subs = {} if depth > 1 else {"accuracy": _attribute(depth + 1), "providedBy": _attribute(depth + 1)}
    kinds = [
        with_members({"type": st.just("Property"), "value": _values}, {**unit, **subs, "lang": _tags.filter(lambda t: t != "@none")}),
        with_members({"type": st.just("GeoProperty"), "value": st.sampled_from(_GEOMETRIES)}, {"observedAt": _dates, **subs}),
        with_members({"type": st.just("Relationship"), "object": st.one_of(_uris, st.lists(_uris, min_size=1, max_size=3))},
                     {"objectType": _names, "observedAt": _dates, **subs}),
        with_members({"type": st.just("LanguageProperty"),
                      "languageMap": st.dictionaries(_tags, st.one_of(_text, st.lists(_text, min_size=1, max_size=2)), min_size=1)}, subs),
        with_members({"type": st.just("VocabProperty"), "vocab": st.one_of(_names, st.lists(_names, min_size=1, max_size=2))}, subs),
        with_members({"type": st.just("JsonProperty"), "json": st.dictionaries(_keys, _json, max_size=3)}, subs),
        with_members({"type": st.just("ListProperty"), "valueList": st.lists(_json, max_size=3)}, {**unit, **subs}),
        with_members({"type": st.just("ListRelationship"),
                      "objectList": st.lists(_uris.map(lambda u: {"object": u}), max_size=3)}, subs),
    ]
    return st.one_of(kinds)


@st.composite
def _attributes(draw):
    instance = draw(_attribute(0))
    count = draw(st.integers(0, 2))
    if not count:
        return instance
    datasets = draw(st.lists(_uris, min_size=count, max_size=count, unique=True))
    return [instance] + [{**draw(_attribute(0)), "datasetId": d} for d in datasets]


_entities = st.fixed_dictionaries(
    {"id": _uris, "type": st.one_of(_names, st.lists(_names, min_size=2, max_size=3, unique=True))},
    optional={"scope": st.sampled_from(["/Rennes", ["/Rennes/Nord", "Brest"]])},
).flatmap(lambda e: st.dictionaries(_names, _attributes(), max_size=5).map(lambda attrs: {**attrs, **e}))


@settings(max_examples=200, deadline=None)
@given(body=_entities)
def test_generated_entities_round_trip(body):
    entity = parse(body)
    assert render_entity(entity, CTX) == body
    concise = render_entity(entity, CTX, form="concise")
    assert parse(concise) == entity
    assert render_entity(parse(concise), CTX, form="concise") == concise
    # keyValues is lossy (a value may look like an attribute): only its shape is checked here.
    simplified = render_entity(entity, CTX, form="keyValues")
    assert simplified.keys() == body.keys()
    orjson.dumps(concise)
    orjson.dumps(simplified)

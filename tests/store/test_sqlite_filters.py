"""q, scopeQ and type expressions compiled to SQLite and run over Smart Data Models entities."""

from __future__ import annotations

import datetime as dt
import operator
import re
import sqlite3
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from territoires.ngsild.errors import BadRequestData, NgsiLdError
from territoires.ngsild.query import (
    MAX_DEPTH,
    MAX_TERMS,
    AnyOf,
    AttrPath,
    Comparison,
    Exists,
    InRange,
    Pattern,
    Value,
    parse_q,
    parse_scope_q,
    parse_type_expr,
)
from territoires.store.sqlite_filters import compile_q, compile_scope_q, compile_type_expr, register_functions

SDM = "https://smartdatamodels.org/"
CORE = "https://uri.etsi.org/ngsi-ld/"


def expand(name: str) -> str:
    """A stand-in @context: schema: prefix, IRIs kept, other names under the SDM vocabulary."""
    if name.startswith("schema:"):
        return "https://schema.org/" + name[len("schema:"):]
    if ":" in name:
        return name
    return SDM + name


# ---- entity documents in the internal form (ngsild/model.py) ---------------------------------

T0 = "2026-11-01T00:00:00Z"


def prop(value: Any, **extra: Any) -> dict:
    return {"type": "Property", "value": value, "createdAt": T0, "modifiedAt": T0, **_sub(extra)}


def rel(obj: Any, **extra: Any) -> dict:
    return {"type": "Relationship", "object": obj, "createdAt": T0, "modifiedAt": T0, **_sub(extra)}


def lang(language_map: dict) -> dict:
    return {"type": "LanguageProperty", "languageMap": language_map, "createdAt": T0, "modifiedAt": T0}


def vocab(v: Any) -> dict:
    return {"type": "VocabProperty", "vocab": v, "createdAt": T0, "modifiedAt": T0}


def jsonp(j: Any) -> dict:
    return {"type": "JsonProperty", "json": j, "createdAt": T0, "modifiedAt": T0}


def listp(values: list) -> dict:
    return {"type": "ListProperty", "valueList": values, "createdAt": T0, "modifiedAt": T0}


def listr(objects: list) -> dict:
    return {"type": "ListRelationship", "objectList": objects, "createdAt": T0, "modifiedAt": T0}


def geo(lon: float, lat: float) -> dict:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}, "createdAt": T0,
            "modifiedAt": T0}


def _sub(extra: dict) -> dict:
    """Keyword arguments: instance members as they are, ``sub`` as sub-attributes (expanded)."""
    sub = extra.pop("sub", None)
    if sub:
        extra["attrs"] = {expand(k): v for k, v in sub.items()}
    return extra


def entity(eid: str, types: str | list[str], scope: list[str] | None = None, **attrs: Any) -> dict:
    doc: dict[str, Any] = {
        "id": eid,
        "type": [expand(t) for t in ([types] if isinstance(types, str) else types)],
        "createdAt": T0,
        "modifiedAt": T0,
        "attrs": {expand(k): v if isinstance(v, list) else [v] for k, v in attrs.items()},
    }
    if scope:
        doc["scope"] = scope
    return doc


def urn(kind: str, local: str) -> str:
    return f"urn:ngsi-ld:{kind}:{local}"


CABINET_A, CABINET_B = urn("StreetlightControlCabinet", "A"), urn("StreetlightControlCabinet", "B")
LUX_METER = urn("Dataset", "lux-meter")

ENTITIES = [
    # -- street lighting
    entity(urn("Streetlight", "1"), "Streetlight", ["/Rennes/Nord"],
           powerState=prop("on"),
           luminosity=prop(80, unitCode="CDL", observedAt="2026-11-28T10:00:00Z"),
           lanternHeight=prop(8.5, unitCode="MTR"),
           status=prop("ok"),
           refStreetlightControlCabinet=rel(CABINET_A),
           description=lang({"fr": "Lampadaire rue de la Paix", "en": "Streetlight on Peace street"}),
           dateLastLamped=prop({"@type": "DateTime", "@value": "2026-01-15T08:00:00Z"}),
           location=geo(-1.68, 48.11)),
    entity(urn("Streetlight", "2"), "Streetlight", ["/Rennes/Sud"],
           powerState=prop("off"),
           luminosity=prop(0, unitCode="CDL", observedAt="2026-11-28T09:00:00Z"),
           lanternHeight=prop(10, unitCode="MTR"),
           status=prop("defectiveLamp"),
           refStreetlightControlCabinet=rel(CABINET_A),
           description=lang({"fr": ["Lampadaire", "éteint"], "en": "Broken light"}),
           dateLastLamped=prop("2025-06-01T12:30:00.500Z")),
    entity(urn("Streetlight", "3"), "Streetlight", ["/Rennes/Nord/Gare"],
           powerState=prop("on"),
           luminosity=[prop(55, observedAt="2026-11-28T11:00:00.123456Z"),
                       prop(62, datasetId=LUX_METER, observedAt="2026-11-28T11:05:00Z")],
           illuminanceLevel=prop(0.7),
           refStreetlightControlCabinet=rel(CABINET_B),
           dateLastLamped=prop("2026-09-30T23:59:59Z")),
    entity(urn("Streetlight", "4"), "Streetlight", ["/Brest"],
           powerState=prop("low"),
           luminosity=prop("80"),  # a string: never equal to the number 80
           lanternHeight=prop("10")),
    entity(urn("Streetlight", "5"), "Streetlight", ["/Rennes/Nord", "/Energie"],
           powerState=prop("on"),
           luminosity=prop(120.5, unitCode="CDL", observedAt="2026-11-28T10:30:00Z",
                           sub={"accuracy": prop(0.5, unitCode="P1"),
                                "measuredBy": rel(urn("Device", "lux1"))}),
           refDevice=rel([urn("Device", "lux1"), urn("Device", "lux2")])),
    entity(urn("Streetlight", "6"), ["Streetlight", "Device"], None,
           luminosity=prop(None),
           status=prop(["ok", "maintenance"]),
           controllingMethod=vocab(SDM + "automatic")),
    entity(urn("StreetlightControlCabinet", "A"), "StreetlightControlCabinet", ["/Rennes"],
           cupboardMadeOf=prop("plastic"),
           energyConsumed=prop(1520.75, unitCode="KWH", observedAt="2026-11-28T00:00:00Z"),
           dateMeterReading=prop("2026-11-28")),
    # -- waste collection
    entity(urn("WasteContainer", "1"), "WasteContainer", ["/Rennes/Nord", "/Collecte/Verre"],
           fillingLevel=prop(0.85, unitCode="P1", observedAt="2026-11-27T07:00:00Z"),
           status=prop("ok"),
           category=prop(["surface", "fixed"]),
           address=prop({"addressLocality": "Rennes", "streetAddress": "2 rue Saint-Malo", "postalCode": "35000"}),
           refWasteContainerModel=rel(urn("WasteContainerModel", "M1")),
           wasteType=vocab(SDM + "organic"),
           dateLastEmptying=prop("2026-11-20T06:00:00Z"),
           serialNumber=prop("SN-001-A")),
    entity(urn("WasteContainer", "2"), "WasteContainer", ["/Brest"],
           fillingLevel=prop(0.2, unitCode="P1", observedAt="2026-11-27T08:00:00Z"),
           status=prop("lidOpen"),
           category=prop(["underground"]),
           address=prop({"addressLocality": "Brest", "streetAddress": "1 quai Tabarly", "postalCode": "29200"}),
           refWasteContainerModel=rel(urn("WasteContainerModel", "M2")),
           wasteType=vocab([SDM + "glass", SDM + "paper"]),
           dateLastEmptying=prop("2026-10-01T06:00:00Z"),
           serialNumber=prop("SN-002-B")),
    entity(urn("WasteContainer", "3"), "WasteContainer", ["/Rennes/Sud"],
           fillingLevel=prop(0.5, unitCode="P1"),
           status=prop("ok"),
           category=prop("surface"),
           address=prop({"addressLocality": "Rennes", "geo": {"lat": 48.1, "lon": -1.6}}),
           serialNumber=prop("sn-003-c")),
    entity(urn("WasteContainer", "4"), "WasteContainer", ["/Rennes/Sud"],
           fillingLevel=[prop(0.95, datasetId=urn("Dataset", "ultrasound"), observedAt="2026-11-28T06:00:00Z"),
                         prop(0.4, datasetId=urn("Dataset", "weight"), observedAt="2026-11-28T06:00:00Z")],
           status=prop("dropped"),
           address=prop("4 rue de Brest, Rennes")),  # an address as plain text
    # -- parking
    entity(urn("ParkingSpot", "1"), "ParkingSpot", ["/Rennes/Centre"],
           status=prop("free"),
           category=listp(["onstreet", "forDisabled"]),
           refParkingSite=rel(urn("ParkingSite", "Centre")),
           refDevice=listr([{"object": urn("Device", "1")}, {"object": urn("Device", "2")}]),
           width=prop(2.5, unitCode="MTR"),
           length=prop(5, unitCode="MTR"),
           name=lang({"fr": "Place 1", "en": "Spot 1"}),
           openingTime=prop("08:00:00Z"),
           reservationDate=prop("2026-12-01"),
           occupancyModified=prop("2026-11-28T08:15:00Z")),
    entity(urn("ParkingSpot", "2"), "ParkingSpot", ["/Rennes/Centre"],
           status=prop("occupied"),
           category=listp(["offstreet"]),
           refParkingSite=rel(urn("ParkingSite", "Centre")),
           refDevice=listr([urn("Device", "3")]),
           width=prop(2.3, unitCode="MTR"),
           openingTime=prop("09:30:00Z"),
           reservationDate=prop("2026-11-15"),
           occupancyModified=prop("2026-11-28T08:15:00.000Z")),
    entity(urn("ParkingSpot", "3"), "ParkingSpot", ["/Brest"],
           status=prop("closed"),
           category=listp(["onstreet", 3, True]),
           refParkingSite=rel(urn("ParkingSite", "Port")),
           name=lang({"fr": "Quai"})),
    # -- air quality
    entity(urn("AirQualityObserved", "1"), "AirQualityObserved", ["/Rennes/Nord"],
           NO2=[prop(45, unitCode="GQ", observedAt="2026-11-28T10:00:00Z"),
                prop(52, unitCode="GQ", datasetId=urn("Dataset", "sensorB"), observedAt="2026-11-28T10:00:00Z")],
           temperature=prop(12.3, unitCode="CEL", sub={"accuracy": prop(0.1), "sensorModel": prop("BME280")}),
           pollutants=jsonp({"no2": {"value": 45, "unit": "GQ"}, "o3": 60}),
           airQualityLevel=prop("moderate"),
           isActive=prop(True),
           reliability=prop(0.9),
           refPointOfInterest=rel(urn("PointOfInterest", "Gare"))),
    entity(urn("AirQualityObserved", "2"), "AirQualityObserved", ["/Rennes/Sud"],
           NO2=prop(20, unitCode="GQ", observedAt="2026-11-28T09:00:00Z"),
           temperature=prop(11, unitCode="CEL", sub={"accuracy": prop(0.3)}),
           pollutants=jsonp({"no2": {"value": 20, "unit": "GQ"}}),
           airQualityLevel=prop("good"),
           isActive=prop(False),
           typeofLocation=prop("outdoor")),
    entity(urn("AirQualityObserved", "3"), "AirQualityObserved", None,
           NO2=prop(-3.5, unitCode="GQ"),
           temperature=prop(-2, unitCode="CEL"),
           pollutants=jsonp([1, 2, 3]),
           airQualityLevel=lang({"fr": "bon", "en": "good"}),
           isActive=prop("true")),  # a string, not the boolean
]

ALL_IDS = {e["id"] for e in ENTITIES}


@pytest.fixture(scope="module")
def db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        """
        CREATE TABLE entities(rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, shape INTEGER NOT NULL,
                              doc TEXT NOT NULL);
        CREATE INDEX entities_by_shape ON entities(shape, rid);
        CREATE TABLE shapes(shape INTEGER PRIMARY KEY, types TEXT NOT NULL, attrs TEXT NOT NULL);
        """
    )
    register_functions(conn)
    shapes: dict[bytes, int] = {}
    for doc in ENTITIES:
        types = sorted(doc["type"])
        attrs = {name: sorted({i["type"] for i in insts}) for name, insts in sorted(doc["attrs"].items())}
        key = orjson.dumps([types, attrs])
        if key not in shapes:
            shapes[key] = conn.execute(
                "INSERT INTO shapes(types, attrs) VALUES (?, ?)", (orjson.dumps(types), orjson.dumps(attrs))
            ).lastrowid
        conn.execute("INSERT INTO entities(id, shape, doc) VALUES (?, ?, ?)",
                     (doc["id"], shapes[key], orjson.dumps(doc).decode()))
    return conn


def select_q(db: sqlite3.Connection, q: str) -> set[str]:
    sql, params = compile_q(parse_q(q, expand))
    return {r[0] for r in db.execute(f"SELECT e.id FROM entities e WHERE {sql} ORDER BY e.rid", params)}


def short(ids: set[str]) -> set[str]:
    """urn:ngsi-ld:Streetlight:1 -> Streetlight:1, for readable expectations."""
    return {i.removeprefix("urn:ngsi-ld:") for i in ids}


# ---- q ------------------------------------------------------------------------------------------

SL = [f"Streetlight:{n}" for n in range(7)]  # SL[1] is Streetlight:1
WC = [f"WasteContainer:{n}" for n in range(5)]
PS = [f"ParkingSpot:{n}" for n in range(4)]
AQ = [f"AirQualityObserved:{n}" for n in range(4)]

CASES = [
    # existence (example 0, 5)
    ("powerState", {SL[1], SL[2], SL[3], SL[4], SL[5]}),
    ("refStreetlightControlCabinet", {SL[1], SL[2], SL[3]}),
    ("nothingLikeThis", set()),
    # numbers, type strictness ("10" is not 10; 1 is not true)
    ("luminosity==80", {SL[1]}),
    ('luminosity=="80"', {SL[4]}),
    ("lanternHeight==10", {SL[2]}),
    ("lanternHeight==10.0", {SL[2]}),
    ("luminosity>60", {SL[1], SL[3], SL[5]}),  # SL3 through its lux-meter instance (62)
    ("luminosity>=80", {SL[1], SL[5]}),
    ("luminosity<55", {SL[2]}),
    ("luminosity<=55", {SL[2], SL[3]}),
    ("NO2<0", {AQ[3]}),
    ("NO2>=-3.5;NO2<=-3.5", {AQ[3]}),
    ("fillingLevel>0.9", {WC[4]}),
    ("fillingLevel<0.5", {WC[2], WC[4]}),  # WC4 through its weight dataset
    ("fillingLevel==0.4", {WC[4]}),
    ("energyConsumed>1e3", {"StreetlightControlCabinet:A"}),
    # strings
    ('powerState=="on"', {SL[1], SL[3], SL[5]}),
    ('status=="ok"', {SL[1], SL[6], WC[1], WC[3]}),  # SL6 has ["ok", "maintenance"]
    ('airQualityLevel=="good"', {AQ[2], AQ[3]}),  # AQ3: a LanguageProperty, any language
    ('serialNumber>"SN-002"', {WC[2], WC[3]}),  # code point order: lower case after upper case
    ('cupboardMadeOf<"q"', {"StreetlightControlCabinet:A"}),
    ('status=="ok\\u0020"', set()),
    # booleans
    ("isActive==true", {AQ[1]}),
    ("isActive==false", {AQ[2]}),
    ('isActive=="true"', {AQ[3]}),
    ("isActive!=true", {AQ[2], AQ[3]}),
    # != : present and unequal (another type is unequal), absent never matches
    ('powerState!="on"', {SL[2], SL[4]}),
    ("luminosity!=80", {SL[2], SL[3], SL[4], SL[5], SL[6]}),
    ('status!="ok"', {SL[2], WC[2], WC[4], PS[1], PS[2], PS[3]}),  # SL6 includes "ok"
    ("fillingLevel!=0.4", {WC[1], WC[2], WC[3], WC[4]}),  # WC4: its ultrasound instance is not 0.4
    # value lists
    ('status=="lidOpen","dropped"', {WC[2], WC[4]}),
    ("luminosity==0,62", {SL[2], SL[3]}),
    ('luminosity==0,"80"', {SL[2], SL[4]}),
    ('powerState!="on","off"', {SL[4]}),
    ('category=="fixed","underground"', {WC[1], WC[2]}),
    # ranges
    ("fillingLevel==0.2..0.5", {WC[2], WC[3], WC[4]}),
    ("fillingLevel!=0.2..0.5", {WC[1], WC[4]}),
    ("luminosity==56..79", {SL[3]}),
    ('serialNumber=="SN-001".."SN-002-Z"', {WC[1], WC[2]}),
    ("temperature==-5..0", {AQ[3]}),
    # arrays: any element (Property array, ListProperty, ListRelationship)
    ('category=="surface"', {WC[1], WC[3]}),
    ('category=="onstreet"', {PS[1], PS[3]}),
    ("category==3", {PS[3]}),
    ("category==true", {PS[3]}),
    ('category!="onstreet"', {WC[1], WC[2], WC[3], PS[2]}),
    # relationships (example 3), quoted or not, arrays of objects, ListRelationship entries
    (f"refStreetlightControlCabinet=={CABINET_A}", {SL[1], SL[2]}),
    (f'refStreetlightControlCabinet=="{CABINET_B}"', {SL[3]}),
    (f"refStreetlightControlCabinet!={CABINET_A}", {SL[3]}),
    ("refDevice==urn:ngsi-ld:Device:lux2", {SL[5]}),
    ("refDevice==urn:ngsi-ld:Device:2", {PS[1]}),
    ("refDevice==urn:ngsi-ld:Device:3", {PS[2]}),
    ("refParkingSite==urn:ngsi-ld:ParkingSite:Centre,urn:ngsi-ld:ParkingSite:Port", {PS[1], PS[2], PS[3]}),
    ('refParkingSite>"urn"', set()),  # ordering never applies to relationships
    ("refParkingSite~=Centre", set()),
    # vocabulary values are compared expanded (example 12)
    ("wasteType==organic", {WC[1]}),
    ('wasteType=="paper"', {WC[2]}),
    (f"wasteType=={SDM}glass", {WC[2]}),
    ("controllingMethod==automatic,manual", {SL[6]}),
    ("wasteType!=organic", {WC[2]}),
    # LanguageProperty: any language, or one (example: color[en]=="red")
    ('description=="Broken light"', {SL[2]}),
    ('description=="éteint"', {SL[2]}),
    ('description[fr]=="éteint"', {SL[2]}),
    ('description[en]=="éteint"', set()),
    ('description[*]=="Lampadaire"', {SL[2]}),
    ('name[en]=="Spot 1"', {PS[1]}),
    ('description[fr]!="Lampadaire"', {SL[1]}),
    ('description!="Lampadaire"', {SL[1]}),
    ("description~=Peace", {SL[1]}),
    ("airQualityLevel[en]", {AQ[3]}),
    ("name[en]", {PS[1]}),
    # JSON values: keys inside (examples 9, 10, 11)
    ('address[addressLocality]=="Rennes"', {WC[1], WC[3]}),
    ('address[addressLocality]!="Rennes"', {WC[2]}),  # WC4's text address has no such key
    ("address[geo.lat]>48", {WC[3]}),
    ("address[geo][lat]>48", {WC[3]}),
    ("address[postalCode]", {WC[1], WC[2]}),
    ("pollutants[no2.value]>=45", {AQ[1]}),
    ("pollutants[o3]==60", {AQ[1]}),
    ("pollutants==2", {AQ[3]}),
    ('address=="Rennes"', set()),  # an object's members are not its elements
    ('address~="Rennes"', {WC[4]}),
    # instance members (example 8) and sub-attributes
    ("luminosity.observedAt>=2026-11-28T10:00:00Z", {SL[1], SL[3], SL[5]}),
    ("luminosity.observedAt==2026-11-28T11:00:00.123Z", {SL[3]}),  # times compare to the millisecond
    ("luminosity.observedAt==2026-11-28T11:00:00,123456Z", {SL[3]}),
    ('luminosity.unitCode=="CDL"', {SL[1], SL[2], SL[5]}),
    ("luminosity.unitCode", {SL[1], SL[2], SL[5]}),
    ("luminosity.datasetId==urn:ngsi-ld:Dataset:lux-meter", {SL[3]}),
    ("fillingLevel.datasetId", {WC[4]}),
    ('fillingLevel.datasetId!="urn:ngsi-ld:Dataset:weight"', {WC[4]}),
    ("luminosity.accuracy<1", {SL[5]}),
    ("luminosity.accuracy.unitCode==\"P1\"", {SL[5]}),
    ("luminosity.measuredBy==urn:ngsi-ld:Device:lux1", {SL[5]}),
    ("luminosity.measuredBy>\"a\"", set()),
    ("temperature.accuracy", {AQ[1], AQ[2]}),
    ("temperature.accuracy<=0.1", {AQ[1]}),
    ('temperature.sensorModel~="^BME"', {AQ[1]}),
    ("temperature.accuracy!=0.1", {AQ[2]}),
    ("luminosity.createdAt==2026-11-01T00:00:00Z", {SL[1], SL[2], SL[3], SL[4], SL[5], SL[6]}),
    # dateTime, date and time values compare as times
    ("dateLastEmptying<2026-11-01T00:00:00Z", {WC[2]}),
    ("dateLastEmptying>=2026-10-01T06:00:00.000Z", {WC[1], WC[2]}),
    ("dateLastLamped>2026-01-01T00:00:00Z", {SL[1], SL[3]}),  # SL1's is a typed literal
    ("dateLastLamped==2025-06-01T12:30:00.5Z", {SL[2]}),
    ("occupancyModified==2026-11-28T08:15:00Z", {PS[1], PS[2]}),
    ('occupancyModified=="2026-11-28T08:15:00Z"', {PS[1]}),  # a quoted string compares as text
    ("dateLastEmptying==2026-10-01T00:00:00Z..2026-10-31T23:59:59Z", {WC[2]}),
    ("reservationDate>2026-11-20", {PS[1]}),
    ("dateMeterReading==2026-11-28", {"StreetlightControlCabinet:A"}),
    ("occupancyModified>2026-01-01", set()),  # a date is not a dateTime
    ("openingTime<09:00:00Z", {PS[1]}),
    ("openingTime==08:00:00Z..10:00:00Z", {PS[1], PS[2]}),
    # patterns
    ('serialNumber~="^SN-00[12]"', {WC[1], WC[2]}),
    ('serialNumber~="(?i)^sn-003"', {WC[3]}),
    ("serialNumber~=-A$", {WC[1]}),
    ("serialNumber!~=^SN", {WC[3]}),
    ("luminosity~=8", {SL[4]}),  # only strings match a pattern
    ("luminosity!~=8", set()),  # and only strings can fail to match one
    ('status~="maint"', {SL[6]}),
    # logical operators, precedence and parentheses (examples 4, 6, 7)
    ('powerState=="on";luminosity>100', {SL[5]}),
    ('powerState=="off"|luminosity>100', {SL[2], SL[5]}),
    ('powerState=="off"|powerState=="on";luminosity>100', {SL[2], SL[5]}),
    ('(powerState=="off"|powerState=="on");luminosity>100', {SL[5]}),
    ("(fillingLevel>=0.5;fillingLevel<=0.9)|NO2>50", {WC[1], WC[3], AQ[1], WC[4]}),  # WC4: each term by
    # another of its instances (terms are independent)
    ('((luminosity>50|NO2>40);status=="ok")', {SL[1]}),
    ("isActive;NO2>40|fillingLevel>0.9", {AQ[1], WC[4]}),
]


@pytest.mark.parametrize(("q", "expected"), CASES, ids=[c[0] for c in CASES])
def test_q_selects(db: sqlite3.Connection, q: str, expected: set[str]) -> None:
    assert short(select_q(db, q)) == expected


def test_019_01_01_query_entities_by_type(db: sqlite3.Connection) -> None:
    assert short(select_types(db, "Streetlight")) == set(SL[1:])
    assert short(select_types(db, "ParkingSpot,WasteContainer")) == set(PS[1:]) | set(WC[1:])


def select_types(db: sqlite3.Connection, text: str) -> set[str]:
    sql, params = compile_type_expr(parse_type_expr(text, expand))
    return {r[0] for r in db.execute(
        f"SELECT e.id FROM entities e WHERE e.shape IN (SELECT s.shape FROM shapes s WHERE {sql})", params)}


@pytest.mark.parametrize(("text", "expected"), [
    ("Streetlight|ParkingSpot", set(SL[1:]) | set(PS[1:])),
    ("(Streetlight;Device)", {SL[6]}),
    ("Streetlight;Device", {SL[6]}),
    ("(Streetlight;Device)|AirQualityObserved", {SL[6]} | set(AQ[1:])),
    ("Device,StreetlightControlCabinet", {SL[6], "StreetlightControlCabinet:A"}),
    (f"{SDM}WasteContainer", set(WC[1:])),
    ("schema:Place", set()),
])
def test_type_expressions_select(db: sqlite3.Connection, text: str, expected: set[str]) -> None:
    assert short(select_types(db, text)) == expected


def select_scope(db: sqlite3.Connection, text: str) -> set[str]:
    sql, params = compile_scope_q(parse_scope_q(text))
    return {r[0] for r in db.execute(f"SELECT e.id FROM entities e WHERE {sql}", params)}


RENNES_NORD = {SL[1], SL[5], WC[1], AQ[1]}


@pytest.mark.parametrize(("text", "expected"), [
    ("/Rennes/Nord", RENNES_NORD),
    ("/Rennes", {"StreetlightControlCabinet:A"}),
    ("/Rennes/#", RENNES_NORD | {SL[2], SL[3], WC[3], WC[4], PS[1], PS[2], AQ[2], "StreetlightControlCabinet:A"}),
    ("/Rennes/Nord/#", RENNES_NORD | {SL[3]}),
    ("/Rennes/+", RENNES_NORD | {SL[2], WC[3], WC[4], PS[1], PS[2], AQ[2]}),
    ("/+/Nord/#", RENNES_NORD | {SL[3]}),
    ("/+/+/Gare", {SL[3]}),
    ("/#", short(ALL_IDS) - {SL[6], AQ[3]}),
    ("(/Rennes/Nord;/Energie)", {SL[5]}),
    ("(/Rennes/Nord;/Collecte/#)|/Brest", {WC[1], SL[4], WC[2], PS[3]}),
    ("/Energie,/Collecte/Verre", {SL[5], WC[1]}),
    ("/Renne/#", set()),
])
def test_scope_q_selects(db: sqlite3.Connection, text: str, expected: set[str]) -> None:
    assert short(select_scope(db, text)) == expected


# ---- safety ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("iri", ['https://example.org/a"b', "https://example.org/a\\b", "https://example.org/a\nb"])
def test_iris_that_could_break_a_json_path_are_refused(iri: str) -> None:
    with pytest.raises(BadRequestData, match="cannot query"):
        compile_q(parse_q("name==1", lambda _: iri))
    with pytest.raises(BadRequestData, match="cannot query"):
        compile_q(Exists(AttrPath("https://example.org/ok", keys=(iri,))))


def test_values_are_bound_never_spliced(db: sqlite3.Connection) -> None:
    assert select_q(db, "status==\"x') OR 1=1 --\"") == set()
    sql, params = compile_q(parse_q('status=="\'; DROP TABLE entities; --"', expand))
    assert "DROP" not in sql and params[-1] == "'; DROP TABLE entities; --"
    assert db.execute("SELECT count(*) FROM entities").fetchone()[0] == len(ENTITIES)


def test_compiled_paths_use_the_shape_index(db: sqlite3.Connection) -> None:
    sql, params = compile_q(parse_q('powerState=="on"', expand))
    plan = " ".join(r[-1] for r in db.execute(
        f"EXPLAIN QUERY PLAN SELECT e.rid FROM entities e WHERE {sql} ORDER BY e.rid LIMIT 20", params))
    assert "shapes" in plan and "entities_by_shape" in plan or "LIST SUBQUERY" in plan


def test_regexp_function() -> None:
    conn = sqlite3.connect(":memory:")
    register_functions(conn)
    one = lambda sql, *args: conn.execute(sql, args).fetchone()[0]
    assert one("SELECT 'Streetlight' REGEXP 'light$'") == 1
    assert one("SELECT 'Streetlight' REGEXP '^light'") == 0
    assert one("SELECT regexp('1', 1)") == 0  # a number is not text
    assert one("SELECT regexp('a', NULL)") == 0
    assert one("SELECT regexp(NULL, 'a')") == 0
    assert one("SELECT regexp('(', 'a(')") == 0  # an invalid pattern matches nothing


# ---- the compiled SQL always runs -------------------------------------------------------------------

_names = st.sampled_from(["luminosity", "status", "category", "address", "description", "refDevice", "NO2",
                          "temperature", "pollutants", "wasteType", "name", "isActive"])
_values = st.one_of(
    st.integers(-100, 100).map(lambda n: Value("number", n)),
    st.floats(-1e6, 1e6, allow_nan=False).map(lambda f: Value("number", f)),
    st.booleans().map(lambda b: Value("boolean", b)),
    st.text(max_size=8).map(lambda s: Value("string", s, expand(s) if s.isalpha() else None)),
    st.sampled_from(["2026-11-28T10:00:00Z", "2026-01-01T00:00:00.5Z"]).map(lambda s: Value("dateTime", s)),
)
_paths = st.builds(
    AttrPath,
    _names.map(expand),
    st.lists(st.sampled_from(["accuracy", "measuredBy"]).map(expand), max_size=1).map(tuple),
    st.sampled_from([None, None, "observedAt", "unitCode", "datasetId"]),
    st.sampled_from([(), ("addressLocality",), ("fr",), ("*",), ("no2", "value")]),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=_paths, op=st.sampled_from(["==", "!=", ">", ">=", "<", "<="]), value=_values)
def test_every_comparison_compiles_to_runnable_sql(db: sqlite3.Connection, path: AttrPath, op: str,
                                                   value: Value) -> None:
    sql, params = compile_q(Comparison(path, op, value))  # type: ignore[arg-type]
    assert sql.count("?") == len(params)
    db.execute(f"SELECT count(*) FROM entities e WHERE {sql}", params).fetchone()


# ---- the SQL agrees with a plain reading of clause 4.9 on random terms ---------------------------------

MAIN = {"Property": "value", "GeoProperty": "value", "Relationship": "object", "VocabProperty": "vocab",
        "JsonProperty": "json", "ListProperty": "valueList", "ListRelationship": "objectList"}
_MISSING = object()


def _elements(content: Any) -> list[Any]:
    """What a target value compares by: an array's elements, a typed literal's @value, a scalar."""
    if isinstance(content, list):
        return [_unwrap(x) for x in content]
    if isinstance(content, dict):
        return [content["@value"]] if "@value" in content else []
    return [content]


def _unwrap(x: Any) -> Any:
    if isinstance(x, dict):
        for member in ("@value", "object"):
            if isinstance(x.get(member), str):
                return x[member]
        return _MISSING
    return x


def _target(inst: dict, path: AttrPath) -> tuple[list[Any], str] | None:
    """(elements, role) of an instance for a path, or None when the target does not exist."""
    node: Any = inst
    for sub in path.sub:
        node = (node.get("attrs") or {}).get(sub)
        if node is None:
            return None
    if path.member:
        return ([node[path.member]], "member") if path.member in node else None
    if node["type"] == "LanguageProperty":
        if len(path.keys) > 1:
            return None
        lm = node["languageMap"]
        if path.keys and path.keys[0] != "*":
            if path.keys[0] not in lm:
                return None
            values = [lm[path.keys[0]]]
        else:
            values = list(lm.values())
        flat = [s for v in values for s in (v if isinstance(v, list) else [v])]
        return [s for s in flat if isinstance(s, str)], "language"
    content = node[MAIN[node["type"]]]
    for key in path.keys:
        if not isinstance(content, dict) or key not in content:
            return None
        content = content[key]
    return _elements(content), node["type"]


def _as_time(kind: str, s: Any) -> Any:
    shapes = {"dateTime": r"\d{4}-\d\d-\d\dT\d\d:", "date": r"\d{4}-\d\d-\d\d\Z", "time": r"\d\d:\d\d:\d\d"}
    if not isinstance(s, str) or not re.match(shapes[kind], s):
        return None
    if kind == "date":
        return s
    text = s if kind == "dateTime" else "2000-01-01T" + s
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _holds(op: str, element: Any, value: Value, role: str) -> bool:
    """One element against one literal (op is == or an ordering)."""
    compare = {"==": operator.eq, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}[op]
    if value.kind == "number":
        return isinstance(element, int | float) and not isinstance(element, bool) and compare(element, value.value)
    if value.kind == "boolean":
        return element is value.value
    if value.kind in ("dateTime", "date", "time"):
        left, right = _as_time(value.kind, element), _as_time(value.kind, value.value)
        return left is not None and compare(left, right)
    literal = value.vocab if value.vocab and role == "VocabProperty" else value.value
    return isinstance(element, str) and compare(element, literal)


def reference(doc: dict, term: Any) -> bool:
    path = term.path
    instances = doc["attrs"].get(path.attr)
    if not instances:
        return False
    if isinstance(term, Exists) and not (path.sub or path.member or path.keys):
        return True
    for inst in instances:
        found = _target(inst, path)
        if found is None:
            continue
        elements, role = found
        if isinstance(term, Exists):
            return True
        ordered = isinstance(term, Comparison) and term.op not in ("==", "!=")
        if (ordered or isinstance(term, Pattern)) and role in ("Relationship", "ListRelationship"):
            continue
        if isinstance(term, Pattern):
            texts = [e for e in elements if isinstance(e, str)]
            hit = any(re.search(term.regex, e) for e in texts)
            if (texts and not hit) if term.negated else hit:
                return True
            continue
        if isinstance(term, Comparison):
            op, negated = ("==", True) if term.op == "!=" else (term.op, False)
            hit = any(_holds(op, e, term.value, role) for e in elements)
        elif isinstance(term, InRange):
            negated = term.negated
            hit = any(_holds(">=", e, term.low, role) and _holds("<=", e, term.high, role) for e in elements)
        else:
            negated = term.negated
            hit = any(_holds("==", e, v, role) for e in elements for v in term.values)
        if hit != negated:
            return True
    return False


def _literals_of(x: Any) -> list[Value]:
    """The query literals that could select a stored value."""
    if isinstance(x, bool):
        return [Value("boolean", x)]
    if isinstance(x, int | float):
        return [Value("number", x)]
    if isinstance(x, str):
        if x.startswith(SDM):
            return [Value("uri", x), Value("term", x.removeprefix(SDM), x)]
        if x.startswith("urn:"):
            return [Value("uri", x), Value("string", x)]
        for kind in ("dateTime", "date", "time"):
            if _as_time(kind, x) is not None and (kind != "time" or len(x) < 16):
                return [Value(kind, x), Value("string", x)]
        return [Value("string", x)]
    if isinstance(x, list):
        return [v for y in x for v in _literals_of(y)]
    if isinstance(x, dict):
        return [v for y in x.values() for v in _literals_of(y)]
    return []


def _paths_in(name: str, inst: dict, sub: tuple[str, ...] = ()) -> list[tuple[AttrPath, list[Value]]]:
    """Every path a query can take into an instance, with the literals found there."""
    found = []
    content = next((inst[m] for m in MAIN.values() if m in inst), inst.get("languageMap"))
    found.append((AttrPath(name, sub), _literals_of(content)))
    for member in ("observedAt", "unitCode", "datasetId", "createdAt"):
        if member in inst:
            found.append((AttrPath(name, sub, member), _literals_of(inst[member])))
    if isinstance(content, dict):
        for key, inner in content.items():
            found.append((AttrPath(name, sub, keys=(key,)), _literals_of(inner)))
            if isinstance(inner, dict):
                for key2, deeper in inner.items():
                    found.append((AttrPath(name, sub, keys=(key, key2)), _literals_of(deeper)))
    for sub_name, sub_inst in (inst.get("attrs") or {}).items():
        found.extend(_paths_in(name, sub_inst, (*sub, sub_name)))
    return found


REAL_PATHS = [pv for doc in ENTITIES for name, insts in doc["attrs"].items() for inst in insts
              for pv in _paths_in(name, inst)]
LITERALS = [v for _, values in REAL_PATHS for v in values]
ORDERED = ("number", "string", "dateTime", "date", "time")


@st.composite
def _path_and_literals(draw: Any) -> tuple[AttrPath, list[Value]]:
    """A path of the fixture with literals stored there (often), or made up ones (sometimes)."""
    path, values = draw(st.sampled_from(REAL_PATHS))
    if draw(st.integers(0, 9)) == 0:
        path = AttrPath(path.attr, path.sub + (expand("accuracy"),), None, ("zz",) if path.keys else ())
    pool = st.one_of(st.sampled_from(values), _values) if values else st.one_of(st.sampled_from(LITERALS), _values)
    return path, draw(st.lists(pool, min_size=3, max_size=3))


@st.composite
def _random_terms(draw: Any) -> Any:
    path, (a, b, c) = draw(_path_and_literals())
    shape = draw(st.sampled_from(["exists", "eq", "order", "list", "range", "pattern"]))
    if shape == "exists":
        return Exists(path)
    if shape == "eq":
        return Comparison(path, draw(st.sampled_from(["==", "!="])), a)
    if shape == "list":
        return AnyOf(path, (a, b, c)[: draw(st.integers(2, 3))], draw(st.booleans()))
    if shape == "pattern":
        regex = draw(st.sampled_from(["^S", "o", "[0-9]", "^urn:", "e$", "Rennes", "(?i)^sn", "^(on|off)$"]))
        return Pattern(path, regex, draw(st.booleans()))
    if a.kind not in ORDERED:
        a = Value("number", 0.5)
    if shape == "order":
        return Comparison(path, draw(st.sampled_from([">", ">=", "<", "<="])), a)
    high = next((v for v in (b, c) if v.kind == a.kind), a)
    low, high = (a, high) if draw(st.booleans()) else (high, a)
    return InRange(path, low, high, draw(st.booleans()))


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(term=_random_terms())
def test_sql_agrees_with_a_plain_reading_of_the_semantics(db: sqlite3.Connection, term: Any) -> None:
    sql, params = compile_q(term)
    selected = {r[0] for r in db.execute(f"SELECT e.id FROM entities e WHERE {sql}", params)}
    assert selected == {doc["id"] for doc in ENTITIES if reference(doc, term)}


# ---- whatever parses compiles to SQL that runs ----------------------------------------------------------

_q_alphabet = st.sampled_from(list('abT.[]()=!<>~;|,"\\0123456789-:Z*# e'))


@settings(max_examples=500, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(_q_alphabet, max_size=40))
def test_any_parsed_text_compiles_to_runnable_sql(db: sqlite3.Connection, text: str) -> None:
    try:
        expr = parse_q(text, expand)
    except NgsiLdError:
        return
    sql, params = compile_q(expr)
    db.execute(f"SELECT count(*) FROM entities e WHERE {sql}", params).fetchone()


def test_the_largest_queries_run(db: sqlite3.Connection) -> None:
    widest = "|".join(f'status=="s{n}";luminosity.observedAt>2026-01-01T00:00:00Z' for n in range(MAX_TERMS // 2))
    deepest = "(" * (MAX_DEPTH - 1) + "|".join(["(luminosity>1;status!=\"x\")"] * 3) + ")" * (MAX_DEPTH - 1)
    for text in (widest, deepest):
        sql, params = compile_q(parse_q(text, expand))
        db.execute(f"SELECT count(*) FROM entities e WHERE {sql}", params).fetchone()

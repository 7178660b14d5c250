"""The SQLite geo index: the R*Tree path must select exactly what the predicate selects."""

from __future__ import annotations

import math
import random
import sqlite3
from collections.abc import Iterator

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from territoires.ngsild.errors import BadRequestData
from territoires.ngsild.geo import LOCATION, GeoQuery, matches, parse_geo_query
from territoires.ngsild.model import Entity
from territoires.store.sqlite_geo import GEO_SCHEMA, compile_geo, geo_parts, geo_rows, register_functions

NS = "https://example.org/ns/"
OBSERVATION_SPACE = "https://uri.etsi.org/ngsi-ld/observationSpace"
RENNES = (-1.68, 48.11)  # [lon, lat]


def expand(term: str) -> str:
    return "https://uri.etsi.org/ngsi-ld/" + term if term in ("location", "observationSpace") else NS + term


def geo(value: dict, dataset_id: str | None = None) -> dict:
    instance = {"type": "GeoProperty", "value": value}
    if dataset_id:
        instance["datasetId"] = dataset_id
    return instance


def entity(local_id: str, **attrs: list[dict]) -> Entity:
    return {"id": f"urn:ngsi-ld:Thing:{local_id}", "type": [NS + "Thing"],
            "attrs": {(LOCATION if name == "location" else OBSERVATION_SPACE if name == "observationSpace"
                       else NS + name): instances for name, instances in attrs.items()}}


def square(lon: float, lat: float, size: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + size, lat], [lon + size, lat + size],
                                                [lon, lat + size], [lon, lat]]]}


class Db:
    """An in-memory tenant database with a minimal entities table."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:")
        register_functions(self.conn)
        self.conn.execute("CREATE TABLE entities (rid INTEGER PRIMARY KEY, id TEXT UNIQUE, doc TEXT)")
        self.conn.execute(GEO_SCHEMA)
        self.entities: dict[int, Entity] = {}

    def add(self, entities: list[Entity]) -> None:
        for e in entities:
            rid = self.conn.execute("INSERT INTO entities (id, doc) VALUES (?, ?)",
                                    (e["id"], orjson.dumps(e).decode())).lastrowid
            self.conn.executemany("INSERT INTO geo VALUES (?, ?, ?, ?, ?, ?, ?, ?)", geo_rows(rid, geo_parts(e)))
            self.entities[rid] = e

    def select(self, query: GeoQuery) -> list[str]:
        sql, params = compile_geo(query)
        return [row[0] for row in self.conn.execute(f"SELECT e.id FROM entities e WHERE {sql} ORDER BY e.rid",
                                                    params)]

    def brute_force(self, query: GeoQuery) -> list[str]:
        return [e["id"] for _, e in sorted(self.entities.items())
                if any(i["type"] == "GeoProperty" and matches(query, i["value"])
                       for i in e["attrs"].get(query.geoproperty, []))]


def rennes_entities(seed: int = 35238) -> list[Entity]:
    """Streetlights, parcels, cycle paths and sensors around Rennes, some without location."""
    rnd = random.Random(seed)
    out = []
    for i in range(300):
        lon, lat = RENNES[0] + rnd.uniform(-0.05, 0.05), RENNES[1] + rnd.uniform(-0.035, 0.035)
        out.append(entity(f"streetlight-{i}", location=[geo({"type": "Point", "coordinates": [lon, lat]})]))
    for i in range(80):
        lon, lat = RENNES[0] + rnd.uniform(-0.05, 0.05), RENNES[1] + rnd.uniform(-0.035, 0.035)
        out.append(entity(f"parcel-{i}", location=[geo(square(lon, lat, rnd.uniform(0.0005, 0.01)))]))
    for i in range(30):
        lon, lat = RENNES[0] + rnd.uniform(-0.05, 0.05), RENNES[1] + rnd.uniform(-0.035, 0.035)
        path = [[lon + k * 0.002, lat + rnd.uniform(-0.001, 0.001)] for k in range(4)]
        out.append(entity(f"cyclepath-{i}", location=[geo({"type": "LineString", "coordinates": path})]))
    for i in range(20):
        lon, lat = RENNES[0] + rnd.uniform(-0.05, 0.05), RENNES[1] + rnd.uniform(-0.035, 0.035)
        out.append(entity(f"camera-{i}", location=[geo({"type": "Point", "coordinates": [lon, lat]})],
                          observationSpace=[geo(square(lon, lat, 0.003))]))
    out.append(entity("park", location=[geo(CENTRE_PARK)]))
    for i in range(10):
        out.append(entity(f"unlocated-{i}", name=[{"type": "Property", "value": f"capteur {i}"}]))
    out.append(entity("tracker", location=[geo({"type": "Point", "coordinates": [-1.75, 48.05]}),
                                           geo({"type": "Point", "coordinates": list(RENNES)}, "urn:ngsi-ld:gps")]))
    return out


@pytest.fixture(scope="module")
def rennes() -> Iterator[Db]:
    db = Db()
    db.add(rennes_entities())
    yield db
    db.conn.close()


CENTRE_PARK = square(-1.69, 48.10, 0.02)
REFERENCES = {
    "point": {"type": "Point", "coordinates": list(RENNES)},
    "park": CENTRE_PARK,
    "line": {"type": "LineString", "coordinates": [[-1.73, 48.11], [-1.63, 48.12]]},
    "district": {"type": "MultiPolygon", "coordinates": [CENTRE_PARK["coordinates"],
                                                         square(-1.64, 48.13, 0.01)["coordinates"]]},
    "kiosk": square(-1.68, 48.11, 0.0002),
    "stations": {"type": "MultiPoint", "coordinates": [list(RENNES), [-1.6726, 48.1035]]},
}
GEORELS = ["near;maxDistance==800", "near;maxDistance==3000", "near;minDistance==2500", "within", "contains",
           "intersects", "equals", "disjoint", "overlaps"]


@pytest.mark.parametrize("reference", REFERENCES)
@pytest.mark.parametrize("georel", GEORELS)
def test_every_georel_selects_what_the_predicate_selects(rennes: Db, georel: str, reference: str) -> None:
    geometry = REFERENCES[reference]
    q = parse_geo_query(georel, geometry["type"], orjson.dumps(geometry["coordinates"]).decode(), None, expand)
    assert q is not None
    assert rennes.select(q) == rennes.brute_force(q)


def test_the_selections_are_not_trivial(rennes: Db) -> None:
    q = parse_geo_query("near;maxDistance==800", "Point", "[-1.68,48.11]", None, expand)
    near = rennes.select(q)
    assert 5 < len(near) < 100
    assert "urn:ngsi-ld:Thing:tracker" in near  # by its second (gps) instance
    within = rennes.select(parse_geo_query("within", "Polygon", orjson.dumps(CENTRE_PARK["coordinates"]).decode(),
                                           None, expand))
    assert any("parcel" in i for i in within) and any("streetlight" in i for i in within)


def test_entities_without_the_geoproperty_never_match_even_disjoint(rennes: Db) -> None:
    far_away = parse_geo_query("disjoint", "Point", "[2.35,48.85]", None, expand)  # Paris
    selected = rennes.select(far_away)
    assert not any("unlocated" in i for i in selected)
    assert len(selected) == len(rennes.entities) - 10


def test_the_geoproperty_names_the_target(rennes: Db) -> None:
    q = parse_geo_query("intersects", "Polygon", orjson.dumps(CENTRE_PARK["coordinates"]).decode(),
                        "observationSpace", expand)
    assert q is not None and q.geoproperty == OBSERVATION_SPACE
    selected = rennes.select(q)
    assert selected and all("camera" in i for i in selected)
    assert selected == rennes.brute_force(q)


def test_near_uses_the_rtree_and_drives_the_entities_by_rowid(rennes: Db) -> None:
    q = parse_geo_query("near;maxDistance==500", "Point", "[-1.68,48.11]", None, expand)
    sql, params = compile_geo(q)
    plan = " / ".join(row[3] for row in rennes.conn.execute(
        f"EXPLAIN QUERY PLAN SELECT e.id FROM entities e WHERE {sql} ORDER BY e.rid LIMIT 20", params))
    assert "SEARCH e USING INTEGER PRIMARY KEY" in plan
    assert "VIRTUAL TABLE INDEX 2:B0D1B2D3" in plan  # all four box constraints reach the R*Tree


def test_rtree_boxes_never_shrink(rennes: Db) -> None:
    rows = rennes.conn.execute("SELECT min_x, max_x, min_y, max_y, geometry FROM geo").fetchall()
    for min_x, max_x, min_y, max_y, text in rows:
        value = orjson.loads(text)
        if value["type"] == "Point":
            lon, lat = value["coordinates"]
            assert min_x <= lon <= max_x and min_y <= lat <= max_y


def test_antimeridian_and_pole() -> None:
    db = Db()
    db.add([
        entity("fiji-east", location=[geo({"type": "Point", "coordinates": [179.999, -16.5]})]),
        entity("fiji-west", location=[geo({"type": "Point", "coordinates": [-179.999, -16.5]})]),
        entity("fiji-far", location=[geo({"type": "Point", "coordinates": [-179.99, -16.5]})]),
        entity("pole-a", location=[geo({"type": "Point", "coordinates": [0.0, 89.999]})]),
        entity("pole-b", location=[geo({"type": "Point", "coordinates": [180.0, 89.999]})]),
        entity("pole-c", location=[geo({"type": "Point", "coordinates": [90.0, 89.9995]})]),
        entity("pole-itself", location=[geo({"type": "Point", "coordinates": [-45.0, 90.0]})]),
        entity("reef", location=[geo({"type": "LineString", "coordinates": [[-179.9995, -16.501],
                                                                             [-179.9995, -16.499]]})]),
    ])
    fiji = parse_geo_query("near;maxDistance==250", "Point", "[179.999,-16.5]", None, expand)
    assert db.select(fiji) == ["urn:ngsi-ld:Thing:fiji-east", "urn:ngsi-ld:Thing:fiji-west",
                               "urn:ngsi-ld:Thing:reef"]
    pole = parse_geo_query("near;maxDistance==250", "Point", "[0,89.999]", None, expand)
    assert db.select(pole) == [f"urn:ngsi-ld:Thing:pole-{k}" for k in ("a", "b", "c")] + \
        ["urn:ngsi-ld:Thing:pole-itself"]
    for q in (fiji, pole, parse_geo_query("near;minDistance==250", "Point", "[0,89.999]", None, expand)):
        assert db.select(q) == db.brute_force(q)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lon=st.floats(-1.75, -1.61), lat=st.floats(48.06, 48.16), radius=st.floats(1, 6000),
       minimum=st.booleans())
def test_random_points_and_radii_rtree_equals_brute_force(rennes: Db, lon: float, lat: float, radius: float,
                                                          minimum: bool) -> None:
    georel = f"near;{'minDistance' if minimum else 'maxDistance'}=={radius!r}"
    q = parse_geo_query(georel, "Point", orjson.dumps([lon, lat]).decode(), None, expand)
    assert q is not None
    assert rennes.select(q) == rennes.brute_force(q)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), lon=st.floats(-180, 180), lat=st.floats(-89.99, 89.99),
       radius=st.floats(1, 300_000))
def test_random_worlds_rtree_equals_brute_force(seed: int, lon: float, lat: float, radius: float) -> None:
    # Points scattered around the query point, up to the poles and across the antimeridian.
    rnd = random.Random(seed)
    db = Db()
    spread = 3 * radius / 111_000
    db.add([entity(f"p{i}", location=[geo({"type": "Point", "coordinates": [
        (lon + rnd.uniform(-spread, spread) / max(math.cos(math.radians(lat)), 0.01) + 540) % 360 - 180,
        max(-90.0, min(90.0, lat + rnd.uniform(-spread, spread)))]})]) for i in range(60)])
    q = parse_geo_query(f"near;maxDistance=={radius!r}", "Point", orjson.dumps([lon, lat]).decode(), None, expand)
    assert q is not None
    assert db.select(q) == db.brute_force(q)


# ---- rows of an entity ------------------------------------------------------------------------


def test_geo_rows_index_every_geoproperty_instance() -> None:
    e = entity("multi", location=[geo({"type": "Point", "coordinates": [1, 2]}),
                                  geo({"type": "Point", "coordinates": [3, 4]}, "urn:ngsi-ld:gps")],
               observationSpace=[geo(square(1, 2, 1))],
               name=[{"type": "Property", "value": {"type": "Point", "coordinates": [9, 9]}}])
    rows = geo_rows(7, geo_parts(e))
    assert [(r[0], r[5], r[6]) for r in rows] == [(7 * 256, 7, LOCATION), (7 * 256 + 1, 7, LOCATION),
                                                  (7 * 256 + 2, 7, OBSERVATION_SPACE)]
    assert rows[2][1:5] == (1, 2, 2, 3)
    assert orjson.loads(rows[1][7]) == {"type": "Point", "coordinates": [3, 4]}


def test_geo_rows_skip_values_that_are_not_geometries() -> None:
    # The parser stores validated geometry objects; anything else is left out of the index.
    e = entity("odd", location=[geo("not a geometry"), geo({"type": "Point"}),
                                geo({"type": "Point", "coordinates": [1, 2]})])  # type: ignore[arg-type]
    rows = geo_rows(1, geo_parts(e))
    assert len(rows) == 1 and orjson.loads(rows[0][7]) == {"type": "Point", "coordinates": [1, 2]}


def test_at_most_256_geoproperty_instances() -> None:
    e = entity("crowded", location=[geo({"type": "Point", "coordinates": [0, k / 10]}, f"urn:ds:{k}")
                                    for k in range(257)])
    with pytest.raises(BadRequestData, match="at most 256 GeoProperty instances"):
        geo_parts(e)


def test_a_query_key_is_stable() -> None:
    a = parse_geo_query("within", "Point", "[1,2]", None, expand)
    b = parse_geo_query("within", "Point", "[1, 2]", None, expand)
    assert a is not None and b is not None
    assert compile_geo(a) == compile_geo(b)

"""PostgreSQL + PostGIS geo-queries select exactly the entities ``ngsild.geo.matches`` accepts."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import psycopg
import pytest
import shapely.geometry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from territoires.ngsild.errors import BadRequestData
from territoires.ngsild.geo import (
    GEORELS,
    LOCATION,
    GeoQuery,
    matches,
    parse_geo_query,
    shape_of,
)
from territoires.ngsild.model import Entity
from territoires.store.port import EntityQuery
from territoires.store.postgres import PostgresStore
from territoires.store.postgres_geo import compile_geo, geometry_rows, stored_geometry
from tests import postgres
from tests.store.test_sqlite_geo import (
    CENTRE_PARK,
    REFERENCES,
    Db,
    entity,
    expand,
    geo,
    rennes_entities,
    square,
)
from tests.store.test_sqlite_geo import (
    GEORELS as NAMED_GEORELS,
)

pytestmark = pytest.mark.skipif(not postgres.URL, reason="PostgreSQL not available")


class World:
    """A tenant of its own in the PostgreSQL store, with an in-memory SQLite ``Db`` holding the
    same entities for the brute-force oracle."""

    def __init__(self, store: PostgresStore) -> None:
        self.store = store
        self.tenant = f"geo-{uuid.uuid4().hex[:12]}"
        store.create_tenant(self.tenant)
        self.oracle = Db()

    def reset(self, entities: list[Entity]) -> None:
        with self.store.session(self.tenant, write=True) as s:
            s.delete(list({e["id"] for e in self.oracle.entities.values()}))
            s.replace(entities)
        self.oracle.conn.close()
        self.oracle = Db()
        self.oracle.add(entities)

    def select(self, query: GeoQuery) -> list[str]:
        with self.store.session(self.tenant) as s:
            return [e["id"] for e in s.query(EntityQuery(geo=query, limit=10_000)).entities]

    def brute_force(self, query: GeoQuery) -> list[str]:
        return self.oracle.brute_force(query)

    def sql(self, statement: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``statement`` run as the application, on this world's tenant."""
        with psycopg.connect(postgres.URL, autocommit=True) as conn, conn.transaction():
            conn.execute("SELECT set_config('territoires.tenant', %s, true)", (self.tenant,))
            cursor = conn.execute(statement, params)
            return cursor.fetchall() if cursor.description else []

    def close(self) -> None:
        self.store.delete_tenant(self.tenant)
        self.oracle.conn.close()


@pytest.fixture(scope="module")
def store() -> Iterator[PostgresStore]:
    opened = PostgresStore(postgres.URL, upgrade=True)
    yield opened
    opened.close()


def populated(store: PostgresStore, entities: list[Entity]) -> Iterator[World]:
    world = World(store)
    world.reset(entities)
    yield world
    world.close()


@pytest.fixture(scope="module")
def rennes(store: PostgresStore) -> Iterator[World]:
    yield from populated(store, rennes_entities())


@pytest.fixture(scope="module")
def world(store: PostgresStore) -> Iterator[World]:
    fresh = World(store)
    yield fresh
    fresh.close()


def query(georel: str, geometry: dict, geoproperty: str | None = None) -> GeoQuery:
    q = parse_geo_query(georel, geometry["type"], orjson.dumps(geometry["coordinates"]).decode(), geoproperty,
                        expand)
    assert q is not None
    return q


# ---- the cases of the SQLite index, on PostgreSQL -------------------------------------------------


def test_the_selections_are_not_trivial(rennes: World) -> None:
    near = rennes.select(query("near;maxDistance==800", REFERENCES["point"]))
    assert 5 < len(near) < 100
    assert "urn:ngsi-ld:Thing:tracker" in near  # by its second (gps) instance
    within = rennes.select(query("within", CENTRE_PARK))
    assert any("parcel" in i for i in within) and any("streetlight" in i for i in within)


def test_entities_without_the_geoproperty_never_match_even_disjoint(rennes: World) -> None:
    selected = rennes.select(query("disjoint", {"type": "Point", "coordinates": [2.35, 48.85]}))  # Paris
    assert not any("unlocated" in i for i in selected)
    assert len(selected) == len(rennes.oracle.entities) - 10


def test_the_geoproperty_names_the_target(rennes: World) -> None:
    q = query("intersects", CENTRE_PARK, "observationSpace")
    selected = rennes.select(q)
    assert selected and all("camera" in i for i in selected)
    assert selected == rennes.brute_force(q)


def test_a_geoproperty_postgresql_cannot_name_matches_nothing(rennes: World) -> None:
    q = query("disjoint", REFERENCES["point"], "bad\x00name")
    assert rennes.select(q) == rennes.brute_force(q) == []


# ---- edges: antimeridian, poles, shapes, repaired surfaces -----------------------------------------

BOWTIE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}
SPIKE = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [2, 1], [1, 1], [0, 1], [0, 0]]]}
COLLAPSED = {"type": "Polygon", "coordinates": [[[0.5, 0.5], [0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]]}
FRAME = {"type": "Polygon", "coordinates": [square(0, 0, 1)["coordinates"][0],
                                            square(0.25, 0.25, 0.5)["coordinates"][0]]}  # a square with a hole
DIAGONAL = {"type": "Polygon", "coordinates": [[[0, 0], [0.3, 0.1], [0.1, 0.35], [0, 0]]]}


EDGE_SHAPES = {
    "fiji-east": {"type": "Point", "coordinates": [179.999, -16.5]},
    "fiji-west": {"type": "Point", "coordinates": [-179.999, -16.5]},
    "reef": {"type": "LineString", "coordinates": [[-179.9995, -16.501], [-179.9995, -16.499]]},
    "dateline-isles": {"type": "MultiPoint", "coordinates": [[179.9995, -16.5], [-179.9995, -16.5005]]},
    "pole-a": {"type": "Point", "coordinates": [0.0, 89.999]},
    "pole-b": {"type": "Point", "coordinates": [180.0, 89.999]},
    "pole-itself": {"type": "Point", "coordinates": [-45.0, 90.0]},
    "south-pole": {"type": "Point", "coordinates": [12.0, -90.0]},
    "bowtie": BOWTIE,
    "spike": SPIKE,
    "collapsed": COLLAPSED,
    "frame": FRAME,
    "diagonal": DIAGONAL,
    "in-the-hole": {"type": "Point", "coordinates": [0.5, 0.5]},
    "on-the-hole-edge": {"type": "Point", "coordinates": [0.25, 0.5]},
    # Midpoints of DIAGONAL's slanted edges: a rounding away from the edge, on either side.
    **{f"mid-{k}": {"type": "Point", "coordinates": [0.3 * k / 7, 0.1 * k / 7]} for k in range(1, 7)},
    **{f"mid2-{k}": {"type": "Point", "coordinates": [0.3 - 0.2 * k / 7, 0.1 + 0.25 * k / 7]} for k in range(1, 7)},
    "vertex": {"type": "Point", "coordinates": [0.3, 0.1]},
    "track": {"type": "LineString", "coordinates": [[-0.5, 0.5], [1.5, 0.5]]},
    "tracks": {"type": "MultiLineString", "coordinates": [[[0.1, 0.1], [0.2, 0.2]], [[2, 2], [3, 3]]]},
    "estates": {"type": "MultiPolygon", "coordinates": [square(0, 0, 0.6)["coordinates"],
                                                         square(0.4, 0.4, 0.6)["coordinates"]]},  # overlapping
    "islands": {"type": "MultiPolygon", "coordinates": [square(0, 0, 0.1)["coordinates"],
                                                         square(0.8, 0.8, 0.1)["coordinates"]]},
    "far": {"type": "Point", "coordinates": [5.0, 5.0]},
    # Differences PostgreSQL's float arithmetic cannot square without an underflow error.
    "tiny": {"type": "Point", "coordinates": [1e-200, -1e-170]},
    "subnormal": {"type": "Point", "coordinates": [5e-324, 0.0]},
}
EDGE_REFERENCES = {
    **{name: EDGE_SHAPES[name] for name in ("fiji-east", "pole-a", "bowtie", "spike", "collapsed", "frame",
                                            "diagonal", "vertex", "track", "estates")},
    "fiji-across": {"type": "LineString", "coordinates": [[-179.9999, -16.6], [-179.9999, -16.4]]},
    "near-south-pole": {"type": "Point", "coordinates": [-170, -89.9999]},
    "origin": {"type": "Point", "coordinates": [0, 0]},
    "corners": {"type": "MultiPoint", "coordinates": [[0, 0], [0.5, 0.5], [0.3, 0.1]]},
}
EDGE_GEORELS = [*GEORELS[1:], "near;maxDistance==250", "near;minDistance==250", "near;maxDistance==40000",
                "near;minDistance==40000", "near;maxDistance==1e-300", "near;minDistance==1e-300",
                "near;maxDistance==3e7", "near;minDistance==3e7"]  # 3e7 m: beyond the antipode


@pytest.fixture(scope="module")
def edges(store: PostgresStore) -> Iterator[World]:
    yield from populated(store, [entity(name, location=[geo(shape)]) for name, shape in EDGE_SHAPES.items()])


CASES = [("rennes", georel, reference) for georel in NAMED_GEORELS for reference in REFERENCES] + [
    ("edges", georel, reference) for georel in EDGE_GEORELS for reference in EDGE_REFERENCES]


@pytest.mark.parametrize(("dataset", "georel", "reference"), CASES)
def test_every_georel_selects_what_the_predicate_selects(request: pytest.FixtureRequest, dataset: str, georel: str,
                                                         reference: str) -> None:
    world: World = request.getfixturevalue(dataset)
    q = query(georel, (REFERENCES if dataset == "rennes" else EDGE_REFERENCES)[reference])
    assert world.select(q) == world.brute_force(q)


def test_antimeridian_and_poles(edges: World) -> None:
    fiji = edges.select(query("near;maxDistance==250", EDGE_REFERENCES["fiji-east"]))
    assert fiji == [f"urn:ngsi-ld:Thing:{n}" for n in ("fiji-east", "fiji-west", "reef", "dateline-isles")]
    pole = edges.select(query("near;maxDistance==250", EDGE_REFERENCES["pole-a"]))
    assert pole == [f"urn:ngsi-ld:Thing:{n}" for n in ("pole-a", "pole-b", "pole-itself")]
    assert edges.select(query("near;maxDistance==100", EDGE_REFERENCES["near-south-pole"])) == [
        "urn:ngsi-ld:Thing:south-pole"]


def test_points_next_to_an_edge_follow_geos_exactly(edges: World) -> None:
    # PostGIS's own point-in-polygon test puts these points on the edge (a 1e-12 tolerance);
    # GEOS, like shapely, finds each of them strictly inside or outside.
    mids = {f"urn:ngsi-ld:Thing:mid-{k}" for k in range(1, 7)} | {f"urn:ngsi-ld:Thing:mid2-{k}" for k in range(1, 7)}
    for georel in ("within", "intersects", "disjoint"):
        q = query(georel, DIAGONAL)
        selected = set(edges.select(q))
        assert selected == set(edges.brute_force(q))
        assert 0 < len(selected & mids) < len(mids) or georel == "intersects"


def test_holes_and_repaired_surfaces(edges: World) -> None:
    within_frame = edges.select(query("within", FRAME))
    assert "urn:ngsi-ld:Thing:in-the-hole" not in within_frame
    assert "urn:ngsi-ld:Thing:on-the-hole-edge" not in within_frame
    assert "urn:ngsi-ld:Thing:on-the-hole-edge" in edges.select(query("intersects", FRAME))
    # The bow tie is read as its two triangles: its crossing is on their boundary.
    assert "urn:ngsi-ld:Thing:in-the-hole" not in edges.select(query("within", BOWTIE))
    assert "urn:ngsi-ld:Thing:in-the-hole" in edges.select(query("intersects", BOWTIE))


# A hole collapsed onto its polygon's edge: repaired, a triangle and a line lying across it.
SLIVERED = {"type": "Polygon", "coordinates": [
    [[-1.68, 48.11], [-1.68, 48.11], [-1.6051163659954, 48.11], [-1.68, 48.11]],
    [[-1.68, 48.11], [-1.68, 48.110000000999996], [-1.6051163659954, 48.06], [-1.68, 48.11]]]}
THIN = {"type": "Polygon", "coordinates": [[[-1.68, 48.11], [-1.6051163659954, 48.110000000999996],
                                            [-1.6331977287471204, 48.11], [-1.68, 48.11]]]}


@pytest.mark.parametrize("georel", GEORELS[1:])
def test_a_repair_mixing_a_surface_and_lines_is_related_without_topology_errors(world: World, georel: str) -> None:
    # GEOS 3.11 raises TopologyException relating such a collection with THIN as a whole.
    world.reset([entity("slivered", location=[geo(SLIVERED)]), entity("thin", location=[geo(THIN)]),
                 entity("corner", location=[geo({"type": "Point", "coordinates": [-1.68, 48.11]})])])
    for reference in (SLIVERED, THIN):
        q = query(georel, reference)
        selected, expected = world.select(q), world.brute_force(q)
        if georel in ("intersects", "disjoint"):
            assert selected == expected


def test_stored_invalid_surfaces_are_valid_in_the_database(edges: World) -> None:
    rows = edges.sql("SELECT ST_IsValidReason(geom), ST_SRID(geom), GeometryType(geom) FROM geometries")
    assert rows and all(reason == "Valid Geometry" and srid == 4326 for reason, srid, _ in rows)
    assert {kind for _, _, kind in rows} >= {"MULTIPOLYGON", "GEOMETRYCOLLECTION", "POINT"}


# ---- random worlds --------------------------------------------------------------------------------

CENTRES = [(-1.68, 48.11), (179.995, -16.5), (-179.995, 65.0), (0.0, 89.995), (12.0, -89.99), (0.0, 0.0)]


@st.composite
def positions(draw: st.DrawFn, centre: tuple[float, float], spread: float) -> list[float]:
    # Grid steps put positions on each other's edges and vertices; floats anywhere between.
    # No offsets under 1e-12 but 0: GEOS 3.11 takes a segment shorter than about 1e-154 (its
    # squared length underflows) for a point, GEOS 3.14 does not.
    offset = st.one_of(st.integers(-4, 4).map(lambda k: k * spread / 4),
                       st.floats(-spread, spread).filter(lambda v: v == 0 or abs(v) >= 1e-12))
    lon = centre[0] + draw(offset) / max(math.cos(math.radians(centre[1])), 0.05)
    lat = min(90.0, max(-90.0, centre[1] + draw(offset)))
    return [(lon + 180.0) % 360.0 - 180.0, lat]


@st.composite
def geometries(draw: st.DrawFn, centre: tuple[float, float], spread: float) -> dict[str, Any]:
    at = positions(centre, spread)
    kind = draw(st.sampled_from(["Point", "Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                                 "Polygon", "MultiPolygon"]))
    if kind == "Point":
        return {"type": kind, "coordinates": draw(at)}
    if kind == "MultiPoint":
        return {"type": kind, "coordinates": draw(st.lists(at, min_size=1, max_size=4))}
    if kind == "LineString":
        return {"type": kind, "coordinates": draw(st.lists(at, min_size=2, max_size=4))}
    if kind == "MultiLineString":
        return {"type": kind, "coordinates": draw(st.lists(st.lists(at, min_size=2, max_size=3), min_size=1,
                                                           max_size=2))}

    def ring() -> list[list[float]]:  # random rings often cross themselves: repaired
        corners = draw(st.lists(at, min_size=3, max_size=5))
        return [*corners, corners[0]]

    if kind == "Polygon":
        return {"type": kind, "coordinates": [ring() for _ in range(draw(st.integers(1, 2)))]}
    return {"type": kind, "coordinates": [[ring()] for _ in range(draw(st.integers(1, 2)))]}


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[GeoQuery]]:
    centre = draw(st.sampled_from(CENTRES))
    spread = draw(st.sampled_from([0.001, 0.01, 0.2]))
    shapes = draw(st.lists(geometries(centre, spread), min_size=1, max_size=12))
    queries = []
    for _ in range(4):
        # Often one of the stored shapes, so that equals, contains and overlaps hold.
        reference = draw(st.one_of(st.sampled_from(shapes), geometries(centre, spread)))
        georel = draw(st.sampled_from([*GEORELS[1:], "near"]))
        distances: dict[str, float] = {}
        if georel == "near":
            name = draw(st.sampled_from(["max_distance", "min_distance"]))
            distances[name] = draw(st.sampled_from([1.0, 50.0, 300.0, 2_000.0, 30_000.0, 1e7]))
        queries.append(GeoQuery(georel, reference, geoproperty=LOCATION, **distances))
    return shapes, queries


def at_distance_boundary(q: GeoQuery, target: dict[str, Any]) -> bool:
    """Whether the predicate's answer for ``target`` changes within 1e-9 of the distance."""
    if q.georel != "near":
        return False
    name = "max_distance" if q.max_distance is not None else "min_distance"
    d = q.max_distance if q.max_distance is not None else q.min_distance
    assert d is not None
    answers = {matches(GeoQuery("near", q.geometry, geoproperty=q.geoproperty, **{name: d * factor}), target)
               for factor in (1 - 1e-9, 1 + 1e-9)}
    return len(answers) == 2


def beyond_geos_311(q: GeoQuery, target: dict[str, Any]) -> bool:
    """Whether a relation other than intersects or disjoint meets a geometry GEOS 3.11
    (PostGIS) relates otherwise than GEOS 3.14 (shapely): a line crossing itself, or a repair's
    collection mixing dimensions, which PostgreSQL relates part by part."""
    def hard(geometry: dict[str, Any]) -> bool:
        stored = orjson.loads(geometry_rows(entity("probe", location=[geo(geometry)]))[0][1])
        if stored["type"] == "GeometryCollection":
            return any(p["type"] != "Point" for p in stored["geometries"])
        return "LineString" in stored["type"] and not shape_of(stored).is_simple

    return q.georel in ("within", "contains", "equals", "overlaps") and (hard(q.geometry) or hard(target))


def repaired_vertices(q: GeoQuery, target: dict[str, Any]) -> bool:
    """Whether near;maxDistance from a Point meets a repaired surface: the matcher tests the
    vertices given, PostgreSQL also the crossings the repair added (far away when the edges
    between the vertices span the antimeridian in degrees)."""
    return (q.georel == "near" and q.max_distance is not None and q.geometry["type"] == "Point"
            and "Polygon" in target["type"] and not shapely.geometry.shape(target).is_valid)


def zero_length_line(q: GeoQuery, target: dict[str, Any]) -> bool:
    """Whether a line of one repeated position is on either side: shapely's GEOS 3.14 answers
    it inconsistently (prepared and plain predicates disagree; a prepared ``dwithin`` finds
    nothing near it), PostgreSQL relates the point it stands for."""
    return any("LineString" in g["type"] and not shape_of(g).is_valid for g in (q.geometry, target))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(case=worlds())
def test_random_worlds_postgresql_selects_what_the_predicate_selects(world: World, case: tuple) -> None:
    shapes, queries = case
    world.reset([entity(f"s{i}", location=[geo(shape)]) for i, shape in enumerate(shapes)])
    for q in queries:
        selected, expected = world.select(q), world.brute_force(q)
        for eid in set(selected) ^ set(expected):  # the documented differences only
            target = shapes[int(eid.rsplit(":s", 1)[1])]
            explained = (at_distance_boundary(q, target) or beyond_geos_311(q, target)
                         or zero_length_line(q, target) or repaired_vertices(q, target))
            assert explained, (q, eid)
        assert [i for i in selected if i in expected] == [i for i in expected if i in selected]  # in order


# ---- rows, stored geometry, compiled SQL -----------------------------------------------------------


def test_geometry_rows_are_plain_2d_geojson() -> None:
    e = entity("odd", location=[
        geo({"type": "Point", "coordinates": [1, 2, 30.5]}),
        geo({"type": "Point", "coordinates": [3, 4], "crs": {"type": "name", "properties": {"name": "EPSG:3857"}}},
            "urn:ds:crs"),
        geo({"type": "LineString", "coordinates": [[0, 0, 1, 2], [1, 1, 3, 4]], "bbox": [0, 0, 1, 1]}, "urn:ds:4d"),
        geo("not a geometry", "urn:ds:text"),  # type: ignore[arg-type]
        geo({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "urn:ds:short"),
    ], name=[{"type": "Property", "value": {"type": "Point", "coordinates": [9, 9]}}])
    assert [(attr, orjson.loads(text)) for attr, text in geometry_rows(e)] == [
        (LOCATION, {"type": "Point", "coordinates": [1, 2]}),
        (LOCATION, {"type": "Point", "coordinates": [3, 4]}),
        (LOCATION, {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}),
    ]


def test_geometry_rows_hold_the_repaired_geometry_the_matcher_tests() -> None:
    dot = {"type": "LineString", "coordinates": [[1, 2], [1, 2]]}
    e = entity("repaired", location=[geo(BOWTIE), geo(dot, "urn:ds:l"), geo(COLLAPSED, "urn:ds:c")])
    assert [orjson.loads(text) for _, text in geometry_rows(e)] == [
        {"type": "MultiPolygon", "coordinates": [[[[0, 1], [0.5, 0.5], [0, 0], [0, 1]]],
                                                 [[[1, 0], [0.5, 0.5], [1, 1], [1, 0]]]]},
        # Collapsed to a point: a collection, so that a stored POINT always was a point.
        {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [1, 2]}]},
        {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [0.5, 0.5]}]},
    ]


def test_the_instance_bound_is_the_same_as_sqlites() -> None:
    crowded = entity("crowded", location=[geo({"type": "Point", "coordinates": [0, k / 10]}, f"urn:ds:{k}")
                                          for k in range(257)])
    with pytest.raises(BadRequestData, match="at most 256 GeoProperty instances"):
        geometry_rows(crowded)
    assert len(geometry_rows({**crowded, "attrs": {LOCATION: crowded["attrs"][LOCATION][:256]}})) == 256


def test_stored_geometry_keeps_coordinates_exactly_and_repairs_what_geos_rejects(world: World) -> None:
    given = [{"type": "Point", "coordinates": [0.1, -16.000000000000004]}, FRAME,
             {"type": "MultiPoint", "coordinates": [[0.3, 0.7], [0.3, 0.7]]},
             # Not from geometry_rows (which repairs them already): the database repairs them too.
             BOWTIE, {"type": "LineString", "coordinates": [[1, 2], [1, 2]]}, COLLAPSED]
    texts = [orjson.dumps(g).decode() for g in given]
    rows = world.sql(
        f"SELECT ST_AsText(g), ST_SRID(g), ST_IsValid(g) FROM (SELECT {stored_geometry('t.geojson')} AS g "
        "FROM unnest(%s::text[]) WITH ORDINALITY AS t(geojson, n) ORDER BY n) AS s", (texts,))
    assert [r[0] for r in rows] == [
        "POINT(0.1 -16.000000000000004)",
        "POLYGON((0 0,1 0,1 1,0 1,0 0),(0.25 0.25,0.75 0.25,0.75 0.75,0.25 0.75,0.25 0.25))",
        "MULTIPOINT((0.3 0.7),(0.3 0.7))",
        "MULTIPOLYGON(((0 1,0.5 0.5,0 0,0 1)),((1 0,0.5 0.5,1 1,1 0)))",
        "GEOMETRYCOLLECTION(POINT(1 2))",
        "GEOMETRYCOLLECTION(POINT(0.5 0.5))",
    ]
    assert all(srid == 4326 and valid for _, srid, valid in rows)


def test_the_reference_geometry_is_bound_never_spliced() -> None:
    q = query("within", {"type": "Polygon", "coordinates": [[[1.23456, 2], [3, 2], [3, 4], [1.23456, 2]]]})
    sql, params = compile_geo(q)
    assert "1.23456" not in sql and sql.count("%s") == len(params)
    assert any(isinstance(p, bytes) for p in params) and LOCATION in params
    assert "%" not in sql.replace("%s", "")


def test_the_near_condition_starts_with_a_box_the_gist_index_answers(world: World) -> None:
    world.reset([entity(f"p{i}", location=[geo({"type": "Point", "coordinates": [-1.68 + i * 1e-3, 48.11]})])
                 for i in range(20_000)])
    world.sql("ANALYZE entities, geometries")
    sql, params = compile_geo(query("near;maxDistance==500", {"type": "Point", "coordinates": [-1.68, 48.11]}))
    plan = "\n".join(row[0] for row in world.sql(
        f"EXPLAIN SELECT e.id FROM entities e WHERE {sql} ORDER BY e.rid LIMIT 20", params))
    (leakproof,) = world.sql("SELECT proleakproof FROM pg_proc WHERE oid = "
                             "'geometry_overlaps(geometry, geometry)'::regprocedure")[0]
    if not leakproof:
        pytest.skip("geometry_overlaps is not LEAKPROOF: under row-level security the GiST index cannot be used")
    assert "Index Cond: ((tenant = current_setting('territoires.tenant'::text, true)) AND (geom && " in plan, plan

"""Geo-queries in PostgreSQL + PostGIS, with the semantics of ``territoires.ngsild.geo`` (its
``Matcher``, which the SQLite backend runs after an R*Tree pre-filter).

Against ``postgres_migrations/0001_entities.sql``: one ``geometries(rid, attr, geom)`` row per
GeoProperty instance (``geometry_rows``, ``stored_geometry``), ``geom`` the 2-D geometry the
matcher tests, in SRID 4326.  ``compile_geo`` gives a condition on the entity row ``e``: one
of its instances of the GeoProperty satisfies the query.

How the matcher's answers are kept (T is the stored target, R the matcher's reference):
- T and R are the very shapely geometries the matcher relates (a surface GEOS finds invalid
  repaired by shapely, in Python): the writer stores T's exact coordinates, R is bound as
  WKB, as are R projected to the matcher's local plane and its buffer.  Repairs computed by
  PostGIS's GEOS (3.11) and shapely's (3.14) can differ in the last digit of a crossing.
  A bound geometry is read once per statement (``(SELECT ST_GeomFromWKB(…))``, an InitPlan)
  however PostgreSQL plans it.
- Relations run in GEOS, as in shapely, with two exceptions GEOS 3.11 forces.  PostGIS answers
  point-in-polygon itself, with a 1e-12 tolerance that puts points next to an edge on it: a
  (Multi)Point facing a surface is wrapped in a GeometryCollection, which sends it to GEOS.
  GEOS 3.11 cannot relate a repair's collection mixing a surface with lines or points (it
  raises TopologyException) where GEOS 3.14 relates their union: such a side is related part
  by part (``_by_parts``), exactly for intersects and disjoint, approximately for the others.
- ``near`` from a Point to Point positions: the matcher's haversine term, computed in SQL with
  the same operations in the same order (PostgreSQL and CPython call the same libm), against
  the matcher's threshold: equal bit for bit.  PostgreSQL raises on a float underflow where
  Python rounds to 0, so coordinate differences under 1e-100 degrees count as 0 (they change
  the term by less than 1e-200).
- Other ``near`` cases: T projected to the matcher's local plane as it projects it (the same
  antimeridian shift, translate then scale), then PostGIS planar distance against ``d``, or
  GEOS ``covers`` by the matcher's buffer.  PostGIS and GEOS compute distances by different
  algorithms: they may disagree within about 1e-12 of ``d`` (relative).
- A repaired surface under ``near`` from a Point with maxDistance: the matcher tests the
  vertices given, PostgreSQL those of the repaired surface (the same, plus the crossings the
  repair added on its edges).

Index: every condition but ``disjoint`` and ``minDistance`` starts with ``geom && <box>``, the
box of ``ngsild.geo.bounding_box`` (the one SQLite's R*Tree uses), which the GiST index on
``(tenant, geom)`` answers.  Under row-level security PostgreSQL only uses a condition as an
index condition if its operator is LEAKPROOF, which PostGIS does not declare for ``&&``:
without ``ALTER FUNCTION geometry_overlaps(geometry, geometry) LEAKPROOF`` (a superuser's
step) the box is checked row by row over the tenant's geometries.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import orjson
import shapely
import shapely.geometry

from territoires.ngsild.geo import (
    GeoQuery,
    Matcher,
    bounding_box,
    geo_instances,
    geometry_box,
    shape_of,
)
from territoires.ngsild.model import Entity
from territoires.store.filter_common import Param, Sql, concat

_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}
_RADIANS = math.radians(1.0)  # the factor math.radians multiplies by
_TINY = "1e-100::float8"  # coordinate differences below this count as 0 (float underflow)
_WHOLE_BOX = (-180.0, 180.0, -90.0, 90.0)


# ---- writing ----------------------------------------------------------------------------------


def geometry_rows(entity: Entity) -> list[tuple[str, str]]:
    """(attribute IRI, GeoJSON text) of every GeoProperty instance of an entity in internal form
    that ``ngsild.geo.geo_instances`` indexes, as the matcher reads it: 2-D (only longitude and
    latitude take part), ``type`` and ``coordinates`` only (a ``crs`` member would change the
    SRID), and a geometry GEOS finds invalid already repaired by shapely, bit for bit the target
    the matcher tests.  Raises BadRequestData beyond 256 instances."""
    return [(attr, _stored_text(geometry)) for attr, geometry in geo_instances(entity)]


def _stored_text(geometry: dict[str, Any]) -> str:
    kind = geometry["type"]
    plain = {"type": kind, "coordinates": _xy(geometry["coordinates"], _DEPTH[kind])}
    if kind == "Point":
        return orjson.dumps(plain).decode()
    shape = shape_of(plain)  # surfaces repaired
    if kind in ("LineString", "MultiLineString") and not shape.is_valid:
        # A line of one repeated position: shapely reads it as that point, GEOS 3.11 cannot.
        shape = shapely.make_valid(shape)
    if shape.geom_type in ("Point", "MultiPoint") and kind != "MultiPoint":
        shape = shapely.GeometryCollection([shape])  # collapsed: keep it apart from points given
    return orjson.dumps(shapely.geometry.mapping(shape)).decode()


def _xy(coordinates: Any, depth: int) -> Any:
    if depth == 0:
        return coordinates[:2]
    return [_xy(item, depth - 1) for item in coordinates]


def stored_geometry(column_sql: str) -> str:
    """SQL turning the GeoJSON text of ``geometry_rows`` in column ``column_sql`` into the stored
    geometry, in SRID 4326, valid for GEOS so that no predicate meets an invalid geometry
    (``ST_MakeValid``, which leaves valid ones unchanged and repairs as shapely's
    ``make_valid`` does).  A repair that collapses a line or surface to points is kept as a
    GeometryCollection, so that a stored POINT or MULTIPOINT always was one: the matcher
    treats positions given as points apart.  Points (the usual case) are only parsed."""
    c = column_sql
    return (f"CASE WHEN starts_with({c}, '{{\"type\":\"Point\"') THEN ST_GeomFromGeoJSON({c}) "
            "ELSE (SELECT CASE WHEN GeometryType(t) IN ('POINT', 'MULTIPOINT') THEN t ELSE "
            "(SELECT CASE WHEN ST_Dimension(v) = 0 THEN ST_ForceCollection(v) ELSE v END FROM ST_MakeValid(t) AS v) "
            f"END FROM ST_GeomFromGeoJSON({c}) AS t) END")


# ---- querying ---------------------------------------------------------------------------------


def compile_geo(query: GeoQuery) -> tuple[str, list[Any]]:
    """A boolean SQL expression over the entity row ``e`` with its parameters (psycopg ``%s``):
    true when the entity has an instance of ``query.geoproperty`` that satisfies ``query``.
    Entities without that GeoProperty never match, ``disjoint`` included (clause 4.10)."""
    sql, params = _compiled(query)
    return sql, list(params)


@lru_cache(maxsize=256)
def _compiled(query: GeoQuery) -> tuple[str, tuple[Any, ...]]:
    if "\x00" in query.geoproperty:  # PostgreSQL text cannot hold it, so no stored attribute does
        return "false", ()
    m = Matcher(query)  # a private one: its prepared geometries are not shared across threads
    if query.georel == "near":
        predicate = _near(m)
    else:
        predicate = _relation(m)
    conditions: list[str | Param | Sql] = ["g.attr = ", Param(query.geoproperty)]
    box = bounding_box(query)
    if box is not None and box != _WHOLE_BOX:
        conditions += [" AND g.geom && ", _envelope(box)]
    sql, params = concat("%s", "e.rid IN (SELECT g.rid FROM geometries g WHERE ", *conditions,
                         " AND ", predicate, ")")
    return sql, tuple(params)


def _envelope(box: tuple[float, float, float, float]) -> Sql:
    min_x, max_x, min_y, max_y = (float(v) for v in box)
    return concat("%s", "ST_MakeEnvelope(", Param(min_x), ", ", Param(min_y), ", ", Param(max_x), ", ",
                  Param(max_y), ", 4326)")


def _bound(shape: shapely.Geometry, *, collection: bool = False) -> Sql:
    """A geometry of the matcher, bound as WKB and read once per statement; ``collection``
    wraps it in a GeometryCollection (see the module docstring)."""
    read = concat("%s", "ST_GeomFromWKB(", Param(shapely.to_wkb(shape)), ", 4326)")
    if collection:
        read = concat("%s", "ST_ForceCollection(", read, ")")
    return concat("%s", "(SELECT ", read, ")")


_PUNCTAL_TARGET = "GeometryType(g.geom) IN ('POINT', 'MULTIPOINT')"
# A repair's output: a surface with the lines or points it collapsed to beside it.
_MIXED_TARGET = "(GeometryType(g.geom) = 'GEOMETRYCOLLECTION' AND ST_Dimension(g.geom) > 0)"


def _relation(m: Matcher) -> Sql:
    """within, contains, intersects, disjoint, overlaps, equals: shapely's predicates on
    (reference, target), in GEOS."""
    georel, reference = m.query.georel, m.reference
    if not reference.is_valid:  # a line of one repeated position: shapely reads it as that point
        reference = shapely.make_valid(reference)
    by_parts = _by_parts(georel, _bound(reference), ("g.geom", []))
    if reference.geom_type == "GeometryCollection":
        relation = by_parts
    else:
        polygonal = reference.geom_type in ("Polygon", "MultiPolygon")
        target = (f"(CASE WHEN {_PUNCTAL_TARGET} THEN ST_ForceCollection(g.geom) ELSE g.geom END)"
                  if polygonal else "g.geom")
        direct = _direct(georel, _bound(reference, collection=reference.geom_type in ("Point", "MultiPoint")),
                         (target, []))
        relation = concat("%s", "(CASE WHEN ", _MIXED_TARGET, " THEN ", by_parts, " ELSE ", direct, " END)")
    if georel == "disjoint":  # boxes apart settle most rows without GEOS
        return concat("%s", "(NOT (g.geom && ", _envelope(geometry_box(m.query.geometry)), ") OR ", relation, ")")
    return relation


def _direct(georel: str, ref: Sql, target: Sql) -> Sql:
    """The relation by the PostGIS predicate of the same name."""
    if georel == "within":
        return concat("%s", "ST_Contains(", ref, ", ", target, ")")
    if georel == "contains":
        return concat("%s", "ST_Contains(", target, ", ", ref, ")")
    if georel == "intersects":
        return concat("%s", "ST_Intersects(", ref, ", ", target, ")")
    if georel == "disjoint":
        return concat("%s", "NOT ST_Intersects(", ref, ", ", target, ")")
    if georel == "overlaps":
        return concat("%s", "ST_Overlaps(", ref, ", ", target, ")")
    return concat("%s", "ST_Equals(", target, ", ", ref, ")")


def _by_parts(georel: str, ref: Sql, target: Sql) -> Sql:
    """The relation from relations between the points, lines and surfaces of each side, for a
    side that mixes them: GEOS 3.11 fails on such collections (TopologyException), GEOS 3.14
    (shapely) relates them as the union of their parts.  Exact for intersects and disjoint;
    the others take a part of one side as covered when one part of the other covers it."""
    def pairs(condition: str) -> Sql:
        return concat("%s", "EXISTS (SELECT FROM ", _parts(ref, "a"), ", ", _parts(target, "b"), " WHERE ",
                      condition, ")")

    def covers(outer: Sql, inner: Sql) -> Sql:
        return concat("%s", "NOT EXISTS (SELECT FROM ", _parts(inner, "b"), " WHERE NOT EXISTS (SELECT FROM ",
                      _parts(outer, "a"), " WHERE ST_Covers(a.p, b.p)))")

    meet = pairs("ST_Relate(a.p, b.p, 'T********')")  # their interiors meet
    if georel == "within":
        return concat("%s", "(", covers(ref, target), " AND ", meet, ")")
    if georel == "contains":
        return concat("%s", "(", covers(target, ref), " AND ", meet, ")")
    if georel in ("intersects", "disjoint"):
        return concat("%s", "" if georel == "intersects" else "NOT ", pairs("ST_Intersects(a.p, b.p)"))
    if georel == "equals":
        return concat("%s", "(", covers(ref, target), " AND ", covers(target, ref), ")")
    return concat("%s", "(ST_Dimension(", ref, ") = ST_Dimension(", target, ") AND ", meet, " AND NOT ",
                  covers(ref, target), " AND NOT ", covers(target, ref), ")")


def _parts(geometry: Sql, alias: str) -> Sql:
    """The points (as a collection: see the module docstring), lines and surfaces of a
    geometry, those it has, as rows ``alias.p``."""
    return concat("%s", "(SELECT p FROM (VALUES (ST_ForceCollection(ST_CollectionExtract(", geometry, ", 1))), "
                  "(ST_CollectionExtract(", geometry, ", 2)), (ST_CollectionExtract(", geometry, ", 3))) AS v (p) "
                  "WHERE NOT ST_IsEmpty(p)) AS ", alias)


def _near(m: Matcher) -> Sql:
    """near;maxDistance / near;minDistance as ``Matcher._near`` decides them."""
    is_max = m.query.max_distance is not None
    distance = Param(float(m.distance))
    projected_ref = _bound(m.projected)
    if m.point is not None:
        point = concat("%s", _haversine(m, "ST_X(g.geom)", "ST_Y(g.geom)"), " <= " if is_max else " > ",
                       Param(m.threshold))
        # Every position decides; a position failing the test is one with the opposite answer.
        failing = concat("%s", "EXISTS (SELECT FROM ST_DumpPoints(g.geom) AS d WHERE ",
                         _haversine(m, "ST_X(d.geom)", "ST_Y(d.geom)"), " > " if is_max else " <= ",
                         Param(m.threshold), ")")
        if is_max:
            return concat("%s", "(CASE WHEN GeometryType(g.geom) = 'POINT' THEN ", point, " ELSE NOT ", failing,
                          " END)")
        return concat("%s", "(CASE GeometryType(g.geom) WHEN 'POINT' THEN ", point, " WHEN 'MULTIPOINT' THEN NOT ",
                      failing, " ELSE NOT ST_DWithin(", projected_ref, ", ", _projected_target(m), ", ",
                      distance, ") END)")
    if not is_max:
        return concat("%s", "NOT ST_DWithin(", projected_ref, ", ", _projected_target(m), ", ", distance, ")")
    buffer = _bound(m._buffered())  # the matcher's own buffer polygon, not one rebuilt here
    return concat(
        "%s", "(CASE GeometryType(g.geom) WHEN 'POINT' THEN ST_DWithin(", projected_ref, ", ", _projected_target(m),
        ", ", distance, ") WHEN 'MULTIPOINT' THEN NOT EXISTS (SELECT FROM ST_Dump(", _projected_target(m),
        ") AS d WHERE NOT ST_DWithin(", projected_ref, ", d.geom, ", distance, ")) ELSE NOT EXISTS (SELECT FROM ",
        _parts(_projected_target(m), "b"), " WHERE NOT ST_Covers(", buffer, ", b.p)) END)",
    )


def _haversine(m: Matcher, lon: str, lat: str) -> Sql:
    """``_Plane.haversine_term`` of the matcher's plane at the position (lon, lat): the same
    operations in the same order, on the same constants."""
    def radians_of(difference: Sql) -> Sql:
        return concat("%s", "(CASE WHEN abs(", difference, ") < ", _TINY, " THEN 0 ELSE ", difference, " END * ",
                      Param(_RADIANS), ")")

    plane = m.plane
    dlat = radians_of(concat("%s", "(", lat, " - ", Param(float(plane.lat0)), ")"))
    dlon = radians_of(concat("%s", "(", lon, " - ", Param(float(plane.lon0)), ")"))
    cos_lat = concat("%s", "cos(", radians_of((lat, [])), ")")
    return concat("%s", "(power(sin(", dlat, " / 2), 2) + ", Param(plane.cos_lat0), " * ", cos_lat,
                  " * power(sin(", dlon, " / 2), 2))")


def _projected_target(m: Matcher) -> Sql:
    """``_Plane.project`` of the stored target: the origin moves by whole turns when the
    target lies across the antimeridian from the reference, as ``_wrap`` computes it
    (Python's float ``%`` for the values it meets), then translate and scale."""
    plane = m.plane
    lon0, lat0 = Param(float(plane.lon0)), Param(float(plane.lat0))
    wrapped = "(CASE WHEN s.x >= 360 THEN s.x - 360 WHEN s.x < 0 THEN s.x + 360 ELSE s.x END - 180)"
    return concat(
        "%s", "(SELECT ST_Scale(ST_Translate(g.geom, ", wrapped, " - s.t - ", lon0, ", -", lat0, "), ",
        Param(float(plane.kx)), ", ", Param(float(plane.ky)), ") FROM (SELECT c.t, c.t + 180 AS x FROM "
        "(SELECT (ST_XMin(g.geom) + ST_XMax(g.geom)) / 2 - ", lon0, " AS t OFFSET 0) AS c) AS s)",
    )

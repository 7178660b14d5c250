"""GeoJSON geometries, the NGSI-LD Geoquery language and the GeoJSON representation.

- Geometries (clause 4.7.1, RFC 7946): every GeoJSON geometry type except GeometryCollection.
  Coordinates are WGS84 ``[longitude, latitude]``; only the first two members of a position
  take part in computations.
- Geo-queries (clause 4.10, 5.2.13, 6.4.3.2): parsing of ``georel``/``geometry``/``coordinates``
  /``geoproperty`` and the exact predicate :func:`matches`, plus :func:`bounding_box` for
  index pre-filters.
- GeoJSON representation (clauses 4.5.16 and 4.5.17): :func:`to_feature`,
  :func:`to_feature_collection`.

Semantics of the predicates, target geometry = the entity's GeoProperty, reference geometry =
the query's (clause 4.10, relations "as specified by" OGC Simple Features):

- ``within``: target within reference; ``contains``: target contains reference;
  ``intersects``, ``disjoint``, ``overlaps``, ``equals``: as their OGC names say.  These are
  evaluated in the plane of longitude/latitude degrees, as GeoJSON defines its edges
  (RFC 7946 §3.1.1): no geodesic edges.
- ``near;maxDistance==d``: the target lies *within* the buffer of the reference by ``d`` metres,
  so every point of the target is at most ``d`` away (for a Point target: its distance <= d).
- ``near;minDistance==d``: the target is *disjoint* from that buffer: its nearest point is
  farther than ``d``.

Distances: between a Point reference and Point positions, the haversine formula on the WGS84
mean radius (exact on the sphere; within 0.5 % of the ellipsoid).  Otherwise the geometries are
projected to a local equirectangular plane centred on the reference geometry (metres along the
meridian, metres along the parallel of the centre).  That plane is accurate to a fraction of a
percent for distances up to tens of kilometres away from the poles; it degrades with distance
and latitude.  A non-Point target within ``maxDistance`` of a non-Point reference is tested
against a 32-segments-per-quarter buffer polygon, which may miss targets within 0.12 % of ``d``
of the buffer's edge.

Any entity lacking the target GeoProperty does not match any georel, ``disjoint`` included
(clause 4.10).  With several instances of the GeoProperty (datasetIds), the entity matches when
one instance matches.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import orjson
import shapely

from territoires.ngsild.errors import BadRequestData

LOCATION = "https://uri.etsi.org/ngsi-ld/location"
EARTH_RADIUS = 6_371_008.8  # WGS84 mean radius (IUGG), metres

GEOMETRY_TYPES = ("Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
GEORELS = ("near", "within", "contains", "intersects", "equals", "disjoint", "overlaps")
MAX_GEO_INSTANCES = 256  # GeoProperty instances a store indexes per entity

Box = tuple[float, float, float, float]  # min_x, max_x, min_y, max_y
WHOLE_WORLD: Box = (-180.0, 180.0, -90.0, 90.0)

# RFC 8259 number without the minus sign (clause 4.10 PositiveNumber).
_POSITIVE_NUMBER = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# Box margins: absorb rounding so that the index never drops what the predicate accepts.
_BOX_SLACK = 1e-9


# ---- geometries ----------------------------------------------------------------------------


def plain_point(value: Any) -> dict[str, Any] | None:
    """A copy of ``value`` when it is a plain, valid GeoJSON Point (the usual case, checked
    quickly), else None: ``validate_geometry`` then checks it in full and says what is wrong."""
    if type(value) is not dict or value.get("type") != "Point" or "bbox" in value:
        return None
    position = value.get("coordinates")
    if type(position) is not list or len(position) < 2:
        return None
    for number in position:
        if type(number) is not float and type(number) is not int:
            return None
    # In range implies finite (NaN compares false); only an altitude needs isfinite().
    if not (-180 <= position[0] <= 180 and -90 <= position[1] <= 90):
        return None
    if len(position) > 2 and not all(math.isfinite(number) for number in position[2:]):
        return None
    return dict(value)


def validate_geometry(value: Any, where: str = "value") -> dict[str, Any]:
    """The GeoJSON geometry ``value`` (a dict, or a string holding its JSON), checked.

    Returns a new dict (the parsed one when a string was given).  Raises BadRequestData whose
    detail starts with ``where``, e.g. ``location.value: Polygon ring 0 is not closed``.
    """
    point = plain_point(value)
    if point is not None:
        return point
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            detail = f"{where}: a string GeoProperty value must hold GeoJSON, this one is not JSON"
            raise BadRequestData(detail) from None
    if not isinstance(value, dict):
        raise BadRequestData(f"{where}: a GeoJSON geometry must be a JSON object, got {_kind(value)}")
    kind = value.get("type")
    if kind in ("Feature", "FeatureCollection"):
        raise BadRequestData(f"{where}: a GeoJSON {kind} is not a geometry; give its geometry only")
    if kind == "GeometryCollection":
        raise BadRequestData(f"{where}: GeometryCollection is not allowed in NGSI-LD (clause 4.7.1)")
    if kind not in GEOMETRY_TYPES:
        raise BadRequestData(f"{where}: geometry type {_show(kind)} is not one of {', '.join(GEOMETRY_TYPES)}")
    if "coordinates" not in value:
        raise BadRequestData(f"{where}: {kind} has no coordinates")
    _check_coordinates(kind, value["coordinates"], f"{where}: {kind}")
    if "bbox" in value:
        _check_bbox(value["bbox"], f"{where}: bbox")
    # A self-intersecting polygon is accepted as GeoJSON allows (RFC 7946 does not forbid it, and
    # real data has them); geo-queries read it repaired (see shape_of).
    return dict(value)


def geometry_box(geometry: dict[str, Any]) -> Box:
    """(min_x, max_x, min_y, max_y) of a validated geometry, in degrees."""
    xs, ys = [], []
    for x, y in _positions(geometry):
        xs.append(x)
        ys.append(y)
    return min(xs), max(xs), min(ys), max(ys)


def _kind(value: Any) -> str:
    """How a JSON value is named in error details."""
    kinds = {type(None): "null", bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "an array", dict: "an object"}
    return kinds.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else _kind(value)


def _check_position(position: Any, where: str) -> None:
    if not isinstance(position, list) or len(position) < 2:
        raise BadRequestData(f"{where} must be a position, an array of two or more numbers")
    for number in position:
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            raise BadRequestData(f"{where} must hold numbers only, got {_show(number)}")
    lon, lat = position[0], position[1]
    if not -180 <= lon <= 180:
        raise BadRequestData(f"{where}: longitude {lon} is outside -180..180 (GeoJSON is [longitude, latitude])")
    if not -90 <= lat <= 90:
        raise BadRequestData(f"{where}: latitude {lat} is outside -90..90 (GeoJSON is [longitude, latitude])")


def _check_list(value: Any, minimum: int, what: str, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequestData(f"{where} must be an array of {what}, got {_kind(value)}")
    if len(value) < minimum:
        raise BadRequestData(f"{where} needs at least {minimum} {what}, got {len(value)}")
    return value


def _check_line(value: Any, where: str) -> None:
    for i, position in enumerate(_check_list(value, 2, "positions", where)):
        _check_position(position, f"{where} position {i}")


def _check_rings(value: Any, where: str) -> None:
    for r, ring in enumerate(_check_list(value, 1, "linear rings", where)):
        label = f"{where} ring {r}"
        for i, position in enumerate(_check_list(ring, 4, "positions (a closed ring)", label)):
            _check_position(position, f"{label} position {i}")
        if ring[0] != ring[-1]:
            raise BadRequestData(f"{label} is not closed: its first and last positions differ")


def _check_coordinates(kind: str, coordinates: Any, where: str) -> None:
    if kind == "Point":
        _check_position(coordinates, f"{where} coordinates")
    elif kind == "MultiPoint":
        for i, position in enumerate(_check_list(coordinates, 1, "positions", where)):
            _check_position(position, f"{where} position {i}")
    elif kind == "LineString":
        _check_line(coordinates, where)
    elif kind == "MultiLineString":
        for i, line in enumerate(_check_list(coordinates, 1, "line strings", where)):
            _check_line(line, f"{where} line {i}")
    elif kind == "Polygon":
        _check_rings(coordinates, where)
    else:
        for i, rings in enumerate(_check_list(coordinates, 1, "polygons", where)):
            _check_rings(rings, f"{where} polygon {i}")


def _check_bbox(bbox: Any, where: str) -> None:
    if (not isinstance(bbox, list) or len(bbox) not in (4, 6)
            or any(isinstance(n, bool) or not isinstance(n, (int, float)) for n in bbox)):
        raise BadRequestData(f"{where} must be an array of 4 or 6 numbers (RFC 7946 §5)")


def _positions(geometry: dict[str, Any]) -> Iterator[tuple[float, float]]:
    """Every (lon, lat) of a validated geometry."""
    kind, coordinates = geometry["type"], geometry["coordinates"]
    depth = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2}.get(kind, 3)
    stack: list[Any] = [coordinates]
    for _ in range(depth):
        stack = [item for level in stack for item in level]
    for position in stack:
        yield position[0], position[1]


def _xy(positions: Iterable[list[float]]) -> list[tuple[float, float]]:
    return [(p[0], p[1]) for p in positions]


def _polygon(rings: list[list[list[float]]]) -> shapely.Polygon:
    return shapely.Polygon(_xy(rings[0]), [_xy(ring) for ring in rings[1:]])


def shape_of(geometry: dict[str, Any]) -> shapely.Geometry:
    """The 2-D shapely geometry of a structurally checked GeoJSON geometry, as the predicate
    reads it (stores that evaluate geo-queries themselves read it so too)."""
    kind, c = geometry["type"], geometry["coordinates"]
    if kind == "Point":
        return shapely.Point(c[0], c[1])
    if kind == "MultiPoint":
        return shapely.MultiPoint(_xy(c))
    if kind == "LineString":
        return shapely.LineString(_xy(c))
    if kind == "MultiLineString":
        return shapely.MultiLineString([_xy(line) for line in c])
    surface = _polygon(c) if kind == "Polygon" else shapely.MultiPolygon([_polygon(rings) for rings in c])
    # GEOS predicates fail on self-intersecting surfaces: use the repaired surface they cover.
    return surface if shapely.is_valid(surface) else shapely.make_valid(surface)


# ---- geo-queries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GeoQuery:
    """A parsed geo-query. ``geometry`` is the validated reference geometry; ``geoproperty`` the
    expanded IRI of the target GeoProperty; distances (metres) only with ``georel == "near"``,
    exactly one of them."""

    georel: str
    geometry: dict[str, Any]
    max_distance: float | None = None
    min_distance: float | None = None
    geoproperty: str = LOCATION
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.georel not in GEORELS:
            raise BadRequestData(f"georel {self.georel!r} is not one of {', '.join(GEORELS)}")
        distances = [d for d in (self.max_distance, self.min_distance) if d is not None]
        if (len(distances) == 1) != (self.georel == "near") or any(not 0 < d < math.inf for d in distances):
            raise BadRequestData("near needs exactly one positive distance, the other georels none")
        object.__setattr__(self, "geometry", validate_geometry(self.geometry, "geometry"))
        # A canonical text of the query: hashable identity for caches and SQL functions.
        canonical = orjson.dumps([self.georel, self.geometry, self.max_distance, self.min_distance,
                                  self.geoproperty], option=orjson.OPT_SORT_KEYS).decode()
        object.__setattr__(self, "key", canonical)

    def __hash__(self) -> int:
        return hash(self.key)


def parse_geo_query(georel: str | None, geometry: str | None, coordinates: str | Any | None,
                    geoproperty: str | None, expand: Callable[[str], str]) -> GeoQuery | None:
    """The geo-query of the HTTP parameters ``georel``, ``geometry``, ``coordinates``,
    ``geoproperty`` (clause 6.4.3.2); None when none of them is given.  ``coordinates`` is the
    JSON text of the array (or the array itself, as in a POST query body); ``expand`` turns the
    geoproperty term into its IRI."""
    given = {name for name, v in (("georel", georel), ("geometry", geometry), ("coordinates", coordinates),
                                  ("geoproperty", geoproperty)) if v is not None}
    if not given:
        return None
    missing = [name for name in ("georel", "geometry", "coordinates") if name not in given]
    if missing:
        raise BadRequestData(f"a geo-query needs georel, geometry and coordinates together; "
                             f"{' and '.join(missing)} missing (given: {', '.join(sorted(given))})")
    relation, max_distance, min_distance = _parse_georel(georel)
    if not isinstance(geometry, str):
        raise BadRequestData(f"geometry must be a string naming a GeoJSON geometry type, got {_kind(geometry)}")
    if geometry == "GeometryCollection":
        raise BadRequestData("geometry: GeometryCollection cannot be a geo-query reference geometry (clause 4.10)")
    if geometry not in GEOMETRY_TYPES:
        near_miss = next((t for t in GEOMETRY_TYPES if t.lower() == geometry.lower()), None)
        hint = f"; did you mean {near_miss!r}? (names are case-sensitive)" if near_miss else ""
        raise BadRequestData(f"geometry {geometry!r} is not one of {', '.join(GEOMETRY_TYPES)}{hint}")
    if isinstance(coordinates, str):
        try:
            coordinates = orjson.loads(coordinates)
        except orjson.JSONDecodeError:
            raise BadRequestData(f"coordinates must be a JSON array such as [8.0,40.0], got {coordinates!r}") from None
    reference = validate_geometry({"type": geometry, "coordinates": coordinates}, "coordinates")
    if geoproperty is None:
        target = LOCATION
    elif isinstance(geoproperty, str) and geoproperty:
        target = expand(geoproperty)
    else:
        raise BadRequestData("geoproperty must be a non-empty attribute name")
    return GeoQuery(relation, reference, max_distance, min_distance, target)


def parse_geo_query_object(obj: Any, expand: Callable[[str], str]) -> GeoQuery:
    """The geo-query of a GeoQuery JSON object (clause 5.2.13: ``geoQ`` of subscriptions and of
    POST /entityOperations/query); ``coordinates`` may be an array or its JSON text."""
    if not isinstance(obj, dict):
        raise BadRequestData(f"geoQ must be a JSON object with georel, geometry and coordinates, got {_kind(obj)}")
    unknown = sorted(set(obj) - {"georel", "geometry", "coordinates", "geoproperty"})
    if unknown:
        raise BadRequestData(f"geoQ has unknown member(s) {', '.join(unknown)}; "
                             "allowed: georel, geometry, coordinates, geoproperty")
    query = parse_geo_query(obj.get("georel"), obj.get("geometry"), obj.get("coordinates"), obj.get("geoproperty"),
                            expand)
    if query is None:
        raise BadRequestData("geoQ is empty: it needs georel, geometry and coordinates")
    return query


def _parse_georel(georel: Any) -> tuple[str, float | None, float | None]:
    if not isinstance(georel, str):
        raise BadRequestData(f"georel must be a string such as 'near;maxDistance==500', got {_kind(georel)}")
    relation, *modifiers = georel.strip().split(";")
    if relation not in GEORELS:
        raise BadRequestData(f"georel {georel!r}: {relation!r} is not one of {', '.join(GEORELS)}")
    if relation != "near":
        if modifiers:
            raise BadRequestData(f"georel {georel!r}: only near takes a modifier")
        return relation, None, None
    if len(modifiers) != 1:
        raise BadRequestData(f"georel {georel!r}: near takes exactly one of maxDistance==<metres> "
                             f"or minDistance==<metres>")
    name, sep, number = modifiers[0].partition("==")
    if not sep or name not in ("maxDistance", "minDistance"):
        raise BadRequestData(f"georel {georel!r}: the near modifier must be maxDistance==<metres> "
                             f"or minDistance==<metres>")
    if number.startswith("-"):
        raise BadRequestData(f"georel {georel!r}: {name} must be positive, got {number}")
    distance = float(number) if _POSITIVE_NUMBER.fullmatch(number) else None
    if distance is None:
        raise BadRequestData(f"georel {georel!r}: {name} must be a number of metres, got {number!r}")
    if distance == 0 or math.isinf(distance):
        raise BadRequestData(f"georel {georel!r}: {name} must be a finite number greater than 0")
    return relation, (distance if name == "maxDistance" else None), (distance if name == "minDistance" else None)


# ---- the predicate -------------------------------------------------------------------------


def matches(query: GeoQuery, entity_geometry: Any) -> bool:
    """Whether the target geometry ``entity_geometry`` satisfies ``query`` (see the module
    docstring for the semantics).  A value that is not a valid geometry matches nothing."""
    if not _is_target(entity_geometry):
        return False
    try:
        return matcher(query)(entity_geometry)
    except shapely.errors.GEOSException:  # a surface GEOS rejects
        return False


def _is_target(value: Any) -> bool:
    """Whether a stored GeoProperty value is a geometry the predicate can test."""
    if plain_point(value) is not None:
        return True
    if not isinstance(value, dict) or value.get("type") not in GEOMETRY_TYPES:
        return False
    try:
        _check_coordinates(value["type"], value.get("coordinates"), "value")
    except BadRequestData:
        return False
    return True


def geo_instances(entity: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(attribute IRI, geometry) of every GeoProperty instance of an entity in internal form,
    the way every store indexes them: in attribute then instance order, values that are not
    geometries (stored before validation existed) left out, as they match no geo-query.
    Raises BadRequestData beyond MAX_GEO_INSTANCES instances."""
    found: list[tuple[str, dict[str, Any]]] = []
    for attr, instances in entity.get("attrs", {}).items():
        for instance in instances:
            if instance["type"] != "GeoProperty" or not _is_target(instance.get("value")):
                continue
            if len(found) == MAX_GEO_INSTANCES:
                raise BadRequestData(f"entity {entity.get('id')}: at most {MAX_GEO_INSTANCES} GeoProperty "
                                     "instances can be stored")
            found.append((attr, instance["value"]))
    return found


@lru_cache(maxsize=256)
def matcher(query: GeoQuery) -> Matcher:
    """The compiled predicate of ``query``, cached: its reference geometry is built and
    prepared once."""
    return Matcher(query)


def _wrap(degrees: float) -> float:
    """A longitude difference brought into -180..180."""
    return (degrees + 180.0) % 360.0 - 180.0


class Matcher:
    """``query`` compiled for repeated evaluation; call it on validated GeoJSON geometries
    (dicts) or on their JSON text (:meth:`match_text`)."""

    def __init__(self, query: GeoQuery) -> None:
        self.query = query
        self._lock = threading.Lock()
        self.reference = shape_of(query.geometry)
        shapely.prepare(self.reference)
        ref = query.geometry
        self.point = (ref["coordinates"][0], ref["coordinates"][1]) if ref["type"] == "Point" else None
        if query.georel != "near":
            return
        self.distance = query.max_distance if query.max_distance is not None else query.min_distance
        self.plane = _Plane(query.geometry)
        # Haversine threshold: a point is within the distance iff its haversine term <= this.
        half = self.distance / (2 * EARTH_RADIUS)
        self.threshold = math.sin(half) ** 2 if half < math.pi / 2 else math.inf
        self.projected = self.plane.project(self.reference)
        shapely.prepare(self.projected)
        self._buffer: shapely.Geometry | None = None

    def match_text(self, text: str) -> bool:
        return self(orjson.loads(text))

    def __call__(self, geometry: dict[str, Any]) -> bool:
        if self.query.georel == "near" and self.point is not None and geometry["type"] == "Point":
            # The hot path (points near a point): plain arithmetic, no shapely object.
            term = self.plane.haversine_term(geometry["coordinates"][0], geometry["coordinates"][1])
            return term <= self.threshold if self.query.max_distance is not None else term > self.threshold
        # Prepared GEOS geometries are not thread-safe, and shapely releases the GIL.
        with self._lock:
            return self._near(geometry) if self.query.georel == "near" else self._relate(geometry)

    def _relate(self, geometry: dict[str, Any]) -> bool:
        ref, georel = self.reference, self.query.georel
        if geometry["type"] == "Point" and georel in ("within", "intersects", "disjoint"):
            x, y = geometry["coordinates"][0], geometry["coordinates"][1]
            if georel == "within":
                return bool(shapely.contains_xy(ref, x, y))
            inside = bool(shapely.intersects_xy(ref, x, y))
            return inside if georel == "intersects" else not inside
        target = shape_of(geometry)
        if georel == "within":
            return bool(shapely.contains(ref, target))
        if georel == "contains":
            return bool(shapely.within(ref, target))
        if georel == "intersects":
            return bool(shapely.intersects(ref, target))
        if georel == "disjoint":
            return bool(shapely.disjoint(ref, target))
        if georel == "overlaps":
            return bool(shapely.overlaps(ref, target))
        return bool(shapely.equals(target, ref))

    # -- near --
    def _near(self, geometry: dict[str, Any]) -> bool:
        is_max = self.query.max_distance is not None
        kind = geometry["type"]
        if self.point is not None and (is_max or kind == "MultiPoint"):
            # Point reference: every position (vertex) decides, on the sphere.  For maxDistance a
            # target is inside the (convex) disc iff all its vertices are.
            if is_max:
                return all(self.plane.haversine_term(x, y) <= self.threshold for x, y in _positions(geometry))
            return all(self.plane.haversine_term(x, y) > self.threshold for x, y in _positions(geometry))
        target = self.plane.project(shape_of(geometry))
        if not is_max:
            return not shapely.dwithin(self.projected, target, self.distance)
        if kind in ("Point", "MultiPoint"):
            return all(shapely.dwithin(self.projected, shapely.get_parts(target), self.distance))
        return bool(shapely.covers(self._buffered(), target))

    def _buffered(self) -> shapely.Geometry:
        if self._buffer is None:
            self._buffer = shapely.buffer(self.projected, self.distance, quad_segs=32)
            shapely.prepare(self._buffer)
        return self._buffer



class _Plane:
    """The local equirectangular plane (metres) centred on a reference geometry, and the
    haversine term of points from its centre."""

    def __init__(self, reference: dict[str, Any]) -> None:
        min_x, max_x, min_y, max_y = geometry_box(reference)
        self.lon0, self.lat0 = (min_x + max_x) / 2, (min_y + max_y) / 2
        self.ky = math.radians(EARTH_RADIUS)  # metres per degree along the meridian...
        self.kx = self.ky * max(math.cos(math.radians(self.lat0)), 1e-9)  # ... and along the parallel
        self.cos_lat0 = math.cos(math.radians(self.lat0))

    def haversine_term(self, lon: float, lat: float) -> float:
        dlat = math.radians(lat - self.lat0)
        dlon = math.radians(lon - self.lon0)
        return math.sin(dlat / 2) ** 2 + self.cos_lat0 * math.cos(math.radians(lat)) * math.sin(dlon / 2) ** 2

    def project(self, shape: shapely.Geometry) -> shapely.Geometry:
        """``shape`` in the plane; a shape lying across the antimeridian from the centre is
        shifted by 360° first."""
        min_x, _, max_x, _ = shapely.bounds(shape)
        shift = _wrap((min_x + max_x) / 2 - self.lon0) - ((min_x + max_x) / 2 - self.lon0)
        origin_x = self.lon0 - shift
        kx, ky, lat0 = self.kx, self.ky, self.lat0
        return shapely.transform(shape, lambda c: (c - (origin_x, lat0)) * (kx, ky))


class Ruler:
    """Distances in metres from a reference geometry to target geometries, measured as the
    ``near`` georel measures them (see the module's docstring): on the sphere from a Point to
    a Point, else between nearest points in the reference's local plane. Sorting by distance
    (clause 4.23) uses it."""

    def __init__(self, reference: dict[str, Any]) -> None:
        self.plane = _Plane(reference)
        self.point = reference["type"] == "Point"
        self.projected = self.plane.project(shape_of(reference))

    def __call__(self, geometry: dict[str, Any]) -> float:
        if self.point and geometry["type"] == "Point":
            term = self.plane.haversine_term(geometry["coordinates"][0], geometry["coordinates"][1])
            return 2 * EARTH_RADIUS * math.asin(math.sqrt(min(term, 1.0)))
        return float(shapely.distance(self.projected, self.plane.project(shape_of(geometry))))


# ---- index pre-filter ----------------------------------------------------------------------


def bounding_box(query: GeoQuery) -> Box | None:
    """A box (degrees) that every matching target geometry intersects, for an R-tree
    pre-filter; it covers the whole longitude range when the true region crosses the
    antimeridian or a pole.  None when no box bounds the matches (disjoint, minDistance)."""
    if query.georel == "disjoint" or query.min_distance is not None:
        return None
    if query.georel != "near":
        return geometry_box(query.geometry)
    distance = query.max_distance or 0.0
    if query.geometry["type"] == "Point":
        return _cap_box(query.geometry["coordinates"][0], query.geometry["coordinates"][1], distance)
    # Preimage of the reference's box grown by the distance in the local plane of the predicate.
    min_x, max_x, min_y, max_y = geometry_box(query.geometry)
    plane = _Plane(query.geometry)
    kx, ky = plane.kx, plane.ky
    dx, dy = distance / kx * (1 + _BOX_SLACK) + _BOX_SLACK, distance / ky * (1 + _BOX_SLACK) + _BOX_SLACK
    return _clamp(min_x - dx, max_x + dx, min_y - dy, max_y + dy)


def _cap_box(lon: float, lat: float, distance: float) -> Box:
    """Box of the spherical cap of ``distance`` metres around (lon, lat)."""
    radius = distance / EARTH_RADIUS * (1 + _BOX_SLACK)  # radians
    if radius >= math.pi:
        return WHOLE_WORLD
    dlat = math.degrees(radius) + _BOX_SLACK
    if abs(lat) + dlat >= 90.0:  # the cap holds a pole: every longitude
        return -180.0, 180.0, max(lat - dlat, -90.0), min(lat + dlat, 90.0)
    dlon = math.degrees(math.asin(min(1.0, math.sin(radius) / math.cos(math.radians(lat))))) + _BOX_SLACK
    return _clamp(lon - dlon, lon + dlon, lat - dlat, lat + dlat)


def _clamp(min_x: float, max_x: float, min_y: float, max_y: float) -> Box:
    if min_x < -180.0 or max_x > 180.0:  # wraps across the antimeridian: widen, never miss
        min_x, max_x = -180.0, 180.0
    return min_x, max_x, max(min_y, -90.0), min(max_y, 90.0)


# ---- GeoJSON representation (clauses 4.5.16, 4.5.17) ----------------------------------------


def to_feature(entity_json: dict[str, Any], geometry_property: str = "location",
               dataset_id: str | None = None) -> dict[str, Any]:
    """The GeoJSON Feature of an entity already rendered (normalized, concise or simplified)
    under its @context.  ``geometry_property`` is the (compacted) name of the GeoProperty that
    becomes ``geometry``; with several instances, the one of ``dataset_id``, else the default
    one.  ``geometry`` is null when that attribute is absent or holds no valid geometry.
    An ``@context`` member of the rendered entity moves to the Feature's top level."""
    properties = {name: value for name, value in entity_json.items() if name not in ("id", "@context")}
    feature: dict[str, Any] = {
        "id": entity_json.get("id"),
        "type": "Feature",
        "geometry": _select_geometry(entity_json.get(geometry_property), dataset_id),
        "properties": properties,
    }
    if "@context" in entity_json:
        feature["@context"] = entity_json["@context"]
    return feature


def to_feature_collection(features: Iterable[dict[str, Any]], context: Any = None) -> dict[str, Any]:
    """A FeatureCollection of Features (clause 4.5.16.3); ``context``, when not None, is the
    collection's @context. Features keep any @context of their own, so each reads alone."""
    collection: dict[str, Any] = {"type": "FeatureCollection", "features": list(features)}
    if context is not None:
        collection["@context"] = context
    return collection


def _select_geometry(attribute: Any, dataset_id: str | None) -> dict[str, Any] | None:
    instances: list[Any]
    if isinstance(attribute, list):  # normalized or concise, several instances
        instances = attribute
    elif isinstance(attribute, dict) and isinstance(attribute.get("dataset"), dict):  # simplified, multi
        chosen = attribute["dataset"].get(dataset_id if dataset_id is not None else "@none")
        return _as_geometry(chosen)
    else:
        instances = [attribute]
    for instance in instances:
        instance_dataset = instance.get("datasetId") if isinstance(instance, dict) else None
        if instance_dataset == dataset_id:
            return _as_geometry(instance)
    return None


def _as_geometry(instance: Any) -> dict[str, Any] | None:
    """The geometry held by a rendered GeoProperty: its ``value`` (normalized, concise) or
    itself (simplified)."""
    value = instance.get("value") if isinstance(instance, dict) and "value" in instance else instance
    try:
        return validate_geometry(value)
    except BadRequestData:
        return None

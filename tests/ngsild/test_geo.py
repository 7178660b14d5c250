"""Geometries, the Geoquery language (clause 4.10) and the GeoJSON representation (4.5.16)."""

from __future__ import annotations

import math

import orjson
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from territoires.ngsild.errors import BadRequestData
from territoires.ngsild.geo import (
    EARTH_RADIUS,
    LOCATION,
    GeoQuery,
    Ruler,
    bounding_box,
    geometry_box,
    matches,
    parse_geo_query,
    parse_geo_query_object,
    to_feature,
    to_feature_collection,
    validate_geometry,
)

NS = "https://example.org/ns/"


def expand(term: str) -> str:
    return term if ":" in term else NS + term


# Rennes, GeoJSON order [longitude, latitude].
HOTEL_DE_VILLE = [-1.6794, 48.1119]
GARE = [-1.6726, 48.1035]
THABOR = {"type": "Polygon", "coordinates": [[[-1.6720, 48.1130], [-1.6660, 48.1130], [-1.6660, 48.1170],
                                               [-1.6720, 48.1170], [-1.6720, 48.1130]]]}
THABOR_WITH_POND = {"type": "Polygon", "coordinates": THABOR["coordinates"] + [
    [[-1.6700, 48.1140], [-1.6690, 48.1140], [-1.6690, 48.1150], [-1.6700, 48.1150], [-1.6700, 48.1140]]]}


def point(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [lon, lat]}


def query(georel: str, geometry: dict, geoproperty: str | None = None) -> GeoQuery:
    q = parse_geo_query(georel, geometry["type"], orjson.dumps(geometry["coordinates"]).decode(), geoproperty,
                        expand)
    assert q is not None
    return q


def haversine(a: list[float], b: list[float]) -> float:
    """Reference great-circle distance (metres), written independently of the module."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS * math.asin(math.sqrt(h))


def destination(origin: list[float], bearing: float, distance: float) -> list[float]:
    """The point ``distance`` metres from ``origin`` along ``bearing`` (radians) on the sphere."""
    lon, lat = map(math.radians, origin)
    r = distance / EARTH_RADIUS
    lat2 = math.asin(math.sin(lat) * math.cos(r) + math.cos(lat) * math.sin(r) * math.cos(bearing))
    lon2 = lon + math.atan2(math.sin(bearing) * math.sin(r) * math.cos(lat),
                            math.cos(r) - math.sin(lat) * math.sin(lat2))
    return [(math.degrees(lon2) + 540) % 360 - 180, math.degrees(lat2)]


def in_box(box: tuple[float, float, float, float], lon: float, lat: float) -> bool:
    return box[0] <= lon <= box[1] and box[2] <= lat <= box[3]


# ---- validate_geometry ---------------------------------------------------------------------

VALID = [
    point(*HOTEL_DE_VILLE),
    {"type": "Point", "coordinates": [-1.68, 48.11, 35.5]},  # altitude allowed
    {"type": "MultiPoint", "coordinates": [HOTEL_DE_VILLE, GARE]},
    {"type": "LineString", "coordinates": [HOTEL_DE_VILLE, GARE]},
    {"type": "MultiLineString", "coordinates": [[HOTEL_DE_VILLE, GARE], [GARE, [-1.66, 48.10]]]},
    THABOR,
    THABOR_WITH_POND,
    {"type": "MultiPolygon", "coordinates": [THABOR["coordinates"], [[[0, 0], [1, 0], [1, 1], [0, 0]]]]},
    {"type": "Point", "coordinates": [180, -90], "bbox": [180, -90, 180, -90]},
]


@pytest.mark.parametrize("geometry", VALID, ids=lambda g: g["type"])
def test_valid_geometries_are_returned_unchanged(geometry: dict) -> None:
    assert validate_geometry(geometry) == geometry


def test_geometry_given_as_a_json_string_is_parsed() -> None:
    assert validate_geometry(orjson.dumps(THABOR).decode()) == THABOR


@pytest.mark.parametrize(("value", "detail"), [
    ({"type": "GeometryCollection", "geometries": []}, "location.value: GeometryCollection is not allowed"),
    ({"type": "Feature", "geometry": None}, "location.value: a GeoJSON Feature is not a geometry"),
    ({"type": "Circle", "coordinates": [0, 0]}, "location.value: geometry type 'Circle' is not one of"),
    ({"coordinates": [0, 0]}, "location.value: geometry type null is not one of"),
    ({"type": "Point"}, "location.value: Point has no coordinates"),
    ({"type": "Point", "coordinates": [1]}, "location.value: Point coordinates must be a position"),
    ({"type": "Point", "coordinates": ["1", 2]}, "must hold numbers only, got '1'"),
    ({"type": "Point", "coordinates": [True, 2]}, "must hold numbers only, got a boolean"),
    ({"type": "Point", "coordinates": [48.11, -181]}, "latitude -181 is outside -90..90"),
    ({"type": "Point", "coordinates": [-181, 48.11]}, "longitude -181 is outside -180..180"),
    ({"type": "Point", "coordinates": [1, 95]}, "latitude 95 is outside -90..90"),
    ({"type": "LineString", "coordinates": [[0, 0]]}, "location.value: LineString needs at least 2 positions"),
    ({"type": "LineString", "coordinates": [0, 0]}, "LineString position 0 must be a position"),
    ({"type": "MultiPoint", "coordinates": []}, "MultiPoint needs at least 1 positions"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
     "location.value: Polygon ring 0 is not closed"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "Polygon ring 0 needs at least 4 positions"),
    ({"type": "Polygon", "coordinates": []}, "Polygon needs at least 1 linear rings"),
    ({"type": "MultiPolygon", "coordinates": [[[[0, 0], [1, 0], [1, 1], [0, 0]]], [[[5, 5], [6, 5], [6, 6]]]]},
     "MultiPolygon polygon 1 ring 0 needs at least 4 positions"),
    ({"type": "Point", "coordinates": [0, 0], "bbox": [0, 0]}, "location.value: bbox must be an array of 4 or 6"),
    ([0, 0], "location.value: a GeoJSON geometry must be a JSON object, got an array"),
    ("POINT(0 0)", "location.value: a string GeoProperty value must hold GeoJSON"),
])
def test_invalid_geometries_are_refused_with_where_and_what(value: object, detail: str) -> None:
    with pytest.raises(BadRequestData) as error:
        validate_geometry(value, "location.value")
    assert detail in error.value.detail
    assert error.value.detail.startswith("location.value")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(
        st.sampled_from(["type", "coordinates", "bbox", "x"]), inner, max_size=4),
    max_leaves=20,
)
geometry_like = st.fixed_dictionaries({
    "type": st.sampled_from(["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"]),
    "coordinates": json_values,
})


@settings(deadline=None)
@given(st.one_of(json_values, geometry_like))
def test_validate_geometry_refuses_anything_with_bad_request_data_only(value: object) -> None:
    try:
        validate_geometry(value)
    except BadRequestData:
        pass


lons = st.floats(-180, 180)
lats = st.floats(-90, 90)
positions = st.tuples(lons, lats).map(list)


@settings(deadline=None)
@given(st.one_of(
    positions.map(lambda p: {"type": "Point", "coordinates": p}),
    st.lists(positions, min_size=1, max_size=6).map(lambda ps: {"type": "MultiPoint", "coordinates": ps}),
    st.lists(positions, min_size=2, max_size=6).map(lambda ps: {"type": "LineString", "coordinates": ps}),
))
def test_validate_geometry_accepts_every_well_formed_geometry(geometry: dict) -> None:
    assert validate_geometry(geometry) == geometry
    box = geometry_box(geometry)
    assert box[0] <= box[1] and box[2] <= box[3]


# ---- parse_geo_query -----------------------------------------------------------------------


def test_no_geo_parameter_is_no_geo_query() -> None:
    assert parse_geo_query(None, None, None, None, expand) is None


def test_spec_example_1_near_with_geoproperty() -> None:
    q = parse_geo_query("near;maxDistance==2000", "Point", "[8,40]", "observationSpace", expand)
    assert q == GeoQuery("near", {"type": "Point", "coordinates": [8, 40]}, max_distance=2000.0,
                         geoproperty=NS + "observationSpace")


def test_spec_example_2_within_polygon_defaults_to_location() -> None:
    q = parse_geo_query("within", "Polygon", "[[[100.0,0.0],[101.0,0.0],[101.0,1.0],[100.0,1.0],[100.0,0.0]]]",
                        None, expand)
    assert q is not None
    assert (q.georel, q.geometry["type"], q.geoproperty) == ("within", "Polygon", LOCATION)
    assert q.max_distance is None and q.min_distance is None


@pytest.mark.parametrize("georel", ["within", "contains", "intersects", "equals", "disjoint", "overlaps"])
def test_every_georel_is_parsed(georel: str) -> None:
    q = parse_geo_query(georel, "Point", "[-1.68,48.11]", None, expand)
    assert q is not None and q.georel == georel


def test_near_min_distance_and_number_forms() -> None:
    q = parse_geo_query("near;minDistance==1.5e2", "Point", "[-1.68,48.11]", None, expand)
    assert q is not None and (q.min_distance, q.max_distance) == (150.0, None)


def test_coordinates_already_parsed_are_accepted() -> None:
    q = parse_geo_query("near;maxDistance==10", "Point", [-1.68, 48.11], None, expand)
    assert q is not None and q.geometry["coordinates"] == [-1.68, 48.11]


@pytest.mark.parametrize(("args", "detail"), [
    (("within", None, None, None), "geometry and coordinates missing"),
    (("within", "Point", None, None), "coordinates missing"),
    ((None, "Point", "[1,2]", None), "georel missing"),
    ((None, None, None, "location"), "georel and geometry and coordinates missing"),
    (("nearby", "Point", "[1,2]", None), "'nearby' is not one of near, within"),
    (("near", "Point", "[1,2]", None), "near takes exactly one of maxDistance"),
    (("near;maxDistance==5;minDistance==1", "Point", "[1,2]", None), "near takes exactly one"),
    (("near;maxDistance=5", "Point", "[1,2]", None), "must be maxDistance==<metres>"),
    (("near;distance==5", "Point", "[1,2]", None), "must be maxDistance==<metres>"),
    (("near;maxDistance==far", "Point", "[1,2]", None), "maxDistance must be a number of metres, got 'far'"),
    (("near;maxDistance==-5", "Point", "[1,2]", None), "maxDistance must be positive"),
    (("near;minDistance==0", "Point", "[1,2]", None), "minDistance must be a finite number greater than 0"),
    (("near;maxDistance==1e999", "Point", "[1,2]", None), "must be a finite number greater than 0"),
    (("within;maxDistance==5", "Point", "[1,2]", None), "only near takes a modifier"),
    (("within", "GeometryCollection", "[]", None), "GeometryCollection cannot be a geo-query reference"),
    (("within", "point", "[1,2]", None), "did you mean 'Point'?"),
    (("within", "Point", "8,40", None), "coordinates must be a JSON array such as [8.0,40.0]"),
    (("within", "Point", "[[8,40],[9,41]]", None), "Point coordinates must hold numbers only, got an array"),
    (("within", "Point", "[40,98]", None), "latitude 98 is outside"),
    (("within", "Polygon", "[[[0,0],[1,0],[1,1],[0,1]]]", None), "coordinates: Polygon ring 0 is not closed"),
    (("within", "Point", "[1,2]", ""), "geoproperty must be a non-empty attribute name"),
])
def test_bad_geo_parameters_are_bad_request_data(args: tuple, detail: str) -> None:
    with pytest.raises(BadRequestData) as error:
        parse_geo_query(*args, expand)
    assert detail in error.value.detail


@settings(deadline=None)
@given(relation=st.sampled_from(["near;maxDistance", "near;minDistance", "within", "intersects", "disjoint"]),
       distance=st.floats(0.001, 1e7), lon=lons, lat=lats, geoproperty=st.sampled_from([None, "location", "area"]))
def test_geo_query_parameters_round_trip(relation: str, distance: float, lon: float, lat: float,
                                         geoproperty: str | None) -> None:
    georel = f"{relation}=={distance!r}" if relation.startswith("near") else relation
    q = parse_geo_query(georel, "Point", orjson.dumps([lon, lat]).decode(), geoproperty, expand)
    assert q is not None
    assert q.georel == relation.split(";")[0]
    assert q.geometry == {"type": "Point", "coordinates": [lon, lat]}
    assert q.max_distance == (distance if relation == "near;maxDistance" else None)
    assert q.min_distance == (distance if relation == "near;minDistance" else None)
    assert q.geoproperty == (LOCATION if geoproperty is None else NS + geoproperty)


@settings(deadline=None)
@given(st.text(max_size=30), st.text(max_size=12), st.text(max_size=30))
def test_geo_query_parser_refuses_garbage_with_bad_request_data_only(georel: str, geometry: str,
                                                                    coordinates: str) -> None:
    try:
        parse_geo_query(georel, geometry, coordinates, None, expand)
    except BadRequestData:
        pass


def test_geo_query_object_of_a_subscription() -> None:
    q = parse_geo_query_object({"georel": "near;maxDistance==2000.0", "geometry": "Point",
                                "coordinates": [-1, 50]}, expand)
    assert (q.georel, q.max_distance, q.geometry["coordinates"], q.geoproperty) == ("near", 2000.0, [-1, 50],
                                                                                    LOCATION)
    as_string = parse_geo_query_object({"georel": "within", "geometry": "Polygon", "geoproperty": "area",
                                        "coordinates": orjson.dumps(THABOR["coordinates"]).decode()}, expand)
    assert as_string.geometry == THABOR and as_string.geoproperty == NS + "area"


@pytest.mark.parametrize(("obj", "detail"), [
    ([], "geoQ must be a JSON object"),
    ({}, "geoQ is empty"),
    ({"georel": "within", "geometry": "Point", "coords": [1, 2]}, "geoQ has unknown member(s) coords"),
    ({"georel": 5, "geometry": "Point", "coordinates": [1, 2]}, "georel must be a string"),
    ({"georel": "within", "geometry": ["Point"], "coordinates": [1, 2]}, "geometry must be a string"),
])
def test_bad_geo_query_objects(obj: object, detail: str) -> None:
    with pytest.raises(BadRequestData) as error:
        parse_geo_query_object(obj, expand)
    assert detail in error.value.detail


def test_geo_queries_are_values() -> None:
    a = query("near;maxDistance==500", point(*HOTEL_DE_VILLE))
    b = query("near;maxDistance==500", point(*HOTEL_DE_VILLE))
    assert a == b and hash(a) == hash(b) and a.key == b.key
    assert a != query("near;maxDistance==501", point(*HOTEL_DE_VILLE))
    with pytest.raises(BadRequestData):
        GeoQuery("near", point(0, 0))  # near without a distance


# ---- matches: near ---------------------------------------------------------------------------


def test_near_uses_metres_on_the_mean_earth_radius() -> None:
    one_degree = math.radians(EARTH_RADIUS)  # 111 195.08 m along a meridian
    north = point(-1.68, 49.11)
    assert matches(query(f"near;maxDistance=={one_degree + 0.5}", point(-1.68, 48.11)), north)
    assert not matches(query(f"near;maxDistance=={one_degree - 0.5}", point(-1.68, 48.11)), north)
    assert matches(query(f"near;minDistance=={one_degree - 0.5}", point(-1.68, 48.11)), north)
    assert not matches(query(f"near;minDistance=={one_degree + 0.5}", point(-1.68, 48.11)), north)


def test_near_between_rennes_landmarks() -> None:
    distance = haversine(HOTEL_DE_VILLE, GARE)
    assert 1050 < distance < 1100
    assert matches(query("near;maxDistance==1100", point(*HOTEL_DE_VILLE)), point(*GARE))
    assert not matches(query("near;maxDistance==1050", point(*HOTEL_DE_VILLE)), point(*GARE))


def test_near_max_distance_needs_the_whole_target_within_the_buffer() -> None:
    # Clause 4.10: the target must be *within* the buffer of the reference.
    centre = [-1.669, 48.115]  # inside the Thabor park, about 250 m from its farthest corner
    farthest = max(haversine(centre, corner) for corner in THABOR["coordinates"][0])
    assert matches(query(f"near;maxDistance=={farthest + 1}", point(*centre)), THABOR)
    assert not matches(query(f"near;maxDistance=={farthest - 1}", point(*centre)), THABOR)


def test_near_min_distance_needs_the_whole_target_outside_the_buffer() -> None:
    reference = point(-1.6690, 48.1100)  # 333 m south of the park's southern edge
    gap = haversine([-1.6690, 48.1100], [-1.6690, 48.1130])
    assert matches(query(f"near;minDistance=={gap - 2}", reference), THABOR)
    assert not matches(query(f"near;minDistance=={gap + 2}", reference), THABOR)
    inside = point(-1.669, 48.115)
    assert not matches(query("near;minDistance==1", inside), THABOR)


def test_ruler_measures_as_near_does() -> None:
    """Sorting by distance (clause 4.23) measures what ``near`` compares: on the sphere between
    points, to the nearest point of other geometries."""
    from_hotel_de_ville = Ruler(point(*HOTEL_DE_VILLE))
    assert from_hotel_de_ville(point(*GARE)) == pytest.approx(haversine(HOTEL_DE_VILLE, GARE), abs=0.01)
    assert Ruler(point(-1.68, 48.11))(point(-1.68, 49.11)) == pytest.approx(math.radians(EARTH_RADIUS), abs=0.01)
    reference = point(-1.6690, 48.1100)  # 333 m south of the Thabor park's southern edge
    gap = haversine([-1.6690, 48.1100], [-1.6690, 48.1130])
    assert Ruler(reference)(THABOR) == pytest.approx(gap, rel=1e-3)
    assert Ruler(THABOR)(reference) == pytest.approx(gap, rel=1e-3)
    assert Ruler(reference)(point(-1.669, 48.115)) > Ruler(reference)(THABOR)  # the park's edge is nearer


def test_near_a_line_reference() -> None:
    rail = {"type": "LineString", "coordinates": [[-1.70, 48.1035], [-1.64, 48.1035]]}  # east-west
    for metres in (50, 300):
        north = destination([-1.67, 48.1035], 0.0, metres)
        assert matches(query("near;maxDistance==310", rail), point(*north))
        assert not matches(query("near;minDistance==310", rail), point(*north))
    far = point(*destination([-1.67, 48.1035], 0.0, 320))
    assert not matches(query("near;maxDistance==310", rail), far)
    assert matches(query("near;minDistance==310", rail), far)
    # A polygon target within 310 m of the line everywhere, then one poking out.
    band = {"type": "Polygon", "coordinates": [[[-1.68, 48.1036], [-1.66, 48.1036], [-1.66, 48.1060],
                                                [-1.68, 48.1060], [-1.68, 48.1036]]]}
    assert matches(query("near;maxDistance==310", rail), band)
    assert not matches(query("near;maxDistance==200", rail), band)


def test_near_across_the_antimeridian() -> None:
    east, west = point(179.999, -16.5), point(-179.999, -16.5)  # Fiji, 213 m apart
    assert matches(query("near;maxDistance==250", east), west)
    assert not matches(query("near;maxDistance==150", east), west)
    assert matches(query("near;minDistance==150", east), west)
    box = bounding_box(query("near;maxDistance==250", east))
    assert box is not None and box[:2] == (-180.0, 180.0)
    reef = {"type": "LineString", "coordinates": [[-179.9995, -16.501], [-179.9995, -16.499]]}
    assert matches(query("near;maxDistance==300", {"type": "LineString",
                                                   "coordinates": [[179.9995, -16.6], [179.9995, -16.4]]}), reef)


def test_near_the_pole() -> None:
    a, b = point(0, 89.999), point(180, 89.999)  # 222 m apart, across the pole
    assert matches(query("near;maxDistance==250", a), b)
    assert not matches(query("near;maxDistance==200", a), b)
    box = bounding_box(query("near;maxDistance==250", a))
    assert box == (-180.0, 180.0, pytest.approx(89.999 - 250 / math.radians(EARTH_RADIUS)), 90.0)


def test_near_everything_beyond_half_the_earth() -> None:
    q = query("near;maxDistance==30000000", point(-1.68, 48.11))
    assert matches(q, point(178.32, -48.11)) and bounding_box(q) == (-180.0, 180.0, -90.0, 90.0)
    assert not matches(query("near;minDistance==30000000", point(-1.68, 48.11)), point(178.32, -48.11))


@settings(max_examples=300, deadline=None)
@given(lon=lons, lat=st.floats(-89.9, 89.9), distance=st.floats(1, 2_000_000), bearing=st.floats(0, 2 * math.pi),
       fraction=st.floats(0, 0.999))
def test_points_within_the_distance_match_and_lie_in_the_box(lon: float, lat: float, distance: float,
                                                             bearing: float, fraction: float) -> None:
    q = query(f"near;maxDistance=={distance!r}", point(lon, lat))
    target = destination([lon, lat], bearing, distance * fraction)
    assert matches(q, point(*target))
    box = bounding_box(q)
    assert box is not None and in_box(box, *target)
    outside = destination([lon, lat], bearing, distance * 1.001 + 0.01)
    assert not matches(q, point(*outside))


@settings(max_examples=200, deadline=None)
@given(lon=st.floats(-179, 179), lat=st.floats(-80, 80), distance=st.floats(10, 50_000),
       bearing=st.floats(0, 2 * math.pi), fraction=st.floats(0, 3))
def test_near_a_polygon_reference_stays_inside_its_box(lon: float, lat: float, distance: float, bearing: float,
                                                       fraction: float) -> None:
    square = {"type": "Polygon", "coordinates": [[[lon, lat], [lon + 0.01, lat], [lon + 0.01, lat + 0.01],
                                                  [lon, lat + 0.01], [lon, lat]]]}
    q = query(f"near;maxDistance=={distance!r}", square)
    target = destination([lon + 0.005, lat + 0.005], bearing, distance * fraction)
    box = bounding_box(q)
    assert box is not None
    if matches(q, point(*target)):
        assert in_box(box, *target)


# ---- matches: topological relations ------------------------------------------------------------


def test_within_contains_intersects_disjoint_overlaps_equals() -> None:
    bench = point(-1.6700, 48.1160)
    pond_centre = point(-1.6695, 48.1145)
    rue = {"type": "LineString", "coordinates": [[-1.6740, 48.1150], [-1.6640, 48.1150]]}  # crosses the park
    half_park = {"type": "Polygon", "coordinates": [[[-1.6690, 48.1120], [-1.6600, 48.1120], [-1.6600, 48.1180],
                                                     [-1.6690, 48.1180], [-1.6690, 48.1120]]]}
    within_park = query("within", THABOR_WITH_POND)
    assert matches(within_park, bench)
    assert not matches(within_park, pond_centre)  # a hole excludes what it holds
    assert not matches(within_park, point(*HOTEL_DE_VILLE))
    assert matches(query("contains", bench), THABOR)  # the park contains the bench
    assert not matches(query("contains", point(*GARE)), THABOR)
    assert matches(query("intersects", rue), THABOR) and not matches(query("intersects", rue), point(*GARE))
    assert matches(query("disjoint", THABOR), point(*GARE)) and not matches(query("disjoint", THABOR), bench)
    assert matches(query("overlaps", half_park), THABOR)
    assert not matches(query("overlaps", THABOR), THABOR)
    rotated = {"type": "Polygon", "coordinates": [THABOR["coordinates"][0][1:] + [THABOR["coordinates"][0][1]]]}
    assert matches(query("equals", rotated), THABOR)
    assert matches(query("equals", point(*GARE)), point(*GARE))
    assert not matches(query("equals", point(*GARE)), point(*HOTEL_DE_VILLE))


def test_boundaries_follow_simple_features() -> None:
    corner = THABOR["coordinates"][0][0]
    assert not matches(query("within", THABOR), point(*corner))  # on the boundary: not within
    assert matches(query("intersects", THABOR), point(*corner))
    assert not matches(query("disjoint", THABOR), point(*corner))


grid = st.floats(-1.675, -1.663).map(lambda v: round(v, 3))
grid_lat = st.floats(48.112, 48.118).map(lambda v: round(v, 3))


@settings(max_examples=300, deadline=None)
@given(x=grid, y=grid_lat, georel=st.sampled_from(["within", "contains", "intersects", "disjoint", "overlaps",
                                                    "equals"]))
def test_point_targets_agree_with_simple_features(x: float, y: float, georel: str) -> None:
    # Grid points fall on the park's edges and the pond's corners as well as in and out.
    reference = shapely.geometry.shape(THABOR_WITH_POND)
    target = shapely.Point(x, y)
    expected = {"within": target.within, "contains": target.contains, "intersects": target.intersects,
                "disjoint": target.disjoint, "overlaps": target.overlaps, "equals": target.equals}[georel](reference)
    assert matches(query(georel, THABOR_WITH_POND), point(x, y)) == expected


def test_what_is_not_a_geometry_matches_nothing() -> None:
    q = query("disjoint", THABOR)
    for value in (None, "here", {"type": "Point"}, {"type": "Point", "coordinates": [1000, 0]},
                  {"type": "GeometryCollection", "geometries": []}):
        assert not matches(q, value)


# ---- bounding_box ---------------------------------------------------------------------------


def test_boxes_of_each_georel() -> None:
    park_box = geometry_box(THABOR)
    assert park_box == (-1.6720, -1.6660, 48.1130, 48.1170)
    for georel in ("within", "contains", "intersects", "equals", "overlaps"):
        assert bounding_box(query(georel, THABOR)) == park_box
    assert bounding_box(query("disjoint", THABOR)) is None
    assert bounding_box(query("near;minDistance==10", THABOR)) is None
    grown = bounding_box(query("near;maxDistance==1000", THABOR))
    assert grown is not None
    assert grown[2] == pytest.approx(48.1130 - 1000 / math.radians(EARTH_RADIUS))
    assert grown[0] < park_box[0] - 0.0134  # 1 km of longitude at 48° N is 0.0135°


def test_a_box_reaching_the_antimeridian_takes_every_longitude() -> None:
    assert bounding_box(query("near;maxDistance==5000", point(-179.99, 0)))[:2] == (-180.0, 180.0)
    assert bounding_box(query("near;maxDistance==5000", point(-179.0, 0)))[0] > -180.0


# ---- GeoJSON representation --------------------------------------------------------------------


STREETLIGHT = {
    "id": "urn:ngsi-ld:Streetlight:rennes-0042",
    "type": "Streetlight",
    "powerState": {"type": "Property", "value": "on"},
    "location": {"type": "GeoProperty", "value": point(*HOTEL_DE_VILLE), "observedAt": "2026-11-28T10:00:00Z"},
    "refCabinet": {"type": "Relationship", "object": "urn:ngsi-ld:StreetlightControlCabinet:7"},
}


def test_a_normalized_entity_as_a_feature() -> None:
    feature = to_feature(STREETLIGHT, "location")
    assert feature == {
        "id": "urn:ngsi-ld:Streetlight:rennes-0042",
        "type": "Feature",
        "geometry": point(*HOTEL_DE_VILLE),  # without the sub-attributes
        "properties": {k: v for k, v in STREETLIGHT.items() if k != "id"},
    }


def test_a_simplified_entity_as_a_feature_with_its_context() -> None:
    entity = {"id": "urn:ngsi-ld:Park:thabor", "type": "Park", "name": "Thabor", "area": THABOR,
              "@context": "https://example.org/ctx.jsonld"}
    feature = to_feature(entity, "area")
    assert feature["geometry"] == THABOR
    assert feature["properties"] == {"type": "Park", "name": "Thabor", "area": THABOR}
    assert feature["@context"] == "https://example.org/ctx.jsonld"


def test_geometry_is_null_without_a_valid_geoproperty() -> None:
    assert to_feature(STREETLIGHT, "observationSpace")["geometry"] is None
    broken = dict(STREETLIGHT, location={"type": "GeoProperty", "value": {"type": "Point", "coordinates": [500, 0]}})
    assert to_feature(broken, "location")["geometry"] is None


def test_geometry_of_a_multi_instance_geoproperty() -> None:
    moving = {"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle", "location": [
        {"type": "GeoProperty", "value": point(1, 1), "datasetId": "urn:ngsi-ld:Dataset:gps"},
        {"type": "GeoProperty", "value": point(2, 2)},
    ]}
    assert to_feature(moving, "location")["geometry"] == point(2, 2)
    assert to_feature(moving, "location", "urn:ngsi-ld:Dataset:gps")["geometry"] == point(1, 1)
    assert to_feature(moving, "location", "urn:ngsi-ld:Dataset:none")["geometry"] is None
    simplified = {"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle", "location": {"dataset": {
        "@none": point(2, 2), "urn:ngsi-ld:Dataset:gps": point(1, 1)}}}
    assert to_feature(simplified, "location")["geometry"] == point(2, 2)
    assert to_feature(simplified, "location", "urn:ngsi-ld:Dataset:gps")["geometry"] == point(1, 1)


def test_a_feature_collection_keeps_the_context_of_each_feature() -> None:
    features = [to_feature(dict(STREETLIGHT, **{"@context": "https://example.org/ctx.jsonld"}), "location")]
    collection = to_feature_collection(features, context="https://example.org/ctx.jsonld")
    assert collection["type"] == "FeatureCollection"
    assert collection["@context"] == "https://example.org/ctx.jsonld"
    assert collection["features"][0]["@context"] == "https://example.org/ctx.jsonld"
    assert "@context" not in to_feature_collection(features)
    assert to_feature_collection([]) == {"type": "FeatureCollection", "features": []}


def test_a_self_intersecting_polygon_is_accepted_and_queried_as_repaired() -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
    assert validate_geometry(bowtie) == bowtie
    inside = parse_geo_query("intersects", "Point", "[1.5, 1]", None, expand)
    assert inside is not None and matches(inside, bowtie)
    assert matches(parse_geo_query("equals", "Polygon", orjson.dumps(bowtie["coordinates"]).decode(), None, expand), bowtie)

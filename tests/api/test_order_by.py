"""Entity ordering (clause 4.23): ``orderBy`` on GET /entities and ``ordering`` on POST
/entityOperations/query, as the ETSI test purposes 019_19 drive them."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from .conftest import assert_problem, create

ENTITIES = "/ngsi-ld/v1/entities"
QUERY = "/ngsi-ld/v1/entityOperations/query"
B1, B2, B3 = (f"urn:ngsi-ld:Building:{n}" for n in (1, 2, 3))
ASC, DESC, CREATED = [B1, B2, B3], [B3, B2, B1], [B2, B1, B3]


def building(n: int, name: str) -> dict[str, Any]:
    return {
        "id": f"urn:ngsi-ld:Building:{n}",
        "type": "Building",
        "name": {"type": "Property", "value": name, "subProperty": {"type": "Property", "value": n}},
    }


@pytest.fixture
def buildings(client: TestClient) -> TestClient:
    """The 019_19 set-up: buildings created in the order 2, 1, 3, named B, A, C."""
    for n, name in ((2, "B"), (1, "A"), (3, "C")):
        create(client, building(n, name))
    return client


def ordered(client: TestClient, order_by: str, **params: Any) -> list[str]:
    response = client.get(ENTITIES, params={"type": "Building", "orderBy": order_by, **params})
    assert response.status_code == 200, response.text
    return [e["id"] for e in response.json()]


# ---- the ETSI test purposes 019_19 -----------------------------------------------------------------


def test_019_19_01_query_with_order_by_attribute(buildings):
    assert ordered(buildings, "name") == ASC


def test_019_19_02_query_with_order_by_id(buildings):
    assert ordered(buildings, "id") == ASC


def test_019_19_03_query_with_order_by_created_at(buildings):
    assert ordered(buildings, "createdAt") == CREATED


def test_019_19_04_query_with_order_by_name_created_at(buildings):
    assert ordered(buildings, "name.createdAt") == CREATED


def test_019_19_05_query_with_order_by_sub_attribute(buildings):
    assert ordered(buildings, "name.subProperty") == ASC


def test_019_19_06_query_with_order_by_ascending(buildings):
    assert ordered(buildings, "name;asc") == ASC


def test_019_19_07_query_with_order_by_descending(buildings):
    assert ordered(buildings, "name;desc") == DESC


def test_019_19_08_query_with_multiple_order_by(buildings):
    assert ordered(buildings, "type,name") == ASC


def test_019_19_09_query_with_complex_order_by(buildings):
    assert ordered(buildings, "type;asc,name.subProperty;desc,name;asc") == DESC


# ---- paging, POST, and what is refused ---------------------------------------------------------------


def test_without_order_by_entities_come_in_creation_order(buildings):
    response = buildings.get(ENTITIES, params={"type": "Building"})
    assert [e["id"] for e in response.json()] == CREATED


def test_019_31_ordered_pages_follow_offset_with_prev_and_next_links(buildings):
    """Clause 4.12: clients iterate forwards and backwards; an ordered query (no cursor) links
    its neighbouring pages by offset (clause 6.3.13), the first without prev, the last without next."""
    json_ld = {"Accept": "application/ld+json"}  # the Link header is then only for paging
    params = {"type": "Building", "orderBy": "name;desc", "limit": 1, "count": "true"}
    pages = [buildings.get(ENTITIES, params={**params, "offset": offset}, headers=json_ld) for offset in (0, 1, 2)]
    assert [e["id"] for page in pages for e in page.json()] == DESC
    first, middle, last = (page.headers.get("link", "") for page in pages)
    assert 'rel="prev"' not in first and "offset=1" in first and 'rel="next";type="application/ld+json"' in first
    assert "offset=0" in middle and 'rel="prev"' in middle and "offset=2" in middle and 'rel="next"' in middle
    assert "offset=1" in last and 'rel="prev"' in last and 'rel="next"' not in last
    cursor_page = buildings.get(ENTITIES, params={"type": "Building", "limit": 2}, headers=json_ld)
    assert 'rel="next"' in cursor_page.headers["link"] and "after=" in cursor_page.headers["link"]
    counted_last = buildings.get(ENTITIES, params={"type": "Building", "limit": 3, "count": "true"}, headers=json_ld)
    assert "link" not in counted_last.headers  # the count shows there is no next page, cursor or not


def test_a_cursor_cannot_page_an_ordered_query(buildings):
    response = buildings.get(ENTITIES, params={"type": "Building", "orderBy": "name", "after": "cjE"})
    assert "offset" in assert_problem(response, 400, "BadRequestData")["detail"]


def test_post_query_orders_by_its_ordering_member(buildings):
    body = {"type": "Query", "entities": [{"type": "Building"}],
            "ordering": {"orderBy": ["name.subProperty;desc", "id"]}}
    response = buildings.post(QUERY, json=body)
    assert response.status_code == 200, response.text
    assert [e["id"] for e in response.json()] == DESC
    body["ordering"] = {"orderBy": "type,name"}  # one string is read as a one-element array
    assert [e["id"] for e in buildings.post(QUERY, json=body).json()] == ASC


@pytest.mark.parametrize(("params", "detail"), [
    ({"orderBy": "name;sideways"}, "orderBy: unexpected 's' at position 6"),
    ({"orderBy": ""}, "orderBy: unexpected end at position 1"),
    ({"orderBy": "location;dist-asc"}, "orderFrom must give the reference coordinates"),
    ({"orderBy": "location;dist-asc", "orderFrom": "8,40"}, "orderFrom must be a JSON array"),
    ({"orderBy": "location;dist-asc", "orderFrom": "[8,40]", "orderGeometry": "Circle"}, "orderGeometry must be one of"),
    ({"orderBy": "location;dist-asc", "orderFrom": "[800,40]"}, "orderFrom"),
    ({"orderBy": "name", "orderGeometry": "Point"}, "orderGeometry is given without orderFrom"),
    ({"orderBy": "name", "collation": "!!nope"}, "collation must be an ICU collation tag"),
])
def test_bad_ordering_parameters_are_bad_request_data(buildings, params, detail):
    response = buildings.get(ENTITIES, params={"type": "Building", **params})
    assert detail in assert_problem(response, 400, "BadRequestData")["detail"]


@pytest.mark.parametrize("ordering", [
    "name",
    {"orderBy": []},
    {"orderBy": [1]},
    {"orderBy": ["name"], "direction": "desc"},
    {"orderBy": ["name;nope"]},
    {"orderBy": ["location;dist-asc"]},
    {"orderBy": ["location;dist-asc"], "coordinates": "8,40"},
    {"orderBy": ["id;asc"], "geometry": 5, "coordinates": [8, 40]},
    {"orderBy": ["id;asc"], "collation": "not a bcp47 tag!!"},
])
def test_bad_ordering_members_are_bad_request_data(buildings, ordering):
    body = {"type": "Query", "entities": [{"type": "Building"}], "ordering": ordering}
    assert_problem(buildings.post(QUERY, json=body), 400, "BadRequestData")


def test_423_01_01_distance_ascending_and_descending(buildings):
    """Both stores sort by distance (clause 4.23.3), to the nearest point of any geometry; an
    entity without the GeoProperty comes last both ways."""
    located = {1: {"type": "Point", "coordinates": [8.02, 40]},
               2: {"type": "LineString", "coordinates": [[8.03, 40.5], [8.03, 39.5]]},  # passes 0.03° east
               3: {"type": "Point", "coordinates": [8.01, 40]}}
    for n, geometry in located.items():
        patch = {"location": {"type": "GeoProperty", "value": geometry}}
        assert buildings.post(f"{ENTITIES}/urn:ngsi-ld:Building:{n}/attrs", json=patch).status_code == 204
    create(buildings, building(4, "D"))  # no location
    nearest_first = buildings.get(ENTITIES, params={"type": "Building", "orderBy": "location;dist-asc",
                                                    "orderFrom": "[8,40]"})
    body = {"type": "Query", "entities": [{"type": "Building"}],
            "ordering": {"orderBy": ["location;dist-desc"], "coordinates": [8, 40], "geometry": "Point"}}
    farthest_first = buildings.post(QUERY, json=body)
    assert [e["id"] for e in nearest_first.json()] == [B3, B1, B2, "urn:ngsi-ld:Building:4"]
    assert [e["id"] for e in farthest_first.json()] == [B2, B1, B3, "urn:ngsi-ld:Building:4"]


def test_collations_are_done_or_answered_as_not_supported(buildings, settings):
    by_collation = buildings.get(ENTITIES, params={"type": "Building", "orderBy": "name", "collation": "de-u-co-phonebk"})
    assert "code point" in assert_problem(by_collation, 422, "OperationNotSupported")["detail"]
    if settings.database_url:  # PostgreSQL has the ICU collations it lists
        fr = buildings.get(ENTITIES, params={"type": "Building", "orderBy": "name;desc", "collation": "fr"})
        assert [e["id"] for e in fr.json()] == DESC


def test_purge_ignores_order_by(buildings):
    response = buildings.delete(ENTITIES, params={"type": "Building", "orderBy": "name;desc"})
    assert response.status_code == 204, response.text
    assert buildings.get(ENTITIES, params={"type": "Building"}).json() == []

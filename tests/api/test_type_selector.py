"""``?type=`` on the operations on one entity (clauses 5.6 and 5.7.1, since v1.9.1): the entity
addressed is the one "whose id, and where specified type, is equivalent"; another type is
ResourceNotFound and changes nothing (ETSI 5711_01, 566_01, 562_01 – 565_01)."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import assert_problem, create, streetlight

LIGHT = streetlight(1)
URL = f"/ngsi-ld/v1/entities/{LIGHT['id']}"
NEW_STATE = {"powerState": {"type": "Property", "value": "off"}}

# (name, method, path under the entity, body): each changes powerState, or deletes the entity
OPERATIONS = [
    ("update", "PATCH", "/attrs", NEW_STATE),
    ("append", "POST", "/attrs", NEW_STATE),
    ("merge", "PATCH", "", NEW_STATE),
    ("replace", "PUT", "", {"type": "Streetlight", **NEW_STATE}),
    ("partial update", "PATCH", "/attrs/powerState", {"value": "off"}),
    ("replace attribute", "PUT", "/attrs/powerState", NEW_STATE["powerState"]),
    ("delete attribute", "DELETE", "/attrs/powerState", None),
    ("delete entity", "DELETE", "", None),
]


def _send(client, method: str, path: str, body: Any, entity_type: str):
    return client.request(method, URL + path, params={"type": entity_type}, json=body)


def _state(client) -> Any:
    response = client.get(URL)
    return response.json().get("powerState", {}).get("value") if response.status_code == 200 else None


def test_5711_01_01_retrieve_entity_of_another_type_is_not_found(client):
    create(client, LIGHT)
    assert_problem(client.get(URL, params={"type": "WasteContainer"}), 404, "ResourceNotFound")
    assert client.get(URL, params={"type": "Streetlight"}).json()["id"] == LIGHT["id"]


@pytest.mark.parametrize(("name", "method", "path", "body"), OPERATIONS, ids=[op[0] for op in OPERATIONS])
def test_566_01_01_and_562_01_01_to_565_01_01_an_operation_on_an_entity_of_another_type_changes_nothing(
        client, name, method, path, body):
    create(client, LIGHT)
    assert_problem(_send(client, method, path, body, "WasteContainer"), 404, "ResourceNotFound")
    assert _state(client) == "on"
    assert _send(client, method, path, body, "Streetlight").status_code == 204
    assert _state(client) in ("off", None)


def test_the_type_selector_is_expanded_with_the_request_context(client):
    create(client, LIGHT)
    assert client.get(URL, params={"type": "https://uri.etsi.org/ngsi-ld/default-context/Streetlight"}).status_code == 200
    body = {**NEW_STATE, "@context": [{"Lampadaire": "https://uri.etsi.org/ngsi-ld/default-context/Streetlight"}]}
    ld_json = {"Content-Type": "application/ld+json"}
    assert client.patch(URL + "/attrs", params={"type": "Lampadaire"}, json=body, headers=ld_json).status_code == 204
    assert _state(client) == "off"
    assert client.get(URL, params={"type": "Lampadaire"}).status_code == 404  # not a term of the core context


def test_a_type_expression_is_refused_on_one_entity(client):
    create(client, LIGHT)
    problem = assert_problem(client.delete(URL, params={"type": "Streetlight,WasteContainer"}), 400, "BadRequestData")
    assert "one entity type" in problem["detail"]
    assert client.get(URL).status_code == 200

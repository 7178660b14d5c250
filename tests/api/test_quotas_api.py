"""The administration of a tenant's quotas, /admin/v1/tenants/{name}/quotas, through HTTP on each
backend (authentication off: the enforcement point has its own tests)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from starlette.testclient import TestClient

from territoires.api.quotas import quotas_of
from territoires.app import create_app
from territoires.auth.errors import TooManyRequests
from territoires.config import Settings
from tests.api.conftest import create, streetlight

URL = "/admin/v1/tenants/rennes/quotas"
BAD_REQUEST = "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    defaults = replace(settings, auth=False, quota_entities=1000, quota_requests_per_minute=600)
    with TestClient(create_app(defaults), raise_server_exceptions=False) as test_client:
        assert test_client.post("/admin/v1/tenants", json={"name": "rennes"}).status_code == 201
        yield test_client


def problem(response, status: int, error_type: str = BAD_REQUEST) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["type"] == error_type
    return body["detail"]


def test_a_new_tenant_has_the_default_quotas_and_no_usage(client):
    response = client.get(URL)
    assert response.status_code == 200, response.text
    body = response.json()
    assert {key: body[key] for key in ("entities", "requestsPerMinute", "uplinksPerMinute")} == {
        "entities": None, "requestsPerMinute": None, "uplinksPerMinute": None}
    assert body["effective"] == {"entities": 1000, "requestsPerMinute": 600, "uplinksPerMinute": 0}
    usage = body["usage"]
    # this very request counts: the enforcement point charged it before the route answered
    assert (usage["entities"], usage["requestsPerMinute"], usage["uplinksPerMinute"]) == (0, 1, 0)
    assert usage["since"].endswith(":00Z")


def test_an_operator_sets_a_tenant_s_own_quotas_and_null_brings_back_the_default(client):
    response = client.put(URL, json={"entities": 50, "requestsPerMinute": 0, "uplinksPerMinute": 120})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["entities"], body["requestsPerMinute"], body["uplinksPerMinute"]) == (50, 0, 120)
    assert body["effective"] == {"entities": 50, "requestsPerMinute": 0, "uplinksPerMinute": 120}
    assert client.get(URL).json()["effective"] == body["effective"]
    # a PUT replaces: what it leaves out or sets to null goes back to the default
    body = client.put(URL, json={"entities": None, "uplinksPerMinute": 30}).json()
    assert (body["entities"], body["requestsPerMinute"], body["uplinksPerMinute"]) == (None, None, 30)
    assert body["effective"] == {"entities": 1000, "requestsPerMinute": 600, "uplinksPerMinute": 30}
    # what a GET answers may be sent back as it is
    assert client.put(URL, json=client.get(URL).json()).json()["uplinksPerMinute"] == 30


def test_the_usage_counts_the_tenant_s_entities_and_what_the_process_charged(client):
    for n in (1, 2):
        create(client, streetlight(n), **{"NGSILD-Tenant": "rennes"})
    quotas = quotas_of(client.app)
    for _ in range(3):
        quotas.charge_request("rennes")
    usage = client.get(URL).json()["usage"]
    assert usage["entities"] == 2
    assert usage["requestsPerMinute"] == 2 + 3 + 1  # the creations and this request, charged by the gate


def test_a_quota_set_through_the_api_applies_at_once_in_this_process(client):
    quotas = quotas_of(client.app)
    quotas.charge_request("rennes")
    client.put(URL, json={"requestsPerMinute": 1})
    with pytest.raises(TooManyRequests):
        quotas.charge_request("rennes")


@pytest.mark.parametrize("body, member", [
    ({"entities": -1}, "entities"),
    ({"requestsPerMinute": "600"}, "requestsPerMinute"),
    ({"uplinksPerMinute": 1.5}, "uplinksPerMinute"),
    ({"entities": True}, "entities"),
    ({"entities": 2**60}, "entities"),
    ({"requestPerMinute": 5}, "requestPerMinute"),
    ([{"entities": 5}], "JSON object"),
])
def test_bad_quotas_are_refused_with_a_detail_naming_what_is_wrong(client, body, member):
    detail = problem(client.put(URL, json=body), 400)
    assert member in detail
    assert client.get(URL).json()["entities"] is None  # nothing changed


def test_a_body_that_is_not_json_is_refused(client):
    response = client.put(URL, content=b"{entities: 5", headers={"Content-Type": "application/json"})
    problem(response, 400, "https://uri.etsi.org/ngsi-ld/errors/InvalidRequest")


def test_quotas_of_a_tenant_that_does_not_exist_are_not_found(client):
    problem(client.get("/admin/v1/tenants/nowhere/quotas"), 404,
            "https://uri.etsi.org/ngsi-ld/errors/NonexistentTenant")
    problem(client.put("/admin/v1/tenants/nowhere/quotas", json={"entities": 5}), 404,
            "https://uri.etsi.org/ngsi-ld/errors/NonexistentTenant")
    problem(client.get("/admin/v1/tenants/-bad name/quotas"), 400)


def test_deleting_a_tenant_deletes_its_quotas(client):
    client.put(URL, json={"entities": 5})
    assert client.delete("/admin/v1/tenants/rennes").status_code == 204
    problem(client.get(URL), 404, "https://uri.etsi.org/ngsi-ld/errors/NonexistentTenant")
    client.post("/admin/v1/tenants", json={"name": "rennes"})
    assert client.get(URL).json()["entities"] is None

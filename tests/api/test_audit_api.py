"""The audit trail's administration routes: /admin/v1/tenants/{name}/audit (filters, paging,
Total-Count) and its streamed CSV / JSON Lines export; bad filters are 400 ProblemDetails."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from territoires.app import create_app
from territoires.broker import Broker
from territoires.broker.actor import Actor, acting
from territoires.config import Settings
from territoires.ngsild.context import compile_context
from territoires.store.port import AuditRecord
from tests.api.conftest import (
    SDM_CONTEXT,
    assert_problem,
    link,
    operator_client,
    streetlight,
)

TENANT = {"NGSILD-Tenant": "rennes"}
AUDIT = "/admin/v1/tenants/rennes/audit"
SDM = "https://smartdatamodels.org/dataModel.Streetlight/"
LAMP = "urn:ngsi-ld:Streetlight:0001"
KEY = Actor(kind="key", subject="k7x2q9", credential_id="k7x2q9", name="=HYPERLINK(\"http://x\")")
AGENT = Actor(kind="oidc", subject="https://sso.rennes.fr#a1", credential_id=None, name="agent@rennes.fr")


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    """Authentication off: the enforcement point lets everyone through as the platform."""
    with TestClient(create_app(replace(settings, auth=False)), raise_server_exceptions=False) as test_client:
        assert test_client.post("/admin/v1/tenants", json={"name": "rennes"}).status_code == 201
        yield test_client


def broker_of(client: TestClient) -> Broker:
    return client.app.state.broker  # type: ignore[attr-defined]


def write_as(client: TestClient, actor: Actor) -> None:
    """Writes by ``actor`` through the broker (the gate sets the actor the same way)."""
    ctx = compile_context([SDM_CONTEXT], lambda url: None)
    entities = broker_of(client).entities
    with acting(actor):
        entities.update_attributes("rennes", LAMP, {"powerState": {"type": "Property", "value": "off"}}, ctx)
        entities.update_attributes("rennes", LAMP, {"dimmingLevel": {"type": "Property", "value": 10},
                                                    "powerState": {"type": "Property", "value": "on"}}, ctx)


@pytest.fixture
def trail(client: TestClient) -> TestClient:
    """Rennes' trail: a creation through HTTP (actor: the platform with authentication off), then
    2 updates by a key (powerState, then dimmingLevel and powerState), then the same 2 by an agent."""
    body = {**streetlight(1), "@context": [SDM_CONTEXT]}
    created = client.post("/ngsi-ld/v1/entities", content=orjson.dumps(body),
                          headers={**TENANT, "Content-Type": "application/ld+json"})
    assert created.status_code == 201, created.text
    write_as(client, KEY)
    write_as(client, AGENT)
    return client


def listed(client: TestClient, **params: Any) -> tuple[list[dict[str, Any]], int]:
    response = client.get(AUDIT, params=params)
    assert response.status_code == 200, response.text
    return response.json(), int(response.headers["Total-Count"])


def test_the_trail_lists_newest_first_with_its_total(trail: TestClient) -> None:
    records, total = listed(trail)
    assert total == 5 and len(records) == 5
    assert [r["operation"] for r in records] == ["update", "update", "update", "update", "create"]
    assert [r["subject"] for r in records] == [AGENT.subject] * 2 + [KEY.subject] * 2 + ["open"]
    newest = records[0]
    assert newest["attributes"] == [SDM + "dimmingLevel", SDM + "powerState"]  # compacted with the request's @context: the core one
    assert (newest["target"], newest["principalKind"], newest["credentialId"], newest["name"]) == \
           (LAMP, "oidc", None, "agent@rennes.fr")
    assert records[-1]["attributes"] == [] and records[-1]["principalKind"] == "open"
    assert set(newest) == {"seq", "at", "operation", "target", "attributes", "principalKind", "subject",
                           "credentialId", "name", "detail"}
    page, total = listed(trail, offset=1, limit=2)
    assert total == 5 and page == records[1:3]


def test_filters(trail: TestClient) -> None:
    def ops(**params: Any) -> list[tuple[str, list[str]]]:
        records, total = listed(trail, **params)
        assert total == len(records)
        return [(r["subject"], r["attributes"]) for r in records]

    both = [SDM + "dimmingLevel", SDM + "powerState"]
    assert ops(subject=KEY.subject) == [(KEY.subject, both), (KEY.subject, [SDM + "powerState"])]
    assert ops(credential=KEY.credential_id, attribute=SDM + "dimmingLevel") == [(KEY.subject, both)]
    assert len(ops(attribute=SDM + "powerState")) == 4
    assert ops(operation="create") == [("open", [])]
    assert len(ops(entity=LAMP)) == 5 and ops(entity="urn:ngsi-ld:Streetlight:9999") == []
    everything, _ = listed(trail)
    middle = everything[2]["at"]  # the key's second update
    assert [r["at"] for r in listed(trail, **{"from": middle})[0]] == [r["at"] for r in everything[:3]]
    assert [r["at"] for r in listed(trail, to=middle)[0]] == [r["at"] for r in everything[3:]]
    assert ops(**{"from": "2000-01-01", "to": "2000-01-02"}) == []


def test_attribute_names_follow_the_link_context(trail: TestClient) -> None:
    stored = broker_of(trail).contexts.add("rennes", {"@context": SDM_CONTEXT})
    sdm = link(f"http://testserver/ngsi-ld/v1/jsonldContexts/{stored.id}")
    response = trail.get(AUDIT, params={"attribute": "powerState"}, headers={**sdm})
    assert response.status_code == 200, response.text
    assert [r["attributes"] for r in response.json()] == [["dimmingLevel", "powerState"], ["powerState"]] * 2
    records, _ = listed(trail, attribute="powerState")  # without the context: another attribute, unknown here
    assert records == []


def test_bad_filters_are_refused(trail: TestClient) -> None:
    for params, words in [
        ({"from": "hier"}, "ISO 8601"),
        ({"to": "2026-11-28T10:00:00"}, "time zone"),
        ({"from": "2026-11-28", "to": "2026-11-27"}, "before"),
        ({"who": "k7x2q9"}, "unknown audit filter"),
        ({"subject": " "}, "empty"),
        ({"limit": "-1"}, "limit"),
        ({"offset": "deux"}, "offset"),
        ({"attribute": "power state"}, "not a valid name"),
    ]:
        problem = assert_problem(trail.get(AUDIT, params=params), 400, "BadRequestData")
        assert words in problem["detail"], (params, problem)
    assert_problem(trail.get(AUDIT, params={"limit": "100000"}), 403, "TooManyResults")
    problem = assert_problem(trail.get(f"{AUDIT}?subject=a&subject=b"), 400, "BadRequestData")
    assert "subject is repeated" in problem["detail"]
    assert_problem(trail.get("/admin/v1/tenants/nowhere/audit"), 404, "NonexistentTenant")
    assert_problem(trail.get("/admin/v1/tenants/no%20way/audit"), 400, "BadRequestData")
    assert trail.get("/admin/v1/tenants/_default/audit").status_code == 200  # the default tenant's own trail


def test_export_as_csv_holds_every_matching_record(trail: TestClient) -> None:
    broker = broker_of(trail)
    with broker.store.session("rennes", write=True) as session:  # more than a page, and than a batch
        session.append_audit([AuditRecord(at=f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}.000000Z", operation="update",
                                          target=LAMP, kind="key", subject="bulk", name="=1+2")
                              for n in range(1500)])
    response = trail.get(f"{AUDIT}/export", params={"format": "csv", "subject": "bulk"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="audit-rennes-')
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 1500
    assert rows[0]["at"] == "2026-01-01T00:24:59.000000Z" and rows[-1]["at"] == "2026-01-01T00:00:00.000000Z"
    assert rows[0]["name"] == "'=1+2"  # a spreadsheet shows it as text, never runs it
    everything = list(csv.DictReader(io.StringIO(trail.get(f"{AUDIT}/export").text)))  # csv is the default
    assert len(everything) == 1505
    key_rows = [row for row in everything if row["subject"] == KEY.subject]
    assert key_rows[0]["name"].startswith("'=HYPERLINK")
    assert key_rows[0]["attributes"] == f"{SDM}dimmingLevel {SDM}powerState"  # separated by spaces
    assert key_rows[0]["credentialId"] == KEY.credential_id


def test_export_as_json_lines_equals_the_listing(trail: TestClient) -> None:
    response = trail.get(f"{AUDIT}/export", params={"format": "jsonl", "entity": LAMP})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jsonl")
    assert response.headers["content-disposition"].endswith('.jsonl"')
    lines = [orjson.loads(line) for line in response.text.splitlines()]
    assert lines == listed(trail, entity=LAMP)[0]


def test_export_refuses_paging_and_unknown_formats(trail: TestClient) -> None:
    assert_problem(trail.get(f"{AUDIT}/export", params={"limit": "5"}), 400, "BadRequestData")
    assert_problem(trail.get(f"{AUDIT}/export", params={"format": "xlsx"}), 400, "BadRequestData")
    assert_problem(trail.get(f"{AUDIT}/export", params={"from": "demain"}), 400, "BadRequestData")
    assert_problem(trail.get("/admin/v1/tenants/nowhere/audit/export"), 404, "NonexistentTenant")


def test_writes_through_the_gate_are_recorded_with_the_callers_key(settings: Settings) -> None:
    with operator_client(settings) as client:
        assert client.post("/admin/v1/tenants", json={"name": "rennes"}).status_code == 201
        body = {"id": LAMP, "type": "Streetlight", "powerState": {"type": "Property", "value": "on"}}
        assert client.post("/ngsi-ld/v1/entities", json=body, headers=TENANT).status_code == 201
        key_id = client.headers["Authorization"].split("_")[1]
        [record] = client.get(AUDIT).json()
        assert (record["operation"], record["principalKind"], record["subject"]) == ("create", "key", key_id)

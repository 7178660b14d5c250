"""The broker's identity as a Context Source: GET /info/sourceIdentity (clause 5.15,
ContextSourceIdentity of clause 5.2.40)."""

from __future__ import annotations

import re
from dataclasses import replace

from territoires.broker.identity import iso_duration
from territoires.config import Settings

from .conftest import CORE, assert_problem, operator_client

IDENTITY = "/ngsi-ld/v1/info/sourceIdentity"
DURATION = re.compile(r"P(\d+D)?T(\d+H)?(\d+M)?\d+(\.\d+)?S")


def test_the_source_identity_names_the_installation_its_uptime_and_its_time(client):
    response = client.get(IDENTITY)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert CORE in response.headers["link"]
    body = response.json()
    assert body["type"] == "ContextSourceIdentity"
    assert re.fullmatch(r"urn:ngsi-ld:ContextSource:[0-9a-f-]{36}", body["id"])
    assert DURATION.fullmatch(body["contextSourceUptime"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", body["contextSourceTimeAt"])
    assert body["contextSourceExtras"]["software"] == "Territoires"
    assert body["contextSourceAlias"]


def test_each_tenant_is_a_source_of_its_own_and_an_unknown_tenant_is_refused(client):
    default = client.get(IDENTITY).json()
    client.post("/admin/v1/tenants", json={"name": "rennes"})
    rennes = client.get(IDENTITY, headers={"NGSILD-Tenant": "rennes"}).json()
    assert rennes["contextSourceAlias"] == default["contextSourceAlias"] + "/rennes"
    assert rennes["id"] != default["id"]
    assert_problem(client.get(IDENTITY, headers={"NGSILD-Tenant": "nowhere"}), 404, "NonexistentTenant")


def test_the_identity_is_the_configured_alias_and_stays_across_restarts(settings: Settings):
    configured = replace(settings, source_alias="syndicat-numerique-35")
    answers = []
    for _ in range(2):
        with operator_client(configured) as client:
            answers.append(client.get(IDENTITY, headers={"Accept": "application/ld+json"}).json())
    assert answers[0]["contextSourceAlias"] == "syndicat-numerique-35"
    assert answers[0]["id"] == answers[1]["id"]
    assert answers[0]["@context"]


def test_an_uptime_is_written_as_an_iso_8601_duration():
    assert iso_duration(0) == "PT0S"
    assert iso_duration(59.25) == "PT59.25S"
    assert iso_duration(3723.5) == "PT1H2M3.5S"
    assert iso_duration(2 * 86_400 + 60) == "P2DT1M0S"

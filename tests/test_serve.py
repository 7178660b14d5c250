"""`territoires serve` starts the real server (uvicorn, several workers) and answers over TCP."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests import postgres
from tests.servers import platform


@pytest.fixture(params=postgres.BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path):
    env = {"TERRITOIRES_DATABASE_URL": postgres.fresh_database()} if request.param == "postgres" else {}
    with platform(tmp_path / "var", env=env) as running:
        yield running


def test_serve_prints_where_to_go_and_serves_the_api(server):
    base, process = server
    assert process.stdout is not None
    assert base in process.stdout.readline()
    body = json.dumps({"id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight",
                       "powerState": {"type": "Property", "value": "on"}}).encode()
    created = urllib.request.urlopen(urllib.request.Request(
        base + "/ngsi-ld/v1/entities", data=body, headers={"Content-Type": "application/json"}))
    assert created.status == 201
    for _ in range(4):  # whichever worker answers sees the entity
        entity = json.load(urllib.request.urlopen(base + "/ngsi-ld/v1/entities/urn:ngsi-ld:Streetlight:1"))
        assert entity["powerState"]["value"] == "on"


def test_home_page_is_french_and_openapi_describes_the_routes(server):
    base, _ = server
    page = urllib.request.urlopen(base + "/").read().decode()
    assert '<html lang="fr">' in page
    spec = json.load(urllib.request.urlopen(base + "/openapi.json"))
    assert spec["openapi"].startswith("3.")
    assert {"/ngsi-ld/v1/entities", "/ngsi-ld/v1/entityOperations/upsert", "/admin/v1/tenants"} <= set(spec["paths"])
    assert "post" in spec["paths"]["/ngsi-ld/v1/entities"]

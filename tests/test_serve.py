"""`territoires serve` starts the real server (uvicorn, several workers) and answers over TCP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests import postgres
from tests.servers import platform


@pytest.fixture(params=postgres.BACKENDS)
def server(request: pytest.FixtureRequest, tmp_path: Path):
    env = {"TERRITOIRES_DATABASE_URL": postgres.fresh_database()} if request.param == "postgres" else {}
    env["TERRITOIRES_AUTH"] = "1"
    with platform(tmp_path / "var", env=env) as running:
        yield (*running, tmp_path / "var", env)


def operator_key(data_dir: Path, env: dict[str, str]) -> str:
    """A key made as the README says: its last line is the key."""
    made = subprocess.run([sys.executable, "-m", "territoires.cli", "--data-dir", str(data_dir), "keys", "create",
                           "--role", "operator", "--name", "test"], env={**os.environ, **env},
                          capture_output=True, text=True, check=True)
    return made.stdout.strip().splitlines()[-1]


def test_serve_prints_where_to_go_and_serves_the_api_to_key_holders_only(server):
    base, process, data_dir, env = server
    assert process.stdout is not None
    assert base in process.stdout.readline()
    entity_url = base + "/ngsi-ld/v1/entities/urn:ngsi-ld:Streetlight:1"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(entity_url)
    assert refused.value.code == 401
    key = {"Authorization": f"Bearer {operator_key(data_dir, env)}"}
    body = json.dumps({"id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight",
                       "powerState": {"type": "Property", "value": "on"}}).encode()
    created = urllib.request.urlopen(urllib.request.Request(
        base + "/ngsi-ld/v1/entities", data=body, headers={"Content-Type": "application/json", **key}))
    assert created.status == 201
    for _ in range(4):  # whichever worker answers sees the entity and knows the key
        entity = json.load(urllib.request.urlopen(urllib.request.Request(entity_url, headers=key)))
        assert entity["powerState"]["value"] == "on"


def test_home_page_is_french_and_openapi_describes_the_routes(server):
    base, *_ = server
    page = urllib.request.urlopen(base + "/").read().decode()
    assert '<html lang="fr">' in page
    spec = json.load(urllib.request.urlopen(base + "/openapi.json"))
    assert spec["openapi"].startswith("3.")
    assert {"/ngsi-ld/v1/entities", "/ngsi-ld/v1/entityOperations/upsert", "/admin/v1/tenants"} <= set(spec["paths"])
    assert "post" in spec["paths"]["/ngsi-ld/v1/entities"]


def test_a_served_transient_entity_is_deleted_once_its_expires_at_has_come(server):
    base, _, data_dir, env = server
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {operator_key(data_dir, env)}"}
    expiry = (datetime.now(UTC) + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    body = json.dumps({"id": "urn:ngsi-ld:Alert:1", "type": "Alert", "expiresAt": expiry,
                       "severity": {"type": "Property", "value": "high"}}).encode()
    created = urllib.request.urlopen(urllib.request.Request(base + "/ngsi-ld/v1/entities", data=body, headers=headers))
    assert created.status == 201
    entity_url = base + "/ngsi-ld/v1/entities/urn:ngsi-ld:Alert:1"
    deadline = time.monotonic() + 30  # the sweep runs every second (expiry_sweep_interval)
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(urllib.request.Request(entity_url, headers=headers))
        except urllib.error.HTTPError as gone:
            assert gone.code == 404
            break
        time.sleep(0.2)
    else:
        pytest.fail("the transient entity was still served 30 s after it expired")

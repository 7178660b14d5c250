"""`territoires serve` starts the real server (uvicorn, several workers) and answers over TCP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path):
    port = free_port()
    command = [sys.executable, "-m", "territoires.cli", "serve", "--port", str(port), "--workers", "2",
               "--data-dir", str(tmp_path / "var")]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/health", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the server did not start: " + (process.stdout.read() if process.stdout else ""))
    yield base, process
    process.terminate()
    process.wait(timeout=10)


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

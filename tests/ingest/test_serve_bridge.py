"""`territoires serve` with TERRITOIRES_MQTT_URL runs one bridge beside its API workers: an
uplink published to Mosquitto becomes visible through the NGSI-LD API, and the bridge's
counters through /admin/v1/ingestion."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from territoires.ingest.decoders import streetlight
from tests import postgres
from tests.ingest.bridging import lamp_uplink, publish, wait_until
from tests.servers import platform

LAMP = "70B3D57ED0000001"


def get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def found(url: str) -> object:
    try:
        return get(url)
    except urllib.error.HTTPError:
        return None


@pytest.mark.parametrize("backend", postgres.BACKENDS)
def test_serve_starts_one_bridge_that_stores_uplinks(backend, mosquitto, tmp_path: Path):
    env = {"TERRITOIRES_MQTT_URL": mosquitto.url}
    if backend == "postgres":
        env["TERRITOIRES_DATABASE_URL"] = postgres.fresh_database()
    with platform(tmp_path / "var", workers=2, env=env) as (base, process):
        device = {"devEui": LAMP, "entityId": "urn:ngsi-ld:Streetlight:1", "decoder": "streetlight"}
        urllib.request.urlopen(urllib.request.Request(
            base + "/admin/v1/devices", data=json.dumps(device).encode(), headers={"Content-Type": "application/json"}))
        wait_until(lambda: get(base + "/admin/v1/ingestion")["bridges"], what="the bridge's first counters")
        publish(mosquitto.port, [lamp_uplink(LAMP, 1, "2026-11-28T18:00:00Z", dimming=40)])
        lamp = wait_until(lambda: found(base + "/ngsi-ld/v1/entities/urn:ngsi-ld:Streetlight:1"), what="the uplink")
        level = lamp[streetlight.VOCAB + "illuminanceLevel"]  # no @context given: names stay expanded
        assert (level["value"], level["observedAt"]) == (0.4, "2026-11-28T18:00:00.000000Z")
        [bridge] = wait_until(lambda: [b for b in get(base + "/admin/v1/ingestion")["bridges"] if b["stored"] == 1])
        assert bridge["bridge"] == "territoires-bridge" and bridge["received"] == 1

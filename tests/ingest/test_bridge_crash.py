"""Reliability of ingestion: `territoires ingest` killed with SIGKILL in the middle of 100,000
uplinks published at QoS 1, then started again, has stored every uplink exactly once.

Mosquitto keeps what the bridge's persistent session has not acknowledged; the bridge
acknowledges a batch only after its write committed, and records each frame in that same
write, so an uplink redelivered after the crash is recognised and skipped.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest

from territoires.broker import open_broker
from territoires.config import Settings
from territoires.ingest.bridge import decoder_types
from territoires.ingest.decoders import parking
from territoires.ingest.mqtt import Subscriber
from territoires.ingest.uplinks import tts_uplink
from territoires.store.port import Aggregation, EntityQuery, TemporalQuery
from tests import postgres
from tests.ingest.bridging import publish, wait_until

DEVICES = 1000
FRAMES = 100  # per device: 100,000 uplinks
CLIENT_ID = "bridge-crash-test"
STATUS = "https://uri.etsi.org/ngsi-ld/status"


def eui(n: int) -> str:
    return f"70B3D57E{n:08X}"


def spot_uplink(n: int, f_cnt: int) -> tuple[str, bytes]:
    """Uplink ``f_cnt`` of parking spot ``n``: occupied at odd counters, one a second from 18:00."""
    return tts_uplink(dev_eui=eui(n), f_cnt=f_cnt, f_port=parking.F_PORT, time=uplink_time(f_cnt),
                      payload=parking.encode(parking.ParkingReading(occupied=f_cnt % 2 == 1)),
                      device_id=f"place-{n}", application_id="stationnement")


def uplink_time(f_cnt: int) -> str:
    return f"2026-11-28T18:{f_cnt // 60:02d}:{f_cnt % 60:02d}.000000Z"


def frames_stored(settings: Settings) -> list[tuple[str, int]]:
    """Every (DevEUI, frame counter) recorded as applied, read straight from the database."""
    if settings.database_url:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            conn.execute("SELECT set_config('territoires.tenant', 'rennes', false)")
            return conn.execute("SELECT dev_eui, f_cnt FROM frames").fetchall()
    [(file,)] = sqlite3.connect(settings.data_dir / "territoires.db").execute(
        "SELECT file FROM tenants WHERE name = 'rennes'").fetchall()
    return sqlite3.connect(settings.data_dir / "tenants" / file).execute("SELECT dev_eui, f_cnt FROM frames").fetchall()


def start_bridge(settings: Settings, url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TERRITOIRES_DATA_DIR": str(settings.data_dir), "TERRITOIRES_MQTT_URL": url,
           "TERRITOIRES_MQTT_CLIENT_ID": CLIENT_ID, "TERRITOIRES_DATABASE_URL": settings.database_url}
    with log.open("ab") as output:
        return subprocess.Popen([sys.executable, "-m", "territoires.cli", "ingest", "--log-level", "info"], env=env,
                                stdout=output, stderr=subprocess.STDOUT)


@pytest.mark.parametrize("backend", postgres.BACKENDS)
def test_sigkill_in_the_middle_of_100000_uplinks_loses_none_and_stores_none_twice(backend, mosquitto, tmp_path):
    settings = Settings(data_dir=tmp_path / "var",
                        database_url=postgres.fresh_database() if backend == "postgres" else "")
    broker = open_broker(settings)
    try:
        broker.tenants.create("rennes")
        catalogue = decoder_types()
        for n in range(DEVICES):
            broker.devices.register({"devEui": eui(n), "tenant": "rennes", "entityId": f"urn:ngsi-ld:ParkingSpot:{n}",
                                     "decoder": "parking"}, catalogue)
        # the bridge's session exists before anything is published: Mosquitto keeps every uplink for it
        Subscriber(mosquitto.url, CLIENT_ID, settings.mqtt_topics).open_session()
        uplinks = [spot_uplink(n, f_cnt) for f_cnt in range(FRAMES) for n in range(DEVICES)]
        publisher = threading.Thread(target=publish, args=(mosquitto.port, uplinks))
        publisher.start()
        log = tmp_path / "ingest.log"
        first = start_bridge(settings, mosquitto.url, log)
        try:
            wait_until(lambda: any(c.stored >= len(uplinks) // 3 for c in broker.devices.ingestion()),
                       timeout=600, what="the first bridge")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait()
        assert first.returncode == -signal.SIGKILL
        killed_at = len(frames_stored(settings))
        assert killed_at < len(uplinks), "the bridge was killed after the last uplink: nothing to prove"
        publisher.join(timeout=600)
        assert not publisher.is_alive(), "Mosquitto did not acknowledge every uplink"
        started = max(c.updated_at for c in broker.devices.ingestion())
        second = start_bridge(settings, mosquitto.url, log)
        try:
            wait_until(lambda: len(frames_stored(settings)) >= len(uplinks), timeout=600,
                       what=f"the restarted bridge ({log.read_text()[-2000:]})")
            # the second run stores what the first had not, and skips what it had already stored
            counters = wait_until(lambda: next((c for c in broker.devices.ingestion() if c.bridge == CLIENT_ID
                                                and c.started_at > started and c.received >= c.stored > 0
                                                and c.stored >= len(uplinks) - killed_at), None),
                                  what="the restarted bridge's counters")
        finally:
            second.terminate()
            second.wait(timeout=30)
        frames = frames_stored(settings)
        assert len(frames) == len(set(frames)) == len(uplinks)
        assert set(frames) == {(eui(n), f_cnt) for f_cnt in range(FRAMES) for n in range(DEVICES)}
        assert counters.quarantined == 0 and counters.stored == len(uplinks) - killed_at
        page = broker.entities.query("rennes", EntityQuery(limit=DEVICES))
        assert len(page.entities) == DEVICES
        for entity in page.entities:
            status = entity["attrs"][STATUS][0]
            assert (status["value"], status["observedAt"]) == ("occupied", uplink_time(FRAMES - 1))
        # each uplink is one instance of its spot's history: none missing, none twice
        with broker.store.session("rennes") as session:
            history = session.temporal_query(TemporalQuery(EntityQuery(limit=DEVICES), attrs=(STATUS,),
                                                           aggregation=Aggregation(("totalCount",))))
        assert len(history.entities) == DEVICES
        assert {entity.series[0].buckets[0].values["totalCount"] for entity in history.entities} == {FRAMES}
    finally:
        broker.close()


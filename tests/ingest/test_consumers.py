"""`territoires ingest --consumers N`: N bridge processes on one shared MQTT subscription of a
real Mosquitto store every uplink once; a later start with another number of consumers
retires the sessions of the former ones without losing what they held."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from territoires.broker import Broker, open_broker
from territoires.config import Settings
from territoires.ingest.bridge import decoder_types
from territoires.ingest.consumers import consumers
from territoires.ingest.decoders import streetlight
from territoires.store.port import EntityQuery, TemporalQuery
from tests import postgres
from tests.ingest.bridging import lamp_uplink, publish, wait_until

LAMPS = [f"70B3D57ED00000{n:02X}" for n in range(4)]
CLIENT_ID = "consumers-test"
ENERGY = streetlight.VOCAB + "energyConsumed"


def test_each_consumer_has_its_own_session_on_one_shared_subscription():
    settings = Settings(mqtt_client_id="pont", mqtt_topics=("application/+/device/+/event/up", "v3/+/devices/+/up"))
    assert consumers(settings) == [settings]
    three = consumers(Settings(**{**vars(settings), "ingest_consumers": 3}))
    assert [c.mqtt_client_id for c in three] == ["pont-0", "pont-1", "pont-2"]
    assert all(c.mqtt_topics == ("$share/pont/application/+/device/+/event/up", "$share/pont/v3/+/devices/+/up")
               for c in three)
    with pytest.raises(ValueError, match="abonnement partagé"):
        consumers(Settings(mqtt_client_id="pont/a", ingest_consumers=2))


@pytest.fixture(params=postgres.BACKENDS)
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    opened = open_broker(Settings(data_dir=tmp_path / "var", database_url=url))
    for n, eui in enumerate(LAMPS):
        opened.devices.register({"devEui": eui, "entityId": f"urn:ngsi-ld:Streetlight:{n}", "decoder": "streetlight"},
                                decoder_types())
    yield opened
    opened.close()


@contextmanager
def ingesting(broker: Broker, url: str, count: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`territoires ingest --consumers count` until the block ends (then SIGTERM)."""
    env = {**os.environ, "TERRITOIRES_DATA_DIR": str(broker.settings.data_dir), "TERRITOIRES_MQTT_URL": url,
           "TERRITOIRES_MQTT_CLIENT_ID": CLIENT_ID, "TERRITOIRES_DATABASE_URL": broker.settings.database_url}
    with log.open("ab") as output:
        process = subprocess.Popen([sys.executable, "-m", "territoires.cli", "ingest", "--consumers", str(count),
                                    "--log-level", "info"], env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()


def stored(broker: Broker) -> dict[str, int]:
    return {c.bridge: c.stored for c in broker.devices.ingestion() if c.bridge.startswith(CLIENT_ID)}


def instances(broker: Broker) -> int:
    with broker.store.session("") as session:
        page = session.temporal_query(TemporalQuery(EntityQuery(limit=10), attrs=(ENERGY,)))
    return sum(len(series.instances) for entity in page.entities for series in entity.series)


def uplinks(first: int, count: int) -> list[tuple[str, bytes]]:
    """Frames ``first`` to ``first + count - 1`` of each lamp in turn, a minute apart."""
    return [lamp_uplink(LAMPS[n % len(LAMPS)], n, f"2026-11-28T{18 + n // 60:02}:{n % 60:02}:00Z", energy_wh=n)
            for n in range(first, first + count)]


def session_present(port: int, client_id: str) -> bool:
    """Whether Mosquitto still keeps a session under ``client_id`` (it is left as found)."""
    answered, present = threading.Event(), []

    def on_connect(client, userdata, flags, reason, properties):
        present.append(flags.session_present)
        answered.set()

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
    client.on_connect = on_connect
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 0xFFFFFFFF
    client.connect("127.0.0.1", port, clean_start=False, properties=properties)
    client.loop_start()
    try:
        assert answered.wait(10)
    finally:
        client.disconnect()
        client.loop_stop()
    return present[0]


def test_two_consumers_store_every_uplink_once_then_one_retires_their_sessions(broker, mosquitto, tmp_path):
    log = tmp_path / "ingest.log"
    with ingesting(broker, mosquitto.url, 2, log):
        names = [f"{CLIENT_ID}-0", f"{CLIENT_ID}-1"]
        wait_until(lambda: set(stored(broker)) == set(names), what="both consumers' first counters")
        publish(mosquitto.port, uplinks(0, 200))
        wait_until(lambda: sum(stored(broker).values()) == 200, what="the consumers")
        assert all(stored(broker)[name] > 0 for name in names)  # the subscription's share went to each
    assert instances(broker) == 200
    latest = broker.entities.retrieve("", "urn:ngsi-ld:Streetlight:3")
    assert latest["attrs"][ENERGY][0]["value"] == 0.199  # kWh: the last frame of lamp 3 is the latest

    publish(mosquitto.port, uplinks(200, 60))  # held by the two stopped consumers' sessions
    with ingesting(broker, mosquitto.url, 1, log):
        wait_until(lambda: CLIENT_ID in stored(broker), what="the single consumer's first counters")
        publish(mosquitto.port, uplinks(260, 10))
        wait_until(lambda: stored(broker).get(CLIENT_ID) == 10, what="the single consumer")
    after = stored(broker)  # counters count from each (re)start: the retired ones, what their sessions held
    assert after[f"{CLIENT_ID}-0"] + after[f"{CLIENT_ID}-1"] == 60 and instances(broker) == 270
    assert not session_present(mosquitto.port, f"{CLIENT_ID}-0")
    assert not session_present(mosquitto.port, f"{CLIENT_ID}-1")

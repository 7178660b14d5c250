"""Sustained LoRaWAN ingestion: uplinks/s from MQTT to stored current value and history.

A real Mosquitto (Debian's package) on a free loopback port holds N ChirpStack v4 uplinks of
1,000 streetlight controllers (5 measures each) for a persistent session, published before the
clock starts. Two drains of the same queue size are timed in the same run, with the same MQTT
client (``ingest.mqtt.Subscriber``: QoS 1, acknowledged by hand, batches of
``ingest_batch_size``):

- the limit: the bare receive rate, every batch acknowledged as soon as taken;
- the figure: the bridge (``ingest.bridge.Bridge``, in this process), every uplink parsed,
  decoded, applied to its entity and recorded in its history (one write per batch), then
  acknowledged; timed until the last uplink is stored.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from bench.report import Row
from bench.scenarios import Bench
from territoires.broker import open_broker
from territoires.config import Settings
from territoires.ingest.bridge import Bridge, decoder_types
from territoires.ingest.decoders import streetlight
from territoires.ingest.mqtt import Subscriber
from territoires.runtime import settle_heap
from territoires.store.port import Aggregation, EntityQuery, TemporalQuery
from tests.ingest.bridging import lamp_uplink, publish
from tests.mosquitto import running_mosquitto

DEVICES = 1000
TARGET = 10_000  # uplinks/s, from issue 3


def _uplinks(count: int) -> list[tuple[str, bytes]]:
    """``count`` uplinks, round-robin over the devices, one a second per device from 18:00."""
    return [lamp_uplink(_eui(n % DEVICES), n // DEVICES, _time(n // DEVICES), dimming=(n // DEVICES) % 101,
                        power_w=(n % 700) / 10, energy_wh=n)
            for n in range(count)]


def _eui(n: int) -> str:
    return f"70B3D57E{n:08X}"


def _time(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1795888800 + second))  # 2026-11-28T18:00:00Z


def _drain(subscriber: Subscriber, count: int) -> float:
    """Seconds to receive and acknowledge ``count`` queued messages (the bare client)."""
    started = time.perf_counter()
    subscriber.start()
    received = 0
    while received < count:
        messages = subscriber.take(1000, 0.05, timeout=30)
        if not messages:
            raise RuntimeError(f"the bare client received {received} of {count} uplinks")
        subscriber.ack(messages)
        received += len(messages)
    elapsed = time.perf_counter() - started
    subscriber.stop()
    return elapsed


def _bridge_drain(bridge: Bridge, subscriber: Subscriber, count: int) -> float:
    """Seconds for the bridge to store ``count`` queued uplinks."""
    stop = threading.Event()
    started = time.perf_counter()
    subscriber.start()
    worker = threading.Thread(target=bridge.run, args=(subscriber, stop), daemon=True)
    worker.start()
    deadline = time.monotonic() + 1800
    try:
        while (done := bridge.snapshot()).stored + done.quarantined < count:
            if time.monotonic() > deadline or not worker.is_alive():
                raise RuntimeError(f"the bridge stored {done.stored} of {count} uplinks")
            time.sleep(0.01)
        return time.perf_counter() - started
    finally:
        stop.set()
        worker.join(timeout=60)
        subscriber.stop()


def ingest(bench: Bench) -> list[Row]:
    count = bench.sizes.streetlights  # 100,000 (20,000 with --quick)
    run, name = bench.run, f"{bench.backend.name}-ingest"
    env = bench.backend.store_env("ingest")
    settings = Settings(data_dir=Path(run.work_dir) / name, database_url=env.get("TERRITOIRES_DATABASE_URL", ""),
                        database_upgrade=env.get("TERRITOIRES_DATABASE_UPGRADE") == "1")
    uplinks = _uplinks(count)
    broker = open_broker(settings)
    try:
        catalogue = decoder_types()
        for n in range(DEVICES):
            broker.devices.register({"devEui": _eui(n), "entityId": f"urn:ngsi-ld:Streetlight:{n}",
                                     "decoder": "streetlight"}, catalogue)
        with running_mosquitto() as mqtt:
            bare = Subscriber(mqtt.url, "bench-bare", settings.mqtt_topics)
            bridged = Subscriber(mqtt.url, "bench-bridge", settings.mqtt_topics)
            bare.open_session()
            bridged.open_session()
            run.log(f"  publishing {count:,} uplinks to Mosquitto (kept for two sessions)")
            publish(mqtt.port, uplinks, client_id=f"bench-publisher-{os.getpid()}")
            settle_heap()  # as `territoires ingest` does once started, for both drains
            bare_rate = count / _drain(bare, count)
            run.log(f"  bare MQTT receive: {bare_rate:,.0f} uplinks/s")
            bridge = Bridge(broker, name="bench-bridge")
            rate = count / _bridge_drain(bridge, bridged, count)
            run.log(f"  bridge: {rate:,.0f} uplinks/s ({bridge.snapshot()})")
        _check_stored(bench, broker, count)
    finally:
        broker.close()
    return [Row(f"MQTT ingestion, {count:,} uplinks of {DEVICES:,} devices, to current value + history",
                rate, "uplinks/s", bare_rate, target=TARGET)]


def _check_stored(bench: Bench, broker, count: int) -> None:
    """A fast figure means nothing if the uplinks are not there: each must be one history instance."""
    attr = streetlight.VOCAB + "energyConsumed"
    with broker.store.session("") as session:
        page = session.temporal_query(TemporalQuery(EntityQuery(limit=DEVICES), attrs=(attr,),
                                                    aggregation=Aggregation(("totalCount",))))
    recorded = sum(bucket.values["totalCount"] for entity in page.entities for series in entity.series
                   for bucket in series.buckets)
    if recorded != count:
        bench.note(f"ingest: {recorded:,} history instances of energyConsumed for {count:,} uplinks")

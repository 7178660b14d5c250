"""Sustained LoRaWAN ingestion: uplinks/s from MQTT to stored current value and history.

A real Mosquitto (Debian's package) on a free loopback port holds N ChirpStack v4 uplinks of
1,000 streetlight controllers (5 measures each), dated as live traffic (the last ones when they
are published), for persistent sessions, published before the clock starts. The devices belong to one tenant, or to 4 member authorities of a pooling
structure in turn; each layout is written by 1 consumer process, then by 2 sharing one MQTT
subscription (as ``territoires ingest --consumers 2`` runs them). Every drain takes the same
queue, with the same MQTT client (``ingest.mqtt.Subscriber``: QoS 1, acknowledged by hand,
batches of ``ingest_batch_size``) in as many processes:

- the limit: the bare receive rate of as many clients, every batch acknowledged as soon as taken;
- the figure: the bridge (``ingest.bridge.Bridge``, as ``territoires ingest`` runs it), every
  uplink parsed, decoded, applied to its entity and recorded in its history (one write per
  tenant and batch), then acknowledged; timed until the last uplink is stored.

The clock starts once every consumer process has started and opened its store."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from dataclasses import replace
from itertools import chain
from pathlib import Path

from bench.report import Row
from bench.scenarios import Bench
from territoires.broker import open_broker
from territoires.config import Settings
from territoires.ingest.bridge import Bridge, decoder_types
from territoires.ingest.consumers import consumers
from territoires.ingest.decoders import streetlight
from territoires.ingest.mqtt import Subscriber
from territoires.runtime import settle_heap
from territoires.store.port import Aggregation, EntityQuery, TemporalQuery
from tests.ingest.bridging import lamp_uplink, publish
from tests.mosquitto import running_mosquitto

DEVICES = 1000
TARGET = 10_000  # uplinks/s, from issue 3
# (tenants, consumer processes): one authority, or the devices of 4 member authorities of a
# pooling structure, each written by 1 then 2 consumers.
LAYOUTS = ((1, 1), (1, 2), (4, 1), (4, 2))
TIMEOUT = 1800.0  # seconds a drain may take before the benchmark gives up


def _uplinks(count: int) -> list[tuple[str, bytes]]:
    """``count`` uplinks, round-robin over the devices, one a second per device, the last ones
    dated now: live traffic (history rows of the day being written are rolled up per day only
    once a later day is written; late uplinks cost that rollup at once)."""
    first = int(time.time()) - count // DEVICES
    return [lamp_uplink(_eui(n % DEVICES), n // DEVICES, _time(first + n // DEVICES), dimming=(n // DEVICES) % 101,
                        power_w=(n % 700) / 10, energy_wh=n)
            for n in range(count)]


def _eui(n: int) -> str:
    return f"70B3D57E{n:08X}"


def _time(epoch_second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_second))


def _consume(settings: Settings, bare: bool, ready, go, done, handled) -> None:
    """One consumer process: drain into ``handled`` (bare: received; else: stored) until ``done``."""
    subscriber = Subscriber(settings.mqtt_url, settings.mqtt_client_id, settings.mqtt_topics)
    broker = None if bare else open_broker(settings)
    settle_heap()  # as `territoires ingest` does once started
    ready.release()
    go.wait()
    subscriber.start()
    if bare:
        while not done.is_set():
            messages = subscriber.take(1000, 0.05, timeout=0.1)
            subscriber.ack(messages)
            with handled.get_lock():
                handled.value += len(messages)
    else:
        bridge, stop = Bridge(broker, name=settings.mqtt_client_id), threading.Event()
        worker = threading.Thread(target=bridge.run, args=(subscriber, stop), daemon=True)
        worker.start()
        counted = 0
        while not done.wait(0.005):
            snapshot = bridge.snapshot()
            with handled.get_lock():
                handled.value += snapshot.stored + snapshot.quarantined - counted
            counted = snapshot.stored + snapshot.quarantined
        stop.set()
        worker.join(timeout=60)
        broker.close()
    subscriber.stop()


def _drain(consumers: list[Settings], count: int, *, bare: bool) -> float:
    """Seconds for the consumers, each in a process of its own, to handle ``count`` queued uplinks."""
    spawn = multiprocessing.get_context("spawn")  # nothing of this process (threads, 100k uplinks) is inherited
    ready, go, done, handled = spawn.Semaphore(0), spawn.Event(), spawn.Event(), spawn.Value("q", 0)
    processes = [spawn.Process(target=_consume, args=(settings, bare, ready, go, done, handled), daemon=True)
                 for settings in consumers]
    for process in processes:
        process.start()
    for _ in processes:
        if not ready.acquire(timeout=120):
            raise RuntimeError("a consumer process did not start")
    started = time.perf_counter()
    go.set()
    try:
        while handled.value < count:
            if time.perf_counter() - started > TIMEOUT or not all(p.is_alive() for p in processes):
                raise RuntimeError(f"{handled.value} of {count} uplinks handled ({'bare' if bare else 'bridge'})")
            time.sleep(0.005)
        return time.perf_counter() - started
    finally:
        done.set()
        for process in processes:
            process.join(timeout=60)


def ingest(bench: Bench) -> list[Row]:
    count = bench.sizes.streetlights  # 100,000 (20,000 with --quick)
    rows = []
    with running_mosquitto() as mqtt:
        bare = {n: _team(Settings(mqtt_url=mqtt.url), f"bench-bare-{n}", n) for n in {n for _, n in LAYOUTS}}
        stores = {layout: _store(bench, "ingest_{}_{}".format(*layout), mqtt.url) for layout in LAYOUTS}
        bridged = {(tenants, n): _team(stores[tenants, n], f"bench-bridge-{tenants}-{n}", n) for tenants, n in LAYOUTS}
        for tenants, n in LAYOUTS:
            _register_devices(stores[tenants, n], tenants)
        for consumer in chain(*bare.values(), *bridged.values()):
            Subscriber(mqtt.url, consumer.mqtt_client_id, consumer.mqtt_topics).open_session()
        bench.run.log(f"  publishing {count:,} uplinks to Mosquitto (kept for {len(bare) + len(bridged)} drains)")
        publish(mqtt.port, _uplinks(count), client_id=f"bench-publisher-{os.getpid()}")
        bare_rates = {n: count / _drain(team, count, bare=True) for n, team in bare.items()}
        for (tenants, n), team in bridged.items():
            rate = count / _drain(team, count, bare=False)
            bench.run.log(f"  {tenants} tenant(s), {n} consumer(s): bridge {rate:,.0f} uplinks/s "
                          f"(bare MQTT receive {bare_rates[n]:,.0f})")
            _check_stored(bench, stores[tenants, n], count, tenants)
            rows.append(Row(f"MQTT ingestion, {count:,} uplinks of {DEVICES:,} devices in {tenants} tenant"
                            f"{'s' if tenants > 1 else ''}, to current value + history, {n} consumer process"
                            f"{'es' if n > 1 else ''}", rate, "uplinks/s", bare_rates[n], target=TARGET))
    return rows


def _team(settings: Settings, name: str, n: int) -> list[Settings]:
    """``n`` consumers named after ``name``, as ``territoires ingest --consumers n`` would run them."""
    return consumers(replace(settings, mqtt_client_id=name, ingest_consumers=n))


def _store(bench: Bench, name: str, mqtt_url: str) -> Settings:
    """Settings of a new, empty store of the run's backend, with the bench's MQTT broker."""
    env = bench.backend.store_env(name)
    return Settings(data_dir=Path(bench.run.work_dir) / f"{bench.backend.name}-{name}", mqtt_url=mqtt_url,
                    database_url=env.get("TERRITOIRES_DATABASE_URL", ""),
                    database_upgrade=env.get("TERRITOIRES_DATABASE_UPGRADE") == "1")


def _tenant(device: int, tenants: int) -> str:
    """The tenant of a device: the default one, or one of ``tenants`` member authorities in turn."""
    return f"commune-{device % tenants}" if tenants > 1 else ""


def _register_devices(settings: Settings, tenants: int) -> None:
    broker = open_broker(settings)
    try:
        for n in {_tenant(device, tenants) for device in range(tenants)} - {""}:
            broker.tenants.create(n)
        catalogue = decoder_types()
        for n in range(DEVICES):
            broker.devices.register({"devEui": _eui(n), "tenant": _tenant(n, tenants),
                                     "entityId": f"urn:ngsi-ld:Streetlight:{n}", "decoder": "streetlight"}, catalogue)
    finally:
        broker.close()


def _check_stored(bench: Bench, settings: Settings, count: int, tenants: int) -> None:
    """A fast figure means nothing if the uplinks are not there: each must be one history instance."""
    attr = streetlight.VOCAB + "energyConsumed"
    broker = open_broker(settings)
    recorded = 0
    try:
        for tenant in {_tenant(device, tenants) for device in range(tenants)}:
            with broker.store.session(tenant) as session:
                page = session.temporal_query(TemporalQuery(EntityQuery(limit=DEVICES), attrs=(attr,),
                                                            aggregation=Aggregation(("totalCount",))))
            recorded += sum(bucket.values["totalCount"] for entity in page.entities for series in entity.series
                            for bucket in series.buckets)
    finally:
        broker.close()
    if recorded != count:
        bench.note(f"ingest: {recorded:,} history instances of energyConsumed for {count:,} uplinks")

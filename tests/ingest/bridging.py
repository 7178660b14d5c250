"""What the bridge tests share: a publisher, a bridge running in a thread, real uplinks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from territoires.broker import Broker
from territoires.ingest.bridge import Bridge
from territoires.ingest.decoders import DECODERS, Decoder, streetlight, water_meter
from territoires.ingest.mqtt import Subscriber
from territoires.ingest.uplinks import chirpstack_uplink, tts_uplink

_OUTSTANDING = 20_000


def _published(info: paho.MQTTMessageInfo) -> None:
    info.wait_for_publish(timeout=60)
    assert info.is_published(), f"Mosquitto did not acknowledge message {info.mid} ({info.rc})"


def publish(url_port: int, messages: Sequence[tuple[str, bytes]], *, client_id: str = "test-publisher",
            authority: Path | None = None, retain: bool = False) -> None:
    """Publish at QoS 1 and return once the broker acknowledged every message (in TLS, trusting
    the certificate ``authority``, when given; ``retain``: kept by the broker for later subscribers)."""
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
    if authority is not None:
        client.tls_set(ca_certs=str(authority))
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", url_port)
    client.loop_start()
    try:
        infos = []
        for topic, body in messages:
            if len(infos) >= _OUTSTANDING:  # message ids are 16-bit: bound those not yet acknowledged
                _published(infos[-_OUTSTANDING])
            infos.append(client.publish(topic, body, qos=1, retain=retain))
        for info in infos:
            _published(info)
    finally:
        client.disconnect()
        client.loop_stop()


@contextmanager
def running_bridge(broker: Broker, url: str, *, client_id: str = "bridge-under-test",
                   decoders: Mapping[str, Decoder] = DECODERS) -> Iterator[Bridge]:
    """A bridge of ``broker`` subscribed to ``url``, running in a thread until the block ends."""
    bridge = Bridge(broker, name=client_id, decoders=decoders)
    subscriber = Subscriber(url, client_id, broker.settings.mqtt_topics)
    stop = threading.Event()
    subscriber.start()
    assert subscriber.ready.wait(10), "the bridge did not subscribe to Mosquitto"
    thread = threading.Thread(target=bridge.run, args=(subscriber, stop), daemon=True)
    thread.start()
    try:
        yield bridge
    finally:
        stop.set()
        thread.join(timeout=30)
        subscriber.stop()


def wait_until(condition: Callable[[], Any], *, timeout: float = 60, what: str = "the bridge") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not done after {timeout} s")
        time.sleep(0.05)


def lamp_uplink(dev_eui: str, f_cnt: int, time: str, *, dimming: int = 60, power_w: float = 42.5,
                energy_wh: int = 1234) -> tuple[str, bytes]:
    payload = streetlight.encode(streetlight.StreetlightReading("on", dimming, power_w, energy_wh))
    return chirpstack_uplink(dev_eui=dev_eui, f_cnt=f_cnt, f_port=streetlight.F_PORT, payload=payload, time=time,
                             device_name=f"lampe-{dev_eui[-4:]}", application_id="4f1b2a",
                             application_name="eclairage")


def meter_uplink(dev_eui: str, f_cnt: int, time: str, *, index_l: int = 123_456) -> tuple[str, bytes]:
    payload = water_meter.encode(water_meter.WaterMeterReading(index_l, 0, 30))
    return tts_uplink(dev_eui=dev_eui, f_cnt=f_cnt, f_port=water_meter.F_PORT, payload=payload, time=time,
                      device_id=f"compteur-{dev_eui[-4:].lower()}", application_id="eau")

"""``territoires simulate``: realistic LoRaWAN uplinks of a simulated fleet, published to MQTT.

N devices of each kind (streetlights, water meters, waste bins, parking spots, office air
sensors, building electricity meters) send a frame every ``step`` seconds of simulated time,
each at its own offset within the step, with its own frame counter, in the format of a
ChirpStack v4 or TTS v3 integration, QoS 1. ``behaviours`` gives their daily cycles.

Simulated time starts at ``start`` (default: a day ago), so the history of that day is replayed
as fast as ``rate`` allows; once it reaches the present, each uplink leaves when its instant
comes, as a live network would send it.

Everything says it is simulated: device names ``simulated-<kind>-NNN``, entity ids
``urn:ngsi-ld:<Type>:simulated-<kind>-NNN``, DevEUIs of the locally administered range
``02…``, the ChirpStack device tag ``simulated`` / TTS's ``"simulated": true``.
The fleet's registry (``--registry FILE``) is what ``territoires devices import FILE`` reads.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from territoires.ingest.behaviours import MODELS
from territoires.ingest.decoders import DECODERS
from territoires.ingest.uplinks import chirpstack_uplink, name_uuid, tts_uplink

NETWORKS = ("chirpstack", "tts")
# Most uplinks published and not yet acknowledged. paho-mqtt walks its whole list of pending
# messages at every acknowledgement, so a larger window publishes slower (100: ~3,500/s, 10,000: ~600/s).
_WINDOW = 100


@dataclass(frozen=True)
class SimulatedDevice:
    decoder: str        # the decoder of its frames, a key of DECODERS
    number: int         # 1… within its kind
    dev_eui: str
    name: str           # simulated-<decoder>-NNN
    entity_id: str
    entity_type: str

    def registration(self, tenant: str = "") -> dict[str, str]:
        """The device as ``territoires devices import`` and ``POST /admin/v1/devices`` read it."""
        return {"devEui": self.dev_eui, "tenant": tenant, "entityId": self.entity_id,
                "entityType": self.entity_type, "decoder": self.decoder, "name": self.name}


@dataclass(frozen=True)
class SimulatedUplink:
    at: datetime        # the instant the network server receives it
    device: SimulatedDevice
    f_cnt: int
    topic: str
    body: bytes


def fleet(per_kind: int) -> list[SimulatedDevice]:
    """``per_kind`` devices of every decoder's kind, always the same ones for the same count."""
    devices = []
    for code, (name, decoder) in enumerate(DECODERS.items(), start=1):
        local_type = decoder.entity_type.rsplit("/", 1)[1]
        for number in range(1, per_kind + 1):
            label = f"simulated-{name}-{number:03d}"
            # 02: a locally administered EUI-64, which no manufacturer assigns.
            devices.append(SimulatedDevice(
                decoder=name, number=number, dev_eui=f"025E{code:02X}00{number:08X}", name=label,
                entity_id=f"urn:ngsi-ld:{local_type}:{label}", entity_type=decoder.entity_type))
    return devices


class Simulation:
    """The uplinks of a fleet in the order of their instants, from ``start`` on, without end."""

    def __init__(self, devices: list[SimulatedDevice], *, network: str = "chirpstack",
                 start: datetime, step: float = 600, seed: int = 1) -> None:
        if network not in NETWORKS:
            raise ValueError(f"réseau inconnu {network!r} : {' ou '.join(NETWORKS)}")
        if step <= 0:
            raise ValueError("le pas de temps simulé doit être positif")
        self.devices = devices
        self.network = network
        self.start = start.astimezone(UTC)
        self.step = step
        # One generator per device, seeded by its DevEUI: a device behaves the same whatever the fleet.
        self._rngs = [random.Random(f"{seed}:{device.dev_eui}") for device in devices]
        self._models = [MODELS[device.decoder](device.number, rng, self.start)
                        for device, rng in zip(devices, self._rngs)]
        self._offsets = [rng.uniform(0, step) for rng in self._rngs]
        self._order = sorted(range(len(devices)), key=self._offsets.__getitem__)  # a round in time order

    def uplinks(self) -> Iterator[SimulatedUplink]:
        counters = [0] * len(self.devices)
        round_start = self.start
        while True:
            for i in self._order:
                at = round_start + timedelta(seconds=self._offsets[i])
                device = self.devices[i]
                payload = self._models[i].frame(at, self.step)
                topic, body = self._message(device, counters[i], payload, at)
                yield SimulatedUplink(at, device, counters[i], topic, body)
                counters[i] += 1
            round_start += timedelta(seconds=self.step)

    def _message(self, device: SimulatedDevice, f_cnt: int, payload: bytes, at: datetime) -> tuple[str, bytes]:
        time_text = at.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
        f_port = DECODERS[device.decoder].f_port
        application = f"simulated-{device.decoder}"
        if self.network == "tts":
            return tts_uplink(dev_eui=device.dev_eui, f_cnt=f_cnt, f_port=f_port, payload=payload, time=time_text,
                              device_id=device.name, application_id=application, simulated=True)
        return chirpstack_uplink(
            dev_eui=device.dev_eui, f_cnt=f_cnt, f_port=f_port, payload=payload, time=time_text,
            device_name=device.name, application_id=name_uuid(application),
            application_name=application, simulated=True)


@dataclass(frozen=True)
class Report:
    published: int          # uplinks handed to the MQTT broker
    acknowledged: int       # of which the broker acknowledged (QoS 1 PUBACK)
    seconds: float
    first: datetime | None  # simulated instants of the first and last uplinks
    last: datetime | None


class _Publisher:
    """A paho-mqtt 2 client publishing at QoS 1 and counting the broker's acknowledgements."""

    def __init__(self, url: str, client_id: str) -> None:
        # Imported here: the CLI imports this module to build its parser, for every command.
        import ssl

        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        from territoires.ingest.mqtt import Broker

        self.broker = Broker.from_url(url)
        self.acknowledged = 0
        self.published = 0
        self._connected = threading.Event()
        self._refused: str | None = None
        self._progress = threading.Condition()
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
        if self.broker.username is not None:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set_context(ssl.create_default_context())
        client.max_inflight_messages_set(_WINDOW)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_publish = self._on_publish
        self._client = client

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
        self._connected.set()

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._progress:
            self.acknowledged += 1
            self._progress.notify_all()

    def connect(self, timeout: float = 10) -> None:
        try:
            self._client.connect(self.broker.host, self.broker.port, keepalive=30)
        except OSError as error:
            raise ConnectionError(f"serveur MQTT {self.broker.host}:{self.broker.port} injoignable : {error}") from None
        self._client.loop_start()
        if not self._connected.wait(timeout) or self._refused:
            self.close(0)
            raise ConnectionError(f"connexion MQTT à {self.broker.host}:{self.broker.port} refusée : "
                                  f"{self._refused or 'pas de réponse'}")

    def publish(self, topic: str, body: bytes) -> None:
        with self._progress:  # back-pressure: never more than _WINDOW uplinks without acknowledgement
            self._progress.wait_for(lambda: self.published - self.acknowledged < _WINDOW, timeout=60)
            self.published += 1
        self._client.publish(topic, body, qos=1)

    def close(self, timeout: float = 30) -> None:
        """Wait (up to ``timeout``) for the broker to acknowledge everything, then disconnect."""
        with self._progress:
            self._progress.wait_for(lambda: self.acknowledged >= self.published, timeout=timeout)
        self._client.disconnect()
        self._client.loop_stop()


def run(url: str, simulation: Simulation, *, rate: float = 100, duration: float = 0,
        stop: threading.Event | None = None) -> Report:
    """Publish the simulation's uplinks to the MQTT broker at ``url``: at most ``rate`` a second
    (0: as fast as the broker takes them), none before its instant, for ``duration`` seconds
    (0: until ``stop`` is set)."""
    publisher = _Publisher(url, f"territoires-simulator-{os.getpid()}")
    publisher.connect()
    began = time.monotonic()
    deadline = began + duration if duration > 0 else float("inf")
    stop = stop or threading.Event()
    first = last = None
    try:
        for uplink in simulation.uplinks():
            ahead = (uplink.at - datetime.now(UTC)).total_seconds()
            if rate > 0:
                ahead = max(ahead, began + publisher.published / rate - time.monotonic())
            if ahead > 0:
                stop.wait(min(ahead, max(0.0, deadline - time.monotonic())))
            if stop.is_set() or time.monotonic() >= deadline:
                break
            publisher.publish(uplink.topic, uplink.body)
            first = first or uplink.at
            last = uplink.at
    finally:
        publisher.close()
    return Report(publisher.published, publisher.acknowledged, time.monotonic() - began, first, last)


# ---- the command ----

def add_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--mqtt", help="serveur MQTT, mqtt://hôte:port (défaut : TERRITOIRES_MQTT_URL)")
    command.add_argument("--devices", type=int, default=10, help="appareils de chaque sorte (défaut : 10)")
    command.add_argument("--rate", type=float, default=100,
                         help="remontées par seconde au plus (défaut : 100 ; 0 : sans limite)")
    command.add_argument("--duration", type=float, default=0,
                         help="durée en secondes (défaut : 0, jusqu'à Ctrl-C)")
    command.add_argument("--network", choices=NETWORKS, default="chirpstack",
                         help="format des remontées : ChirpStack v4 ou The Things Stack v3")
    command.add_argument("--seed", type=int, default=1, help="graine : la même rejoue les mêmes journées")
    command.add_argument("--step", type=float, default=600,
                         help="secondes simulées entre deux trames d'un appareil (défaut : 600)")
    command.add_argument("--start", help="début du temps simulé, ISO 8601 (défaut : il y a 24 h)")
    command.add_argument("--registry", help="écrire le registre des appareils simulés dans ce fichier JSON "
                                            "(pour « territoires devices import »)")
    command.add_argument("--tenant", default="", help="locataire des appareils du registre (défaut : le défaut)")


def command(args: argparse.Namespace) -> int:
    url = args.mqtt or os.environ.get("TERRITOIRES_MQTT_URL", "")
    problem = (
        "donnez le serveur MQTT (--mqtt mqtt://hôte:port ou TERRITOIRES_MQTT_URL)" if not url and not args.registry
        else "--devices doit être au moins 1" if args.devices < 1
        else "--rate et --duration ne peuvent pas être négatifs" if args.rate < 0 or args.duration < 0
        else "--step doit être positif" if args.step <= 0 else None)
    start = datetime.now(UTC) - timedelta(days=1)
    if args.start:
        try:
            start = datetime.fromisoformat(args.start)
        except ValueError:
            problem = f"--start : {args.start!r} n'est pas un instant ISO 8601 (ex. 2026-03-14T06:00:00Z)"
        else:
            start = start if start.tzinfo else start.replace(tzinfo=UTC)
    if problem:
        print(f"erreur : {problem}", file=sys.stderr)
        return 2
    devices = fleet(args.devices)
    if args.registry:
        Path(args.registry).write_bytes(orjson.dumps([device.registration(args.tenant) for device in devices],
                                                     option=orjson.OPT_INDENT_2))
        print(f"registre de {len(devices)} appareils simulés écrit dans {args.registry} "
              f"(territoires devices import {args.registry})")
        if not url:
            return 0
    simulation = Simulation(devices, network=args.network, start=start, step=args.step, seed=args.seed)
    print(f"simulation : {len(devices)} appareils ({args.devices} de chaque sorte), format {args.network}, "
          f"temps simulé depuis {simulation.start:%Y-%m-%d %H:%M} UTC", flush=True)
    stop = threading.Event()
    # Ctrl-C ends the simulation cleanly: what was published is acknowledged, then reported.
    previous = signal.signal(signal.SIGINT, lambda number, frame: stop.set())
    try:
        report = run(url, simulation, rate=args.rate, duration=args.duration, stop=stop)
    except (ConnectionError, ValueError) as error:
        print(f"erreur : {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, previous)
    span = f", temps simulé {report.first:%d/%m %H:%M} → {report.last:%d/%m %H:%M} UTC" if report.first else ""
    print(f"{report.published} remontées publiées (QoS 1), {report.acknowledged} accusées par le serveur MQTT, "
          f"en {report.seconds:.1f} s{span}")
    return 0 if report.acknowledged == report.published else 1

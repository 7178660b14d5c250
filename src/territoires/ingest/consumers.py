"""Several ingestion consumers on one shared MQTT subscription (``TERRITOIRES_INGEST_CONSUMERS``).

One bridge process writes what one core allows. With ``ingest_consumers`` = N > 1,
``territoires ingest`` starts N consumer processes named ``<client id>-0`` to
``<client id>-<N-1>``, each a bridge subscribed through one MQTT shared subscription
(``$share/<client id>/<topic>``): the MQTT broker hands each uplink to one of them. The uplinks
of one device may then be written out of order; the bridge's writes allow for it (a measure
older than the current value joins the history only). A consumer that dies is started again.

A persistent session outlives its consumer, and the MQTT broker keeps handing a stopped member
of a shared subscription its share. So, before anything starts, the consumers of an earlier
configuration (another number of consumers) that this platform's counters know are retired:
each session is resumed, unsubscribed, emptied through a bridge, then ended.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import time
from dataclasses import replace

from territoires.broker import Broker
from territoires.config import Settings
from territoires.ingest.bridge import Bridge
from territoires.ingest.mqtt import Subscriber
from territoires.runtime import stop_event
from territoires.store.port import Unavailable

log = logging.getLogger("territoires.ingest")

IDLE = 1.0  # seconds without a message after which a retired session is taken as empty
RETIRE_AT_MOST = 120.0  # seconds a retired session is emptied before it is ended anyway
RESTART_DELAY = 1.0  # seconds before a consumer that died is started again


def consumers(settings: Settings) -> list[Settings]:
    """The settings of each consumer: the bridge itself, or N sharing its subscriptions."""
    count, base = settings.ingest_consumers, settings.mqtt_client_id
    if count <= 1:
        return [settings]
    if re.search(r"[/+#]", base):
        raise ValueError(f"avec plusieurs consommateurs, l'identifiant MQTT {base!r} nomme un abonnement partagé : "
                         "il ne peut contenir ni « / », ni « + », ni « # »")
    return [replace(settings, mqtt_client_id=f"{base}-{k}", mqtt_topics=_shared(settings)) for k in range(count)]


def _shared(settings: Settings) -> tuple[str, ...]:
    return tuple(f"$share/{settings.mqtt_client_id}/{topic}" for topic in settings.mqtt_topics)


def retire_others(broker: Broker, settings: Settings) -> list[str]:
    """Retire the consumers of earlier configurations (see the module); their names."""
    base, current = settings.mqtt_client_id, {c.mqtt_client_id for c in consumers(settings)}
    ours = re.compile(re.escape(base) + r"(-\d+)?")
    others = sorted(c.bridge for c in broker.devices.ingestion()
                    if ours.fullmatch(c.bridge) and c.bridge not in current)
    for name in others:
        try:
            _retire(broker, settings, name)
        except (TimeoutError, Unavailable) as error:  # tried again at the next start
            log.error("le consommateur %s n'a pas pu être retiré : %s", name, error)
    return others


def _retire(broker: Broker, settings: Settings, name: str) -> None:
    subscriber = Subscriber(settings.mqtt_url, name, ())
    bridge = Bridge(broker, name=name)
    subscriber.start()
    try:
        if not subscriber.ready.wait(30):
            raise TimeoutError(f"pas de connexion MQTT pour retirer le consommateur {name}")
        subscriber.unsubscribe([*settings.mqtt_topics, *_shared(settings)])
        deadline = time.monotonic() + RETIRE_AT_MOST
        while time.monotonic() < deadline:
            messages = subscriber.take(settings.ingest_batch_size, settings.ingest_batch_wait, timeout=IDLE)
            if not messages:
                break
            bridge.handle(messages)
            subscriber.ack(messages)
        bridge.save_counters()
    except BaseException:
        subscriber.stop()  # the session stays, with what it held: retired at the next start
        raise
    subscriber.stop(end_session=True)
    log.warning("consommateur %s retiré : %d remontées reçues de sa session, puis session close",
                name, bridge.snapshot().received)


def supervise(settings: Settings, *, parent: int | None = None) -> None:
    """Run the consumers, each in a process of its own, until SIGTERM or SIGINT (or, with
    ``parent``, until that process is gone)."""
    stop = stop_event(parent)
    environment = {**os.environ, "TERRITOIRES_DATA_DIR": str(settings.data_dir),
                   "TERRITOIRES_MQTT_URL": settings.mqtt_url, "TERRITOIRES_INGEST_CONSUMERS": str(settings.ingest_consumers)}

    def start(k: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "territoires.cli", "ingest", "--consumer", str(k),
                                 "--parent", str(os.getpid())], env=environment)

    running = {k: start(k) for k in range(settings.ingest_consumers)}
    log.warning("pont LoRaWAN : %d consommateurs sur un abonnement partagé", len(running))
    try:
        while not stop.wait(RESTART_DELAY):
            for k, process in running.items():
                if process.poll() is not None:
                    log.error("le consommateur %d s'est arrêté (code %s) : relancé", k, process.returncode)
                    running[k] = start(k)
    finally:
        for process in running.values():
            process.terminate()
        for process in running.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

"""The LoRaWAN bridge: uplinks from MQTT become attribute updates of the registered entities.

For each batch of MQTT messages (up to ``ingest_batch_size`` or ``ingest_batch_wait``):

1. each message is parsed as a ChirpStack v4 or TTS v3 uplink (``uplinks.parse_uplink``);
2. the devices of the batch are looked up in the registry in one call;
3. each payload is decoded by its device's decoder into measures, which become one entity
   fragment: a Property per measure with ``observedAt`` = the uplink time and its unitCode;
4. uplinks beyond their tenant's quota per minute (``auth.quotas``) are quarantined (``quota``);
   the fragments of each tenant are applied in ONE write (``EntityService.apply_measurements``),
   which skips frames already applied (same DevEUI and counter: a redelivered or duplicated
   uplink) and records the others in the same transaction;
5. what could not be used is quarantined with its reason (``malformed``, ``unknown-device``,
   ``undecodable``, ``quota``, ``rejected``), counted and logged;
6. only then are the messages acknowledged: a bridge killed at any point gets them again from
   the MQTT broker, and the frames recorded with the updates keep them from applying twice.

A bad uplink never stops the others: a tenant's write that fails is retried uplink by uplink,
so only the uplinks at fault go to quarantine. A database that cannot be reached is waited for
(the batch is retried, unacknowledged), never taken for bad input.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from territoires import clock
from territoires.auth.errors import TooManyRequests
from territoires.auth.quotas import Quotas
from territoires.broker import Broker, open_broker
from territoires.broker.actor import Actor, acting
from territoires.config import Settings
from territoires.ingest.decoders import DECODERS, DecodeError, Decoder, Measure
from territoires.ingest.mqtt import Message, Subscriber, safe_url
from territoires.ingest.uplinks import Uplink, UplinkError, parse_uplink
from territoires.ngsild.errors import NgsiLdError
from territoires.ngsild.model import MAIN_MEMBER, Entity
from territoires.runtime import settle_heap, stop_event
from territoires.store.port import Device, Frame, IngestionCounters, QuarantinedUplink, Unavailable

log = logging.getLogger("territoires.ingest")

COUNTERS_EVERY = 1.0  # seconds between two saves of the counters
RETRY_DELAYS = (0.5, 1, 2, 5, 10)  # waits before retrying a batch while the database is unreachable
FRAMES_KEPT = 7 * 86400  # seconds a frame is remembered for deduplication, from when it was recorded
FORGET_EVERY = 3600.0  # seconds between two clean-ups of older frames


def decoder_types(decoders: Mapping[str, Decoder] = DECODERS) -> dict[str, str]:
    """Decoder names and the entity type each describes: what the device registry accepts."""
    return {name: decoder.entity_type for name, decoder in decoders.items()}


@dataclass
class _Usable:
    """An uplink ready to apply: its message, frame and entity fragment."""

    message: Message
    device: Device
    frame: Frame
    fragment: Entity


@dataclass
class _Batch:
    usable: list[_Usable] = field(default_factory=list)
    rejected: list[QuarantinedUplink] = field(default_factory=list)


class Bridge:
    """Applies batches of MQTT messages; keeps counters of what it did."""

    def __init__(self, broker: Broker, *, name: str | None = None,
                 decoders: Mapping[str, Decoder] = DECODERS, quotas: Quotas | None = None) -> None:
        self.broker = broker
        self.quotas = quotas or Quotas(broker.store, broker.settings)
        self.name = name or broker.settings.mqtt_client_id
        self.decoders = decoders
        started = clock.now()
        self.counters = IngestionCounters(self.name, started, started)
        self._counts: Counter[str] = Counter()
        self._tenants: set[str] = set()  # written to: their old frames are forgotten from time to time

    # ---- one batch -------------------------------------------------------------------------
    def handle(self, messages: Sequence[Message]) -> None:
        """Apply or quarantine every message of the batch. Raises ``Unavailable`` only (the
        database cannot be reached: nothing is lost, the caller retries the batch)."""
        batch = self._prepare(messages)
        by_tenant: dict[str, list[_Usable]] = {}
        for item in batch.usable:
            by_tenant.setdefault(item.device.tenant, []).append(item)
        for tenant, items in by_tenant.items():
            admitted = self._within_quota(tenant, items, batch.rejected)
            if admitted:
                self._apply(tenant, admitted, batch.rejected)
        if batch.rejected:
            self.broker.devices.keep(batch.rejected)
            kinds = Counter(uplink.kind for uplink in batch.rejected)
            log.warning("%d uplinks en quarantaine (%s) ; par exemple : %s", len(batch.rejected),
                        ", ".join(f"{kind} : {n}" for kind, n in sorted(kinds.items())), batch.rejected[0].reason)
        self._counts["received"] += len(messages)
        self._counts["quarantined"] += len(batch.rejected)

    def _prepare(self, messages: Sequence[Message]) -> _Batch:
        batch = _Batch()
        now = clock.now()
        parsed: list[tuple[Message, Uplink]] = []
        for message in messages:
            try:
                parsed.append((message, parse_uplink(message.topic, message.payload)))
            except UplinkError as error:
                batch.rejected.append(_quarantined(message, now, "malformed", error.reason))
            except Exception as error:  # a parser's bug must cost its message only
                log.exception("lecture de la remontée impossible (%s)", message.topic)
                batch.rejected.append(_quarantined(message, now, "malformed", f"{type(error).__name__}: {error}"))
        devices = self.broker.devices.lookup(list({uplink.dev_eui for _, uplink in parsed}))
        for message, uplink in parsed:
            device = devices.get(uplink.dev_eui)
            if device is None:
                batch.rejected.append(_quarantined(message, now, "unknown-device",
                                                   f"the device {uplink.dev_eui} is not registered", uplink))
                continue
            try:
                fragment = _fragment(device, uplink, self._decode(device, uplink))
            except DecodeError as error:
                batch.rejected.append(_quarantined(message, now, "undecodable", error.reason, uplink, device))
                continue
            frame = Frame(uplink.dev_eui, uplink.f_cnt, uplink.received_at)
            batch.usable.append(_Usable(message, device, frame, fragment))
        return batch

    def _decode(self, device: Device, uplink: Uplink) -> list[Measure]:
        decoder = self.decoders.get(device.decoder)
        if decoder is None:
            raise DecodeError(f"the device's decoder {device.decoder!r} does not exist here")
        try:
            measures = decoder.decode(uplink.payload, uplink.f_port)
        except DecodeError:
            raise
        except Exception as error:  # a decoder's bug must cost its uplink only
            log.exception("le décodeur %s a échoué", device.decoder)
            raise DecodeError(f"{device.decoder}: the decoder failed ({type(error).__name__}: {error})") from None
        if not measures:
            raise DecodeError(f"{device.decoder}: the frame on port {uplink.f_port} carries no measure")
        return measures

    def _within_quota(self, tenant: str, items: list[_Usable], rejected: list[QuarantinedUplink]) -> list[_Usable]:
        """The uplinks the tenant's quota per minute admits; the others go to quarantine. (A batch
        retried because the database failed between the lookup and the write is charged again.)"""
        try:
            self.quotas.charge_uplinks(tenant, len(items))  # the usual case: they all fit
            return items
        except TooManyRequests:
            pass  # nothing was counted: admit them one by one, up to the quota
        admitted = []
        for item in items:
            try:
                self.quotas.charge_uplinks(tenant)
            except TooManyRequests as refusal:
                rejected.append(_quarantined(item.message, clock.now(), "quota", refusal.detail, device=item.device))
                continue
            admitted.append(item)
        return admitted

    def _apply(self, tenant: str, items: list[_Usable], rejected: list[QuarantinedUplink]) -> None:
        """One write for the tenant's uplinks; if it fails, one write per uplink, so that only
        those at fault are quarantined."""
        try:
            self._write(tenant, items)
            return
        except Unavailable:
            raise
        except Exception as error:  # any refusal: find the uplinks at fault
            if len(items) == 1:
                reason = error.detail if isinstance(error, NgsiLdError) else f"{type(error).__name__}: {error}"
                if not isinstance(error, NgsiLdError):
                    log.exception("écriture refusée pour %s", items[0].device.dev_eui)
                rejected.append(_quarantined(items[0].message, clock.now(), "rejected", reason,
                                             device=items[0].device))
                return
        for item in items:
            self._apply(tenant, [item], rejected)

    def _write(self, tenant: str, items: list[_Usable]) -> None:
        with acting(Actor(kind="bridge", subject=self.name, name="pont LoRaWAN")):  # who wrote, for the audit trail
            applied = self.broker.entities.apply_measurements(
                tenant, [item.fragment for item in items], [item.frame for item in items])
        self._tenants.add(tenant)
        stored = sum(applied)
        self._counts["stored"] += stored
        self._counts["duplicates"] += len(applied) - stored

    # ---- counters --------------------------------------------------------------------------
    def snapshot(self) -> IngestionCounters:
        """The counters as they are now."""
        counts = self._counts
        return IngestionCounters(self.name, self.counters.started_at, clock.now(), received=counts["received"],
                                 stored=counts["stored"], duplicates=counts["duplicates"],
                                 quarantined=counts["quarantined"])

    def save_counters(self) -> None:
        self.counters = self.snapshot()
        self.broker.devices.save_counters(self.counters)

    def forget_old_frames(self) -> None:
        """Forget the frames older than ``FRAMES_KEPT`` of the tenants this bridge wrote to."""
        before = datetime.fromtimestamp(time.time() - FRAMES_KEPT, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for tenant in sorted(self._tenants):
            try:
                self.broker.devices.forget_frames(tenant, before)
            except NgsiLdError:  # the tenant was deleted meanwhile
                self._tenants.discard(tenant)

    # ---- the loop --------------------------------------------------------------------------
    def run(self, subscriber: Subscriber, stop: threading.Event) -> None:
        """Take batches from ``subscriber``, apply them, acknowledge them, until ``stop``."""
        settings = self.broker.settings
        saved = 0.0
        forgotten = time.monotonic()
        while not stop.is_set():
            messages = subscriber.take(settings.ingest_batch_size, settings.ingest_batch_wait, timeout=0.5)
            if messages:
                if not self._handle_patiently(messages, stop):
                    return  # stopping: the broker keeps the batch for the next session
                subscriber.ack(messages)
            # Counters appear once the subscriptions are in place: from then on nothing published is missed.
            if subscriber.ready.is_set() and time.monotonic() - saved >= COUNTERS_EVERY:
                try:
                    self.save_counters()
                    saved = time.monotonic()
                except Unavailable:
                    pass  # saved at the next turn
                self.quotas.flush()  # an idle bridge's counts reach the shared counters too
            if time.monotonic() - forgotten >= FORGET_EVERY:
                try:
                    self.forget_old_frames()
                    forgotten = time.monotonic()
                except Unavailable:
                    pass

    def _handle_patiently(self, messages: Sequence[Message], stop: threading.Event) -> bool:
        """``handle``, retried while the database cannot be reached; False if stopped meanwhile."""
        attempt = 0
        while True:
            try:
                self.handle(messages)
                return True
            except Unavailable as error:
                delay = RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)]
                log.warning("base de données injoignable (%s) : nouvel essai dans %s s", error, delay)
                attempt += 1
                if stop.wait(delay):
                    return False


def _fragment(device: Device, uplink: Uplink, measures: Sequence[Measure]) -> Entity:
    """The measures as an entity fragment: one instance per attribute, observed at the uplink time."""
    attrs: dict[str, list[dict[str, object]]] = {}
    for measure in measures:
        if measure.kind not in MAIN_MEMBER:
            raise DecodeError(f"{device.decoder}: {measure.attr} has no NGSI-LD attribute type ({measure.kind!r})")
        instance: dict[str, object] = {"type": measure.kind, MAIN_MEMBER[measure.kind]: measure.value,
                                       "observedAt": uplink.received_at}
        if measure.unit_code is not None:
            instance["unitCode"] = measure.unit_code
        attrs[measure.attr] = [instance]
    return {"id": device.entity_id, "type": [device.entity_type], "attrs": attrs}


def _quarantined(message: Message, now: str, kind: str, reason: str, uplink: Uplink | None = None,
                 device: Device | None = None) -> QuarantinedUplink:
    return QuarantinedUplink(received_at=now, topic=message.topic, kind=kind, reason=reason, body=message.payload,
                             dev_eui=uplink.dev_eui if uplink else (device.dev_eui if device else None),
                             tenant=device.tenant if device else None)


def serve_forever(settings: Settings, *, parent: int | None = None) -> None:
    """Run a bridge until SIGTERM or SIGINT (or, with ``parent``, until that process is gone:
    ``territoires serve`` starts the bridge as its child, ``territoires ingest`` its consumers)."""
    broker = open_broker(settings)
    bridge = Bridge(broker)
    subscriber = Subscriber(settings.mqtt_url, settings.mqtt_client_id, settings.mqtt_topics)
    settle_heap()
    stop = stop_event(parent)
    subscriber.start()
    log.warning("pont LoRaWAN : %s, sujets %s", safe_url(settings.mqtt_url), ", ".join(settings.mqtt_topics))
    try:
        bridge.run(subscriber, stop)
    finally:
        subscriber.stop()
        try:
            bridge.save_counters()
        except Unavailable:
            pass
        broker.close()

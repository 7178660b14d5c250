"""The bridge's MQTT side: one persistent MQTT v5 session, QoS 1, acknowledged by hand.

The session outlives the process (clean start off, session expiry "never"), and a message is
acknowledged only when the caller says so, after what it carried has been committed: a bridge
that dies loses nothing, since the broker sends it again every message it had not
acknowledged. ``Receive Maximum`` bounds how many unacknowledged messages the broker lets the
bridge hold, which is also how much it keeps in memory.
"""

from __future__ import annotations

import logging
import queue
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

log = logging.getLogger("territoires.ingest")

SESSION_NEVER_EXPIRES = 0xFFFFFFFF
RECEIVE_MAXIMUM = 65535  # the most MQTT allows


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    mid: int
    qos: int


@dataclass(frozen=True)
class Broker:
    """Where to connect, from an ``mqtt://`` or ``mqtts://`` URL (user and password in it if any)."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> Broker:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"l'URL MQTT doit être de la forme mqtt://hôte:port ou mqtts://hôte:port, pas {url!r}")
        tls = parts.scheme == "mqtts"
        return cls(parts.hostname, parts.port or (8883 if tls else 1883), tls,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)


def safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=f"{parts.username}:***@{parts.hostname}:{parts.port}").geturl()


class Subscriber:
    """A persistent subscription of ``topics`` at QoS 1; messages wait in memory until taken."""

    def __init__(self, url: str, client_id: str, topics: Sequence[str]) -> None:
        self.broker = Broker.from_url(url)
        self.topics = list(topics)
        self.ready = threading.Event()  # connected, and the broker acknowledged the subscriptions
        self._messages: queue.SimpleQueue[Message] = queue.SimpleQueue()
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5,
                             manual_ack=True)
        if self.broker.username is not None:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set_context(ssl.create_default_context())
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client

    # ---- paho's network thread ---------------------------------------------------------------
    def _on_connect(self, client: paho.Client, userdata: object, flags: paho.ConnectFlags,
                    reason: paho.ReasonCode, properties: Properties | None) -> None:
        if reason.is_failure:
            log.error("connexion MQTT refusée par %s:%s : %s", self.broker.host, self.broker.port, reason)
            return
        log.info("connecté à %s:%s (session %s)", self.broker.host, self.broker.port,
                 "reprise" if flags.session_present else "nouvelle")
        if self.topics:
            client.subscribe([(topic, 1) for topic in self.topics])
        else:  # a session resumed only to be emptied (``unsubscribe``, ``stop(end_session=True)``)
            self.ready.set()

    def _on_subscribe(self, client: paho.Client, userdata: object, mid: int, reasons: list[paho.ReasonCode],
                      properties: Properties | None) -> None:
        refused = [str(reason) for reason in reasons if reason.is_failure]
        if refused:
            log.error("abonnement MQTT refusé (%s) pour %s", ", ".join(refused), ", ".join(self.topics))
        else:
            self.ready.set()

    def _on_disconnect(self, client: paho.Client, userdata: object, flags: paho.DisconnectFlags,
                       reason: paho.ReasonCode, properties: Properties | None) -> None:
        self.ready.clear()
        if reason.is_failure:
            log.warning("connexion MQTT perdue (%s) : nouvelle tentative", reason)

    def _on_message(self, client: paho.Client, userdata: object, message: paho.MQTTMessage) -> None:
        self._messages.put(Message(message.topic, message.payload, message.mid, message.qos))

    # ---- the caller's thread ------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (retrying until the broker answers) and start receiving."""
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_NEVER_EXPIRES
        properties.ReceiveMaximum = RECEIVE_MAXIMUM
        self._client.connect_async(self.broker.host, self.broker.port, keepalive=30, clean_start=False,
                                   properties=properties)
        self._client.loop_start()

    def open_session(self, timeout: float = 10) -> None:
        """Make the persistent session and its subscriptions, then disconnect: from now on the
        broker keeps every uplink for this client id, whether it runs or not."""
        self.start()
        try:
            if not self.ready.wait(timeout):
                raise TimeoutError(f"pas d'abonnement MQTT auprès de {self.broker.host}:{self.broker.port} "
                                   f"en {timeout} s")
        finally:
            self.stop()

    def take(self, size: int, wait: float, timeout: float) -> list[Message]:
        """Up to ``size`` messages: waits up to ``timeout`` for the first, then up to ``wait``
        seconds more for the others."""
        try:
            first = self._messages.get(timeout=timeout)
        except queue.Empty:
            return []
        taken = [first]
        deadline = time.monotonic() + wait
        while len(taken) < size:
            try:
                taken.append(self._messages.get_nowait())
            except queue.Empty:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    taken.append(self._messages.get(timeout=left))
                except queue.Empty:
                    break
        return taken

    def ack(self, messages: Sequence[Message]) -> None:
        """Acknowledge these messages: the broker forgets them."""
        for message in messages:
            if message.qos:
                self._client.ack(message.mid, message.qos)

    def unsubscribe(self, topics: Sequence[str]) -> None:
        """Receive nothing more from these topics (what the session holds still comes)."""
        self._client.unsubscribe(list(topics))

    def stop(self, *, end_session: bool = False) -> None:
        """Disconnect; what was not acknowledged stays with the broker for the next session,
        unless ``end_session``: then the broker forgets the session and what it held."""
        properties = None
        if end_session:
            properties = Properties(PacketTypes.DISCONNECT)
            properties.SessionExpiryInterval = 0
        self._client.disconnect(properties=properties)
        self._client.loop_stop()

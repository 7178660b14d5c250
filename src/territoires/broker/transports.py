"""How a rendered notification reaches its endpoint: the HTTP and MQTT bindings (ETSI GS CIM 009
v1.8, clauses 6.3.x and 7.3 / the MQTT notification binding).

- HTTP(S): a POST of the notification to the endpoint URI, ``Content-Type`` the endpoint's
  ``accept``; with ``application/json`` the @context goes in a ``Link`` header; the tenant, if
  not the default one, in ``NGSILD-Tenant``; each ``receiverInfo`` pair as a header. Any 2xx
  answer is a success; another status, a refused connection or the timeout is a failure.
- MQTT(S): a PUBLISH to the topic named by the URI's path, on the broker of its host and port
  (credentials from its user information), with ``notifierInfo`` ``MQTT-Version`` (mqtt3.1.1 by
  default, or mqtt5.0) and ``MQTT-QoS`` (0 by default, 1 or 2). The payload is
  ``{"metadata": {...}, "body": notification}``, the metadata holding what HTTP sends as
  headers (Content-Type, Link, NGSILD-Tenant, receiverInfo); with MQTT 5 the same pairs are also
  user properties. A success is the broker's acknowledgement (QoS 1, 2) or the message written
  (QoS 0). A connection is kept per broker, credentials and tenant, shared by that tenant's
  notifications going there (closed after ``MqttTransport.IDLE_SECONDS`` unused): what one
  tenant's subscriptions do to theirs never fails another tenant's. Publishing waits on the
  event loop for the acknowledgement, holding no thread; a connection is opened and closed in a
  thread of its own (``own_thread``), so a broker slow to answer never holds the threads the
  store calls run in.
"""

from __future__ import annotations

import asyncio
import os
import select
import ssl
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import orjson
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from territoires.broker.http_client import HttpClient, HttpError
from territoires.broker.own_thread import in_own_thread
from territoires.ngsild.subscription import Endpoint

JSON = "application/json"
TENANT_HEADER = "NGSILD-Tenant"


class DeliveryFailed(Exception):
    """The endpoint did not take the notification; the message says why, for people."""


@dataclass(frozen=True)
class Message:
    """A notification ready to leave: its body and the metadata every binding carries."""

    body: dict[str, Any]  # the Notification, with its @context for JSON-LD
    content_type: str
    link: str | None  # Link header value naming the @context (JSON only)
    tenant: str  # "" for the default tenant

    def metadata(self, endpoint: Endpoint) -> list[tuple[str, str]]:
        """The headers (HTTP) or metadata pairs (MQTT) of this message to ``endpoint``."""
        pairs = [("Content-Type", self.content_type)]
        if self.link is not None:
            pairs.append(("Link", self.link))
        if self.tenant:
            pairs.append((TENANT_HEADER, self.tenant))
        return pairs + list(endpoint.receiver_info)


class HttpTransport:
    """POSTs notifications, keeping connections alive per endpoint origin."""

    def __init__(self, *, per_endpoint: int) -> None:
        self._client = HttpClient(per_origin=per_endpoint)

    async def send(self, endpoint: Endpoint, message: Message, timeout: float) -> None:
        try:
            status = await self._client.post(endpoint.uri, orjson.dumps(message.body), message.metadata(endpoint),
                                             timeout)
        except TimeoutError:
            raise DeliveryFailed(f"no answer from {endpoint.uri} within {timeout:g} s") from None
        except HttpError as error:
            raise DeliveryFailed(f"{endpoint.uri}: {error}") from None
        if not 200 <= status < 300:
            raise DeliveryFailed(f"{endpoint.uri} answered HTTP {status}")

    async def close(self) -> None:
        await self._client.close()


@dataclass(frozen=True)
class _Broker:
    """What an MQTT connection is made for (those of one key are shared)."""

    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    version: int
    tenant: str


class _Connection:
    """A paho client connected to one MQTT broker, its network loop in a thread of ours.

    paho's own loop (``loop_start``) watches its socket with ``select()``, which cannot watch a
    descriptor above 1024: a serving process with hundreds of tenant files open holds that many.
    Ours drives paho through its external-loop interface with ``poll()``: every read and write is
    done in that thread, woken through a pipe when a publication waits to be written. Each
    acknowledgement is handed to ``events``, the event loop that waits for it."""

    def __init__(self, broker: _Broker, timeout: float, events: asyncio.AbstractEventLoop) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"territoires-{uuid.uuid4().hex[:12]}",
                                  protocol=broker.version)
        if broker.username is not None:
            self.client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            self.client.tls_set_context(ssl.create_default_context())
        connected = threading.Event()
        self.refused: str | None = None

        def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
            if reason.is_failure:
                self.refused = str(reason)
            connected.set()

        self.client.on_connect = on_connect
        self._events = events
        self.used = events.time()  # when it last served, on the event loop's clock
        self._acks: dict[int, asyncio.Future[None]] = {}  # by message id; touched on the event loop only
        self.client.on_publish = lambda client, userdata, mid, reason, properties: events.call_soon_threadsafe(
            self._acknowledged, mid, reason)
        self.client.on_disconnect = lambda client, userdata, flags, reason, properties: events.call_soon_threadsafe(
            self._lost, reason)
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)
        self.client.on_socket_register_write = lambda client, userdata, sock: self._wake()
        self._stopping = False
        try:
            self.client.connect(broker.host, broker.port, keepalive=60)
        except BaseException:
            self._close_pipe()
            raise
        self._loop = threading.Thread(target=self._run, name=f"mqtt-{broker.host}:{broker.port}", daemon=True)
        self._loop.start()
        if not connected.wait(timeout) or self.refused is not None:
            self.close()
            raise DeliveryFailed(f"the MQTT broker {broker.host}:{broker.port} refused the connection: "
                                 f"{self.refused or 'no answer'}")

    async def publish(self, topic: str, payload: bytes, qos: int, properties: Properties | None,
                      timeout: float) -> None:
        """Publish, then wait for the broker's acknowledgement (QoS 1, 2) or the message written (0)."""
        try:
            info = self.client.publish(topic, payload, qos=qos, properties=properties)
        except ValueError as error:
            raise DeliveryFailed(f"publishing to {topic} failed: {error}") from None
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise DeliveryFailed(f"publishing to {topic} failed: {mqtt.error_string(info.rc)}")
        # Registered before anything is awaited: an acknowledgement already on its way to the
        # event loop finds it.
        acknowledged = self._acks[info.mid] = self._events.create_future()
        try:
            await asyncio.wait_for(acknowledged, timeout)
        except TimeoutError:
            raise DeliveryFailed(f"the MQTT broker did not acknowledge the notification on {topic} "
                                 f"within {timeout:g} s") from None
        finally:
            self._acks.pop(info.mid, None)

    def _acknowledged(self, mid: int, reason: Any) -> None:
        waiting = self._acks.pop(mid, None)
        if waiting is None or waiting.done():
            return
        if reason.is_failure:  # MQTT 5: the broker refused the message (not authorised, quota…)
            waiting.set_exception(DeliveryFailed(f"the MQTT broker refused the notification: {reason}"))
        else:
            waiting.set_result(None)

    def _lost(self, reason: Any) -> None:
        waiting, self._acks = self._acks, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(DeliveryFailed(f"the connection to the MQTT broker was lost: {reason}"))

    def close(self) -> None:
        self.client.disconnect()
        self._stopping = True
        self._wake()
        self._loop.join(timeout=10)
        self._close_pipe()

    def _close_pipe(self) -> None:
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _wake(self) -> None:
        try:
            os.write(self._wake_write, b"\0")
        except OSError:  # woken already (the pipe is full), or closed
            pass

    def _run(self) -> None:
        """Read, write and keep the connection alive until it ends or ``close``."""
        client, poller = self.client, select.poll()
        poller.register(self._wake_read, select.POLLIN)
        sock = client.socket()
        while sock is not None and not self._stopping:
            fd = sock.fileno()
            poller.register(fd, select.POLLIN | (select.POLLOUT if client.want_write() else 0))
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
            events = dict(poller.poll(0 if pending else 1000))
            poller.unregister(fd)
            if self._wake_read in events:
                os.read(self._wake_read, 4096)
            if pending or events.get(fd, 0) & (select.POLLIN | select.POLLHUP | select.POLLERR):
                client.loop_read()
            if client.want_write():
                client.loop_write()
            client.loop_misc()  # keepalive; notices a connection gone silent
            sock = client.socket()
        if client.want_write():  # the DISCONNECT of ``close``
            client.loop_write()


class MqttTransport:
    """Publishes notifications, one shared connection per MQTT broker, credentials and tenant."""

    # Seconds a connection stays open unused (closed at the next notification after that): a
    # tenant whose notifications stopped keeps no connection, nor the thread that serves it.
    IDLE_SECONDS = 300.0

    def __init__(self, *, idle: float = IDLE_SECONDS) -> None:
        self._idle = idle
        self._connections: dict[_Broker, _Connection] = {}
        self._next_sweep = 0.0
        # One lock per broker: a broker slow to answer delays only its own notifications.
        self._locks: dict[_Broker, asyncio.Lock] = {}

    async def _connection(self, broker: _Broker, timeout: float) -> _Connection:
        async with self._locks.setdefault(broker, asyncio.Lock()):
            found = self._connections.get(broker)
            if found is None:
                try:
                    found = await in_own_thread(_Connection, broker, timeout, asyncio.get_running_loop(),
                                                name=f"mqtt-connect-{broker.host}", release=_Connection.close)
                except OSError as error:
                    raise DeliveryFailed(f"the MQTT broker {broker.host}:{broker.port} could not be reached: "
                                         f"{error}") from None
                self._connections[broker] = found
            return found

    async def send(self, endpoint: Endpoint, message: Message, timeout: float) -> None:
        parts = urlsplit(endpoint.uri)
        tls = parts.scheme.lower() == "mqtts"
        version = mqtt.MQTTv5 if endpoint.notifier_setting("MQTT-Version") == "mqtt5.0" else mqtt.MQTTv311
        broker = _Broker(parts.hostname or "", parts.port or (8883 if tls else 1883), tls,
                         unquote(parts.username) if parts.username else None,
                         unquote(parts.password) if parts.password else None, version, message.tenant)
        pairs = message.metadata(endpoint)
        payload = orjson.dumps({"metadata": dict(pairs), "body": message.body})
        properties = _user_properties(pairs, message.content_type) if version == mqtt.MQTTv5 else None
        qos = int(endpoint.notifier_setting("MQTT-QoS") or 0)
        await self._close_idle()
        connection = await self._connection(broker, timeout)
        loop = asyncio.get_running_loop()
        connection.used = loop.time()
        try:
            await connection.publish(unquote(parts.path.lstrip("/")), payload, qos, properties, timeout)
        except DeliveryFailed:
            if not connection.client.is_connected() and self._connections.get(broker) is connection:
                del self._connections[broker]  # start afresh next time
                await in_own_thread(connection.close, name="mqtt-close")
            raise
        finally:
            connection.used = loop.time()

    async def _close_idle(self) -> None:
        now = asyncio.get_running_loop().time()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self._idle / 4
        # Taken out all at once, before anything is awaited: no send can pick one up meanwhile.
        idle = [self._connections.pop(broker) for broker, connection in list(self._connections.items())
                if now - connection.used > self._idle]
        for connection in idle:
            await in_own_thread(connection.close, name="mqtt-close")

    async def close(self) -> None:
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            await in_own_thread(connection.close, name="mqtt-close")


def _user_properties(pairs: Sequence[tuple[str, str]], content_type: str) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)
    properties.ContentType = content_type
    properties.UserProperty = list(pairs)
    return properties

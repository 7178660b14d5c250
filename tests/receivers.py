"""Real notification receivers for the tests: HTTP servers on loopback ports and an MQTT listener.

    with http_receiver() as receiver:              # answers 204 to every POST
        … receiver.url …                             # http://127.0.0.1:PORT/notify
        got = receiver.wait_for(3)                   # the first 3 notifications received
    receiver.status = 500                            # answer this from now on
    receiver.hold()  / receiver.release()            # keep requests waiting (a hanging endpoint) / let them go
    receiver.delay = 0.02                            # answer each request that much later (a slow endpoint)
    receiver.arrived                                 # requests read so far, answered or held

    with silent_mqtt_broker() as broker:             # accepts connections, never acknowledges a PUBLISH
    with silent_mqtt_broker(connack_delay=1.0) as …  # and accepts each connection a second late
        … broker.port …  broker.wait_for_publications(1)

    with mqtt_listener(mosquitto, "topic") as listener:  # a paho client subscribed with QoS 1
        got = listener.wait_for(1)                   # MqttMessage(topic, payload, properties)
"""

from __future__ import annotations

import http.server
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
import paho.mqtt.client as mqtt


@dataclass(frozen=True)
class Received:
    """One request as the receiver got it (``at``: ``time.time()`` when it arrived) and the
    status it answered."""

    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # parsed JSON
    at: float
    status: int


class HttpReceiver:
    def __init__(self, status: int = 204) -> None:
        self.status = status
        self.delay = 0.0
        self.received: list[Received] = []
        self.arrived = 0  # requests read, answered or not
        self._changed = threading.Condition()
        self._open = threading.Event()
        self._open.set()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real endpoint

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                arrived = time.time()
                with owner._changed:
                    owner.arrived += 1
                owner._open.wait()
                if owner.delay:
                    time.sleep(owner.delay)
                with owner._changed:
                    status = owner.status
                    owner.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                                   orjson.loads(raw), arrived, status))
                    owner._changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that went away (the tests kill servers): nothing to report

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/notify"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def hold(self) -> None:
        """Keep every request waiting (unanswered) until ``release``: a hanging endpoint."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def wait_for(self, count: int, timeout: float = 20.0, *, accepted: bool = False) -> list[Received]:
        """The first ``count`` requests answered (with ``accepted``, answered with a 2xx status);
        AssertionError if they do not come in time."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(found := [r for r in self.received if not accepted or 200 <= r.status < 300]) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(found)} notifications received of the {count} expected"
                self._changed.wait(left)
            return found[:count]

    def bodies(self) -> list[Any]:
        with self._changed:
            return [r.body for r in self.received]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def http_receiver(status: int = 204) -> Iterator[HttpReceiver]:
    receiver = HttpReceiver(status)
    receiver.start()
    try:
        yield receiver
    finally:
        receiver.stop()


@dataclass(frozen=True)
class MqttMessage:
    topic: str
    payload: Any  # parsed JSON
    user_properties: list[tuple[str, str]]


class MqttListener:
    def __init__(self, host: str, port: int, topic: str) -> None:
        self.messages: list[MqttMessage] = []
        self._changed = threading.Condition()
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)

        def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
            client.subscribe(topic, qos=1)

        def on_subscribe(client: mqtt.Client, userdata: Any, mid: Any, reasons: Any, properties: Any) -> None:
            subscribed.set()

        def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
            properties = getattr(message.properties, "UserProperty", None) or []
            with self._changed:
                self.messages.append(MqttMessage(message.topic, orjson.loads(message.payload), list(properties)))
                self._changed.notify_all()

        self.client.on_connect = on_connect
        self.client.on_subscribe = on_subscribe
        self.client.on_message = on_message
        self.client.connect(host, port)
        self.client.loop_start()
        assert subscribed.wait(10), "the MQTT listener could not subscribe"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[MqttMessage]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.messages)} MQTT messages received of the {count} expected"
                self._changed.wait(left)
            return list(self.messages[:count])

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@contextmanager
def mqtt_listener(host: str, port: int, topic: str) -> Iterator[MqttListener]:
    listener = MqttListener(host, port, topic)
    try:
        yield listener
    finally:
        listener.stop()


class SilentMqttBroker:
    """An MQTT broker that accepts every connection (MQTT 3.1.1) and acknowledges no PUBLISH: a
    broker overloaded or stuck, from its clients' side."""

    CONNACK = b"\x20\x02\x00\x00"  # session not present, connection accepted

    def __init__(self, connack_delay: float = 0.0) -> None:
        self.publications = 0  # PUBLISH packets seen (counted by their first byte in each read)
        self._changed = threading.Condition()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                sock.recv(65536)  # the CONNECT
                time.sleep(connack_delay)
                sock.sendall(owner.CONNACK)
                while data := sock.recv(65536):
                    if data[0] >> 4 == 3:
                        with owner._changed:
                            owner.publications += 1
                            owner._changed.notify_all()

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for_publications(self, count: int, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while self.publications < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{self.publications} publications of the {count} expected"
                self._changed.wait(left)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def silent_mqtt_broker(connack_delay: float = 0.0) -> Iterator[SilentMqttBroker]:
    broker = SilentMqttBroker(connack_delay)
    try:
        yield broker
    finally:
        broker.stop()


"""The bridge's MQTT side: one persistent MQTT v5 session, QoS 1, acknowledged by hand.

The session outlives the process (clean start off, session expiry "never"), and a message is
acknowledged only when the caller says so, after what it carried has been committed: a bridge
that dies loses nothing, since the broker sends it again every message it had not
acknowledged. ``Receive Maximum`` bounds how many unacknowledged messages the broker lets the
bridge hold, which is also how much it keeps in memory.

The client is ours (packets in ``mqtt_wire``) rather than a general-purpose library's because
receiving is most of a consumer's work besides writing: a library that reads each packet by
several system calls and builds it through callbacks cost about 140 µs of CPU per uplink
here. One thread does all the socket's I/O (TLS allows no other way): it reads whatever has
arrived at once, hands the messages to the caller's queue, and writes what the caller asked
for (acknowledgements, an unsubscription), woken through a pipe.
"""

from __future__ import annotations

import itertools
import logging
import os
import queue
import select
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from territoires.ingest import mqtt_wire as wire
from territoires.ingest.mqtt_wire import Message

__all__ = ["Broker", "Message", "Subscriber", "safe_url"]

log = logging.getLogger("territoires.ingest")

SESSION_NEVER_EXPIRES = 0xFFFFFFFF
RECEIVE_MAXIMUM = 65535  # the most MQTT allows
KEEPALIVE = 30  # seconds; a PINGREQ every half of it, the connection given up after 1.5 times it in silence
TIMEOUT = 10.0  # seconds to connect, to be acknowledged the connection, to write
RECONNECT_DELAYS = (1, 30)  # seconds before connecting again: the first, doubled up to the last
READ_SIZE = 1 << 18
CLOSING_TIMEOUT = 2.0  # seconds the server may take to close the connection after a DISCONNECT


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


class Refused(Exception):
    """The server refused the connection (CONNACK with a failure reason code)."""


class Subscriber:
    """A persistent subscription of ``topics`` at QoS 1; messages wait in memory until taken."""

    def __init__(self, url: str, client_id: str, topics: Sequence[str]) -> None:
        self.broker = Broker.from_url(url)
        self.client_id = client_id
        self.topics = list(topics)
        self.ready = threading.Event()  # connected, and the broker acknowledged the subscriptions
        self._messages: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._connection = 0  # the number of the current connection, 0 before the first
        self._outgoing: list[bytes] = []  # what the caller asked to send, for the current connection
        self._outgoing_lock = threading.Lock()
        self._packet_ids = itertools.cycle(range(1, 0x10000))
        self._stopping = threading.Event()
        self._end_session = False
        self._thread: threading.Thread | None = None
        self._wake_read = self._wake_write = -1

    # ---- the caller's thread ------------------------------------------------------------------
    def start(self) -> None:
        """Connect in the background (retrying until the broker answers) and start receiving."""
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)  # one pending byte wakes the thread as well as many
        self._thread = threading.Thread(target=self._run, name=f"mqtt-{self.client_id}", daemon=True)
        self._thread.start()

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
        """Acknowledge these messages: the broker forgets them. Those received on an earlier
        connection are not: their packet identifiers may name other messages now, and the broker
        sends them again anyway."""
        connection = self._connection
        self._send(wire.pubacks([m.mid for m in messages if m.qos and m.connection == connection]), connection)

    def unsubscribe(self, topics: Sequence[str]) -> None:
        """Receive nothing more from these topics (what the session holds still comes)."""
        self._send(wire.unsubscribe(next(self._packet_ids), list(topics)), self._connection)

    def stop(self, *, end_session: bool = False) -> None:
        """Disconnect, once what was asked to be sent is; what was not acknowledged stays with the
        broker for the next session, unless ``end_session``: then the broker forgets the session
        and what it held."""
        if self._thread is None:
            return
        self._end_session = end_session
        self._stopping.set()
        self._wake()
        self._thread.join(timeout=TIMEOUT + 5)
        self._thread = None
        with self._outgoing_lock:
            self._connection = 0  # nothing more to send
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _send(self, packets: bytes, connection: int) -> None:
        """Have ``packets`` sent, if the connection is still the ``connection``-th."""
        with self._outgoing_lock:
            if not packets or not connection or connection != self._connection:
                return
            if not self._outgoing:
                self._wake()
            self._outgoing.append(packets)

    def _wake(self) -> None:
        try:
            os.write(self._wake_write, b"\0")
        except BlockingIOError:  # the pipe is full of wake-ups already
            pass

    # ---- the network thread -------------------------------------------------------------------
    def _run(self) -> None:
        delay = RECONNECT_DELAYS[0]
        while not self._stopping.is_set():
            sock = None
            try:
                sock, reader, first = self._connect()
                delay = RECONNECT_DELAYS[0]
                self._serve(sock, reader, first)
            except Refused as error:
                log.error("connexion MQTT refusée par %s:%s : %s", self.broker.host, self.broker.port, error)
            except (OSError, wire.ProtocolError) as error:
                log.warning("connexion MQTT à %s:%s perdue ou impossible (%s) : nouvelle tentative dans %d s",
                            self.broker.host, self.broker.port, error, delay)
            except Exception:  # whatever it is, the bridge keeps its connection alive
                log.exception("erreur du client MQTT : nouvelle connexion dans %d s", delay)
            finally:
                self.ready.clear()
                if sock is not None:
                    sock.close()
            if self._stopping.wait(delay):
                break
            delay = min(2 * delay, RECONNECT_DELAYS[1])

    def _connect(self) -> tuple[socket.socket, wire.Reader, list[Message | wire.Packet]]:
        """A new connection, acknowledged by the server: its socket, its reader, and the packets
        that came with the CONNACK."""
        sock = socket.create_connection((self.broker.host, self.broker.port), timeout=TIMEOUT)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.broker.tls:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.broker.host)
            sock.sendall(wire.connect(self.client_id, keepalive=KEEPALIVE, clean_start=False,
                                      session_expiry=SESSION_NEVER_EXPIRES, receive_maximum=RECEIVE_MAXIMUM,
                                      username=self.broker.username, password=self.broker.password))
            reader = wire.Reader(self._connection + 1)
            packets: list[Message | wire.Packet] = []
            while not packets:
                data = sock.recv(READ_SIZE)
                if not data:
                    raise ConnectionError("connexion fermée avant CONNACK")
                packets = reader.feed(data)
            connack = packets.pop(0)
            if type(connack) is not wire.Packet or connack.kind != wire.CONNACK:
                raise wire.ProtocolError("le serveur n'a pas répondu CONNACK")
            session_present, reason = wire.connack(connack.body)
            if reason >= 0x80:
                raise Refused(f"code 0x{reason:02x}")
        except BaseException:
            sock.close()
            raise
        log.info("connecté à %s:%s (session %s)", self.broker.host, self.broker.port,
                 "reprise" if session_present else "nouvelle")
        with self._outgoing_lock:
            self._connection = reader.connection
            self._outgoing.clear()
        if self.topics:
            self._send(wire.subscribe(next(self._packet_ids), self.topics, qos=1), reader.connection)
        else:  # a session resumed only to be emptied (``unsubscribe``, ``stop(end_session=True)``)
            self.ready.set()
        return sock, reader, packets

    def _serve(self, sock: socket.socket, reader: wire.Reader, first: list[Message | wire.Packet]) -> None:
        """Receive and send on ``sock`` until it fails or the caller stops."""
        self._handle(first)
        poller = select.poll()  # not select(): a process with many tenant files open has descriptors above 1024
        poller.register(sock, select.POLLIN)
        poller.register(self._wake_read, select.POLLIN)
        received = pinged = time.monotonic()
        while True:
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
            ready = {sock.fileno()} if pending else {fd for fd, _ in poller.poll(KEEPALIVE / 2 * 1000)}
            if self._wake_read in ready:
                os.read(self._wake_read, 4096)
            self._flush(sock)
            if self._stopping.is_set():
                sock.sendall(wire.disconnect(0 if self._end_session else None))
                _wait_for_close(sock)
                return
            now = time.monotonic()
            if sock.fileno() in ready:
                data = sock.recv(READ_SIZE)
                if not data:
                    raise ConnectionError("connexion fermée par le serveur")
                received = now
                self._handle(reader.feed(data))
            elif now - received > 1.5 * KEEPALIVE:
                raise TimeoutError(f"aucune réponse du serveur depuis {now - received:.0f} s")
            if now - pinged >= KEEPALIVE / 2:
                sock.sendall(wire.PINGREQ_PACKET)
                pinged = now

    def _flush(self, sock: socket.socket) -> None:
        """Send what the caller asked for since the last time."""
        with self._outgoing_lock:
            outgoing, self._outgoing = self._outgoing, []
        if outgoing:
            sock.sendall(b"".join(outgoing))

    def _handle(self, packets: list[Message | wire.Packet]) -> None:
        put = self._messages.put
        for packet in packets:
            if type(packet) is Message:
                if packet.qos == 2:
                    raise wire.ProtocolError("PUBLISH de QoS 2 sur un abonnement de QoS 1")
                put(packet)
            elif packet.kind == wire.SUBACK:
                self._subscribed(wire.acknowledged(packet.body)[1])
            elif packet.kind == wire.DISCONNECT:
                raise ConnectionError(f"déconnecté par le serveur (code 0x{wire.disconnect_reason(packet.body):02x})")
            elif packet.kind not in (wire.UNSUBACK, wire.PINGRESP):
                raise wire.ProtocolError(f"paquet MQTT inattendu de type {packet.kind}")

    def _subscribed(self, reasons: list[int]) -> None:
        refused = [f"0x{reason:02x}" for reason in reasons if reason >= 0x80]
        if refused:
            log.error("abonnement MQTT refusé (%s) pour %s", ", ".join(refused), ", ".join(self.topics))
        else:
            self.ready.set()


def _wait_for_close(sock: socket.socket) -> None:
    """Wait until the server closes the connection after a DISCONNECT, a few seconds at most: it
    has then handled all that came before, and a new connection of the same client id cannot
    overtake the acknowledgements."""
    sock.settimeout(CLOSING_TIMEOUT)
    try:
        while sock.recv(READ_SIZE):  # what still comes was not acknowledged: sent again later
            pass
    except OSError:
        pass

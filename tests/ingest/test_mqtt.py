"""The bridge's MQTT client against a real Mosquitto, and against a server that misbehaves."""

from __future__ import annotations

import datetime
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from territoires.ingest.mqtt import Message, Subscriber
from tests.descriptors import many_open_files
from tests.ingest.bridging import publish
from tests.mosquitto import TLS, require_mosquitto, running_mosquitto

FILTER = "application/1/device/+/event/up"


def _uplinks(payloads: list[str]) -> list[tuple[str, bytes]]:
    return [(f"application/1/device/{n}/event/up", payload.encode()) for n, payload in enumerate(payloads)]


def _take(subscriber: Subscriber, count: int, timeout: float = 15) -> list[Message]:
    taken: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(taken) < count and time.monotonic() < deadline:
        taken += subscriber.take(count - len(taken), 0.05, timeout=0.2)
    return taken


def _payloads(messages: list[Message]) -> list[str]:
    return sorted(message.payload.decode() for message in messages)


@contextmanager
def _subscribed(url: str, client_id: str = "bridge") -> Iterator[Subscriber]:
    subscriber = Subscriber(url, client_id, [FILTER])
    subscriber.start()
    try:
        assert subscriber.ready.wait(10)
        yield subscriber
    finally:
        subscriber.stop()


def test_what_was_not_acknowledged_comes_again_in_the_next_session_and_nothing_else(mosquitto):
    Subscriber(mosquitto.url, "bridge", [FILTER]).open_session()
    publish(mosquitto.port, _uplinks([f"m{n}" for n in range(10)]))
    with _subscribed(mosquitto.url) as first:
        taken = _take(first, 10)
        assert _payloads(taken) == [f"m{n}" for n in range(10)]
        first.ack([m for m in taken if m.payload.decode() in {"m0", "m1", "m2", "m3"}])
    with _subscribed(mosquitto.url) as second:
        again = _take(second, 6)
        assert _payloads(again) == [f"m{n}" for n in range(4, 10)]
        second.ack(again)
    with _subscribed(mosquitto.url) as third:
        assert third.take(10, 0.05, timeout=0.5) == []


def test_after_the_mqtt_broker_restarts_the_session_resumes_with_what_was_held(mosquitto):
    Subscriber(mosquitto.url, "bridge", [FILTER]).open_session()
    publish(mosquitto.port, _uplinks(["a", "b", "c"]))
    with _subscribed(mosquitto.url) as subscriber:
        held = _take(subscriber, 3)
        mosquitto.stop()  # gracefully: Mosquitto saves the session and its unacknowledged messages
        mosquitto.start()
        again = _take(subscriber, 3)
        assert _payloads(again) == ["a", "b", "c"]
        assert {m.connection for m in again} != {m.connection for m in held}
        subscriber.ack(again)
    with _subscribed(mosquitto.url) as next_session:
        assert next_session.take(10, 0.05, timeout=0.5) == []


def test_a_retained_message_is_not_replayed_to_a_new_subscription(mosquitto):
    # Uplinks are events: a retained one is a stale copy that each reconnection would replay.
    publish(mosquitto.port, _uplinks(["stale"]), retain=True)
    try:
        with _subscribed(mosquitto.url, "fresh-bridge") as subscriber:
            publish(mosquitto.port, _uplinks(["live"]))
            assert _payloads(_take(subscriber, 1)) == ["live"]
            assert subscriber.take(10, 0.05, timeout=0.5) == []
    finally:
        publish(mosquitto.port, _uplinks([""]), retain=True)  # an empty retained message clears it


def test_acknowledging_what_an_earlier_connection_received_acknowledges_nothing_of_a_new_session(mosquitto):
    """Killed, Mosquitto forgets the session; its new one numbers messages from 1 again, and
    acknowledging the old messages' numbers would drop new messages unread."""
    Subscriber(mosquitto.url, "bridge", [FILTER]).open_session()
    publish(mosquitto.port, _uplinks(["old1", "old2", "old3", "old4", "old5"]))
    with _subscribed(mosquitto.url) as subscriber:
        old = _take(subscriber, 5)
        mosquitto.stop(kill=True)
        mosquitto.start()
        probes = _probe_until_received(mosquitto, subscriber)
        subscriber.ack(probes)
        publish(mosquitto.port, _uplinks(["new1", "new2", "new3"]))
        subscriber.ack(old)
        assert _payloads(_take(subscriber, 3)) == ["new1", "new2", "new3"]  # and left unacknowledged
    with _subscribed(mosquitto.url) as next_session:
        assert _payloads(_take(next_session, 3)) == ["new1", "new2", "new3"]


def _probe_until_received(mosquitto, subscriber: Subscriber) -> list[Message]:
    """Publish until the subscriber, subscribed again, receives: what it received."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        publish(mosquitto.port, [("application/1/device/probe/event/up", b"probe")], client_id="prober")
        received = subscriber.take(10, 0.05, timeout=0.3)
        if received:
            return received
    raise AssertionError("the subscriber did not subscribe again after Mosquitto restarted")


class _Misbehaving:
    """A TCP server on loopback answering every connection with ``answer``, then closing it."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.connects: list[bytes] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"mqtt://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return
            with connection:
                self.connects.append(connection.recv(4096))
                connection.sendall(self.answer)
                time.sleep(0.2)

    def close(self) -> None:
        self._server.close()


def _connects_again(answer: bytes) -> _Misbehaving:
    server = _Misbehaving(answer)
    subscriber = Subscriber(server.url, "bridge", [FILTER])
    subscriber.start()
    try:
        deadline = time.monotonic() + 15
        while len(server.connects) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not subscriber.ready.is_set()
    finally:
        subscriber.stop()
        server.close()
    assert len(server.connects) >= 2, "the subscriber did not connect again"
    assert server.connects[0][0] == 0x10 and b"bridge" in server.connects[0]  # a CONNECT with its client id
    return server


def test_a_refused_connection_is_logged_and_tried_again(caplog):
    with caplog.at_level(logging.ERROR, logger="territoires.ingest"):
        _connects_again(b"\x20\x03\x00\x87\x00")  # CONNACK: not authorized
    assert "connexion MQTT refusée" in caplog.text and "0x87" in caplog.text


def test_garbage_from_the_server_is_logged_and_the_connection_made_again(caplog):
    with caplog.at_level(logging.WARNING, logger="territoires.ingest"):
        _connects_again(b"\x20\x03\x00\x00\x00" + b"\x30\xff\xff\xff\xff\x01")  # CONNACK, then a 5-byte length
    assert "nouvelle tentative" in caplog.text


def test_a_server_that_answers_no_connack_is_tried_again():
    _connects_again(b"\xd0\x00")  # PINGRESP


def test_mqtts_connects_in_tls_and_checks_the_servers_certificate(tmp_path, monkeypatch, caplog):
    require_mosquitto()
    authority = tmp_path / "ca.pem"
    tls = _certificates(authority)
    with running_mosquitto(tls) as mosquitto:
        assert mosquitto.url.startswith("mqtts://")
        untrusted = Subscriber(mosquitto.url, "bridge", [FILTER])
        with caplog.at_level(logging.WARNING, logger="territoires.ingest"):
            untrusted.start()
            try:
                assert not untrusted.ready.wait(1.5), "connected to a server whose certificate nobody vouches for"
            finally:
                untrusted.stop()
        assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
        monkeypatch.setenv("SSL_CERT_FILE", str(authority))  # OpenSSL's trust store, as an operator sets it
        Subscriber(mosquitto.url, "bridge", [FILTER]).open_session()
        publish(mosquitto.port, _uplinks(["secret"]), authority=authority)
        with _subscribed(mosquitto.url) as subscriber:
            taken = _take(subscriber, 1)
            assert _payloads(taken) == ["secret"]
            subscriber.ack(taken)


def _certificates(authority_file: Path) -> TLS:
    """A certificate authority of this test's own, written to ``authority_file``, and the
    certificate it signs for a server at 127.0.0.1."""
    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key, issuer: str, issuer_key, *, authority: bool) -> x509.Certificate:
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=authority, path_length=None), critical=True))
        if not authority:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    authority_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    authority = certificate("Territoires test CA", authority_key, "Territoires test CA", authority_key, authority=True)
    server = certificate("127.0.0.1", server_key, "Territoires test CA", authority_key, authority=False)
    authority_file.write_bytes(authority.public_bytes(serialization.Encoding.PEM))
    return TLS(server.public_bytes(serialization.Encoding.PEM),
               server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))



def test_a_process_with_many_files_open_still_receives(mosquitto):
    """A bridge writing for hundreds of tenants holds their files open: its socket's descriptor
    may be above 1024, which ``select()`` cannot watch."""
    Subscriber(mosquitto.url, "bridge", [FILTER]).open_session()
    publish(mosquitto.port, _uplinks(["after 1024"]))
    with many_open_files(), _subscribed(mosquitto.url) as subscriber:
        taken = _take(subscriber, 1)
        assert _payloads(taken) == ["after 1024"]
        subscriber.ack(taken)

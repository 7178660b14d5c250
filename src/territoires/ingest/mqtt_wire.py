"""MQTT 5.0 packets (OASIS standard, 2019) as a QoS 1 subscriber exchanges them. No I/O.

Encoded: what such a client sends (CONNECT, SUBSCRIBE, UNSUBSCRIBE, PUBACK, PINGREQ,
DISCONNECT). Decoded: what a server sends it (CONNACK, PUBLISH, SUBACK, UNSUBACK, PINGRESP,
DISCONNECT), by ``Reader`` from the bytes as they arrive. The client never sets a Topic Alias
Maximum, so a server sends no topic alias (§3.1.2.11.5) and every PUBLISH names its topic.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import NamedTuple

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK = 8, 9, 10, 11
PINGREQ, PINGRESP, DISCONNECT = 12, 13, 14

# Property identifiers (§2.2.2.2).
SESSION_EXPIRY_INTERVAL = 0x11
RECEIVE_MAXIMUM = 0x21

PINGREQ_PACKET = b"\xc0\x00"
_PUBACK = struct.Struct(">BBH")  # PUBACK with reason Success and no properties: 2 bytes of remaining length


class ProtocolError(Exception):
    """What the server sent is not MQTT 5.0 as this client expects it."""


class Message(NamedTuple):
    """A PUBLISH received on the ``connection``-th connection of its client."""

    topic: str
    payload: bytes
    mid: int  # the packet identifier, 0 at QoS 0
    qos: int
    connection: int


class Packet(NamedTuple):
    """Any other packet: its type and what follows its fixed header."""

    kind: int
    body: bytes


# ---- encoding ---------------------------------------------------------------------------------
def variable_integer(value: int) -> bytes:
    """The Variable Byte Integer of ``value`` (§1.5.5): 7 bits a byte, least significant first."""
    if not 0 <= value < 1 << 28:
        raise ValueError(f"{value} does not fit an MQTT variable byte integer")
    out = bytearray()
    while True:
        value, byte = divmod(value, 128)
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def _string(text: str) -> bytes:
    return _binary(text.encode())


def _binary(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise ValueError("an MQTT string or binary field holds at most 65,535 bytes")
    return len(data).to_bytes(2, "big") + data


def _properties(*pairs: bytes) -> bytes:
    body = b"".join(pairs)
    return variable_integer(len(body)) + body


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + variable_integer(len(body)) + body


def connect(client_id: str, *, keepalive: int, clean_start: bool, session_expiry: int, receive_maximum: int,
            username: str | None = None, password: str | None = None) -> bytes:
    flags = (0x80 if username is not None else 0) | (0x40 if password is not None else 0) | (0x02 if clean_start else 0)
    header = _string("MQTT") + bytes([5, flags]) + keepalive.to_bytes(2, "big")
    properties = _properties(bytes([SESSION_EXPIRY_INTERVAL]) + session_expiry.to_bytes(4, "big"),
                             bytes([RECEIVE_MAXIMUM]) + receive_maximum.to_bytes(2, "big"))
    payload = _string(client_id)
    if username is not None:
        payload += _string(username)
    if password is not None:
        payload += _binary(password.encode())
    return _packet(CONNECT, 0, header + properties + payload)


# Subscription options (MQTT 5, 3.8.3.1): Retain Handling 2, no retained message at subscribe.
# Uplinks are events: a retained one is a stale copy, which every reconnection would replay.
_NO_RETAINED = 2 << 4


def subscribe(packet_id: int, topics: Sequence[str], qos: int) -> bytes:
    filters = b"".join(_string(topic) + bytes([qos | _NO_RETAINED]) for topic in topics)
    return _packet(SUBSCRIBE, 0b0010, packet_id.to_bytes(2, "big") + _properties() + filters)


def unsubscribe(packet_id: int, topics: Sequence[str]) -> bytes:
    filters = b"".join(_string(topic) for topic in topics)
    return _packet(UNSUBSCRIBE, 0b0010, packet_id.to_bytes(2, "big") + _properties() + filters)


def pubacks(packet_ids: Iterable[int]) -> bytes:
    """One PUBACK (reason Success) per packet identifier, back to back."""
    pack = _PUBACK.pack
    return b"".join([pack(PUBACK << 4, 2, packet_id) for packet_id in packet_ids])


def disconnect(session_expiry: int | None = None) -> bytes:
    """DISCONNECT with reason Normal; with ``session_expiry``, the session's new expiry (0: now)."""
    if session_expiry is None:
        return _packet(DISCONNECT, 0, b"")
    return _packet(DISCONNECT, 0, b"\x00" + _properties(bytes([SESSION_EXPIRY_INTERVAL]) + session_expiry.to_bytes(4, "big")))


# ---- decoding ---------------------------------------------------------------------------------
class Reader:
    """Turns the bytes received on one connection into packets, whatever their cuts."""

    def __init__(self, connection: int) -> None:
        self.connection = connection
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message | Packet]:
        """The packets ``data`` completes; an incomplete one waits for the next bytes."""
        buffer = self._buffer
        buffer += data
        packets: list[Message | Packet] = []
        start, size = 0, len(buffer)
        while size - start >= 2:
            length, body = _variable_integer(buffer, start + 1, size)
            if body < 0 or body + length > size:
                break
            end = body + length
            kind = buffer[start] >> 4
            if kind == PUBLISH:
                packets.append(self._publish(buffer[start] & 0x0F, buffer, body, end))
            else:
                packets.append(Packet(kind, bytes(buffer[body:end])))
            start = end
        del buffer[:start]
        return packets

    def _publish(self, flags: int, buffer: bytearray, at: int, end: int) -> Message:
        qos = flags >> 1 & 0b11
        if end - at < 2 or qos == 3:
            raise ProtocolError("malformed PUBLISH")
        topic_end = at + 2 + (buffer[at] << 8 | buffer[at + 1])
        if topic_end + (2 if qos else 0) >= end:  # a property length follows at least
            raise ProtocolError("malformed PUBLISH")
        try:
            topic = buffer[at + 2:topic_end].decode()
        except UnicodeDecodeError as error:
            raise ProtocolError(f"PUBLISH topic is not UTF-8: {error}") from None
        at = topic_end
        mid = 0
        if qos:
            mid = buffer[at] << 8 | buffer[at + 1]
            at += 2
        properties, at = _variable_integer(buffer, at, end)
        payload_start = at + properties
        if at < 0 or payload_start > end or not topic:
            raise ProtocolError("malformed PUBLISH")
        return Message(topic, bytes(buffer[payload_start:end]), mid, qos, self.connection)


def _variable_integer(buffer: bytes | bytearray, at: int, end: int) -> tuple[int, int]:
    """The Variable Byte Integer at ``at`` and where what follows it starts; (0, -1) when its
    bytes have not all arrived."""
    value, shift = 0, 0
    while at < end:
        byte = buffer[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7
        if shift > 21:
            raise ProtocolError("variable byte integer longer than 4 bytes")
    return 0, -1


def connack(body: bytes) -> tuple[bool, int]:
    """(session present, reason code) of a CONNACK."""
    if len(body) < 2:
        raise ProtocolError("malformed CONNACK")
    return bool(body[0] & 1), body[1]


def acknowledged(body: bytes) -> tuple[int, list[int]]:
    """(packet identifier, reason codes) of a SUBACK or UNSUBACK."""
    if len(body) < 3:
        raise ProtocolError("malformed SUBACK or UNSUBACK")
    properties, at = _variable_integer(body, 2, len(body))
    if at < 0:
        raise ProtocolError("malformed SUBACK or UNSUBACK")
    return int.from_bytes(body[:2], "big"), list(body[at + properties:])


def disconnect_reason(body: bytes) -> int:
    """The reason code of a server's DISCONNECT (none: 0, Normal disconnection)."""
    return body[0] if body else 0

"""MQTT 5.0 packets, byte for byte as the OASIS standard lays them out."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from territoires.ingest import mqtt_wire as wire


@pytest.mark.parametrize(("value", "encoded"), [
    (0, b"\x00"), (127, b"\x7f"), (128, b"\x80\x01"), (16_383, b"\xff\x7f"), (16_384, b"\x80\x80\x01"),
    (2_097_151, b"\xff\xff\x7f"), (2_097_152, b"\x80\x80\x80\x01"), (268_435_455, b"\xff\xff\xff\x7f"),
])
def test_variable_byte_integers_are_the_standards_table(value, encoded):  # §1.5.5, table 1-1
    assert wire.variable_integer(value) == encoded


def test_a_variable_byte_integer_holds_at_most_28_bits():
    with pytest.raises(ValueError):
        wire.variable_integer(1 << 28)


def test_connect_carries_a_persistent_session_its_receive_maximum_and_credentials():
    packet = wire.connect("pont", keepalive=30, clean_start=False, session_expiry=0xFFFFFFFF,
                          receive_maximum=65535, username="u", password="p")
    assert packet == bytes([
        0x10, 31,                                  # CONNECT, remaining length
        0, 4, *b"MQTT", 5,                         # protocol name and version
        0b1100_0000,                               # user name and password, clean start off
        0, 30,                                     # keep alive
        8, 0x11, 0xFF, 0xFF, 0xFF, 0xFF,           # properties: session expiry interval "never",
        0x21, 0xFF, 0xFF,                          # receive maximum
        0, 4, *b"pont", 0, 1, *b"u", 0, 1, *b"p",  # client id, user name, password
    ])


def test_clean_start_without_credentials_sets_only_its_flag():
    packet = wire.connect("x", keepalive=10, clean_start=True, session_expiry=0, receive_maximum=10)
    assert packet[9] == 0b0000_0010


def test_subscribe_and_unsubscribe_name_their_packet_id_and_filters():
    # Options: QoS 1, Retain Handling 2 (no retained message at subscribe), §3.8.3.1.
    assert wire.subscribe(7, ["a/+", "b/#"], qos=1) == bytes([
        0x82, 15, 0, 7, 0, 0, 3, *b"a/+", 0x21, 0, 3, *b"b/#", 0x21])
    assert wire.unsubscribe(8, ["a/+"]) == bytes([0xA2, 8, 0, 8, 0, 0, 3, *b"a/+"])


def test_pubacks_are_written_back_to_back_with_the_short_form():
    assert wire.pubacks([1, 0x1234]) == b"\x40\x02\x00\x01\x40\x02\x12\x34"
    assert wire.pubacks([]) == b""


def test_disconnect_may_end_the_session_now():
    assert wire.disconnect() == b"\xe0\x00"
    assert wire.disconnect(0) == b"\xe0\x07\x00\x05\x11\x00\x00\x00\x00"


def _publish(topic: str, payload: bytes, *, qos: int = 1, mid: int = 1, properties: bytes = b"") -> bytes:
    body = len(topic.encode()).to_bytes(2, "big") + topic.encode()
    if qos:
        body += mid.to_bytes(2, "big")
    body += wire.variable_integer(len(properties)) + properties + payload
    return bytes([0x30 | qos << 1]) + wire.variable_integer(len(body)) + body


def test_a_publish_gives_its_topic_payload_packet_id_and_connection():
    reader = wire.Reader(connection=3)
    assert reader.feed(_publish("app/1/up", b'{"a":1}', mid=513)) == [
        wire.Message("app/1/up", b'{"a":1}', 513, 1, 3)]


def test_a_publish_at_qos_0_has_no_packet_id_and_properties_are_not_payload():
    properties = bytes([0x01, 1, 0x02, 0, 0, 0, 60])  # payload format indicator, message expiry
    [message] = wire.Reader(1).feed(_publish("t", b"xyz", qos=0, properties=properties))
    assert (message.mid, message.qos, message.payload) == (0, 0, b"xyz")


@given(st.lists(st.tuples(st.text(min_size=1, max_size=40).filter(lambda t: "\0" not in t), st.binary(max_size=300),
                          st.integers(1, 0xFFFF)), min_size=1, max_size=6),
       st.lists(st.integers(0, 2000), max_size=8))
def test_packets_come_out_the_same_however_the_bytes_are_cut(messages, cuts):
    stream = b"".join(_publish(topic, payload, mid=mid) for topic, payload, mid in messages) + b"\xd0\x00"
    reader, out = wire.Reader(1), []
    edges = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    for start, end in pairwise(edges):
        out += reader.feed(stream[start:end])
    assert out == [wire.Message(t, p, m, 1, 1) for t, p, m in messages] + [wire.Packet(wire.PINGRESP, b"")]


def test_a_big_payload_waits_for_all_its_bytes():
    packet = _publish("t", b"x" * 200_000)
    reader = wire.Reader(1)
    assert reader.feed(packet[:100_000]) == []
    [message] = reader.feed(packet[100_000:])
    assert len(message.payload) == 200_000


@pytest.mark.parametrize("stream", [
    b"\x30\xff\xff\xff\xff\x01",            # remaining length on 5 bytes
    b"\x36\x05\x00\x01t\x00\x01",           # QoS 3
    b"\x32\x06\x00\x02\xff\xfe\x00\x01",    # topic not UTF-8
    b"\x32\x04\x00\x09ab",                  # topic longer than the packet
    b"\x30\x03\x00\x00\x00",                # empty topic without alias
])
def test_malformed_packets_are_protocol_errors(stream):
    with pytest.raises(wire.ProtocolError):
        wire.Reader(1).feed(stream)


def test_connack_suback_and_disconnect_bodies():
    assert wire.connack(b"\x01\x00\x00") == (True, 0)
    assert wire.connack(b"\x00\x87\x00") == (False, 0x87)
    assert wire.acknowledged(b"\x00\x07\x00\x01\x80") == (7, [1, 0x80])
    assert wire.disconnect_reason(b"\x8b\x00") == 0x8B
    assert wire.disconnect_reason(b"") == 0
    for malformed in (b"", b"\x00"):
        with pytest.raises(wire.ProtocolError):
            wire.connack(malformed)
    with pytest.raises(wire.ProtocolError):
        wire.acknowledged(b"\x00")

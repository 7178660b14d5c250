"""ChirpStack v4 and TTS v3 uplink JSON: parsed into one form, every malformed case refused
with its reason, and what the simulator writes read back unchanged."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from territoires.ingest.uplinks import Uplink, UplinkError, chirpstack_uplink, parse_uplink, tts_uplink

CHIRPSTACK_TOPIC = "application/3d8a6f2c-9a41-4b7e-8f0e-2a1b3c4d5e6f/device/0018b20000000b20/event/up"
TTS_TOPIC = "v3/eclairage-rennes@ttn/devices/lampadaire-42/up"


def chirpstack_body(**changes) -> dict:
    """An "up" event shaped as ChirpStack v4's MQTT integration writes it (JSON marshaler)."""
    body = {
        "deduplicationId": "b9cb1a6e-5c65-4e5b-9a6a-2f1c3e4d5a6b",
        "time": "2026-03-14T17:42:05.123456789+00:00",
        "deviceInfo": {
            "tenantId": "52f14cd4-c6f1-4fbd-8f87-4025e1d49242",
            "tenantName": "Rennes Métropole",
            "applicationId": "3d8a6f2c-9a41-4b7e-8f0e-2a1b3c4d5e6f",
            "applicationName": "eclairage",
            "deviceProfileId": "f1e2d3c4-b5a6-4789-9abc-def012345678",
            "deviceProfileName": "controleur-lampadaire",
            "deviceName": "lampadaire-42",
            "devEui": "0018b20000000b20",
            "deviceClassEnabled": "CLASS_A",
            "tags": {},
        },
        "devAddr": "00189440",
        "adr": True,
        "dr": 5,
        "fCnt": 4097,
        "fPort": 10,
        "confirmed": False,
        "data": base64.b64encode(bytes.fromhex("0164 03E8 0001E240")).decode(),
        "rxInfo": [{"gatewayId": "0016c001f153a14c", "uplinkId": 4217, "rssi": -104, "snr": 3.5,
                    "context": "xwx0GQ==", "crcStatus": "CRC_OK"}],
        "txInfo": {"frequency": 868100000,
                   "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}}},
    }
    body.update(changes)
    return body


def tts_body(**changes) -> dict:
    """An uplink message shaped as The Things Stack v3 publishes it on its MQTT server."""
    up = {
        "session_key_id": "AXBSH1Pk6Z0G166RlH16CQ==",
        "f_port": 20,
        "f_cnt": 1834,
        "frm_payload": base64.b64encode(bytes.fromhex("0001E240001E006401")).decode(),
        "rx_metadata": [{"gateway_ids": {"gateway_id": "gw-mairie"}, "rssi": -68, "snr": 9.2}],
        "settings": {"data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 7}},
                     "frequency": "868100000"},
        "received_at": "2026-03-14T18:42:05.412345678+01:00",
        "consumed_airtime": "0.061696s",
    }
    body = {
        "end_device_ids": {"device_id": "compteur-eau-7", "application_ids": {"application_id": "eau-potable"},
                           "dev_eui": "70B3D57ED005B89A", "join_eui": "0000000000000001", "dev_addr": "260BABCD"},
        "correlation_ids": ["as:up:01HX6YGQ7E0V83YRZ7K4S5J4ZN"],
        "received_at": "2026-03-14T17:42:05.500000Z",
        "uplink_message": up,
    }
    for key, value in changes.items():
        if key.startswith("up_"):
            if value is None:
                up.pop(key[3:])
            else:
                up[key[3:]] = value
        else:
            body[key] = value
    return body


def parse(topic: str, body: dict) -> Uplink:
    return parse_uplink(topic, orjson.dumps(body))


def test_chirpstack_v4_uplink() -> None:
    uplink = parse(CHIRPSTACK_TOPIC, chirpstack_body())
    assert uplink == Uplink(
        network="chirpstack", dev_eui="0018B20000000B20", f_cnt=4097, f_port=10,
        received_at="2026-03-14T17:42:05.123456Z", payload=bytes.fromhex("016403E80001E240"),
        device_name="lampadaire-42", application="eclairage", simulated=False)


def test_tts_v3_uplink_uses_the_network_server_time() -> None:
    uplink = parse(TTS_TOPIC, tts_body())
    assert uplink == Uplink(
        network="tts", dev_eui="70B3D57ED005B89A", f_cnt=1834, f_port=20,
        received_at="2026-03-14T17:42:05.412345Z", payload=bytes.fromhex("0001E240001E006401"),
        device_name="compteur-eau-7", application="eau-potable", simulated=False)


def test_tts_falls_back_on_the_application_server_time() -> None:
    assert parse(TTS_TOPIC, tts_body(up_received_at=None)).received_at == "2026-03-14T17:42:05.500000Z"


def test_zero_and_empty_fields_left_out_by_the_protobuf_json_mapping() -> None:
    uplink = parse(TTS_TOPIC, tts_body(up_f_cnt=None, up_frm_payload=None))
    assert (uplink.f_cnt, uplink.payload) == (0, b"")
    body = chirpstack_body()
    del body["fCnt"], body["data"]
    uplink = parse(CHIRPSTACK_TOPIC, body)
    assert (uplink.f_cnt, uplink.payload) == (0, b"")


def test_counters_written_as_decimal_strings_are_read() -> None:
    assert parse(CHIRPSTACK_TOPIC, chirpstack_body(fCnt="4097", fPort="10")).f_cnt == 4097


def test_format_recognised_by_the_body_on_other_topics() -> None:
    assert parse("lorawan/uplinks", chirpstack_body()).network == "chirpstack"
    assert parse("lorawan/uplinks", tts_body()).network == "tts"


def test_simulated_labels_are_read() -> None:
    info = chirpstack_body()["deviceInfo"] | {"tags": {"simulated": "true"}}
    assert parse(CHIRPSTACK_TOPIC, chirpstack_body(deviceInfo=info)).simulated
    assert parse(TTS_TOPIC, tts_body(simulated=True)).simulated


def _without_device_eui() -> dict:
    body = chirpstack_body()
    del body["deviceInfo"]["devEui"]
    return body


def _tts_without_dev_eui() -> dict:
    body = tts_body()
    del body["end_device_ids"]["dev_eui"]
    return body


def _in_two_hours() -> str:
    return (datetime.now(UTC) + timedelta(hours=2)).isoformat()


MALFORMED = [
    ("not json", CHIRPSTACK_TOPIC, b"{\"deviceInfo\": ", "not JSON"),
    ("array", CHIRPSTACK_TOPIC, b"[1, 2]", "a JSON object was expected, not an array"),
    ("join event", CHIRPSTACK_TOPIC.replace("/event/up", "/event/join"), chirpstack_body(), "'join' is not an uplink"),
    ("tts join", TTS_TOPIC.replace("/up", "/join"), tts_body(), "'join' is not an uplink"),
    ("no deviceInfo", CHIRPSTACK_TOPIC, {"devEUI": "AgICAgICAgI=", "fCnt": 1}, "ChirpStack v3 JSON"),
    ("no devEui", CHIRPSTACK_TOPIC, _without_device_eui(), "deviceInfo.devEui is missing"),
    ("short devEui", CHIRPSTACK_TOPIC, chirpstack_body(deviceInfo={"devEui": "0018b2"}),
     'deviceInfo.devEui: 16 hexadecimal digits were expected, not "0018b2"'),
    ("devEui of another device", CHIRPSTACK_TOPIC,
     chirpstack_body(deviceInfo={"devEui": "0018b20000000b21"}), "differs from the DevEUI of the topic"),
    ("negative fCnt", CHIRPSTACK_TOPIC, chirpstack_body(fCnt=-1), "fCnt: -1 is outside the 32-bit"),
    ("huge fCnt", CHIRPSTACK_TOPIC, chirpstack_body(fCnt=2**32), "fCnt: 4294967296 is outside"),
    ("fractional fCnt", CHIRPSTACK_TOPIC, chirpstack_body(fCnt=1.5), "fCnt: an integer was expected, not 1.5"),
    ("boolean fCnt", CHIRPSTACK_TOPIC, chirpstack_body(fCnt=True), "fCnt: an integer was expected, not true"),
    ("no fPort", CHIRPSTACK_TOPIC, {k: v for k, v in chirpstack_body().items() if k != "fPort"},
     "fPort is missing: a frame on port 0 carries only MAC commands"),
    ("port 0", CHIRPSTACK_TOPIC, chirpstack_body(fPort=0), "fPort: 0 is not an application port"),
    ("port 256", CHIRPSTACK_TOPIC, chirpstack_body(fPort=256), "fPort: 256 is not an application port"),
    ("bad base64", CHIRPSTACK_TOPIC, chirpstack_body(data="AQID*A=="), "data is not valid base64"),
    ("hex instead of base64", CHIRPSTACK_TOPIC, chirpstack_body(data="01640"), "data is not valid base64"),
    ("data not a string", CHIRPSTACK_TOPIC, chirpstack_body(data=[1, 100]),
     "data: a base64 string was expected, not an array"),
    ("no time", CHIRPSTACK_TOPIC, {k: v for k, v in chirpstack_body().items() if k != "time"},
     "time is missing"),
    ("time without zone", CHIRPSTACK_TOPIC, chirpstack_body(time="2026-03-14T17:42:05"),
     "time: an RFC 3339 time with a zone"),
    ("impossible date", CHIRPSTACK_TOPIC, chirpstack_body(time="2026-02-30T17:42:05Z"),
     "is not a valid time"),
    ("far future", CHIRPSTACK_TOPIC, chirpstack_body(time="9999-01-01T00:00:00Z"),
     "time: '9999-01-01T00:00:00Z' is more than 60 minutes ahead of this server's clock"),
    ("tts future", TTS_TOPIC, tts_body(up_received_at=_in_two_hours()), "ahead of this server's clock"),
    ("neither format", "lorawan/uplinks", {"payload": "AQID"}, "neither a ChirpStack v4 uplink"),
    ("tts without uplink_message", TTS_TOPIC, {k: v for k, v in tts_body().items() if k != "uplink_message"},
     "uplink_message: an object was expected, not null"),
    ("tts ABP without DevEUI", TTS_TOPIC, _tts_without_dev_eui(), "end_device_ids.dev_eui is missing"),
    ("tts negative f_cnt", TTS_TOPIC, tts_body(up_f_cnt=-3), "uplink_message.f_cnt: -3 is outside"),
    ("tts bad frm_payload", TTS_TOPIC, tts_body(up_frm_payload="%%%"), "uplink_message.frm_payload is not valid"),
    ("tts no f_port", TTS_TOPIC, tts_body(up_f_port=None), "uplink_message.f_port is missing"),
    ("tts no time", TTS_TOPIC, {k: v for k, v in tts_body(up_received_at=None).items() if k != "received_at"},
     "received_at is missing"),
    ("tts ids not an object", TTS_TOPIC, tts_body(end_device_ids="70B3D57ED005B89A"),
     "end_device_ids: an object was expected, not a string"),
]


@pytest.mark.parametrize("topic, body, reason", [case[1:] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_uplinks_are_refused_with_their_reason(topic: str, body, reason: str) -> None:
    with pytest.raises(UplinkError) as refused:
        parse_uplink(topic, body if isinstance(body, bytes) else orjson.dumps(body))
    assert reason in refused.value.reason


# Up to now: a frame dated ahead of the server's clock is refused (test above).
times = st.datetimes(max_value=datetime.now(UTC).replace(tzinfo=None), timezones=st.just(UTC)).map(
    lambda moment: moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z")
written = {
    "dev_eui": st.binary(min_size=8, max_size=8).map(lambda raw: raw.hex().upper()),
    "f_cnt": st.integers(0, 2**32 - 1),
    "f_port": st.integers(1, 255),
    "payload": st.binary(max_size=64),
    "time": times,
    "simulated": st.booleans(),
}


@given(name=st.text(min_size=1, max_size=20), **written)
def test_chirpstack_uplinks_written_are_read_back(dev_eui, f_cnt, f_port, payload, time, simulated, name) -> None:
    topic, body = chirpstack_uplink(dev_eui=dev_eui, f_cnt=f_cnt, f_port=f_port, payload=payload, time=time,
                                    device_name=name, application_id="app-1", application_name="demo",
                                    simulated=simulated)
    assert parse_uplink(topic, body) == Uplink(
        network="chirpstack", dev_eui=dev_eui, f_cnt=f_cnt, f_port=f_port, received_at=time, payload=payload,
        device_name=name, application="demo", simulated=simulated)


@given(device=st.from_regex(r"[a-z0-9-]{1,20}", fullmatch=True), **written)
def test_tts_uplinks_written_are_read_back(dev_eui, f_cnt, f_port, payload, time, simulated, device) -> None:
    topic, body = tts_uplink(dev_eui=dev_eui, f_cnt=f_cnt, f_port=f_port, payload=payload, time=time,
                             device_id=device, application_id="eau", simulated=simulated)
    assert topic == f"v3/eau/devices/{device}/up"
    assert parse_uplink(topic, body) == Uplink(
        network="tts", dev_eui=dev_eui, f_cnt=f_cnt, f_port=f_port, received_at=time, payload=payload,
        device_name=device, application="eau", simulated=simulated)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12)
chirpstack_keys = st.sampled_from(["deviceInfo", "devEui", "fCnt", "fPort", "data", "time", "tags"])
tts_keys = st.sampled_from(["end_device_ids", "dev_eui", "uplink_message", "f_cnt", "f_port", "frm_payload",
                            "received_at", "application_ids", "simulated"])


def _mutated(body: dict, key: str, value) -> dict:
    """``body`` with its first member named ``key`` (at any depth) replaced by ``value``."""
    copy = orjson.loads(orjson.dumps(body))
    stack = [copy]
    while stack:
        node = stack.pop()
        if key in node:
            node[key] = value
            return copy
        stack.extend(child for child in node.values() if isinstance(child, dict))
    return copy


@given(topic=st.sampled_from([CHIRPSTACK_TOPIC, TTS_TOPIC, "x"]), body=st.binary(max_size=200))
def test_random_bytes_never_raise_anything_but_uplink_error(topic: str, body: bytes) -> None:
    try:
        parse_uplink(topic, body)
    except UplinkError:
        pass


@given(key=chirpstack_keys, value=json_values)
def test_damaged_chirpstack_fields_never_raise_anything_but_uplink_error(key: str, value) -> None:
    try:
        parse(CHIRPSTACK_TOPIC, _mutated(chirpstack_body(), key, value))
    except UplinkError:
        pass


@given(key=tts_keys, value=json_values)
def test_damaged_tts_fields_never_raise_anything_but_uplink_error(key: str, value) -> None:
    try:
        parse(TTS_TOPIC, _mutated(tts_body(), key, value))
    except UplinkError:
        pass

"""LoRaWAN uplinks as network servers publish them over MQTT, in one form: ``Uplink``.

Two formats are read (and written, for the simulator):

- ChirpStack v4, MQTT integration, JSON marshaler: topic
  ``application/<application id>/device/<dev eui>/event/up``; body with ``deviceInfo.devEui``
  (hex), ``fCnt``, ``fPort``, ``data`` (base64 FRMPayload) and ``time`` (when the network
  server received the frame), plus radio metadata (``rxInfo``, ``txInfo``) we do not use.
- The Things Stack v3, MQTT server: topic ``v3/<application id>[@<tenant>]/devices/<device id>/up``;
  body with ``end_device_ids.dev_eui``, ``uplink_message.f_cnt``, ``f_port``, ``frm_payload``
  (base64) and ``received_at`` (the Network Server's reception time; the top-level
  ``received_at``, the Application Server's, is the fallback).

Both follow the protobuf JSON mapping, where a zero or empty field may be left out: a missing
frame counter is 0 and a missing payload is empty. A missing port is refused, since port 0
carries only MAC commands and never reaches an application.

Simulated uplinks are labelled as such: TTS has a top-level ``"simulated": true``; for
ChirpStack the simulator sets the device tag ``simulated`` to ``"true"`` (tags are user
defined, and ChirpStack copies them into every event of the device).
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple

import orjson

from territoires import clock

Network = Literal["chirpstack", "tts"]

MAX_F_CNT = 2**32 - 1  # LoRaWAN frame counters are 32-bit

_CHIRPSTACK_TOPIC = re.compile(r"application/([^/]+)/device/([^/]+)/event/([^/]+)\Z")
_TTS_TOPIC = re.compile(r"v3/([^/]+)/devices/([^/]+)/(.+)\Z")
_EUI = re.compile(r"[0-9A-Fa-f]{16}\Z")
_DECIMAL = re.compile(r"-?[0-9]{1,20}\Z")
# RFC 3339 as both servers write it: any number of fraction digits, Z or a numeric offset.
_RFC3339 = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt ]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?([Zz]|[+-][0-9]{2}:[0-9]{2})\Z"
)


# How far ahead of this server's clock an uplink may be dated (clocks drift; frames do not
# come from the future).
MAX_AHEAD_SECONDS = 3600
_MAX_AHEAD = timedelta(seconds=MAX_AHEAD_SECONDS)


class UplinkError(ValueError):
    """A message that is not a usable uplink; ``reason`` says what is wrong and where."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Uplink(NamedTuple):  # a tuple: built for every uplink, several times cheaper than a frozen dataclass
    """One uplink frame, whichever network server delivered it."""

    network: Network
    dev_eui: str        # 16 upper-case hexadecimal digits
    f_cnt: int          # uplink frame counter, 0 … 2**32 - 1
    f_port: int         # 1 … 255
    received_at: str    # network server reception time, UTC ISO 8601, microseconds, "Z"
    payload: bytes      # the decrypted FRMPayload
    device_name: str | None = None   # ChirpStack deviceName / TTS device_id
    application: str | None = None   # ChirpStack applicationName / TTS application_id
    simulated: bool = False          # published by ``territoires simulate``


def parse_uplink(topic: str, body: bytes) -> Uplink:
    """Read one MQTT message of a ChirpStack v4 or TTS v3 integration as an ``Uplink``.

    The topic names the format when it has one of the standard shapes (and then another event
    of the same integration, such as a join, is refused); otherwise the body's shape decides.
    Raises ``UplinkError`` for anything else: not JSON, not an uplink, a missing or malformed
    DevEUI, counter, port, payload or time.
    """
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise UplinkError(f"not JSON: {error}") from None
    if not isinstance(message, dict):
        raise UplinkError(f"a JSON object was expected, not {_kind(message)}")
    if match := _CHIRPSTACK_TOPIC.match(topic):
        if match[3] != "up":
            raise UplinkError(f"ChirpStack event {match[3]!r} is not an uplink (topic {topic})")
        return _chirpstack(message, topic_eui=match[2])
    if match := _TTS_TOPIC.match(topic):
        if match[3] != "up":
            raise UplinkError(f"TTS message {match[3]!r} is not an uplink (topic {topic})")
        return _tts(message)
    if "deviceInfo" in message:
        return _chirpstack(message, topic_eui=None)
    if "end_device_ids" in message:
        return _tts(message)
    raise UplinkError(
        f"neither a ChirpStack v4 uplink (no deviceInfo) nor a TTS v3 uplink (no end_device_ids), topic {topic}"
    )


def _chirpstack(message: dict[str, Any], topic_eui: str | None) -> Uplink:
    info = message.get("deviceInfo")
    if not isinstance(info, dict):
        hint = " (ChirpStack v3 JSON? use the v4 integration)" if "devEUI" in message else ""
        raise UplinkError(f"deviceInfo: an object was expected, not {_kind(info)}{hint}")
    dev_eui = _eui(info.get("devEui"), "deviceInfo.devEui")
    if topic_eui is not None and topic_eui.upper() != dev_eui:
        raise UplinkError(f"deviceInfo.devEui {dev_eui} differs from the DevEUI of the topic ({topic_eui})")
    tags = info.get("tags")
    return Uplink(
        network="chirpstack",
        dev_eui=dev_eui,
        f_cnt=_f_cnt(message.get("fCnt"), "fCnt"),
        f_port=_f_port(message.get("fPort"), "fPort"),
        received_at=_utc(message.get("time"), "time"),
        payload=_base64(message.get("data"), "data"),
        device_name=_text(info.get("deviceName")),
        application=_text(info.get("applicationName")),
        simulated=isinstance(tags, dict) and tags.get("simulated") == "true",
    )


def _tts(message: dict[str, Any]) -> Uplink:
    ids = message.get("end_device_ids")
    if not isinstance(ids, dict):
        raise UplinkError(f"end_device_ids: an object was expected, not {_kind(ids)}")
    if "dev_eui" not in ids:
        raise UplinkError("end_device_ids.dev_eui is missing (an ABP device registered without DevEUI?)")
    dev_eui = _eui(ids["dev_eui"], "end_device_ids.dev_eui")
    up = message.get("uplink_message")
    if not isinstance(up, dict):
        raise UplinkError(f"uplink_message: an object was expected, not {_kind(up)} (a join or downlink event?)")
    when, where = (up["received_at"], "uplink_message.received_at") if "received_at" in up else (
        message.get("received_at"), "received_at")
    application = ids.get("application_ids")
    return Uplink(
        network="tts",
        dev_eui=dev_eui,
        f_cnt=_f_cnt(up.get("f_cnt"), "uplink_message.f_cnt"),
        f_port=_f_port(up.get("f_port"), "uplink_message.f_port"),
        received_at=_utc(when, where),
        payload=_base64(up.get("frm_payload"), "uplink_message.frm_payload"),
        device_name=_text(ids.get("device_id")),
        application=_text(application.get("application_id")) if isinstance(application, dict) else None,
        simulated=message.get("simulated") is True,
    )


def _eui(value: Any, where: str) -> str:
    if value is None:
        raise UplinkError(f"{where} is missing")
    if not isinstance(value, str) or not _EUI.match(value):
        raise UplinkError(f"{where}: 16 hexadecimal digits were expected, not {_show(value)}")
    return value.upper()


def _integer(value: Any, where: str) -> int:
    # The protobuf JSON mapping lets integers be written as numbers or as decimal strings.
    if isinstance(value, str) and _DECIMAL.match(value):
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise UplinkError(f"{where}: an integer was expected, not {_show(value)}")
    return value


def _f_cnt(value: Any, where: str) -> int:
    count = 0 if value is None else _integer(value, where)
    if not 0 <= count <= MAX_F_CNT:
        raise UplinkError(f"{where}: {count} is outside the 32-bit frame counter range 0…{MAX_F_CNT}")
    return count


def _f_port(value: Any, where: str) -> int:
    if value is None:
        raise UplinkError(f"{where} is missing: a frame on port 0 carries only MAC commands, no device data")
    port = _integer(value, where)
    if not 1 <= port <= 255:
        raise UplinkError(f"{where}: {port} is not an application port (1…255)")
    return port


def _base64(value: Any, where: str) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise UplinkError(f"{where}: a base64 string was expected, not {_show(value)}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise UplinkError(f"{where} is not valid base64 ({error})") from None


def _utc(value: Any, where: str) -> str:
    if value is None:
        raise UplinkError(f"{where} is missing: the reception time of the uplink is needed")
    match = _RFC3339.match(value) if isinstance(value, str) else None
    if match is None:
        raise UplinkError(f"{where}: an RFC 3339 time with a zone (Z or ±hh:mm) was expected, not {_show(value)}")
    day, time_of_day, fraction, zone = match.groups()
    # Network servers write nanoseconds; the platform keeps microseconds.
    micro = (fraction or "").ljust(6, "0")[:6]
    given_in_utc = zone in "Zz"
    try:
        instant = datetime.fromisoformat(f"{day}T{time_of_day}.{micro}{'+00:00' if given_in_utc else zone}")
        utc = instant if given_in_utc else instant.astimezone(UTC)
    except (ValueError, OverflowError) as error:
        raise UplinkError(f"{where}: {value!r} is not a valid time ({error})") from None
    # Taken as the entity's latest state, a time far ahead would make every later uplink late.
    if utc > clock.current() + _MAX_AHEAD:
        raise UplinkError(f"{where}: {value!r} is more than {MAX_AHEAD_SECONDS // 60} minutes ahead of this "
                          "server's clock; check the clocks of the gateway and of the network server")
    if given_in_utc:  # already as the platform writes it, once checked
        return f"{day}T{time_of_day}.{micro}Z"
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number")


def _show(value: Any) -> str:
    text = orjson.dumps(value).decode() if value is None or isinstance(value, (str, int, float, bool)) else _kind(value)
    return text if len(text) <= 60 else text[:57] + "…"


# ---- writing uplinks (the simulator, tests) ----

@functools.lru_cache(maxsize=1024)
def name_uuid(name: str) -> str:
    """A UUID that stands for ``name``, the same at every call (as ChirpStack ids are stable)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def _frame_uuid(eui: str, f_cnt: int) -> str:
    # One id per device and frame, cheap enough for the simulator's rates (uuid5 is not).
    return f"{eui[:8]}-{eui[8:12]}-{eui[12:16]}-{f_cnt >> 48 & 0xFFFF:04x}-{f_cnt & 0xFFFFFFFFFFFF:012x}"


def chirpstack_uplink(
    *,
    dev_eui: str,
    f_cnt: int,
    f_port: int,
    payload: bytes,
    time: str,
    device_name: str,
    application_id: str,
    application_name: str,
    simulated: bool = False,
    rssi: int = -97,
    snr: float = 6.5,
) -> tuple[str, bytes]:
    """A ChirpStack v4 "up" event as its MQTT integration publishes it: (topic, JSON body).

    ``application_id`` is ChirpStack's application UUID; ``time`` an ISO 8601 UTC instant.
    """
    eui = dev_eui.lower()  # ChirpStack v4 writes EUIs in lower-case hexadecimal
    body = {
        "deduplicationId": _frame_uuid(eui, f_cnt),
        "time": time,
        "deviceInfo": {
            "tenantId": name_uuid("chirpstack:tenant:territoires"),
            "tenantName": "Territoires",
            "applicationId": application_id,
            "applicationName": application_name,
            "deviceProfileId": name_uuid(f"chirpstack:profile:{application_name}"),
            "deviceProfileName": application_name,
            "deviceName": device_name,
            "devEui": eui,
            "deviceClassEnabled": "CLASS_A",
            "tags": {"simulated": "true"} if simulated else {},
        },
        "devAddr": eui[-8:],
        "adr": True,
        "dr": 5,
        "fCnt": f_cnt,
        "fPort": f_port,
        "confirmed": False,
        "data": base64.b64encode(payload).decode(),
        "rxInfo": [{
            "gatewayId": "0016c001f1500001",
            "uplinkId": f_cnt % 65536,
            "nsTime": time,
            "rssi": rssi,
            "snr": snr,
            "channel": f_cnt % 8,
            "location": {},
            "context": "AAAAAA==",
            "metadata": {"region_config_id": "eu868", "region_common_name": "EU868"},
            "crcStatus": "CRC_OK",
        }],
        "txInfo": {
            "frequency": 868100000 + 200000 * (f_cnt % 3),
            "modulation": {"lora": {"bandwidth": 125000, "spreadingFactor": 7, "codeRate": "CR_4_5"}},
        },
    }
    return f"application/{application_id}/device/{eui}/event/up", orjson.dumps(body)


def tts_uplink(
    *,
    dev_eui: str,
    f_cnt: int,
    f_port: int,
    payload: bytes,
    time: str,
    device_id: str,
    application_id: str,
    simulated: bool = False,
    rssi: int = -97,
    snr: float = 6.5,
) -> tuple[str, bytes]:
    """A TTS v3 uplink message as its MQTT server publishes it: (topic, JSON body).

    As TTS does, zero and empty fields (a first frame counter, an empty payload) are left out.
    """
    eui = dev_eui.upper()
    up: dict[str, Any] = {"session_key_id": base64.b64encode(bytes.fromhex(eui)).decode(), "f_port": f_port}
    if f_cnt:
        up["f_cnt"] = f_cnt
    if payload:
        up["frm_payload"] = base64.b64encode(payload).decode()
    up |= {
        "rx_metadata": [{
            "gateway_ids": {"gateway_id": "territoires-gw-1", "eui": "0016C001F1500001"},
            "time": time, "rssi": rssi, "channel_rssi": rssi, "snr": snr,
        }],
        "settings": {
            "data_rate": {"lora": {"bandwidth": 125000, "spreading_factor": 7, "coding_rate": "4/5"}},
            "frequency": str(868100000 + 200000 * (f_cnt % 3)),
        },
        "received_at": time,
        "consumed_airtime": "0.061696s",
        "network_ids": {"net_id": "000013", "tenant_id": "territoires", "cluster_id": "eu1"},
    }
    body: dict[str, Any] = {
        "end_device_ids": {
            "device_id": device_id,
            "application_ids": {"application_id": application_id},
            "dev_eui": eui,
            "join_eui": "0000000000000000",
            "dev_addr": eui[-8:],
        },
        "correlation_ids": [f"as:up:{_frame_uuid(eui, f_cnt).replace('-', '').upper()}"],
        "received_at": time,
        "uplink_message": up,
    }
    if simulated:
        body["simulated"] = True
    return f"v3/{application_id}/devices/{device_id}/up", orjson.dumps(body)

"""Streetlight controller, one per lamp (decoder ``streetlight``).

Data frame: port 10, 8 bytes, big-endian, sent every reporting period and on each switching.

| byte | field        | encoding                                                                 |
| ---- | ------------ | ------------------------------------------------------------------------ |
| 0    | state        | bits 0–1 power state: 0 off, 1 on, 2 low (dimmed), 3 booting up;        |
|      |              | bit 7 lamp failure (commanded on, the driver sees no load);              |
|      |              | bits 2–6 reserved, ignored                                               |
| 1    | dimming      | uint8, percent of full output, 0…100                                     |
| 2–3  | active power | uint16, 0.1 W                                                            |
| 4–7  | energy index | uint32, Wh since commissioning                                           |

Example: ``01 64 03 E8 00 01 E2 40`` is on, 100 %, 100.0 W, 123.456 kWh, lamp ok.

Smart Data Models ``Streetlight`` (dataModel.Streetlighting): ``powerState`` (on, off, low,
bootingUp), ``illuminanceLevel`` (0…1, C62), ``powerConsumption`` (W, WTT),
``energyConsumed`` (kWh, KWH; a term of the same vocabulary) and ``status`` (``ok`` or
``defectiveLamp``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from territoires.ingest.decoders.base import (
    NGSI_LD_STATUS,
    SDM,
    UNIT_KILOWATT_HOUR,
    UNIT_ONE,
    UNIT_WATT,
    DecodeError,
    Decoder,
    Measure,
    check_frame,
    pack,
)

NAME = "streetlight"
F_PORT = 10
VOCAB = SDM + "dataModel.Streetlighting/"
ENTITY_TYPE = VOCAB + "Streetlight"
POWER_STATES = ("off", "on", "low", "bootingUp")
_FRAME = struct.Struct(">BBHI")
_FAILURE = 0x80


@dataclass(frozen=True)
class StreetlightReading:
    power_state: str        # one of POWER_STATES
    dimming: int            # percent, 0…100
    power_w: float          # 0…6553.5, 0.1 W resolution
    energy_wh: int          # 0…2**32 - 1
    lamp_failure: bool = False


def encode(reading: StreetlightReading) -> bytes:
    state = POWER_STATES.index(reading.power_state) | (_FAILURE if reading.lamp_failure else 0)
    if not 0 <= reading.dimming <= 100:
        raise ValueError(f"{NAME}: dimming {reading.dimming} is outside 0…100")
    return pack(_FRAME, state, reading.dimming, round(reading.power_w * 10), reading.energy_wh, kind=NAME)


def decode(payload: bytes, f_port: int) -> list[Measure]:
    check_frame(payload, f_port, kind=NAME, port=F_PORT, size=_FRAME.size)
    state, dimming, power, energy = _FRAME.unpack(payload)
    if dimming > 100:
        raise DecodeError(f"{NAME}: dimming level {dimming} % is above 100 %")
    return [
        Measure(VOCAB + "powerState", POWER_STATES[state & 0x03]),
        Measure(VOCAB + "illuminanceLevel", dimming / 100, UNIT_ONE),
        Measure(VOCAB + "powerConsumption", power / 10, UNIT_WATT),
        Measure(VOCAB + "energyConsumed", energy / 1000, UNIT_KILOWATT_HOUR),
        Measure(NGSI_LD_STATUS, "defectiveLamp" if state & _FAILURE else "ok"),
    ]


DECODER = Decoder(name=NAME, entity_type=ENTITY_TYPE, f_port=F_PORT, decode=decode)

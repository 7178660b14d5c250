"""Ultrasonic fill-level sensor under the lid of a waste container (decoder ``waste-level``).

Data frame: port 30, 6 bytes, big-endian. The sensor measures the distance down to the waste;
it also sends the distance it measured when the container was empty (set at installation), so
that the fill level needs no per-container setting on the platform.

| byte | field          | encoding                                                          |
| ---- | -------------- | ----------------------------------------------------------------- |
| 0–1  | distance       | uint16, mm from the sensor to the waste surface                   |
| 2–3  | empty distance | uint16, mm from the sensor to the bottom, 1…65535                 |
| 4    | temperature    | int8, °C inside the container                                     |
| 5    | flags          | bit 0 lid open; bit 1 tilted (container knocked over);            |
|      |                | bit 2 fire (sudden temperature rise); bit 3 no echo (the distance |
|      |                | is meaningless); bits 4–7 reserved, ignored                       |

Fill level = 1 − distance / empty distance, kept within 0…1 and rounded to 0.001.
Example: ``02 EE 05 DC 12 00`` is 750 mm of 1500 mm, so half full, 18 °C, status ok.

Smart Data Models ``WasteContainer`` (dataModel.WasteManagement): ``fillingLevel`` (0…1, C62;
left out when there was no echo), ``temperature`` (°C, CEL) and ``status`` (``burning``,
``dropped``, ``lidOpen`` or ``ok``, the most serious first).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from territoires.ingest.decoders.base import (
    NGSI_LD_STATUS,
    SDM,
    UNIT_CELSIUS,
    UNIT_ONE,
    DecodeError,
    Decoder,
    Measure,
    check_frame,
    pack,
)

NAME = "waste-level"
F_PORT = 30
VOCAB = SDM + "dataModel.WasteManagement/"
ENTITY_TYPE = VOCAB + "WasteContainer"
_FRAME = struct.Struct(">HHbB")
_LID_OPEN, _TILTED, _FIRE, _NO_ECHO = 0x01, 0x02, 0x04, 0x08


@dataclass(frozen=True)
class WasteLevelReading:
    distance_mm: int | None     # None: no echo
    empty_distance_mm: int      # 1…65535
    temperature_c: int          # −128…127
    lid_open: bool = False
    tilted: bool = False
    fire: bool = False


def encode(reading: WasteLevelReading) -> bytes:
    if reading.empty_distance_mm < 1:
        raise ValueError(f"{NAME}: the empty distance must be at least 1 mm")
    flags = ((_LID_OPEN if reading.lid_open else 0) | (_TILTED if reading.tilted else 0)
             | (_FIRE if reading.fire else 0) | (_NO_ECHO if reading.distance_mm is None else 0))
    distance = 0 if reading.distance_mm is None else reading.distance_mm
    return pack(_FRAME, distance, reading.empty_distance_mm, reading.temperature_c, flags, kind=NAME)


def filling_level(distance_mm: int, empty_distance_mm: int) -> float:
    """The fill level a distance means, 0…1 (a distance beyond the bottom is an empty bin)."""
    return round(min(1.0, max(0.0, 1 - distance_mm / empty_distance_mm)), 3)


def decode(payload: bytes, f_port: int) -> list[Measure]:
    check_frame(payload, f_port, kind=NAME, port=F_PORT, size=_FRAME.size)
    distance, empty, temperature, flags = _FRAME.unpack(payload)
    if empty == 0:
        raise DecodeError(f"{NAME}: the empty distance is 0 mm, the sensor is not calibrated")
    status = ("burning" if flags & _FIRE else "dropped" if flags & _TILTED
              else "lidOpen" if flags & _LID_OPEN else "ok")
    level = [] if flags & _NO_ECHO else [Measure(VOCAB + "fillingLevel", filling_level(distance, empty), UNIT_ONE)]
    return [
        *level,
        Measure(VOCAB + "temperature", temperature, UNIT_CELSIUS),
        Measure(NGSI_LD_STATUS, status),
    ]


DECODER = Decoder(name=NAME, entity_type=ENTITY_TYPE, f_port=F_PORT, decode=decode)

"""In-ground magnetic sensor of one parking spot (decoder ``parking``).

Data frame: port 40, 1 byte, sent when a vehicle arrives or leaves and as an hourly heartbeat.

| byte | field | encoding                                                                  |
| ---- | ----- | ------------------------------------------------------------------------- |
| 0    | state | bit 0 occupied; bit 1 sensor fault (occupancy unknown);                   |
|      |       | bits 2–7 reserved, ignored                                                |

Example: ``01`` is occupied; ``02`` is a faulty sensor.

Smart Data Models ``ParkingSpot`` (dataModel.Parking): ``status`` (``free``, ``occupied`` or
``unknown``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from territoires.ingest.decoders.base import NGSI_LD_STATUS, SDM, Decoder, Measure, check_frame, pack

NAME = "parking"
F_PORT = 40
VOCAB = SDM + "dataModel.Parking/"
ENTITY_TYPE = VOCAB + "ParkingSpot"
_FRAME = struct.Struct(">B")
_OCCUPIED, _FAULT = 0x01, 0x02


@dataclass(frozen=True)
class ParkingReading:
    occupied: bool
    sensor_fault: bool = False


def encode(reading: ParkingReading) -> bytes:
    return pack(_FRAME, (_OCCUPIED if reading.occupied else 0) | (_FAULT if reading.sensor_fault else 0), kind=NAME)


def decode(payload: bytes, f_port: int) -> list[Measure]:
    check_frame(payload, f_port, kind=NAME, port=F_PORT, size=_FRAME.size)
    (state,) = _FRAME.unpack(payload)
    status = "unknown" if state & _FAULT else "occupied" if state & _OCCUPIED else "free"
    return [Measure(NGSI_LD_STATUS, status)]


DECODER = Decoder(name=NAME, entity_type=ENTITY_TYPE, f_port=F_PORT, decode=decode)

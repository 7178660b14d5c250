"""Indoor air sensor: CO2, temperature and humidity of a room (decoder ``indoor-climate``).

Data frame: port 50, 5 bytes, big-endian.

| byte | field       | encoding                                                            |
| ---- | ----------- | ------------------------------------------------------------------- |
| 0–1  | CO2         | uint16, ppm, 0…10000; FFFF while the NDIR cell warms up (left out) |
| 2–3  | temperature | int16, 0.1 °C, −40.0…85.0 °C                                        |
| 4    | humidity    | uint8, 0.5 % relative humidity, 0…200                               |

Example: ``03 20 00 D2 5A`` is 800 ppm, 21.0 °C, 45 %.

Smart Data Models ``IndoorEnvironmentObserved`` (dataModel.Environment): ``co2`` (ppm, code
59), ``temperature`` (°C, CEL) and ``relativeHumidity`` (0…1, C62, as the model writes it).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from territoires.ingest.decoders.base import (
    SDM,
    UNIT_CELSIUS,
    UNIT_ONE,
    UNIT_PPM,
    DecodeError,
    Decoder,
    Measure,
    check_frame,
    in_range,
    pack,
)

NAME = "indoor-climate"
F_PORT = 50
VOCAB = SDM + "dataModel.Environment/"
ENTITY_TYPE = VOCAB + "IndoorEnvironmentObserved"
_FRAME = struct.Struct(">HhB")
_NO_CO2 = 0xFFFF
_MAX_CO2 = 10000


@dataclass(frozen=True)
class IndoorClimateReading:
    co2_ppm: int | None         # 0…10000; None while warming up
    temperature_c: float        # −40.0…85.0, 0.1 °C resolution
    humidity_percent: float     # 0…100, 0.5 % resolution


def encode(reading: IndoorClimateReading) -> bytes:
    co2 = _NO_CO2 if reading.co2_ppm is None else reading.co2_ppm
    if co2 != _NO_CO2 and not 0 <= co2 <= _MAX_CO2:
        raise ValueError(f"{NAME}: CO2 {co2} ppm is outside 0…{_MAX_CO2}")
    if not (-40 <= reading.temperature_c <= 85 and 0 <= reading.humidity_percent <= 100):
        raise ValueError(f"{NAME}: {reading} is outside the sensor's range")
    return pack(_FRAME, co2, round(reading.temperature_c * 10), round(reading.humidity_percent * 2), kind=NAME)


def decode(payload: bytes, f_port: int) -> list[Measure]:
    check_frame(payload, f_port, kind=NAME, port=F_PORT, size=_FRAME.size)
    co2, temperature, humidity = _FRAME.unpack(payload)
    if co2 != _NO_CO2 and co2 > _MAX_CO2:
        raise DecodeError(f"{NAME}: CO2 {co2} ppm is above the sensor's range ({_MAX_CO2} ppm)")
    in_range(temperature / 10, -40.0, 85.0, kind=NAME, what="temperature (°C)")
    in_range(humidity / 2, 0, 100, kind=NAME, what="relative humidity (%)")
    carbon = [] if co2 == _NO_CO2 else [Measure(VOCAB + "co2", co2, UNIT_PPM)]
    return [
        *carbon,
        Measure(VOCAB + "temperature", temperature / 10, UNIT_CELSIUS),
        Measure(VOCAB + "relativeHumidity", humidity / 200, UNIT_ONE),
    ]


DECODER = Decoder(name=NAME, entity_type=ENTITY_TYPE, f_port=F_PORT, decode=decode)

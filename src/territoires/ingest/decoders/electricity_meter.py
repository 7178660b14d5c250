"""Electricity meter of a public building, read through its customer port (decoder
``electricity-meter``).

Data frame: port 60, 15 bytes, big-endian. The energy indexes are the meter's registers; the
power is signed so that a building with solar panels shows what it gives back to the grid.

| byte  | field          | encoding                                                  |
| ----- | -------------- | --------------------------------------------------------- |
| 0–3   | energy import  | uint32, Wh drawn from the grid since commissioning        |
| 4–7   | energy export  | uint32, Wh fed into the grid since commissioning          |
| 8–11  | active power   | int32, W: positive when drawing, negative when feeding    |
| 12    | power factor   | int8, 0.01, −100…100                                      |
| 13–14 | frequency      | uint16, 0.01 Hz, 45.00…65.00 Hz                           |

Example: ``00 0F 42 40 00 00 03 E8 00 00 0B B8 5F 13 88`` is 1000 kWh drawn, 1 kWh fed,
3000 W, power factor 0.95, 50.00 Hz.

Smart Data Models ``ACMeasurement`` (dataModel.Energy, single-phase or whole-meter totals):
``totalActiveEnergyImport`` and ``totalActiveEnergyExport`` (kWh, KWH), ``totalActivePower``
(W, WTT), ``totalPowerFactor`` (−1…1, no unit) and ``frequency`` (Hz, HTZ).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from territoires.ingest.decoders.base import (
    SDM,
    UNIT_HERTZ,
    UNIT_KILOWATT_HOUR,
    UNIT_WATT,
    Decoder,
    Measure,
    check_frame,
    in_range,
    pack,
)

NAME = "electricity-meter"
F_PORT = 60
VOCAB = SDM + "dataModel.Energy/"
ENTITY_TYPE = VOCAB + "ACMeasurement"
_FRAME = struct.Struct(">IIibH")


@dataclass(frozen=True)
class ElectricityMeterReading:
    import_wh: int          # 0…2**32 - 1
    export_wh: int          # 0…2**32 - 1
    power_w: int            # −2**31…2**31 - 1
    power_factor: float     # −1…1, 0.01 resolution
    frequency_hz: float     # 45…65, 0.01 Hz resolution


def encode(reading: ElectricityMeterReading) -> bytes:
    if not (-1 <= reading.power_factor <= 1 and 45 <= reading.frequency_hz <= 65):
        raise ValueError(f"{NAME}: {reading} is outside the meter's range")
    return pack(_FRAME, reading.import_wh, reading.export_wh, reading.power_w, round(reading.power_factor * 100),
                round(reading.frequency_hz * 100), kind=NAME)


def decode(payload: bytes, f_port: int) -> list[Measure]:
    check_frame(payload, f_port, kind=NAME, port=F_PORT, size=_FRAME.size)
    imported, exported, power, factor, frequency = _FRAME.unpack(payload)
    in_range(factor, -100, 100, kind=NAME, what="power factor (hundredths)")
    in_range(frequency, 4500, 6500, kind=NAME, what="frequency (0.01 Hz)")
    return [
        Measure(VOCAB + "totalActiveEnergyImport", imported / 1000, UNIT_KILOWATT_HOUR),
        Measure(VOCAB + "totalActiveEnergyExport", exported / 1000, UNIT_KILOWATT_HOUR),
        Measure(VOCAB + "totalActivePower", power, UNIT_WATT),
        Measure(VOCAB + "totalPowerFactor", factor / 100),
        Measure(VOCAB + "frequency", frequency / 100, UNIT_HERTZ),
    ]


DECODER = Decoder(name=NAME, entity_type=ENTITY_TYPE, f_port=F_PORT, decode=decode)

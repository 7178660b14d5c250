"""Water meter with a radio module (decoder ``water-meter``).

Data frame: port 20, 9 bytes, big-endian, sent every reporting period. The flows are the lowest
and highest flow rates seen since the previous frame: a minimum that never falls to zero at
night is the classic sign of a leak.

| byte | field    | encoding                                                               |
| ---- | -------- | ---------------------------------------------------------------------- |
| 0–3  | index    | uint32, litres since commissioning                                     |
| 4–5  | min flow | uint16, L/h over the period                                            |
| 6–7  | max flow | uint16, L/h over the period (not below min flow)                       |
| 8    | alarms   | bit 0 continuous flow (never stopped for an hour: a leak);            |
|      |          | bit 1 intermittent leak; bit 2 tamper (module removed, magnet);        |
|      |          | bit 3 backflow; bit 4 metering failure; bits 5–7 reserved, ignored     |

Example: ``00 01 E2 40 00 1E 00 64 01`` is 123.456 m³, 30 to 100 L/h, continuous flow.

Smart Data Models ``WaterConsumptionObserved`` (dataModel.WaterConsumption):
``waterConsumption`` (m³, MTQ), ``minFlow`` and ``maxFlow`` (L/h, E32; the model defines them
over the last week, the meter over its reporting period), ``alarmFlowPersistence``
("In progress persistence" or "No persistence"), ``alarmStopsLeaks``, ``alarmTamper``,
``alarmWaterQuality`` (backflow), ``acquisitionStageFailure`` and ``alarmInProgress`` (0 or 1).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from territoires.ingest.decoders.base import (
    SDM,
    UNIT_CUBIC_METRE,
    UNIT_LITRE_PER_HOUR,
    DecodeError,
    Decoder,
    Measure,
    check_frame,
    pack,
)

NAME = "water-meter"
F_PORT = 20
VOCAB = SDM + "dataModel.WaterConsumption/"
ENTITY_TYPE = VOCAB + "WaterConsumptionObserved"
_FRAME = struct.Struct(">IHHB")
# The alarm bits, named as the reading's fields, and the 0/1 attribute of each but the first
# (continuous flow sets the text attribute alarmFlowPersistence).
_BITS = {"continuous_flow": 0x01, "intermittent_leak": 0x02, "tamper": 0x04, "backflow": 0x08,
         "metering_failure": 0x10}
_ALARM_ATTRS = (("intermittent_leak", "alarmStopsLeaks"), ("tamper", "alarmTamper"),
                ("backflow", "alarmWaterQuality"), ("metering_failure", "acquisitionStageFailure"))
_ALARMS = sum(_BITS.values())


@dataclass(frozen=True)
class WaterMeterReading:
    index_l: int             # litres, 0…2**32 - 1
    min_flow_lh: int         # L/h, 0…65535
    max_flow_lh: int         # L/h, min_flow_lh…65535
    continuous_flow: bool = False
    intermittent_leak: bool = False
    tamper: bool = False
    backflow: bool = False
    metering_failure: bool = False


def encode(reading: WaterMeterReading) -> bytes:
    if reading.min_flow_lh > reading.max_flow_lh:
        raise ValueError(f"{NAME}: min flow {reading.min_flow_lh} is above max flow {reading.max_flow_lh}")
    alarms = sum(bit for field, bit in _BITS.items() if getattr(reading, field))
    return pack(_FRAME, reading.index_l, reading.min_flow_lh, reading.max_flow_lh, alarms, kind=NAME)


def decode(payload: bytes, f_port: int) -> list[Measure]:
    check_frame(payload, f_port, kind=NAME, port=F_PORT, size=_FRAME.size)
    index, low, high, alarms = _FRAME.unpack(payload)
    if low > high:
        raise DecodeError(f"{NAME}: min flow {low} L/h is above max flow {high} L/h")
    persistence = "In progress persistence" if alarms & _BITS["continuous_flow"] else "No persistence"
    return [
        Measure(VOCAB + "waterConsumption", index / 1000, UNIT_CUBIC_METRE),
        Measure(VOCAB + "minFlow", low, UNIT_LITRE_PER_HOUR),
        Measure(VOCAB + "maxFlow", high, UNIT_LITRE_PER_HOUR),
        Measure(VOCAB + "alarmFlowPersistence", persistence),
        *(Measure(VOCAB + attr, int(bool(alarms & _BITS[field]))) for field, attr in _ALARM_ATTRS),
        Measure(VOCAB + "alarmInProgress", int(bool(alarms & _ALARMS))),
    ]


DECODER = Decoder(name=NAME, entity_type=ENTITY_TYPE, f_port=F_PORT, decode=decode)

"""Device payload decoders: one module per device kind, each documenting its frame format.

``DECODERS`` maps a decoder name (what the device registry stores) to its ``Decoder``:
``decoder.decode(payload, f_port)`` returns the ``Measure`` list of one frame (expanded Smart
Data Models attribute IRIs, values, UN/CEFACT unit codes) or raises ``DecodeError`` with the
reason; ``decoder.entity_type`` is the Smart Data Models type of the entity a device of that
kind describes. Each module also has the inverse ``encode(reading) -> bytes`` that the
simulator and the tests use.
"""

from __future__ import annotations

from territoires.ingest.decoders import (
    electricity_meter,
    indoor_climate,
    parking,
    streetlight,
    waste_level,
    water_meter,
)
from territoires.ingest.decoders.base import DecodeError, Decoder, Measure

__all__ = ["DECODERS", "DecodeError", "Decoder", "Measure"]

DECODERS: dict[str, Decoder] = {
    module.DECODER.name: module.DECODER
    for module in (streetlight, water_meter, waste_level, parking, indoor_climate, electricity_meter)
}

"""What every device decoder shares: the measure it yields, its error, its declaration, and the
frame-reading helpers that turn any malformed frame into a ``DecodeError``."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

SDM = "https://smartdatamodels.org/"
NGSI_LD_STATUS = "https://uri.etsi.org/ngsi-ld/status"  # Smart Data Models map "status" to the core term

# UN/CEFACT common codes (Recommendation 20) used by the decoders.
UNIT_WATT = "WTT"
UNIT_KILOWATT_HOUR = "KWH"
UNIT_CUBIC_METRE = "MTQ"
UNIT_LITRE_PER_HOUR = "E32"
UNIT_CELSIUS = "CEL"
UNIT_PPM = "59"
UNIT_HERTZ = "HTZ"
UNIT_ONE = "C62"  # a ratio between 0 and 1, as Smart Data Models write levels and humidity


class DecodeError(ValueError):
    """A payload its decoder cannot read; ``reason`` says what is wrong."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Measure(NamedTuple):  # a tuple: decoders build one per value of every uplink
    """One decoded value, ready to become an NGSI-LD attribute (observedAt = uplink time)."""

    attr: str                      # expanded attribute IRI (Smart Data Models)
    value: Any                     # JSON scalar: number, string or boolean
    unit_code: str | None = None   # UN/CEFACT common code
    kind: str = "Property"         # NGSI-LD attribute type


@dataclass(frozen=True)
class Decoder:
    """A device kind: its frames' port, the entity type it describes, and how to read a frame."""

    name: str                                      # registry key, e.g. "water-meter"
    entity_type: str                               # expanded Smart Data Models type IRI
    f_port: int                                    # the port of its data frames
    decode: Callable[[bytes, int], list[Measure]]  # (payload, f_port) -> measures, or DecodeError


def check_frame(payload: bytes, f_port: int, *, kind: str, port: int, size: int) -> None:
    """Refuse a frame sent on another port or of another length than the kind's data frame."""
    if f_port != port:
        raise DecodeError(f"{kind}: port {f_port} carries no data frame (data frames use port {port})")
    if len(payload) != size:
        raise DecodeError(f"{kind}: a data frame has {size} bytes, this one has {len(payload)}")


def in_range(value: float, low: float, high: float, *, kind: str, what: str) -> None:
    if not low <= value <= high:
        raise DecodeError(f"{kind}: {what} {value} is outside {low}…{high}")


def pack(layout: struct.Struct, *values: int, kind: str) -> bytes:
    """Encode fields, refusing a reading the frame cannot carry (rather than wrapping it)."""
    try:
        return layout.pack(*values)
    except struct.error as error:
        raise ValueError(f"{kind}: reading out of the frame's range ({error})") from None

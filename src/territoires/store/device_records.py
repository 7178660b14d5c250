"""Uplink frames and LoRaWAN device records as rows: what both SQL backends share.

A backend stores each recorded frame as (dev_eui, f_cnt, at_ms), the uplink time in
milliseconds since the epoch so that the window of ``FRAME_WINDOW_SECONDS`` is a range on an
integer column, fetches the stored frames with the counters of a batch, and lets
``fresh_frames`` decide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from territoires import clock
from territoires.ngsild.errors import BadRequestData
from territoires.store.port import FRAME_WINDOW_SECONDS, Device, Frame, QuarantinedUplink, QuarantineQuery

WINDOW_MS = FRAME_WINDOW_SECONDS * 1000
# The columns of a device row, in the order of ``Device``'s fields.
DEVICE_COLUMNS = "dev_eui, tenant, entity_id, entity_type, decoder, name, created_at, modified_at"
# The columns of a quarantine row, in the order ``quarantined`` reads them.
QUARANTINE_COLUMNS = "seq, received_at, topic, kind, reason, body, dev_eui, tenant"
# The columns of a bridge's counters, in the order of ``IngestionCounters``' fields.
COUNTER_COLUMNS = "bridge, started_at, updated_at, received, stored, duplicates, quarantined"


def instant_ms(at: str) -> int:
    """An ISO 8601 instant as milliseconds since the epoch (an instant without offset is UTC)."""
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise BadRequestData(f"the uplink time {at!r} is not an ISO 8601 instant") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def now_ms() -> int:
    """This instant in milliseconds since the epoch: when frames are recorded."""
    return instant_ms(clock.now())


def frame_rows(frames: Sequence[Frame]) -> list[tuple[str, int, int]]:
    return [(frame.dev_eui, frame.f_cnt, instant_ms(frame.at)) for frame in frames]


def fresh_frames(rows: Sequence[tuple[str, int, int]], stored: Iterable[tuple[str, int, int]]) -> list[bool]:
    """For each (dev_eui, f_cnt, at_ms) of ``rows``, whether no frame of ``stored`` nor an earlier
    one of ``rows`` has its device and counter with a time at most ``WINDOW_MS`` away."""
    seen: dict[tuple[str, int], list[int]] = {}
    for dev_eui, f_cnt, at in stored:
        seen.setdefault((dev_eui, f_cnt), []).append(at)
    fresh = []
    for dev_eui, f_cnt, at in rows:
        times = seen.setdefault((dev_eui, f_cnt), [])
        new = all(abs(at - other) > WINDOW_MS for other in times)
        if new:
            times.append(at)
        fresh.append(new)
    return fresh


def device_row(device: Device) -> tuple[str, ...]:
    return (device.dev_eui, device.tenant, device.entity_id, device.entity_type, device.decoder, device.name,
            device.created_at, device.modified_at)


def quarantine_row(uplink: QuarantinedUplink) -> tuple[Any, ...]:
    """The row of a quarantined uplink, without ``seq`` (the store numbers them)."""
    return (uplink.received_at, uplink.topic, uplink.kind, uplink.reason, uplink.body, uplink.dev_eui, uplink.tenant)


def quarantined(row: Sequence[Any]) -> QuarantinedUplink:
    seq, received_at, topic, kind, reason, body, dev_eui, tenant = row
    return QuarantinedUplink(received_at=received_at, topic=topic, kind=kind, reason=reason, body=bytes(body),
                             dev_eui=dev_eui, tenant=tenant, seq=seq)


def quarantine_filters(query: QuarantineQuery, mark: str) -> tuple[str, list[Any]]:
    """The WHERE clause of a quarantine query (``mark`` is the driver's placeholder) and its parameters."""
    where, params = [], []
    for column in ("dev_eui", "tenant", "kind"):
        value = getattr(query, column)
        if value is not None:
            where.append(f"{column} = {mark}")
            params.append(value)
    return " AND ".join(where) or "1 = 1", params

"""LoRaWAN devices and ingestion in the PostgreSQL backend (migration ``0006_devices.sql``).

``devices`` and ``quarantine`` are platform-wide tables, like ``tenants``; a device goes with
its tenant (foreign key, ON DELETE CASCADE). ``frames`` is tenant-scoped under row-level
security and written in the tenant's write transaction, with the entity update.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import astuple

import psycopg

from territoires.ngsild.errors import AlreadyExists, NonexistentTenant
from territoires.store import device_records as records
from territoires.store.port import Device, Frame, IngestionCounters, QuarantinedUplink, QuarantineQuery
from territoires.store.postgres_json import json_array

# The registered devices among a batch's DevEUIs: joined with them, not "= ANY" of them, for
# which PostgreSQL reads a registry of a few thousand devices whole and compares each row with
# the array element by element (1,000 DevEUIs among 1,000 devices: 15-22 ms against 3.5 ms).
DEVICES_OF = (f"SELECT {records.DEVICE_COLUMNS} FROM devices "
              "WHERE dev_eui IN (SELECT jsonb_array_elements_text(%s::jsonb))")
# The batch's distinct (dev_eui, f_cnt) pairs, read into a materialized CTE so that each is one
# primary-key probe (see postgres_json: joined on ``j->>0`` itself, the pairs would be
# compared with every frame of the tenant).
STORED_FRAMES = ("WITH b AS MATERIALIZED (SELECT DISTINCT j->>0 AS dev_eui, (j->>1)::bigint AS f_cnt "
                 "FROM jsonb_array_elements(%s::jsonb) AS j) "
                 "SELECT f.dev_eui, f.f_cnt, f.at FROM frames f JOIN b ON f.dev_eui = b.dev_eui AND f.f_cnt = b.f_cnt")


class PostgresDeviceRegistry:
    """The store's device registry and quarantine, on pooled autocommit connections."""

    _connection: Callable[[], AbstractContextManager[psycopg.Connection]]  # PostgresStore's

    def put_device(self, device: Device) -> None:
        with self._connection() as conn:
            try:
                created = conn.execute(
                    f"INSERT INTO devices ({records.DEVICE_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (dev_eui) DO NOTHING RETURNING dev_eui", records.device_row(device)).fetchone()
            except psycopg.errors.ForeignKeyViolation:
                raise NonexistentTenant(f"tenant {device.tenant!r} does not exist") from None
        if created is None:
            raise AlreadyExists(f"the device {device.dev_eui} is already registered")

    def replace_device(self, device: Device) -> bool:
        with self._connection() as conn:
            try:
                return conn.execute(
                    "UPDATE devices SET tenant = %s, entity_id = %s, entity_type = %s, decoder = %s, name = %s, "
                    "modified_at = %s WHERE dev_eui = %s",
                    (device.tenant, device.entity_id, device.entity_type, device.decoder, device.name,
                     device.modified_at, device.dev_eui)).rowcount > 0
            except psycopg.errors.ForeignKeyViolation:
                raise NonexistentTenant(f"tenant {device.tenant!r} does not exist") from None

    def get_devices(self, dev_euis: Sequence[str]) -> dict[str, Device]:
        with self._connection() as conn:
            rows = conn.execute(DEVICES_OF, (json_array(dev_euis),)).fetchall()
        return {row[0]: Device(*row) for row in rows}

    def list_devices(self, *, tenant: str | None = None, offset: int = 0, limit: int = 20) -> tuple[list[Device], int]:
        where, params = ("WHERE tenant = %s", [tenant]) if tenant is not None else ("", [])
        with self._connection() as conn, conn.pipeline():
            page = conn.execute(f"SELECT {records.DEVICE_COLUMNS} FROM devices {where} "
                                "ORDER BY dev_eui COLLATE \"C\" LIMIT %s OFFSET %s", (*params, limit, offset))
            count = conn.execute(f"SELECT count(*) FROM devices {where}", params)
            rows, total = page.fetchall(), count.fetchone()[0]
        return [Device(*row) for row in rows], total

    def delete_device(self, dev_eui: str) -> bool:
        with self._connection() as conn:
            return conn.execute("DELETE FROM devices WHERE dev_eui = %s", (dev_eui,)).rowcount > 0

    def quarantine(self, uplinks: Sequence[QuarantinedUplink]) -> None:
        if not uplinks:
            return
        with self._connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany("INSERT INTO quarantine (received_at, topic, kind, reason, body, dev_eui, tenant) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                            [records.quarantine_row(uplink) for uplink in uplinks])

    def list_quarantine(self, query: QuarantineQuery) -> tuple[list[QuarantinedUplink], int]:
        where, params = records.quarantine_filters(query, "%s")
        with self._connection() as conn, conn.pipeline():
            page = conn.execute(f"SELECT {records.QUARANTINE_COLUMNS} FROM quarantine WHERE {where} "
                                "ORDER BY seq DESC LIMIT %s OFFSET %s", (*params, query.limit, query.offset))
            count = conn.execute(f"SELECT count(*) FROM quarantine WHERE {where}", params)
            rows, total = page.fetchall(), count.fetchone()[0]
        return [records.quarantined(row) for row in rows], total

    def put_ingestion_counters(self, counters: IngestionCounters) -> None:
        with self._connection() as conn:
            conn.execute(f"INSERT INTO ingestion ({records.COUNTER_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                         "ON CONFLICT (bridge) DO UPDATE SET started_at = excluded.started_at, "
                         "updated_at = excluded.updated_at, received = excluded.received, stored = excluded.stored, "
                         "duplicates = excluded.duplicates, quarantined = excluded.quarantined", astuple(counters))

    def ingestion_counters(self) -> list[IngestionCounters]:
        with self._connection() as conn:
            rows = conn.execute(f"SELECT {records.COUNTER_COLUMNS} FROM ingestion ORDER BY bridge COLLATE \"C\"").fetchall()
        return [IngestionCounters(*row) for row in rows]


class PostgresFrames:
    """Frames seen, in a tenant's write session (row-level security names the tenant)."""

    conn: psycopg.Connection

    def record_frames(self, frames: Sequence[Frame]) -> list[bool]:
        rows = records.frame_rows(frames)
        if not rows:
            return []
        stored = self.conn.execute(STORED_FRAMES, (json_array(row[:2] for row in rows),)).fetchall()
        fresh = records.fresh_frames(rows, stored)
        kept = [row for row, new in zip(rows, fresh, strict=True) if new]
        if kept:
            self.conn.execute(
                "INSERT INTO frames (dev_eui, f_cnt, at, seen) SELECT j->>0, (j->>1)::bigint, (j->>2)::bigint, %s "
                "FROM jsonb_array_elements(%s::jsonb) AS j ON CONFLICT DO NOTHING",
                (records.now_ms(), json_array(kept)))
        return fresh

    def forget_frames(self, before: str) -> int:
        return self.conn.execute("DELETE FROM frames WHERE seen < %s", (records.instant_ms(before),)).rowcount

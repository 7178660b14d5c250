"""LoRaWAN devices and ingestion in the embedded backend.

The registry of devices and the quarantine are platform-wide: they live in the registry file
``territoires.db`` beside the tenants' names. The frames seen (deduplication) belong to the
tenant whose entities they updated: they live in the tenant's file and are written in the same
transaction as the entity update.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import astuple

import orjson

from territoires.ngsild.errors import AlreadyExists
from territoires.store import device_records as records
from territoires.store.port import Device, Frame, IngestionCounters, QuarantinedUplink, QuarantineQuery, chunks
from territoires.store.sqlite_rows import execute_rows

REGISTRY_SCHEMA = """
CREATE TABLE IF NOT EXISTS devices(
    dev_eui TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    decoder TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS devices_by_tenant ON devices(tenant, dev_eui);
CREATE TABLE IF NOT EXISTS quarantine(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at TEXT NOT NULL,
    topic TEXT NOT NULL,
    kind TEXT NOT NULL,
    reason TEXT NOT NULL,
    body BLOB NOT NULL,
    dev_eui TEXT,
    tenant TEXT
);
CREATE INDEX IF NOT EXISTS quarantine_by_device ON quarantine(dev_eui, seq);
CREATE TABLE IF NOT EXISTS ingestion(
    bridge TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    received INTEGER NOT NULL,
    stored INTEGER NOT NULL,
    duplicates INTEGER NOT NULL,
    quarantined INTEGER NOT NULL
);
"""

# In a tenant's file: (device, counter, uplink time in ms) of every uplink applied, and when it
# was recorded (ms; its index comes with the file layout's upgrade, see sqlite._Tenant.upgrade).
FRAMES_SCHEMA = """
CREATE TABLE IF NOT EXISTS frames(
    dev_eui TEXT NOT NULL,
    f_cnt INTEGER NOT NULL,
    at INTEGER NOT NULL,
    seen INTEGER NOT NULL,
    PRIMARY KEY (dev_eui, f_cnt, at)
) WITHOUT ROWID;
"""

# The batch's (dev_eui, f_cnt) pairs drive the join, one primary-key probe each: with the
# pairs as an IN list, SQLite scans the whole table instead, a cost that grows with every uplink.
STORED_FRAMES = ("SELECT f.dev_eui, f.f_cnt, f.at FROM json_each(?) j CROSS JOIN frames f "
                  "ON f.dev_eui = j.value ->> 0 AND f.f_cnt = j.value ->> 1")


class SqliteDeviceRegistry:
    """The store's device registry and quarantine, over the registry connection."""

    _registry: sqlite3.Connection
    _registry_lock: threading.Lock

    def put_device(self, device: Device) -> None:
        with self._registry_lock:
            try:
                self._registry.execute(f"INSERT INTO devices({records.DEVICE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                                       records.device_row(device))
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"the device {device.dev_eui} is already registered") from None

    def replace_device(self, device: Device) -> bool:
        with self._registry_lock:
            return self._registry.execute(
                "UPDATE devices SET tenant = ?, entity_id = ?, entity_type = ?, decoder = ?, name = ?, modified_at = ? "
                "WHERE dev_eui = ?",
                (device.tenant, device.entity_id, device.entity_type, device.decoder, device.name,
                 device.modified_at, device.dev_eui),
            ).rowcount > 0

    def get_devices(self, dev_euis: Sequence[str]) -> dict[str, Device]:
        found: dict[str, Device] = {}
        with self._registry_lock:
            for part in chunks(list(dict.fromkeys(dev_euis)), 500):
                marks = ",".join("?" * len(part))
                for row in self._registry.execute(
                        f"SELECT {records.DEVICE_COLUMNS} FROM devices WHERE dev_eui IN ({marks})", tuple(part)):
                    found[row[0]] = Device(*row)
        return found

    def list_devices(self, *, tenant: str | None = None, offset: int = 0, limit: int = 20) -> tuple[list[Device], int]:
        where, params = ("WHERE tenant = ?", (tenant,)) if tenant is not None else ("", ())
        with self._registry_lock:
            rows = self._registry.execute(
                f"SELECT {records.DEVICE_COLUMNS} FROM devices {where} ORDER BY dev_eui LIMIT ? OFFSET ?",
                (*params, limit, offset)).fetchall()
            count = self._registry.execute(f"SELECT count(*) FROM devices {where}", params).fetchone()[0]
        return [Device(*row) for row in rows], count

    def delete_device(self, dev_eui: str) -> bool:
        with self._registry_lock:
            return self._registry.execute("DELETE FROM devices WHERE dev_eui = ?", (dev_eui,)).rowcount > 0

    def _forget_devices_of(self, tenant: str) -> None:
        """Unregister the devices of a deleted tenant (the caller holds the registry lock)."""
        self._registry.execute("DELETE FROM devices WHERE tenant = ?", (tenant,))

    def quarantine(self, uplinks: Sequence[QuarantinedUplink]) -> None:
        if not uplinks:
            return
        with self._registry_lock:
            self._registry.execute("BEGIN IMMEDIATE")
            try:
                self._registry.executemany(
                    "INSERT INTO quarantine(received_at, topic, kind, reason, body, dev_eui, tenant) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [records.quarantine_row(uplink) for uplink in uplinks])
            except BaseException:
                self._registry.execute("ROLLBACK")
                raise
            self._registry.execute("COMMIT")

    def list_quarantine(self, query: QuarantineQuery) -> tuple[list[QuarantinedUplink], int]:
        where, params = records.quarantine_filters(query, "?")
        with self._registry_lock:
            rows = self._registry.execute(
                f"SELECT {records.QUARANTINE_COLUMNS} FROM quarantine WHERE {where} ORDER BY seq DESC LIMIT ? OFFSET ?",
                (*params, query.limit, query.offset)).fetchall()
            count = self._registry.execute(f"SELECT count(*) FROM quarantine WHERE {where}", params).fetchone()[0]
        return [records.quarantined(row) for row in rows], count

    def put_ingestion_counters(self, counters: IngestionCounters) -> None:
        with self._registry_lock:
            self._registry.execute(f"INSERT OR REPLACE INTO ingestion({records.COUNTER_COLUMNS}) "
                                   "VALUES (?, ?, ?, ?, ?, ?, ?)", astuple(counters))

    def ingestion_counters(self) -> list[IngestionCounters]:
        with self._registry_lock:
            rows = self._registry.execute(f"SELECT {records.COUNTER_COLUMNS} FROM ingestion ORDER BY bridge").fetchall()
        return [IngestionCounters(*row) for row in rows]


class SqliteFrames:
    """Frames seen, in a tenant's write session."""

    conn: sqlite3.Connection

    def record_frames(self, frames: Sequence[Frame]) -> list[bool]:
        rows = records.frame_rows(frames)
        pairs = list(dict.fromkeys((dev_eui, f_cnt) for dev_eui, f_cnt, _ in rows))
        stored = self.conn.execute(STORED_FRAMES, (orjson.dumps(pairs).decode(),)).fetchall()
        fresh = records.fresh_frames(rows, stored)
        seen = records.now_ms()
        execute_rows(self.conn, "INSERT OR IGNORE INTO frames(dev_eui, f_cnt, at, seen) VALUES {rows}",
                     [(*row, seen) for row, new in zip(rows, fresh, strict=True) if new])
        return fresh

    def forget_frames(self, before: str) -> int:
        return self.conn.execute("DELETE FROM frames WHERE seen < ?", (records.instant_ms(before),)).rowcount

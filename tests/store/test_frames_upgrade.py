"""Frames recorded before they carried when they were recorded (SQLite layout 2, PostgreSQL
schema 16) still deduplicate once upgraded, and are forgotten by their uplink time, the best
guess left; frames recorded since are forgotten by when they were recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from territoires import clock
from territoires.store.port import DEFAULT_TENANT, Frame, Store
from tests import postgres
from tests.store.older_stores import postgres_store_of_schema, sqlite_store_of_layout

DEVICE = "00000000000000AA"
# (dev_eui, f_cnt, uplink time in ms) as an older release wrote them: 2026-01-01T00:00:00Z.
OLD_ROW = (DEVICE, 7, 1767225600000)


def assert_old_frame_deduplicates_then_is_forgotten_by_its_uplink_time(store: Store) -> None:
    with store.session(DEFAULT_TENANT, write=True) as session:
        assert session.record_frames([Frame(DEVICE, 7, "2026-01-01T00:00:00Z"),
                                      Frame(DEVICE, 8, "2026-01-01T00:01:00Z")]) == [False, True]
        assert session.forget_frames("2026-01-01T00:00:01Z") == 1  # the old one, by its uplink time
        assert session.forget_frames(clock.ahead(1)) == 1  # the new one, by when it was recorded


def test_a_sqlite_file_of_layout_2_keeps_its_frames(tmp_path: Path) -> None:
    script = ("DROP INDEX frames_by_seen; DROP TABLE frames; CREATE TABLE frames(dev_eui TEXT NOT NULL, "
              "f_cnt INTEGER NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (dev_eui, f_cnt, at)) WITHOUT ROWID; "
              "CREATE INDEX frames_by_time ON frames(at);")
    with sqlite_store_of_layout(tmp_path, 2, script, "INSERT INTO frames VALUES (?, ?, ?)", [OLD_ROW]) as store:
        assert_old_frame_deduplicates_then_is_forgotten_by_its_uplink_time(store)


@pytest.mark.skipif(not postgres.URL, reason="PostgreSQL not available")
def test_a_postgres_database_of_schema_16_keeps_its_frames() -> None:
    insert = "INSERT INTO frames (dev_eui, f_cnt, at) VALUES (%s, %s, %s)"
    with postgres_store_of_schema(16, insert, [OLD_ROW]) as store:
        assert_old_frame_deduplicates_then_is_forgotten_by_its_uplink_time(store)

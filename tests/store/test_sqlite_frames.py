"""Frame de-duplication on SQLite: each uplink of a batch is looked up by its primary key, so
the lookup costs the same with a thousand frames stored as with millions."""

from __future__ import annotations

from pathlib import Path

from territoires.store.port import Frame
from territoires.store.sqlite import SqliteStore
from territoires.store.sqlite_devices import STORED_FRAMES


def _frames(counter: int) -> list[Frame]:
    return [Frame(f"70B3D57E{n:08X}", counter, f"2026-11-28T18:00:{counter:02d}Z") for n in range(300)]


def test_a_batch_probes_the_frames_by_primary_key_and_finds_its_repeats(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    try:
        with store.session("", write=True) as session:
            assert all(session.record_frames(_frames(1)))
        with store.session("", write=True) as session:
            # A batch larger than one statement's bound parameters, half of it seen before.
            assert session.record_frames(_frames(1)[:150] + _frames(2)) == [False] * 150 + [True] * 300
            plan = " / ".join(row[3] for row in session.conn.execute(f"EXPLAIN QUERY PLAN {STORED_FRAMES}", ("[]",)))
        assert "SEARCH f USING PRIMARY KEY" in plan and "SCAN f" not in plan, plan
    finally:
        store.close()

"""History written when an SQLite file kept one row per series (layout 3) reads the same once
the file is upgraded to series numbered by entity (layout 4), and goes on being written."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from territoires.cli import main
from territoires.store.port import DEFAULT_TENANT, EntityQuery, TemporalPage, TemporalQuery, TimeRange
from territoires.store.sqlite import LAYOUT_VERSION, SqliteStore
from territoires.store.sqlite_temporal import SLOTS
from tests.contract.test_history_rollup import BASE, DAY, SENSORS, STATE, TEMP, answers, ask, reading, record

HOUR = DAY // 24
EVERYTHING = TimeRange(timerel="after", time_at="2000-01-01T00:00:00Z")
DAILY = ("sum", "totalCount")

# Layout 3, rebuilt from today's tables: one history_series row per series, numbered in an
# order of their own so that the old numbers differ from today's.
BACK_TO_LAYOUT_3 = f"""
CREATE TABLE history_series(
    sid INTEGER PRIMARY KEY, entity TEXT NOT NULL, attr TEXT NOT NULL, dataset TEXT NOT NULL,
    UNIQUE(entity, attr, dataset));
INSERT INTO history_series(entity, attr, dataset)
    SELECT e.entity, s.attr, s.dataset FROM history_entities e, json_each(e.slots) j
    JOIN history_slots s ON s.slot = j.value ORDER BY e.eid DESC, s.slot DESC;
CREATE TEMP TABLE numbers AS SELECT e.eid * {SLOTS} + s.slot AS new, hs.sid AS old FROM history_series hs
    JOIN history_entities e USING (entity) JOIN history_slots s USING (attr, dataset);
UPDATE history SET sid = (SELECT old FROM numbers WHERE new = history.sid);
UPDATE series_days SET sid = (SELECT old FROM numbers WHERE new = series_days.sid);
DROP TABLE history_entities;
DROP TABLE history_slots;
PRAGMA user_version = 3;
"""


def instances(store: SqliteStore) -> dict[tuple[str, str, str | None], list[tuple[str | None, str]]]:
    query = TemporalQuery(EntityQuery(ids=SENSORS), time=EVERYTHING)
    with store.session(DEFAULT_TENANT) as session:
        page: TemporalPage = session.temporal_query(query)
    return {(e.id, s.attr, s.dataset_id): [(i.instance.get("instanceId"), i.instance["value"]) for i in s.instances]
            for e in page.entities for s in e.series}


def written_at_layout_3(data: Path) -> tuple[Any, ...]:
    """History written in ``data``'s default tenant, its file then taken back to layout 3;
    what it read before (instances, then daily sums)."""
    store = SqliteStore(data)
    history = [reading(n, BASE + n * 7 * HOUR, SENSORS[n % 2]) for n in range(20)]
    history += [reading(n, BASE + n * HOUR, SENSORS[0], dataset="urn:ngsi-ld:Dataset:backup") for n in range(5)]
    history += [reading("on", BASE + HOUR, SENSORS[1], STATE)]
    record(store, DEFAULT_TENANT, history, [reading(99, BASE + 9 * DAY)])  # the second write rolls days up
    before = instances(store), answers(ask(store, DEFAULT_TENANT, DAILY, "P1D", EVERYTHING))
    store.close()
    with sqlite3.connect(data / "default.db") as conn:
        assert conn.execute("SELECT count(*) FROM series_days").fetchone()[0] > 0
        conn.executescript(BACK_TO_LAYOUT_3)
    return before


def layout(data: Path) -> tuple[int, bool]:
    """The default tenant file's layout version, and whether it still has ``history_series``."""
    with sqlite3.connect(data / "default.db") as conn:
        old_table = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'history_series'").fetchone()
        return conn.execute("PRAGMA user_version").fetchone()[0], old_table is not None


def test_a_sqlite_file_of_layout_3_keeps_its_history(tmp_path: Path) -> None:
    data = tmp_path / "data"
    before = written_at_layout_3(data)
    store = SqliteStore(data)
    try:
        assert (instances(store), answers(ask(store, DEFAULT_TENANT, DAILY, "P1D", EVERYTHING))) == before
        record(store, DEFAULT_TENANT, [reading(100, BASE + 10 * DAY)])
        with store.session(DEFAULT_TENANT, write=True) as session:
            assert session.delete_history(SENSORS[0], TEMP, "urn:ngsi-ld:Dataset:backup") == 5
        after = instances(store)
        written = after[SENSORS[0], TEMP, None]
        assert [value for _, value in written[-2:]] == [99, 100] and written[-2] == before[0][SENSORS[0], TEMP, None][-1]
        assert (SENSORS[0], TEMP, "urn:ngsi-ld:Dataset:backup") not in after
        assert after[SENSORS[1], STATE, None] == before[0][SENSORS[1], STATE, None]
    finally:
        store.close()
    assert layout(data) == (LAYOUT_VERSION, False)


def test_db_upgrade_brings_every_sqlite_file_to_the_current_layout(tmp_path: Path, monkeypatch, capsys) -> None:
    data = tmp_path / "data"
    before = written_at_layout_3(data)
    assert layout(data) == (3, True)
    monkeypatch.setenv("TERRITOIRES_DATA_DIR", str(data))
    assert main(["db", "upgrade"]) == 0
    assert "(défaut) : à jour" in capsys.readouterr().out
    assert layout(data) == (LAYOUT_VERSION, False)
    store = SqliteStore(data)
    try:
        assert instances(store) == before[0]
    finally:
        store.close()

"""Temporal storage benchmark: a year of 15-minute readings per entity (35,040 instances each),
recorded through the storage port, then the daily average asked of it.

Figures, each with its limit measured in the same run on the same database:
- recording rate (instances/s) against the same rows written raw (executemany into a bare
  table of the same layout in SQLite; COPY into PostgreSQL);
- daily average over the year of one entity, p50 and p95 (target p95 ≤ 50 ms), against the
  bare GROUP BY statement over the same rows;
- daily average of every entity at once (target ≤ 10 s for 1,000 entities, embedded store),
  against the bare GROUP BY over the whole table.

``bench.catalog`` lists ``temporal``; ``entities`` sizes it (default:
1,000, or 20 with ``--quick``).
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

from bench.report import Row
from bench.scenarios import QUICK, Bench
from territoires.store.port import (
    Aggregation,
    EntityQuery,
    HistoryInstance,
    Store,
    TemporalQuery,
    TimeRange,
)
from territoires.store.postgres import PostgresStore
from territoires.store.sqlite import SqliteStore
from territoires.store.temporal_common import from_micros, to_row

READINGS = 35_040  # a year of 15-minute readings
STEP = 900_000_000  # 15 minutes, in microseconds
START = 1_704_067_200_000_000  # 2024-01-01T00:00Z
DAY = 86_400_000_000
BATCH = 10_000  # instances per write session, as an ingestion batch
TEMPERATURE = "https://smartdatamodels.org/temperature"
QUERIES = 30  # one-entity queries timed


def temporal(bench: Bench, entities: int | None = None) -> list[Row]:
    count = entities or (20 if bench.sizes == QUICK else 1000)
    name = bench.backend.name
    target = _Target(bench)
    store = target.store
    try:
        ids = [f"urn:ngsi-ld:TemperatureSensor:{n:05d}" for n in range(count)]
        bench.run.log(f"  recording {count * READINGS:,} instances of {count:,} entities")
        rate = _record(store, ids)
        raw_rate = target.raw_rate(_sample_rows())
        bench.backend.settle("temporal")
        year = TimeRange(timerel="between", time_at=from_micros(START), end_time_at=from_micros(START + READINGS * STEP))
        daily = Aggregation(("avg",), "P1D")
        one = []
        for n in range(QUERIES):
            query = TemporalQuery(EntityQuery(ids=(ids[n % count],)), time=year, aggregation=daily)
            one.append(_timed(store, query))
        bare_one = [target.bare_ms(n % count + 1) for n in range(QUERIES)]
        every = TemporalQuery(EntityQuery(ids=tuple(ids), limit=count), time=year, aggregation=daily)
        all_ms = _timed(store, every)
        bare_all = target.bare_ms(None)
    finally:
        store.close()
    return [
        Row(f"{name} temporal: recording, instances/s", rate, "/s", raw_rate),
        Row(f"{name} temporal: daily avg of 1 entity (35,040 instances), p50", _p(one, 50), "ms", _p(bare_one, 50),
            higher_is_better=False),
        Row(f"{name} temporal: daily avg of 1 entity (35,040 instances), p95", _p(one, 95), "ms", _p(bare_one, 95),
            higher_is_better=False, target=50),
        Row(f"{name} temporal: daily avg of {count:,} entities ({count * READINGS:,} instances)", all_ms, "ms",
            bare_all, higher_is_better=False, target=10_000 if name == "sqlite" else None),
    ]


class _Target:
    """The store under test and bare access to the same database, for the limits."""

    def __init__(self, bench: Bench) -> None:
        work = bench.run.work_dir
        self.sqlite = bench.backend.name == "sqlite"
        if self.sqlite:
            self.store: Store = SqliteStore(work / "temporal-sqlite")
            self.file = work / "temporal-sqlite" / "default.db"
            self.raw_file = work / "temporal-raw.sqlite"
        else:
            self.url = bench.backend.store_env("temporal")["TERRITOIRES_DATABASE_URL"]
            self.store = PostgresStore(self.url, upgrade=True)

    def raw_rate(self, rows: list[tuple]) -> float:
        return _raw_sqlite(self.raw_file, rows) if self.sqlite else _raw_postgres(self.url, rows)

    def bare_ms(self, sid: int | None) -> float:
        """The same daily average as one bare SQL statement on the same database (ms)."""
        where = f"WHERE sid = {sid}" if sid else ""
        sql = f"SELECT sid, (ts - {START}) / {DAY} AS k, avg(num) FROM history {where} GROUP BY sid, k"
        if self.sqlite:
            conn = sqlite3.connect(self.file)
            try:
                started = time.perf_counter()
                conn.execute(sql).fetchall()
                return (time.perf_counter() - started) * 1000
            finally:
                conn.close()
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute("SELECT set_config('territoires.tenant', '', false)")
            started = time.perf_counter()
            conn.execute(sql).fetchall()
            return (time.perf_counter() - started) * 1000


def _instances(ids: list[str]) -> Iterator[list[HistoryInstance]]:
    """Batches of readings in arrival order: every entity's reading of one instant, then the next."""
    rng = random.Random(35)
    batch: list[HistoryInstance] = []
    for k in range(READINGS):
        at = from_micros(START + k * STEP)
        for eid in ids:
            value = round(12 + 8 * rng.random(), 2)
            instance = {"type": "Property", "value": value, "observedAt": at, "unitCode": "CEL",
                        "createdAt": "2024-01-01T00:00:00.000000Z", "modifiedAt": at}
            batch.append(HistoryInstance(eid, TEMPERATURE, instance, at))
            if len(batch) == BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def _record(store: Store, ids: list[str]) -> float:
    with store.session("", write=True) as session:
        session.insert([{"id": eid, "type": ["https://smartdatamodels.org/TemperatureSensor"],
                         "createdAt": "2024-01-01T00:00:00.000000Z", "modifiedAt": "2024-01-01T00:00:00.000000Z",
                         "attrs": {}} for eid in ids])
    elapsed, total = 0.0, 0
    for batch in _instances(ids):  # the readings are made outside the timing: only writing them counts
        started = time.perf_counter()
        with store.session("", write=True) as session:
            session.append_history(batch)
        elapsed += time.perf_counter() - started
        total += len(batch)
    return total / elapsed


def _sample_rows(count: int = 200_000) -> list[tuple]:
    """Rows of the history layout (series, time, number, value…) for the raw limit."""
    ids = [f"urn:ngsi-ld:TemperatureSensor:{n:05d}" for n in range(100)]
    rows = []
    for sid, batch in enumerate(_instances(ids)):
        for n, item in enumerate(batch):
            row = to_row(item)
            rows.append((n % 100 + 1, row.ts, sid * BATCH + n, row.num, row.kind, row.modified, row.created,
                         row.deleted, row.txt, row.doc))
        if len(rows) >= count:
            return rows
    return rows


def _raw_sqlite(path: Path, rows: list[tuple]) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE raw(sid INTEGER, ts INTEGER, iid INTEGER, num, kind INTEGER, modified INTEGER, "
                 "created INTEGER, deleted INTEGER, txt TEXT, doc TEXT, PRIMARY KEY(sid, ts, iid)) WITHOUT ROWID")
    started = time.perf_counter()
    for start in range(0, len(rows), BATCH):
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO raw VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows[start : start + BATCH])
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return len(rows) / elapsed


def _raw_postgres(url: str, rows: list[tuple]) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE raw (sid bigint, ts bigint, iid bigint, num float8, kind smallint, modified bigint, "
                     "created bigint, deleted bigint, txt text, doc jsonb)")
        conn.execute("CREATE INDEX ON raw (sid, ts)")
        started = time.perf_counter()
        for start in range(0, len(rows), BATCH):
            with conn.transaction(), conn.cursor().copy("COPY raw FROM STDIN") as copy:
                for row in rows[start : start + BATCH]:
                    copy.write_row(row)
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE raw")
    return len(rows) / elapsed


def _timed(store: Store, query: TemporalQuery) -> float:
    started = time.perf_counter()
    with store.session("") as session:
        page = session.temporal_query(query)
    elapsed = (time.perf_counter() - started) * 1000
    assert page.entities and page.entities[0].series[0].buckets, "the aggregation found no reading"
    return elapsed


def _p(samples: list[float], percentile: int) -> float:
    if len(samples) < 2:
        return samples[0]
    return statistics.quantiles(samples, n=100, method="inclusive")[percentile - 1]

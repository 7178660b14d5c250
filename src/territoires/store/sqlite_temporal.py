"""The temporal evolution in the embedded backend: history rows in the tenant's own file,
written in the same transaction as the entity change they record.

- ``history_slots(slot, attr, dataset)``: the (attribute, datasetId) pairs of the tenant's
  series, numbered.
- ``history_entities(eid, entity, slots)``: the entities with a history, numbered, each with
  the JSON array of the slots of its series. A series number (``sid``) is ``eid * SLOTS +
  slot``: one row per entity, where a row per series cost as much to write as the first
  instance of the series itself.
- ``history(sid, ts, iid, num, kind, …)``: one row per recorded instance, WITHOUT ROWID and
  keyed by (series, time, number), so the instances of a series lie together in time order:
  reading a year of one sensor reads consecutive pages, and aggregating walks them once.
- ``history_kept(id, doc)``: entities deleted while their history is kept (their identity).
- ``history_counter(next)``: the next instance number (instance ids are never reused).
- ``series_days(sid, day, n, …)``: the per-day rollup (``temporal_common``) of the days
  before ``series_days_frontier(day)``, kept by every write of ``history`` there (an append
  adds the aggregates of its own rows, computed in Python by ``day_rollups``). Rows from the
  frontier on (the day being written: live measures, new entities) are not rolled up when
  written: aggregations read them raw, and the first write of a later day rolls up the days it
  leaves behind and moves the frontier. ``series_days_complete`` holds a row once the rollup
  covers the history before the frontier. A file whose history predates the rollup gets it
  filled by its first history write, and until then aggregations read the raw rows.

Aggregation over whole UTC days reads the rollup, and the raw rows of the partial days at
the range's ends (one statement). Other aggregations loop over the periods (a small temporary
table) and, for each, read the range of the series index: groups then arrive in order, with
no sort of the rows. Only when that would probe too many empty periods (a fine period over
sparse data) do they group by the period number, which sorts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from itertools import count
from typing import Any

import orjson

from territoires.ngsild.model import Entity, Instance
from territoires.store.port import (
    EntityQuery,
    HistoryInstance,
    NotSupported,
    QueryPage,
    TemporalPage,
    TemporalQuery,
    TimeRange,
    chunks,
)
from territoires.store.sqlite_rows import execute_rows
from territoires.store.staging import Staged
from territoires.store.temporal_common import (
    DAY,
    DAY_OF_ROW,
    ROW_COLUMNS,
    Buckets,
    Dialect,
    Row,
    SeriesKey,
    aggregate_sql,
    dataset_key,
    day_rollups,
    day_start,
    days_sql,
    instance_number,
    kept_identity,
    replacement_row,
    rollup_rows_sql,
    rollup_sql,
    run_temporal_query,
    time_column,
    time_filter,
    to_micros,
    whole_days,
)

# Series numbers per entity: a tenant holds fewer (attribute, datasetId) pairs than this, and
# fewer than 2**39 entities with a history.
SLOTS = 1 << 24

HISTORY_SCHEMA = """
CREATE TABLE IF NOT EXISTS history_slots(
    slot INTEGER PRIMARY KEY,
    attr TEXT NOT NULL,
    dataset TEXT NOT NULL,
    UNIQUE(attr, dataset)
);
CREATE TABLE IF NOT EXISTS history_entities(
    eid INTEGER PRIMARY KEY,
    entity TEXT NOT NULL UNIQUE,
    slots TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS history(
    sid INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    iid INTEGER NOT NULL,
    num,
    kind INTEGER NOT NULL,
    modified INTEGER,
    created INTEGER NOT NULL,
    deleted INTEGER,
    txt TEXT,
    doc TEXT,
    PRIMARY KEY(sid, ts, iid)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history_kept(id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS history_counter(next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS series_days(
    sid INTEGER NOT NULL,
    day INTEGER NOT NULL,
    n INTEGER NOT NULL,
    n_values INTEGER NOT NULL,
    total REAL,
    squares REAL,
    low,
    high,
    low_text TEXT,
    high_text TEXT,
    kind_low INTEGER,
    kind_high INTEGER,
    PRIMARY KEY(sid, day)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series_days_complete(done INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS series_days_frontier(day INTEGER NOT NULL);
"""

# Per-connection tables of an aggregation (executescript would commit the session: one by one).
_TEMP = (
    "CREATE TEMP TABLE IF NOT EXISTS history_sids(sid INTEGER PRIMARY KEY)",
    "CREATE TEMP TABLE IF NOT EXISTS history_bounds(k INTEGER PRIMARY KEY, lo INTEGER NOT NULL, hi INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS temp.history_bounds_by_lo ON history_bounds(lo)",
)
# The history rows of the (series, day) pairs of a JSON array parameter, as rollup_sql reads
# them, and their day (from the row: reading it from the JSON at each row costs three times more).
_PAIRS = (
    "FROM json_each(?) j JOIN history h ON h.sid = j.value ->> 0 AND h.ts >= j.value ->> 1 "
    f"AND h.ts < (j.value ->> 1) + {DAY} WHERE true"
)
# The history rows of the days in [?, ?), series by series through the history's key.
_DAYS = (f"FROM history_entities he CROSS JOIN json_each(he.slots) j CROSS JOIN history h "
         f"WHERE h.sid = he.eid * {SLOTS} + j.value AND h.ts >= ? AND h.ts < ?")
# The series of entity row ``e``, as ``history_condition`` reads them: ``hs.attr`` and ``h``.
SERIES_OF_ENTITY = (f"history_entities he CROSS JOIN json_each(he.slots) j JOIN history_slots hs ON hs.slot = j.value "
                    f"JOIN history h ON h.sid = he.eid * {SLOTS} + j.value WHERE he.entity = e.id")
# SQLite's float arithmetic overflows to infinity and underflows to zero by itself.
_SQL = Dialect("total", "h.num", "h.num * h.num")
_ADD_DAYS = rollup_rows_sql("sid, day")

# Statements bind at most this many parameters at once.
_CHUNK = 500
# Above this many (series x periods), aggregation groups by sorting rather than probing
# every period of every series (each probe of an empty period costs an index descent).
MAX_PROBES = 2_000_000


def number_series_by_entity(conn: sqlite3.Connection) -> None:
    """Layout 4: give the series of an older file (``history_series``, one row per series)
    their numbers by entity and slot, in the history and its rollup."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'history_series'").fetchone() is None:
        return
    conn.execute("INSERT INTO history_slots(attr, dataset) SELECT DISTINCT attr, dataset FROM history_series "
                 "ORDER BY attr, dataset")
    conn.execute("INSERT INTO history_entities(entity, slots) SELECT s.entity, json_group_array(l.slot) "
                 "FROM history_series s JOIN history_slots l USING (attr, dataset) GROUP BY s.entity ORDER BY min(s.sid)")
    conn.execute("CREATE TEMP TABLE series_numbers(old INTEGER PRIMARY KEY, new INTEGER NOT NULL)")
    conn.execute(f"INSERT INTO temp.series_numbers SELECT s.sid, e.eid * {SLOTS} + l.slot FROM history_series s "
                 "JOIN history_entities e USING (entity) JOIN history_slots l USING (attr, dataset)")
    for table in ("history", "series_days"):
        conn.execute(f"ALTER TABLE {table} RENAME TO {table}_numbered_by_series")
    for statement in filter(str.strip, HISTORY_SCHEMA.split(";")):  # the tables renamed away are made again
        conn.execute(statement)
    for table in ("history", "series_days"):
        rest = ", ".join(name for _, name, *_ in conn.execute(f"PRAGMA table_info({table})") if name != "sid")
        conn.execute(f"INSERT INTO {table}(sid, {rest}) SELECT n.new, {rest} FROM {table}_numbered_by_series t "
                     "JOIN temp.series_numbers n ON n.old = t.sid")
        conn.execute(f"DROP TABLE {table}_numbered_by_series")
    conn.execute("DROP TABLE history_series")
    conn.execute("DROP TABLE temp.series_numbers")


class SqliteTemporal:
    """The temporal part of ``SqliteSession`` (which provides ``conn``, ``query``
    and ``staged``)."""

    conn: sqlite3.Connection
    staged: Staged

    def query(self, query: EntityQuery) -> QueryPage:  # provided by the session
        raise NotImplementedError

    # ---- writing ------------------------------------------------------------------------
    def _sids(self, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
        """The series numbers of distinct (entity, attr, dataset) keys, creating missing series."""
        slots = self._slots({(attr, dataset) for _, attr, dataset in keys})
        wanted: dict[str, set[int]] = {}
        for entity, attr, dataset in keys:
            wanted.setdefault(entity, set()).add(slots[attr, dataset])
        entities = self._numbered(list(wanted))
        # Numbered here, as SQLite would (the session holds the write lock): no reading back.
        fresh = count(self._next("eid", "history_entities"))
        changed = []
        for entity, needed in wanted.items():
            eid, have = entities.get(entity) or (next(fresh), [])
            if not needed <= set(have):
                entities[entity] = (eid, sorted(needed.union(have)))
                changed.append((eid, entity, orjson.dumps(entities[entity][1]).decode()))
        execute_rows(self.conn, "INSERT INTO history_entities(eid, entity, slots) VALUES {rows} "
                                "ON CONFLICT(eid) DO UPDATE SET slots = excluded.slots", changed)
        return {key: entities[key[0]][0] * SLOTS + slots[key[1], key[2]] for key in keys}

    def _slots(self, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """The slot numbers of (attr, dataset) pairs, numbering missing ones."""
        found = self._slots_of_pairs(sorted(pairs))
        missing = sorted(pairs - found.keys())
        if missing:
            first = self._next("slot", "history_slots")
            if first + len(missing) > SLOTS:
                raise NotSupported(f"this tenant's history holds {SLOTS - 1:,} (attribute, datasetId) pairs, "
                                   "the most the embedded store numbers")
            created = {pair: first + n for n, pair in enumerate(missing)}
            execute_rows(self.conn, "INSERT INTO history_slots(slot, attr, dataset) VALUES {rows}",
                         [(slot, *pair) for pair, slot in created.items()])
            found.update(created)
        return found

    def _slots_of_pairs(self, pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """The slots of those of these (attr, dataset) pairs that have one."""
        rows = self.conn.execute(
            "SELECT s.slot, s.attr, s.dataset FROM json_each(?) j CROSS JOIN history_slots s "
            "ON s.attr = j.value ->> 0 AND s.dataset = j.value ->> 1", (orjson.dumps(pairs).decode(),))
        return {(attr, dataset): slot for slot, attr, dataset in rows}

    def _pairs_of_slots(self, slots: Sequence[int]) -> dict[int, tuple[str, str]]:
        """The (attr, dataset) pairs of these slots."""
        found = {}
        for part in _chunks(slots):
            rows = self.conn.execute(
                f"SELECT slot, attr, dataset FROM history_slots WHERE slot IN ({','.join('?' * len(part))})", part)
            found.update({slot: (attr, dataset) for slot, attr, dataset in rows})
        return found

    def _numbered(self, entity_ids: Sequence[str]) -> dict[str, tuple[int, list[int]]]:
        """The number and the slots of the entities with a history among ``entity_ids``."""
        found = {}
        for part in _chunks(entity_ids):
            rows = self.conn.execute(
                f"SELECT entity, eid, slots FROM history_entities WHERE entity IN ({','.join('?' * len(part))})", part)
            found.update({entity: (eid, orjson.loads(slots)) for entity, eid, slots in rows})
        return found

    def _next(self, column: str, table: str) -> int:
        return self.conn.execute(f"SELECT coalesce(max({column}), 0) + 1 FROM {table}").fetchone()[0]

    def _reserve(self, count: int) -> int:
        """The first of ``count`` new instance numbers."""
        row = self.conn.execute(
            "UPDATE history_counter SET next = next + ? RETURNING next - ?", (count, count)
        ).fetchone()
        if row is None:
            self.conn.execute("INSERT INTO history_counter(next) VALUES (?)", (count + 1,))
            return 1
        return row[0]

    def _complete_rollup(self) -> None:
        """Fill the rollup of a file whose history predates it (once: in its first history write)."""
        if self.conn.execute("SELECT 1 FROM series_days_complete").fetchone() is None:
            self.conn.execute("DELETE FROM series_days")  # whatever it holds, the history decides
            self.conn.execute(rollup_sql(DAY_OF_ROW, "FROM history h WHERE true", _SQL))
            self.conn.execute("INSERT INTO series_days_complete(done) VALUES (1)")

    def _frontier(self, written_at: int) -> int:
        """The first day the rollup leaves out, once a write at ``written_at`` moved it to that
        day: the days left behind are rolled up, series by series."""
        self._complete_rollup()
        frontier = self._read_frontier()
        if frontier is not None and day_start(written_at) <= frontier:
            return frontier
        today = day_start(written_at)
        if frontier is None:  # the rollup covers every day so far: it gives up those from today on
            self.conn.execute("DELETE FROM series_days WHERE day >= ?", (today,))
            self.conn.execute("INSERT INTO series_days_frontier(day) VALUES (?)", (today,))
        else:
            self.conn.execute(rollup_sql(DAY_OF_ROW, _DAYS, _SQL), (frontier, today))
            self.conn.execute("UPDATE series_days_frontier SET day = ?", (today,))
        return today

    def _recount(self, pairs: set[tuple[int, int]]) -> None:
        """Compute again from the history the rollup rows of these (series, day) pairs (those
        the rollup keeps: before the frontier). The caller completed the rollup first."""
        frontier = self._read_frontier()
        pairs = {(sid, day) for sid, day in pairs if frontier is None or day < frontier}
        if not pairs:
            return
        payload = orjson.dumps(sorted(pairs)).decode()
        self.conn.execute("DELETE FROM series_days WHERE (sid, day) IN "
                          "(SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?) j)", (payload,))
        self.conn.execute(rollup_sql(DAY_OF_ROW, _PAIRS, _SQL), (payload,))

    def append_history(self, instances: Sequence[HistoryInstance]) -> None:
        if not instances:
            return
        frontier = self._frontier(max(to_micros(i.modified_at) for i in instances))
        keys = [(i.entity_id, i.attr, dataset_key(i.instance.get("datasetId"))) for i in instances]
        sids = self._sids(list(dict.fromkeys(keys)))
        first = self._reserve(len(instances))
        rows = [(sids[key], ts, first + n, num, kind, modified, created, deleted, txt, doc)
                for n, (key, (ts, modified, created, deleted, kind, num, txt, doc))
                in enumerate(zip(keys, self.staged.history_rows(instances), strict=True))]
        execute_rows(self.conn, "INSERT INTO history(sid, ts, iid, num, kind, modified, created, deleted, txt, doc) "
                                "VALUES {rows}", rows)
        execute_rows(self.conn, _ADD_DAYS, day_rollups((row[0], row[1], row[4], row[3], row[8]) for row in rows
                                                     if frontier is None or row[1] < frontier))

    def delete_history(
        self, entity_id: str, attr: str | None = None, dataset_id: str | None = None, all_datasets: bool = False
    ) -> int:
        if attr is None:
            self.conn.execute("DELETE FROM history_kept WHERE id = ?", (entity_id,))
        self._complete_rollup()
        numbered = self._numbered([entity_id]).get(entity_id)
        if numbered is None:
            return 0
        eid, slots = numbered
        pairs = self._pairs_of_slots(slots)
        doomed = [slot for slot in slots if attr is None or (
            pairs[slot][0] == attr and (all_datasets or pairs[slot][1] == dataset_key(dataset_id)))]
        deleted = 0
        for slot in doomed:
            sid = eid * SLOTS + slot
            deleted += self.conn.execute("DELETE FROM history WHERE sid = ?", (sid,)).rowcount
            self.conn.execute("DELETE FROM series_days WHERE sid = ?", (sid,))
        left = [slot for slot in slots if slot not in doomed]
        if left:
            self.conn.execute("UPDATE history_entities SET slots = ? WHERE eid = ?", (orjson.dumps(left).decode(), eid))
        else:
            self.conn.execute("DELETE FROM history_entities WHERE eid = ?", (eid,))
        return deleted

    def _find(self, entity_id: str, attr: str, instance_id: str) -> tuple[int, int, int] | None:
        """(sid, ts, iid) of an instance of the entity's attribute."""
        iid = instance_number(instance_id)
        if iid is None:
            return None
        return self.conn.execute(
            "SELECT h.sid, h.ts, h.iid FROM history_entities he CROSS JOIN history_slots hs CROSS JOIN history h "
            f"WHERE he.entity = ? AND hs.attr = ? AND h.sid = he.eid * {SLOTS} + hs.slot AND h.iid = ?",
            (entity_id, attr, iid),
        ).fetchone()

    def replace_instance(self, entity_id: str, attr: str, instance_id: str, instance: Instance) -> bool:
        found = self._find(entity_id, attr, instance_id)
        if found is None:
            return False
        sid, ts, iid = found
        deleted = self.conn.execute(
            "SELECT deleted FROM history WHERE sid = ? AND ts = ? AND iid = ?", found
        ).fetchone()[0]
        row = replacement_row(entity_id, attr, instance, deleted)
        self._complete_rollup()
        self.conn.execute(
            "UPDATE history SET ts = ?, num = ?, kind = ?, modified = ?, created = ?, txt = ?, doc = ? "
            "WHERE sid = ? AND ts = ? AND iid = ?",
            (row.ts, row.num, row.kind, row.modified, row.created, row.txt, row.doc, sid, ts, iid),
        )
        self._recount({(sid, day_start(ts)), (sid, day_start(row.ts))})
        return True

    def delete_instance(self, entity_id: str, attr: str, instance_id: str) -> bool:
        found = self._find(entity_id, attr, instance_id)
        if found is None:
            return False
        self._complete_rollup()
        self.conn.execute("DELETE FROM history WHERE sid = ? AND ts = ? AND iid = ?", found)
        self._recount({(found[0], day_start(found[1]))})
        return True

    def keep_deleted_entities(self, entities: Sequence[Entity], deleted_at: str) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO history_kept(id, doc) VALUES (?, ?)",
            [(e["id"], orjson.dumps(kept_identity(e, deleted_at)).decode()) for e in entities],
        )

    # ---- reading ------------------------------------------------------------------------
    def temporal_query(self, query: TemporalQuery) -> TemporalPage:
        return run_temporal_query(self, query)

    def kept_entities(self, ids: Sequence[str]) -> list[Entity]:
        found = {}
        for part in _chunks(ids):
            marks = ",".join("?" * len(part))
            rows = self.conn.execute(f"SELECT id, doc FROM history_kept WHERE id IN ({marks})", tuple(part))
            found.update((eid, orjson.loads(doc)) for eid, doc in rows)
        return [found[i] for i in ids if i in found]

    def kept_entity_ids(self, after: str | None, limit: int) -> list[str]:
        rows = self.conn.execute("SELECT id FROM history_kept WHERE id > ? ORDER BY id LIMIT ?", (after or "", limit))
        return [eid for (eid,) in rows]

    def series_of(self, entity_ids: Sequence[str], attrs: Sequence[str], datasets: Sequence[str] | None) -> list[SeriesKey]:
        numbered = self._numbered(entity_ids)
        pairs = self._pairs_of_slots(sorted({slot for _, slots in numbered.values() for slot in slots}))
        keys = sorted((entity, *pairs[slot], eid * SLOTS + slot) for entity, (eid, slots) in numbered.items()
                      for slot in slots if (not attrs or pairs[slot][0] in attrs)
                      and (datasets is None or pairs[slot][1] in datasets))
        return [SeriesKey(sid, entity, attr, dataset or None) for entity, attr, dataset, sid in keys]

    def fetch_instances(
        self, keys: Sequence[SeriesKey], time: TimeRange, take: int, backwards: bool
    ) -> dict[int, list[tuple[int, int, Row]]]:
        column = time_column(time)
        terms, params = time_filter(time, "?")
        direction = "DESC" if backwards else "ASC"
        sql = (
            f"SELECT h.iid, {column}, {ROW_COLUMNS} FROM history h WHERE h.sid = ? "
            f"{''.join(' AND ' + t for t in terms)} ORDER BY {column} {direction}, h.iid {direction} LIMIT ?"
        )
        found = {}
        for key in keys:
            rows = self.conn.execute(sql, (key.sid, *params, take)).fetchall()
            if rows:
                found[key.sid] = [(iid, t, Row(*rest)) for iid, t, *rest in rows]
        return found

    def time_span(self, keys: Sequence[SeriesKey], time: TimeRange) -> tuple[int | None, int | None]:
        column = time_column(time)
        terms, params = time_filter(time, "?")
        where = f"h.sid = ? {''.join(' AND ' + t for t in terms)}"
        first: int | None = None
        last: int | None = None
        for key in keys:  # per series, each an index probe at either end
            low = self.conn.execute(
                f"SELECT {column} FROM history h WHERE {where} ORDER BY {column} LIMIT 1", (key.sid, *params)
            ).fetchone()
            if low is None:
                continue
            high = self.conn.execute(
                f"SELECT {column} FROM history h WHERE {where} ORDER BY {column} DESC LIMIT 1", (key.sid, *params)
            ).fetchone()
            first = low[0] if first is None else min(first, low[0])
            last = high[0] if last is None else max(last, high[0])
        return first, last

    def aggregate(
        self, keys: Sequence[SeriesKey], time: TimeRange, buckets: Buckets, until: int, names: Sequence[str]
    ) -> dict[int, list[tuple[Any, ...]]]:
        column = time_column(time)
        terms, params = time_filter(time, "?")
        extra = "".join(" AND " + t for t in terms)
        aggregates = aggregate_sql(names, _SQL)
        if not _has_temp(self.conn):
            for statement in _TEMP:
                self.conn.execute(statement)
        self.conn.execute("DELETE FROM temp.history_sids")
        self.conn.executemany("INSERT INTO temp.history_sids(sid) VALUES (?)", [(k.sid,) for k in keys])
        periods = buckets.count(until)
        days = whole_days(time, buckets, until, names, self._read_frontier()) if self._rollup_complete() else None
        if days is not None:
            if not buckets.step:
                self._fill_bounds(buckets, periods)
            sql = days_sql(days, names, _SQL, _period(buckets), lambda sid: f"{sid} IN (SELECT sid FROM temp.history_sids)",
                           lambda name: f":{name}")
            rows = self.conn.execute(sql, {**days.params(), "origin": buckets.origin, "step": buckets.step})
        elif buckets.step and (column != "h.ts" or periods * len(keys) > MAX_PROBES):
            sql = (
                f"SELECT h.sid, ({column} - ?) / ? AS k, {aggregates} FROM temp.history_sids s "
                f"JOIN history h ON h.sid = s.sid WHERE {column} >= ? AND {column} <= ?{extra} "
                "GROUP BY h.sid, k ORDER BY h.sid, k"
            )
            rows = self.conn.execute(sql, (buckets.origin, buckets.step, buckets.origin, until, *params))
        else:
            self._fill_bounds(buckets, periods)
            # CROSS JOIN keeps this loop order: series, then periods, then the rows of each.
            sql = (
                f"SELECT s.sid, b.k, {aggregates} FROM temp.history_sids s CROSS JOIN temp.history_bounds b "
                f"CROSS JOIN history h WHERE h.sid = s.sid AND {column} >= b.lo AND {column} < b.hi "
                f"AND {column} <= ?{extra} GROUP BY s.sid, b.k"
            )
            rows = self.conn.execute(sql, (until, *params))
        found: dict[int, list[tuple[Any, ...]]] = {}
        for sid, *rest in rows:
            found.setdefault(sid, []).append(tuple(rest))
        return found

    def _read_frontier(self) -> int | None:
        """The first day the rollup leaves out (None: a file that has not written history since
        the frontier exists, whose rollup covers every day)."""
        row = self.conn.execute("SELECT day FROM series_days_frontier").fetchone()
        return None if row is None else row[0]

    def _rollup_complete(self) -> bool:
        """Whether the per-day rollup covers the whole history (aggregations may read it)."""
        return self.conn.execute("SELECT 1 FROM series_days_complete").fetchone() is not None

    def _fill_bounds(self, buckets: Buckets, periods: int) -> None:
        self.conn.execute("DELETE FROM temp.history_bounds")
        if buckets.step:
            self.conn.execute(
                "INSERT INTO temp.history_bounds(k, lo, hi) WITH RECURSIVE n(k) AS "
                "(SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k + 1 < ?) "
                "SELECT k, ? + k * ?, ? + (k + 1) * ? FROM n",
                (periods, buckets.origin, buckets.step, buckets.origin, buckets.step),
            )
        else:
            self.conn.executemany(
                "INSERT INTO temp.history_bounds(k, lo, hi) VALUES (?, ?, ?)",
                [(k, lo, hi) for k, (lo, hi) in enumerate(zip(buckets.bounds, buckets.bounds[1:]))],
            )


def _period(buckets: Buckets) -> Callable[[str], str]:
    """The period number of a time column, as ``days_sql`` asks (named parameters)."""
    if buckets.step:
        return lambda column: f"({column} - :origin) / :step"
    return lambda column: f"(SELECT b.k FROM temp.history_bounds b WHERE b.lo <= {column} ORDER BY b.lo DESC LIMIT 1)"


def _has_temp(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM temp.sqlite_master WHERE name = 'history_bounds_by_lo'").fetchone() is not None


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    return chunks(items, _CHUNK)

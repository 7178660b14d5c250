"""The temporal evolution in the embedded backend: history rows in the tenant's own file,
written in the same transaction as the entity change they record.

- ``history_series(sid, entity, attr, dataset)``: one row per attribute instance series.
- ``history(sid, ts, iid, num, kind, …)``: one row per recorded instance, WITHOUT ROWID and
  keyed by (series, time, number), so the instances of a series lie together in time order:
  reading a year of one sensor reads consecutive pages, and aggregating walks them once.
- ``history_kept(id, doc)``: entities deleted while their history is kept (their identity).
- ``history_counter(next)``: the next instance number (instance ids are never reused).

Aggregation loops over the periods (a small temporary table) and, for each, reads the range
of the series index: groups then arrive in order, with no sort of the rows. Only when that
would probe too many empty periods (a fine period over sparse data) does it group by the
period number, which sorts.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from territoires.ngsild.model import Entity, Instance
from territoires.store.port import (
    EntityQuery,
    HistoryInstance,
    QueryPage,
    TemporalPage,
    TemporalQuery,
    TimeRange,
    chunks,
)
from territoires.store.temporal_common import (
    ROW_COLUMNS,
    Buckets,
    Row,
    SeriesKey,
    aggregate_sql,
    dataset_key,
    instance_number,
    kept_identity,
    replacement_row,
    run_temporal_query,
    time_column,
    time_filter,
    to_row,
)

HISTORY_SCHEMA = """
CREATE TABLE IF NOT EXISTS history_series(
    sid INTEGER PRIMARY KEY,
    entity TEXT NOT NULL,
    attr TEXT NOT NULL,
    dataset TEXT NOT NULL,
    UNIQUE(entity, attr, dataset)
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
"""

# Per-connection tables of an aggregation (executescript would commit the session: one by one).
_TEMP = (
    "CREATE TEMP TABLE IF NOT EXISTS history_sids(sid INTEGER PRIMARY KEY)",
    "CREATE TEMP TABLE IF NOT EXISTS history_bounds(k INTEGER PRIMARY KEY, lo INTEGER NOT NULL, hi INTEGER NOT NULL)",
)

# Statements bind at most this many parameters at once.
_CHUNK = 500
# Above this many (series x periods), aggregation groups by sorting rather than probing
# every period of every series (each probe of an empty period costs an index descent).
MAX_PROBES = 2_000_000


class SqliteTemporal:
    """The temporal part of ``SqliteSession`` (which provides ``conn`` and ``query``)."""

    conn: sqlite3.Connection

    def query(self, query: EntityQuery) -> QueryPage:  # provided by the session
        raise NotImplementedError

    # ---- writing ------------------------------------------------------------------------
    def _sids(self, keys: Sequence[tuple[str, str, str]], *, create: bool) -> dict[tuple[str, str, str], int]:
        """The series numbers of (entity, attr, dataset) keys; missing series are created
        when ``create``, else left out."""
        found: dict[tuple[str, str, str], int] = {}
        for part in _chunks(keys):
            rows = self.conn.execute(
                "SELECT s.sid, s.entity, s.attr, s.dataset FROM json_each(?) j JOIN history_series s "
                "ON s.entity = json_extract(j.value, '$[0]') AND s.attr = json_extract(j.value, '$[1]') "
                "AND s.dataset = json_extract(j.value, '$[2]')",
                (orjson.dumps(part).decode(),),
            )
            found.update(((entity, attr, dataset), sid) for sid, entity, attr, dataset in rows)
        missing = [key for key in keys if key not in found]
        if create and missing:
            self.conn.executemany("INSERT INTO history_series(entity, attr, dataset) VALUES (?, ?, ?)", missing)
            found.update(self._sids(missing, create=False))
        return found

    def _reserve(self, count: int) -> int:
        """The first of ``count`` new instance numbers."""
        row = self.conn.execute(
            "UPDATE history_counter SET next = next + ? RETURNING next - ?", (count, count)
        ).fetchone()
        if row is None:
            self.conn.execute("INSERT INTO history_counter(next) VALUES (?)", (count + 1,))
            return 1
        return row[0]

    def append_history(self, instances: Sequence[HistoryInstance]) -> None:
        if not instances:
            return
        keys = [(i.entity_id, i.attr, dataset_key(i.instance.get("datasetId"))) for i in instances]
        sids = self._sids(list(dict.fromkeys(keys)), create=True)
        first = self._reserve(len(instances))
        rows = []
        for n, (item, key) in enumerate(zip(instances, keys, strict=True)):
            row = to_row(item)
            rows.append((sids[key], row.ts, first + n, row.num, row.kind, row.modified, row.created, row.deleted,
                         row.txt, row.doc))
        self.conn.executemany(
            "INSERT INTO history(sid, ts, iid, num, kind, modified, created, deleted, txt, doc) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def delete_history(
        self, entity_id: str, attr: str | None = None, dataset_id: str | None = None, all_datasets: bool = False
    ) -> int:
        where, params = "entity = ?", [entity_id]
        if attr is not None:
            where += " AND attr = ?"
            params.append(attr)
            if not all_datasets:
                where += " AND dataset = ?"
                params.append(dataset_key(dataset_id))
        else:
            self.conn.execute("DELETE FROM history_kept WHERE id = ?", (entity_id,))
        sids = [sid for (sid,) in self.conn.execute(f"SELECT sid FROM history_series WHERE {where}", params)]
        deleted = 0
        for sid in sids:
            deleted += self.conn.execute("DELETE FROM history WHERE sid = ?", (sid,)).rowcount
            self.conn.execute("DELETE FROM history_series WHERE sid = ?", (sid,))
        return deleted

    def _find(self, entity_id: str, attr: str, instance_id: str) -> tuple[int, int, int] | None:
        """(sid, ts, iid) of an instance of the entity's attribute."""
        iid = instance_number(instance_id)
        if iid is None:
            return None
        return self.conn.execute(
            "SELECT h.sid, h.ts, h.iid FROM history_series s JOIN history h ON h.sid = s.sid "
            "WHERE s.entity = ? AND s.attr = ? AND h.iid = ?",
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
        self.conn.execute(
            "UPDATE history SET ts = ?, num = ?, kind = ?, modified = ?, created = ?, txt = ?, doc = ? "
            "WHERE sid = ? AND ts = ? AND iid = ?",
            (row.ts, row.num, row.kind, row.modified, row.created, row.txt, row.doc, sid, ts, iid),
        )
        return True

    def delete_instance(self, entity_id: str, attr: str, instance_id: str) -> bool:
        found = self._find(entity_id, attr, instance_id)
        if found is None:
            return False
        self.conn.execute("DELETE FROM history WHERE sid = ? AND ts = ? AND iid = ?", found)
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

    def series_of(self, entity_ids: Sequence[str], attrs: Sequence[str]) -> list[SeriesKey]:
        keys = []
        for part in _chunks(entity_ids):
            sql = f"SELECT sid, entity, attr, dataset FROM history_series WHERE entity IN ({','.join('?' * len(part))})"
            params = list(part)
            if attrs:
                sql += f" AND attr IN ({','.join('?' * len(attrs))})"
                params.extend(attrs)
            keys.extend(SeriesKey(sid, e, a, d or None) for sid, e, a, d in self.conn.execute(sql, params))
        return keys

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
        aggregates = aggregate_sql(names, "total")
        if not _has_temp(self.conn):
            for statement in _TEMP:
                self.conn.execute(statement)
        self.conn.execute("DELETE FROM temp.history_sids")
        self.conn.executemany("INSERT INTO temp.history_sids(sid) VALUES (?)", [(k.sid,) for k in keys])
        periods = buckets.count(until)
        if buckets.step and (column != "h.ts" or periods * len(keys) > MAX_PROBES):
            sql = (
                f"SELECT h.sid, ({column} - ?) / ? AS k, {aggregates} FROM temp.history_sids s "
                f"JOIN history h ON h.sid = s.sid WHERE {column} >= ? AND {column} <= ?{extra} "
                "GROUP BY h.sid, k ORDER BY h.sid, k"
            )
            rows = self.conn.execute(sql, (buckets.origin, buckets.step, buckets.origin, until, *params))
        else:
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


def _has_temp(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM temp.sqlite_master WHERE name = 'history_bounds'").fetchone() is not None


def _chunks(items: Sequence[Any]) -> Iterator[Sequence[Any]]:
    return chunks(items, _CHUNK)

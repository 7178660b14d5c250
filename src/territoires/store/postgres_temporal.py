"""The temporal evolution in the PostgreSQL backend (tables of migration 0003: series,
time-partitioned history rows, kept entities; of 0012: the per-day rollup ``series_days``;
all under the tenant's row-level security).

Writes go in the entity write's transaction: a few rows as one JSON array that one statement
splits into history and rollup rows (per-row parameters cost the driver several times more),
a batch through ``COPY`` into a per-connection staging table and one ``INSERT … SELECT``
(row-level security forbids ``COPY`` into the protected table). Instance numbers come from
the table's sequence. Reads take each series by its (tenant, sid, ts) index in a LATERAL
subquery; aggregation is one ``GROUP BY`` over (series, period number), the period number
computed from the integer times (``width_bucket`` over the bounds for calendar periods), over
the rollup rows of the whole days and the raw rows of partial ones when the periods are made
of whole UTC days. The rollup keeps the days before the tenant's frontier
(``series_days_frontier``, migration 0015): appends add their batch's aggregates of those days
to it (one upsert), edits compute the rows of the days they touch again. Rows from the
frontier on (the day being written: live measures, new entities) are not rolled up when
written; aggregations read them raw, and the first write of a later day rolls up the days it
leaves behind and moves the frontier.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import psycopg

from territoires.ngsild.model import Entity, Instance
from territoires.store.port import (
    EntityQuery,
    HistoryInstance,
    QueryPage,
    TemporalPage,
    TemporalQuery,
    TimeRange,
)
from territoires.store.postgres_json import float8, json_array
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
    day_start,
    days_sql,
    instance_number,
    kept_identity,
    replacement_row,
    rollup_sql,
    run_temporal_query,
    time_column,
    time_filter,
    to_micros,
    whole_days,
)

# From this many instances, a write goes through COPY. Below, one JSON statement costs less
# than the staging's three more round trips and the staging table's truncation at commit
# (measured: rounds of 16 new streetlights, 128 instances, wrote 20-35 % faster than through
# COPY; from about 500 instances the two are even).
BULK_ROWS = 256
_COLUMNS = "sid, ts, num, kind, modified, created, deleted, txt, doc"
_STAGING = (
    "CREATE TEMPORARY TABLE IF NOT EXISTS staged_history (sid bigint, ts bigint, num float8, kind smallint, "
    'modified bigint, created bigint, deleted bigint, txt text COLLATE "C", doc jsonb, day bigint) '
    "ON COMMIT DELETE ROWS"
)
# PostgreSQL's float arithmetic raises on overflow and underflow: past these bounds a number
# counts as infinite in sums (its square as 0 when tiny), so that no write nor aggregation
# fails on an extreme value (migration 0012 spells them the same).
_SQL = Dialect(
    "sum",
    "CASE WHEN abs(h.num) > 1e300 THEN sign(h.num) * 'Infinity'::float8 ELSE h.num END",
    "CASE WHEN abs(h.num) < 1e-150 THEN 0 WHEN abs(h.num) > 1e150 THEN 'Infinity'::float8 ELSE h.num * h.num END",
)
# The rollup rows of a batch, from its staged rows of the days before the frontier (%s).
_ADD_STAGED = rollup_sql("h.day", "FROM staged_history h WHERE h.day < %s", _SQL, "tenant, sid, day")
# A few rows: one JSON array of rows (``_few_rows``), added to the history in the given order
# (instance numbers follow it) and, those of the days before the frontier (%s), to the rollup,
# in one statement.
_ADD_FEW = (
    "WITH h AS (SELECT (j->>0)::bigint AS sid, (j->>1)::bigint AS ts, (j->>2)::float8 AS num, "
    "(j->>3)::smallint AS kind, (j->>4)::bigint AS modified, (j->>5)::bigint AS created, "
    "(j->>6)::bigint AS deleted, (j->>7) COLLATE \"C\" AS txt, NULLIF(j->8, 'null') AS doc, (j->>9)::bigint AS day, n "
    "FROM jsonb_array_elements(%s::jsonb) WITH ORDINALITY AS r(j, n)), "
    f"added AS (INSERT INTO history ({_COLUMNS}) SELECT {_COLUMNS} FROM h ORDER BY n) "
    + rollup_sql("h.day", "FROM h WHERE h.day < %s", _SQL, "tenant, sid, day")
)
# The series of (entity, attr, dataset) keys given as one JSON array, missing ones created.
# The keys are read into a materialized CTE (see postgres_json) and each is one probe of the
# unique index, a subplan that PostgreSQL plans so even from an empty table's statistics:
# matching a range of entities instead, the plan it cached while the table was empty read the
# tenant's every series (11 ms a round of 16 new streetlights after 1,600 of them).
SERIES = (
    "WITH w AS MATERIALIZED (SELECT j->>0 AS entity, j->>1 AS attr, j->>2 AS dataset "
    "FROM jsonb_array_elements(%s::jsonb) j), "
    "found AS (SELECT w.*, (SELECT sid FROM history_series s WHERE s.entity = w.entity AND s.attr = w.attr "
    "AND s.dataset = w.dataset) AS sid FROM w), "
    "added AS (INSERT INTO history_series (entity, attr, dataset) SELECT entity, attr, dataset FROM found "
    "WHERE sid IS NULL RETURNING sid, entity, attr, dataset) "
    "SELECT sid, entity, attr, dataset FROM found WHERE sid IS NOT NULL UNION ALL SELECT * FROM added"
)
_FRONTIER = "SELECT day FROM series_days_frontier"
# The series of entity row ``e``, as ``history_condition`` reads them: ``hs.attr`` and ``h``.
SERIES_OF_ENTITY = "history_series hs JOIN history h ON h.sid = hs.sid WHERE hs.entity = e.id"
# The rollup rows of the days in [%s, %s), from the history.
_ROLL_UP_DAYS = rollup_sql(DAY_OF_ROW.replace("%", "%%"), "FROM history h WHERE h.ts >= %s AND h.ts < %s", _SQL)
# The rollup row of one series and day, computed from the history (series, day, day, day + 1).
_RECOUNT = rollup_sql("%s::bigint", "FROM history h WHERE h.sid = %s AND h.ts >= %s AND h.ts < %s", _SQL)
_staged: weakref.WeakSet[psycopg.Connection] = weakref.WeakSet()


class PostgresTemporal:
    """The temporal part of ``PostgresSession`` (which provides ``conn``, ``query``
    and ``staged``)."""

    conn: psycopg.Connection
    staged: Staged

    def query(self, query: EntityQuery) -> QueryPage:  # provided by the session
        raise NotImplementedError

    # ---- writing ------------------------------------------------------------------------
    def _series(self, keys: Sequence[tuple[str, str, str]]) -> tuple[dict[tuple[str, str, str], int], int | None]:
        """The series numbers of (entity, attr, dataset) keys, creating missing series, and
        the stored frontier, in one round trip."""
        with self.conn.pipeline():
            series = self.conn.execute(SERIES, (json_array(keys),))
            stored = self.conn.execute(_FRONTIER)
        sids = {(e, a, d): sid for sid, e, a, d in series.fetchall()}
        row = stored.fetchone()
        return sids, None if row is None else row[0]

    def _read_frontier(self) -> int | None:
        """The first day the rollup leaves out (None: it covers every day)."""
        row = self.conn.execute(_FRONTIER).fetchone()
        return None if row is None else row[0]

    def _frontier(self, stored: int | None, written_at: int) -> int:
        """The first day the rollup leaves out once a write at ``written_at`` moved it from
        ``stored``: the days left behind are rolled up."""
        today = day_start(written_at)
        if stored is not None and today <= stored:
            return stored
        if stored is None:  # the rollup covers every day so far: it gives up those from today on
            self.conn.execute("DELETE FROM series_days WHERE day >= %s", (today,))
            self.conn.execute("INSERT INTO series_days_frontier (day) VALUES (%s)", (today,))
        else:
            self.conn.execute(_ROLL_UP_DAYS, (stored, today))
            self.conn.execute("UPDATE series_days_frontier SET day = %s", (today,))
        return today

    def append_history(self, instances: Sequence[HistoryInstance]) -> None:
        if not instances:
            return
        keys = [(i.entity_id, i.attr, dataset_key(i.instance.get("datasetId"))) for i in instances]
        sids, stored = self._series(list(dict.fromkeys(keys)))
        frontier = self._frontier(stored, max(to_micros(i.modified_at) for i in instances))
        rows = [(sids[key], ts, num, kind, modified, created, deleted, txt, doc, day_start(ts))
                for key, (ts, modified, created, deleted, kind, num, txt, doc)
                in zip(keys, self.staged.history_rows(instances), strict=True)]
        cur = self.conn.cursor()
        if len(rows) < BULK_ROWS:
            cur.execute(_ADD_FEW, (_few_rows(rows), frontier))
            return
        if self.conn not in _staged:
            cur.execute(_STAGING)
            _staged.add(self.conn)
        with cur.copy(f"COPY staged_history ({_COLUMNS}, day) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(f"INSERT INTO history ({_COLUMNS}) SELECT {_COLUMNS} FROM staged_history")
        cur.execute(_ADD_STAGED, (frontier,))
        cur.execute("DELETE FROM staged_history")  # a session may write again before it commits

    def delete_history(
        self, entity_id: str, attr: str | None = None, dataset_id: str | None = None, all_datasets: bool = False
    ) -> int:
        where, params = "entity = %s", [entity_id]
        if attr is not None:
            where += " AND attr = %s"
            params.append(attr)
            if not all_datasets:
                where += " AND dataset = %s"
                params.append(dataset_key(dataset_id))
        else:
            self.conn.execute("DELETE FROM history_kept WHERE id = %s", (entity_id,))
        sids = [sid for (sid,) in self.conn.execute(
            f"DELETE FROM history_series WHERE {where} RETURNING sid", params
        ).fetchall()]
        if not sids:
            return 0
        self.conn.execute("DELETE FROM series_days WHERE sid = ANY(%s)", (sids,))
        return self.conn.execute("DELETE FROM history WHERE sid = ANY(%s)", (sids,)).rowcount

    def _find(self, entity_id: str, attr: str, instance_id: str) -> tuple[int, int, int | None, int] | None:
        """(sid, iid, deleted, ts) of an instance of the entity's attribute."""
        iid = instance_number(instance_id)
        if iid is None:
            return None
        return self.conn.execute(
            "SELECT h.sid, h.iid, h.deleted, h.ts FROM history_series s JOIN history h ON h.sid = s.sid "
            "WHERE s.entity = %s AND s.attr = %s AND h.iid = %s",
            (entity_id, attr, iid),
        ).fetchone()

    def _recount(self, sid: int, days: set[int]) -> None:
        """Compute again from the history the rollup rows of these days of a series (those the
        rollup keeps: before the frontier)."""
        frontier = self._read_frontier()
        for day in days:
            if frontier is not None and day >= frontier:
                continue
            self.conn.execute("DELETE FROM series_days WHERE sid = %s AND day = %s", (sid, day))
            self.conn.execute(_RECOUNT, (day, sid, day, day + DAY))

    def replace_instance(self, entity_id: str, attr: str, instance_id: str, instance: Instance) -> bool:
        found = self._find(entity_id, attr, instance_id)
        if found is None:
            return False
        sid, iid, deleted, ts = found
        row = replacement_row(entity_id, attr, instance, deleted)
        self.conn.execute(
            "UPDATE history SET ts = %s, num = %s, kind = %s, modified = %s, created = %s, txt = %s, "
            "doc = %s::jsonb WHERE sid = %s AND iid = %s",
            (row.ts, row.num, row.kind, row.modified, row.created, row.txt, row.doc, sid, iid),
        )
        self._recount(sid, {day_start(ts), day_start(row.ts)})
        return True

    def delete_instance(self, entity_id: str, attr: str, instance_id: str) -> bool:
        found = self._find(entity_id, attr, instance_id)
        if found is None:
            return False
        self.conn.execute("DELETE FROM history WHERE sid = %s AND iid = %s", found[:2])
        self._recount(found[0], {day_start(found[3])})
        return True

    def keep_deleted_entities(self, entities: Sequence[Entity], deleted_at: str) -> None:
        if entities:
            self.conn.cursor().executemany(
                "INSERT INTO history_kept (id, doc) VALUES (%s, %s::jsonb) "
                "ON CONFLICT (tenant, id) DO UPDATE SET doc = excluded.doc",
                [(e["id"], orjson.dumps(kept_identity(e, deleted_at)).decode()) for e in entities],
            )

    # ---- reading ------------------------------------------------------------------------
    def temporal_query(self, query: TemporalQuery) -> TemporalPage:
        return run_temporal_query(self, query)

    def kept_entities(self, ids: Sequence[str]) -> list[Entity]:
        found = dict(self.conn.execute("SELECT id, doc FROM history_kept WHERE id = ANY(%s)", (list(ids),)).fetchall())
        return [found[i] for i in ids if i in found]

    def kept_entity_ids(self, after: str | None, limit: int) -> list[str]:
        rows = self.conn.execute("SELECT id FROM history_kept WHERE id > %s ORDER BY id LIMIT %s", (after or "", limit))
        return [eid for (eid,) in rows.fetchall()]

    def series_of(self, entity_ids: Sequence[str], attrs: Sequence[str], datasets: Sequence[str] | None) -> list[SeriesKey]:
        sql = "SELECT sid, entity, attr, dataset FROM history_series WHERE entity = ANY(%s)"
        params: list[Any] = [list(entity_ids)]
        if attrs:
            sql += " AND attr = ANY(%s)"
            params.append(list(attrs))
        if datasets is not None:
            sql += " AND dataset = ANY(%s)"
            params.append(list(datasets))
        return [SeriesKey(sid, e, a, d or None) for sid, e, a, d in self.conn.execute(sql, params).fetchall()]

    def fetch_instances(
        self, keys: Sequence[SeriesKey], time: TimeRange, take: int, backwards: bool
    ) -> dict[int, list[tuple[int, int, Row]]]:
        column = time_column(time)
        terms, params = time_filter(time, "%s")
        direction = "DESC" if backwards else "ASC"
        rows = self.conn.execute(
            f"SELECT k.sid, x.* FROM unnest(%s::bigint[]) AS k(sid) CROSS JOIN LATERAL ("
            f"SELECT h.iid, {column} AS t, {ROW_COLUMNS} FROM history h WHERE h.sid = k.sid"
            f"{''.join(' AND ' + t for t in terms)} ORDER BY {column} {direction}, h.iid {direction} LIMIT %s) AS x",
            ([k.sid for k in keys], *params, take),
        ).fetchall()
        found: dict[int, list[tuple[int, int, Row]]] = {}
        for sid, iid, t, *rest in rows:
            found.setdefault(sid, []).append((iid, t, Row(*rest)))
        return found

    def time_span(self, keys: Sequence[SeriesKey], time: TimeRange) -> tuple[int | None, int | None]:
        column = time_column(time)
        terms, params = time_filter(time, "%s")
        where = f"h.sid = k.sid{''.join(' AND ' + t for t in terms)}"
        row = self.conn.execute(
            f"SELECT min(f.t), max(l.t) FROM unnest(%s::bigint[]) AS k(sid) "
            f"CROSS JOIN LATERAL (SELECT {column} AS t FROM history h WHERE {where} ORDER BY 1 LIMIT 1) AS f "
            f"CROSS JOIN LATERAL (SELECT {column} AS t FROM history h WHERE {where} ORDER BY 1 DESC LIMIT 1) AS l",
            ([k.sid for k in keys], *params, *params),
        ).fetchone()
        return row[0], row[1]

    def aggregate(
        self, keys: Sequence[SeriesKey], time: TimeRange, buckets: Buckets, until: int, names: Sequence[str]
    ) -> dict[int, list[tuple[Any, ...]]]:
        column = time_column(time)
        terms, params = time_filter(time, "%s")
        sids = [k.sid for k in keys]
        days = whole_days(time, buckets, until, names, self._read_frontier())
        if days is not None:
            rows = self.conn.execute(
                days_sql(days, names, _SQL, _period(buckets, _named), lambda sid: f"{sid} = ANY(%(sids)s)", _named),
                {**days.params(), "origin": buckets.origin, "step": buckets.step, "bounds": list(buckets.bounds),
                 "sids": sids},
            ).fetchall()
            return _by_series(rows)
        period = _period(buckets, lambda _: "%s")(column)
        period_params = [buckets.origin, buckets.step] if buckets.step else [list(buckets.bounds)]
        rows = self.conn.execute(
            f"SELECT h.sid, {period} AS k, {aggregate_sql(names, _SQL)} FROM history h "
            f"WHERE h.sid = ANY(%s) AND {column} >= %s AND {column} <= %s{''.join(' AND ' + t for t in terms)} "
            "GROUP BY 1, 2 ORDER BY 1, 2",
            (*period_params, sids, buckets.origin, until, *params),
        ).fetchall()
        return _by_series(rows)


def _period(buckets: Buckets, mark: Callable[[str], str]) -> Callable[[str], str]:
    """The period number of a time column (parameters ``origin`` and ``step``, or ``bounds``)."""
    if buckets.step:
        return lambda column: f"({column} - {mark('origin')}) / {mark('step')}"
    return lambda column: f"width_bucket({column}, {mark('bounds')}::bigint[]) - 1"


def _named(name: str) -> str:
    return f"%({name})s"


def _by_series(rows: list[tuple[Any, ...]]) -> dict[int, list[tuple[Any, ...]]]:
    found: dict[int, list[tuple[Any, ...]]] = {}
    for sid, *rest in rows:
        found.setdefault(sid, []).append(tuple(rest))
    return found


def _few_rows(rows: list[tuple[Any, ...]]) -> str:
    """History rows as the JSON array ``_ADD_FEW`` reads (documents embedded as they are)."""
    return orjson.dumps([
        (sid, ts, float8(num), kind, modified, created, deleted, txt,
         None if doc is None else orjson.Fragment(doc), day)
        for sid, ts, num, kind, modified, created, deleted, txt, doc, day in rows
    ]).decode()

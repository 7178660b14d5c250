"""The per-day rollup of the history (``series_days``, store/temporal_common.py), on every
backend: an aggregation whose periods are made of whole UTC days reads it, and answers as the
raw rows do, whatever the history went through (appends, edits, deletions); other
aggregations read the raw rows. Plus the two ways a store meets history older than the
rollup: the PostgreSQL migration fills it, an SQLite file fills it at its first history write."""

from __future__ import annotations

import itertools
import math
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from territoires.ngsild.model import NGSI_LD_NULL
from territoires.store.port import (
    Aggregation,
    EntityQuery,
    HistoryInstance,
    Store,
    TemporalPage,
    TemporalQuery,
    TimeRange,
)
from territoires.store.postgres import PostgresStore
from territoires.store.sqlite import SqliteStore
from territoires.store.temporal_common import (
    DAY,
    Buckets,
    DayPlan,
    from_micros,
    kept_identity,
    plan_buckets,
    to_micros,
    to_row,
    whole_days,
)
from tests import postgres
from tests.contract.conftest import VOCAB, entity, prop

TEMP, STATE = VOCAB + "temperature", VOCAB + "state"
SENSORS = ("urn:ngsi-ld:Sensor:1", "urn:ngsi-ld:Sensor:2")
BASE = to_micros("2023-12-30T00:00:00Z")  # the generated days cross a year's end and a month's
T0 = from_micros(BASE)
METHODS = ("totalCount", "sum", "avg", "min", "max", "stddev", "sumsq")


# ---- helpers -------------------------------------------------------------------------------
def reading(value: Any, ts: int, eid: str = SENSORS[0], attr: str = TEMP, *, observed: bool = True,
            dataset: str | None = None, deleted: bool = False) -> HistoryInstance:
    """An instance observed at ``ts`` (or, ``observed`` False, recorded then without observedAt)."""
    at = from_micros(ts)
    instance: dict[str, Any] = {"type": "Property", "value": NGSI_LD_NULL if deleted else value,
                                "createdAt": T0, "modifiedAt": at}
    if observed:
        instance["observedAt"] = at
    if dataset is not None:
        instance["datasetId"] = dataset
    return HistoryInstance(eid, attr, instance, at, at if deleted else None)


def sensor(eid: str) -> dict[str, Any]:
    made = entity(eid, "Sensor", temperature=prop(0))
    made["createdAt"] = made["modifiedAt"] = T0
    return made


def written_later(items: list[HistoryInstance], day: int = 9) -> list[HistoryInstance]:
    """The instances as recorded on a later day (the rollup keeps only the days before the one
    being written)."""
    return [item._replace(modified_at=from_micros(BASE + day * DAY)) for item in items]


def record(store: Store, tenant: str, *batches: list[HistoryInstance]) -> None:
    """Each batch in its own write session (the sensors created first when missing)."""
    for batch in batches:
        with store.session(tenant, write=True) as s:
            known = s.get(list(SENSORS))
            s.insert([sensor(e) for e in SENSORS if e not in known])
            s.append_history(batch)


def ask(store: Store, tenant: str, methods: tuple[str, ...], period: str | None, time: TimeRange) -> TemporalPage:
    query = TemporalQuery(EntityQuery(ids=SENSORS), time=time, aggregation=Aggregation(methods, period))
    with store.session(tenant) as s:
        return s.temporal_query(query)


def answers(page: TemporalPage) -> dict[tuple[str, str, str | None], list[tuple[str, str, dict[str, Any]]]]:
    return {(e.id, s.attr, s.dataset_id): [(b.start, b.end, b.values) for b in s.buckets]
            for e in page.entities for s in e.series}


def between(start: int, end: int) -> TimeRange:
    return TimeRange(timerel="between", time_at=from_micros(start), end_time_at=from_micros(end))


def execute(store: Store, tmp_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """A statement on the default tenant's tables, beside the store (``?`` placeholders)."""
    if isinstance(store, SqliteStore):
        with sqlite3.connect(tmp_path / "data" / "default.db") as conn:
            return conn.execute(sql, params).fetchall()
    with psycopg.connect(postgres.URL, autocommit=True) as conn:
        conn.execute("SELECT set_config('territoires.tenant', '', false)")
        cur = conn.execute(sql.replace("?", "%s"), params)
        return cur.fetchall() if cur.description else []


def assert_same(fast: TemporalPage, raw: TemporalPage, methods: tuple[str, ...], numbers: list[float]) -> None:
    """Bucket by bucket, the same values; float sums within what their order of summing moves."""
    s1, s2 = sum(abs(n) for n in numbers), sum(n * n for n in numbers)
    tolerance = {"sum": 1e-12 * s1, "avg": 1e-12 * s1, "sumsq": 1e-12 * s2, "stddev": 1e-6 * math.sqrt(s2)}
    got, want = answers(fast), answers(raw)
    assert got.keys() == want.keys()
    for key, buckets in got.items():
        assert [b[:2] for b in buckets] == [b[:2] for b in want[key]], key
        for (_, _, values), (start, _, expected) in zip(buckets, want[key], strict=True):
            for method in methods:
                a, b = values[method], expected[method]
                if isinstance(b, float) and method in tolerance:
                    assert isinstance(a, float) and math.isclose(a, b, rel_tol=1e-9, abs_tol=tolerance[method]), (
                        key, start, method, a, b)
                else:
                    assert (type(a), a) == (type(b), b), (key, start, method)


# ---- generated histories -------------------------------------------------------------------
values = st.one_of(
    st.integers(-1000, 1000),
    st.floats(-1000, 1000, allow_nan=False),
    st.booleans(),
    st.sampled_from(["", "a", "b", "Z", "é", "état"]),
    st.none(),  # the attribute's deletion
)
# Instants over 40 days, often at or next to a midnight.
instants = st.builds(lambda day, offset: BASE + day * DAY + offset, st.integers(0, 40),
                     st.sampled_from([0, 1, DAY - 1, DAY // 2]) | st.integers(0, DAY - 1))
readings = st.builds(
    lambda value, ts, eid, attr, observed, dataset: reading(value, ts, eid, attr, observed=observed,
                                                            dataset=dataset, deleted=value is None),
    values, instants, st.sampled_from(SENSORS), st.sampled_from((TEMP, STATE)), st.booleans(),
    st.sampled_from((None, None, "urn:ngsi-ld:Dataset:b")),
)
# Range bounds: mostly midnights, sometimes inside a day.
bounds = st.builds(lambda day, offset: BASE + day * DAY + offset, st.integers(-1, 42),
                   st.sampled_from([0, 0, 0, 1, DAY // 3]))
ranges = st.one_of(
    st.just(TimeRange()),
    st.builds(lambda a, b: between(min(a, b), max(a, b) + 1), bounds, bounds),
    st.builds(lambda a: TimeRange(timerel="after", time_at=from_micros(a)), bounds),
    st.builds(lambda a: TimeRange(timerel="before", time_at=from_micros(a)), bounds),
)
queries = st.tuples(st.sampled_from([None, "PT0S", "P1D", "P2D", "P1W", "P1M", "P1Y", "PT12H"]), ranges,
                    st.lists(st.sampled_from(METHODS), min_size=1, max_size=4, unique=True))
# Edits: (replace or delete, which recorded instance, its new value and time).
edits = st.lists(st.tuples(st.sampled_from(["replace", "delete"]), st.integers(0, 10_000), values, instants),
                 max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(history=st.lists(readings, min_size=1, max_size=150), cuts=st.lists(st.integers(0, 150), max_size=2),
       changes=edits, forget=st.booleans(), asked=st.lists(queries, min_size=1, max_size=4))
def test_the_rollup_answers_as_the_raw_rows_after_any_history(
    store: Store, history: list[HistoryInstance], cuts: list[int], changes: list[tuple[str, int, Any, int]],
    forget: bool, asked: list[tuple[str | None, TimeRange, list[str]]],
) -> None:
    tenant = f"t{uuid.uuid4().hex[:12]}"
    store.create_tenant(tenant)
    edges = sorted({0, len(history), *(c for c in cuts if c < len(history))})
    record(store, tenant, *(history[a:b] for a, b in itertools.pairwise(edges)))
    with store.session(tenant, write=True) as s:
        recorded = [(e.id, series.attr, i.instance_id) for e in s.temporal_query(
            TemporalQuery(EntityQuery(ids=SENSORS), instance_limit=1000)).entities
            for series in e.series for i in series.instances]
        for action, pick, value, ts in changes:
            eid, attr, iid = recorded[pick % len(recorded)]
            if action == "delete":
                s.delete_instance(eid, attr, iid)
            else:
                s.replace_instance(eid, attr, iid, reading(value, ts, eid, attr, deleted=value is None).instance)
        if forget:
            s.delete_history(SENSORS[1], STATE, all_datasets=True)
    numbers = [float(i.instance["value"]) for i in history if isinstance(i.instance["value"], int | float)]
    numbers += [float(v) for _, _, v, _ in changes if isinstance(v, int | float)]
    for period, time, methods in asked:
        fast = ask(store, tenant, tuple(methods), period, time)
        # distinctCount is not kept per day: asking it too reads the raw rows.
        raw = ask(store, tenant, (*methods, "distinctCount"), period, time)
        assert_same(fast, raw, tuple(methods), numbers)


# ---- which aggregations read the rollup ------------------------------------------------------
HOURLY = [reading(1.5, BASE + DAY + (2 * h + 1) * 1_800_000_000) for h in range(24 * 40)]  # Dec 31 to Feb 8, at :30
MIDNIGHTS = between(BASE + DAY, BASE + 40 * DAY)
MORNINGS = between(BASE + DAY + DAY // 4, BASE + 40 * DAY + DAY // 4)


@pytest.mark.parametrize("methods, period, time, used", [
    (("totalCount",), "P1D", MIDNIGHTS, True),
    (("totalCount", "avg"), "P1W", MIDNIGHTS, True),
    (("totalCount",), "P1M", MIDNIGHTS, True),
    (("totalCount",), "P1Y", MORNINGS, True),  # the partial days at either end read raw
    (("totalCount",), None, TimeRange(), True),  # the whole history, from its first instance at 00:30
    (("totalCount",), "P1D", TimeRange(timerel="before", time_at=from_micros(BASE + 5 * DAY)), False),  # same
    (("totalCount",), "P1D", MORNINGS, False),  # periods from 06:00 to 06:00
    (("totalCount",), "PT12H", MIDNIGHTS, False),
    (("totalCount", "distinctCount"), "P1D", MIDNIGHTS, False),
    (("totalCount",), "P1D", TimeRange("modifiedAt", "between", MIDNIGHTS.time_at, MIDNIGHTS.end_time_at), False),
    (("totalCount",), None, between(BASE + DAY + 3_600_000_000, BASE + 2 * DAY - 1), False),  # within a day
])
def test_aggregations_over_whole_utc_days_read_the_rollup(
    store: Store, tmp_path: Path, methods: tuple[str, ...], period: str | None, time: TimeRange, used: bool
) -> None:
    record(store, "", HOURLY)
    before = ask(store, "", methods, period, time)
    # A rollup that overstates every day's count shows whether the answer read it.
    execute(store, tmp_path, "UPDATE series_days SET n = n + 1000")
    after = ask(store, "", methods, period, time)
    counts = [[b.values["totalCount"] for b in s.buckets] for p in (before, after) for s in p.entities[0].series]
    assert (counts[0] != counts[1]) == used
    if not used:
        assert answers(before) == answers(after)


def test_whole_days_finds_the_days_only_where_no_period_boundary_cuts_one() -> None:
    day2, day9 = BASE + 2 * DAY, BASE + 9 * DAY
    observed = TimeRange()

    def days(period: str | None, origin: int, until: int, names: tuple[str, ...] = ("n",),
             time: TimeRange = observed) -> tuple[int, int] | None:
        plan = whole_days(time, plan_buckets(period, origin, until, bounded=True), until, names)
        if plan is None:
            return None
        assert (plan.head, plan.stop) == (origin, until + 1)
        return plan.first, plan.end

    assert days("P1D", day2, day9 - 1) == (day2, day9)
    assert days("P1D", day2, day9 + 5) == (day2, day9)  # the last partial day is read raw
    assert days("P1D", day2 + 1, day9) is None  # boundaries at 00:00:00.000001
    assert days("P1Y", day2 + 1, day9 + 5) == (day2 + DAY, day9)
    assert days("PT0S", day2 + 7, day9 + 5) == (day2 + DAY, day9)
    assert days("P1M", day2, day9 + 40 * DAY) == (day2, day9 + 40 * DAY)
    assert days("PT6H", day2, day9) is None
    assert days("P1D", day2, day2 + DAY - 2) is None  # no whole day
    assert days("P1D", day2, day9, ("n", "distinct")) is None
    assert days("P1D", day2, day9, time=TimeRange(timeproperty="createdAt")) is None
    assert whole_days(observed, Buckets(day2 + 1, 3 * DAY, ()), day2 + 2 * DAY, ("n",)) == DayPlan(
        day2 + 1, day2 + DAY, day2 + 2 * DAY, day2 + 2 * DAY + 1)


# ---- rollup rows go with their history -------------------------------------------------------
def test_deleting_history_deletes_its_rollup_rows(store: Store, tmp_path: Path) -> None:
    record(store, "", written_later([reading(1, BASE + d * DAY, eid, attr)
                                     for d in range(3) for eid in SENSORS for attr in (TEMP, STATE)]))
    count = "SELECT count(*) FROM series_days"
    assert execute(store, tmp_path, count) == [(12,)]
    with store.session("", write=True) as s:
        s.delete_history(SENSORS[0], TEMP)
    assert execute(store, tmp_path, count) == [(9,)]
    with store.session("", write=True) as s:
        s.delete_history(SENSORS[1])
    assert execute(store, tmp_path, count) == [(3,)]
    with store.session("", write=True) as s:  # the last instance of a day takes its row along
        [series] = s.temporal_query(TemporalQuery(EntityQuery(ids=SENSORS[:1]))).entities[0].series
        s.delete_instance(SENSORS[0], STATE, series.instances[0].instance_id)
    assert execute(store, tmp_path, count) == [(2,)]


def test_a_deleted_tenant_leaves_no_rollup_rows(store: Store) -> None:
    store.create_tenant("rennes")
    record(store, "rennes", written_later([reading(1, BASE + d * DAY) for d in range(3)]))
    store.delete_tenant("rennes")
    store.create_tenant("rennes")
    record(store, "rennes", written_later([reading(5, BASE)]))
    page = ask(store, "rennes", ("totalCount", "sum"), "P1D", between(BASE, BASE + 3 * DAY))
    assert [b.values for b in page.entities[0].series[0].buckets] == [{"totalCount": 1, "sum": 5}]
    if isinstance(store, PostgresStore):  # rows left behind would carry the same tenant name
        with psycopg.connect(postgres.URL, autocommit=True) as conn:
            conn.execute("SELECT set_config('territoires.tenant', 'rennes', false)")
            assert conn.execute("SELECT count(*) FROM series_days").fetchone() == (1,)


# ---- history older than the rollup ---------------------------------------------------------
def test_an_older_sqlite_file_reads_raw_rows_until_its_first_history_write_fills_the_rollup(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "data")
    record(store, "", HOURLY)
    expected = answers(ask(store, "", METHODS, "P1D", MIDNIGHTS))
    store.close()
    with sqlite3.connect(tmp_path / "data" / "default.db") as conn:  # the layout before the rollup
        conn.execute("DROP TABLE series_days")
        conn.execute("DROP TABLE series_days_complete")
    store = SqliteStore(tmp_path / "data")
    try:
        assert answers(ask(store, "", METHODS, "P1D", MIDNIGHTS)) == expected
        # Not read while incomplete: rows there change nothing.
        execute(store, tmp_path, "INSERT INTO series_days(sid, day, n, n_values) VALUES (1, ?, 99, 0)", (BASE + DAY,))
        assert answers(ask(store, "", METHODS, "P1D", MIDNIGHTS)) == expected
        record(store, "", [reading(3.5, BASE + 39 * DAY + 1)])
        page = ask(store, "", METHODS, "P1D", MIDNIGHTS)
        assert_same(page, ask(store, "", (*METHODS, "distinctCount"), "P1D", MIDNIGHTS), METHODS, [1.5, 3.5])
        assert answers(page)[(SENSORS[0], TEMP, None)][0] == expected[(SENSORS[0], TEMP, None)][0]
        execute(store, tmp_path, "UPDATE series_days SET n = n + 1000")
        assert answers(ask(store, "", ("totalCount",), "P1D", MIDNIGHTS))[(SENSORS[0], TEMP, None)][0][2] == {
            "totalCount": 1024}
    finally:
        store.close()


def test_the_day_being_written_is_rolled_up_once_a_later_day_is_written(store: Store, tmp_path: Path) -> None:
    live = [reading(v, BASE + 5 * DAY + v * 3_600_000_000) for v in range(10)]  # day 5, written on day 5
    record(store, "", live)
    days = "SELECT day FROM series_days ORDER BY day"
    assert execute(store, tmp_path, days) == []  # the day being written is read raw
    expected = answers(ask(store, "", METHODS, "P1D", MIDNIGHTS))
    assert [b[2]["totalCount"] for b in expected[(SENSORS[0], TEMP, None)]] == [10]
    record(store, "", [reading(2, BASE + 7 * DAY)])  # the first write of day 7 rolls up day 5
    assert execute(store, tmp_path, days) == [(BASE + 5 * DAY,)]
    assert execute(store, tmp_path, "SELECT day FROM series_days_frontier") == [(BASE + 7 * DAY,)]
    execute(store, tmp_path, "UPDATE series_days SET n = n + 1000")  # day 5 is now read from the rollup
    counts = [b[2]["totalCount"] for b in answers(ask(store, "", METHODS, "P1D", MIDNIGHTS))[(SENSORS[0], TEMP, None)]]
    assert counts == [1010, 1]
    # Late data before the frontier keeps the rollup exact at once; an edit after it leaves it alone.
    execute(store, tmp_path, "UPDATE series_days SET n = n - 1000")
    record(store, "", written_later([reading(4, BASE + 5 * DAY + 1)], day=7))
    with store.session("", write=True) as s:
        [series] = s.temporal_query(TemporalQuery(EntityQuery(ids=SENSORS[:1]))).entities[0].series
        s.delete_instance(SENSORS[0], TEMP, series.instances[-1].instance_id)  # day 7's
    assert execute(store, tmp_path, days) == [(BASE + 5 * DAY,)]
    page = ask(store, "", METHODS, "P1D", MIDNIGHTS)
    assert_same(page, ask(store, "", (*METHODS, "distinctCount"), "P1D", MIDNIGHTS), METHODS, [*range(10), 4])


def test_an_sqlite_rollup_from_before_the_frontier_gives_up_the_day_being_written(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "data")
    record(store, "", HOURLY)  # up to Feb 8, written then
    store.close()
    with sqlite3.connect(tmp_path / "data" / "default.db") as conn:  # a rollup of every day, frontier or not
        conn.execute("DROP TABLE series_days_frontier")
        conn.execute("INSERT INTO series_days SELECT sid, day + 100 * ?, n, n_values, total, squares, low, high, "
                     "low_text, high_text, kind_low, kind_high FROM series_days", (DAY,))
    store = SqliteStore(tmp_path / "data")
    try:
        # Read as a whole while no write moved the frontier: the stray rows count.
        later = between(BASE + 101 * DAY, BASE + 140 * DAY)
        assert answers(ask(store, "", ("totalCount",), "P1D", later))[(SENSORS[0], TEMP, None)][0][2] == {
            "totalCount": 24}
        record(store, "", [reading(2, BASE + 120 * DAY)])  # the rollup gives up the days from this write's on
        frontier = BASE + 120 * DAY
        assert execute(store, tmp_path, "SELECT count(*) FROM series_days WHERE day >= ?", (frontier,)) == [(0,)]
        assert execute(store, tmp_path, "SELECT day FROM series_days_frontier") == [(frontier,)]
    finally:
        store.close()


@pytest.fixture
def older_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """The PostgreSQL test database with its schema at the migration given as the parameter."""
    if not postgres.URL:
        pytest.skip("PostgreSQL not available")
    with postgres.database_at(request.param) as url:
        yield url


@pytest.mark.parametrize("older_database", [11], indirect=True)
def test_migration_0012_fills_the_rollup_of_every_tenant_history(older_database: str) -> None:
    history = {"": [reading(v % 7 - 2.5, BASE + v * 3_600_000_000) for v in range(24 * 5)],
               "rennes": [reading(s, BASE + DAY // 2 + v * DAY, eid, STATE)
                          for v, s in enumerate(["b", "a", "c"]) for eid in SENSORS]}
    with psycopg.connect(older_database, autocommit=True) as conn:  # rows as release 11 wrote them
        conn.execute("INSERT INTO tenants (name) VALUES ('rennes')")
        for tenant, items in history.items():
            conn.execute("SELECT set_config('territoires.tenant', %s, false)", (tenant,))
            for eid in SENSORS:
                conn.execute("INSERT INTO history_kept (id, doc) VALUES (%s, %s)",
                             (eid, psycopg.types.json.Jsonb(kept_identity(sensor(eid), T0))))
            for item in items:
                sid = conn.execute(
                    "INSERT INTO history_series (entity, attr, dataset) VALUES (%s, %s, '') ON CONFLICT "
                    "(tenant, entity, attr, dataset) DO UPDATE SET dataset = '' RETURNING sid",
                    (item.entity_id, item.attr)).fetchone()[0]
                row = to_row(item)
                conn.execute("INSERT INTO history (sid, ts, num, kind, modified, created, deleted, txt, doc) "
                             "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)",
                             (sid, row.ts, row.num, row.kind, row.modified, row.created, row.deleted, row.txt, row.doc))
    store = PostgresStore(older_database, upgrade=True)
    try:
        for tenant, methods in (("", METHODS), ("rennes", ("totalCount", "min", "max"))):
            for period in ("P1D", "P1M", None):
                time = between(BASE, BASE + 10 * DAY)
                fast = ask(store, tenant, methods, period, time)
                assert answers(fast)
                assert_same(fast, ask(store, tenant, (*methods, "distinctCount"), period, time), methods, [2.5] * 120)
        with psycopg.connect(older_database, autocommit=True) as conn:
            for tenant, days in (("", 5), ("rennes", 6)):
                conn.execute("SELECT set_config('territoires.tenant', %s, false)", (tenant,))
                assert conn.execute("SELECT count(*) FROM series_days").fetchone() == (days,)
            forced = conn.execute("SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
                                  "WHERE relname IN ('series_days', 'history')").fetchall()
        assert forced == [(True, True), (True, True)]
        # The rollup is what answers, and stays kept by the new writes.
        with store.session("rennes", write=True) as s:
            s.append_history([reading("0", BASE + DAY, SENSORS[0], STATE)])
        page = ask(store, "rennes", ("totalCount", "min"), "P1D", between(BASE, BASE + 2 * DAY))
        assert [b.values for b in page.entities[0].series[0].buckets] == [
            {"totalCount": 1, "min": "b"}, {"totalCount": 2, "min": "0"}]
    finally:
        store.close()



@pytest.mark.parametrize("older_database", [14], indirect=True)
def test_migration_0015_starts_each_tenant_frontier_after_its_last_rolled_up_day(older_database: str) -> None:
    # Release 14 rolled up every day it wrote: Rennes up to day 3, the default tenant nothing.
    with psycopg.connect(older_database, autocommit=True) as conn:
        conn.execute("INSERT INTO tenants (name) VALUES ('rennes')")
        conn.execute("SELECT set_config('territoires.tenant', 'rennes', false)")
        sid = conn.execute("INSERT INTO history_series (entity, attr, dataset) VALUES (%s, %s, '') RETURNING sid",
                           (SENSORS[0], TEMP)).fetchone()[0]
        for day in (1, 3):
            row = to_row(reading(day, BASE + day * DAY))
            conn.execute("INSERT INTO history (sid, ts, num, kind, modified, created) VALUES (%s, %s, %s, %s, %s, %s)",
                         (sid, row.ts, row.num, row.kind, row.modified, row.created))
            conn.execute("INSERT INTO series_days (sid, day, n, n_values, total, squares, low, high) "
                         "VALUES (%s, %s, 1, 1, %s, %s, %s, %s)", (sid, BASE + day * DAY, day, day * day, day, day))
    store = PostgresStore(older_database, upgrade=True)
    try:
        frontiers = "SELECT tenant, day FROM series_days_frontier ORDER BY tenant"
        with psycopg.connect(older_database, autocommit=True) as conn:
            conn.execute("ALTER TABLE series_days_frontier NO FORCE ROW LEVEL SECURITY")
            assert conn.execute(frontiers).fetchall() == [("rennes", BASE + 4 * DAY)]
            conn.execute("ALTER TABLE series_days_frontier FORCE ROW LEVEL SECURITY")
            assert conn.execute(frontiers).fetchall() == []  # no tenant named: no row shown
        # Day 3 is read from the rollup; a write of day 6 rolls up days 4 and 5 from the history.
        record(store, "rennes", [reading(5, BASE + 5 * DAY), reading(6, BASE + 6 * DAY)])
        time = between(BASE, BASE + 7 * DAY)
        fast = ask(store, "rennes", ("totalCount", "sum"), "P1D", time)
        assert [b.values for b in fast.entities[0].series[0].buckets] == [
            {"totalCount": 1, "sum": 1}, {"totalCount": 1, "sum": 3}, {"totalCount": 1, "sum": 5},
            {"totalCount": 1, "sum": 6}]
        with psycopg.connect(older_database, autocommit=True) as conn:
            conn.execute("SELECT set_config('territoires.tenant', 'rennes', false)")
            assert conn.execute("SELECT day FROM series_days ORDER BY day").fetchall() == [
                (BASE + d * DAY,) for d in (1, 3, 5)]
            assert conn.execute("SELECT day FROM series_days_frontier").fetchall() == [(BASE + 6 * DAY,)]
    finally:
        store.close()


def test_extreme_numbers_are_recorded_and_aggregated(store: Store) -> None:
    extremes = [1e-200, -1e-200, 1e200, 1.7e308, 1.7e308, 5e-324]
    record(store, "", [reading(v, BASE + DAY + n) for n, v in enumerate(extremes)])
    for methods in (METHODS, (*METHODS, "distinctCount")):  # the rollup, then the raw rows
        [bucket] = ask(store, "", methods, "P1D", between(BASE + DAY, BASE + 2 * DAY)).entities[0].series[0].buckets
        assert bucket.values["totalCount"] == 6 and bucket.values["max"] == 1.7e308
        assert bucket.values["sum"] == math.inf and bucket.values["sumsq"] == math.inf

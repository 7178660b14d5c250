"""The temporal part of the storage contract (store/port.py, ``# ---- temporal``), on every backend:
recording instances, temporal queries (timerel, timeproperty, lastN, temporal pagination),
aggregation in the database, and the edits of recorded history."""

from __future__ import annotations

import math
from datetime import UTC
from typing import Any

import pytest

from territoires.ngsild.errors import BadRequestData, NonexistentTenant, TooManyResults
from territoires.ngsild.query import TypeName
from territoires.store.port import (
    Aggregation,
    EntityQuery,
    HistoryInstance,
    Store,
    TemporalPage,
    TemporalQuery,
    TimeRange,
)
from tests.contract.conftest import VOCAB, entity, prop

TEMP = VOCAB + "temperature"
STATE = VOCAB + "state"
ON = VOCAB + "on"
SENSOR = "urn:ngsi-ld:Sensor:1"
T0 = "2024-01-01T00:00:00.000000Z"


def at(minutes: int) -> str:
    """An instant ``minutes`` after 2024-01-01T00:00Z."""
    from datetime import datetime, timedelta

    moment = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def reading(value: Any, observed: str | None, attr: str = TEMP, eid: str = SENSOR, **members: Any) -> HistoryInstance:
    instance = {"type": "Property", "value": value, "createdAt": T0, "modifiedAt": observed or T0, **members}
    if observed:
        instance["observedAt"] = observed
    return HistoryInstance(eid, attr, instance, instance["modifiedAt"])


def sensor(eid: str = SENSOR, kind: str = "Sensor") -> dict[str, Any]:
    made = entity(eid, kind, temperature=prop(0))
    made["createdAt"] = made["modifiedAt"] = T0
    return made


def record(store: Store, *items: HistoryInstance, entities: tuple[str, ...] = (SENSOR,), tenant: str = "") -> None:
    with store.session(tenant, write=True) as s:
        known = s.get(list(entities))
        s.insert([sensor(e) for e in entities if e not in known])
        s.append_history(list(items))


def ask(store: Store, tenant: str = "", ids: tuple[str, ...] = (SENSOR,), **options: Any) -> TemporalPage:
    with store.session(tenant) as s:
        return s.temporal_query(TemporalQuery(EntityQuery(ids=ids), **options))


def values(page: TemporalPage, k: int = 0, n: int = 0) -> list[Any]:
    return [i.instance["value"] for i in page.entities[n].series[k].instances]


def buckets(page: TemporalPage, k: int = 0) -> list[tuple[str, str, dict[str, Any]]]:
    return [(b.start, b.end, b.values) for b in page.entities[0].series[k].buckets]


def test_an_observed_instant_reads_back_as_it_was_written(store: Store) -> None:
    record(store, reading(1, "2024-01-01T00:00:00Z"), reading(2, "2024-01-01T01:00:00.5+00:00"), reading(3, at(120)))
    page = ask(store)
    assert [i.instance["observedAt"] for i in page.entities[0].series[0].instances] == [
        "2024-01-01T00:00:00Z", "2024-01-01T01:00:00.5+00:00", at(120)]
    # and each is still the instant it names, for time filters
    later = ask(store, time=TimeRange(timerel="after", time_at="2024-01-01T00:30:00Z"))
    assert values(later) == [2, 3]


def test_020_01_01_retrieve_temporal_entity_gives_instances_as_recorded(store: Store) -> None:
    record(
        store,
        reading(21.5, at(0), unitCode="CEL", attrs={VOCAB + "accuracy": {"type": "Property", "value": 0.1}}),
        reading(22, at(15)),
        reading(True, at(30), attr=STATE),
        reading("élevé", at(45), attr=STATE),
        reading({"a": [1, 2]}, at(60), attr=STATE),
        reading(2**60, at(75), attr=STATE),
        HistoryInstance(SENSOR, VOCAB + "near", {"type": "Relationship", "object": "urn:x", "datasetId": "urn:d",
                                                  "createdAt": T0, "modifiedAt": at(90)}, at(90)),
    )
    page = ask(store)
    [found] = page.entities
    assert (found.id, found.types, found.created_at) == (SENSOR, [VOCAB + "Sensor"], T0)
    near, state, temp = found.series
    assert (near.attr, near.dataset_id, temp.attr) == (VOCAB + "near", "urn:d", TEMP)
    assert [i.instance["value"] for i in temp.instances] == [21.5, 22]
    assert type(temp.instances[1].instance["value"]) is int
    assert temp.instances[0].instance == {
        "type": "Property", "value": 21.5, "unitCode": "CEL", "observedAt": at(0), "createdAt": T0,
        "modifiedAt": at(0), "attrs": {VOCAB + "accuracy": {"type": "Property", "value": 0.1}},
    }
    assert [i.instance["value"] for i in state.instances] == [True, "élevé", {"a": [1, 2]}, 2**60]
    assert near.instances[0].instance == {"type": "Relationship", "object": "urn:x", "datasetId": "urn:d",
                                          "createdAt": T0, "modifiedAt": at(90)}
    ids = [i.instance_id for s in found.series for i in s.instances]
    assert len(set(ids)) == len(ids) == 7 and all(i.startswith("urn:ngsi-ld:attribute:instance:") for i in ids)
    assert page.range is None


def test_an_entity_without_history_is_answered_with_no_series(store: Store) -> None:
    record(store)
    [found] = ask(store).entities
    assert found.id == SENSOR and found.series == []


def test_020_01_02_timerel_selects_by_observed_at(store: Store) -> None:
    record(store, *(reading(n, at(15 * n)) for n in range(8)))
    assert values(ask(store, time=TimeRange(timerel="before", time_at=at(30)))) == [0, 1]
    assert values(ask(store, time=TimeRange(timerel="after", time_at=at(90)))) == [6, 7]
    between = TimeRange(timerel="between", time_at=at(30), end_time_at=at(60))
    assert values(ask(store, time=between)) == [2, 3]
    assert ask(store, time=TimeRange(timerel="after", time_at=at(999))).entities[0].series == []


def test_an_instance_without_observed_at_is_placed_by_its_modified_at(store: Store) -> None:
    record(store, reading(1, at(0)), reading(2, None), reading(3, at(30)))  # the second recorded at T0
    page = ask(store)
    assert values(page) == [1, 2, 3]
    assert "observedAt" not in page.entities[0].series[0].instances[1].instance


def test_timeproperty_modified_at_and_created_at(store: Store) -> None:
    late = HistoryInstance(SENSOR, TEMP, {"type": "Property", "value": 9, "observedAt": at(0), "createdAt": at(5),
                                          "modifiedAt": at(500)}, at(500))
    record(store, reading(1, at(10)), late)
    by_modified = ask(store, time=TimeRange(timeproperty="modifiedAt", timerel="after", time_at=at(100)))
    assert values(by_modified) == [9]
    by_created = ask(store, time=TimeRange(timeproperty="createdAt", timerel="after", time_at=at(1)))
    assert values(by_created) == [9]
    assert values(ask(store)) == [9, 1]  # observedAt order


def test_deleted_at_selects_deletion_instances(store: Store) -> None:
    gone = HistoryInstance(SENSOR, TEMP, {"type": "Property", "value": "urn:ngsi-ld:null", "createdAt": T0,
                                          "modifiedAt": at(20)}, at(20), deleted_at=at(20))
    record(store, reading(1, at(10)), gone)
    page = ask(store, time=TimeRange(timeproperty="deletedAt"))
    [only] = page.entities[0].series[0].instances
    assert only.deleted_at == at(20) and only.instance["value"] == "urn:ngsi-ld:null"


def test_020_01_03_last_n_gives_the_last_instances_ascending(store: Store) -> None:
    record(store, *(reading(n, at(15 * n)) for n in range(10)))
    assert values(ask(store, last_n=3)) == [7, 8, 9]
    assert values(ask(store, last_n=3, time=TimeRange(timerel="before", time_at=at(60)))) == [1, 2, 3]


def test_instance_limit_cuts_every_series_to_the_interval_all_cover(store: Store) -> None:
    record(store, *(reading(n, at(10 * n)) for n in range(10)), *(reading(n, at(10 * n + 5), attr=STATE) for n in range(3)))
    page = ask(store, instance_limit=4)
    assert page.range == (at(0), at(30))
    assert values(page, k=1) == [0, 1, 2, 3]  # temperature, cut after 4
    assert values(page, k=0) == [0, 1, 2]  # state: complete up to there
    rest = ask(store, instance_limit=4, time=TimeRange(timerel="after", time_at=at(31)))
    assert values(rest) == [4, 5, 6, 7] and rest.range == (at(40), at(70))  # state has nothing there

    backwards = ask(store, instance_limit=4, last_n=6)
    assert backwards.range == (at(60), at(90))
    # state has instances in the range, none that late: there, empty, so the client asks on (020_14)
    assert [(s.attr, len(s.instances)) for s in backwards.entities[0].series] == [(STATE, 0), (TEMP, 4)]
    assert values(backwards, k=1) == [6, 7, 8, 9]


def test_attrs_restricts_the_series(store: Store) -> None:
    record(store, reading(1, at(0)), reading(True, at(0), attr=STATE))
    page = ask(store, attrs=(STATE,))
    assert [s.attr for s in page.entities[0].series] == [STATE]


def test_entities_are_selected_and_paged_as_queries_do(store: Store) -> None:
    others = tuple(f"urn:ngsi-ld:Sensor:{n}" for n in range(2, 6))
    record(store, *(reading(n, at(n), eid=e) for n, e in enumerate(others)), entities=others)
    with store.session("") as s:
        page = s.temporal_query(TemporalQuery(EntityQuery(types=TypeName(VOCAB + "Sensor"), limit=2, count=True)))
        assert [e.id for e in page.entities] == list(others[:2]) and page.count == 4
        after = s.temporal_query(TemporalQuery(EntityQuery(types=TypeName(VOCAB + "Sensor"), after=page.next_cursor)))
    assert [e.id for e in after.entities] == list(others[2:])
    assert [values(after, n=n) for n in range(2)] == [[2], [3]]


def test_aggregation_by_day_runs_over_numbers_and_booleans(store: Store) -> None:
    # Two days of 15-minute readings 0..95 and 100..195, and a boolean, true one time in four.
    record(
        store,
        *(reading(n + 100 * day, at(1440 * day + 15 * n)) for day in range(2) for n in range(96)),
        *(reading(n % 4 == 0, at(15 * n), attr=STATE) for n in range(8)),
    )
    methods = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
    page = ask(store, aggregation=Aggregation(methods, "P1D"))
    state, temp = page.entities[0].series
    assert [(b.start, b.end) for b in temp.buckets] == [(at(0), at(1440)), (at(1440), at(2880))]
    day1 = temp.buckets[0].values
    assert day1["totalCount"] == 96 and day1["distinctCount"] == 96
    assert day1["sum"] == sum(range(96)) and type(day1["sum"]) is int
    assert day1["avg"] == 47.5 and (day1["min"], day1["max"]) == (0, 95)
    assert day1["sumsq"] == sum(n * n for n in range(96))
    assert math.isclose(day1["stddev"], math.sqrt(sum((n - 47.5) ** 2 for n in range(96)) / 96))
    assert temp.buckets[1].values["avg"] == 147.5
    [flags] = state.buckets
    assert flags.values["sum"] == 2 and flags.values["avg"] == 0.25
    assert (flags.values["min"], flags.values["max"]) == (False, True) and flags.values["distinctCount"] == 2


def test_aggregation_of_strings_counts_and_orders_them(store: Store) -> None:
    record(store, *(reading(text, at(n)) for n, text in enumerate(["b", "é", "a", "b"])))
    [bucket] = ask(store, aggregation=Aggregation(("totalCount", "distinctCount", "min", "max", "avg", "sum"))).entities[0].series[0].buckets
    assert bucket.values == {"totalCount": 4, "distinctCount": 3, "min": "a", "max": "é", "avg": None, "sum": None}
    assert (bucket.start, bucket.end) == (at(0), at(3))  # the whole range, first to last instance


def test_aggregation_buckets_start_at_time_at_and_skip_empty_periods(store: Store) -> None:
    record(store, reading(1, at(30)), reading(3, at(50)), reading(5, at(200)))
    between = TimeRange(timerel="between", time_at=at(20), end_time_at=at(240))
    page = ask(store, time=between, aggregation=Aggregation(("avg", "totalCount"), "PT1H"))
    assert buckets(page) == [
        (at(20), at(80), {"avg": 2.0, "totalCount": 2}),
        (at(200), at(260), {"avg": 5.0, "totalCount": 1}),
    ]
    whole = ask(store, time=between, aggregation=Aggregation(("totalCount",), "PT0S"))
    assert buckets(whole) == [(at(20), at(240), {"totalCount": 3})]


def test_aggregation_by_calendar_month_follows_the_calendar(store: Store) -> None:
    # Months from January 31: the periods end on February 29 (2024 is a leap year), March 31, April 30.
    jan31, feb29, mar31 = "2024-01-31T00:00:00.000000Z", "2024-02-29T00:00:00.000000Z", "2024-03-31T00:00:00.000000Z"
    record(
        store,
        reading(1, jan31), reading(2, "2024-02-28T23:59:59.000000Z"),
        reading(10, feb29), reading(20, "2024-03-30T12:00:00.000000Z"),
        reading(100, mar31),
    )
    page = ask(store, aggregation=Aggregation(("sum",), "P1M"))
    assert buckets(page) == [
        (jan31, feb29, {"sum": 3}),
        (feb29, mar31, {"sum": 30}),
        (mar31, "2024-04-30T00:00:00.000000Z", {"sum": 100}),
    ]
    yearly = ask(store, aggregation=Aggregation(("totalCount",), "P1Y"))
    assert buckets(yearly) == [(jan31, "2025-01-31T00:00:00.000000Z", {"totalCount": 5})]


def test_aggregation_counts_deletions_only_in_total_count(store: Store) -> None:
    gone = HistoryInstance(SENSOR, TEMP, {"type": "Property", "value": "urn:ngsi-ld:null", "createdAt": T0,
                                          "modifiedAt": at(20)}, at(20), deleted_at=at(20))
    record(store, reading(4, at(10)), gone)
    [bucket] = ask(store, aggregation=Aggregation(("totalCount", "distinctCount", "max"))).entities[0].series[0].buckets
    assert bucket.values == {"totalCount": 2, "distinctCount": 1, "max": 4}


def test_bad_aggregations_and_ranges_are_refused(store: Store) -> None:
    record(store, reading(1, at(0)), reading(2, at(60 * 24 * 365)))
    with pytest.raises(BadRequestData, match="ISO 8601 duration"):
        ask(store, aggregation=Aggregation(("avg",), "1 day"))
    with pytest.raises(BadRequestData, match="aggregation method"):
        ask(store, aggregation=Aggregation(("median",), "P1D"))
    with pytest.raises(TooManyResults):
        ask(store, aggregation=Aggregation(("avg",), "PT0.001S"))
    with pytest.raises(BadRequestData, match="endTimeAt"):
        ask(store, time=TimeRange(timerel="between", time_at=at(0)))


def test_delete_history_of_an_attribute_a_dataset_or_the_entity(store: Store) -> None:
    def on(dataset: str | None, value: int) -> HistoryInstance:
        members = {"datasetId": dataset} if dataset else {}
        return reading(value, at(value), attr=STATE, **members)

    record(store, reading(1, at(0)), reading(2, at(1)), on(None, 3), on("urn:d:1", 4), on("urn:d:2", 5))
    with store.session("", write=True) as s:
        assert s.delete_history(SENSOR, STATE, "urn:d:1") == 1
    assert [(x.attr, x.dataset_id) for x in ask(store).entities[0].series] == [(STATE, None), (STATE, "urn:d:2"), (TEMP, None)]
    with store.session("", write=True) as s:
        assert s.delete_history(SENSOR, STATE) == 1  # the default instance only
        assert s.delete_history(SENSOR, STATE, all_datasets=True) == 1
        assert s.delete_history(SENSOR, STATE, all_datasets=True) == 0
    assert [x.attr for x in ask(store).entities[0].series] == [TEMP]
    with store.session("", write=True) as s:
        assert s.delete_history(SENSOR) == 2
    assert ask(store).entities[0].series == []


def test_021_18_only_the_series_of_the_datasets_asked_for_are_read(store: Store) -> None:
    def on(dataset: str | None, value: int) -> HistoryInstance:
        return reading(value, at(value), attr=STATE, **({"datasetId": dataset} if dataset else {}))

    record(store, reading(1, at(0)), on(None, 3), on("urn:d:1", 4), on("urn:d:2", 5))
    with store.session("") as s:
        def series(datasets: frozenset[str] | None) -> list[tuple[str, str | None]]:
            page = s.temporal_query(TemporalQuery(EntityQuery(ids=(SENSOR,)), datasets=datasets))
            return [(x.attr, x.dataset_id) for x in page.entities[0].series]

        assert series(frozenset({"urn:d:2"})) == [(STATE, "urn:d:2")]
        assert series(frozenset({"@none", "urn:d:1"})) == [(STATE, None), (STATE, "urn:d:1"), (TEMP, None)]
        assert series(frozenset({"urn:d:9"})) == []
        assert len(series(None)) == 4


def test_replace_and_delete_one_instance(store: Store) -> None:
    record(store, reading(1, at(0)), reading(2, at(10)))
    first, second = ask(store).entities[0].series[0].instances
    with store.session("", write=True) as s:
        changed = {"type": "Property", "value": 7, "observedAt": at(20), "createdAt": T0, "modifiedAt": at(99)}
        assert s.replace_instance(SENSOR, TEMP, first.instance_id, changed)
        assert not s.replace_instance(SENSOR, STATE, first.instance_id, changed)  # not of this attribute
        assert not s.replace_instance(SENSOR, TEMP, "urn:ngsi-ld:attribute:instance:999999", changed)
        assert not s.delete_instance(SENSOR, TEMP, "urn:other:1")
    page = ask(store)
    assert values(page) == [2, 7]
    assert page.entities[0].series[0].instances[1].instance_id == first.instance_id
    with store.session("", write=True) as s:
        assert s.delete_instance(SENSOR, TEMP, second.instance_id)
        assert not s.delete_instance(SENSOR, TEMP, second.instance_id)
    assert values(ask(store)) == [7]


def test_kept_history_of_a_deleted_entity_is_answered_by_id(store: Store) -> None:
    record(store, reading(1, at(0)))
    with store.session("", write=True) as s:
        s.keep_deleted_entities([sensor()], at(50))
        s.delete([SENSOR])
    page = ask(store)
    [kept] = page.entities
    assert (kept.id, kept.types, kept.created_at, kept.modified_at) == (SENSOR, [VOCAB + "Sensor"], T0, at(50))
    assert values(page) == [1]
    with store.session("") as s:
        wrong_type = EntityQuery(ids=(SENSOR,), types=TypeName(VOCAB + "Other"))
        assert s.temporal_query(TemporalQuery(wrong_type)).entities == []
        assert s.temporal_query(TemporalQuery(EntityQuery(types=TypeName(VOCAB + "Sensor")))).entities == []
    with store.session("") as s:
        assert s.kept_entity_ids(None, 10) == [SENSOR]
    with store.session("", write=True) as s:
        s.delete_history(SENSOR)
    assert ask(store).entities == []
    with store.session("") as s:
        assert s.kept_entity_ids(None, 10) == []


def test_kept_identities_are_listed_in_id_order_page_by_page(store: Store) -> None:
    ids = [f"urn:ngsi-ld:Sensor:{n:03d}" for n in (5, 1, 42, 7, 300)]
    with store.session("", write=True) as s:
        s.keep_deleted_entities([sensor(eid) for eid in ids], at(50))
    pages, after = [], None
    with store.session("") as s:
        while page := s.kept_entity_ids(after, 2):
            pages.append(page)
            after = page[-1]
    assert pages == [sorted(ids)[:2], sorted(ids)[2:4], sorted(ids)[4:]]


def test_history_is_kept_apart_by_tenant_and_rolled_back_with_its_session(store: Store) -> None:
    store.create_tenant("rennes")
    record(store, reading(1, at(0)), tenant="rennes")
    record(store)
    assert ask(store).entities[0].series == []
    assert values(ask(store, tenant="rennes")) == [1]
    with pytest.raises(RuntimeError), store.session("rennes", write=True) as s:
        s.append_history([reading(2, at(1))])
        raise RuntimeError("abandoned")
    assert values(ask(store, tenant="rennes")) == [1]
    store.delete_tenant("rennes")
    store.create_tenant("rennes")
    record(store, tenant="rennes")
    assert ask(store, tenant="rennes").entities[0].series == []
    with pytest.raises(NonexistentTenant):
        ask(store, tenant="nowhere")


def test_a_large_batch_is_recorded_whole(store: Store) -> None:
    ids = tuple(f"urn:ngsi-ld:Sensor:{n}" for n in range(50))
    record(store, *(reading(k, at(k), eid=e) for e in ids for k in range(40)), entities=ids)
    with store.session("") as s:
        page = s.temporal_query(TemporalQuery(EntityQuery(ids=ids, limit=100),
                                              aggregation=Aggregation(("totalCount", "sum"))))
    assert [e.series[0].buckets[0].values for e in page.entities] == [{"totalCount": 40, "sum": 780}] * 50

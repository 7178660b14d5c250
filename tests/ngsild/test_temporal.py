"""The temporal API as pure code: durations, query parameters, representations, provision bodies
(clauses 4.5.7, 4.5.9, 4.5.19, 4.11, 5.2.21, 5.2.44, 5.6.11 – 5.6.14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from territoires.ngsild.context import compile_context
from territoires.ngsild.entity import SCOPE
from territoires.ngsild.errors import BadRequestData, InvalidRequest
from territoires.ngsild.model import NGSI_LD_NULL
from territoires.ngsild.query import parse_order_by
from territoires.ngsild.temporal import (
    Duration,
    TemporalParams,
    check_order,
    format_instant,
    parse_duration,
    parse_instance_fragment,
    parse_instant,
    parse_temporal_attributes,
    parse_temporal_body,
    parse_temporal_entity,
    parse_temporal_params,
    render_temporal_entity,
)
from territoires.store.port import Bucket, HistoryInstance, Series, TemporalEntity

NOW = "2026-11-28T10:00:00.000000Z"
V = "https://example.org/vehicle#"
CTX = compile_context({"Vehicle": V + "Vehicle", "speed": V + "speed", "name": V + "name",
                       "category": V + "category", "sport": V + "sport", "fuel": V + "fuel"}, None)
SPEED = V + "speed"
ENTITY_ID = "urn:ngsi-ld:Vehicle:B9211"


# ---- durations ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "months", "microseconds", "canonical"),
    [
        ("PT1H", 0, 3_600_000_000, "PT1H"),
        ("P1D", 0, 86_400_000_000, "P1D"),
        ("P1W", 0, 7 * 86_400_000_000, "P7D"),
        ("P1M", 1, 0, "P1M"),
        ("P1Y2M", 14, 0, "P1Y2M"),
        ("PT15M", 0, 900_000_000, "PT15M"),
        ("PT0.5H", 0, 1_800_000_000, "PT30M"),
        ("PT1,25S", 0, 1_250_000, "PT1.25S"),
        ("P1DT12H", 0, 36 * 3_600_000_000, "P1DT12H"),
        ("PT0S", 0, 0, "PT0S"),
        ("P0D", 0, 0, "PT0S"),
    ],
)
def test_durations(text: str, months: int, microseconds: int, canonical: str) -> None:
    duration = parse_duration(text)
    assert (duration.months, duration.microseconds) == (months, microseconds)
    assert str(duration) == canonical


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("P", "not an ISO 8601 duration"),
        ("PT", "not an ISO 8601 duration"),
        ("P1DT", "not an ISO 8601 duration"),
        ("1D", "not an ISO 8601 duration"),
        ("P-1D", "not an ISO 8601 duration"),
        ("PT1H1D", "not an ISO 8601 duration"),
        ("p1d", "not an ISO 8601 duration"),
        ("P1.5Y", "years and months"),
        ("P1.5DT1H", "only the last component"),
        ("PT0.0000001S", "finer than a microsecond"),
        ("P99999Y", "ten thousand years"),
    ],
)
def test_bad_durations_say_why(text: str, why: str) -> None:
    with pytest.raises(BadRequestData, match=why) as error:
        parse_duration(text)
    assert "aggrPeriodDuration" in error.value.detail


def test_a_duration_must_be_a_string() -> None:
    with pytest.raises(BadRequestData, match="ISO 8601 duration string"):
        parse_duration(3600)


durations = st.builds(Duration, st.integers(0, 12 * 200), st.integers(0, 400 * 86_400_000_000))


@given(durations)
def test_durations_round_trip_through_their_text(duration: Duration) -> None:
    assert parse_duration(str(duration)) == duration


@given(st.from_regex(r"P(\d{1,3}Y)?(\d{1,3}M)?(\d{1,3}W)?(\d{1,3}D)?(T(\d{1,3}H)?(\d{1,3}M)?(\d{1,3}(\.\d{1,6})?S)?)?", fullmatch=True))
def test_parsed_durations_reparse_from_their_canonical_text(text: str) -> None:
    try:
        duration = parse_duration(text)
    except BadRequestData:
        return  # "P", "PT" and their like: the grammar asks for a component
    assert parse_duration(str(duration)) == duration
    assert str(parse_duration(str(duration))) == str(duration)


def test_adding_months_clamps_the_day_to_the_month_end() -> None:
    january_end = datetime(2024, 1, 31, 12, tzinfo=UTC)
    assert parse_duration("P1M").after(january_end) == datetime(2024, 2, 29, 12, tzinfo=UTC)
    assert parse_duration("P1Y1M").after(january_end) == datetime(2025, 2, 28, 12, tzinfo=UTC)
    assert parse_duration("P1MT1H").after(january_end) == datetime(2024, 2, 29, 13, tzinfo=UTC)


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1)), st.integers(0, 10**15))
def test_an_exact_duration_adds_like_a_timedelta(moment: datetime, microseconds: int) -> None:
    moment = moment.replace(tzinfo=UTC)
    assert Duration(0, microseconds).after(moment) == moment + timedelta(microseconds=microseconds)


def test_adding_beyond_the_calendar_is_refused() -> None:
    with pytest.raises(BadRequestData, match="beyond the year 9999"):
        parse_duration("P2Y").after(datetime(9998, 6, 1, tzinfo=UTC))


# ---- instants -------------------------------------------------------------------------------------


def test_instants_have_one_spelling() -> None:
    assert format_instant(parse_instant("2020-08-01T12:05:00Z", "timeAt")) == "2020-08-01T12:05:00.000000Z"
    assert format_instant(parse_instant("2020-08-01T12:05:00,5Z", "timeAt")) == "2020-08-01T12:05:00.500000Z"
    with pytest.raises(BadRequestData, match="timeAt"):
        parse_instant("2020-08-01", "timeAt")


# ---- query parameters (clauses 4.11, 5.2.21, 6.3.12) ----------------------------------------------


def test_no_temporal_parameter_selects_everything_in_normalized_form() -> None:
    assert parse_temporal_params({}) == TemporalParams()


@pytest.mark.parametrize("spelling", ["2020-08-01T12:05:00Z", "2020-08-01T12:05:00.000Z"])
def test_021_26_bounds_are_instants_whatever_their_spelling(spelling: str) -> None:
    params = parse_temporal_params({"timerel": "between", "timeAt": spelling, "endTimeAt": "2020-08-01T13:00:00Z"})
    assert (params.timerel, params.time_at, params.end_time_at) == (
        "between", "2020-08-01T12:05:00.000000Z", "2020-08-01T13:00:00.000000Z",
    )


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ({"timerel": "after"}, "needs timeAt"),
        ({"timerel": "before"}, "needs timeAt"),
        ({"timerel": "between", "timeAt": "2020-08-01T12:00:00Z"}, "needs endTimeAt"),
        ({"timerel": "during", "timeAt": "2020-08-01T12:00:00Z"}, "not one of before, after, between"),
        ({"timeAt": "2020-08-01T12:00:00Z"}, "need timerel"),
        ({"timerel": "after", "timeAt": "2020-08-01"}, "timeAt"),
        ({"timerel": "after", "timeAt": "2020-08-01T12:00:00Z", "endTimeAt": "2020-08-02T12:00:00Z"}, "only meaningful"),
        ({"timerel": "between", "timeAt": "2020-08-02T00:00:00Z", "endTimeAt": "2020-08-01T00:00:00Z"}, "must come after"),
        ({"timeproperty": "observationTime"}, "timeproperty"),
        ({"lastN": "0"}, "positive whole number"),
        ({"lastN": "1.5"}, "positive whole number"),
        ({"lastN": "-3"}, "positive whole number"),
        ({"aggrMethods": "avg,median", "format": "aggregatedValues"}, "'median' is not one of"),
        ({"format": "aggregatedValues"}, "needs aggrMethods"),
        ({"format": "aggregatedValues", "aggrMethods": "avg", "aggrPeriodDuration": "1 hour"}, "aggrPeriodDuration"),
    ],
)
def test_020_09_021_12_inconsistent_temporal_parameters_are_bad_request_data(values: dict, why: str) -> None:
    with pytest.raises(BadRequestData, match=why):
        parse_temporal_params(values)


def test_021_19_format_wins_over_options() -> None:
    params = parse_temporal_params({"format": "temporalValues", "aggrMethods": "sum"}, {"aggregatedValues"})
    assert params.representation == "temporalValues"
    assert params.aggr_methods == ()
    assert parse_temporal_params({}, {"temporalValues", "sysAttrs"}).representation == "temporalValues"


@pytest.mark.parametrize(("format_value", "words"), [("invalidFormat", set()), (None, {"invalidOptions"}),
                                                    (None, {"temporalValues", "invalidOptions"}),
                                                    ("keyValues", set())])
def test_021_20_unknown_format_or_options_are_invalid_requests(format_value: str | None, words: set[str]) -> None:
    with pytest.raises(InvalidRequest):
        parse_temporal_params({"format": format_value}, words)


def test_two_representations_at_once_are_refused() -> None:
    with pytest.raises(BadRequestData, match="several representations"):
        parse_temporal_params({}, {"temporalValues", "aggregatedValues"})


def test_aggregation_parameters() -> None:
    params = parse_temporal_params(
        {"format": "aggregatedValues", "aggrMethods": "max,avg,max", "aggrPeriodDuration": "PT1H", "lastN": "3"}
    )
    assert params.aggr_methods == ("max", "avg")
    assert params.aggr_period == Duration(0, 3_600_000_000)
    assert params.last_n == 3
    whole = parse_temporal_params({"format": "aggregatedValues", "aggrMethods": "sum", "aggrPeriodDuration": "PT0S"})
    assert whole.aggr_period is None


def test_021_27_temporal_query_in_a_query_body() -> None:
    params = parse_temporal_body(
        {"timerel": "after", "timeAt": "2020-08-01T12:00:00Z", "lastN": 1, "aggrMethods": ["avg"]},
        {"aggrPeriodDuration": "P1D"}, "aggregatedValues", set(),
    )
    assert (params.timerel, params.last_n, params.aggr_methods, str(params.aggr_period)) == ("after", 1, ("avg",), "P1D")
    for temporal_q, why in [({"lastN": 0}, "positive"), ({"lastN": 1.5}, "positive"), ({"lastN": True}, "positive"),
                            ({"timerel": "after"}, "needs timeAt"), ({"timeproperty": "x"}, "timeproperty"),
                            ({"when": "now"}, "unknown member"), ("after", "JSON object")]:
        with pytest.raises(BadRequestData, match=why):
            parse_temporal_body(temporal_q, None, None, set())


@pytest.mark.parametrize(("temporal_q", "aggr_params", "methods"), [
    ({"aggrMethods": ["avg"]}, None, ("avg",)),  # 021_27_07: an array of strings
    ({"aggrMethods": "avg,max"}, None, ("avg", "max")),  # 021_27_08: one comma-separated string
    ({}, {"aggrMethods": ["avg"], "aggrPeriodDuration": "PT0S"}, ("avg",)),  # 5244_01_01: AggregationParams
])
def test_021_27_07_021_27_08_5244_01_01_aggr_methods_ask_for_the_aggregated_representation(
    temporal_q: dict, aggr_params: dict | None, methods: tuple[str, ...]
) -> None:
    after = {"timerel": "after", "timeAt": "2020-08-01T12:00:00Z"}
    params = parse_temporal_body({**after, **temporal_q}, aggr_params, None, set())
    assert (params.representation, params.aggr_methods) == ("aggregatedValues", methods)
    assert parse_temporal_params({"aggrMethods": "sum"}).representation == "aggregatedValues"
    named = parse_temporal_body({**after, **temporal_q}, aggr_params, None, {"temporalValues"})
    assert (named.representation, named.aggr_methods) == ("temporalValues", ())  # a named representation wins


@pytest.mark.parametrize("order_by", ["name", "createdAt", "name.subProperty", "id,name", "scope", "type;desc"])
def test_021_23_5741_01_06_a_temporal_query_is_ordered_by_id_only(order_by: str) -> None:
    with pytest.raises(BadRequestData, match="only be ordered by id"):
        check_order(parse_order_by(order_by, CTX.expand))


def test_021_23_02_03_ordering_by_id() -> None:
    check_order(parse_order_by("id", CTX.expand))
    check_order(parse_order_by("id;desc", CTX.expand))
    check_order(())


def test_5244_aggregation_params_are_checked() -> None:
    with pytest.raises(BadRequestData, match="aggrMethods"):
        parse_temporal_body(None, {"aggrMethods": ["bogus"]}, "aggregatedValues", set())
    with pytest.raises(BadRequestData, match="aggrPeriodDuration"):
        parse_temporal_body(None, {"aggrMethods": ["avg"], "aggrPeriodDuration": "P1X"}, "aggregatedValues", set())
    with pytest.raises(BadRequestData, match="aggrMethods"):
        parse_temporal_body(None, {"aggrMethods": [1]}, "aggregatedValues", set())


# ---- representations (clauses 4.5.7, 4.5.9, 4.5.19) ------------------------------------------------


def recorded(instance: dict, n: int, deleted_at: str | None = None) -> HistoryInstance:
    return HistoryInstance(ENTITY_ID, SPEED, instance, modified_at=f"2020-08-01T13:00:0{n}.000000Z",
                           deleted_at=deleted_at, instance_id=f"urn:ngsi-ld:Instance:{n}")


def vehicle(*series: Series) -> TemporalEntity:
    return TemporalEntity(ENTITY_ID, [V + "Vehicle"], None, "2020-08-01T12:00:00.000000Z",
                          "2020-08-01T13:00:00.000000Z", list(series))


SPEEDS = Series(SPEED, None, [
    recorded({"type": "Property", "value": 120, "observedAt": "2020-08-01T12:03:00Z", "unitCode": "KMH"}, 1),
    recorded({"type": "Property", "value": 80, "observedAt": "2020-08-01T12:05:00Z", "unitCode": "KMH"}, 2),
])


def test_020_01_normalized_temporal_representation() -> None:
    assert render_temporal_entity(vehicle(SPEEDS), CTX, TemporalParams()) == {
        "id": ENTITY_ID,
        "type": "Vehicle",
        "speed": [
            {"type": "Property", "value": 120, "observedAt": "2020-08-01T12:03:00Z", "unitCode": "KMH",
             "instanceId": "urn:ngsi-ld:Instance:1"},
            {"type": "Property", "value": 80, "observedAt": "2020-08-01T12:05:00Z", "unitCode": "KMH",
             "instanceId": "urn:ngsi-ld:Instance:2"},
        ],
    }


def test_020_02_names_are_compacted_under_the_request_context() -> None:
    core = compile_context(None, None)
    rendered = render_temporal_entity(vehicle(SPEEDS), core, TemporalParams())
    assert rendered["type"] == V + "Vehicle" and len(rendered[SPEED]) == 2


def test_a_single_instance_is_still_an_array_with_system_attributes_on_demand() -> None:
    one = Series(SPEED, None, SPEEDS.instances[:1])
    rendered = render_temporal_entity(vehicle(one), CTX, TemporalParams(), sys_attrs=True)
    assert rendered["createdAt"] == "2020-08-01T12:00:00.000000Z"
    assert isinstance(rendered["speed"], list) and len(rendered["speed"]) == 1
    assert rendered["speed"][0]["instanceId"] == "urn:ngsi-ld:Instance:1"


def test_the_time_property_asked_is_shown_on_each_instance() -> None:
    item = recorded({"type": "Property", "value": 1, "modifiedAt": "2020-08-01T13:00:01.000000Z"}, 1)
    rendered = render_temporal_entity(vehicle(Series(SPEED, None, [item])), CTX, TemporalParams(timeproperty="modifiedAt"))
    assert rendered["speed"][0]["modifiedAt"] == "2020-08-01T13:00:01.000000Z"


def test_020_14_an_attribute_without_instances_in_the_range_is_an_empty_array() -> None:
    empty = Series(V + "fuel", None, [])
    assert render_temporal_entity(vehicle(SPEEDS, empty), CTX, TemporalParams())["fuel"] == []
    simplified = render_temporal_entity(vehicle(empty), CTX, TemporalParams(representation="temporalValues"))
    assert simplified["fuel"] == {"type": "Property", "values": []}  # 021_15_07


def test_020_17_a_deletion_shows_the_null_of_its_type_and_when() -> None:
    series = [
        Series(SPEED, None, [recorded({"type": "Property", "value": NGSI_LD_NULL}, 3, "2024-12-09T17:16:12.031483Z")]),
        Series(V + "name", None, [recorded({"type": "LanguageProperty", "languageMap": NGSI_LD_NULL}, 4,
                                            "2024-12-09T17:16:12.031483Z")]),
    ]
    rendered = render_temporal_entity(vehicle(*series), CTX, TemporalParams(timeproperty="deletedAt"))
    assert rendered["speed"] == [{"type": "Property", "value": NGSI_LD_NULL, "instanceId": "urn:ngsi-ld:Instance:3",
                                  "deletedAt": "2024-12-09T17:16:12.031483Z"}]
    assert rendered["name"][0]["languageMap"] == {"@none": NGSI_LD_NULL}
    values = render_temporal_entity(vehicle(*series), CTX, TemporalParams(timeproperty="deletedAt",
                                                                          representation="temporalValues"))
    assert values["name"] == {"type": "LanguageProperty",
                              "languageMaps": [[{"languageMap": {"@none": NGSI_LD_NULL}}, "2024-12-09T17:16:12.031483Z"]]}


def test_020_10_temporal_values_pair_each_content_with_its_time() -> None:
    rendered = render_temporal_entity(vehicle(SPEEDS), CTX, TemporalParams(representation="temporalValues"))
    assert rendered == {
        "id": ENTITY_ID, "type": "Vehicle",
        "speed": {"type": "Property", "values": [[120, "2020-08-01T12:03:00Z"], [80, "2020-08-01T12:05:00Z"]]},
    }


def test_459_temporal_values_of_every_attribute_type() -> None:
    at = "2020-08-01T12:03:00Z"
    kinds = {
        "Relationship": ({"object": "urn:ngsi-ld:Parking:1"}, "objects", "urn:ngsi-ld:Parking:1"),
        "GeoProperty": ({"value": {"type": "Point", "coordinates": [1, 2]}}, "values", {"type": "Point", "coordinates": [1, 2]}),
        "LanguageProperty": ({"languageMap": {"fr": "Grand Place"}}, "languageMaps", {"languageMap": {"fr": "Grand Place"}}),
        "VocabProperty": ({"vocab": V + "sport"}, "vocabs", {"vocab": "sport"}),
        "JsonProperty": ({"json": {"value": 1}}, "jsons", {"json": {"value": 1}}),
        "ListProperty": ({"valueList": [1.2, 3.4]}, "valueLists", [1.2, 3.4]),
        "ListRelationship": ({"objectList": ["urn:ngsi-ld:Road:1"]}, "objectLists", ["urn:ngsi-ld:Road:1"]),
    }
    for kind, (content, member, shown) in kinds.items():
        series = Series(V + "category", None, [recorded({"type": kind, **content, "observedAt": at}, 1)])
        rendered = render_temporal_entity(vehicle(series), CTX, TemporalParams(representation="temporalValues"))
        assert rendered["category"] == {"type": kind, member: [[shown, at]]}, kind


def test_an_instance_observed_at_no_time_is_dated_by_its_modification() -> None:
    series = Series(SPEED, None, [recorded({"type": "Property", "value": 5}, 7)])
    rendered = render_temporal_entity(vehicle(series), CTX, TemporalParams(representation="temporalValues"))
    assert rendered["speed"]["values"] == [[5, "2020-08-01T13:00:07.000000Z"]]


def test_021_18_datasets_are_separate_series() -> None:
    fuel = Series(SPEED, "urn:ngsi-ld:Dataset:fuel", [
        recorded({"type": "Property", "value": 40, "datasetId": "urn:ngsi-ld:Dataset:fuel", "observedAt": "2020-09-01T14:07:00Z"}, 5)
    ])
    params = TemporalParams(representation="temporalValues")
    both = render_temporal_entity(vehicle(SPEEDS, fuel), CTX, params)
    assert [item.get("datasetId") for item in both["speed"]] == [None, "urn:ngsi-ld:Dataset:fuel"]
    only = render_temporal_entity(vehicle(fuel), CTX, params, dataset_id=frozenset({"urn:ngsi-ld:Dataset:fuel"}))
    assert only["speed"] == {"type": "Property", "datasetId": "urn:ngsi-ld:Dataset:fuel", "values": [[40, "2020-09-01T14:07:00Z"]]}
    # The query kept the series of the datasetIds asked for: an entity with none is left out.
    bare = vehicle()
    assert render_temporal_entity(bare, CTX, params, dataset_id=frozenset({"urn:ngsi-ld:Dataset:fuel"})) == {}


def test_020_11_aggregated_values_are_value_start_end_triples() -> None:
    series = Series(SPEED, None, SPEEDS.instances, buckets=[
        Bucket("2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z", {"avg": 100.0, "max": 120}),
        Bucket("2020-08-01T13:03:00Z", "2020-08-01T14:03:00Z", {"avg": None, "max": None}),
    ])
    params = TemporalParams(representation="aggregatedValues", aggr_methods=("avg", "max"))
    assert render_temporal_entity(vehicle(series), CTX, params)["speed"] == {
        "type": "Property",
        "avg": [[100.0, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"]],
        "max": [[120, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"]],
    }


def test_020_21_pick_and_omit() -> None:
    params = TemporalParams()
    picked = render_temporal_entity(vehicle(SPEEDS), CTX, params, pick=frozenset({"id", SPEED}))
    assert set(picked) == {"id", "speed"}
    omitted = render_temporal_entity(vehicle(SPEEDS), CTX, TemporalParams(representation="temporalValues"),
                                     omit=frozenset({"type", SPEED}))
    assert omitted == {"id": ENTITY_ID}


# ---- provision bodies (clauses 5.6.11 – 5.6.14) ---------------------------------------------------


def test_007_01_a_temporal_entity_holds_arrays_of_instances() -> None:
    fragment = parse_temporal_entity({
        "id": ENTITY_ID, "type": "Vehicle", "scope": "/Rennes",
        "speed": [{"type": "Property", "value": 120, "observedAt": "2020-08-01T12:03:00Z"},
                  {"value": 80, "observedAt": "2020-08-01T12:05:00Z", "instanceId": "urn:ignored"}],
        "category": {"type": "VocabProperty", "vocab": "sport"},
    }, CTX, now=NOW)
    assert (fragment.id, fragment.types, fragment.scope) == (ENTITY_ID, (V + "Vehicle",), ("/Rennes",))
    assert [(attr, instance.get("value", instance.get("vocab"))) for attr, instance in fragment.instances] == [
        (SPEED, 120), (SPEED, 80), (V + "category", V + "sport"),
    ]
    assert fragment.instances[1][1] == {"type": "Property", "value": 80, "observedAt": "2020-08-01T12:05:00Z",
                                        "createdAt": NOW, "modifiedAt": NOW}


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"type": "Vehicle"}, "no id"),
        ({"id": "invalidId", "type": "Vehicle"}, "not an absolute URI"),
        ({"id": ENTITY_ID}, "no type"),
        ([], "JSON object"),
        ({"id": ENTITY_ID, "type": "Vehicle", "speed": []}, "at least one instance"),
        ({"id": ENTITY_ID, "type": "Vehicle", "speed": [1, 2]}, "each instance"),
        ({"id": ENTITY_ID, "type": "Vehicle", "speed": [{"type": "Property", "value": 1, "unitCode": NGSI_LD_NULL}]},
         "not allowed"),
        ({"id": ENTITY_ID, "type": "Vehicle", "speed": [{"type": "Property", "value": 1,
                                                         "sport": {"type": "Property", "value": NGSI_LD_NULL}}]},
         "sub-attributes"),
        ({"id": ENTITY_ID, "type": "Vehicle", "speed": [{"type": "Property", "value": 1, "observedAt": "yesterday"}]},
         "observedAt"),
        ({"id": ENTITY_ID, "type": "Vehicle", "bad(name": [{"type": "Property", "value": 1}]}, "not a valid name"),
    ],
)
def test_007_02_007_03_bad_temporal_entities(body: object, why: str) -> None:
    with pytest.raises(BadRequestData, match=why):
        parse_temporal_entity(body, CTX, now=NOW)


def test_5744_03_the_scope_given_as_its_temporal_evolution() -> None:
    """Clause 4.5.6: in a temporal representation, the Scope is a temporal Property; a temporal
    entity given in that form (as this broker renders it) is accepted."""
    fragment = parse_temporal_entity({
        "id": ENTITY_ID, "type": "Vehicle",
        "scope": [{"type": "Property", "value": "/R", "observedAt": "2026-03-01T10:00:00Z", "instanceId": "urn:x:1"},
                  {"value": ["/A/B", "/C", "/A/B"], "observedAt": "2026-03-01T12:30:00Z"},
                  {"type": "Property", "value": NGSI_LD_NULL, "deletedAt": "2026-03-01T13:00:00Z"}],
        "speed": [{"type": "Property", "value": 1, "observedAt": "2026-03-01T12:15:00Z"}],
    }, CTX, now=NOW)
    assert fragment.scope is None
    assert [(attr, instance.get("value"), instance.get("observedAt")) for attr, instance in fragment.instances] == [
        (SCOPE, "/R", "2026-03-01T10:00:00Z"), (SCOPE, ["/A/B", "/C"], "2026-03-01T12:30:00Z"),
        (SCOPE, NGSI_LD_NULL, None), (SPEED, 1, "2026-03-01T12:15:00Z"),
    ]
    assert fragment.instances[0][1] == {"type": "Property", "value": "/R", "observedAt": "2026-03-01T10:00:00Z",
                                        "createdAt": NOW, "modifiedAt": NOW}
    single = parse_temporal_entity({"id": ENTITY_ID, "type": "Vehicle", "scope": {"type": "Property", "value": "/R"}},
                                   CTX, now=NOW)
    assert [attr for attr, _ in single.instances] == [SCOPE]


@pytest.mark.parametrize(("scope", "why"), [
    ([{"type": "Property", "value": "/R", "unitCode": "C62"}], "clause 4.5.6"),
    ([{"type": "Property", "value": "/R", "sub": {"type": "Property", "value": 1}}], "clause 4.5.6"),
    ([{"type": "Relationship", "object": "urn:x:1"}], "is a Property"),
    (["/R", {"type": "Property", "value": "/S"}], "is a Property"),
    ([{"type": "Property", "value": "R S"}], "not a Scope"),
    ([{"type": "Property"}], "non-empty string"),
    ([{"type": "Property", "value": []}], "at least one Scope"),
    ([{"type": "Property", "value": "/R", "observedAt": "soon"}], "observedAt"),
])
def test_5744_03_bad_scope_instances(scope: list, why: str) -> None:
    with pytest.raises(BadRequestData, match=why):
        parse_temporal_entity({"id": ENTITY_ID, "type": "Vehicle", "scope": scope}, CTX, now=NOW)


def test_5611_a_recorded_deletion_is_valid_temporal_input() -> None:
    fragment = parse_temporal_entity({"id": ENTITY_ID, "type": "Vehicle", "speed": [
        {"type": "Property", "value": NGSI_LD_NULL, "observedAt": "2026-01-02T00:00:00Z"}]}, CTX, now=NOW)
    assert fragment.instances[0][1]["value"] == NGSI_LD_NULL


def test_014_attributes_to_add_are_attributes_only() -> None:
    instances = parse_temporal_attributes({"speed": [{"type": "Property", "value": 1}], "@context": "ignored"}, CTX, now=NOW)
    assert [attr for attr, _ in instances] == [SPEED]
    for body, why in [({}, "no attribute instance"), ({"id": ENTITY_ID, "speed": {"value": 1}}, "only attributes"),
                      ("speed", "JSON object")]:
        with pytest.raises(BadRequestData, match=why):
            parse_temporal_attributes(body, CTX, now=NOW)


def test_016_an_instance_fragment_alone_or_under_its_attribute() -> None:
    alone = parse_instance_fragment("speed", {"type": "Property", "value": 129, "observedAt": "2020-09-01T12:03:00Z"},
                                    CTX, now=NOW)
    wrapped = parse_instance_fragment("speed", {"speed": [{"value": 129, "observedAt": "2020-09-01T12:03:00Z"}]},
                                      CTX, now=NOW)
    assert alone == wrapped == {"type": "Property", "value": 129, "observedAt": "2020-09-01T12:03:00Z",
                                "createdAt": NOW, "modifiedAt": NOW}
    with pytest.raises(BadRequestData, match="use DELETE"):
        parse_instance_fragment("speed", {"type": "Property", "value": NGSI_LD_NULL}, CTX, now=NOW)
    with pytest.raises(BadRequestData, match="JSON object"):
        parse_instance_fragment("speed", [1], CTX, now=NOW)

"""Linked Entity Retrieval as pure code (clause 4.5.23): join, joinLevel, containedBy and nested pick/omit."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from territoires.ngsild.context import compile_context
from territoires.ngsild.entity import parse_entity
from territoires.ngsild.errors import BadRequestData, TooComplexQuery
from territoires.ngsild.join import (
    MAX_JOIN_LEVEL,
    Join,
    Projection,
    parse_join,
    parse_omit,
    parse_pick,
    render_linked,
)

NOW = "2026-11-28T10:00:00.000000Z"
CTX = compile_context(None, None)  # the core context: other names go to the default vocabulary
BUILDING, CITY, COUNTRY = "urn:ngsi-ld:Building:1", "urn:ngsi-ld:City:Paris", "urn:ngsi-ld:Country:France"


def iri(name: str) -> str:
    return CTX.expand(name)


def entity(entity_id: str, kind: str, **attrs):
    return parse_entity({"id": entity_id, "type": kind, **attrs}, CTX, now=NOW)


def rel(target, **extra):
    return {"type": "Relationship", "object": target, **extra}


def prop(value):
    return {"type": "Property", "value": value}


class Store:
    """Stored entities by id, and the fetch calls made on them."""

    def __init__(self, *entities):
        self.entities = {e["id"]: e for e in entities}
        self.calls: list[list[str]] = []

    def fetch(self, ids: list[str]):
        self.calls.append(list(ids))
        return {i: self.entities[i] for i in ids if i in self.entities}


def chain():
    """Building -locatedAt-> City -isInCountry-> Country, as in the conformance suite."""
    building = entity(BUILDING, "Building", name=prop("Eiffel Tower"), locatedAt=rel(CITY))
    city = entity(CITY, "City", name=prop("Paris"), description=prop("capital"), isInCountry=rel(COUNTRY))
    country = entity(COUNTRY, "Country", name=prop("France"), description=prop("a country"))
    return building, Store(building, city, country)


def run(roots, store, join, **options):
    result = render_linked(roots, CTX, store.fetch, join, **options)
    orjson.dumps(result)  # always serialisable
    return result


# ---- inline ---------------------------------------------------------------------------------


def test_inline_normalized_embeds_the_linked_entity_in_the_relationship():
    building, store = chain()
    [out] = run([building], store, Join("inline"))
    assert out["locatedAt"] == {
        "type": "Relationship", "object": CITY,
        "entity": {"id": CITY, "type": "City", "name": prop("Paris"), "description": prop("capital"),
                   "isInCountry": rel(COUNTRY)},
    }
    assert out["name"] == prop("Eiffel Tower")


def test_inline_simplified_replaces_the_object_by_the_linked_entity():
    building, store = chain()
    [out] = run([building], store, Join("inline"), form="keyValues")
    assert out["locatedAt"] == {"id": CITY, "type": "City", "name": "Paris", "description": "capital",
                                "isInCountry": COUNTRY}


def test_inline_concise_adds_the_entity_member():
    building, store = chain()
    [out] = run([building], store, Join("inline"), form="concise")
    assert out["locatedAt"]["object"] == CITY
    assert out["locatedAt"]["entity"]["name"] == "Paris"


def test_inline_two_levels():
    building, store = chain()
    [out] = run([building], store, Join("inline", 2), form="keyValues")
    assert out["locatedAt"]["isInCountry"] == {"id": COUNTRY, "type": "Country", "name": "France",
                                               "description": "a country"}


def test_join_level_bounds_the_depth():
    building, store = chain()
    [out] = run([building], store, Join("inline", 1))
    assert "entity" not in out["locatedAt"]["entity"]["isInCountry"]
    assert store.calls == [[CITY]]


def test_missing_linked_entity_leaves_the_relationship_as_it_is():
    building = entity(BUILDING, "Building", locatedAt=rel(CITY))
    for form in ("normalized", "keyValues"):
        [out] = run([building], Store(building), Join("inline"), form=form)
        assert out["locatedAt"] == (rel(CITY) if form == "normalized" else CITY)
        assert run([building], Store(building), Join("flat"), form=form) == [out]


def test_sys_attrs_reach_linked_entities():
    building, store = chain()
    [out] = run([building], store, Join("inline"), sys_attrs=True)
    assert out["createdAt"] == NOW and out["locatedAt"]["entity"]["createdAt"] == NOW


def test_lang_reaches_linked_entities_and_attrs_does_not():
    building = entity(BUILDING, "Building", name=prop("Tower"), locatedAt=rel(CITY))
    city = entity(CITY, "City", name={"type": "LanguageProperty", "languageMap": {"fr": "Paris", "en": "Paris (en)"}},
                  population=prop(2_100_000))
    [out] = run([building], Store(building, city), Join("inline"), attrs=frozenset({iri("locatedAt")}), lang="en")
    assert "name" not in out
    assert out["locatedAt"]["entity"]["name"] == {"type": "Property", "value": "Paris (en)", "lang": "en"}
    assert out["locatedAt"]["entity"]["population"] == prop(2_100_000)


# ---- flat -----------------------------------------------------------------------------------


def test_flat_adds_linked_entities_after_the_requested_ones_breadth_first():
    building, store = chain()
    out = run([building], store, Join("flat", 2), form="keyValues")
    assert [e["id"] for e in out] == [BUILDING, CITY, COUNTRY]
    assert out[0]["locatedAt"] == CITY and out[1]["isInCountry"] == COUNTRY


def test_flat_lists_each_entity_once():
    city = entity(CITY, "City")
    buildings = [entity(f"urn:ngsi-ld:Building:{n}", "Building", locatedAt=rel(CITY)) for n in range(3)]
    store = Store(city, *buildings)
    out = run(buildings, store, Join("flat"))
    assert [e["id"] for e in out] == [b["id"] for b in buildings] + [CITY]
    assert store.calls == [[CITY]]


def test_flat_does_not_repeat_a_requested_entity_that_is_also_linked():
    a = entity("urn:ngsi-ld:Building:a", "Building", next=rel("urn:ngsi-ld:Building:b"))
    b = entity("urn:ngsi-ld:Building:b", "Building", next=rel("urn:ngsi-ld:Building:a"))
    store = Store(a, b)
    assert [e["id"] for e in run([a, b], store, Join("flat", 3))] == [a["id"], b["id"]]
    assert store.calls == []  # both are at hand already


# ---- cycles, containedBy, batching ----------------------------------------------------------


def test_a_cycle_stops_at_an_entity_met_at_a_shallower_depth():
    a = entity("urn:ngsi-ld:Thing:a", "Thing", next=rel("urn:ngsi-ld:Thing:b"))
    b = entity("urn:ngsi-ld:Thing:b", "Thing", next=rel("urn:ngsi-ld:Thing:a"))
    store = Store(a, b)
    [out] = run([a], store, Join("inline", MAX_JOIN_LEVEL))
    back = out["next"]["entity"]["next"]
    assert back["entity"]["id"] == a["id"]
    assert "entity" not in back["entity"]["next"]  # a was met at depth 0: shown, not expanded again
    assert store.calls == [["urn:ngsi-ld:Thing:b"]]


def test_contained_by_entities_are_neither_fetched_nor_attached():
    building, store = chain()
    [out] = run([building], store, Join("inline", 2, contained_by=frozenset({COUNTRY})))
    assert out["locatedAt"]["entity"]["isInCountry"] == rel(COUNTRY)
    assert store.calls == [[CITY]]


def test_one_fetch_per_level_for_all_its_ids():
    countries = [entity(f"urn:ngsi-ld:Country:{n}", "Country") for n in range(3)]
    cities = [entity(f"urn:ngsi-ld:City:{n}", "City", isInCountry=rel(c["id"])) for n, c in enumerate(countries)]
    buildings = [entity(f"urn:ngsi-ld:Building:{n}", "Building", locatedAt=rel(c["id"])) for n, c in enumerate(cities)]
    store = Store(*countries, *cities, *buildings)
    out = run(buildings, store, Join("inline", 5))
    assert store.calls == [[c["id"] for c in cities], [c["id"] for c in countries]]
    assert [o["locatedAt"]["entity"]["isInCountry"]["entity"]["id"] for o in out] == [c["id"] for c in countries]


def test_shared_linked_entity_is_expanded_under_each_linking_entity():
    building, store = chain()
    other = entity("urn:ngsi-ld:Building:2", "Building", locatedAt=rel(CITY))
    store.entities[other["id"]] = other
    out = run([building, other], store, Join("inline", 2))
    assert all(o["locatedAt"]["entity"]["isInCountry"]["entity"]["id"] == COUNTRY for o in out)


# ---- ListRelationship, several objects, several instances -----------------------------------


def test_list_relationship_inline():
    cables = [entity(f"urn:ngsi-ld:Cable:{n}", "Cable", length=prop(n)) for n in (1, 2)]
    ids = [c["id"] for c in cables] + ["urn:ngsi-ld:Cable:missing"]
    light = entity("urn:ngsi-ld:Streetlight:1", "Streetlight", feeds={"type": "ListRelationship", "objectList": ids})
    store = Store(light, *cables)
    [out] = run([light], store, Join("inline"))
    assert [e["id"] for e in out["feeds"]["entityList"]] == ids[:2]
    assert out["feeds"]["objectList"] == [{"object": i} for i in ids]
    [simple] = run([light], store, Join("inline"), form="keyValues")
    assert simple["feeds"] == [{"id": ids[0], "type": "Cable", "length": 1},
                               {"id": ids[1], "type": "Cable", "length": 2}, ids[2]]
    assert [e["id"] for e in run([light], store, Join("flat"))] == [light["id"], *ids[:2]]


def test_relationship_with_several_objects():
    a, b = entity("urn:ngsi-ld:City:a", "City"), entity("urn:ngsi-ld:City:b", "City")
    road = entity("urn:ngsi-ld:Road:1", "Road", crosses=rel([a["id"], b["id"]]))
    [out] = run([road], Store(road, a, b), Join("inline"))
    assert [e["id"] for e in out["crosses"]["entity"]] == [a["id"], b["id"]]
    [simple] = run([road], Store(road, a, b), Join("inline"), form="keyValues")
    assert simple["crosses"] == [{"id": a["id"], "type": "City"}, {"id": b["id"], "type": "City"}]


def test_relationship_instances_by_dataset_id():
    a, b = entity("urn:ngsi-ld:Cabinet:a", "Cabinet"), entity("urn:ngsi-ld:Cabinet:b", "Cabinet")
    light = entity("urn:ngsi-ld:Streetlight:1", "Streetlight",
                   fedBy=[rel(a["id"]), rel(b["id"], datasetId="urn:ngsi-ld:Dataset:backup")])
    store = Store(light, a, b)
    [out] = run([light], store, Join("inline"))
    assert [i["entity"]["id"] for i in out["fedBy"]] == [a["id"], b["id"]]
    [simple] = run([light], store, Join("inline"), form="keyValues")
    assert simple["fedBy"] == {"dataset": {"@none": {"id": a["id"], "type": "Cabinet"},
                                           "urn:ngsi-ld:Dataset:backup": {"id": b["id"], "type": "Cabinet"}}}
    [only] = run([light], store, Join("inline"), dataset_id=frozenset({"urn:ngsi-ld:Dataset:backup"}))
    assert only["fedBy"]["entity"]["id"] == b["id"]


def test_relationships_of_attributes_are_not_followed():
    light = entity("urn:ngsi-ld:Streetlight:1", "Streetlight", status={**prop("ok"), "reportedBy": rel(CITY)})
    store = Store(light, entity(CITY, "City"))
    [out] = run([light], store, Join("inline"))
    assert out["status"]["reportedBy"] == rel(CITY)
    assert store.calls == []


def test_the_stored_entity_is_not_changed():
    building, store = chain()
    before = orjson.dumps(store.entities, option=orjson.OPT_SORT_KEYS)
    for mode in ("inline", "flat"):
        for form in ("normalized", "concise", "keyValues"):
            run([building], store, Join(mode, 2), form=form)
    assert orjson.dumps(store.entities, option=orjson.OPT_SORT_KEYS) == before


# ---- pick and omit on linked entities (clause 4.21) -----------------------------------------


def test_pick_projects_linked_entities():
    building, store = chain()
    pick = parse_pick("id,locatedAt{id,name,isInCountry{id,description}}", CTX.expand)
    [out] = run([building], store, Join("inline", 2, pick=pick))
    assert out == {"id": BUILDING, "locatedAt": {**rel(CITY), "entity": {
        "id": CITY, "name": prop("Paris"),
        "isInCountry": {**rel(COUNTRY), "entity": {"id": COUNTRY, "description": prop("a country")}}}}}


def test_a_relationship_left_out_is_not_followed():
    building, store = chain()
    pick = parse_pick("id,locatedAt{id,name}", CTX.expand)
    assert [e["id"] for e in run([building], store, Join("flat", 2, pick=pick))] == [BUILDING, CITY]
    assert store.calls == [[CITY]]
    store.calls.clear()
    assert run([building], store, Join("flat", 2, pick=parse_pick("id,name", CTX.expand))) == [
        {"id": BUILDING, "name": prop("Eiffel Tower")}]
    assert store.calls == []


def test_pick_without_braces_leaves_linked_entities_whole():
    building, store = chain()
    [out] = run([building], store, Join("inline", pick=parse_pick("locatedAt", CTX.expand)))
    assert set(out["locatedAt"]["entity"]) == {"id", "type", "name", "description", "isInCountry"}


def test_omit_projects_linked_entities_and_keeps_the_relationship():
    building, store = chain()
    omit = parse_omit("type,locatedAt{name,isInCountry{description}}", CTX.expand)
    out = run([building], store, Join("flat", 2, omit=omit))
    assert out == [
        {"id": BUILDING, "name": prop("Eiffel Tower"), "locatedAt": rel(CITY)},
        {"id": CITY, "type": "City", "description": prop("capital"), "isInCountry": rel(COUNTRY)},
        {"id": COUNTRY, "type": "Country", "name": prop("France")},
    ]


def test_top_level_omit_does_not_reach_linked_entities():
    building, store = chain()
    [out] = run([building], store, Join("inline", omit=parse_omit("name", CTX.expand)))
    assert "name" not in out and out["locatedAt"]["entity"]["name"] == prop("Paris")


# ---- parameters -----------------------------------------------------------------------------


def test_parse_pick_nested():
    pick = parse_pick("id, locatedAt{id,name,isInCountry{description}},type", CTX.expand)
    assert pick.names == {"id", "type", iri("locatedAt")}
    city = pick.linked(iri("locatedAt"))
    assert city is not None and city.names == {"id", iri("name"), iri("isInCountry")}
    assert city.linked(iri("isInCountry")) == Projection(frozenset({iri("description")}))
    assert pick.linked(iri("name")) is None


def test_parse_omit_nested_keeps_the_relationship():
    omit = parse_omit("name,locatedAt{name}", CTX.expand)
    assert omit.names == {iri("name")}
    assert omit.linked(iri("locatedAt")) == Projection(frozenset({iri("name")}))


def test_421_01_01_pipe_and_comma_pick_the_same_attributes():
    assert parse_pick("name|airQualityLevel", CTX.expand) == parse_pick("name,airQualityLevel", CTX.expand)
    assert parse_omit("a|locatedAt{id|name},b", CTX.expand) == parse_omit("a,locatedAt{id,name},b", CTX.expand)


@pytest.mark.parametrize("text", [
    "", "a,", ",a", "a,,b", "a{}", "{a}", "a{b", "a}b", "a{b}}", "a{b}c", "a{b},{c}", "a b", "a{b{c}", "a{b},a{c}",
    "a{b,}", "a{{b}}",
    "a||b", "a|", "|a", "a|,b", "a{b|}", "a{|b}",  # 421_01_02: the pipe spelling admits no empty member either
])
def test_malformed_projection_is_bad_request_data(text):
    with pytest.raises(BadRequestData) as error:
        parse_pick(text, CTX.expand)
    assert "pick" in error.value.detail


def test_too_deep_projection_is_too_complex():
    text = "a{" * (MAX_JOIN_LEVEL + 1) + "b" + "}" * (MAX_JOIN_LEVEL + 1)
    with pytest.raises(TooComplexQuery):
        parse_omit(text, CTX.expand)
    assert parse_omit("a{" * MAX_JOIN_LEVEL + "b" + "}" * MAX_JOIN_LEVEL, CTX.expand).names == frozenset()


_NAMES = st.sampled_from(["id", "type", "name", "locatedAt", "isInCountry", "description", "ex:rel", "population"])


def _trees(depth: int):
    leaf = st.tuples(_NAMES, st.none())
    item = leaf if depth == 0 else st.one_of(leaf, st.tuples(_NAMES, st.deferred(lambda: _trees(depth - 1))))
    return st.lists(item, min_size=1, max_size=4, unique_by=lambda pair: pair[0])


def _text(tree, sep: str = ",") -> str:
    return sep.join(name if sub is None else f"{name}{{{_text(sub, sep)}}}" for name, sub in tree)


def _expected(tree, omit: bool) -> Projection:
    def name(n: str) -> str:
        return n if n in ("id", "type") else iri(n)

    names = frozenset(name(n) for n, sub in tree if not (omit and sub is not None))
    nested = tuple((name(n), _expected(sub, omit)) for n, sub in tree if sub is not None)
    return Projection(names, nested)


@given(_trees(3), st.booleans(), st.sampled_from([",", "|"]))
def test_projection_round_trip(tree, omit, sep):
    parse = parse_omit if omit else parse_pick
    assert parse(_text(tree, sep), CTX.expand) == _expected(tree, omit)


@given(st.text(alphabet="ab{},|  ", max_size=30))
def test_projection_parser_never_crashes(text):
    try:
        parse_pick(text, CTX.expand)
    except BadRequestData:
        pass


def test_parse_join():
    assert parse_join(None) is None and parse_join("@none", "3") is None
    assert parse_join("flat") == Join("flat", 1)
    assert parse_join("inline", "2", f"{CITY}, {COUNTRY}") == Join("inline", 2, frozenset({CITY, COUNTRY}))
    assert parse_join("inline", 3, [CITY]) == Join("inline", 3, frozenset({CITY}))


@pytest.mark.parametrize("join, level, contained_by", [
    ("deep", None, None), ("Flat", None, None), (["flat"], None, None),
    ("flat", "0", None), ("flat", "-1", None), ("flat", "one", None), ("flat", "1.5", None), ("flat", True, None),
    ("flat", 0, None), ("flat", None, "not a uri"), ("flat", None, [CITY, 3]), ("flat", None, {"id": CITY}),
    (None, "x", None),
])
def test_bad_join_parameters_are_bad_request_data(join, level, contained_by):
    with pytest.raises(BadRequestData):
        parse_join(join, level, contained_by)


def test_019_33_projection_nested_within_join_level_is_accepted():
    pick = parse_pick("locatedAt{owner{name}}", CTX.expand)
    assert parse_join("inline", "2", pick=pick) == Join("inline", 2, pick=pick)
    assert parse_join(None, pick=parse_pick("name,locatedAt", CTX.expand)) is None  # no braces: no join needed


@pytest.mark.parametrize("join, level, text, detail", [
    ("inline", "1", "locatedAt{owner{name}}", "2 relationship hops deep, more than joinLevel 1"),  # 019_33_01/02
    (None, None, "locatedAt{owner{name}}", "needs join=inline or join=flat"),  # 019_33_03
    ("@none", None, "locatedAt{name}", "needs join=inline or join=flat"),
    ("flat", "10", "a{" * 11 + "name" + "}" * 11, "11 relationship hops deep, more than joinLevel 10"),  # 019_33_04/05
])
@pytest.mark.parametrize("param", ["pick", "omit"])
def test_019_33_projection_nested_deeper_than_join_is_bad_request_data(join, level, text, detail, param):
    projection = (parse_pick if param == "pick" else parse_omit)(text, CTX.expand)
    with pytest.raises(BadRequestData) as error:
        parse_join(join, level, **{param: projection})
    assert error.value.detail.startswith(param) and detail in error.value.detail


@pytest.mark.parametrize("level", [str(MAX_JOIN_LEVEL + 1), MAX_JOIN_LEVEL + 1, "9" * 5000])
def test_join_level_above_the_limit_is_too_complex(level):
    with pytest.raises(TooComplexQuery):
        parse_join("flat", level)

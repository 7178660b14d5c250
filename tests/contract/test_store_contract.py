"""What every storage backend promises (store/port.py), checked on each of them."""

from __future__ import annotations

import threading

import pytest

from territoires.ngsild.errors import AlreadyExists, BadRequestData, NonexistentTenant, ResourceNotFound
from territoires.ngsild.geo import parse_geo_query
from territoires.ngsild.query import parse_order_by, parse_q, parse_scope_q, parse_type_expr
from territoires.ngsild.subscription import EntitySelector
from territoires.store.port import DEFAULT_TENANT, EntityQuery, NotSupported, StoredContext

from .conftest import NOW, VOCAB, entity, prop, streetlight


def vocab(name: str) -> str:
    if name == "location":  # a core term, as in conftest.entity
        return "https://uri.etsi.org/ngsi-ld/location"
    return name if "://" in name else VOCAB + name


def ids(page) -> list[str]:
    return [e["id"] for e in page.entities]


# ---- tenants --------------------------------------------------------------------------------
def test_tenants_are_created_listed_and_deleted(store):
    store.create_tenant("rennes")
    store.create_tenant("brest")
    assert store.tenants() == ["brest", "rennes"]
    store.delete_tenant("brest")
    assert store.tenants() == ["rennes"]


def test_creating_an_existing_tenant_is_refused(store):
    store.create_tenant("rennes")
    with pytest.raises(AlreadyExists):
        store.create_tenant("rennes")


def test_deleting_an_unknown_or_the_default_tenant_is_refused(store):
    with pytest.raises(ResourceNotFound):
        store.delete_tenant("nowhere")
    with pytest.raises(BadRequestData):
        store.delete_tenant(DEFAULT_TENANT)


def test_an_unknown_tenant_has_no_session(store):
    with pytest.raises(NonexistentTenant), store.session("nowhere"):
        pass


def test_a_deleted_tenant_loses_its_data_and_a_new_one_of_that_name_starts_empty(store):
    store.create_tenant("rennes")
    with store.session("rennes", write=True) as s:
        s.insert([streetlight(1)])
    store.delete_tenant("rennes")
    with pytest.raises(NonexistentTenant), store.session("rennes"):
        pass
    store.create_tenant("rennes")
    with store.session("rennes") as s:
        assert s.get(["urn:ngsi-ld:Streetlight:0001"]) == {}


def test_nothing_of_one_tenant_is_visible_from_another(store):
    store.create_tenant("a")
    store.create_tenant("b")
    with store.session("a", write=True) as s:
        s.insert([streetlight(1)])
        s.put_context(StoredContext("ctx-a", "Hosted", {"@context": {}}, NOW))
    with store.session("b") as s:
        assert s.get(["urn:ngsi-ld:Streetlight:0001"]) == {}
        page = s.query(EntityQuery(count=True))
        assert page.entities == [] and page.count == 0
        assert s.types() == []
        assert s.get_context("ctx-a") is None and s.list_contexts() == []
    with store.session(DEFAULT_TENANT) as s:
        assert s.query(EntityQuery(count=True)).count == 0


# ---- writing --------------------------------------------------------------------------------
def test_inserted_entities_are_read_back_whole(store):
    light = streetlight(1)
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([light])
    with store.session(DEFAULT_TENANT) as s:
        assert s.get([light["id"], "urn:ngsi-ld:Streetlight:9999"]) == {light["id"]: light}


def test_inserting_an_existing_id_writes_nothing_of_the_call(store):
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([streetlight(1)])
    with pytest.raises(AlreadyExists), store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([streetlight(2), streetlight(1)])
    with store.session(DEFAULT_TENANT) as s:
        assert s.query(EntityQuery(count=True)).count == 1


def test_an_exception_in_a_session_rolls_back_its_writes(store):
    with pytest.raises(RuntimeError), store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([streetlight(1)])
        raise RuntimeError("boom")
    with store.session(DEFAULT_TENANT) as s:
        assert s.get(["urn:ngsi-ld:Streetlight:0001"]) == {}


def test_replace_creates_or_replaces_and_keeps_creation_order(store):
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([streetlight(1), streetlight(2)])
        s.replace([streetlight(1, power="off"), streetlight(3)])
    with store.session(DEFAULT_TENANT) as s:
        page = s.query(EntityQuery(limit=10))
    assert ids(page) == [f"urn:ngsi-ld:Streetlight:000{n}" for n in (1, 2, 3)]
    assert page.entities[0]["attrs"][vocab("powerState")][0]["value"] == "off"


def test_delete_returns_what_existed(store):
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([streetlight(1)])
        assert s.delete(["urn:ngsi-ld:Streetlight:0001", "urn:ngsi-ld:Streetlight:0002"]) == {"urn:ngsi-ld:Streetlight:0001"}
    with store.session(DEFAULT_TENANT) as s:
        assert s.query(EntityQuery(count=True)).count == 0


def test_delete_matching_deletes_what_a_query_selects(store):
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([streetlight(n, power="on" if n % 2 else "off") for n in range(6)])
        assert s.delete_matching(EntityQuery(q=parse_q('powerState=="off"', vocab), limit=1)) == 3
    near = parse_geo_query("near;maxDistance==1000", "Point", "[-1.68, 48.11]", None, vocab)
    assert ids(query(store, geo=near)) == [f"urn:ngsi-ld:Streetlight:{n:04d}" for n in (1, 3, 5)]


def test_expired_lists_the_transient_entities_due_from_an_index_kept_with_every_write(store):
    soon, later = "2026-11-28T10:05:00Z", "2026-11-28T12:00:00+01:00"  # later: 11:00Z
    transient = {**entity("urn:ngsi-ld:Alert:1", "Alert", severity=prop("high")), "expiresAt": soon}
    with_transient_reading = entity("urn:ngsi-ld:Sensor:1", "Sensor", reading=prop(3, expiresAt=later) + [
        {**prop(4)[0], "datasetId": "urn:ngsi-ld:Dataset:durable"}])
    durable = entity("urn:ngsi-ld:Sensor:2", "Sensor", reading=prop(5))
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([transient, with_transient_reading, durable])
    with store.session(DEFAULT_TENANT) as s:
        assert s.expired("2026-11-28T10:04:59.999999Z", 10) == []
        assert s.expired(soon, 10) == ["urn:ngsi-ld:Alert:1"]
        assert s.expired("2026-11-28T10:59:59.999999Z", 10) == ["urn:ngsi-ld:Alert:1"]
        assert sorted(s.expired("2026-11-28T11:00:00Z", 10)) == ["urn:ngsi-ld:Alert:1", "urn:ngsi-ld:Sensor:1"]
        assert len(s.expired("2026-11-28T12:00:00Z", 1)) == 1
    # A replacement without expiry, and a deletion, take the entities out of it.
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.replace([entity("urn:ngsi-ld:Sensor:1", "Sensor", reading=prop(6))])
        s.delete(["urn:ngsi-ld:Alert:1"])
    with store.session(DEFAULT_TENANT) as s:
        assert s.expired("2030-01-01T00:00:00Z", 10) == []


# ---- querying -------------------------------------------------------------------------------
@pytest.fixture
def city(store):
    """Twelve streetlights (half on, dimming 0..110), two waste containers, one multi-typed entity."""
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([streetlight(n, power="on" if n % 2 else "off", dimming=10 * n, lon=-1.68 + n * 0.001) for n in range(12)])
        s.insert([
            entity("urn:ngsi-ld:WasteContainer:1", "WasteContainer", fillingLevel=prop(0.8, unitCode="P1")),
            entity("urn:ngsi-ld:WasteContainer:2", "WasteContainer", fillingLevel=prop(0.2, unitCode="P1")),
            entity("urn:ngsi-ld:Thing:1", ["Streetlight", "Sensor"], powerState=prop("on")),
        ])
    return store


def query(store, **kwargs):
    with store.session(DEFAULT_TENANT) as s:
        return s.query(EntityQuery(**kwargs))


def test_query_by_type_expression(city):
    assert len(query(city, types=parse_type_expr("Streetlight", vocab), limit=100).entities) == 13
    assert ids(query(city, types=parse_type_expr("Streetlight;Sensor", vocab))) == ["urn:ngsi-ld:Thing:1"]
    assert query(city, types=parse_type_expr("WasteContainer,Sensor", vocab), count=True).count == 3
    assert query(city, types=parse_type_expr("Nothing", vocab), count=True).count == 0


def test_query_by_ids_and_id_pattern(city):
    page = query(city, ids=("urn:ngsi-ld:WasteContainer:2", "urn:ngsi-ld:Nope:1"))
    assert ids(page) == ["urn:ngsi-ld:WasteContainer:2"]
    assert ids(query(city, id_pattern="^urn:ngsi-ld:Waste")) == ["urn:ngsi-ld:WasteContainer:1", "urn:ngsi-ld:WasteContainer:2"]


def test_query_by_entity_selectors_selects_what_any_of_them_selects(city):
    streetlight, waste = parse_type_expr("Streetlight", vocab), parse_type_expr("WasteContainer", vocab)
    selectors = (EntitySelector(streetlight, "urn:ngsi-ld:Streetlight:0003"), EntitySelector(waste),
                 EntitySelector(streetlight, id_pattern="Thing"))
    assert ids(query(city, selectors=selectors)) == [
        "urn:ngsi-ld:Streetlight:0003", "urn:ngsi-ld:WasteContainer:1", "urn:ngsi-ld:WasteContainer:2", "urn:ngsi-ld:Thing:1"]
    # Each selector holds whole: its ids (which win over its pattern) with its own type.
    crossed = (EntitySelector(waste, ("urn:ngsi-ld:Streetlight:0003",), "Waste"),
               EntitySelector(streetlight, "urn:ngsi-ld:WasteContainer:1"))
    assert query(city, selectors=crossed, count=True).count == 0
    # The query's other filters hold as well.
    assert ids(query(city, selectors=selectors, ids=("urn:ngsi-ld:WasteContainer:2",))) == ["urn:ngsi-ld:WasteContainer:2"]


def test_query_by_attribute_presence(city):
    assert query(city, attrs=(vocab("fillingLevel"),), count=True).count == 2


def test_query_with_q_is_answered_by_the_database(city):
    q = parse_q('dimmingLevel>50;powerState=="on"', vocab)
    assert ids(query(city, q=q)) == [f"urn:ngsi-ld:Streetlight:{n:04d}" for n in (7, 9, 11)]
    assert query(city, q=parse_q("fillingLevel>=0.5", vocab), count=True).count == 1


def test_5744_01_08_negated_existence_in_q(city):
    """``!path`` (clause 4.9) selects the entities that lack what it names, alone or combined."""
    assert ids(query(city, q=parse_q('!dimmingLevel;powerState=="on"', vocab))) == ["urn:ngsi-ld:Thing:1"]
    assert ids(query(city, q=parse_q("!powerState", vocab))) == [
        "urn:ngsi-ld:WasteContainer:1", "urn:ngsi-ld:WasteContainer:2"]
    lacking_unit = query(city, q=parse_q("!dimmingLevel.unitCode;!fillingLevel[k]|fillingLevel<0.5", vocab), limit=100)
    assert ids(lacking_unit) == ["urn:ngsi-ld:WasteContainer:1", "urn:ngsi-ld:WasteContainer:2",
                                 "urn:ngsi-ld:Thing:1"]
    assert query(city, q=parse_q("!dimmingLevel.unitCode", vocab), count=True).count == 3


def test_query_with_scope_q(store):
    light = streetlight(1)
    light["scope"] = ["/Rennes/Nord"]
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([light, streetlight(2)])
    assert ids(query(store, scope_q=parse_scope_q("/Rennes/#"))) == [light["id"]]


def test_query_with_geo_near(city):
    near = parse_geo_query("near;maxDistance==200", "Point", "[-1.68, 48.11]", None, vocab)
    # Each streetlight stands about 74 m east of the previous one at this latitude.
    assert ids(query(city, geo=near)) == [f"urn:ngsi-ld:Streetlight:{n:04d}" for n in (0, 1, 2)]


def test_a_moved_or_deleted_entity_leaves_its_old_place(store):
    near_rennes = parse_geo_query("near;maxDistance==100", "Point", "[-1.68, 48.11]", None, vocab)
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([streetlight(1), streetlight(2)])
        s.replace([streetlight(1, lon=2.35, lat=48.85)])
        s.delete(["urn:ngsi-ld:Streetlight:0002"])
    assert ids(query(store, geo=near_rennes)) == []
    near_paris = parse_geo_query("near;maxDistance==100", "Point", "[2.35, 48.85]", None, vocab)
    assert ids(query(store, geo=near_paris)) == ["urn:ngsi-ld:Streetlight:0001"]


def test_count_ignores_pagination(city):
    page = query(city, types=parse_type_expr("Streetlight", vocab), limit=5, offset=10, count=True)
    assert page.count == 13 and len(page.entities) == 3


def test_deep_offsets_return_entities(store):
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([streetlight(n) for n in range(3000)])
    assert ids(query(store, offset=2990, limit=20)) == [f"urn:ngsi-ld:Streetlight:{n:04d}" for n in range(2990, 3000)]


def test_cursor_pages_are_stable_under_concurrent_inserts(store):
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([streetlight(n) for n in range(10)])
    first = query(store, limit=4)
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([streetlight(n) for n in range(100, 103)])
        s.delete(["urn:ngsi-ld:Streetlight:0000"])
    seen = ids(first)
    cursor = first.next_cursor
    while cursor:
        page = query(store, limit=4, after=cursor)
        seen += ids(page)
        cursor = page.next_cursor
    assert seen[:4] == [f"urn:ngsi-ld:Streetlight:{n:04d}" for n in range(4)]
    assert len(seen) == len(set(seen)) == 13


def test_limit_zero_only_counts(city):
    page = query(city, limit=0, count=True)
    assert page.entities == [] and page.count == 15


# ---- discovery --------------------------------------------------------------------------------
def test_types_summarise_counts_and_attributes(city):
    with city.session(DEFAULT_TENANT) as s:
        infos = {info.type: info for info in s.types()}
    assert set(infos) == {vocab("Streetlight"), vocab("WasteContainer"), vocab("Sensor")}
    assert infos[vocab("Streetlight")].entity_count == 13
    assert infos[vocab("Streetlight")].attributes[vocab("dimmingLevel")] == frozenset({"Property"})
    assert infos[vocab("Streetlight")].attributes["https://uri.etsi.org/ngsi-ld/location"] == frozenset({"GeoProperty"})
    assert infos[vocab("Sensor")].entity_count == 1


def test_deleted_entities_leave_discovery(city):
    with city.session(DEFAULT_TENANT, write=True) as s:
        s.delete(["urn:ngsi-ld:WasteContainer:1", "urn:ngsi-ld:WasteContainer:2"])
        assert vocab("WasteContainer") not in {i.type for i in s.types()}


# ---- contexts ---------------------------------------------------------------------------------
def test_contexts_are_stored_listed_touched_and_deleted(store):
    hosted = StoredContext("abc", "Hosted", {"@context": {"a": "http://example.org/a"}}, NOW)
    cached = StoredContext("http://example.org/ctx.jsonld", "Cached", {"@context": {}}, NOW)
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.put_context(hosted)
        s.put_context(cached)
        with pytest.raises(AlreadyExists):
            s.put_context(hosted)
        s.touch_context(cached.id, "2026-11-28T10:00:00Z")
        s.touch_context(cached.id, "2026-11-28T11:00:00Z", 2)  # two uses counted together
    with store.session(DEFAULT_TENANT, write=True) as s:
        assert s.get_context("abc") == hosted
        assert [c.id for c in s.list_contexts()] == ["abc", cached.id]
        assert [c.id for c in s.list_contexts("Cached")] == [cached.id]
        touched = s.get_context(cached.id)
        assert touched.number_of_hits == 3 and touched.last_usage == "2026-11-28T11:00:00Z"
        assert s.delete_context("abc") is True and s.delete_context("abc") is False


def test_created_at_reads_creation_instants_only_of_stored_entities(store):
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([streetlight(1)])
        assert s.created_at(["urn:ngsi-ld:Streetlight:0001", "urn:ngsi-ld:Streetlight:0002"]) == {
            "urn:ngsi-ld:Streetlight:0001": NOW}


# ---- entity ordering (clause 4.23) ---------------------------------------------------------------
def ordered(store, text: str, **kwargs) -> list[str]:
    return ids(query(store, order_by=parse_order_by(text, vocab), limit=100, **kwargs))


def sl(*numbers: int) -> list[str]:
    return [f"urn:ngsi-ld:Streetlight:{n:04d}" for n in numbers]


def test_order_by_an_attribute_both_ways_with_entities_lacking_it_last(city):
    streetlights = parse_type_expr("Streetlight", vocab)
    assert ordered(city, "dimmingLevel", types=streetlights) == sl(*range(12)) + ["urn:ngsi-ld:Thing:1"]
    assert ordered(city, "dimmingLevel;desc", types=streetlights) == sl(*range(11, -1, -1)) + ["urn:ngsi-ld:Thing:1"]


def test_order_by_several_keys_applies_them_in_turn_then_creation_order(city):
    streetlights = parse_type_expr("Streetlight", vocab)
    # "off" < "on"; ties on the first key keep creation order.
    assert ordered(city, "powerState", types=streetlights) == sl(0, 2, 4, 6, 8, 10, 1, 3, 5, 7, 9, 11) + [
        "urn:ngsi-ld:Thing:1"]
    assert ordered(city, "powerState;desc,dimmingLevel;desc", types=streetlights) == (
        sl(11, 9, 7, 5, 3, 1) + ["urn:ngsi-ld:Thing:1"] + sl(10, 8, 6, 4, 2, 0))


MIXED = [  # (id suffix, value) in the order of clause 4.23.2
    ("num-small", 2.5), ("num-big", 10), ("str-upper", "Abc"), ("str-lower", "abc"), ("object", {"k": 1}),
    ("array", [1, 2]), ("false", False), ("true", True), ("time", {"@type": "Time", "@value": "10:00:00Z"}),
    ("date", {"@type": "Date", "@value": "2026-01-02"}),
    ("datetime", {"@type": "DateTime", "@value": "2026-01-01T00:00:00Z"}), ("null", None),
]


def test_values_of_mixed_kinds_order_as_clause_4_23_2_with_null_and_absent_last_both_ways(store):
    shuffled = MIXED[5:] + MIXED[:5]  # creation order is not the expected order
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([entity("urn:ngsi-ld:Probe:absent", "Probe")])
        s.insert([entity(f"urn:ngsi-ld:Probe:{name}", "Probe", rank=prop(value)) for name, value in shuffled])
    expected = [f"urn:ngsi-ld:Probe:{name}" for name, _ in MIXED]
    assert ordered(store, "rank") == expected + ["urn:ngsi-ld:Probe:absent"]
    assert ordered(store, "rank;desc") == expected[-2::-1] + ["urn:ngsi-ld:Probe:null", "urn:ngsi-ld:Probe:absent"]


def test_order_by_entity_members(store):
    def made(n: int, etype: list[str], created: str, **extra) -> dict:
        return {**entity(f"urn:ngsi-ld:Thing:{n}", etype), "createdAt": created, "modifiedAt": created, **extra}

    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([
            made(2, ["Zebra", "Alpha"], "2026-11-28T10:00:02.000000Z", scope=["/b", "/z"]),
            made(3, ["Beta"], "2026-11-28T10:00:01.000000Z"),
            made(1, ["Gamma"], "2026-11-28T10:00:03.000000Z", scope=["/a"]),
        ])
    things = [f"urn:ngsi-ld:Thing:{n}" for n in (1, 2, 3)]
    assert ordered(store, "id") == things
    assert ordered(store, "id;desc") == things[::-1]
    assert ordered(store, "type") == [things[1], things[2], things[0]]  # by the smallest type: Alpha, Beta, Gamma
    assert ordered(store, "scope") == [things[0], things[1], things[2]]  # /a, /b, then no scope
    assert ordered(store, "scope;desc") == [things[1], things[0], things[2]]
    assert ordered(store, "createdAt") == [things[2], things[1], things[0]]
    assert ordered(store, "modifiedAt;desc") == [things[0], things[1], things[2]]


def test_order_by_paths_into_attributes(store):
    def place(n: int, city: str, observed: str, level: int, lang: str, object_id: str) -> dict:
        return entity(
            f"urn:ngsi-ld:Place:{n}", "Place",
            address=prop({"city": city}),
            temperature=[{**prop(level)[0], "observedAt": observed,
                          "attrs": {vocab("accuracy"): {**prop(10 - level)[0]}}}],
            name=[{"type": "LanguageProperty", "languageMap": {"fr": lang, "en": "same"}}],
            near=[{"type": "Relationship", "object": object_id}],
        )

    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([
            place(1, "Rennes", "2026-11-28T06:00:00.5Z", 3, "b", "urn:ngsi-ld:X:c"),
            place(2, "Brest", "2026-11-28T06:00:00Z", 1, "c", "urn:ngsi-ld:X:a"),
            place(3, "Vannes", "2026-11-28T05:59:59.999Z", 2, "a", "urn:ngsi-ld:X:b"),
        ])
    p1, p2, p3 = (f"urn:ngsi-ld:Place:{n}" for n in (1, 2, 3))
    assert ordered(store, "address[city]") == [p2, p1, p3]
    assert ordered(store, "address[city];desc") == [p3, p1, p2]
    assert ordered(store, "temperature.observedAt") == [p3, p2, p1]  # as instants, whatever the fraction digits
    assert ordered(store, "temperature.accuracy") == [p1, p3, p2]
    assert ordered(store, "name[fr]") == [p3, p1, p2]
    assert ordered(store, "name[en],near") == [p2, p3, p1]  # tied on name[en]: the relationship's object decides
    assert ordered(store, "address[nowhere],temperature") == [p2, p3, p1]


def test_ordered_pages_follow_offsets_and_give_no_cursor(city):
    order_by = parse_order_by("powerState;desc,dimmingLevel", vocab)
    whole = ids(query(city, order_by=order_by, limit=100))
    pages = [query(city, order_by=order_by, limit=4, offset=offset, count=True) for offset in range(0, 15, 4)]
    assert sum((ids(page) for page in pages), []) == whole and len(whole) == 15
    assert all(page.next_cursor is None and page.count == 15 for page in pages)
    cursor = query(city, limit=4).next_cursor
    with pytest.raises(BadRequestData):
        query(city, order_by=order_by, after=cursor)


def test_sorting_by_distance_or_collation_is_done_or_refused_as_not_supported(city):
    lights = parse_type_expr("Streetlight", vocab)
    reference = {"type": "Point", "coordinates": [-1.68 + 0.0052, 48.11]}  # between lights 5 and 6
    try:
        nearest = ordered(city, "location;dist-asc", types=lights, order_from=reference)[:2]
    except NotSupported:
        pass
    else:
        assert nearest == sl(5, 6)
    try:
        by_collation = ordered(city, "powerState", types=lights, collation="und-x-icu")
    except NotSupported:
        pass
    else:
        assert by_collation[:6] == sl(0, 2, 4, 6, 8, 10)


def test_concurrent_write_sessions_each_keep_their_own_outcome(store):
    """Write sessions of one process run at once (a backend may commit them together): each
    one's work is visible as soon as it ends, and one that fails loses its own work only."""
    outcomes: dict[int, object] = {}
    start = threading.Barrier(16)

    def write(n: int) -> None:
        try:
            start.wait(5)
            with store.session(DEFAULT_TENANT, write=True) as session:
                session.insert([streetlight(n)])
                if n % 4 == 3:
                    raise ValueError("refused after writing")
            with store.session(DEFAULT_TENANT) as session:
                outcomes[n] = bool(session.get([streetlight(n)["id"]]))
        except ValueError as error:
            outcomes[n] = error

    threads = [threading.Thread(target=write, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert all(outcomes[n] is True for n in range(16) if n % 4 != 3), outcomes
    assert all(isinstance(outcomes[n], ValueError) for n in range(16) if n % 4 == 3)
    with store.session(DEFAULT_TENANT) as session:
        stored = [e["id"] for e in session.query(EntityQuery(limit=100)).entities]
    assert sorted(stored) == sorted(streetlight(n)["id"] for n in range(16) if n % 4 != 3)

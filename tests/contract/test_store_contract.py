"""What every storage backend promises (store/port.py), checked on each of them."""

from __future__ import annotations

import pytest

from territoires.ngsild.errors import AlreadyExists, BadRequestData, NonexistentTenant, ResourceNotFound
from territoires.ngsild.geo import parse_geo_query
from territoires.ngsild.query import parse_q, parse_scope_q, parse_type_expr
from territoires.store.port import DEFAULT_TENANT, EntityQuery, StoredContext

from .conftest import NOW, VOCAB, entity, prop, streetlight


def vocab(name: str) -> str:
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
    with pytest.raises(NonexistentTenant):
        with store.session("nowhere"):
            pass


def test_a_deleted_tenant_loses_its_data_and_a_new_one_of_that_name_starts_empty(store):
    store.create_tenant("rennes")
    with store.session("rennes", write=True) as s:
        s.insert([streetlight(1)])
    store.delete_tenant("rennes")
    with pytest.raises(NonexistentTenant):
        with store.session("rennes"):
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
    with pytest.raises(AlreadyExists):
        with store.session(DEFAULT_TENANT, write=True) as s:
            s.insert([streetlight(2), streetlight(1)])
    with store.session(DEFAULT_TENANT) as s:
        assert s.query(EntityQuery(count=True)).count == 1


def test_an_exception_in_a_session_rolls_back_its_writes(store):
    with pytest.raises(RuntimeError):
        with store.session(DEFAULT_TENANT, write=True) as s:
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


def test_query_by_attribute_presence(city):
    assert query(city, attrs=(vocab("fillingLevel"),), count=True).count == 2


def test_query_with_q_is_answered_by_the_database(city):
    q = parse_q('dimmingLevel>50;powerState=="on"', vocab)
    assert ids(query(city, q=q)) == [f"urn:ngsi-ld:Streetlight:{n:04d}" for n in (7, 9, 11)]
    assert query(city, q=parse_q("fillingLevel>=0.5", vocab), count=True).count == 1


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
        s.touch_context(cached.id, "2026-11-28T11:00:00Z")
    with store.session(DEFAULT_TENANT, write=True) as s:
        assert s.get_context("abc") == hosted
        assert [c.id for c in s.list_contexts()] == ["abc", cached.id]
        assert [c.id for c in s.list_contexts("Cached")] == [cached.id]
        touched = s.get_context(cached.id)
        assert touched.number_of_hits == 1 and touched.last_usage == "2026-11-28T11:00:00Z"
        assert s.delete_context("abc") is True and s.delete_context("abc") is False


def test_created_at_reads_creation_instants_only_of_stored_entities(store):
    with store.session(DEFAULT_TENANT, write=True) as s:
        s.insert([streetlight(1)])
        assert s.created_at(["urn:ngsi-ld:Streetlight:0001", "urn:ngsi-ld:Streetlight:0002"]) == {
            "urn:ngsi-ld:Streetlight:0001": NOW}

"""Staged writes (``Store.stage``, ``TenantSession.use_staged``, ``store/staging.py``), on every
backend: what a session writes with rows prepared before its write lock is exactly what it
writes without them, and rows staged for other objects than those written are not used."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from territoires.ngsild.errors import BadRequestData
from territoires.ngsild.geo import parse_geo_query
from territoires.ngsild.query import parse_q
from territoires.store.port import EntityQuery, HistoryInstance, Store, TemporalPage, TemporalQuery
from tests.contract.conftest import NOW, VOCAB, entity, point, prop

LATER = "2026-11-28T10:05:00.000000Z"


def varied(n: int) -> dict[str, Any]:
    """An entity with every kind of content a history row and the indexes hold."""
    return entity(
        f"urn:ngsi-ld:Device:{n}", ["Device", "Sensor"],
        power=prop(70.5 + n, unitCode="WTT", observedAt="2026-11-28T09:59:00+00:00"),
        count=prop(n),
        on=prop(n % 2 == 0),
        label=prop(f"lampe {n}"),
        settings=prop({"mode": "eco", "levels": [1, 2]}),
        huge=prop(2**60),
        reading=[*prop(1.5), *prop(2.5, datasetId="urn:ngsi-ld:Dataset:b")],
        owner=[{"type": "Relationship", "object": "urn:ngsi-ld:Person:1", "createdAt": NOW, "modifiedAt": NOW}],
        name=[{"type": "LanguageProperty", "languageMap": {"fr": "lampe", "en": "lamp"}, "createdAt": NOW,
               "modifiedAt": NOW}],
        location=point(-1.68 + n / 100, 48.11),
    )


def vocab(term: str) -> str:
    return VOCAB + term


def write(store: Store, tenant: str, entities: list[dict[str, Any]], staged: list[object]) -> None:
    with store.session(tenant, write=True) as session:
        session.use_staged(staged)
        session.replace(entities)
        session.append_history([HistoryInstance(e["id"], attr, instance, instance["modifiedAt"])
                                for e in entities for attr, instances in e["attrs"].items() for instance in instances])


def stored(store: Store, tenant: str, ids: list[str]) -> tuple[Any, ...]:
    with store.session(tenant) as session:
        near = parse_geo_query("near;maxDistance==2000", "Point", "[-1.68, 48.11]", None, vocab)
        return (
            session.get(ids),
            [e["id"] for e in session.query(EntityQuery(q=parse_q('count>=2;label=="lampe 3"', vocab))).entities],
            [e["id"] for e in session.query(EntityQuery(geo=near)).entities],
            session.types(),
            history(session.temporal_query(TemporalQuery(EntityQuery(ids=tuple(ids))))),
        )


def history(page: TemporalPage) -> list[tuple[str, str, str | None, list[dict[str, Any]]]]:
    return [(e.id, s.attr, s.dataset_id, [i.instance for i in s.instances]) for e in page.entities for s in e.series]


def test_a_staged_write_stores_what_an_unstaged_one_does(store: Store) -> None:
    store.create_tenant("plain")
    store.create_tenant("staged")
    entities = [varied(n) for n in range(5)]
    ids = [e["id"] for e in entities]
    write(store, "plain", copy.deepcopy(entities), [])
    write(store, "staged", entities, [store.stage(entities)])
    assert stored(store, "staged", ids) == stored(store, "plain", ids)
    assert stored(store, "staged", ids)[1] == ["urn:ngsi-ld:Device:3"]


def test_rows_staged_for_other_objects_are_not_used(store: Store) -> None:
    store.create_tenant("t")
    staged = store.stage([varied(1)])  # the same content, other objects
    changed = varied(1)
    changed["attrs"][VOCAB + "count"] = prop(99)
    write(store, "t", [changed], [staged])
    with store.session("t") as session:
        assert session.get([changed["id"]])[changed["id"]] == changed
        counts = history(session.temporal_query(TemporalQuery(EntityQuery(ids=(changed["id"],)),
                                                              attrs=frozenset({VOCAB + "count"}))))
    assert [i["value"] for i in counts[0][3]] == [99]


def test_a_staged_instance_recorded_at_another_instant_is_recorded_at_that_instant(store: Store) -> None:
    one = varied(1)
    staged = store.stage([one])
    instance = one["attrs"][VOCAB + "count"][0]
    with store.session("", write=True) as session:
        session.use_staged([staged])
        session.insert([one])
        session.append_history([HistoryInstance(one["id"], VOCAB + "count", instance, LATER),
                                HistoryInstance(one["id"], VOCAB + "label", one["attrs"][VOCAB + "label"][0], LATER,
                                                deleted_at=LATER)])
    with store.session("") as session:
        page = session.temporal_query(TemporalQuery(EntityQuery(ids=(one["id"],))))
    by_attr = {attr: instances for _, attr, _, instances in history(page)}
    assert by_attr[VOCAB + "count"][0]["modifiedAt"] == LATER
    assert by_attr[VOCAB + "label"][0]["value"] == "urn:ngsi-ld:null"


def test_staging_never_fails_and_the_write_still_refuses_what_it_refuses(store: Store) -> None:
    bad = varied(1)
    bad["attrs"][VOCAB + "label"] = prop("nul \x00 char")  # no backend stores it
    staged = store.stage([bad])
    with pytest.raises(BadRequestData, match="NUL"):
        write(store, "", [bad], [staged])

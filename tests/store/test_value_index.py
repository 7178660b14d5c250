"""The value index narrows q queries without changing their answers, on every backend."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from territoires.ngsild.query import parse_q
from territoires.store.port import DEFAULT_TENANT, EntityQuery, Store
from territoires.store.sqlite import SqliteStore
from territoires.store.value_index import SELECTIVE_ROWS
from tests import postgres

from .test_sqlite_filters import CASES, ENTITIES, expand


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory):
    """The same entities in a store that uses the value index and in one that only scans."""
    made = []
    for use_index in (True, False):
        store = SqliteStore(Path(tmp_path_factory.mktemp("values")), use_value_index=use_index)
        with store.session(DEFAULT_TENANT, write=True) as session:
            session.insert(ENTITIES)
        made.append(store)
    yield made
    for store in made:
        store.close()


@pytest.fixture(params=postgres.BACKENDS)
def empty_store(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "postgres":
        from territoires.store.postgres import PostgresStore

        store = PostgresStore(postgres.fresh_database())
    else:
        store = SqliteStore(tmp_path)
    yield store
    store.close()


def answer(store: Store, q: str) -> list[str]:
    with store.session(DEFAULT_TENANT) as session:
        page = session.query(EntityQuery(q=parse_q(q, expand), limit=5000, count=True))
    assert page.count == len(page.entities)
    return [e["id"] for e in page.entities]


@pytest.mark.parametrize("q", [case[0] for case in CASES])
def test_the_value_index_gives_the_answers_of_a_scan(stores, q: str) -> None:
    indexed, scanned = stores
    assert answer(indexed, q) == answer(scanned, q)


def test_the_value_index_follows_updates_and_deletes(empty_store: Store) -> None:
    store = empty_store
    light = next(e for e in ENTITIES if e["id"].endswith("Streetlight:1"))
    with store.session(DEFAULT_TENANT, write=True) as session:
        session.insert([light])
    name = next(iri for iri in light["attrs"] if iri.endswith("powerState"))
    changed = {**light, "attrs": {**light["attrs"], name: [{**light["attrs"][name][0], "value": "flashing"}]}}
    with store.session(DEFAULT_TENANT, write=True) as session:
        session.replace([changed])
    assert answer(store, 'powerState=="flashing"') == [light["id"]]
    assert answer(store, f'powerState=="{light["attrs"][name][0]["value"]}"') == []
    with store.session(DEFAULT_TENANT, write=True) as session:
        session.delete([light["id"]])
    assert answer(store, 'powerState=="flashing"') == []


def test_a_common_value_is_answered_by_scanning_and_a_rare_one_by_the_index(empty_store: Store) -> None:
    store = empty_store
    light = next(e for e in ENTITIES if e["id"].endswith("Streetlight:1"))
    name = next(iri for iri in light["attrs"] if iri.endswith("powerState"))
    many = [
        {**light, "id": f"urn:ngsi-ld:Streetlight:bulk-{n}",
         "attrs": {**light["attrs"], name: [{**light["attrs"][name][0], "value": "rare" if n == 7 else "on"}]}}
        for n in range(SELECTIVE_ROWS + 10)
    ]
    with store.session(DEFAULT_TENANT, write=True) as session:
        session.insert(many)
    assert answer(store, 'powerState=="rare"') == ["urn:ngsi-ld:Streetlight:bulk-7"]
    assert len(answer(store, 'powerState=="on"')) == SELECTIVE_ROWS + 9


def test_a_tenant_file_without_the_value_index_is_upgraded_on_opening(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    light = next(e for e in ENTITIES if e["id"].endswith("Streetlight:1"))
    with store.session(DEFAULT_TENANT, write=True) as session:
        session.insert([light])
    store.close()
    older = sqlite3.connect(tmp_path / "default.db")
    older.execute("DELETE FROM attr_values")
    older.execute("PRAGMA user_version = 0")
    older.commit()
    older.close()
    reopened = SqliteStore(tmp_path)
    assert answer(reopened, 'powerState=="on"') == [light["id"]]
    reopened.close()


def steps_of(store: SqliteStore, q: str) -> tuple[list[str], int]:
    """The answer to ``q`` and about how many thousand steps SQLite's machine took for it."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    with store.session(DEFAULT_TENANT) as session:
        session.conn.set_progress_handler(count, 1000)  # type: ignore[attr-defined]
        try:
            page = session.query(EntityQuery(q=parse_q(q, expand), limit=20))
        finally:
            session.conn.set_progress_handler(None, 0)  # type: ignore[attr-defined]
    return [e["id"] for e in page.entities], steps[0]


def test_terms_too_common_to_narrow_by_still_reject_rows_by_the_index(tmp_path: Path) -> None:
    light = next(e for e in ENTITIES if e["id"].endswith("Streetlight:1"))
    power, dimming = expand("powerState"), expand("dimmingLevel")
    # Each term matches half of the lamps, both together only the last one: the query reads them all.
    lamps = [{**light, "id": f"urn:ngsi-ld:Streetlight:bulk-{n}", "attrs": {
        **light["attrs"], power: [{"type": "Property", "value": "on" if n % 2 or n == 4 * SELECTIVE_ROWS else "off"}],
        dimming: [{"type": "Property", "value": 40 if n % 2 else 60}]}} for n in range(4 * SELECTIVE_ROWS + 1)]
    stores = [SqliteStore(tmp_path / name, use_value_index=name == "indexed") for name in ("indexed", "scanned")]
    try:
        for store in stores:
            with store.session(DEFAULT_TENANT, write=True) as session:
                session.insert(lamps)
        q = 'dimmingLevel>50;powerState=="on"'
        (indexed, indexed_steps), (scanned, scanned_steps) = (steps_of(s, q) for s in stores)
        again, again_steps = steps_of(stores[0], q)
    finally:
        for store in stores:
            store.close()
    assert indexed == scanned == again == [lamps[-1]["id"]]
    assert indexed_steps * 3 < scanned_steps * 2, (indexed_steps, scanned_steps)  # most rows rejected by the index
    assert again_steps < indexed_steps, (again_steps, indexed_steps)  # the terms' counts are remembered a while

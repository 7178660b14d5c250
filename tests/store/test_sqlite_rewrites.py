"""An entity rewritten in place keeps the index rows (value index, R*Tree) that did not change:
a measure that changes one value of a sensor that does not move rewrites one value row, and
the rows left are exactly those a new entity of the same content would have."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from territoires.store.port import DEFAULT_TENANT, EntityQuery
from territoires.store.sqlite import SqliteStore

from .test_sqlite_filters import ENTITIES, expand

LIGHT = next(e for e in ENTITIES if e["id"].endswith("Streetlight:1"))
POWER, LOCATION = expand("powerState"), expand("location")


def changed(entity: dict[str, Any], attr: str, **members: Any) -> dict[str, Any]:
    return {**entity, "attrs": {**entity["attrs"], attr: [{**entity["attrs"][attr][0], **members}]}}


def without(entity: dict[str, Any], attr: str) -> dict[str, Any]:
    return {**entity, "attrs": {name: value for name, value in entity["attrs"].items() if name != attr}}


def index_rows(store: SqliteStore) -> tuple[list[Any], list[Any], list[Any]]:
    """The value rows (name IRI, value), geo rows (attr, geometry) and entity rows (shape's
    key, number of geo rows) of the default tenant."""
    with store.session(DEFAULT_TENANT) as session:
        conn = session.conn  # type: ignore[attr-defined]
        values = conn.execute("SELECT n.iri, v.value FROM attr_values v JOIN names n USING (name) "
                              "ORDER BY 1, 2").fetchall()
        geo = conn.execute("SELECT gid % 256, attr, geometry FROM geo ORDER BY 1").fetchall()
        entities = conn.execute("SELECT s.key, e.ngeo FROM entities e JOIN shapes s USING (shape)").fetchall()
    return values, geo, entities


def rows_written(store: SqliteStore, entity: dict[str, Any]) -> int:
    with store.session(DEFAULT_TENANT, write=True) as session:
        conn = session.conn  # type: ignore[attr-defined]
        before = conn.total_changes
        session.replace([entity])
        return conn.total_changes - before


def test_a_rewritten_entity_keeps_its_unchanged_index_rows(tmp_path: Path) -> None:
    store, fresh = SqliteStore(tmp_path / "rewritten"), SqliteStore(tmp_path / "fresh")
    try:
        with store.session(DEFAULT_TENANT, write=True) as session:
            session.insert([LIGHT])
        # the entity row, then one value row deleted and one inserted; no geo row
        assert rows_written(store, changed(LIGHT, POWER, value="flashing")) == 3
        moved = without(changed(changed(LIGHT, POWER, value="off"), LOCATION, value={
            "type": "Point", "coordinates": [-1.6, 48.2]}), expand("lanternHeight"))
        for version in (changed(LIGHT, POWER, value="flashing"), moved, LIGHT, without(LIGHT, LOCATION), LIGHT):
            rows_written(store, version)
            with fresh.session(DEFAULT_TENANT, write=True) as session:
                session.delete([LIGHT["id"]])
                session.insert([version])
            assert index_rows(store) == index_rows(fresh)
    finally:
        store.close()
        fresh.close()


def test_a_session_that_deletes_an_entity_it_read_then_writes_it_again_stores_what_it_wrote(tmp_path: Path) -> None:
    store, fresh = SqliteStore(tmp_path / "rewritten"), SqliteStore(tmp_path / "fresh")
    try:
        with fresh.session(DEFAULT_TENANT, write=True) as session:
            session.insert([LIGHT])
        for delete in (lambda s: s.delete([LIGHT["id"]]), lambda s: s.delete_matching(EntityQuery(ids=(LIGHT["id"],)))):
            with store.session(DEFAULT_TENANT, write=True) as session:
                session.insert([LIGHT])
            with store.session(DEFAULT_TENANT, write=True) as session:
                assert session.get([LIGHT["id"]])  # the session now knows where the entity is stored
                delete(session)
                session.insert([changed(LIGHT, POWER, value="off")])  # stored again, elsewhere
                session.replace([without(LIGHT, LOCATION)])  # another shape, no geometry
                session.replace([LIGHT])  # and back
            assert index_rows(store) == index_rows(fresh)
            with store.session(DEFAULT_TENANT, write=True) as session:
                session.delete([LIGHT["id"]])
    finally:
        store.close()
        fresh.close()

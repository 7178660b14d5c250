"""The embedded store's environment failing (a full disk here, through SQLite's own page limit)
is a 503 with Retry-After that loses nothing already written, never a 500."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from territoires.app import create_app
from territoires.config import Settings
from territoires.store.port import EntityQuery, Unavailable
from territoires.store.sqlite import SqliteStore

NOW = "2026-11-29T10:00:00Z"


def lamp(n: int, note: str = "") -> dict:
    return {"id": f"urn:ngsi-ld:Streetlight:{n}", "type": ["https://smartdatamodels.org/dataModel.Streetlight"],
            "createdAt": NOW, "modifiedAt": NOW,
            "attrs": {"https://uri.etsi.org/ngsi-ld/default-context/note": [
                {"type": "Property", "value": note, "createdAt": NOW, "modifiedAt": NOW}]}}


def fill_the_disk(store: SqliteStore) -> None:
    """The default tenant's file may not grow any more."""
    conn = store._tenant("").conn
    conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")


def test_a_full_disk_makes_writes_unavailable_and_keeps_what_was_written(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path)
    with store.session("", write=True) as session:
        session.insert([lamp(1)])
    fill_the_disk(store)
    with pytest.raises(Unavailable, match="full"), store.session("", write=True) as session:
        session.insert([lamp(n, "x" * 4000) for n in range(2, 200)])
    with store.session("") as session:
        assert [e["id"] for e in session.query(EntityQuery()).entities] == ["urn:ngsi-ld:Streetlight:1"]
    store.close()


def test_a_full_disk_is_answered_503_with_retry_after(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, auth=False))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/ngsi-ld/v1/entities", params={"type": "Streetlight"}).status_code == 200
        fill_the_disk(app.state.broker.store)
        notes = [{"id": f"urn:ngsi-ld:Streetlight:{n}", "type": "Streetlight",
                  "note": {"type": "Property", "value": "x" * 4000}} for n in range(100)]
        response = client.post("/ngsi-ld/v1/entityOperations/create", json=notes)
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] and response.headers["content-type"] == "application/problem+json"

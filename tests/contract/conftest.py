"""The storage contract suite runs unchanged on every backend: add a backend to ``BACKENDS``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from territoires.store.port import Store
from territoires.store.postgres import PostgresStore
from territoires.store.sqlite import SqliteStore
from tests import postgres

OPENERS: dict[str, Callable[[Path], Store]] = {
    "sqlite": lambda tmp: SqliteStore(tmp / "data"),
    "postgres": lambda tmp: PostgresStore(postgres.fresh_database()),
}
BACKENDS = {name: OPENERS[name] for name in postgres.BACKENDS}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    backend = BACKENDS[request.param](tmp_path)
    yield backend
    backend.close()


VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
SDM = "https://smartdatamodels.org/dataModel."
NOW = "2026-11-28T10:00:00.000000Z"


def prop(value: Any, **members: Any) -> list[dict[str, Any]]:
    return [{"type": "Property", "value": value, "createdAt": NOW, "modifiedAt": NOW, **members}]


def point(lon: float, lat: float) -> list[dict[str, Any]]:
    return [{"type": "GeoProperty", "value": {"type": "Point", "coordinates": [lon, lat]}, "createdAt": NOW, "modifiedAt": NOW}]


def entity(eid: str, etype: str | list[str], **attrs: list[dict[str, Any]]) -> dict[str, Any]:
    """An entity in internal form; attribute names are expanded under the default vocabulary."""
    types = [etype] if isinstance(etype, str) else etype
    named = {("https://uri.etsi.org/ngsi-ld/location" if k == "location" else VOCAB + k): v for k, v in attrs.items()}
    return {"id": eid, "type": [VOCAB + t for t in types], "createdAt": NOW, "modifiedAt": NOW, "attrs": named}


def streetlight(n: int, *, power: str = "on", dimming: int = 50, lon: float = -1.68, lat: float = 48.11) -> dict[str, Any]:
    return entity(
        f"urn:ngsi-ld:Streetlight:{n:04d}",
        "Streetlight",
        powerState=prop(power),
        dimmingLevel=prop(dimming, unitCode="P1"),
        location=point(lon, lat),
    )

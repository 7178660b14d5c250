"""API tests drive the real application (ASGI, real SQLite files) through an HTTP client."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from territoires.app import create_app
from territoires.config import Settings
from tests import postgres

CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
SDM_CONTEXT = {
    "Streetlight": "https://smartdatamodels.org/dataModel.Streetlight/Streetlight",
    "powerState": "https://smartdatamodels.org/dataModel.Streetlight/powerState",
    "dimmingLevel": "https://smartdatamodels.org/dataModel.Streetlight/dimmingLevel",
    "refStreetlightControlCabinet": "https://smartdatamodels.org/dataModel.Streetlight/refStreetlightControlCabinet",
}
LINK_REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'


@pytest.fixture(params=postgres.BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings of a platform with an empty store, on each backend."""
    url = postgres.fresh_database() if request.param == "postgres" else ""
    return Settings(data_dir=tmp_path / "var", database_url=url, max_body_bytes=1_000_000)


@contextmanager
def operator_client(settings: Settings) -> Iterator[TestClient]:
    """A client of the platform holding a platform operator's API key: the API tests pass the
    enforcement point like any caller, with a credential allowed everywhere."""
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        _, token = app.state.keys.create(None, "operator", "API tests")
        test_client.headers["Authorization"] = f"Bearer {token}"
        yield test_client


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with operator_client(settings) as test_client:
        yield test_client


@pytest.fixture
def app(settings: Settings) -> Iterator[Starlette]:
    """The application itself, for tests that hand out their own credentials (``bearer``)."""
    yield create_app(settings)


@pytest.fixture
def anonymous(app: Starlette) -> Iterator[TestClient]:
    """A client of ``app`` with no credential."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def bearer(app: Starlette, role: str, scope: str = "") -> dict[str, str]:
    """The Authorization header of a fresh platform-wide API key of ``role`` (national roles
    take a ``scope``, such as ``commune:35238`` for a contributor)."""
    _, token = app.state.keys.create(None, role, f"{role} {scope}".strip(), scope=scope)
    return {"Authorization": f"Bearer {token}"}


def link(url: str) -> dict[str, str]:
    return {"Link": f"<{url}>; {LINK_REL}"}


def streetlight(n: int = 1, **extra: Any) -> dict[str, Any]:
    """A Smart Data Models Streetlight in normalized form (default vocabulary names)."""
    return {
        "id": f"urn:ngsi-ld:Streetlight:{n:04d}",
        "type": "Streetlight",
        "powerState": {"type": "Property", "value": "on"},
        "dimmingLevel": {"type": "Property", "value": 60, "unitCode": "P1"},
        "lampPower": {"type": "Property", "value": 70, "unitCode": "WTT", "observedAt": "2026-11-28T06:00:00Z"},
        "status": {"type": "Property", "value": "ok"},
        "refStreetlightControlCabinet": {"type": "Relationship", "object": "urn:ngsi-ld:StreetlightControlCabinet:C12"},
        "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [-1.6778 + n * 0.001, 48.1173]}},
        **extra,
    }


def create(client: TestClient, body: dict[str, Any], **headers: str) -> None:
    response = client.post("/ngsi-ld/v1/entities", json=body, headers=headers)
    assert response.status_code == 201, response.text


def assert_problem(response: Any, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == f"https://uri.etsi.org/ngsi-ld/errors/{error_type}"
    assert problem["title"] and problem["detail"] and problem["detail"] != problem["title"]
    return problem

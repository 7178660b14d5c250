"""The enforcement point as a tenant admin meets it: writes the change feed does not see are in
the right tenant's audit trail under the caller's name, and a browser session changes data only
with its CSRF token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from territoires.app import create_app
from territoires.auth.principal import Grant, Principal, Role
from territoires.config import Settings
from tests import postgres

TENANT = "rennes"
NGSI = "/ngsi-ld/v1"
LAMP = "urn:ngsi-ld:Streetlight:1"


@dataclass
class Platform:
    client: TestClient
    admin: dict[str, str]
    admin_key_id: str


@pytest.fixture(params=postgres.BACKENDS)
def platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Platform]:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    settings = Settings(data_dir=tmp_path / "var", database_url=url, notifications=False, session_secret="s" * 32)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        app.state.broker.tenants.create(TENANT)
        key, token = app.state.keys.create(TENANT, "admin", "agent SIG")
        admin = {"Authorization": f"Bearer {token}", "NGSILD-Tenant": TENANT}
        yield Platform(client, admin, key.id)


def trail(platform: Platform, **filters: str) -> list[dict]:
    response = platform.client.get(f"/admin/v1/tenants/{TENANT}/audit", headers=platform.admin, params=filters)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_subscription_created_is_in_the_tenant_trail_with_its_id_and_author(platform):
    created = platform.client.post(f"{NGSI}/subscriptions", headers=platform.admin, json={
        "type": "Subscription", "entities": [{"type": "Streetlight"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/x"}}})
    assert created.status_code == 201, created.text
    (record,) = trail(platform, operation="createSubscription")
    assert record["target"] == created.headers["location"]
    assert record["credentialId"] == platform.admin_key_id and record["name"] == "agent SIG"


def test_a_device_registered_is_in_the_trail_of_the_tenant_it_feeds(platform):
    registered = platform.client.post("/admin/v1/devices", headers=platform.admin, json={
        "devEui": "70B3D57ED0000009", "tenant": TENANT, "entityId": LAMP, "decoder": "streetlight"})
    assert registered.status_code == 201, registered.text
    (record,) = trail(platform, operation="registerDevice")
    assert record["target"].endswith("/admin/v1/devices/70B3D57ED0000009")


def test_instances_changed_through_the_temporal_api_are_in_the_trail(platform):
    client, admin = platform.client, platform.admin
    entity = {"id": LAMP, "type": "Streetlight",
              "power": [{"type": "Property", "value": 70, "observedAt": "2026-11-01T00:00:00Z"}]}
    assert client.post(f"{NGSI}/temporal/entities", headers=admin, json=entity).status_code == 201
    added = client.post(f"{NGSI}/temporal/entities/{LAMP}/attrs", headers=admin,
                        json={"power": [{"type": "Property", "value": 71, "observedAt": "2026-11-02T00:00:00Z"}]})
    assert added.status_code == 204, added.text
    assert client.delete(f"{NGSI}/temporal/entities/{LAMP}/attrs/power", headers=admin).status_code == 204
    operations = {record["operation"] for record in trail(platform)}
    assert {"temporalProvision", "deleteTemporalAttribute"} <= operations


def test_a_browser_session_changes_data_only_with_its_csrf_token(platform):
    client = platform.client
    sessions = client.app.state.sessions
    agent = Principal(kind="session", subject="https://proconnect#agent", name="agent@rennes.fr",
                      grants=(Grant(Role.EDITOR, TENANT),))
    cookie = sessions.open(agent)
    client.cookies.set("territoires-session", cookie)  # plain http on loopback: no __Host- prefix
    try:
        tenant = {"NGSILD-Tenant": TENANT}
        body = {"id": LAMP, "type": "Streetlight"}
        assert client.get(f"{NGSI}/entities", headers=tenant, params={"type": "Streetlight"}).status_code == 200
        refused = client.post(f"{NGSI}/entities", headers=tenant, json=body)
        assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
        token = sessions.csrf_token(sessions.principal_from_cookie(cookie))
        created = client.post(f"{NGSI}/entities", headers={**tenant, "X-CSRF-Token": token}, json=body)
        assert created.status_code == 201, created.text
    finally:
        client.cookies.clear()
    (record,) = trail(platform, operation="create")
    assert record["principalKind"] == "session" and record["name"] == "agent@rennes.fr"

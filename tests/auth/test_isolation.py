"""Tenant isolation over every route (issue 6): a credential of tenant alpha can neither read,
write, count, discover, subscribe to nor be notified about tenant beta's data, nor see beta's
contexts, devices, keys or audit trail; and an anonymous caller gets nothing but what a tenant
publishes.

The matrix is generated from the access policy, which the application refuses to start without
(every route has a rule), so a route added later joins the matrix by itself.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from territoires.app import create_app
from territoires.auth.keys import KeyService
from territoires.auth.policy import POLICY
from territoires.config import Settings
from tests import postgres
from tests.receivers import http_receiver

ALPHA, BETA = "alpha", "beta"
ROLES = ("admin", "editor", "reader", "device")
NGSI = "/ngsi-ld/v1"
LAMP = "urn:ngsi-ld:Streetlight:lamp-1"
CABINET = "urn:ngsi-ld:StreetlightControlCabinet:cab-1"
EUI = "70B3D57ED0000001"
GUARDED = sorted((method, path) for (method, path), rule in POLICY.items() if rule.action is not None)


@dataclass
class Platform:
    client: TestClient
    tokens: dict[tuple[str, str], str]    # (tenant, role) -> API key
    operator: str
    key_ids: dict[str, str]               # tenant -> id of its admin key
    subscription: str                     # beta's subscription

    def as_(self, tenant: str, role: str, on: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[(tenant, role)]}", "NGSILD-Tenant": on or tenant}


def streetlight(entity_id: str = LAMP, level: int = 60) -> dict:
    return {"id": entity_id, "type": "Streetlight", "dimmingLevel": {"type": "Property", "value": level}}


@pytest.fixture(scope="module", params=postgres.BACKENDS)
def platform(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    # Failed authentications are not throttled here: the matrix fails on purpose, many times.
    settings = Settings(data_dir=tmp_path_factory.mktemp("isolation") / "var", database_url=url,
                        notification_poll_interval=0.05, notification_sweep_interval=0.3, auth_failure_limit=0)
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        broker = app.state.broker
        keys = KeyService(broker.store)
        operator = keys.create(None, "operator", "isolation operator")[1]
        for tenant in (ALPHA, BETA):
            response = client.post("/admin/v1/tenants", json={"name": tenant},
                                   headers={"Authorization": f"Bearer {operator}"})
            assert response.status_code == 201, response.text
        tokens, key_ids = {}, {}
        for tenant in (ALPHA, BETA):
            for role in ROLES:
                key, tokens[(tenant, role)] = keys.create(tenant, role, f"{role} of {tenant}")
                if role == "admin":
                    key_ids[tenant] = key.id
        platform = Platform(client, tokens, operator, key_ids, "")
        for tenant in (ALPHA, BETA):  # each tenant holds the same ids: only the tenant tells them apart
            for body in (streetlight(), {"id": CABINET, "type": "StreetlightControlCabinet"}):
                response = client.post(f"{NGSI}/entities", json=body, headers=platform.as_(tenant, "editor"))
                assert response.status_code == 201, response.text
        created = client.post(f"{NGSI}/subscriptions", headers=platform.as_(BETA, "editor"), json={
            "type": "Subscription", "entities": [{"type": "Streetlight"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/never"}}})
        assert created.status_code == 201, created.text
        platform.subscription = created.headers["Location"].rsplit("/", 1)[-1]
        device = client.post("/admin/v1/devices", headers=platform.as_(BETA, "admin"), json={
            "devEui": EUI, "tenant": BETA, "entityId": LAMP, "decoder": "streetlight"})
        assert device.status_code == 201, device.text
        yield platform


def concrete(path: str, platform: Platform) -> str:
    """The route's path with beta's resources in its parameters."""
    values = {"entity_id": LAMP, "attr": "dimmingLevel", "instance_id": "urn:ngsi-ld:instance:1",
              "type": "Streetlight", "context_id": "urn:ngsi-ld:context:1", "subscription_id": platform.subscription,
              "name": BETA, "id": platform.key_ids[BETA], "eui": EUI}
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda match: values[match.group(1)], path)


def call(platform: Platform, method: str, path: str, headers: dict[str, str]):
    body = {"devEui": "70B3D57ED0000002", "tenant": BETA, "entityId": LAMP, "decoder": "streetlight",
            "name": BETA, "types": ["Streetlight"], "role": "admin"}
    return platform.client.request(method, concrete(path, platform), headers=headers, params={"tenant": BETA},
                                   json=body if method in ("POST", "PUT", "PATCH") else None)


def beta_is_intact(platform: Platform) -> None:
    client, beta = platform.client, platform.as_(BETA, "admin")
    lamp = client.get(f"{NGSI}/entities/{LAMP}", headers=beta, params={"options": "keyValues"})
    assert lamp.status_code == 200 and lamp.json()["dimmingLevel"] == 60
    assert client.get(f"{NGSI}/subscriptions/{platform.subscription}", headers=beta).status_code == 200
    assert client.get(f"/admin/v1/devices/{EUI}", headers=beta).status_code == 200
    key = client.get(f"/admin/v1/tenants/{BETA}/keys/{platform.key_ids[BETA]}", headers=beta)
    assert key.status_code == 200 and "revokedAt" not in key.json()


@pytest.mark.parametrize(("method", "path"), GUARDED, ids=[f"{m} {p}" for m, p in GUARDED])
def test_a_credential_of_another_tenant_is_refused_on_every_route(platform, method, path):
    response = call(platform, method, path, platform.as_(ALPHA, "admin", on=BETA))
    assert response.status_code == 403, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    beta_is_intact(platform)


@pytest.mark.parametrize(("method", "path"), GUARDED, ids=[f"{m} {p}" for m, p in GUARDED])
def test_an_anonymous_caller_is_refused_on_every_route(platform, method, path):
    response = call(platform, method, path, {"NGSILD-Tenant": BETA})
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    beta_is_intact(platform)


def test_the_tenant_own_credentials_work_so_the_refusals_above_mean_something(platform):
    client = platform.client
    for role in ("admin", "editor", "reader"):
        found = client.get(f"{NGSI}/entities", headers=platform.as_(BETA, role), params={"type": "Streetlight"})
        assert found.status_code == 200 and [e["id"] for e in found.json()] == [LAMP]
    assert client.get(f"/admin/v1/tenants/{BETA}/keys", headers=platform.as_(BETA, "admin")).status_code == 200
    assert client.get("/admin/v1/tenants", headers={"Authorization": f"Bearer {platform.operator}"}).status_code == 200


def test_each_role_does_what_it_may_and_no_more(platform):
    client = platform.client
    update = {"dimmingLevel": {"type": "Property", "value": 61}}
    reader, device, editor = (platform.as_(ALPHA, role) for role in ("reader", "device", "editor"))
    assert client.patch(f"{NGSI}/entities/{LAMP}/attrs", json=update, headers=reader).status_code == 403
    assert client.post(f"{NGSI}/entities", json=streetlight("urn:ngsi-ld:Streetlight:r"), headers=reader).status_code == 403
    assert client.get(f"{NGSI}/entities/{LAMP}", headers=device).status_code == 403
    assert client.get(f"{NGSI}/types", headers=device).status_code == 403
    assert client.patch(f"{NGSI}/entities/{LAMP}/attrs", json=update, headers=device).status_code == 204
    assert client.delete(f"{NGSI}/entities/{LAMP}", headers=device).status_code == 403
    assert client.get(f"/admin/v1/tenants/{ALPHA}/keys", headers=editor).status_code == 403
    assert client.post("/admin/v1/tenants", json={"name": "gamma"}, headers=editor).status_code == 403
    found = client.get(f"{NGSI}/entities/{LAMP}", headers=editor, params={"options": "keyValues"})
    assert found.json()["dimmingLevel"] == 61


def test_notifications_never_cross_tenants(platform):
    client = platform.client
    with http_receiver() as receiver:
        created = client.post(f"{NGSI}/subscriptions", headers=platform.as_(ALPHA, "editor"), json={
            "type": "Subscription", "entities": [{"type": "StreetlightControlCabinet"}],
            "notification": {"endpoint": {"uri": receiver.url}}})
        assert created.status_code == 201, created.text
        change = {"status": {"type": "Property", "value": "open"}}
        beta = client.post(f"{NGSI}/entities/{CABINET}/attrs", json=change, headers=platform.as_(BETA, "editor"))
        assert beta.status_code == 204
        time.sleep(1.0)  # the notifier polls every 0.05 s: a leak would have arrived by now
        assert receiver.received == []
        alpha = client.post(f"{NGSI}/entities/{CABINET}/attrs", json=change, headers=platform.as_(ALPHA, "editor"))
        assert alpha.status_code == 204
        (got,) = receiver.wait_for(1)
        assert [entity["id"] for entity in got.body["data"]] == [CABINET]


def test_refused_api_keys(platform):
    client, keys = platform.client, KeyService(platform.client.app.state.broker.store)
    url = f"{NGSI}/entities/{LAMP}"
    key, token = keys.create(ALPHA, "reader", "soon revoked")
    assert client.get(url, headers={"Authorization": f"Bearer {token}", "NGSILD-Tenant": ALPHA}).status_code == 200
    revoked = client.delete(f"/admin/v1/tenants/{ALPHA}/keys/{key.id}", headers=platform.as_(ALPHA, "admin"))
    assert revoked.status_code in (200, 204), revoked.text
    problem = client.get(url, headers={"Authorization": f"Bearer {token}", "NGSILD-Tenant": ALPHA})
    assert problem.status_code == 401 and "revoked" in problem.json()["detail"]
    _, expiring = keys.create(ALPHA, "reader", "short-lived",
                              expires_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2)))
    time.sleep(2.2)
    problem = client.get(url, headers={"Authorization": f"Bearer {expiring}", "NGSILD-Tenant": ALPHA})
    assert problem.status_code == 401 and "expired" in problem.json()["detail"]
    wrong = platform.tokens[(ALPHA, "reader")][:-4] + "aaaa"
    assert client.get(url, headers={"Authorization": f"Bearer {wrong}", "NGSILD-Tenant": ALPHA}).status_code == 401


@pytest.mark.parametrize("header", ["Basic YWxhZGRpbjpvcGVuc2VzYW1l", "Bearer", "Bearer ", "trk_abc", "Bearer trk_",
                                    "Bearer eyJhbGciOiJub25lIn0.e30.", "Bearer " + "x" * 10_000, "bearer\ttrk_x"])
def test_malformed_credentials_are_401_problems(platform, header):
    response = platform.client.get(f"{NGSI}/entities/{LAMP}", headers={"Authorization": header, "NGSILD-Tenant": ALPHA})
    assert response.status_code == 401, response.text
    assert response.json()["type"].startswith("urn:territoires:errors:")


@hypothesis_settings(max_examples=60, deadline=None)
@given(header=st.none() | st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=300),
       cookie=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters=";,"),
                      max_size=200))
def test_fuzzed_authentication_never_fails_the_server(platform, header, cookie):
    client = platform.client
    for name in ("__Host-territoires-session", "territoires-session"):
        client.cookies.set(name, cookie)
    try:
        credential = {} if header is None else {"Authorization": header}  # None: the cookie is read
        response = client.get(f"{NGSI}/entities", headers={**credential, "NGSILD-Tenant": ALPHA})
    finally:
        client.cookies.clear()
    assert response.status_code in (200, 401, 403, 429), response.text


def test_public_types_are_open_to_everyone_and_nothing_else(platform):
    client, admin = platform.client, platform.as_(BETA, "admin")
    published = client.put(f"/admin/v1/tenants/{BETA}/public-types", json={"types": ["StreetlightControlCabinet"]},
                           headers=admin)
    assert published.status_code in (200, 204), published.text
    try:
        for headers in ({"NGSILD-Tenant": BETA}, platform.as_(ALPHA, "reader", on=BETA)):
            everything = client.get(f"{NGSI}/entities", headers=headers, params={"type": "Streetlight,StreetlightControlCabinet"})
            assert everything.status_code == 200, everything.text
            assert [e["id"] for e in everything.json()] == [CABINET]
            assert client.get(f"{NGSI}/entities/{CABINET}", headers=headers).status_code == 200
            assert client.get(f"{NGSI}/entities/{LAMP}", headers=headers).status_code == 404
            assert client.get(f"{NGSI}/temporal/entities/{LAMP}", headers=headers).status_code == 404
            assert client.get(f"{NGSI}/types", headers=headers).status_code in (401, 403)
            # a linked entity sub-query would read entities of types that are not public
            through = client.get(f"{NGSI}/entities", headers=headers,
                                 params={"type": "StreetlightControlCabinet", "q": 'feeds{status}=="ok"'})
            assert through.status_code == 403, through.text
            refused = client.post(f"{NGSI}/entities/{CABINET}/attrs", headers=headers,
                                  json={"status": {"type": "Property", "value": "x"}})
            assert refused.status_code in (401, 403)
    finally:
        client.put(f"/admin/v1/tenants/{BETA}/public-types", json={"types": []}, headers=admin)


def test_a_tenant_admin_cannot_see_the_platform_listing_of_devices(platform):
    response = platform.client.get("/admin/v1/devices", headers=platform.as_(BETA, "admin"))
    assert response.status_code == 403
    own = platform.client.get("/admin/v1/devices", headers=platform.as_(BETA, "admin"), params={"tenant": BETA})
    assert own.status_code == 200 and [d["devEui"] for d in own.json()] == [EUI]


def test_repeated_failed_authentications_are_slowed_then_refused(tmp_path):
    settings = Settings(data_dir=tmp_path / "var", auth_failure_limit=3, notifications=False)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        bad = {"Authorization": "Bearer trk_aaaaaaaaaaaa_" + "a" * 52}
        assert [client.get(f"{NGSI}/entities/{LAMP}", headers=bad).status_code for _ in range(3)] == [401] * 3
        refused = client.get(f"{NGSI}/entities/{LAMP}", headers=bad)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert refused.json()["type"] == "urn:territoires:errors:TooManyRequests"

"""/admin/v1 keys, members and public types as an operator uses them (the test client holds an
operator's API key; the gate's refusals of other callers are tested with the isolation matrix)."""

from __future__ import annotations

import re

import pytest

from territoires.auth.errors import Unauthenticated
from territoires.auth.principal import Grant, Role
from tests.api.conftest import CORE, LINK_REL, assert_problem

BASE = "/admin/v1"
PARKING = "https://smartdatamodels.org/dataModel.Parking/ParkingSpot"
AIR = "https://smartdatamodels.org/dataModel.Environment/AirQualityObserved"
CONTEXT = {"ParkingSpot": PARKING, "AirQualityObserved": AIR}


@pytest.fixture
def rennes(client):
    assert client.post(f"{BASE}/tenants", json={"name": "rennes"}).status_code == 201
    assert client.post(f"{BASE}/tenants", json={"name": "brest"}).status_code == 201
    return client


def test_a_tenant_key_is_created_shown_once_listed_and_revoked(rennes):
    client = rennes
    created = client.post(f"{BASE}/tenants/rennes/keys",
                          json={"role": "editor", "name": "export SIG", "expiresAt": "2099-01-01T00:00:00Z"})
    assert created.status_code == 201, created.text
    key = created.json()
    token = key.pop("token")
    assert re.fullmatch(r"trk_[a-z2-7]{12}_[a-z2-7]{52}", token)
    assert created.headers["location"] == f"{BASE}/tenants/rennes/keys/{key['id']}"
    issuer = client.headers["Authorization"].split("_")[1]  # the operator key the test client holds
    assert key == {"id": key["id"], "tenant": "rennes", "role": "editor", "name": "export SIG",
                   "createdAt": key["createdAt"], "createdBy": f"key:{issuer}",
                   "expiresAt": "2099-01-01T00:00:00.000000Z"}
    keys = client.app.state.keys
    assert keys.principal(token).grants == (Grant(Role.EDITOR, "rennes"),)
    as_editor = {"Authorization": f"Bearer {token}", "NGSILD-Tenant": "rennes"}
    assert client.get("/ngsi-ld/v1/entities", params={"type": "Streetlight"}, headers=as_editor).status_code == 200
    assert client.get(f"{BASE}/tenants/rennes/keys/{key['id']}").json() == key  # the token is never shown again
    for n in range(3):
        assert client.post(f"{BASE}/tenants/rennes/keys", json={"role": "device", "name": f"capteur {n}"}).status_code == 201
    client.post(f"{BASE}/tenants/brest/keys", json={"role": "reader"})
    page = client.get(f"{BASE}/tenants/rennes/keys", params={"offset": 1, "limit": 2})
    assert page.headers["total-count"] == "4" and [k["name"] for k in page.json()] == ["capteur 0", "capteur 1"]
    assert client.delete(f"{BASE}/tenants/rennes/keys/{key['id']}").status_code == 204
    revoked = client.get(f"{BASE}/tenants/rennes/keys/{key['id']}").json()
    assert revoked["revokedAt"] >= key["createdAt"]
    assert client.get(f"{BASE}/tenants/rennes/keys").json()[0] == revoked  # the record stays
    with pytest.raises(Unauthenticated):  # at once on this process
        keys.principal(token)
    refused = client.get("/ngsi-ld/v1/entities", params={"type": "Streetlight"}, headers=as_editor)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]


def test_a_tenant_path_never_reaches_another_tenants_key(rennes):
    client = rennes
    key = client.post(f"{BASE}/tenants/brest/keys", json={"role": "admin"}).json()
    assert_problem(client.get(f"{BASE}/tenants/rennes/keys/{key['id']}"), 404, "ResourceNotFound")
    assert_problem(client.delete(f"{BASE}/tenants/rennes/keys/{key['id']}"), 404, "ResourceNotFound")
    assert "revokedAt" not in client.get(f"{BASE}/tenants/brest/keys/{key['id']}").json()
    assert client.get(f"{BASE}/tenants/rennes/keys").json() == []


def test_the_default_tenant_is_named_default_in_paths(client):
    created = client.post(f"{BASE}/tenants/_default/keys", json={"role": "reader"})
    assert created.status_code == 201, created.text
    assert created.json()["tenant"] == "" and created.headers["location"].startswith(f"{BASE}/tenants/_default/keys/")
    assert client.get(f"{BASE}/tenants/_default/keys").headers["total-count"] == "1"
    assert client.get(f"{BASE}/keys", params={"tenant": "_default"}).headers["total-count"] == "1"


def test_platform_keys_are_managed_under_admin_keys(rennes):
    client = rennes
    operator = client.post(f"{BASE}/keys", json={"role": "operator", "name": "exploitation"})
    assert operator.status_code == 201, operator.text
    assert "tenant" not in operator.json() and operator.headers["location"] == f"{BASE}/keys/{operator.json()['id']}"
    assert client.app.state.keys.principal(operator.json()["token"]).grants == (Grant(Role.OPERATOR),)
    national = client.post(f"{BASE}/keys", json={"role": "contributor", "scope": "35238"}).json()
    assert national["scope"] == "35238"
    client.post(f"{BASE}/tenants/rennes/keys", json={"role": "reader"})
    every = client.get(f"{BASE}/keys")  # the test client's own operator key first
    assert every.headers["total-count"] == "4"
    assert [k.get("tenant") for k in every.json()] == [None, None, None, "rennes"]
    assert client.get(f"{BASE}/keys", params={"tenant": "rennes"}).headers["total-count"] == "1"
    assert client.delete(f"{BASE}/keys/{national['id']}").status_code == 204
    assert "revokedAt" in client.get(f"{BASE}/keys").json()[2]
    assert_problem(client.delete(f"{BASE}/keys/abcdefghijkl"), 404, "ResourceNotFound")


def test_bad_keys_are_refused_with_a_reason(rennes):
    client = rennes
    cases = [
        (f"{BASE}/tenants/rennes/keys", {"role": "boss"}, 400, "BadRequestData", "role must be one of"),
        (f"{BASE}/tenants/rennes/keys", {"name": "x"}, 400, "BadRequestData", "give the role"),
        (f"{BASE}/tenants/rennes/keys", {"role": "operator"}, 400, "BadRequestData", "takes no tenant"),
        (f"{BASE}/tenants/rennes/keys", {"role": "reader", "tenant": "brest"}, 400, "BadRequestData", "'tenant'"),
        (f"{BASE}/tenants/rennes/keys", {"role": "reader", "expiresAt": "2001-01-01T00:00:00Z"}, 400,
         "BadRequestData", "already past"),
        (f"{BASE}/tenants/rennes/keys", ["reader"], 400, "BadRequestData", "JSON object"),
        (f"{BASE}/tenants/nowhere/keys", {"role": "reader"}, 404, "NonexistentTenant", "nowhere"),
        (f"{BASE}/tenants/-bad/keys", {"role": "reader"}, 400, "BadRequestData", "tenant name"),
        (f"{BASE}/keys", {"role": "editor"}, 400, "BadRequestData", "applies to a tenant"),
    ]
    for path, body, status, kind, hint in cases:
        problem = assert_problem(client.post(path, json=body), status, kind)
        assert hint in problem["detail"], problem
    assert_problem(client.get(f"{BASE}/tenants/nowhere/keys"), 404, "NonexistentTenant")
    assert_problem(client.get(f"{BASE}/tenants/rennes/keys", params={"limit": 5000}), 403, "TooManyResults")
    assert_problem(client.get(f"{BASE}/tenants/rennes/keys", params={"offset": "x"}), 400, "BadRequestData")
    assert_problem(client.post(f"{BASE}/tenants/rennes/keys", content=b"{", headers={"content-type": "application/json"}),
                   400, "InvalidRequest")
    assert client.get(f"{BASE}/keys").headers["total-count"] == "1"  # the test client's own


def test_members_are_added_listed_and_removed(rennes):
    client = rennes
    added = client.post(f"{BASE}/tenants/rennes/members", json={"role": "admin", "email": "DSI@Rennes.fr"})
    assert added.status_code == 201, added.text
    member = added.json()
    assert member == {"id": member["id"], "tenant": "rennes", "role": "admin", "email": "dsi@rennes.fr",
                      "createdAt": member["createdAt"], "createdBy": member["createdBy"]}
    assert member["createdBy"] == "key:" + client.headers["Authorization"].split("_")[1]
    assert added.headers["location"] == f"{BASE}/tenants/rennes/members/{member['id']}"
    by_subject = client.post(f"{BASE}/tenants/rennes/members", json={
        "role": "reader", "subject": "f4a1", "issuer": "https://sso.rennes.fr/realms/agents"}).json()
    assert by_subject["subject"] == "f4a1" and "email" not in by_subject
    assert client.app.state.members.grants("https://sso.rennes.fr/realms/agents", "f4a1", "dsi@rennes.fr") == (
        Grant(Role.ADMIN, "rennes"), Grant(Role.READER, "rennes"))
    listed = client.get(f"{BASE}/tenants/rennes/members", params={"limit": 1})
    assert listed.headers["total-count"] == "2" and listed.json() == [member]
    assert_problem(client.delete(f"{BASE}/tenants/brest/members/{member['id']}"), 404, "ResourceNotFound")
    assert client.delete(f"{BASE}/tenants/rennes/members/{member['id']}").status_code == 204
    assert_problem(client.delete(f"{BASE}/tenants/rennes/members/{member['id']}"), 404, "ResourceNotFound")
    assert client.get(f"{BASE}/tenants/rennes/members").json() == [by_subject]
    cases = [
        ({"role": "admin", "email": "dsi@rennes.fr", "subject": "x"}, 400, "BadRequestData", "give the issuer"),
        ({"role": "reader", "subject": "f4a1", "issuer": "https://sso.rennes.fr/realms/agents"}, 409,
         "AlreadyExists", "already exists"),
        ({"role": "moderator", "email": "a@b.fr"}, 400, "BadRequestData", "takes no tenant"),
        ({"email": "a@b.fr"}, 400, "BadRequestData", "give the role"),
        ({"role": "reader", "email": "a@b.fr", "phone": "0299"}, 400, "BadRequestData", "'phone'"),
    ]
    for body, status, kind, hint in cases:
        problem = assert_problem(client.post(f"{BASE}/tenants/rennes/members", json=body), status, kind)
        assert hint in problem["detail"], problem
    assert_problem(client.get(f"{BASE}/tenants/nowhere/members"), 404, "NonexistentTenant")


def test_public_types_are_set_with_short_names_and_answered_in_both_forms(rennes):
    client = rennes
    assert client.get(f"{BASE}/tenants/rennes/public-types").json() == {"types": [], "expandedTypes": []}
    # The @context of a JSON body travels in a Link header, as for NGSI-LD types.
    hosted = client.post("/ngsi-ld/v1/jsonldContexts", json={"@context": CONTEXT}, headers={"NGSILD-Tenant": "rennes"})
    assert hosted.status_code == 201, hosted.text
    link = {"Link": f"<http://testserver{hosted.headers['location']}>; {LINK_REL}"}
    put = client.put(f"{BASE}/tenants/rennes/public-types", json={"types": ["ParkingSpot", "AirQualityObserved"]},
                     headers=link)
    assert put.status_code == 200, put.text
    assert put.json() == {"types": ["AirQualityObserved", "ParkingSpot"], "expandedTypes": [AIR, PARKING]}
    assert client.app.state.public_types.of("rennes") == {AIR, PARKING}
    assert client.get(f"{BASE}/tenants/rennes/public-types").json() == {"types": [AIR, PARKING],
                                                                      "expandedTypes": [AIR, PARKING]}
    # JSON-LD: the @context in the body.
    put = client.put(f"{BASE}/tenants/rennes/public-types", headers={"content-type": "application/ld+json"},
                     json={"@context": [CONTEXT, CORE], "types": ["ParkingSpot"]})
    assert put.status_code == 200, put.text
    assert put.json() == {"types": ["ParkingSpot"], "expandedTypes": [PARKING]}
    assert client.get(f"{BASE}/tenants/brest/public-types").json()["types"] == []
    assert_problem(client.put(f"{BASE}/tenants/rennes/public-types", json={"types": ["Parking Spot"]}),
                   400, "BadRequestData")
    assert_problem(client.put(f"{BASE}/tenants/rennes/public-types", json={"public": ["ParkingSpot"]}),
                   400, "BadRequestData")
    assert_problem(client.put(f"{BASE}/tenants/nowhere/public-types", json={"types": []}), 404, "NonexistentTenant")
    assert_problem(client.get(f"{BASE}/tenants/nowhere/public-types"), 404, "NonexistentTenant")
    assert client.get(f"{BASE}/tenants/rennes/public-types").json()["expandedTypes"] == [PARKING]


def test_deleting_a_tenant_forgets_its_keys_members_and_public_types(rennes):
    client = rennes
    client.post(f"{BASE}/tenants/rennes/keys", json={"role": "reader"})
    client.post(f"{BASE}/tenants/rennes/members", json={"role": "reader", "email": "a@rennes.fr"})
    client.put(f"{BASE}/tenants/rennes/public-types", json={"types": [PARKING]})
    assert client.delete(f"{BASE}/tenants/rennes").status_code == 204
    assert client.post(f"{BASE}/tenants", json={"name": "rennes"}).status_code == 201
    assert client.get(f"{BASE}/tenants/rennes/keys").json() == []
    assert client.get(f"{BASE}/tenants/rennes/members").json() == []
    assert client.get(f"{BASE}/tenants/rennes/public-types").json()["types"] == []

"""Tenants: one per member authority, created and deleted at run time, never seeing each other."""

from __future__ import annotations

from .conftest import assert_problem, create, streetlight

ENTITIES = "/ngsi-ld/v1/entities"


def test_tenants_are_created_listed_and_deleted_at_run_time(client):
    response = client.post("/admin/v1/tenants", json={"name": "rennes"})
    assert response.status_code == 201 and response.headers["location"] == "/admin/v1/tenants/rennes"
    client.post("/admin/v1/tenants", json={"name": "brest"})
    assert client.get("/admin/v1/tenants").json() == [{"name": "brest"}, {"name": "rennes"}]
    create(client, streetlight(1), **{"NGSILD-Tenant": "rennes"})
    assert client.delete("/admin/v1/tenants/rennes").status_code == 204
    assert client.get("/admin/v1/tenants").json() == [{"name": "brest"}]
    gone = client.get(f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001", headers={"NGSILD-Tenant": "rennes"})
    assert_problem(gone, 404, "NonexistentTenant")


def test_creating_a_tenant_twice_or_with_a_bad_name_is_refused(client):
    client.post("/admin/v1/tenants", json={"name": "rennes"})
    assert_problem(client.post("/admin/v1/tenants", json={"name": "rennes"}), 409, "AlreadyExists")
    for bad in ("", "a/b", "../etc", "x" * 80, 12, "é"):
        assert_problem(client.post("/admin/v1/tenants", json={"name": bad}), 400, "BadRequestData")
    assert_problem(client.post("/admin/v1/tenants", json=["rennes"]), 400, "BadRequestData")
    assert_problem(client.delete("/admin/v1/tenants/nowhere"), 404, "ResourceNotFound")


def test_an_unknown_tenant_is_answered_nonexistent_tenant(client):
    headers = {"NGSILD-Tenant": "nowhere"}
    assert_problem(client.get(ENTITIES, params={"type": "Streetlight"}, headers=headers), 404, "NonexistentTenant")
    assert_problem(client.post(ENTITIES, json=streetlight(1), headers=headers), 404, "NonexistentTenant")
    assert_problem(client.get("/ngsi-ld/v1/types", headers=headers), 404, "NonexistentTenant")
    injected = {"NGSILD-Tenant": "x' OR '1'='1"}
    assert_problem(client.get(ENTITIES, params={"type": "Streetlight"}, headers=injected), 404, "NonexistentTenant")


def test_5510_01_the_tenant_a_request_names_is_named_in_its_response(client):
    client.post("/admin/v1/tenants", json={"name": "rennes"})
    rennes = {"NGSILD-Tenant": "rennes"}
    created = client.post(ENTITIES, json=streetlight(1), headers=rennes)
    assert created.status_code == 201 and created.headers["NGSILD-Tenant"] == "rennes"
    assert client.get(ENTITIES, params={"type": "Streetlight"}, headers=rennes).headers["NGSILD-Tenant"] == "rennes"
    refused = client.get(ENTITIES, params={"type": "Streetlight"}, headers={"NGSILD-Tenant": "nowhere"})
    assert_problem(refused, 404, "NonexistentTenant")
    assert refused.headers["NGSILD-Tenant"] == "nowhere"  # clause 6.3.14: errors included
    assert "NGSILD-Tenant" not in client.get(ENTITIES, params={"type": "Streetlight"}).headers


def test_nothing_of_one_tenant_is_visible_to_another(client):
    for name in ("rennes", "brest"):
        client.post("/admin/v1/tenants", json={"name": name})
    rennes, brest = {"NGSILD-Tenant": "rennes"}, {"NGSILD-Tenant": "brest"}
    create(client, streetlight(1), **rennes)
    stored = client.post("/ngsi-ld/v1/jsonldContexts", json={"@context": {"lux": "https://example.org/lux"}}, headers=rennes)
    context_id = stored.headers["location"].rsplit("/", 1)[1]

    assert_problem(client.get(f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001", headers=brest), 404, "ResourceNotFound")
    listed = client.get(ENTITIES, params={"type": "Streetlight", "count": "true"}, headers=brest)
    assert listed.json() == [] and listed.headers["NGSILD-Results-Count"] == "0"
    assert client.get("/ngsi-ld/v1/types", headers=brest).json()["typeList"] == []
    assert client.get("/ngsi-ld/v1/attributes", headers=brest).json()["attributeList"] == []
    assert client.get("/ngsi-ld/v1/jsonldContexts", headers=brest).json() == []
    assert_problem(client.get(f"/ngsi-ld/v1/jsonldContexts/{context_id}", headers=brest), 404, "ResourceNotFound")
    # The default tenant is a tenant like the others.
    assert client.get(ENTITIES, params={"type": "Streetlight"}).json() == []
    # Rennes still has everything.
    assert client.get(f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001", headers=rennes).status_code == 200


def test_queries_crafted_to_escape_the_tenant_return_only_its_own_data_or_a_400(client):
    client.post("/admin/v1/tenants", json={"name": "brest"})
    brest = {"NGSILD-Tenant": "brest"}
    create(client, streetlight(1))  # the default tenant
    create(client, streetlight(2), **brest)
    escapes = (
        {"type": "Streetlight", "q": "powerState==\"on\"|tenant!=\"x\""},
        {"type": "Streetlight", "q": "powerState==\"x') OR true OR ('\""},
        {"type": "Streetlight", "q": "powerState~=\".*'||(SELECT 1)||'\""},
        {"type": "Streetlight", "idPattern": ".*' OR tenant <> '"},
        {"type": "Streetlight", "idPattern": "$$ OR true --"},
        {"type": "Streetlight", "attrs": "powerState' OR '1'='1,status"},
        {"type": "Streetlight,Streetlight' OR true --"},
        {"type": "Streetlight", "scopeQ": "/a') OR true --"},
        {"type": "Streetlight", "orderBy": "id;DROP TABLE entities"},
    )
    for params in escapes:
        response = client.get(ENTITIES, params={**params, "count": "true"}, headers=brest)
        assert response.status_code in (200, 400), (params, response.text)
        if response.status_code == 200:
            assert {e["id"] for e in response.json()} <= {"urn:ngsi-ld:Streetlight:0002"}, params
            assert int(response.headers["NGSILD-Results-Count"]) <= 1, params
    for tenant in ("brest' OR '1'='1", "brest; SET territoires.tenant = ''", "brest\\", "%", "brest\t"):
        response = client.get(ENTITIES, params={"type": "Streetlight"}, headers={"NGSILD-Tenant": tenant})
        assert response.status_code in (400, 404), (tenant, response.text)
    assert client.get(f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001").status_code == 200
    assert client.get(f"{ENTITIES}/urn:ngsi-ld:Streetlight:0002", headers=brest).status_code == 200

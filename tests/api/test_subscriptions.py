"""/ngsi-ld/v1/subscriptions through HTTP, on every backend. Tests are named after the ETSI
conformance test purposes (TP/NGSI-LD/ContextInformation/Subscription: 028 create, 029
update, 030 retrieve, 031 query, 032 delete; jsonldContext 050 – 053 for the implicitly
created @context)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.api.conftest import CORE, LINK_REL, SDM_CONTEXT, assert_problem, link

BASE = "/ngsi-ld/v1/subscriptions"
SDM = "https://smartdatamodels.org/dataModel.Streetlight/"
LD = {"Content-Type": "application/ld+json"}


@pytest.fixture
def sdm_url(client) -> str:
    """The URL of a stored (hosted) context defining the Smart Data Models names."""
    response = client.post("/ngsi-ld/v1/jsonldContexts", json={"@context": SDM_CONTEXT})
    assert response.status_code == 201, response.text
    return "http://testserver" + response.headers["Location"]


def sub(n: int | None = 1, **members: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "Subscription",
        "entities": [{"type": "Streetlight"}],
        "notification": {"format": "keyValues",
                         "endpoint": {"uri": "http://localhost:1111/notify", "accept": "application/json"}},
    }
    if n is not None:
        body["id"] = f"urn:ngsi-ld:Subscription:{n}"
    body.update(members)
    return body


def create(client, body: dict[str, Any], **headers: str) -> str:
    response = client.post(BASE, json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.headers["Location"]


def create_ld(client, body: dict[str, Any], context: Any) -> Any:
    return client.post(BASE, content=orjson.dumps({**body, "@context": context}), headers=LD)


def retrieve(client, sub_id: str = "urn:ngsi-ld:Subscription:1", **headers: str) -> dict[str, Any]:
    response = client.get(f"{BASE}/{sub_id}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def without(found: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in found.items() if k not in names}


# ---- 028 create ------------------------------------------------------------------------------


def test_028_01_01_create_subscription(client, sdm_url):
    body = sub(timeInterval=5)
    response = create_ld(client, body, [sdm_url])
    assert response.status_code == 201, response.text
    assert response.headers["Location"] == f"{BASE}/urn:ngsi-ld:Subscription:1" and response.content == b""
    found = retrieve(client, **link(sdm_url), Accept="application/ld+json")
    assert found.pop("@context") == sdm_url
    assert found == {**body, "status": "active", "notificationTrigger": ["attributeCreated", "attributeUpdated"]}


def test_028_02_01_invalid_json_is_invalid_request(client):
    response = client.post(BASE, content=b'{"id": "urn:a:b",, "type": "Subscription"}', headers=LD)
    assert_problem(response, 400, "InvalidRequest")


def test_028_02_02_empty_json_is_bad_request_data(client):
    assert_problem(client.post(BASE, json={}), 400, "BadRequestData")


@pytest.mark.parametrize("bad_id", ["invalidId", ""])
def test_028_03_create_subscription_with_invalid_or_empty_id(client, bad_id):
    assert_problem(client.post(BASE, json={**sub(), "id": bad_id}), 400, "BadRequestData")


def test_028_04_01_create_a_subscription_with_an_id_known_to_the_system(client):
    create(client, sub())
    problem = assert_problem(client.post(BASE, json=sub()), 409, "AlreadyExists")
    assert "urn:ngsi-ld:Subscription:1" in problem["detail"]


@pytest.mark.parametrize("members", [{"throttling": 5, "timeInterval": 10}, {"throttling": -5}])
def test_028_05_create_subscription_with_invalid_throttling(client, members):
    assert_problem(client.post(BASE, json=sub(**members)), 400, "BadRequestData")


def test_028_06_create_a_subscription_with_a_dataset_id(client):
    create(client, sub(datasetId=["urn:ngsi-ld:Dataset:french-name"]))
    assert retrieve(client)["datasetId"] == ["urn:ngsi-ld:Dataset:french-name"]


def test_028_07_01_subscription_with_invalid_jsonld_context(client):
    assert_problem(client.post(BASE, json=sub(jsonldContext="unknownContext")), 400, "BadRequestData")


def test_028_07_02_subscription_with_unavailable_jsonld_context(client):
    body = sub(jsonldContext="https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-non-existing.jsonld")
    assert_problem(client.post(BASE, json=body), 504, "LdContextNotAvailable")
    assert_problem(client.get(f"{BASE}/urn:ngsi-ld:Subscription:1"), 404, "ResourceNotFound")


def test_a_jsonld_context_that_resolves_is_what_notifications_name(client, sdm_url):
    create(client, sub(jsonldContext=sdm_url))
    assert retrieve(client)["jsonldContext"] == sdm_url


@pytest.mark.parametrize(
    "notification",
    [{"pick": ["id"], "omit": ["id"]}, {"pick": ["powerState"], "attributes": ["powerState"]},
     {"omit": ["powerState"], "attributes": ["powerState"]}],
)
def test_028_08_create_subscription_with_invalid_pick_omit_attrs(client, notification):
    body = sub(notification={"endpoint": {"uri": "http://localhost:1111/notify"}, **notification})
    assert_problem(client.post(BASE, json=body), 400, "BadRequestData")


@pytest.mark.parametrize(
    "notification",
    [{"format": "keyValues", "showChanges": True}, {"format": "simplified", "showChanges": True},
     {"attributes": []}, {"pick": []}, {"omit": []}],
)
def test_028_09_create_subscription_with_invalid_notification_params(client, notification):
    body = sub(notification={"endpoint": {"uri": "http://localhost:1111/notify"}, **notification})
    assert_problem(client.post(BASE, json=body), 400, "BadRequestData")


def test_028_09_06_show_changes_with_normalized_format_is_accepted(client):
    create(client, sub(notification={"format": "normalized", "showChanges": True,
                                     "endpoint": {"uri": "http://localhost:1111/notify"}}))
    assert retrieve(client)["notification"]["showChanges"] is True


@pytest.mark.parametrize(
    ("extra", "status"),
    [({"receiverInfo": [{"key": "Authorization", "value": "Bearer abc"}],
       "notifierInfo": [{"key": "Prefer", "value": "body=json"}]}, 201),
     ({"receiverInfo": [{"key": "K", "value": 42}]}, 400),
     ({"notifierInfo": [{"key": "K", "value": {"a": 1}}]}, 400),
     ({"receiverInfo": [{"key": "K"}]}, 400),
     ({"receiverInfo": [{"key": 5, "value": "v"}]}, 400)],
)
def test_028_10_key_value_pairs_of_endpoints(client, extra, status):
    body = sub(notification={"endpoint": {"uri": "http://localhost:1111/notify", **extra}})
    response = client.post(BASE, json=body)
    assert response.status_code == status, response.text
    if status == 201:
        assert retrieve(client)["notification"]["endpoint"] == body["notification"]["endpoint"]


def test_5811_01_past_expires_at_paused_and_generated_id(client):
    assert_problem(client.post(BASE, json=sub(expiresAt="2000-01-01T00:00:00Z")), 400, "BadRequestData")
    create(client, sub(isActive=False))
    assert retrieve(client)["status"] == "paused"
    location = create(client, sub(None))
    assert location.startswith(f"{BASE}/urn:ngsi-ld:Subscription:")
    assert retrieve(client, location.rsplit("/", 1)[1])["status"] == "active"


def test_5811_02_triggers_csf_and_read_only_members(client):
    assert_problem(client.post(BASE, json=sub(notificationTrigger=["entityChanged"])), 400, "BadRequestData")
    assert_problem(client.post(BASE, json=sub(csf="((")), 400, "BadRequestData")
    all_triggers = ["entityCreated", "entityUpdated", "entityDeleted", "attributeCreated", "attributeUpdated",
                    "attributeDeleted"]
    create(client, sub(notificationTrigger=all_triggers, status="expired", __context="http://h/hijacked.jsonld",
                       notification={"endpoint": {"uri": "http://localhost:1111/notify"}, "timesSent": 42}))
    found = retrieve(client)
    assert found["notificationTrigger"] == all_triggers and found["status"] == "active"
    assert "hijacked" not in orjson.dumps(found).decode() and "timesSent" not in found["notification"]


def test_a_subscription_to_an_mqtt_broker(client):
    endpoint = {"uri": "mqtt://127.0.0.1:1883/territoires/eclairage", "accept": "application/json",
                "notifierInfo": [{"key": "MQTT-Version", "value": "mqtt5.0"}, {"key": "MQTT-QoS", "value": "1"}]}
    create(client, sub(notification={"endpoint": endpoint}))
    assert retrieve(client)["notification"]["endpoint"] == endpoint
    bad = {**endpoint, "notifierInfo": [{"key": "MQTT-QoS", "value": "7"}]}
    assert_problem(client.post(BASE, json=sub(2, notification={"endpoint": bad})), 400, "BadRequestData")


def test_a_subscription_with_its_context_in_a_link_header(client, sdm_url):
    create(client, sub(watchedAttributes=["powerState"], q='powerState=="off"'), **link(sdm_url))
    mine = retrieve(client, **link(sdm_url))
    assert mine["watchedAttributes"] == ["powerState"] and mine["q"] == 'powerState=="off"'
    core = retrieve(client)
    assert core["watchedAttributes"] == [SDM + "powerState"] and core["entities"] == [{"type": SDM + "Streetlight"}]


def test_a_body_context_with_a_link_header_is_refused(client, sdm_url):
    response = client.post(BASE, content=orjson.dumps({**sub(), "@context": sdm_url}), headers={**LD, **link(sdm_url)})
    assert_problem(response, 400, "BadRequestData")


def test_a_subscription_that_is_not_an_object_is_refused(client):
    assert_problem(client.post(BASE, json=[sub()]), 400, "BadRequestData")
    assert_problem(client.post(BASE, content=b"<xml/>", headers={"Content-Type": "text/xml"}), 415, "InvalidRequest")


# ---- 029 update ------------------------------------------------------------------------------


def test_029_01_update_subscription_with_non_present_or_invalid_id(client):
    assert client.patch(f"{BASE}/", json={"isActive": False}).status_code == 405
    assert_problem(client.patch(f"{BASE}/InvalidUri", json={"isActive": False}), 400, "BadRequestData")


def test_029_02_01_update_unknown_subscription(client):
    response = client.patch(f"{BASE}/urn:ngsi-ld:Subscription:unknowSubscription",
                            json={"notification": {"endpoint": {"uri": "http://h/n"}}})
    assert_problem(response, 404, "ResourceNotFound")


def test_029_03_01_update_subscription_with_invalid_fragment(client):
    create(client, sub())
    assert_problem(client.patch(f"{BASE}/urn:ngsi-ld:Subscription:1", json={"notification": {"format": "keyValues"}}),
                   400, "BadRequestData")


def test_029_04_01_update_subscription_with_null_mandatory_properties(client):
    create(client, sub())
    fragment = {"type": "Subscription", "notification": {"format": "keyValues", "endpoint": None}}
    assert_problem(client.patch(f"{BASE}/urn:ngsi-ld:Subscription:1", json=fragment), 400, "BadRequestData")
    assert retrieve(client)["notification"]["endpoint"]["uri"] == "http://localhost:1111/notify"


def test_029_05_update_subscription_with_term_to_uri_expansion(client, sdm_url):
    create(client, sub())
    response = client.patch(f"{BASE}/urn:ngsi-ld:Subscription:1", json={"watchedAttributes": ["powerState"]},
                            headers=link(sdm_url))
    assert response.status_code == 204 and response.content == b""
    assert retrieve(client, **link(sdm_url))["watchedAttributes"] == ["powerState"]
    assert retrieve(client)["watchedAttributes"] == [SDM + "powerState"]


def test_029_06_01_update_subscription(client):
    body = sub()
    create(client, body)
    fragment = {"type": "Subscription", "notification": {"format": "keyValues", "endpoint": {
        "uri": "http://my.second.endpoint.org/notify", "accept": "application/json"}}}
    assert client.patch(f"{BASE}/urn:ngsi-ld:Subscription:1", json=fragment).status_code == 204
    found = retrieve(client, Accept="application/ld+json")
    assert without(found, "@context", "notificationTrigger", "status") == {**body, **fragment}


@pytest.mark.parametrize(
    ("initial", "fragment", "status"),
    [({"isActive": False}, {"isActive": True}, "active"),                                    # 029_07_01
     ({"isActive": False}, {"isActive": True, "expiresAt": "2030-08-01T22:07:00Z"}, "active"),  # 029_08_01
     ({}, {"isActive": False}, "paused")],                                                     # 029_09_01
)
def test_029_07_to_09_update_subscription_status(client, initial, fragment, status):
    create(client, sub(**initial))
    assert client.patch(f"{BASE}/urn:ngsi-ld:Subscription:1", json=fragment).status_code == 204
    assert retrieve(client)["status"] == status


def test_029_11_01_update_subscription_with_expires_at_in_the_past(client):
    create(client, sub())
    response = client.patch(f"{BASE}/urn:ngsi-ld:Subscription:1", json={"expiresAt": "2020-08-01T22:07:00Z"})
    assert_problem(response, 400, "BadRequestData")


def test_an_update_stamps_modified_at_and_keeps_created_at(client):
    create(client, sub())
    before = retrieve(client, "urn:ngsi-ld:Subscription:1?options=sysAttrs")
    assert client.patch(f"{BASE}/urn:ngsi-ld:Subscription:1", json={"description": "nord"}).status_code == 204
    after = retrieve(client, "urn:ngsi-ld:Subscription:1?options=sysAttrs")
    assert after["createdAt"] == before["createdAt"] and after["modifiedAt"] > before["modifiedAt"]
    assert after["description"] == "nord"


# ---- 030 retrieve ----------------------------------------------------------------------------


def test_030_01_01_retrieve_subscription_with_invalid_id(client):
    assert_problem(client.get(f"{BASE}/InvalidUri"), 400, "BadRequestData")


def test_030_02_01_retrieve_unknown_subscription(client):
    assert_problem(client.get(f"{BASE}/urn:ngsi-ld:Subscription:unknowSubscription"), 404, "ResourceNotFound")


def test_030_03_01_retrieve_subscription(client, sdm_url):
    body = sub(timeInterval=5)
    assert create_ld(client, body, [sdm_url]).status_code == 201
    response = client.get(f"{BASE}/urn:ngsi-ld:Subscription:1", headers=link(sdm_url))
    assert response.headers["content-type"] == "application/json"
    assert response.headers["Link"] == f"<{sdm_url}>; {LINK_REL}"
    assert without(response.json(), "notificationTrigger") == {**body, "status": "active"}


def test_retrieving_with_an_unknown_option_is_refused(client):
    create(client, sub())
    assert_problem(client.get(f"{BASE}/urn:ngsi-ld:Subscription:1?options=keyValues"), 400, "InvalidRequest")


# ---- 031 query --------------------------------------------------------------------------------


def test_031_01_01_query_subscriptions(client):
    for n in (1, 2, 3):
        create(client, sub(n, description=f"n°{n}"))
    response = client.get(BASE)
    assert response.status_code == 200
    assert [(s["id"], s["description"]) for s in response.json()] == [
        (f"urn:ngsi-ld:Subscription:{n}", f"n°{n}") for n in (1, 2, 3)]
    assert "NGSILD-Results-Count" not in response.headers


@pytest.mark.parametrize(
    ("limit", "offset", "ids", "prev_page", "next_page"),
    [(1, 1, [2], "limit=1&offset=0", "limit=1&offset=2"),   # 031_02_01
     (1, 2, [3], "limit=1&offset=1", None),                 # 031_02_02
     (15, 0, [1, 2, 3], None, None)],                       # 031_02_03
)
def test_031_02_query_subscriptions_with_limit_and_offset(client, limit, offset, ids, prev_page, next_page):
    for n in (1, 2, 3):
        create(client, sub(n))
    response = client.get(f"{BASE}?limit={limit}&offset={offset}&count=true", headers={"Accept": "application/ld+json"})
    assert [s["id"] for s in response.json()] == [f"urn:ngsi-ld:Subscription:{n}" for n in ids]
    assert all(s["@context"] == CORE for s in response.json())
    assert response.headers["NGSILD-Results-Count"] == "3"
    links = {part.strip() for part in response.headers.get("Link", "").split(",") if part.strip()}
    expected = {f'<{BASE}?count=true&{query}>;rel="{rel}";type="application/ld+json"'
                for rel, query in (("prev", prev_page), ("next", next_page)) if query}
    assert links == expected


def test_031_02_page_links_name_the_collection_without_its_trailing_slash(client):
    for n in (1, 2, 3):
        create(client, sub(n))
    response = client.get(f"{BASE}/?limit=1&offset=1")
    assert response.status_code == 200, response.text
    assert f'<{BASE}?limit=1&offset=0>;rel="prev"' in response.headers["Link"]
    assert f'<{BASE}?limit=1&offset=2>;rel="next"' in response.headers["Link"]


def test_query_subscriptions_refuses_bad_pages(client):
    assert_problem(client.get(f"{BASE}?limit=-1"), 400, "BadRequestData")
    assert_problem(client.get(f"{BASE}?limit=0"), 400, "BadRequestData")
    assert_problem(client.get(f"{BASE}?limit=100000"), 403, "TooManyResults")
    assert client.get(f"{BASE}?limit=0&count=true").headers["NGSILD-Results-Count"] == "0"


# ---- 032 delete -------------------------------------------------------------------------------


def test_032_01_delete_subscription_with_non_present_or_invalid_id(client):
    assert client.delete(f"{BASE}/").status_code == 405
    assert_problem(client.delete(f"{BASE}/InvalidUri"), 400, "BadRequestData")


def test_032_02_01_delete_unknown_subscription(client):
    assert_problem(client.delete(f"{BASE}/urn:ngsi-ld:Subscription:unknowSubscription"), 404, "ResourceNotFound")


def test_032_03_01_delete_subscription(client):
    create(client, sub())
    response = client.delete(f"{BASE}/urn:ngsi-ld:Subscription:1")
    assert response.status_code == 204 and response.content == b""
    assert_problem(client.get(f"{BASE}/urn:ngsi-ld:Subscription:1"), 404, "ResourceNotFound")


# ---- tenants ----------------------------------------------------------------------------------


def test_subscriptions_belong_to_their_tenant(client):
    assert client.post("/admin/v1/tenants", json={"name": "rennes"}).status_code == 201
    create(client, sub(), **{"NGSILD-Tenant": "rennes"})
    assert retrieve(client, **{"NGSILD-Tenant": "rennes"})["id"] == "urn:ngsi-ld:Subscription:1"
    assert_problem(client.get(f"{BASE}/urn:ngsi-ld:Subscription:1"), 404, "ResourceNotFound")
    assert client.get(BASE).json() == []
    assert_problem(client.post(BASE, json=sub(), headers={"NGSILD-Tenant": "nowhere"}), 404, "NonexistentTenant")


# ---- the implicitly created @context (clause 5.13, ETSI 050_03, 051_06, 052_06, 053_07) -------------


def test_050_03_01_a_context_of_several_parts_is_implicitly_created(client, sdm_url):
    context = [sdm_url, {"Lamp": "https://example.org/Lamp"}]
    response = create_ld(client, sub(entities=[{"type": "Lamp"}]), context)
    assert response.status_code == 201, response.text
    listed = client.get("/ngsi-ld/v1/jsonldContexts?details=true&kind=ImplicitlyCreated").json()
    assert [item["kind"] for item in listed] == ["ImplicitlyCreated"]
    url = retrieve(client)["jsonldContext"]
    assert listed[0]["URL"] == url and url.startswith("http://testserver/ngsi-ld/v1/jsonldContexts/")
    served = client.get("/ngsi-ld/v1/jsonldContexts/" + url.rsplit("/", 1)[1])
    assert served.status_code == 200 and served.json() == {"@context": context}
    # The same @context again shares the implicit context; the subscription reads under it.
    assert create_ld(client, sub(2, entities=[{"type": "Lamp"}]), context).status_code == 201
    assert retrieve(client, "urn:ngsi-ld:Subscription:2")["jsonldContext"] == url
    assert len(client.get("/ngsi-ld/v1/jsonldContexts?kind=ImplicitlyCreated").json()) == 1
    assert retrieve(client, **link(url))["entities"] == [{"type": "Lamp"}]
    # 051_06: it is deleted like the others.
    assert client.delete("/ngsi-ld/v1/jsonldContexts/" + url.rsplit("/", 1)[1]).status_code == 204


def test_a_single_url_context_needs_no_implicit_context(client, sdm_url):
    assert create_ld(client, sub(), [sdm_url]).status_code == 201
    assert client.get("/ngsi-ld/v1/jsonldContexts?kind=ImplicitlyCreated").json() == []

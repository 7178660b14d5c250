"""Bad input gets a clear 4xx ProblemDetails and loses nothing; never a 500."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import assert_problem, create, link, streetlight

ENTITIES = "/ngsi-ld/v1/entities"


def test_001_02_malformed_json_is_an_invalid_request(client):
    for raw in (b"{", b"", b"[1,", b"\xff\xfe", b'{"id": "urn:a:b", "type": "T",}'):
        response = client.post(ENTITIES, content=raw, headers={"Content-Type": "application/json"})
        assert_problem(response, 400, "InvalidRequest")


def test_wrong_media_types_are_refused(client):
    response = client.post(ENTITIES, content=b"id=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(response, 415, "InvalidRequest")
    create(client, streetlight(1))
    response = client.get(f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001", headers={"Accept": "text/html"})
    assert_problem(response, 406, "InvalidRequest")


def test_059_01_unknown_query_parameters_are_invalid_requests(client):
    create(client, streetlight(1))
    for method, path in (("GET", ENTITIES), ("POST", ENTITIES), ("GET", "/ngsi-ld/v1/types"), ("DELETE", ENTITIES),
                         ("GET", "/ngsi-ld/v1/subscriptions"), ("GET", "/ngsi-ld/v1/temporal/entities"),
                         ("GET", f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001")):
        response = client.request(method, path, params={"type": "Streetlight", "invalidParams": "x"},
                                  json=streetlight(2) if method == "POST" else None)
        assert "'invalidParams'" in assert_problem(response, 400, "InvalidRequest")["detail"], (method, path)
    misspelt = client.get(ENTITIES, params={"type": "Streetlight", "limt": "1"})  # not silently a page of 20
    assert "'limt'" in assert_problem(misspelt, 400, "InvalidRequest")["detail"]
    assert client.get(ENTITIES, params={"type": "Streetlight", "limit": "1"}).status_code == 200
    assert client.get(f"{ENTITIES}/urn:ngsi-ld:Streetlight:0002").status_code == 404  # the refused create did nothing


def test_oversized_bodies_are_refused_before_being_read(client, settings):
    huge = b'{"id": "urn:ngsi-ld:T:1", "type": "T", "blob": {"type": "Property", "value": "' + b"x" * settings.max_body_bytes + b'"}}'
    assert_problem(client.post(ENTITIES, content=huge, headers={"Content-Type": "application/json"}), 413, "BadRequestData")
    assert client.get(ENTITIES, params={"type": "T", "count": "true"}).headers["NGSILD-Results-Count"] == "0"


def test_046_01_a_body_without_content_length_is_a_bare_411_whatever_it_targets(client):
    body = b'{"id": "urn:ngsi-ld:Streetlight:0001", "type": "Streetlight"}'
    for method, path, headers in (("POST", ENTITIES, {}), ("PATCH", f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001/attrs", {}),
                                  ("PUT", f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001", {}),
                                  ("POST", ENTITIES, {"NGSILD-Tenant": "nowhere"})):
        chunked = client.request(method, path, content=iter([body]), headers={"Content-Type": "application/json", **headers})
        assert (chunked.status_code, chunked.content) == (411, b"")
    assert client.get(ENTITIES, params={"type": "Streetlight"}).json() == []  # nothing was created
    create(client, streetlight(1))  # a body of known length goes through


def test_wrong_types_and_invalid_uris_are_bad_request_data(client):
    assert_problem(client.post(ENTITIES, json=[streetlight(1)]), 400, "InvalidRequest")
    for body in (
        {"type": "Streetlight"},
        {"id": "not a uri", "type": "Streetlight"},
        {"id": 42, "type": "Streetlight"},
        {"id": "urn:ngsi-ld:T:1", "type": 7},
        {"id": "urn:ngsi-ld:T:1", "type": "T", "brightness": {"type": "Property"}},
        {"id": "urn:ngsi-ld:T:1", "type": "T", "owner": {"type": "Relationship", "object": "no uri"}},
        {"id": "urn:ngsi-ld:T:1", "type": "T", "location": {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [500, 1]}}},
        {"id": "urn:ngsi-ld:T:1", "type": "T", "seen": {"type": "Property", "value": 1, "observedAt": "yesterday"}},
    ):
        assert_problem(client.post(ENTITIES, json=body), 400, "BadRequestData")


def test_json_context_in_a_json_body_or_link_with_json_ld_is_refused(client):
    body = {**streetlight(1), "@context": ["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"]}
    assert_problem(client.post(ENTITIES, json=body), 400, "BadRequestData")
    ld = {"Content-Type": "application/ld+json"}
    assert_problem(client.post(ENTITIES, json=streetlight(1), headers=ld), 400, "BadRequestData")
    both = {**ld, **link("https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld")}
    assert_problem(client.post(ENTITIES, json=body, headers=both), 400, "BadRequestData")


@pytest.mark.parametrize("q", ["powerState==", "((a==1)", "a===1", "a==1;", "a~=(", "a[==1", "a==\"open"])
def test_unparsable_q_is_bad_request_data(client, q):
    assert_problem(client.get(ENTITIES, params={"type": "Streetlight", "q": q}), 400, "BadRequestData")


def test_injection_in_query_strings_finds_nothing_and_breaks_nothing(client):
    create(client, streetlight(1))
    for params in (
        {"type": "Streetlight", "q": "powerState==\"on' OR 1=1 --\""},
        {"type": "Streetlight'; DROP TABLE entities; --"},
        {"type": "Streetlight", "idPattern": ".*') OR 1=1 --"},
        {"id": "urn:ngsi-ld:Streetlight:0001' OR '1'='1", "type": "Streetlight"},
        {"type": "Streetlight", "attrs": "powerState\") OR 1=1 --"},
    ):
        response = client.get(ENTITIES, params=params)
        assert response.status_code in (200, 400), response.text
        if response.status_code == 200:
            assert response.json() == []
    assert client.get(f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001").status_code == 200


def test_pagination_parameters_are_checked(client):
    assert_problem(client.get(ENTITIES, params={"type": "T", "limit": "-1"}), 400, "BadRequestData")
    assert_problem(client.get(ENTITIES, params={"type": "T", "limit": "ten"}), 400, "BadRequestData")
    assert_problem(client.get(ENTITIES, params={"type": "T", "limit": "100000"}), 403, "TooManyResults")
    assert_problem(client.get(ENTITIES, params={"type": "T", "after": "garbage!"}), 400, "BadRequestData")


def test_unknown_routes_and_methods_are_problems_too(client):
    assert_problem(client.get("/ngsi-ld/v1/nothing"), 404, "ResourceNotFound")
    assert client.put(ENTITIES).status_code == 405


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    q=st.text(max_size=40),
    type_=st.text(min_size=1, max_size=20),
    attrs=st.text(max_size=20),
    georel=st.sampled_from(["near;maxDistance==10", "within", "bogus", "near;maxDistance==-1"]),
    coordinates=st.text(max_size=20),
)
def test_fuzzed_query_parameters_never_give_a_server_error(client, q, type_, attrs, georel, coordinates):
    params = {"type": type_, "q": q, "attrs": attrs, "georel": georel, "geometry": "Point", "coordinates": coordinates}
    response = client.get(ENTITIES, params=params)
    assert response.status_code < 500, response.text


# JSON a client may send where a member is expected: the edges that broke the server once
# (integers past 64 bits, U+0000, digits that str.isdigit takes and int refuses) among others.
_ODD_SCALARS = st.one_of(
    st.none(), st.booleans(), st.sampled_from([0, -1, 2**63 - 1, 2**63, 2**64 - 1, 1.5, 1e308]),
    st.sampled_from(["", "\u0000", "²", "①", "urn:ngsi-ld:null", "@id", "x" * 300, "2026-11-01T10:00:00Z"]),
    st.text(max_size=12),
)
_ODD_JSON = st.recursive(_ODD_SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["type", "value", "object", "datasetId", "observedAt", "unitCode", "languageMap",
                                     "vocab", "json", "valueList", "objectList", "coordinates", "format", "uri"]),
                    inner, max_size=3)), max_leaves=8)
_TARGETS = {
    "entity": ("POST", ENTITIES, lambda: streetlight(9)),
    "attributes": ("PATCH", f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001/attrs", lambda: {"status": {"value": "ok"}}),
    "batch": ("POST", "/ngsi-ld/v1/entityOperations/upsert", lambda: [streetlight(9)]),
    "temporal": ("POST", "/ngsi-ld/v1/temporal/entities",
                 lambda: {"id": "urn:ngsi-ld:Streetlight:0001", "type": "Streetlight",
                          "status": [{"type": "Property", "value": "ok", "observedAt": "2026-11-01T10:00:00Z"}]}),
    "subscription": ("POST", "/ngsi-ld/v1/subscriptions",
                     lambda: {"type": "Subscription", "entities": [{"type": "Streetlight"}],
                              "notification": {"format": "keyValues", "endpoint": {"uri": "http://localhost:1/n"}}}),
}


def _paths(node, path=()):
    yield path
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield from _paths(child, (*path, key))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(sorted(_TARGETS)), data=st.data())
def test_fuzzed_bodies_never_give_a_server_error(client, target, data):
    method, path, valid = _TARGETS[target]
    if client.get(f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001").status_code == 404:
        create(client, streetlight(1))
    body = valid()
    for _ in range(data.draw(st.integers(1, 3))):
        where = data.draw(st.sampled_from([p for p in _paths(body) if p]))
        parent = body
        for key in where[:-1]:
            parent = parent[key]
        parent[where[-1]] = data.draw(_ODD_JSON)
    response = client.request(method, path, json=body)
    assert response.status_code < 500, (target, body, response.text)


def test_text_holding_the_nul_character_is_refused_on_every_backend(client):
    body = streetlight(1, status={"type": "Property", "value": "ok\u0000"})
    assert "U+0000" in assert_problem(client.post(ENTITIES, json=body), 400, "BadRequestData")["detail"]
    create(client, streetlight(2, status={"type": "Property", "value": "a \\u0000 shown, not a NUL"}))
    assert_problem(client.get(ENTITIES, params={"type": "Streetlight"}, headers={"NGSILD-Tenant": "a\u0000"}),
                   404, "NonexistentTenant")


def test_a_url_holding_the_nul_character_is_bad_request_data_everywhere(client):
    create(client, streetlight(1))
    for path in (f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001%00", f"{ENTITIES}?type=Streetlight&q=status==%22ok%00%22",
                 "/ngsi-ld/v1/jsonldContexts/a%00b", "/admin/v1/devices?tenant=%00", "/admin/v1/quarantine?tenant=%00",
                 "/admin/v1/tenants/_default/audit?entity=%00", "/admin/v1/tenants/_default/keys/%00"):
        assert "U+0000" in assert_problem(client.get(path), 400, "BadRequestData")["detail"], path
    assert_problem(client.delete("/admin/v1/tenants/_default/members/%00"), 400, "BadRequestData")
    page = client.get("/observatoire/projets?q=eau%00")  # a page answers with a page
    assert page.status_code == 400 and "U+0000" in page.text


def test_a_device_name_holding_the_nul_character_is_refused(client):
    device = {"devEui": "70b3d57ed0000001", "entityId": "urn:ngsi-ld:Streetlight:0001", "decoder": "streetlight"}
    assert_problem(client.post("/admin/v1/devices", json={**device, "name": "a\u0000b"}), 400, "BadRequestData")
    assert client.post("/admin/v1/devices", json=device).status_code == 201
    patched = client.patch("/admin/v1/devices/70b3d57ed0000001", json={"name": "a\u0000b"})
    assert_problem(patched, 400, "BadRequestData")


def test_integers_beyond_64_bits_are_stored_as_given_and_queried(client):
    # JSON integers from 2^63 to 2^64 - 1 parse as integers, which the databases cannot store in
    # 64 bits: the document keeps them exact, the value index as the nearest double.
    big = 2**63
    create(client, streetlight(1, counter={"type": "Property", "value": big}))
    found = client.get(f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001").json()
    assert found["counter"]["value"] == big
    for q in (f"counter=={big}", "counter>1e18", f"counter=={big - 2048}..{big + 4096}"):
        response = client.get(ENTITIES, params={"type": "Streetlight", "q": q})
        assert [e["id"] for e in response.json()] == ["urn:ngsi-ld:Streetlight:0001"], q
    patched = client.patch(f"{ENTITIES}/urn:ngsi-ld:Streetlight:0001/attrs", json={"counter": {"value": big + 1}})
    assert patched.status_code == 204, patched.text


def test_counts_beyond_64_bits_are_bad_request_data(client):
    huge = str(10**20)
    for path, params in (
        (ENTITIES, {"type": "Streetlight", "offset": huge}),
        (ENTITIES, {"type": "Streetlight", "limit": huge}),
        ("/ngsi-ld/v1/temporal/entities", {"type": "Streetlight", "offset": huge}),
        ("/ngsi-ld/v1/temporal/entities", {"type": "Streetlight", "lastN": huge}),
        ("/ngsi-ld/v1/subscriptions", {"offset": huge}),
    ):
        assert_problem(client.get(path, params=params), 400, "BadRequestData")


@pytest.mark.parametrize("format_", [{}, [], ["keyValues"], 1, None])
def test_a_notification_format_that_is_not_a_word_is_bad_request_data(client, format_):
    body = {"type": "Subscription", "entities": [{"type": "Streetlight"}],
            "notification": {"format": format_, "endpoint": {"uri": "http://localhost:1111/notify"}}}
    assert_problem(client.post("/ngsi-ld/v1/subscriptions", json=body), 400, "BadRequestData")


@pytest.mark.parametrize("notification", [
    {"pick": [["x"]]}, {"omit": [{}]}, {"join": "flat", "joinLevel": None},
    {"endpoint": {"uri": "http://[::1/x"}}, {"endpoint": {"uri": "mqtt://[v1.x/t"}},
    {"endpoint": {"uri": "http://a..b/x"}}, {"endpoint": {"uri": "http://127.0.0.1:0/x"}},
    {"endpoint": {"uri": "mqtt://broker/a/+/b"}}, {"endpoint": {"uri": "mqtt://broker/a%23"}},
    {"endpoint": {"uri": "mqtt://broker/a%01b"}},
    {"endpoint": {"uri": "http://localhost:1111/n", "receiverInfo": [{"key": "X-A", "value": "a\r\nX-B: b"}]}},
])
def test_notification_members_that_no_delivery_could_use_are_bad_request_data(client, notification):
    body = {"type": "Subscription", "entities": [{"type": "Streetlight"}],
            "notification": {"endpoint": {"uri": "http://localhost:1111/n"}, **notification}}
    assert_problem(client.post("/ngsi-ld/v1/subscriptions", json=body), 400, "BadRequestData")


def test_a_temporal_instance_holding_the_nul_character_is_refused_and_nothing_is_recorded(client):
    temporal = "/ngsi-ld/v1/temporal/entities"
    create(client, streetlight(1))
    for instance in ({"value": "ok\u0000"}, {"value": 1, "note": {"type": "Property", "value": ["\u0000"]}},
                     {"value": {"text": "\u0000"}}):
        body = {"id": "urn:ngsi-ld:Streetlight:0001", "type": "Streetlight",
                "status": [{"type": "Property", "observedAt": "2026-11-01T10:00:00Z", **instance}]}
        assert "U+0000" in assert_problem(client.post(temporal, json=body), 400, "BadRequestData")["detail"]
        attrs = {"status": body["status"]}
        response = client.post(f"{temporal}/urn:ngsi-ld:Streetlight:0001/attrs", json=attrs)
        assert "U+0000" in assert_problem(response, 400, "BadRequestData")["detail"]
    history = client.get(f"{temporal}/urn:ngsi-ld:Streetlight:0001", params={"attrs": "status"}).json()
    assert [instance["value"] for instance in history["status"]] == ["ok"]

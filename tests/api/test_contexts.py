"""JSON-LD @context management (/jsonldContexts) and resolution without network (ETSI 050 – 053)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import orjson

from territoires.cli import main

from .conftest import CORE, assert_problem, create, link, operator_client, streetlight

CONTEXTS = "/ngsi-ld/v1/jsonldContexts"
USER_CONTEXT = {"@context": {"Lampadaire": "https://example.org/eclairage#Lampadaire", "etat": "https://example.org/eclairage#etat"}}


def add(client, body=USER_CONTEXT, **headers) -> str:
    response = client.post(CONTEXTS, json=body, headers=headers)
    assert response.status_code == 201, response.text
    assert response.content == b""
    return response.headers["location"]


def test_050_01_add_a_hosted_context(client):
    location = add(client)
    assert location.startswith(f"{CONTEXTS}/")
    served = client.get(location)
    assert served.status_code == 200 and served.json() == USER_CONTEXT


def test_050_02_a_context_that_is_not_one_is_refused(client):
    for body in ({"foo": "bar"}, [USER_CONTEXT]):
        assert_problem(client.post(CONTEXTS, json=body), 400, "InvalidRequest")
    for body in ({"@context": 12}, {"@context": {"a": 12}}):
        assert_problem(client.post(CONTEXTS, json=body), 400, "BadRequestData")
    assert_problem(client.post(CONTEXTS, content=b"{not json", headers={"Content-Type": "application/json"}), 400, "InvalidRequest")


def test_a_hosted_context_is_used_through_its_url(client):
    url = "http://testserver" + add(client)
    body = {"id": "urn:ngsi-ld:Lampadaire:1", "type": "Lampadaire", "etat": {"type": "Property", "value": "allumé"}}
    create(client, body, **link(url))
    expanded = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Lampadaire:1").json()
    assert expanded["type"] == "https://example.org/eclairage#Lampadaire"
    assert "https://example.org/eclairage#etat" in expanded
    compacted = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Lampadaire:1", headers=link(url))
    assert compacted.json()["type"] == "Lampadaire" and "etat" in compacted.json()
    assert compacted.headers["link"].startswith(f"<{url}>")


def test_051_01_delete_a_hosted_context(client):
    location = add(client)
    assert client.delete(location).status_code == 204
    assert_problem(client.get(location), 404, "ResourceNotFound")


def test_051_02_deleting_an_unknown_context_is_not_found(client):
    assert_problem(client.delete(f"{CONTEXTS}/nothing-here"), 404, "ResourceNotFound")



def test_a_context_url_holding_the_nul_character_is_not_available(client):
    # PostgreSQL text cannot hold U+0000: no stored context has it, and the look-up says so.
    body = b'{"@context": "http://a.example/\\u0000b", "id": "urn:ngsi-ld:T:1", "type": "T"}'
    response = client.post("/ngsi-ld/v1/entities", content=body, headers={"Content-Type": "application/ld+json"})
    assert_problem(response, 504, "LdContextNotAvailable")


def test_051_04_reload_of_an_unknown_or_hosted_context_is_refused(client):
    assert_problem(client.delete(f"{CONTEXTS}/nothing-here", params={"reload": "true"}), 400, "BadRequestData")
    assert_problem(client.delete(add(client), params={"reload": "true"}), 400, "BadRequestData")


def test_051_08_the_core_context_cannot_be_deleted(client):
    assert_problem(client.delete(f"{CONTEXTS}/{quote(CORE, safe='')}"), 400, "BadRequestData")
    assert client.delete(f"{CONTEXTS}/{quote(CORE, safe='')}", params={"reload": "true"}).status_code == 204


def test_052_01_list_without_contexts_is_empty(client):
    assert client.get(CONTEXTS).json() == []


def test_052_03_list_several_hosted_contexts(client):
    first, second = add(client), add(client, {"@context": {"b": "https://example.org/b"}})
    urls = client.get(CONTEXTS).json()
    assert [u.rsplit("/", 1)[1] for u in urls] == [first.rsplit("/", 1)[1], second.rsplit("/", 1)[1]]


def test_052_04_listing_an_unknown_kind_is_refused(client):
    assert_problem(client.get(CONTEXTS, params={"kind": "Other"}), 400, "BadRequestData")
    assert_problem(client.get(CONTEXTS, params={"details": "maybe"}), 400, "BadRequestData")


def test_052_05_list_with_details(client):
    add(client)
    [info] = client.get(CONTEXTS, params={"details": "true"}).json()
    assert info["kind"] == "Hosted" and info["localId"] and info["URL"].endswith(info["localId"]) and info["createdAt"]


def test_052_07_a_pinned_context_used_by_a_request_is_listed_as_cached(client, settings, tmp_path):
    url = "https://example.org/contexts/eclairage.jsonld"
    document = tmp_path / "eclairage.jsonld"
    document.write_bytes(b'{"@context": {"Lampadaire": "https://example.org/eclairage#Lampadaire"}}')
    assert main(["--data-dir", str(settings.data_dir), "contexts", "pin", url, str(document)]) == 0
    create(client, {"id": "urn:ngsi-ld:Lampadaire:2", "type": "Lampadaire"}, **link(url))
    cached = client.get(CONTEXTS, params={"details": "true", "kind": "Cached"}).json()
    assert [c["URL"] for c in cached] == [url] and cached[0]["numberOfHits"] >= 1
    # Deleting the cached copy does not lose the pin: the next request caches it again.
    assert client.delete(f"{CONTEXTS}/{quote(url, safe='')}").status_code == 204
    assert client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Lampadaire:2", headers=link(url)).json()["type"] == "Lampadaire"


def test_053_06_053_08_every_use_of_a_cached_context_counts_a_hit(client, settings, tmp_path):
    url = "https://example.org/contexts/eclairage.jsonld"
    document = tmp_path / "eclairage.jsonld"
    document.write_bytes(b'{"@context": {"Lampadaire": "https://example.org/eclairage#Lampadaire"}}')
    assert main(["--data-dir", str(settings.data_dir), "contexts", "pin", url, str(document)]) == 0
    details = f"{CONTEXTS}/{quote(url, safe='')}"
    for n in (1, 2):  # compiled once, used twice: each use counts
        create(client, {"id": f"urn:ngsi-ld:Lampadaire:{n}", "type": "Lampadaire"}, **link(url))
    first = client.get(details, params={"details": "true"}).json()
    assert first["numberOfHits"] == 2 and first["lastUsage"] >= first["createdAt"]
    # Serving it was a use too, counted once answered; then a query uses it.
    assert client.get("/ngsi-ld/v1/entities", params={"type": "Lampadaire"}, headers=link(url)).status_code == 200
    second = client.get(details, params={"details": "true"}).json()
    assert second["numberOfHits"] == 4 and second["lastUsage"] > first["lastUsage"]
    assert client.get(CONTEXTS, params={"details": "true", "kind": "Cached"}).json()[0]["numberOfHits"] == 5
    # Deleted, its uses not yet written are forgotten: cached again, it starts afresh.
    client.get(details)  # a use, counted after the answer
    assert client.delete(details).status_code == 204
    create(client, {"id": "urn:ngsi-ld:Lampadaire:3", "type": "Lampadaire"}, **link(url))
    assert client.get(details, params={"details": "true"}).json()["numberOfHits"] == 1


def test_053_08_checking_a_subscription_s_context_is_no_use_of_it(client, settings, tmp_path):
    url = "https://example.org/contexts/eclairage.jsonld"
    document = tmp_path / "eclairage.jsonld"
    document.write_bytes(b'{"@context": {"Lampadaire": "https://example.org/eclairage#Lampadaire"}}')
    assert main(["--data-dir", str(settings.data_dir), "contexts", "pin", url, str(document)]) == 0
    subscription = {"id": "urn:ngsi-ld:Subscription:1", "type": "Subscription", "entities": [{"type": "Lampadaire"}],
                    "jsonldContext": url, "notification": {"endpoint": {"uri": "http://localhost:1111/notify"}}}
    assert client.post("/ngsi-ld/v1/subscriptions", json=subscription).status_code == 201
    details = f"{CONTEXTS}/{quote(url, safe='')}"
    assert client.get(CONTEXTS, params={"details": "true", "kind": "Cached"}).json()[0]["numberOfHits"] == 0
    create(client, {"id": "urn:ngsi-ld:Lampadaire:1", "type": "Lampadaire"}, **link(url))
    assert client.get(details, params={"details": "true"}).json()["numberOfHits"] == 1


def test_053_01_serve_a_context_with_and_without_details(client):
    location = add(client)
    assert client.get(location).json() == USER_CONTEXT
    details = client.get(location, params={"details": "true"}).json()
    assert details["kind"] == "Hosted" and details["localId"] == location.rsplit("/", 1)[1]


def test_053_03_serving_an_unknown_context_is_not_found(client):
    assert_problem(client.get(f"{CONTEXTS}/unknown", params={"details": "true"}), 404, "ResourceNotFound")


def test_an_unknown_remote_context_is_not_available_on_an_air_gapped_platform(client):
    unknown = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-non-existing.jsonld"
    response = client.post("/ngsi-ld/v1/entities", json=streetlight(1), headers=link(unknown))
    assert_problem(response, 504, "LdContextNotAvailable")
    assert client.get("/ngsi-ld/v1/entities", params={"type": "Streetlight"}).json() == []


@contextmanager
def serving(documents: dict[str, bytes]) -> Iterator[str]:
    """A local web server answering each path of ``documents`` with its bytes (200); the base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = documents.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/ld+json")
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_556_01_a_remote_context_that_is_not_a_context_is_bad_request_data(settings):
    documents = {"/no-member.jsonld": b'{"note": "no context member here"}', "/not-json.jsonld": b"<html></html>",
                 "/good.jsonld": orjson.dumps(USER_CONTEXT)}
    with serving(documents) as base:
        allowed = replace(settings, context_allow_list=tuple(base + path for path in (*documents, "/gone.jsonld")))
        with operator_client(allowed) as client:
            for path in ("/no-member.jsonld", "/not-json.jsonld"):
                response = client.post("/ngsi-ld/v1/entities", json=streetlight(1), headers=link(base + path))
                assert_problem(response, 400, "BadRequestData")
            # Retrieved and valid, it is used; not retrievable, it is not available (clause 5.5.6).
            body = {"id": "urn:ngsi-ld:Lampadaire:1", "type": "Lampadaire", "etat": {"type": "Property", "value": "on"}}
            create(client, body, **link(base + "/good.jsonld"))
            response = client.post("/ngsi-ld/v1/entities", json=streetlight(2), headers=link(base + "/gone.jsonld"))
            assert_problem(response, 504, "LdContextNotAvailable")
            assert [e["id"] for e in client.get("/ngsi-ld/v1/entities", params={"type": "Streetlight"}).json()] == []


def test_557_01_01_a_scoped_context_in_a_user_context_is_refused_and_nothing_is_created(client):
    entity = {"id": "urn:ngsi-ld:Vehicle:557", "type": "Vehicle", "@context": [
        {"Vehicle": {"@id": "https://example.org/Vehicle", "@context": {"speed": "https://example.org/hidden-speed"}}}]}
    response = client.post("/ngsi-ld/v1/entities", json=entity, headers={"Content-Type": "application/ld+json"})
    assert "scoped @context" in assert_problem(response, 400, "BadRequestData")["detail"]
    assert_problem(client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Vehicle:557"), 404, "ResourceNotFound")

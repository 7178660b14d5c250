"""/admin/v1/devices, /admin/v1/quarantine and /admin/v1/ingestion as an operator uses them."""

from __future__ import annotations

from territoires.ingest.decoders import streetlight, water_meter
from territoires.store.port import IngestionCounters, QuarantinedUplink
from tests.api.conftest import assert_problem

BASE = "/admin/v1"
LAMP = {"devEui": "70b3d57ed0000001", "entityId": "urn:ngsi-ld:Streetlight:0001", "decoder": "streetlight",
        "name": "lampe rue de Brest"}


def test_devices_are_registered_read_changed_listed_and_deleted(client):
    assert client.post(f"{BASE}/tenants", json={"name": "rennes"}).status_code == 201
    created = client.post(f"{BASE}/devices", json={**LAMP, "tenant": "rennes"})
    assert created.status_code == 201, created.text
    assert created.headers["location"] == f"{BASE}/devices/70B3D57ED0000001"
    device = created.json()
    assert device["devEui"] == "70B3D57ED0000001" and device["entityType"] == streetlight.ENTITY_TYPE
    assert device["tenant"] == "rennes" and device["createdAt"] == device["modifiedAt"]
    assert client.get(f"{BASE}/devices/70b3d57ed0000001").json() == device
    changed = client.patch(f"{BASE}/devices/70B3D57ED0000001",
                           json={"decoder": "water-meter", "entityId": "urn:ngsi-ld:WaterConsumptionObserved:1"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["entityType"] == water_meter.ENTITY_TYPE
    assert changed.json()["createdAt"] == device["createdAt"] and changed.json()["modifiedAt"] > device["modifiedAt"]
    for n in range(2, 5):
        assert client.post(f"{BASE}/devices", json={**LAMP, "devEui": f"70B3D57ED000000{n}"}).status_code == 201
    page = client.get(f"{BASE}/devices", params={"limit": 2, "offset": 1})
    assert page.headers["total-count"] == "4"
    assert [d["devEui"] for d in page.json()] == ["70B3D57ED0000002", "70B3D57ED0000003"]
    only = client.get(f"{BASE}/devices", params={"tenant": "rennes"})
    assert [d["devEui"] for d in only.json()] == ["70B3D57ED0000001"] and only.headers["total-count"] == "1"
    assert client.delete(f"{BASE}/devices/70B3D57ED0000001").status_code == 204
    assert_problem(client.get(f"{BASE}/devices/70B3D57ED0000001"), 404, "ResourceNotFound")
    assert_problem(client.delete(f"{BASE}/devices/70B3D57ED0000001"), 404, "ResourceNotFound")


def test_bad_devices_are_refused_with_a_reason(client):
    assert client.post(f"{BASE}/devices", json=LAMP).status_code == 201
    assert_problem(client.post(f"{BASE}/devices", json=LAMP), 409, "AlreadyExists")
    cases = [
        ({**LAMP, "devEui": "70B3D57ED00000"}, 400, "BadRequestData", "16 hexadecimal"),
        ({**LAMP, "devEui": "70B3D57ED0000009", "decoder": "toaster"}, 400, "BadRequestData", "streetlight"),
        ({**LAMP, "devEui": "70B3D57ED0000009", "decoder": ["streetlight"]}, 400, "BadRequestData", "streetlight"),
        ({**LAMP, "devEui": "70B3D57ED0000009", "entityId": "not a uri"}, 400, "BadRequestData", "URI"),
        ({**LAMP, "devEui": "70B3D57ED0000009", "tenant": "nowhere"}, 404, "NonexistentTenant", "nowhere"),
        ({**LAMP, "devEui": "70B3D57ED0000009", "entityType": "Streetlight"}, 400, "BadRequestData", "IRI"),
        ({**LAMP, "devEui": "70B3D57ED0000009", "colour": "red"}, 400, "BadRequestData", "colour"),
        ({"devEui": "70B3D57ED0000009", "decoder": "streetlight"}, 400, "BadRequestData", "entityId"),
        ([LAMP], 400, "BadRequestData", "JSON object"),
    ]
    for body, status, kind, hint in cases:
        problem = assert_problem(client.post(f"{BASE}/devices", json=body), status, kind)
        assert hint in problem["detail"], problem
    assert_problem(client.patch(f"{BASE}/devices/70B3D57ED0000001", json={"devEui": "70B3D57ED0000002"}),
                   400, "BadRequestData")
    assert_problem(client.patch(f"{BASE}/devices/70B3D57ED0000001", json={"decoder": {}}), 400, "BadRequestData")
    assert_problem(client.get(f"{BASE}/devices/xyz"), 400, "BadRequestData")
    assert_problem(client.get(f"{BASE}/devices", params={"limit": 5000}), 403, "TooManyResults")
    assert_problem(client.get(f"{BASE}/devices", params={"offset": -1}), 400, "BadRequestData")


def test_quarantine_lists_reasons_and_bodies_with_filters_and_pages(client):
    store = client.app.state.broker.store
    at = "2026-11-28T10:00:00.000000Z"
    store.quarantine([
        QuarantinedUplink(at, "application/1/device/x/event/up", "malformed", "not JSON", b"\xff garbage"),
        QuarantinedUplink(at, "v3/eau/devices/c/up", "unknown-device", "the device 70B3D57ED00000AA is not registered",
                          b'{"end_device_ids": {}}', dev_eui="70B3D57ED00000AA"),
        QuarantinedUplink(at, "v3/eau/devices/c/up", "undecodable", "water-meter: 3 bytes", b"{}",
                          dev_eui="70B3D57ED00000BB", tenant="rennes"),
    ])
    everything = client.get(f"{BASE}/quarantine")
    assert everything.status_code == 200 and everything.headers["total-count"] == "3"
    newest, unknown, malformed = everything.json()
    assert newest["kind"] == "undecodable" and newest["tenant"] == "rennes" and newest["body"] == "{}"
    assert malformed["bodyBase64"] == "/yBnYXJiYWdl" and malformed["reason"] == "not JSON"
    assert unknown["receivedAt"] == at and unknown["topic"] == "v3/eau/devices/c/up"
    one = client.get(f"{BASE}/quarantine", params={"devEui": "70b3d57ed00000aa"})
    assert [u["kind"] for u in one.json()] == ["unknown-device"] and one.headers["total-count"] == "1"
    assert [u["kind"] for u in client.get(f"{BASE}/quarantine", params={"kind": "malformed"}).json()] == ["malformed"]
    assert len(client.get(f"{BASE}/quarantine", params={"tenant": "rennes"}).json()) == 1
    assert [u["kind"] for u in client.get(f"{BASE}/quarantine", params={"offset": 1, "limit": 1}).json()] == [
        "unknown-device"]
    assert_problem(client.get(f"{BASE}/quarantine", params={"kind": "odd"}), 400, "BadRequestData")


def test_ingestion_shows_each_bridge_and_the_quarantine_size(client):
    store = client.app.state.broker.store
    assert client.get(f"{BASE}/ingestion").json() == {"bridges": [], "quarantineSize": 0}
    store.put_ingestion_counters(IngestionCounters("territoires-bridge", "2026-11-28T10:00:00Z",
                                                   "2026-11-28T10:05:00Z", 10, 7, 2, 1))
    store.quarantine([QuarantinedUplink("2026-11-28T10:01:00Z", "t", "malformed", "not JSON", b"x")])
    assert client.get(f"{BASE}/ingestion").json() == {
        "bridges": [{"bridge": "territoires-bridge", "startedAt": "2026-11-28T10:00:00Z",
                     "updatedAt": "2026-11-28T10:05:00Z", "received": 10, "stored": 7, "duplicates": 2,
                     "quarantined": 1}],
        "quarantineSize": 1,
    }

"""Notifications end to end: subscriptions and entity writes through the real application, the
delivery worker it starts, and real receivers (HTTP servers on loopback, Mosquitto), on each
backend. Named after the ETSI test purposes they cover (046_xx notification behaviour, 058_xx
MQTT notifications) where one fits."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.testclient import TestClient

from territoires.app import create_app
from territoires.config import Settings
from tests import postgres
from tests.descriptors import many_open_files
from tests.receivers import HttpReceiver, http_receiver, mqtt_listener, silent_mqtt_broker
from tests.servers import platform

SUBSCRIPTIONS = "/ngsi-ld/v1/subscriptions"
ENTITIES = "/ngsi-ld/v1/entities"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"


def fast(settings: Settings) -> Settings:
    """Delivery settings that make a test quick: short polls, backoff and sweeps."""
    return Settings(**{**vars(settings), "notification_poll_interval": 0.05, "notification_sweep_interval": 0.3,
                       "notification_backoff": 0.05, "notification_backoff_cap": 0.2,
                       "notification_max_attempts": 3, "notification_timeout": 5.0})


@pytest.fixture(params=postgres.BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    return fast(Settings(data_dir=tmp_path / "var", database_url=url, auth=False))


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def receiver() -> Iterator[HttpReceiver]:
    with http_receiver() as running:
        yield running


def lamp(n: int, **attrs: Any) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Streetlight:{n}", "type": "Streetlight",
            "powerState": {"type": "Property", "value": "on"},
            "dimmingLevel": {"type": "Property", "value": 50, "unitCode": "P1"}, **attrs}


def subscribe(client: TestClient, uri: str, *, headers: dict[str, str] | None = None, **members: Any) -> str:
    notification = {"endpoint": {"uri": uri}, **members.pop("notification", {})}
    body = {"type": "Subscription", "entities": [{"type": "Streetlight"}], "notification": notification, **members}
    response = client.post(SUBSCRIPTIONS, json=body, headers=headers or {})
    assert response.status_code == 201, response.text
    return response.headers["location"].rsplit("/", 1)[1]


def create(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post(ENTITIES, json=body)
    assert response.status_code == 201, response.text


def patch(client: TestClient, n: int, attrs: dict[str, Any]) -> None:
    response = client.patch(f"{ENTITIES}/urn:ngsi-ld:Streetlight:{n}/attrs", json=attrs)
    assert response.status_code == 204, response.text


def power(value: str) -> dict[str, Any]:
    return {"powerState": {"type": "Property", "value": value}}


def test_046_04_a_change_is_notified_with_the_entity_as_json_and_its_context_link(client, receiver) -> None:
    create(client, lamp(1))
    sub = subscribe(client, receiver.url, watchedAttributes=["powerState"])
    patch(client, 1, {"dimmingLevel": {"type": "Property", "value": 10}})  # not watched: no notification
    patch(client, 1, power("off"))
    [got] = receiver.wait_for(1)
    body = got.body
    assert body["type"] == "Notification" and body["subscriptionId"] == sub
    assert body["id"].startswith("urn:ngsi-ld:Notification:") and body["notifiedAt"].endswith("Z")
    assert body["triggerReason"] == "attributeUpdated"
    [entity] = body["data"]
    assert entity["id"] == "urn:ngsi-ld:Streetlight:1" and entity["powerState"] == {"type": "Property", "value": "off"}
    assert entity["dimmingLevel"]["value"] == 10
    assert got.headers["content-type"] == "application/json"  # 046_10: JSON by default
    assert got.headers["link"].startswith(f"<{CORE}>") and "json-ld#context" in got.headers["link"]
    assert "@context" not in body


def test_046_09_receiver_info_travels_as_headers_and_the_tenant_as_ngsild_tenant(client, receiver) -> None:
    assert client.post("/admin/v1/tenants", json={"name": "rennes"}).status_code == 201
    endpoint_info = [{"key": "X-Auth-Token", "value": "s3cret"}]
    headers = {"NGSILD-Tenant": "rennes"}
    response = client.post(SUBSCRIPTIONS, headers=headers, json={
        "type": "Subscription", "entities": [{"type": "Streetlight"}],
        "notification": {"endpoint": {"uri": receiver.url, "receiverInfo": endpoint_info}}})
    assert response.status_code == 201, response.text
    assert client.post(ENTITIES, json=lamp(1), headers=headers).status_code == 201
    [got] = receiver.wait_for(1)
    assert got.headers["x-auth-token"] == "s3cret" and got.headers["ngsild-tenant"] == "rennes"
    assert got.body["triggerReason"] == "attributeCreated"


def test_046_14_json_ld_endpoints_get_the_context_in_the_body(client, receiver) -> None:
    subscribe(client, receiver.url, notification={"endpoint": {"uri": receiver.url, "accept": "application/ld+json"}})
    create(client, lamp(1))
    [got] = receiver.wait_for(1)
    assert got.headers["content-type"] == "application/ld+json" and "link" not in got.headers
    assert got.body["@context"] == CORE
    assert [entity["@context"] for entity in got.body["data"]] == [CORE]  # each entity a JSON-LD document


@pytest.mark.parametrize(("form", "expected"), [
    ("keyValues", "off"),
    ("concise", "off"),
    ("normalized", {"type": "Property", "value": "off"}),
])
def test_046_notification_formats(client, receiver, form, expected) -> None:
    create(client, lamp(1))
    subscribe(client, receiver.url, notification={"format": form, "attributes": ["powerState"]})
    patch(client, 1, power("off"))
    [got] = receiver.wait_for(1)
    [entity] = got.body["data"]
    assert entity == {"id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight", "powerState": expected}


def test_046_17_system_attributes_on_request(client, receiver) -> None:
    subscribe(client, receiver.url, notification={"sysAttrs": True})
    create(client, lamp(1))
    [entity] = receiver.wait_for(1)[0].body["data"]
    assert entity["createdAt"] and entity["modifiedAt"] and entity["powerState"]["createdAt"]


CABINET = {"id": "urn:ngsi-ld:StreetlightControlCabinet:c1", "type": "StreetlightControlCabinet",
           "name": {"type": "Property", "value": "Armoire Place de la Mairie"},
           "refSubstation": {"type": "Relationship", "object": "urn:ngsi-ld:Substation:s1"}}
SUBSTATION = {"id": "urn:ngsi-ld:Substation:s1", "type": "Substation", "name": {"type": "Property", "value": "Poste 1"}}


def linked_lamp() -> dict[str, Any]:
    return lamp(1, refControlCabinet={"type": "Relationship", "object": CABINET["id"]})


def test_046_23_046_26_flat_join_notifies_the_linked_entities_after_the_changed_one(client, receiver) -> None:
    for body in (SUBSTATION, CABINET, linked_lamp()):
        create(client, body)
    subscribe(client, receiver.url, notification={"join": "flat", "joinLevel": 2, "attributes": ["refControlCabinet"]})
    patch(client, 1, power("off"))
    [got] = receiver.wait_for(1)
    assert got.body["data"] == [
        {"id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight",
         "refControlCabinet": {"type": "Relationship", "object": CABINET["id"]}},  # attributes: the changed entity only
        CABINET,
        SUBSTATION,  # joinLevel 2: the cabinet's own link is followed too
    ]


def test_046_27_046_29_inline_join_embeds_the_linked_entity_in_its_relationship(client, receiver) -> None:
    create(client, CABINET)
    create(client, linked_lamp())
    subscribe(client, receiver.url, notification={"join": "inline", "format": "keyValues"})
    patch(client, 1, power("off"))
    patch(client, 1, {"refControlCabinet": {"type": "Relationship", "object": "urn:ngsi-ld:StreetlightControlCabinet:x"}})
    first, second = receiver.wait_for(2)
    assert first.body["data"] == [{
        "id": "urn:ngsi-ld:Streetlight:1", "type": "Streetlight", "powerState": "off", "dimmingLevel": 50,
        "refControlCabinet": {"id": CABINET["id"], "type": "StreetlightControlCabinet",
                              "name": "Armoire Place de la Mairie", "refSubstation": "urn:ngsi-ld:Substation:s1"},
    }]
    # A link to an entity that is not stored stays a link.
    assert second.body["data"][0]["refControlCabinet"] == "urn:ngsi-ld:StreetlightControlCabinet:x"


def test_046_22_07_046_22_08_deleted_instances_and_an_attribute_deleted_whole(client, receiver) -> None:
    names = [{"type": "Property", "value": "Eiffel Tower"},
             {"type": "Property", "value": "Tour Eiffel", "datasetId": "urn:ngsi-ld:Dataset:fr"},
             {"type": "Property", "value": "Eiffelturm", "datasetId": "urn:ngsi-ld:Dataset:de"}]
    create(client, lamp(1, name=names))
    by_format = {subscribe(client, receiver.url, watchedAttributes=["name"], notificationTrigger=["attributeDeleted"],
                           notification={"format": form, "attributes": ["name"]}): form
                 for form in ("keyValues", "normalized")}
    name = f"{ENTITIES}/urn:ngsi-ld:Streetlight:1/attrs/name"
    assert client.delete(name, params={"datasetId": "urn:ngsi-ld:Dataset:fr"}).status_code == 204
    got = {by_format[r.body["subscriptionId"]]: r.body["data"][0]["name"] for r in receiver.wait_for(2)}
    assert got["keyValues"] == {"dataset": {"@none": "Eiffel Tower", "urn:ngsi-ld:Dataset:de": "Eiffelturm",
                                            "urn:ngsi-ld:Dataset:fr": "urn:ngsi-ld:null"}}
    assert got["normalized"][-1] == {"type": "Property", "value": "urn:ngsi-ld:null", "datasetId": "urn:ngsi-ld:Dataset:fr"}
    assert client.delete(name, params={"deleteAll": "true"}).status_code == 204
    got = {by_format[r.body["subscriptionId"]]: r.body["data"][0]["name"] for r in receiver.wait_for(4)[2:]}
    assert got == {"keyValues": "urn:ngsi-ld:null", "normalized": {"type": "Property", "value": "urn:ngsi-ld:null"}}


def test_046_31_046_34_show_changes_gives_previous_values_and_deleted_attributes(client, receiver) -> None:
    create(client, lamp(1))
    subscribe(client, receiver.url, notificationTrigger=["attributeUpdated", "attributeDeleted"],
              notification={"showChanges": True})
    patch(client, 1, power("off"))
    assert client.delete(f"{ENTITIES}/urn:ngsi-ld:Streetlight:1/attrs/dimmingLevel").status_code == 204
    updated, deleted = (got.body for got in receiver.wait_for(2))
    assert updated["triggerReason"] == "attributeUpdated"
    assert updated["data"][0]["powerState"] == {"type": "Property", "value": "off", "previousValue": "on"}
    assert "previousValue" not in updated["data"][0]["dimmingLevel"]
    assert deleted["triggerReason"] == "attributeDeleted"
    assert deleted["data"][0]["dimmingLevel"] == {"type": "Property", "value": "urn:ngsi-ld:null", "previousValue": 50}


def test_046_21_046_37_an_entity_deleted_is_notified_by_its_identity(client, receiver) -> None:
    create(client, lamp(1))
    create(client, lamp(2))
    subscribe(client, receiver.url, notificationTrigger=["entityDeleted"])
    subscribe(client, receiver.url, notificationTrigger=["entityDeleted"], notification={"showChanges": True})
    assert client.delete(f"{ENTITIES}/urn:ngsi-ld:Streetlight:1").status_code == 204
    plain, changes = sorted((got.body["data"][0] for got in receiver.wait_for(2)), key=len)
    assert set(plain) == {"id", "type", "deletedAt"} and plain["id"] == "urn:ngsi-ld:Streetlight:1"
    assert changes["powerState"] == {"type": "Property", "value": "urn:ngsi-ld:null", "previousValue": "on"}


def test_046_15_throttling_drops_changes_within_the_period(client, receiver) -> None:
    create(client, lamp(1))
    subscribe(client, receiver.url, throttling=3600)
    patch(client, 1, power("off"))
    patch(client, 1, power("on"))
    receiver.wait_for(1)
    patch(client, 1, {"dimmingLevel": {"type": "Property", "value": 1}})
    sub = subscribe(client, receiver.url, entities=[{"type": "Streetlight", "id": "urn:ngsi-ld:Streetlight:1"}])
    patch(client, 1, power("off"))  # the second subscription's notification comes after any of the first
    received = receiver.wait_for(2)
    assert received[1].body["subscriptionId"] == sub and len(receiver.received) == 2


def test_046_05_q_is_evaluated_on_the_new_state(client, receiver) -> None:
    create(client, lamp(1))
    subscribe(client, receiver.url, q='powerState=="off"')
    patch(client, 1, {"dimmingLevel": {"type": "Property", "value": 5}})
    patch(client, 1, power("off"))
    [got] = receiver.wait_for(1)
    assert got.body["data"][0]["dimmingLevel"]["value"] == 5 and got.body["data"][0]["powerState"]["value"] == "off"


def test_046_13_a_failing_endpoint_is_retried_then_given_up_and_its_status_kept(client, receiver) -> None:
    receiver.status = 500
    sub = subscribe(client, receiver.url)
    create(client, lamp(1))
    attempts = receiver.wait_for(3)  # notification_max_attempts
    assert len({got.body["id"] for got in attempts}) == 1  # the same notification, the same id
    status = wait_for_status(client, sub, lambda n: n.get("timesFailed") == 3)
    assert status["status"] == "failed" and status["timesSent"] == 3 and status["lastFailure"]
    assert "lastSuccess" not in status
    receiver.status = 204
    create(client, lamp(2))  # the dead letter no longer holds the subscription's queue
    later = receiver.wait_for(4)[3]
    assert later.body["data"][0]["id"] == "urn:ngsi-ld:Streetlight:2"
    status = wait_for_status(client, sub, lambda n: n.get("status") == "ok")
    assert status["timesSent"] == 4 and status["lastSuccess"] >= status["lastFailure"]


def test_a_deleted_subscription_takes_its_delivery_status_with_it(client, receiver) -> None:
    sub = subscribe(client, receiver.url, id="urn:ngsi-ld:Subscription:again")
    create(client, lamp(1))
    wait_for_status(client, sub, lambda n: n.get("timesSent") == 1)
    assert client.delete(f"{SUBSCRIPTIONS}/{sub}").status_code == 204
    subscribe(client, receiver.url, id=sub, entities=[{"type": "Vehicle"}])
    found = client.get(f"{SUBSCRIPTIONS}/{sub}").json()
    assert "timesSent" not in found["notification"] and "lastSuccess" not in found["notification"]


def test_notifications_of_a_subscription_arrive_in_order_after_a_failure(client, receiver) -> None:
    receiver.status = 503
    subscribe(client, receiver.url)
    for n in range(1, 4):
        create(client, lamp(n))
    first = receiver.wait_for(1)[0].body
    receiver.status = 204
    delivered = receiver.wait_for(3, accepted=True)
    assert [got.body["data"][0]["id"] for got in delivered] == [f"urn:ngsi-ld:Streetlight:{n}" for n in range(1, 4)]
    assert delivered[0].body["id"] == first["id"]
    refused = [got.body for got in receiver.received if got.status == 503]
    assert {body["id"] for body in refused} == {first["id"]}  # none of the others was tried before it went


def test_046_02_periodic_notifications(client, receiver) -> None:
    create(client, lamp(1))
    sub = subscribe(client, receiver.url, timeInterval=1)
    first, second = (got.body for got in receiver.wait_for(2))
    assert first["subscriptionId"] == second["subscriptionId"] == sub and first["id"] != second["id"]
    assert second["data"][0]["id"] == "urn:ngsi-ld:Streetlight:1" and "triggerReason" not in second


def test_a_paused_subscription_notifies_nothing(client, receiver) -> None:
    paused = subscribe(client, receiver.url, isActive=False)
    active = subscribe(client, receiver.url)
    create(client, lamp(1))
    [got] = receiver.wait_for(1)
    assert got.body["subscriptionId"] == active != paused


def test_058_04_058_03_mqtt_notifications_carry_metadata_and_body(client, mosquitto) -> None:
    topic = "territoires/notifications"
    with mqtt_listener(mosquitto.host, mosquitto.port, topic) as listener:
        for version in ("mqtt3.1.1", "mqtt5.0"):
            subscribe(client, f"mqtt://{mosquitto.host}:{mosquitto.port}/{topic}", notification={"endpoint": {
                "uri": f"mqtt://{mosquitto.host}:{mosquitto.port}/{topic}",
                "receiverInfo": [{"key": "test-receiver-key", "value": "test-receiver-info"}],
                "notifierInfo": [{"key": "MQTT-Version", "value": version}, {"key": "MQTT-QoS", "value": "1"}]}})
        create(client, lamp(1))
        messages = listener.wait_for(2)
    for message in messages:
        assert message.topic == topic
        metadata, body = message.payload["metadata"], message.payload["body"]
        assert metadata["Content-Type"] == "application/json" and metadata["Link"].startswith(f"<{CORE}>")
        assert metadata["test-receiver-key"] == "test-receiver-info"
        assert body["type"] == "Notification" and body["data"][0]["id"] == "urn:ngsi-ld:Streetlight:1"
    properties = sorted(message.user_properties for message in messages)
    assert properties[0] == [] and ("test-receiver-key", "test-receiver-info") in properties[1]


def test_mqtt_notifications_leave_a_process_with_many_files_open(client, mosquitto) -> None:
    """A server with hundreds of tenant files open connects to an MQTT broker with a descriptor
    above 1024, which ``select()`` cannot watch."""
    topic = "territoires/notifications"
    with mqtt_listener(mosquitto.host, mosquitto.port, topic) as listener, many_open_files():
        subscribe(client, f"mqtt://{mosquitto.host}:{mosquitto.port}/{topic}", notification={"endpoint": {
            "uri": f"mqtt://{mosquitto.host}:{mosquitto.port}/{topic}",
            "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}]}})
        create(client, lamp(1))
        [message] = listener.wait_for(1)
    assert message.payload["body"]["data"][0]["id"] == "urn:ngsi-ld:Streetlight:1"


def wait_for_status(client: TestClient, sub: str, done: Any, timeout: float = 20.0) -> dict[str, Any]:
    """The subscription's notification member once ``done`` holds for it."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"{SUBSCRIPTIONS}/{sub}")
        assert response.status_code == 200, response.text
        notification = response.json()["notification"]
        if done(notification):
            return notification
        assert time.monotonic() < deadline, f"status never reached: {notification}"
        time.sleep(0.05)


# ---- reliability -------------------------------------------------------------------------------


def test_a_hanging_or_failing_endpoint_does_not_hold_back_50_healthy_ones(settings: Settings) -> None:
    """Ten subscriptions of an endpoint that never answers (more than the worker's slots per
    endpoint) and five of one that answers 500 share the worker with fifty healthy endpoints:
    the healthy ones get everything while the hanging one still holds every request it got."""
    settings = Settings(**{**vars(settings), "notification_timeout": 600.0, "notification_max_attempts": 100})
    with (TestClient(create_app(settings), raise_server_exceptions=False) as client,
          http_receiver() as hanging, http_receiver(500) as failing):
        hanging.hold()
        healthy = [HttpReceiver() for _ in range(50)]
        for receiver in healthy:
            receiver.start()
        try:
            for _ in range(10):
                subscribe(client, hanging.url)
            for _ in range(5):
                subscribe(client, failing.url)
            for receiver in healthy:
                subscribe(client, receiver.url)
            create(client, lamp(1))
            patch(client, 1, power("off"))
            patch(client, 1, power("on"))
            for receiver in healthy:
                states = [got.body["data"][0]["powerState"]["value"] for got in receiver.wait_for(3)]
                assert states == ["on", "off", "on"]
            assert hanging.received == []  # still hanging: nobody waited for it
            assert len(failing.wait_for(5)) >= 5  # and the failing one is being retried meanwhile
            hanging.release()
            got = hanging.wait_for(30, timeout=60)
            by_subscription: dict[str, list[str]] = {}
            for received in got:
                by_subscription.setdefault(received.body["subscriptionId"], []).append(
                    received.body["data"][0]["powerState"]["value"])
            assert len(by_subscription) == 10
            assert all(states == ["on", "off", "on"] for states in by_subscription.values())
        finally:
            for receiver in healthy:
                receiver.stop()


def test_endpoints_that_hang_can_fill_the_workers_limit_but_never_starve_one_that_answers(settings: Settings) -> None:
    """Three hanging endpoints, two subscriptions each, hold more notifications than the worker
    may have in flight (4): an endpoint with nothing in flight is still served."""
    settings = Settings(**{**vars(settings), "notification_timeout": 600.0, "notification_max_attempts": 100,
                           "notification_concurrency": 4, "notification_endpoint_concurrency": 2})
    hanging = [HttpReceiver() for _ in range(3)]
    with TestClient(create_app(settings), raise_server_exceptions=False) as client, http_receiver() as healthy:
        for receiver in hanging:
            receiver.start()
            receiver.hold()
        try:
            for receiver in hanging:
                subscribe(client, receiver.url)
                subscribe(client, receiver.url)
            create(client, lamp(1))
            deadline = time.monotonic() + 20
            while sum(receiver.arrived for receiver in hanging) < 4:  # the worker's limit is reached
                assert time.monotonic() < deadline, "the hanging endpoints were not sent to"
                time.sleep(0.05)
            subscribe(client, healthy.url)
            patch(client, 1, power("off"))
            [got] = healthy.wait_for(1)
            assert got.body["data"][0]["powerState"]["value"] == "off"
        finally:
            for receiver in hanging:
                receiver.stop()


def test_an_endpoint_timeout_longer_than_the_lease_ends_before_the_lease_does(settings: Settings) -> None:
    """An endpoint asks for 60 s, the worker's lease is 2 s: each attempt is given up in time and
    recorded as a failure, so that the notification is never sent again while an attempt is
    still open (once the lease ran out, another round would claim it again)."""
    settings = Settings(**{**vars(settings), "notification_lease": 2.0, "notification_max_attempts": 100})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client, http_receiver() as hanging:
        hanging.hold()
        sub = subscribe(client, hanging.url, notification={"endpoint": {"uri": hanging.url, "timeout": 60000}})
        create(client, lamp(1))
        failed = wait_for_status(client, sub, lambda status: status.get("timesFailed", 0) >= 2, timeout=15)
        assert hanging.arrived <= failed["timesFailed"] + 1  # one attempt open at a time


def test_an_mqtt_broker_that_never_acknowledges_does_not_slow_other_deliveries(settings: Settings) -> None:
    """Ten subscriptions publish with QoS 1 to a broker that never acknowledges (they wait 30 s
    each): entity writes and an HTTP subscriber are served meanwhile as if it were not there."""
    settings = Settings(**{**vars(settings), "notification_timeout": 30.0})
    with (TestClient(create_app(settings), raise_server_exceptions=False) as client,
          silent_mqtt_broker() as silent, http_receiver() as healthy):
        for n in range(10):
            uri = f"mqtt://127.0.0.1:{silent.port}/notifications/{n}"
            subscribe(client, uri, notification={"endpoint": {
                "uri": uri, "notifierInfo": [{"key": "MQTT-QoS", "value": "1"}]}})
        create(client, lamp(1))
        silent.wait_for_publications(1)
        subscribe(client, healthy.url)
        for state in ("off", "on", "off"):
            patch(client, 1, power(state))
        states = [got.body["data"][0]["powerState"]["value"] for got in healthy.wait_for(3, timeout=10)]
        assert states == ["off", "on", "off"]


@pytest.mark.parametrize("backend", postgres.BACKENDS)
def test_after_a_sigkill_every_notification_due_is_delivered_at_least_once(backend: str, tmp_path: Path) -> None:
    """Entity updates keep coming while notifications go to a slow endpoint; the whole server is
    killed with SIGKILL, then started again: every update it acknowledged is notified to each
    subscription, duplicates carrying the same notification id, in the order of the updates."""
    env = {"TERRITOIRES_NOTIFICATION_LEASE": "2", "TERRITOIRES_NOTIFICATION_POLL_INTERVAL": "0.05",
           "TERRITOIRES_NOTIFICATION_SWEEP_INTERVAL": "0.5"}
    if backend == "postgres":
        env["TERRITOIRES_DATABASE_URL"] = postgres.fresh_database()
    acknowledged: list[int] = []
    with http_receiver() as receiver:
        receiver.delay = 0.01  # deliveries are under way when the server dies
        with platform(tmp_path / "var", env=env) as (base, process), httpx2.Client(base_url=base) as http:
            for _ in range(3):
                assert http.post(SUBSCRIPTIONS, json={"type": "Subscription", "entities": [{"type": "Streetlight"}],
                                 "notification": {"endpoint": {"uri": receiver.url}}}).status_code == 201
            created = lamp(1, dimmingLevel={"type": "Property", "value": 0})
            assert http.post(ENTITIES, json=created).status_code == 201
            stop = threading.Event()

            def update() -> None:
                n = 0
                while not stop.is_set():
                    n += 1
                    try:
                        response = http.patch(f"{ENTITIES}/urn:ngsi-ld:Streetlight:1/attrs",
                                              json={"dimmingLevel": {"type": "Property", "value": n}})
                    except httpx2.HTTPError:
                        return  # the server is gone
                    if response.status_code == 204:
                        acknowledged.append(n)

            writer = threading.Thread(target=update)
            writer.start()
            receiver.wait_for(60)  # delivery is under way
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            stop.set()
            writer.join()
        assert len(acknowledged) >= 20
        with platform(tmp_path / "var", env=env):
            expected = 3 * (len(acknowledged) + 1)  # three subscriptions: the creation, then each update
            deadline = time.monotonic() + 60
            while len({got.body["id"] for got in receiver.received}) < expected:
                assert time.monotonic() < deadline, "notifications are missing after the restart"
                time.sleep(0.1)
    by_id: dict[str, Any] = {}
    for got in receiver.received:
        body = got.body
        assert by_id.setdefault(body["id"], body)["data"] == body["data"]  # a duplicate is the same notification
    levels: dict[str, list[int]] = {}
    for got in receiver.received:
        levels.setdefault(got.body["subscriptionId"], []).append(got.body["data"][0]["dimmingLevel"]["value"])
    assert len(levels) == 3
    for delivered in levels.values():
        first_times = list(dict.fromkeys(delivered))  # duplicates removed, first delivery order kept
        assert set(acknowledged) <= set(first_times)
        assert first_times == sorted(first_times)

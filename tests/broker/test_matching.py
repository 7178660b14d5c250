"""The subscription matcher: entity writes through the real services leave in the outbox the
notifications their subscriptions ask for, and nothing else, on each backend. The outbox is
read back as the delivery worker reads it (claims), without sending anything."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import pytest

from territoires.broker.changes import Change
from territoires.ngsild.context import compile_context
from territoires.ngsild.errors import ResourceNotFound
from territoires.ngsild.subscription import render_subscription
from territoires.store.port import SENT, DeliveryOutcome, OutboxEntry, TenantSession

CTX = compile_context([], lambda url: None)
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
LAMP = VOCAB + "Streetlight"


def lamp(n: int, state: str = "on", **attrs: Any) -> dict[str, Any]:
    return {"id": f"urn:ngsi-ld:Streetlight:{n}", "type": "Streetlight",
            "powerState": {"type": "Property", "value": state}, **attrs}


def subscribe(broker, tenant: str = "", **members: Any) -> str:
    body = {"type": "Subscription", "entities": [{"type": "Streetlight"}],
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}}, **members}
    return broker.subscriptions.create(tenant, body, CTX, base_url="http://localhost")


def drain(broker) -> list[OutboxEntry]:
    """Every pending notification, in delivery order per subscription (each settled as sent)."""
    taken: list[OutboxEntry] = []
    while claimed := broker.store.claim_notifications("test", time.time(), limit=1000, lease=60):
        taken += claimed
        broker.store.settle_notifications(
            [DeliveryOutcome(e.tenant, e.seq, e.notification.subscription_id, SENT, "2026-01-01T00:00:00Z")
             for e in claimed])
    return taken


def reasons(entries: Sequence[OutboxEntry]) -> list[tuple[str, str]]:
    return [(e.notification.subscription_id, e.notification.trigger) for e in entries]


def test_selectors_by_type_id_and_id_pattern(broker) -> None:
    by_type = subscribe(broker)
    by_id = subscribe(broker, entities=[{"type": "Streetlight", "id": "urn:ngsi-ld:Streetlight:2"}])
    by_pattern = subscribe(broker, entities=[{"type": "Streetlight", "idPattern": ":[13]$"}])
    other_type = subscribe(broker, entities=[{"type": "WasteContainer"}])
    # Table 5.2.33-1: an array of ids, which wins over an idPattern
    by_ids = subscribe(broker, entities=[{"type": "Streetlight", "id": ["urn:ngsi-ld:Streetlight:1",
                                                                        "urn:ngsi-ld:Streetlight:3"], "idPattern": ":2$"}])
    broker.entities.batch_create("", [lamp(1), lamp(2), lamp(3)], [CTX] * 3)
    entries = drain(broker)
    subs = (by_type, by_id, by_pattern, other_type, by_ids)
    ids = {sub: sorted(d["id"][-1] for e in entries if e.notification.subscription_id == sub
                       for d in e.notification.data) for sub in subs}
    assert ids == {by_type: ["1", "2", "3"], by_id: ["2"], by_pattern: ["1", "3"], other_type: [], by_ids: ["1", "3"]}
    stored, _ = broker.subscriptions.retrieve("", by_ids)  # read back from the store, rendered as given
    rendered = render_subscription(stored, CTX, now="2026-01-01T00:00:00Z")
    assert rendered["entities"][0]["id"] == ["urn:ngsi-ld:Streetlight:1", "urn:ngsi-ld:Streetlight:3"]
    assert all(e.notification.trigger == "attributeCreated" for e in entries)  # the default triggers


def test_watched_attributes_and_triggers(broker) -> None:
    broker.entities.create("", lamp(1), CTX)
    watching = subscribe(broker, watchedAttributes=["powerState"])
    deletions = subscribe(broker, notificationTrigger=["attributeDeleted", "entityDeleted"])
    creations = subscribe(broker, notificationTrigger=["entityCreated"])
    broker.entities.append_attributes("", "urn:ngsi-ld:Streetlight:1", {"dimmingLevel": {"type": "Property", "value": 3}},
                                      CTX, no_overwrite=False)
    broker.entities.update_attributes("", "urn:ngsi-ld:Streetlight:1", {"powerState": {"type": "Property", "value": "off"}}, CTX)
    broker.entities.delete_attribute("", "urn:ngsi-ld:Streetlight:1", "dimmingLevel", CTX, dataset_id=None, delete_all=False)
    broker.entities.create("", lamp(2), CTX)
    broker.entities.delete("", "urn:ngsi-ld:Streetlight:2")
    by_subscription: dict[str, list[str]] = {}
    for sub, reason in reasons(drain(broker)):
        by_subscription.setdefault(sub, []).append(reason)
    assert by_subscription == {
        watching: ["attributeUpdated", "attributeCreated"],  # lamp 2 created with powerState
        deletions: ["attributeDeleted", "entityDeleted"],
        creations: ["entityCreated"],
    }


def test_expiry_notifies_as_the_deletions_it_makes(broker) -> None:
    deletions = subscribe(broker, notificationTrigger=["attributeDeleted", "entityDeleted"])
    broker.entities.create("", lamp(1, expiresAt="2030-01-01T00:00:00Z"), CTX)
    broker.entities.create("", lamp(2, dimmingLevel={"type": "Property", "value": 3,
                                                     "expiresAt": "2030-01-01T00:00:00Z"}), CTX)
    assert broker.entities.expire("", now="2030-01-01T00:00:01Z") == 2
    assert sorted(reason for sub, reason in reasons(drain(broker)) if sub == deletions) == [
        "attributeDeleted", "entityDeleted"]


def test_notifications_of_one_subscription_keep_the_order_of_the_writes(broker) -> None:
    sub = subscribe(broker)
    broker.entities.create("", lamp(1), CTX)
    for state in ("off", "on", "off"):
        broker.entities.update_attributes("", "urn:ngsi-ld:Streetlight:1", {"powerState": {"type": "Property", "value": state}}, CTX)
    states = [e.notification.data[0]["attrs"][VOCAB + "powerState"][0]["value"] for e in drain(broker)
              if e.notification.subscription_id == sub]
    assert states == ["on", "off", "on", "off"]


def test_q_scope_q_and_geo_q_are_asked_of_the_database(broker) -> None:
    on = subscribe(broker, q='powerState=="on"')
    near = subscribe(broker, geoQ={"georel": "near;maxDistance==1000", "geometry": "Point", "coordinates": [-1.68, 48.11]})
    scoped = subscribe(broker, scopeQ="/Rennes/#")
    here = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [-1.681, 48.111]}}
    far = {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [2.35, 48.85]}}
    broker.entities.batch_create("", [lamp(1, location=here, scope="/Rennes/Nord"), lamp(2, "off", location=far)],
                                 [CTX] * 2)
    notified = {(e.notification.subscription_id, d["id"][-1]) for e in drain(broker) for d in e.notification.data}
    assert notified == {(on, "1"), (near, "1"), (scoped, "1")}


def test_throttling_drops_changes_within_the_period(broker) -> None:
    sub = subscribe(broker, throttling=3600)
    broker.entities.create("", lamp(1), CTX)
    broker.entities.update_attributes("", "urn:ngsi-ld:Streetlight:1", {"powerState": {"type": "Property", "value": "off"}}, CTX)
    assert reasons(drain(broker)) == [(sub, "attributeCreated")]


def test_show_changes_asks_for_the_previous_state_and_marks_it(broker) -> None:
    broker.entities.create("", lamp(1), CTX)
    with broker.store.session("") as session:
        assert not broker.matcher.needs_previous("", session)
    subscribe(broker, notification={"endpoint": {"uri": "http://127.0.0.1:9/n"}, "showChanges": True})
    with broker.store.session("") as session:
        assert broker.matcher.needs_previous("", session)
    broker.entities.batch_upsert("", [lamp(1, "off")], [CTX], mode="replace")  # whole previous state read
    [entry] = drain(broker)
    [instance] = entry.notification.data[0]["attrs"][VOCAB + "powerState"]
    assert instance["value"] == "off" and instance["previous"] == "on"


def test_paused_and_periodic_subscriptions_are_not_notified_on_change(broker) -> None:
    subscribe(broker, isActive=False)
    periodic = subscribe(broker, timeInterval=60)
    broker.entities.create("", lamp(1), CTX)
    assert drain(broker) == []
    [sub] = [s for s in broker.subscriptions.query("", offset=0, limit=10)[0] if s[0].id == periodic]
    now = time.time()
    with broker.store.session("", write=True) as session:
        assert broker.matcher.enqueue_periodic(session, sub[0], now)
        assert not broker.matcher.enqueue_periodic(session, sub[0], now + 30)  # the period is not over
    [entry] = drain(broker)
    assert entry.notification.trigger == "" and entry.notification.data[0]["id"] == "urn:ngsi-ld:Streetlight:1"


def test_a_write_that_fails_leaves_no_notification(broker) -> None:
    subscribe(broker)

    class Refuse:
        def needs_previous(self, tenant: str, session: TenantSession) -> bool:
            return False

        def observe(self, tenant: str, session: TenantSession, changes: Sequence[Change]) -> None:
            raise ResourceNotFound("refused after the matcher enqueued")

    broker.feed.add(Refuse())
    with pytest.raises(ResourceNotFound):
        broker.entities.create("", lamp(1), CTX)
    assert drain(broker) == []


def test_tenants_have_their_own_subscriptions(broker) -> None:
    broker.tenants.create("rennes")
    theirs = subscribe(broker, "rennes")
    subscribe(broker)
    broker.entities.create("rennes", lamp(1), CTX)
    [entry] = drain(broker)
    assert (entry.tenant, entry.notification.subscription_id) == ("rennes", theirs)


def test_a_thousand_per_entity_subscriptions_meet_only_their_entity(broker) -> None:
    """Per-asset alerting: each subscription names its entity; a write meets its own only."""
    for n in range(1000):
        subscribe(broker, entities=[{"type": "Streetlight", "id": f"urn:ngsi-ld:Streetlight:{n}"}])
    with broker.store.session("") as session:
        index = broker.matcher._index("", session)
    assert len(index.by_id) == 1000 and not index.by_type and not index.any_entity
    broker.entities.batch_create("", [lamp(7), lamp(512)], [CTX] * 2)
    entries = drain(broker)
    assert sorted(d["id"] for e in entries for d in e.notification.data) == [
        "urn:ngsi-ld:Streetlight:512", "urn:ngsi-ld:Streetlight:7"]

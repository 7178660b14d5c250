"""Transient entities (clause 4.22): the expiry sweep deletes entities and attribute instances
whose expiresAt has come, as writes that leave their history, on both backends."""

from __future__ import annotations

import pytest

from territoires.broker import Broker
from territoires.ngsild.context import compile_context
from territoires.ngsild.errors import ResourceNotFound
from territoires.store.port import EntityQuery, TemporalQuery

CTX = compile_context([], lambda url: None)
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
ALERT, SENSOR, DURABLE = "urn:ngsi-ld:Alert:1", "urn:ngsi-ld:Sensor:1", "urn:ngsi-ld:Sensor:2"
EXPIRY = "2030-01-01T00:00:00Z"
BEFORE, AFTER = "2029-12-31T23:59:59.999999Z", "2030-01-01T00:00:00.000000Z"


def stored(broker: Broker) -> dict:
    with broker.store.session("") as s:
        return s.get([ALERT, SENSOR, DURABLE])


def test_the_sweep_deletes_what_has_expired_and_keeps_the_rest(broker: Broker) -> None:
    entities = broker.entities
    entities.create("", {"id": ALERT, "type": "Alert", "expiresAt": EXPIRY,
                         "severity": {"type": "Property", "value": "high"}}, CTX)
    entities.create("", {"id": SENSOR, "type": "Sensor", "reading": [
        {"type": "Property", "value": 3, "expiresAt": EXPIRY},
        {"type": "Property", "value": 4, "datasetId": "urn:ngsi-ld:Dataset:durable"}]}, CTX)
    entities.create("", {"id": DURABLE, "type": "Sensor", "reading": {"type": "Property", "value": 5}}, CTX)

    assert entities.expire("", now=BEFORE) == 0
    assert set(stored(broker)) == {ALERT, SENSOR, DURABLE}

    assert entities.expire("", now=AFTER) == 2
    found = stored(broker)
    assert set(found) == {SENSOR, DURABLE}
    [kept] = found[SENSOR]["attrs"][VOCAB + "reading"]
    assert kept["value"] == 4 and found[SENSOR]["modifiedAt"] == AFTER
    assert found[DURABLE]["attrs"][VOCAB + "reading"][0]["value"] == 5
    assert entities.expire("", now=AFTER) == 0  # nothing is due twice

    # The expired instance's series ends with its deletion; the alert's history went with it.
    with broker.store.session("") as s:
        page = s.temporal_query(TemporalQuery(EntityQuery(ids=(SENSOR, ALERT))))
    [sensor] = page.entities
    ended = next(series for series in sensor.series if series.dataset_id is None)
    assert ended.instances[-1].deleted_at == AFTER


def test_the_sweep_visits_every_tenant(broker: Broker) -> None:
    broker.tenants.create("commune-35238")
    for tenant in ("", "commune-35238"):
        broker.entities.create(tenant, {"id": ALERT, "type": "Alert", "expiresAt": "2020-01-01T00:00:00Z"}, CTX)
    assert broker.entities.expire_everywhere() == {"": 1, "commune-35238": 1}
    assert broker.entities.expire_everywhere() == {}


def test_what_has_expired_is_not_served_even_before_the_sweep(broker: Broker) -> None:
    past = "2020-01-01T00:00:00Z"
    broker.entities.create("", {"id": ALERT, "type": "Alert", "expiresAt": past}, CTX)
    broker.entities.create("", {"id": SENSOR, "type": "Sensor", "reading": [
        {"type": "Property", "value": 3, "expiresAt": past},
        {"type": "Property", "value": 4, "datasetId": "urn:ngsi-ld:Dataset:durable"}]}, CTX)
    with pytest.raises(ResourceNotFound):
        broker.entities.retrieve("", ALERT)
    [served] = broker.entities.retrieve("", SENSOR)["attrs"][VOCAB + "reading"]
    assert served["value"] == 4

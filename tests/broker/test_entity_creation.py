"""Create Entity (clause 5.6.1) under concurrency: creations that queue for the tenant's write
share one (``broker.coalescing``), yet each is answered, checked and audited on its own."""

from __future__ import annotations

import threading

from territoires.broker import Broker
from territoires.broker.actor import Actor, acting
from territoires.ngsild.context import compile_context
from territoires.ngsild.errors import AlreadyExists
from territoires.store.port import AuditQuery, EntityQuery

CTX = compile_context([], lambda url: None)
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


def lamp(n: int) -> dict[str, object]:
    return {"id": f"urn:ngsi-ld:Streetlight:{n}", "type": "Streetlight",
            "dimmingLevel": {"type": "Property", "value": n, "unitCode": "P1"}}


def test_concurrent_creations_share_a_write_yet_each_is_answered_and_audited_on_its_own(broker: Broker) -> None:
    broker.entities.create("", lamp(9), CTX)
    # Lamps 0 to 4, lamp 0 a second time, and lamp 9 which exists: each by its own key.
    numbers = [0, 1, 2, 3, 4, 0, 9]
    authors = [Actor(kind="key", subject=f"key-{n}", credential_id=f"key-{n}") for n in range(len(numbers))]
    outcomes: dict[int, object] = {}

    def create(call: int) -> None:
        with acting(authors[call]):
            try:
                outcomes[call] = broker.entities.create("", lamp(numbers[call]), CTX)
            except AlreadyExists as error:
                outcomes[call] = error

    threads = [threading.Thread(target=create, args=(call,)) for call in range(len(numbers))]
    with broker.store.session("", write=True):  # the tenant's write turn is taken: the creations queue
        for thread in threads:
            thread.start()
        for _ in range(10_000):
            if sum(len(round_.calls) for round_ in broker.entities._creations._open.values()) == len(numbers):
                break
            threading.Event().wait(0.001)
    for thread in threads:
        thread.join(30)

    created = {call: outcome for call, outcome in outcomes.items() if isinstance(outcome, str)}
    refused = {call for call, outcome in outcomes.items() if isinstance(outcome, AlreadyExists)}
    assert sorted(created.values()) == [f"urn:ngsi-ld:Streetlight:{n}" for n in range(5)]
    assert 6 in refused and len(refused & {0, 5}) == 1 and len(refused) == 2
    with broker.store.session("") as session:
        page = session.query(EntityQuery(limit=100, count=True))
    assert page.count == 6
    stored = {entity["id"]: entity for entity in page.entities}
    assert all(stored[f"urn:ngsi-ld:Streetlight:{n}"]["attrs"][VOCAB + "dimmingLevel"][0]["value"] == n
               for n in (0, 1, 2, 3, 4, 9))
    records, _ = broker.audit.query("", AuditQuery(limit=100))
    by_target = {record.target: record.subject for record in records if record.operation == "create"}
    assert by_target == {**{entity_id: f"key-{call}" for call, entity_id in created.items()},
                         "urn:ngsi-ld:Streetlight:9": "system"}

"""The change feed: every entity write hands its (old, new) pairs to the observers, inside the write.

The observer here is a test's own recorder plugged into the extension point; the broker, store and
NGSI-LD code it observes are the real ones, on each backend.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from territoires.broker import open_broker
from territoires.broker.changes import Change
from territoires.config import Settings
from territoires.ngsild.context import compile_context
from territoires.ngsild.errors import ResourceNotFound
from territoires.store.port import EntityQuery, TenantSession
from tests import postgres

CTX = compile_context([], lambda url: None)
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


class Recorder:
    def __init__(self, *, previous: bool = False, fail: bool = False) -> None:
        self.changes: list[Change] = []
        self.previous = previous
        self.fail = fail

    def needs_previous(self, tenant: str, session: TenantSession) -> bool:
        return self.previous

    def observe(self, tenant: str, session: TenantSession, changes: Sequence[Change]) -> None:
        if self.fail:
            raise ResourceNotFound("refused by the observer")
        self.changes.extend(changes)

    def take(self) -> list[Change]:
        taken, self.changes = self.changes, []
        return taken


@pytest.fixture(params=postgres.BACKENDS)
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    opened = open_broker(Settings(data_dir=tmp_path / "var", database_url=url))
    opened.feed.observers.clear()  # only this test's recorder observes
    yield opened
    opened.close()


def lamp(n: int, state: str = "on") -> dict:
    return {"id": f"urn:ngsi-ld:Streetlight:{n}", "type": "Streetlight", "powerState": {"type": "Property", "value": state}}


def value(entity: dict | None, name: str = "powerState") -> object:
    return entity["attrs"][VOCAB + name][0]["value"] if entity else None


def test_each_write_publishes_old_and_new(broker) -> None:
    recorder = Recorder()
    broker.feed.add(recorder)
    service = broker.entities

    service.create("", lamp(1), CTX)
    [created] = recorder.take()
    assert created.old is None and value(created.new) == "on"
    assert created.at == created.new["modifiedAt"] and created.entity_id == "urn:ngsi-ld:Streetlight:1"

    service.update_attributes("", "urn:ngsi-ld:Streetlight:1", {"powerState": {"type": "Property", "value": "off"}}, CTX)
    [updated] = recorder.take()
    assert (value(updated.old), value(updated.new)) == ("on", "off")
    assert updated.new[
        "attrs"][VOCAB + "powerState"][0]["modifiedAt"] == updated.at  # what the operation touched carries its instant

    service.batch_upsert("", [lamp(1, "on"), lamp(2)], [CTX, CTX], mode="update")
    by_id = {c.entity_id: c for c in recorder.take()}
    assert value(by_id["urn:ngsi-ld:Streetlight:1"].old) == "off" and by_id["urn:ngsi-ld:Streetlight:2"].old is None

    service.batch_delete("", ["urn:ngsi-ld:Streetlight:2", "urn:ngsi-ld:Streetlight:9"])
    [deleted] = recorder.take()
    assert deleted.new is None and value(deleted.old) == "on"

    service.purge("", EntityQuery(), keep=None, drop=None, local=True)
    [purged] = recorder.take()
    assert purged.entity_id == "urn:ngsi-ld:Streetlight:1" and purged.new is None


def test_replacing_upsert_reads_the_previous_state_only_when_asked(broker) -> None:
    lean, whole = Recorder(), Recorder()
    broker.feed.add(lean)
    broker.entities.create("", lamp(1), CTX)
    broker.entities.batch_upsert("", [lamp(1, "off")], [CTX], mode="replace")
    assert set(lean.changes[-1].old) == {"id", "createdAt"}

    broker.feed.add(whole)
    whole.previous = True
    broker.entities.batch_upsert("", [lamp(1, "on")], [CTX], mode="replace")
    assert value(whole.changes[-1].old) == "off"


def test_an_observer_failure_rolls_the_write_back(broker) -> None:
    broker.feed.add(Recorder(fail=True))
    with pytest.raises(ResourceNotFound):
        broker.entities.create("", lamp(1), CTX)
    broker.feed.observers.clear()
    with pytest.raises(ResourceNotFound):
        broker.entities.retrieve("", "urn:ngsi-ld:Streetlight:1")

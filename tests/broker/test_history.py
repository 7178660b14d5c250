"""The history recorder: entity writes through the real broker leave their temporal evolution."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from territoires.broker import open_broker
from territoires.broker.history import HistoryRecorder
from territoires.config import Settings
from territoires.ngsild.context import compile_context
from territoires.ngsild.query import TypeName
from territoires.ngsild.subscription import EntitySelector
from territoires.store.port import EntityQuery, TemporalPage, TemporalQuery
from tests import postgres

CTX = compile_context([], lambda url: None)
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
LAMP = "urn:ngsi-ld:Streetlight:1"


@pytest.fixture(params=[(b, keep) for b in postgres.BACKENDS for keep in (False, True)], ids=str)
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator:
    backend, keep = request.param
    url = postgres.fresh_database() if backend == "postgres" else ""
    opened = open_broker(Settings(data_dir=tmp_path / "var", database_url=url, keep_deleted_history=keep))
    assert any(isinstance(o, HistoryRecorder) for o in opened.feed.observers)
    yield opened
    opened.close()


def history(broker, eid: str = LAMP) -> TemporalPage:
    with broker.store.session("") as s:
        return s.temporal_query(TemporalQuery(EntityQuery(ids=(eid,))))


def series_of(broker, eid: str = LAMP) -> dict[tuple[str, str | None], list[object]]:
    [found] = history(broker, eid).entities
    return {(s.attr[len(VOCAB):], s.dataset_id): [i.instance[next(k for k in ("value", "object") if k in i.instance)]
                                                   for i in s.instances] for s in found.series}


def test_every_attribute_change_is_recorded_and_deletions_too(broker) -> None:
    entities = broker.entities
    entities.create("", {"id": LAMP, "type": "Streetlight", "powerState": {"type": "Property", "value": "on"},
                         "dimming": {"type": "Property", "value": 50, "observedAt": "2024-01-01T00:00:00Z"}}, CTX)
    entities.update_attributes("", LAMP, {"powerState": {"type": "Property", "value": "off"}}, CTX)
    entities.append_attributes("", LAMP, {"dimming": {"type": "Property", "value": 20, "datasetId": "urn:d:1"}},
                               CTX, no_overwrite=False)
    assert series_of(broker) == {("dimming", None): [50], ("dimming", "urn:d:1"): [20], ("powerState", None): ["on", "off"]}

    entities.delete_attribute("", LAMP, "powerState", CTX, dataset_id=None, delete_all=False)
    recorded = series_of(broker)
    assert recorded[("powerState", None)] == ["on", "off", "urn:ngsi-ld:null"]
    [found] = history(broker).entities
    gone = next(s for s in found.series if s.attr == VOCAB + "powerState").instances[-1]
    assert gone.deleted_at is not None and gone.deleted_at == gone.modified_at
    assert recorded[("dimming", None)] == [50]  # untouched attributes are not recorded again

    # One instance of several deleted: that one alone is recorded as deleted.
    entities.delete_attribute("", LAMP, "dimming", CTX, dataset_id="urn:d:1", delete_all=False)
    recorded = series_of(broker)
    assert recorded[("dimming", "urn:d:1")] == [20, "urn:ngsi-ld:null"]
    assert recorded[("dimming", None)] == [50]


def test_deleting_an_entity_deletes_its_history_unless_kept(broker) -> None:
    broker.entities.create("", {"id": LAMP, "type": "Streetlight", "powerState": {"type": "Property", "value": "on"}}, CTX)
    broker.entities.delete("", LAMP)
    page = history(broker)
    if broker.settings.keep_deleted_history:
        [kept] = page.entities
        assert kept.types == [VOCAB + "Streetlight"] and [s.attr for s in kept.series] == [VOCAB + "powerState"]
        # Named by the selectors of a Query too, when one of them holds whole (type and id).
        lamp, sensor = TypeName(VOCAB + "Streetlight"), TypeName(VOCAB + "Sensor")
        for selectors, found in (((EntitySelector(sensor, LAMP), EntitySelector(lamp, LAMP)), [LAMP]),
                                 ((EntitySelector(sensor, LAMP), EntitySelector(lamp, "urn:ngsi-ld:Streetlight:2")), [])):
            with broker.store.session("") as s:
                page = s.temporal_query(TemporalQuery(EntityQuery(selectors=selectors)))
            assert [e.id for e in page.entities] == found
    else:
        assert page.entities == []
        broker.entities.create("", {"id": LAMP, "type": "Streetlight"}, CTX)
        assert history(broker).entities[0].series == []



@pytest.mark.parametrize("mode", ["replace", "update"])
def test_every_batch_operation_records_what_it_writes(broker, mode: str) -> None:
    def lamp(n: int, state: str) -> dict:
        return {"id": f"{LAMP}{n}", "type": "Streetlight", "powerState": {"type": "Property", "value": state}}

    entities = broker.entities
    entities.batch_create("", [lamp(1, "on")], [CTX])
    entities.batch_upsert("", [lamp(1, "off"), lamp(2, "on")], [CTX, CTX], mode=mode)
    entities.batch_update("", [lamp(2, "off")], [CTX], no_overwrite=False)
    entities.batch_merge("", [lamp(1, "on")], [CTX])
    assert series_of(broker, f"{LAMP}1") == {("powerState", None): ["on", "off", "on"]}
    assert series_of(broker, f"{LAMP}2") == {("powerState", None): ["on", "off"]}

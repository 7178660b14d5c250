"""The audit trail through the real broker: every write path records who did what, in the
write's own transaction; non-entity writes, the export walk, retention and the CLI."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from territoires import cli
from territoires.broker import Broker, open_broker
from territoires.broker.actor import SYSTEM, Actor, acting
from territoires.broker.audit import (
    AuditRecorder,
    AuditService,
    change_records,
    parse_instant,
    retention_cutoff,
)
from territoires.broker.audit_views import FILTERS, audit_query
from territoires.broker.changes import Change
from territoires.broker.sweeper import Sweeper
from territoires.config import Settings
from territoires.ngsild.context import compile_context
from territoires.ngsild.errors import BadRequestData, NonexistentTenant
from territoires.store.port import (
    AuditQuery,
    AuditRecord,
    EntityQuery,
    Frame,
    TenantSession,
)
from tests import postgres

CTX = compile_context([], lambda url: None)
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
LAMP, OTHER = "urn:ngsi-ld:Streetlight:1", "urn:ngsi-ld:Streetlight:2"
AGENT = Actor(kind="oidc", subject="https://proconnect.gouv.fr#a1b2", credential_id="jti-1", name="agent@rennes.fr")
SENSOR_KEY = Actor(kind="key", subject="k7x2q9", credential_id="k7x2q9", name="capteurs éclairage")


@pytest.fixture(params=postgres.BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    return Settings(data_dir=tmp_path / "var", database_url=url)


@pytest.fixture
def broker(settings: Settings) -> Iterator[Broker]:
    opened = open_broker(settings)
    assert any(isinstance(o, AuditRecorder) for o in opened.feed.observers)
    yield opened
    opened.close()


def trail(broker: Broker, tenant: str = "", **filters: object) -> list[tuple[str, str, str | None, str]]:
    """(operation, target, short attribute names separated by spaces, subject) of the tenant's
    records, oldest first."""
    records, count = broker.audit.query(tenant, AuditQuery(limit=1000, **filters))  # type: ignore[arg-type]
    assert count == len(records)
    return [(r.operation, r.target, " ".join(name.removeprefix(VOCAB) for name in r.attributes) or None, r.subject)
            for r in reversed(records)]


def lamp(**attrs: object) -> dict[str, object]:
    return {"id": LAMP, "type": "Streetlight", **{k: {"type": "Property", "value": v} for k, v in attrs.items()}}


def test_entity_operations_record_what_they_did_to_which_attributes(broker: Broker) -> None:
    entities = broker.entities
    s = AGENT.subject
    with acting(AGENT):
        entities.create("", lamp(powerState="on", dimming=50), CTX)
        entities.update_attributes("", LAMP, {"powerState": {"type": "Property", "value": "off"}}, CTX)
        entities.append_attributes("", LAMP, {"lampStatus": {"type": "Property", "value": "ok"}}, CTX, no_overwrite=False)
        entities.merge("", LAMP, {"dimming": {"type": "Property", "value": 20}, "lampStatus": "urn:ngsi-ld:null"}, CTX)
        entities.partial_update_attribute("", LAMP, "dimming", {"value": 30}, CTX)
        entities.replace_attribute("", LAMP, "dimming", {"type": "Property", "value": 40}, CTX)
        entities.delete_attribute("", LAMP, "dimming", CTX, dataset_id=None, delete_all=False)
        entities.replace("", LAMP, {"type": "Streetlight", "scope": "/Rennes/Nord",
                                    "powerState": {"type": "Property", "value": "on"}}, CTX)
        entities.delete("", LAMP)
    assert trail(broker) == [
        ("create", LAMP, None, s),
        ("update", LAMP, "powerState", s),
        ("append", LAMP, "lampStatus", s),
        ("update", LAMP, "dimming", s), ("deleteAttribute", LAMP, "lampStatus", s),
        ("update", LAMP, "dimming", s),
        ("update", LAMP, "dimming", s),
        ("deleteAttribute", LAMP, "dimming", s),
        ("update", LAMP, "powerState https://uri.etsi.org/ngsi-ld/scope", s),
        ("delete", LAMP, None, s),
    ]
    records, _ = broker.audit.query("", AuditQuery())
    assert {(r.kind, r.credential_id, r.name, r.detail) for r in records} == {("oidc", "jti-1", "agent@rennes.fr", "")}
    assert all(r.at.endswith("Z") for r in records)


def test_batches_and_purges_record_each_entity(broker: Broker) -> None:
    entities = broker.entities
    k = SENSOR_KEY.subject
    two = [lamp(powerState="on"), {**lamp(powerState="off"), "id": OTHER}]
    with acting(SENSOR_KEY):
        entities.batch_create("", two, [CTX, CTX])
        entities.batch_upsert("", [lamp(powerState="off")], [CTX], mode="replace")
        entities.batch_upsert("", [{"id": OTHER, "type": "Streetlight", "dimming": {"type": "Property", "value": 9}}],
                              [CTX], mode="update")
        entities.batch_update("", [{"id": LAMP, "powerState": {"type": "Property", "value": "on"}}], [CTX],
                              no_overwrite=False)
        entities.batch_merge("", [{"id": LAMP, "type": "Streetlight", "dimming": {"type": "Property", "value": 1}}],
                             [CTX])
        entities.purge("", EntityQuery(ids=(LAMP,)), keep=None, drop=frozenset({VOCAB + "dimming"}), local=True)
        entities.batch_delete("", [OTHER, "urn:ngsi-ld:Streetlight:absent"])
        entities.purge("", EntityQuery(), keep=None, drop=None, local=True)
    assert trail(broker) == [
        ("create", LAMP, None, k), ("create", OTHER, None, k),
        ("replace", LAMP, None, k),  # an upsert replacing whole does not read what it replaces
        ("append", OTHER, "dimming", k),
        ("update", LAMP, "powerState", k),
        ("append", LAMP, "dimming", k),
        ("deleteAttribute", LAMP, "dimming", k),
        ("delete", OTHER, None, k),
        ("delete", LAMP, None, k),
    ]


def test_temporal_provision_and_ingestion_are_recorded_with_their_actor(broker: Broker) -> None:
    broker.tenants.create("rennes")
    bridge = Actor(kind="bridge", subject="territoires-bridge")
    body = {"id": LAMP, "type": "Streetlight",
            "powerState": [{"type": "Property", "value": "on", "observedAt": "2026-11-28T06:00:00Z"},
                           {"type": "Property", "value": "off", "observedAt": "2026-11-28T07:00:00Z"}]}
    with acting(AGENT):
        broker.temporal.provide("rennes", body, CTX)
        broker.temporal.provide("rennes", {**body, "type": ["Streetlight", "Asset"]}, CTX)
    with acting(bridge):
        measured = {"type": "Property", "value": "on", "observedAt": "2026-11-28T18:00:00.000000Z"}
        fragment = {"id": LAMP, "type": [VOCAB + "Streetlight"], "attrs": {
            VOCAB + "powerState": [measured], VOCAB + "dimmingLevel": [{**measured, "value": 40}],
            VOCAB + "lampStatus": [{**measured, "value": "ok"}]}}
        fresh = broker.entities.apply_measurements("rennes", [fragment, fragment],
                                                   [Frame("70B3D57ED0000001", 1, "2026-11-28T18:00:00Z")] * 2)
        assert fresh == [True, False]
    with acting(AGENT):
        broker.temporal.delete("rennes", LAMP)
    a, b = AGENT.subject, bridge.subject
    assert trail(broker, "rennes") == [
        ("create", LAMP, None, a),
        ("update", LAMP, "@type", a),
        ("append", LAMP, "dimmingLevel lampStatus", b),  # one record per operation, not per measure
        ("update", LAMP, "powerState", b),  # the duplicate uplink changed nothing: no record
        ("delete", LAMP, None, a),
    ]
    assert trail(broker) == []  # the tenant's own trail only


def test_writes_without_an_actor_are_the_systems(broker: Broker) -> None:
    broker.entities.create("", lamp(powerState="on"), CTX)
    [record], _ = broker.audit.query("", AuditQuery())
    assert (record.kind, record.subject, record.credential_id) == (SYSTEM.kind, SYSTEM.subject, None)


class Failing:
    """An observer after the recorder that makes the write fail."""

    def needs_previous(self, tenant: str, session: TenantSession) -> bool:
        return False

    def observe(self, tenant: str, session: TenantSession, changes: Sequence[Change]) -> None:
        raise RuntimeError("the disk is full")


def test_a_write_rolled_back_records_nothing(broker: Broker) -> None:
    with acting(AGENT):
        broker.entities.create("", lamp(powerState="on"), CTX)
        broker.feed.add(Failing())
        with pytest.raises(RuntimeError):
            broker.entities.update_attributes("", LAMP, {"powerState": {"type": "Property", "value": "off"}}, CTX)
        with pytest.raises(RuntimeError):
            broker.entities.create("", {**lamp(powerState="on"), "id": OTHER}, CTX)
    assert trail(broker) == [("create", LAMP, None, AGENT.subject)]
    assert broker.entities.retrieve("", LAMP)["attrs"][VOCAB + "powerState"][0]["value"] == "on"


def test_an_entity_written_but_unchanged_gives_no_record() -> None:
    entity = {"id": LAMP, "type": ["T"], "createdAt": "x", "modifiedAt": "x", "attrs": {"a": [{"value": 1}]}}
    assert change_records(Change(entity, dict(entity), "y"), AGENT) == []


def test_non_entity_writes_are_recorded_by_the_service(broker: Broker) -> None:
    broker.tenants.create("brest")
    with acting(SENSOR_KEY):
        made = broker.audit.record("brest", "createSubscription", "urn:ngsi-ld:Subscription:9", "notifies MQTT")
    broker.audit.record("brest", "deleteContext", "/ngsi-ld/v1/jsonldContexts/c1", actor=AGENT)
    found, count = broker.audit.query("brest", AuditQuery())
    assert count == 2
    assert found[1] == AuditRecord(at=made.at, operation="createSubscription", target="urn:ngsi-ld:Subscription:9",
                                   kind="key", subject="k7x2q9", credential_id="k7x2q9", name="capteurs éclairage",
                                   detail="notifies MQTT", seq=found[1].seq)
    assert (found[0].operation, found[0].subject, found[0].attributes) == ("deleteContext", AGENT.subject, ())
    with pytest.raises(NonexistentTenant):
        broker.audit.record("nowhere", "createSubscription", "urn:x:y")


def old_records(broker: Broker, tenant: str, ats: Sequence[str]) -> None:
    with broker.store.session(tenant, write=True) as session:
        session.append_audit([AuditRecord(at=at, operation="update", target=LAMP, kind="key", subject="k")
                              for at in ats])


def test_export_walks_every_matching_record_in_batches(broker: Broker) -> None:
    old_records(broker, "", [f"2026-01-01T00:00:{n:02d}.000000Z" for n in range(10)])
    query = AuditQuery(since="2026-01-01T00:00:02.000000Z", offset=5, limit=1)
    walk = broker.audit.export("", query, batch_size=3)
    first = next(walk)
    old_records(broker, "", ["2026-01-01T00:00:30.000000Z"])  # written during the walk: after its start
    rest = list(walk)
    assert [r.at[17:19] for r in [first, *rest]] == [f"{n:02d}" for n in range(9, 1, -1)]
    with pytest.raises(NonexistentTenant):
        broker.audit.export("nowhere", AuditQuery())  # refused at once, before anything is sent


def test_retention_deletes_old_records_in_every_tenant_and_says_so(settings: Settings) -> None:
    broker = open_broker(settings)
    try:
        broker.tenants.create("rennes")
        old = ["2020-01-01T00:00:00.000000Z", "2021-06-01T00:00:00.000000Z"]
        old_records(broker, "", old)
        old_records(broker, "rennes", old[:1])
        with acting(AGENT):
            broker.entities.create("rennes", lamp(powerState="on"), CTX)
        assert broker.audit.purge() == {"": 2, "rennes": 1}
        assert broker.audit.purge() == {}
        assert [op for op, *_ in trail(broker, "rennes")] == ["create", "purgeAudit"]
        [note], _ = broker.audit.query("", AuditQuery())
        assert note.operation == "purgeAudit" and note.detail.startswith("2 records before ")
        assert note.at > note.detail.removeprefix("2 records before ")
        forever = AuditService(broker.store, 0)
        old_records(broker, "", old)
        assert forever.purge() == {}  # a retention of 0 keeps everything
        assert forever.purge("2021-01-01T00:00:00.000000Z") == {"": 1}  # unless told a date
    finally:
        broker.close()


def test_retention_cutoff() -> None:
    assert retention_cutoff(0) is None
    assert retention_cutoff(365, datetime(2026, 11, 28, 10, tzinfo=UTC)) == "2025-11-28T10:00:00.000000Z"
    assert retention_cutoff(10**9) is None  # longer than the calendar: everything is kept


@pytest.mark.parametrize(("given", "instant"), [
    ("2026-11-28", "2026-11-28T00:00:00.000000Z"),
    ("2026-11-28T10:00:00Z", "2026-11-28T10:00:00.000000Z"),
    ("2026-11-28T10:00:00.5+01:00", "2026-11-28T09:00:00.500000Z"),
    ("2026-11-28 10:00:00-02:30", "2026-11-28T12:30:00.000000Z"),
])
def test_people_give_dates_or_instants_with_a_zone(given: str, instant: str) -> None:
    assert parse_instant(given, "from") == instant


@given(st.text(max_size=40) | st.datetimes().map(str) | st.dates().map(str))
def test_instants_never_fail_otherwise_than_as_bad_request(value: str) -> None:
    try:
        parsed = parse_instant(value, "from")
    except BadRequestData as refused:
        assert refused.detail.startswith("from ")
    else:
        assert len(parsed) == 27 and parsed.endswith("Z") and parse_instant(parsed, "from") == parsed


def test_the_sweeper_purges_at_start_then_on_its_timer(broker: Broker) -> None:
    old_records(broker, "", ["2020-01-01T00:00:00.000000Z"])
    sweeper = Sweeper("audit retention", broker.audit.purge, interval=0.05)
    sweeper.start()
    try:
        deadline = time.monotonic() + 30
        while sweeper.sweeps < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        sweeper.stop()
    assert sweeper.sweeps >= 3
    assert [op for op, *_ in trail(broker)] == ["purgeAudit"]


# ---- the command -----------------------------------------------------------------------------

def run(settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        *argv: str) -> tuple[int, str, str]:
    monkeypatch.setenv("TERRITOIRES_DATABASE_URL", settings.database_url)
    code = cli.main(["--data-dir", str(settings.data_dir), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_lists_filters_and_purges(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    broker = open_broker(settings)
    try:
        broker.tenants.create("rennes")
        with acting(SENSOR_KEY):
            broker.entities.create("rennes", lamp(powerState="on", dimming=3), CTX)
            broker.entities.update_attributes("rennes", LAMP, {"dimming": {"type": "Property", "value": 4},
                                                               "powerState": {"type": "Property", "value": "off"}}, CTX)
        old_records(broker, "rennes", ["2020-01-01T00:00:00.000000Z"])
    finally:
        broker.close()

    code, out, _ = run(settings, monkeypatch, capsys, "audit", "list", "--tenant", "rennes", "--attribute", "dimming")
    assert code == 0
    [line] = out.splitlines()
    assert line.split("\t")[1:7] == ["update", LAMP, "dimming powerState", "key", "k7x2q9", "capteurs éclairage"]

    code, out, err = run(settings, monkeypatch, capsys, "audit", "list", "--tenant", "rennes", "--limit", "1",
                         "--format", "csv", "--from", "2026-01-01")
    assert code == 0 and out.splitlines()[0].startswith("seq,at,operation,target,attributes,")
    assert len(out.splitlines()) == 2 and "1 de plus" in err

    code, _, err = run(settings, monkeypatch, capsys, "audit", "list", "--tenant", "rennes", "--from", "hier")
    assert code == 1 and "from must be an ISO 8601 date" in err

    code, out, _ = run(settings, monkeypatch, capsys, "audit", "purge")
    assert code == 0 and "rennes\t1" in out and "1 enregistrements effacés" in out
    code, out, _ = run(settings, monkeypatch, capsys, "audit", "list", "--tenant", "rennes", "--operation",
                       "purgeAudit", "--format", "jsonl")
    assert code == 0 and '"principalKind":"cli"' in out


@given(st.dictionaries(st.sampled_from([*FILTERS, "who"]), st.text(max_size=30), max_size=4),
       st.integers(-2, 5), st.integers(-2, 5))
def test_any_filters_give_a_query_or_a_bad_request(filters: dict[str, str], offset: int, limit: int) -> None:
    try:
        query = audit_query(filters, CTX.expand, offset=offset, limit=limit)
    except BadRequestData as refused:
        assert refused.detail
    else:
        assert (query.offset, query.limit) == (offset, limit)
        assert query.since is None or len(query.since) == 27

"""Backups of version 3 (issue 5): a tenant's history, kept identities, access set-up and audit
trail restore into either backend with the same temporal answers, access and audit listing."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from territoires.auth.keys import KeyService
from territoires.auth.members import MemberService
from territoires.ngsild.errors import BadRequestData
from territoires.ngsild.model import NGSI_LD_NULL
from territoires.store import backup
from territoires.store.port import (
    Aggregation,
    AuditQuery,
    AuditRecord,
    EntityQuery,
    HistoryInstance,
    QuotaLimits,
    Store,
    TemporalPage,
    TemporalQuery,
    TimeRange,
)
from territoires.store.sqlite import SqliteStore
from tests.contract.conftest import NOW, VOCAB, streetlight

DIMMING, POWER, STATUS, COUNT = (VOCAB + name for name in ("dimmingLevel", "powerState", "status", "count"))
DATASET = "urn:ngsi-ld:Dataset:capteur-b"
START = datetime(2026, 1, 1, tzinfo=UTC)
GONE = "urn:ngsi-ld:Streetlight:0004"  # deleted with its history kept


def at(minutes: float) -> str:
    moment = START + timedelta(minutes=minutes)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def measure(eid: str, attr: str, value: Any, minutes: float, *, recorded: float | None = None,
            observed: bool = True, **members: Any) -> HistoryInstance:
    modified = at(minutes if recorded is None else recorded)
    instance = {"type": "Property", "value": value, "createdAt": at(0), "modifiedAt": modified, **members}
    if observed:
        instance["observedAt"] = at(minutes)
    return HistoryInstance(eid, attr, instance, modified)


def deletion(eid: str, attr: str, minutes: float, **members: Any) -> HistoryInstance:
    instance = {"type": "Property", "value": NGSI_LD_NULL, "createdAt": at(0), "modifiedAt": at(minutes), **members}
    return HistoryInstance(eid, attr, instance, at(minutes), deleted_at=at(minutes))


def fill(store: Store, tenant: str, keys: KeyService | None = None) -> dict[str, str]:
    """A tenant with entities, history over several pages, a kept identity, access records and
    an audit trail; returns the tokens of its keys."""
    if tenant not in store.tenants():
        store.create_tenant(tenant)
    lamps = [streetlight(n) for n in (1, 2, 3, 4)]
    with store.session(tenant, write=True) as session:
        session.insert(lamps)
        history = [measure(lamps[0]["id"], DIMMING, n % 100, n, unitCode="P1") for n in range(2500)]  # > 2 pages
        history += [measure(lamps[1]["id"], COUNT, n, 30, recorded=40 + n) for n in range(1500)]  # one instant
        for n in range(5):  # no observedAt: placed by their modifiedAt; a second datasetId; then deleted
            history.append(measure(lamps[0]["id"], POWER, "on" if n % 2 else "off", 100 + n, observed=False))
            history.append(measure(lamps[0]["id"], POWER, n, 100 + n, observed=False, datasetId=DATASET))
        history.append(deletion(lamps[0]["id"], POWER, 200, datasetId=DATASET))
        history.append(measure(lamps[2]["id"], STATUS, {"code": "ok", "levels": [1, 2]}, 7,
                               measuredBy=[{"type": "Relationship", "object": "urn:ngsi-ld:Device:7"}]))
        history.append(measure(GONE, DIMMING, 12.5, 3))
        session.append_history(history)
        session.delete([GONE])
        session.keep_deleted_entities([lamps[3]], at(300))
        session.append_audit([AuditRecord(at(n / 10), "update", lamps[n % 3]["id"], "key", "k1", "k1", "SIG",
                                           (DIMMING,)) for n in range(2400)]
                             + [AuditRecord(at(300), "delete", GONE, "user", "agent@lyon.fr", None, "Agent")])
    keys = keys or KeyService(store)
    _, editor = keys.create(tenant, "editor", "SIG")
    revoked, _ = keys.create(tenant, "reader", "ancien")
    keys.revoke(revoked.id)
    MemberService(store).add(tenant, "reader", email=f"agent@{tenant}.fr")
    store.set_public_types(tenant, [lamps[0]["type"][0]])
    store.put_quotas(tenant, QuotaLimits(entities=10_000, requests_per_minute=600))
    return {"editor": editor}


@pytest.fixture
def sqlite(tmp_path: Path) -> Iterator[Store]:
    """A SQLite platform beside the backend under test (the other end of a move)."""
    other = SqliteStore(tmp_path / "sqlite")
    yield other
    other.close()


def answers(page: TemporalPage) -> list[Any]:
    """A temporal answer without instance ids (a restore renumbers them)."""
    return [
        (e.id, e.types, e.scope, e.created_at, e.modified_at,
         [(s.attr, s.dataset_id, [(i.entity_id, i.attr, i.instance, i.modified_at, i.deleted_at) for i in s.instances],
           s.buckets) for s in e.series])
        for e in page.entities
    ] + [page.range]


def state(store: Store, tenant: str) -> dict[str, Any]:
    ids = (*(f"urn:ngsi-ld:Streetlight:{n:04d}" for n in (1, 2, 3)), GONE)
    everything = EntityQuery(ids=ids, limit=10)
    queries = [
        TemporalQuery(everything, instance_limit=10_000),
        TemporalQuery(everything, time=TimeRange("modifiedAt", "between", at(50), at(150)), instance_limit=10_000),
        TemporalQuery(everything, time=TimeRange("deletedAt"), instance_limit=10_000),
        TemporalQuery(everything, attrs=(POWER,), last_n=2),
        TemporalQuery(everything, instance_limit=700),
        TemporalQuery(everything, aggregation=Aggregation(("avg", "max", "totalCount"), "PT1H")),
    ]
    with store.session(tenant) as session:
        temporal = [answers(session.temporal_query(query)) for query in queries]
        audit = [record[:-1] for record in session.query_audit(AuditQuery(limit=10_000))[0]]
        entities = session.query(EntityQuery(limit=100)).entities
    return {
        "entities": entities,
        "temporal": temporal,
        "audit": audit,
        "keys": store.list_keys(tenant, limit=100),
        "members": store.list_members(tenant, limit=100),
        "public": store.public_types(tenant),
        "quotas": store.get_quotas(tenant),
    }


def test_a_tenant_with_history_access_and_audit_round_trips(store, sqlite: Store, tmp_path: Path):
    fill(store, "lyon")
    before = state(store, "lyon")
    assert len(before["temporal"][0][0][5][0][2]) == 2500 and before["temporal"][0][3][0] == GONE  # data as meant
    path = tmp_path / "lyon.jsonl.gz"
    saved = backup.backup(store, path, ["lyon"])
    assert saved == {"lyon": backup.Report(entities=3, instances=4013, kept=1, keys=2, members=1, audit=2401)}
    with gzip.open(path) as lines:
        kinds = [next(iter(orjson.loads(line))) for line in lines][1:]
    assert kinds.index("history") > max(i for i, k in enumerate(kinds) if k == "entity")
    assert all(k != "entity" for k in kinds[kinds.index("history"):])
    assert backup.restore(sqlite, path) == saved
    assert state(sqlite, "lyon") == before
    assert backup.restore(sqlite, path) == saved  # a second time: replaced, not duplicated
    assert state(sqlite, "lyon") == before


def test_a_sqlite_platform_moves_into_the_backend_under_test(store, sqlite: Store, tmp_path: Path):
    fill(sqlite, "lyon")
    path = tmp_path / "all.jsonl"
    backup.backup(sqlite, path, ["", "lyon"], platform=True)
    restored = backup.restore(store, path)
    assert list(restored) == [None, "", "lyon"]
    assert state(store, "lyon") == state(sqlite, "lyon")
    backup.restore(store, path)
    assert state(store, "lyon") == state(sqlite, "lyon")


def test_one_tenant_out_of_two_is_restored(store, sqlite: Store, tmp_path: Path):
    fill(sqlite, "lyon")
    fill(sqlite, "rennes")
    KeyService(sqlite).create(None, "operator", "exploitation")
    path = tmp_path / "all.jsonl"
    backup.backup(sqlite, path, ["lyon", "rennes"], platform=True)
    assert list(backup.restore(store, path, only="rennes")) == ["rennes"]
    assert store.tenants() == ["rennes"]
    assert state(store, "rennes") == state(sqlite, "rennes")
    assert store.list_keys(None)[1] == 2  # rennes's keys only: neither lyon's nor the operator's
    with store.session("rennes") as session:
        assert session.query_audit(AuditQuery(target=GONE))[1] == 1


def test_a_version_1_file_is_still_restored(store, tmp_path: Path):
    path = tmp_path / "v1.jsonl"
    lines = [{"format": "territoires-backup", "version": 1, "created": NOW}, {"tenant": "lyon"},
             {"entity": streetlight(1)}, {"entity": streetlight(2)}]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    reports = backup.restore(store, path)
    assert reports == {"lyon": backup.Report(entities=2)}
    with store.session("lyon") as session:
        assert session.query(EntityQuery()).entities == [streetlight(1), streetlight(2)]


def test_a_version_2_file_restores_audit_records_of_one_attribute_or_none(store, tmp_path: Path):
    path = tmp_path / "v2.jsonl"
    one = [at(1), "update", "urn:ngsi-ld:Streetlight:0001", "key", "k1", "k1", "SIG", DIMMING, ""]
    lines = [{"format": "territoires-backup", "version": 2, "created": NOW}, {"tenant": "lyon"},
             {"auditTrail": {"records": 2, "latest": at(2)}},
             {"audit": [one, [at(2), "delete", GONE, "user", "agent@lyon.fr", None, "Agent", None, ""]]}]
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    assert backup.restore(store, path) == {"lyon": backup.Report(audit=2)}
    with store.session("lyon") as session:
        records, _ = session.query_audit(AuditQuery())
    assert [(r.operation, r.attributes) for r in records] == [("delete", ()), ("update", (DIMMING,))]


def test_a_damaged_line_is_named_and_its_batch_is_not_written(store, sqlite: Store, tmp_path: Path):
    fill(sqlite, "lyon")
    path = tmp_path / "lyon.jsonl"
    backup.backup(sqlite, path, ["lyon"])
    lines = path.read_bytes().splitlines(keepends=True)
    second = [i for i, line in enumerate(lines) if line.startswith(b'{"history"')][1]
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"".join(lines[:second]) + lines[second][:200])  # the file ends inside a history line
    with pytest.raises(BadRequestData, match=f"line {second + 1} is not JSON"):
        backup.restore(store, cut)
    with store.session("lyon") as session:
        assert len(session.query(EntityQuery(limit=100)).entities) == 3  # batches before it are written
        page = session.temporal_query(TemporalQuery(EntityQuery(ids=("urn:ngsi-ld:Streetlight:0001",))))
        assert page.entities[0].series == []  # the history line before it was in the same batch
    bad = tmp_path / "bad.jsonl"
    record = orjson.loads(lines[second])
    del record["history"]["instances"][3]["instance"]["modifiedAt"]
    bad.write_bytes(b"".join(lines[:second]) + orjson.dumps(record) + b"\n")
    with pytest.raises(BadRequestData, match=f"line {second + 1}: a bad history record"):
        backup.restore(store, bad)
    gz = tmp_path / "cut.jsonl.gz"
    gz.write_bytes(gzip.compress(path.read_bytes())[:-2000])
    with pytest.raises(BadRequestData, match="damaged or cut short"):
        backup.restore(store, gz)


def test_identities_kept_longer_than_the_audit_trail_are_saved(store, sqlite: Store, tmp_path: Path):
    """The audit trail forgets deletions after its retention; a kept identity does not."""
    store.create_tenant("brest")
    lamps = [streetlight(n) for n in range(10, 40)]  # more than one read of kept ids
    with store.session("brest", write=True) as session:
        session.insert(lamps)
        session.append_history([measure(lamp["id"], DIMMING, n, n) for n, lamp in enumerate(lamps)])
        session.delete([lamp["id"] for lamp in lamps[1:]])
        session.keep_deleted_entities(lamps[1:], at(300))
        session.keep_deleted_entities(lamps[:1], at(300))  # then recreated: its current state answers
    path = tmp_path / "brest.jsonl"
    assert backup.backup(store, path, ["brest"])["brest"].kept == 29
    backup.restore(sqlite, path)
    with sqlite.session("brest") as session:
        page = session.temporal_query(TemporalQuery(EntityQuery(ids=tuple(lamp["id"] for lamp in lamps), limit=100)))
    assert [(e.id, e.modified_at, e.series[0].instances[0].instance["value"]) for e in page.entities] == [
        (lamp["id"], NOW if n == 0 else at(300), n) for n, lamp in enumerate(lamps)
    ]

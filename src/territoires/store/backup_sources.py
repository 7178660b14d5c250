"""What a backup reads beyond entities, through the storage port only: the history of a tenant
series by series, the identities of entities deleted with their history kept, and the audit
trail oldest first. Each read is a short session: a backup never holds a tenant open.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import orjson

from territoires.ngsild.model import Entity
from territoires.store.port import (
    AuditQuery,
    AuditRecord,
    EntityQuery,
    HistoryInstance,
    Store,
    TemporalEntity,
    TemporalQuery,
    TimeRange,
)

# Entities whose history one temporal query reads, and instances per series it returns at most:
# a page holds at most their product (times the attributes of an entity) in memory.
HISTORY_ENTITIES = 20
HISTORY_PAGE = 1000
# Audit records per read (and per line of the backup).
AUDIT_BATCH = 1000


@dataclass(frozen=True)
class SeriesChunk:
    """Consecutive instances of one series (attribute + datasetId), ascending by observedAt
    (an instance without it by its modifiedAt), insertion order breaking ties."""

    entity_id: str
    attr: str
    dataset_id: str | None
    instances: list[HistoryInstance]


def history_chunks(store: Store, tenant: str, ids: Sequence[str]) -> Iterator[SeriesChunk]:
    """Every recorded instance of these entities (deletion instances and every datasetId
    included), read with temporal pagination (clause 6.3.10): each page goes up to the instant
    every series covers completely, the next one starts at that instant, so the instances
    recorded at it are skipped by their ids."""
    query = TemporalQuery(EntityQuery(ids=tuple(ids), limit=len(ids)), time=TimeRange(), instance_limit=HISTORY_PAGE)
    previous: set[str] = set()  # instance ids of the last page
    while True:
        with store.session(tenant) as session:
            page = session.temporal_query(query)
        taken: set[str] = set()
        for entity in page.entities:
            for series in entity.series:
                taken.update(i.instance_id for i in series.instances if i.instance_id)
                fresh = [i for i in series.instances if i.instance_id not in previous]
                if fresh:
                    yield SeriesChunk(entity.id, series.attr, series.dataset_id, fresh)
        if page.range is None:
            return
        if taken <= previous:  # more instances at one instant than a page holds: ask for more
            query = TemporalQuery(query.entities, time=query.time, instance_limit=query.instance_limit * 2)
            continue
        query = TemporalQuery(query.entities, time=TimeRange("observedAt", "after", page.range[1]),
                              instance_limit=HISTORY_PAGE)
        previous = taken


def kept_entities(store: Store, tenant: str) -> Iterator[list[Entity]]:
    """The identities (id, types, scope, createdAt, modifiedAt: the deletion instant) of the
    entities deleted while their history was kept, by batches."""
    after = None
    while True:
        with store.session(tenant) as session:
            part = session.kept_entity_ids(after, HISTORY_ENTITIES)
            if not part:
                return
            current = session.created_at(part)
            # instance_limit 1: the identities are wanted here, their history is read apart.
            page = session.temporal_query(TemporalQuery(EntityQuery(ids=tuple(part), limit=len(part)),
                                                        instance_limit=1))
        found = [_identity(entity) for entity in page.entities if entity.id not in current]
        if found:
            yield found
        after = part[-1]


def _identity(entity: TemporalEntity) -> Entity:
    identity: Entity = {"id": entity.id, "type": entity.types, "createdAt": entity.created_at,
                        "modifiedAt": entity.modified_at}
    if entity.scope is not None:
        identity["scope"] = entity.scope
    return identity


# A record of the audit trail as a backup line holds it: its fields but the store's number.
# Its attributes are a list since version 3; before, one name or null.
_ATTRIBUTES = AuditRecord._fields.index("attributes")


def audit_row(record: AuditRecord) -> list[Any]:
    return list(record[:-1])


def audit_record(row: Sequence[Any]) -> AuditRecord:
    if len(row) != len(AuditRecord._fields) - 1:
        raise ValueError(f"an audit row has {len(AuditRecord._fields) - 1} fields, not {len(row)}")
    names = row[_ATTRIBUTES]
    attributes = tuple(names) if isinstance(names, list) else (names,) if names else ()
    return AuditRecord(*row[:_ATTRIBUTES], attributes, *row[_ATTRIBUTES + 1:])


@dataclass
class AuditTrail:
    """A tenant's audit trail read newest first (the port's order), kept in a spool file to be
    given back oldest first, batch by batch, as a restore must append it."""

    count: int
    latest: str | None  # the latest instant of the trail
    batches: Callable[[], Iterator[list[AuditRecord]]]


def audit_trail(store: Store, tenant: str, spool: IO[bytes]) -> AuditTrail:
    """Read the whole trail of ``tenant`` into ``spool`` (one line per batch, newest first);
    the returned ``batches`` reads it back oldest first, one batch in memory at a time."""
    offsets: list[int] = []
    count, latest, before = 0, None, None
    while True:
        with store.session(tenant) as session:
            records, _ = session.query_audit(AuditQuery(before_seq=before, limit=AUDIT_BATCH, count=False))
        if not records:
            break
        offsets.append(spool.tell())
        spool.write(orjson.dumps([audit_row(r) for r in records]) + b"\n")
        count += len(records)
        newest = max(r.at for r in records)
        latest = newest if latest is None else max(latest, newest)
        before = records[-1].seq
        if len(records) < AUDIT_BATCH:
            break

    def batches() -> Iterator[list[AuditRecord]]:
        for offset in reversed(offsets):
            spool.seek(offset)
            yield [audit_record(row) for row in reversed(orjson.loads(spool.readline()))]

    return AuditTrail(count, latest, batches)

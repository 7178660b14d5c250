"""The audit trail: who wrote what, and when, in each tenant.

Entity writes are recorded by ``AuditRecorder``, an observer of the change feed: each change
becomes records written through the change's own write session, so a write and its records
commit or roll back together. What the records say is derived from the change itself:
- an entity created or deleted: one record (``create``, ``delete``), no attribute;
- an entity changed: one record per operation done to its attributes, naming the attributes it
  did it to (``append`` those that are new, ``update`` those that differ, ``deleteAttribute``
  those that are gone), its types and scope counting as attributes named ``@type`` and the
  core ``scope``. An uplink updating four measures is one record: the trail of a sensor
  network grows by one row per measured entity, not one per measure;
- an entity replaced whole by an upsert that did not read its previous state (the feed spares
  batch upserts that read): one ``replace`` record, no attribute.
So a merge, an update by a sensor or a purge keeping some attributes are recorded by what they
did to each attribute, whatever API call made them; the author tells the calls apart.

Other writes (subscriptions, @contexts, devices, keys, members, tenants, quotas) are recorded
by the enforcement point after they succeed, through ``AuditService.record``.

Who: the ``Actor`` the edge set for the request (``broker.actor``): principal kind, subject,
credential id and name, nothing more (no address, no user agent, no request body: RGPD).
Retention: records older than ``audit_retention_days`` are deleted by ``AuditService.purge``,
which a ``Sweeper`` (broker/sweeper.py) runs hourly in each ``territoires serve`` (cli.py) and
``territoires audit purge`` runs by hand.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

from territoires import clock
from territoires.broker.actor import Actor, current_actor
from territoires.broker.changes import Change
from territoires.broker.tenants import in_every_tenant
from territoires.ngsild.errors import BadRequestData
from territoires.ngsild.model import NGSI_LD
from territoires.ngsild.temporal import format_instant
from territoires.store.port import (
    AuditQuery,
    AuditRecord,
    Store,
    TenantSession,
)

log = logging.getLogger("territoires.audit")

# What happened to an entity or one of its attributes.
CREATE, DELETE, REPLACE = "create", "delete", "replace"
APPEND, UPDATE, DELETE_ATTRIBUTE = "append", "update", "deleteAttribute"
# Records deleted from the trail (retention or by hand): recorded in the trail too.
PURGE = "purgeAudit"
# The names the records give an entity's types and scope (their expanded core names).
TYPE_ATTRIBUTE, SCOPE_ATTRIBUTE = "@type", NGSI_LD + "scope"

# Records an export reads per session: each batch is a short read, never a session held open
# while a client downloads.
EXPORT_BATCH = 1000
# Seconds between two retention sweeps of a serving process.
SWEEP_INTERVAL = 3600.0


def change_records(change: Change, actor: Actor) -> list[AuditRecord]:
    """The records of one change, by ``actor`` (see the module's docstring)."""

    who = (actor.kind, actor.subject, actor.credential_id, actor.name)
    at, target = change.at, change.entity_id

    def record(operation: str, attributes: tuple[str, ...] = ()) -> AuditRecord:
        return AuditRecord(at, operation, target, *who, attributes)

    old, new = change.old, change.new
    if old is None:
        return [record(CREATE)]
    if new is None:
        return [record(DELETE)]
    if "attrs" not in old:  # a replacing upsert kept only the previous creation instant
        return [record(REPLACE)]
    updated = [name for name, key in ((TYPE_ATTRIBUTE, "type"), (SCOPE_ATTRIBUTE, "scope"))
               if old.get(key) != new.get(key)]
    before, after = old.get("attrs", {}), new.get("attrs", {})
    appended: list[str] = []
    for name, instances in after.items():
        previous = before.get(name)
        if previous is None:
            appended.append(name)
        elif previous is not instances and previous != instances:  # a value, a member or a stamp differs
            updated.append(name)
    gone = [name for name in before if name not in after] if len(before) + len(appended) != len(after) else []
    done = {APPEND: appended, UPDATE: updated, DELETE_ATTRIBUTE: gone}
    return [record(operation, tuple(sorted(names))) for operation, names in done.items() if names]


class AuditRecorder:
    """A ChangeObserver (``broker.changes``) recording every entity change in the audit trail."""

    def needs_previous(self, tenant: str, session: TenantSession) -> bool:
        return False

    def observe(self, tenant: str, session: TenantSession, changes: Sequence[Change]) -> None:
        actor = current_actor()
        records = [record for change in changes for record in change_records(change, actor)]
        if records:
            session.append_audit(records)


def retention_cutoff(days: int, now: datetime | None = None) -> str | None:
    """The instant before which records are past a retention of ``days`` (None: keep them all,
    for 0 or a retention longer than the calendar)."""
    if days <= 0:
        return None
    try:
        return format_instant((now or datetime.now(UTC)) - timedelta(days=days))
    except OverflowError:
        return None


def parse_instant(value: str, name: str) -> str:
    """An ISO 8601 date or instant given by a person, in the trail's own form (UTC, ``Z``). A
    date alone is its midnight UTC; a time of day needs ``Z`` or an offset, never local time."""
    try:
        moment = datetime.combine(date.fromisoformat(value), time(), UTC)
    except ValueError:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise BadRequestData(f"{name} must be an ISO 8601 date or instant, such as 2026-11-28 or "
                                 f"2026-11-28T10:00:00Z, not {value!r}") from None
    if moment.tzinfo is None:
        raise BadRequestData(f"{name} {value!r} has no time zone: end it with Z (UTC) or an offset such as +01:00")
    try:
        return format_instant(moment)
    except OverflowError:
        raise BadRequestData(f"{name} {value!r} is out of the calendar's range") from None


class AuditService:
    """The tenant's audit trail for its administrators, and the records of non-entity writes."""

    def __init__(self, store: Store, retention_days: int) -> None:
        self.store = store
        self.retention_days = retention_days

    def record(self, tenant: str, operation: str, target: str, detail: str = "", *,
               actor: Actor | None = None) -> AuditRecord:
        """Record a write made outside the change feed (a subscription, a key, a tenant…), in a
        write session of its own, by ``actor`` (default: the current one)."""
        record = self._record(operation, target, detail, actor)
        with self.store.session(tenant, write=True) as session:
            session.append_audit([record])
        return record

    @staticmethod
    def _record(operation: str, target: str, detail: str, actor: Actor | None = None) -> AuditRecord:
        who = actor or current_actor()
        return AuditRecord(at=clock.now(), operation=operation, target=target, kind=who.kind, subject=who.subject,
                           credential_id=who.credential_id, name=who.name, detail=detail)

    def query(self, tenant: str, query: AuditQuery) -> tuple[list[AuditRecord], int]:
        """A page of the records ``query`` selects, newest first, and how many match."""
        with self.store.session(tenant) as session:
            records, count = session.query_audit(replace(query, count=True))
        return records, count or 0

    def export(self, tenant: str, query: AuditQuery, *, batch_size: int = EXPORT_BATCH) -> Iterator[AuditRecord]:
        """Every record ``query`` selects (its page ignored), newest first, read in batches of
        ``batch_size`` each in a short session of its own. The first batch is read at once
        (an unknown tenant is refused before anything is sent); records written meanwhile are
        newer than the walk's start and are left out: the export is the trail as it stood."""
        batch = replace(query, offset=0, limit=batch_size, count=False, before_seq=None)
        with self.store.session(tenant) as session:
            first, _ = session.query_audit(batch)
        return self._walk(tenant, batch, first)

    def _walk(self, tenant: str, batch: AuditQuery, records: list[AuditRecord]) -> Iterator[AuditRecord]:
        while records:
            yield from records
            if len(records) < batch.limit:
                return
            batch = replace(batch, before_seq=records[-1].seq)
            with self.store.session(tenant) as session:
                records, _ = session.query_audit(batch)

    def purge(self, before: str | None = None) -> dict[str, int]:
        """Delete, in every tenant, the records older than ``before`` (default: past the
        retention; with a retention of 0 and no ``before``, nothing). How many, by tenant (only
        tenants where some were deleted)."""
        before = before or retention_cutoff(self.retention_days)
        if before is None:
            return {}

        def forget(tenant: str) -> int:
            with self.store.session(tenant, write=True) as session:
                count = session.forget_audit(before)
                if count:  # deleting records is a write the trail keeps too
                    session.append_audit([self._record(PURGE, "audit", f"{count} records before {before}")])
            return count

        purged = in_every_tenant(self.store, forget)
        if purged:
            log.info("audit retention: %d records deleted", sum(purged.values()))
        return purged

"""Logical backups of tenants, for any backend: one JSON document per line (gzip when the
file name ends in ``.gz``). The same file restores into SQLite or PostgreSQL, so it also
moves a platform from the embedded store to a production database.

Layout, line by line (version 3; files of version 1, which stop at the entities, and of version
2, whose audit records name one attribute or none, are read too)::

    {"format": "territoires-backup", "version": 3, "created": "…Z"}
    {"platform": true}            when the whole platform is saved, what belongs to no tenant:
    {"key": {…}}, {"member": {…}}   the API keys and members of operators and national roles
    {"tenant": "<name>"}          then that tenant's records:
    {"context": {…}}              its stored @contexts, oldest first
    {"subscription": {…}}         its subscriptions, in creation order
    {"device": {…}}               the LoRaWAN devices registered to it
    {"entity": {…}}               its entities (internal form), in creation order
    {"history": {…}}              its recorded attribute instances: one line per chunk (at most
                                  1000) of a series, {"entity", "attr", "datasetId", "instances":
                                  [{"instance": {…}, "deletedAt": …}, …]}, in time order
    {"kept": {…}}                 identities of entities deleted with their history kept
                                  (followed by their history lines)
    {"key": {…}}, {"member": {…}} its API keys (the hash of their secret only) and members
    {"publicTypes": […]}          the entity types anonymous visitors may read
    {"quotas": {…}}               its own quotas
    {"auditTrail": {"records": n, "latest": "…Z"}} then {"audit": [[…], …]}: its audit trail,
                                  oldest first, 1000 records a line (fields of AuditRecord but seq;
                                  its attributes as a list)

Entities are read page by page with the store's own cursor and history with temporal
pagination, so a backup of a large tenant holds one page in memory (the audit trail goes
through a temporary file, the port reading it newest first); records are written back in
batches, each batch one write session (so a batch is written whole or not at all).

Restoring into a tenant replaces what the backup carries for it, so that restoring twice
duplicates nothing: entities, subscriptions and devices present are replaced, @contexts
present are kept; each history series of the backup (entity, attribute, datasetId) replaces
the series of the same name, other series are kept; kept identities, public types and quotas
are replaced; API keys and members are added when missing (those present, same id, are kept
as they are); the audit records up to the latest instant saved are replaced by the backup's
(later ones are kept). Instances get new instance ids (``append_history`` assigns them): an
instanceId noted before the restore names nothing after it. Instances of equal time keep
their order by observedAt; under other time properties their insertion order may differ.
Not saved: notifications waiting in the outbox, delivery counters, quota usage, LoRaWAN
deduplication frames and quarantine, the full-text index (rebuilt by ``after_tenant``).
"""

from __future__ import annotations

import gzip
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

import orjson

from territoires.clock import now
from territoires.ngsild.errors import AlreadyExists, BadRequestData, NgsiLdError
from territoires.ngsild.model import Entity
from territoires.ngsild.subscription import Subscription
from territoires.ngsild.temporal import format_instant
from territoires.store.backup_sources import (
    HISTORY_ENTITIES,
    SeriesChunk,
    audit_record,
    audit_row,
    audit_trail,
    history_chunks,
    kept_entities,
)
from territoires.store.port import (
    ApiKey,
    Device,
    EntityQuery,
    HistoryInstance,
    Member,
    QuotaLimits,
    Store,
    StoredContext,
    chunks,
)

FORMAT = "territoires-backup"
VERSION = 3
READABLE = (1, 2, 3)
BATCH = 1000  # entities, identities or instances per page and per write

# What a progress report counts.
ENTITIES, INSTANCES = "entities", "instances"
Progress = Callable[[str, str, int], None]  # (tenant, ENTITIES or INSTANCES, how many so far)
AfterTenant = Callable[[str], object]  # called once a tenant is restored


@dataclass
class Report:
    """How many records of each kind a backup saved (or a restore read) for a tenant."""

    entities: int = 0
    instances: int = 0
    kept: int = 0
    keys: int = 0
    members: int = 0
    audit: int = 0


Write = Callable[[str, Any], None]


def _open(path: Path, mode: str) -> IO[bytes]:
    return gzip.open(path, mode) if path.suffix == ".gz" else open(path, mode)


# ---- backup -----------------------------------------------------------------------------------
def backup(store: Store, path: Path, tenants: list[str], progress: Progress | None = None, *,
           platform: bool = False) -> dict[str | None, Report]:
    """Write ``tenants`` (and with ``platform`` the keys and members of no tenant, reported
    under None) to ``path``; returns what was saved per tenant."""
    reports: dict[str | None, Report] = {}
    with _open(path, "wb") as out, tempfile.TemporaryFile() as spool:
        def write(kind: str, value: Any) -> None:
            out.write(orjson.dumps({kind: value}) + b"\n")

        out.write(orjson.dumps({"format": FORMAT, "version": VERSION, "created": now()}) + b"\n")
        if platform:
            write("platform", True)
            reports[None] = Report()
            _write_access(store, None, write, reports[None])
        for tenant in tenants:
            spool.seek(0)
            spool.truncate()
            reports[tenant] = _backup_tenant(store, tenant, write, spool, progress)
    return reports


def _backup_tenant(store: Store, tenant: str, write: Write, spool: IO[bytes], progress: Progress | None) -> Report:
    report = Report()
    write("tenant", tenant)
    with store.session(tenant) as session:
        for context in session.list_contexts():
            write("context", asdict(context))
        for subscription in _all(lambda offset: session.query_subscriptions(offset, BATCH)):
            write("subscription", subscription.to_document())
    for device in _all(lambda offset: store.list_devices(tenant=tenant, offset=offset, limit=BATCH)):
        write("device", device._asdict())
    for page in _pages(store, tenant):
        for entity in page:
            write("entity", entity)
        report.entities += len(page)
        if progress:
            progress(tenant, ENTITIES, report.entities)
    for page in _pages(store, tenant):
        for ids in chunks([entity["id"] for entity in page], HISTORY_ENTITIES):
            _write_history(store, tenant, ids, write, report, progress)
    for identities in kept_entities(store, tenant):
        for identity in identities:
            write("kept", identity)
        report.kept += len(identities)
        _write_history(store, tenant, [identity["id"] for identity in identities], write, report, progress)
    _write_access(store, tenant, write, report)
    trail = audit_trail(store, tenant, spool)
    write("auditTrail", {"records": trail.count, "latest": trail.latest})
    for records in trail.batches():
        write("audit", [audit_row(record) for record in records])
        report.audit += len(records)
    return report


def _write_history(store: Store, tenant: str, ids: Sequence[str], write: Write, report: Report,
                   progress: Progress | None) -> None:
    written = 0
    for chunk in history_chunks(store, tenant, ids):
        write("history", {"entity": chunk.entity_id, "attr": chunk.attr, "datasetId": chunk.dataset_id,
                          "instances": [_saved(instance) for instance in chunk.instances]})
        written += len(chunk.instances)
    if written:
        report.instances += written
        if progress:
            progress(tenant, INSTANCES, report.instances)


def _saved(item: HistoryInstance) -> dict[str, Any]:
    saved: dict[str, Any] = {"instance": item.instance}
    if item.deleted_at is not None:
        saved["deletedAt"] = item.deleted_at
    if item.modified_at != item.instance.get("modifiedAt"):
        saved["modifiedAt"] = item.modified_at
    return saved


def _write_access(store: Store, tenant: str | None, write: Write, report: Report) -> None:
    """Keys and members of ``tenant`` (None: of no tenant), its public types and quotas."""
    for key in _all(lambda offset: store.list_keys(tenant, offset=offset, limit=BATCH)):
        if key.tenant == tenant:
            write("key", asdict(key))
            report.keys += 1
    for member in _all(lambda offset: store.list_members(tenant, offset=offset, limit=BATCH)):
        if member.tenant == tenant:
            write("member", asdict(member))
            report.members += 1
    if tenant is not None:
        write("publicTypes", sorted(store.public_types(tenant)))
        write("quotas", asdict(store.get_quotas(tenant)))


def _all(page: Callable[[int], tuple[list[Any], int]]) -> Iterator[Any]:
    """Every item of an offset-paged listing."""
    offset = 0
    while True:
        items, total = page(offset)
        yield from items
        offset += len(items)
        if not items or offset >= total:
            return


def _pages(store: Store, tenant: str) -> Iterator[list[dict[str, Any]]]:
    cursor = None
    while True:
        with store.session(tenant) as session:
            page = session.query(EntityQuery(limit=BATCH, after=cursor))
        if page.entities:
            yield page.entities
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


# ---- restore ----------------------------------------------------------------------------------
def restore(store: Store, path: Path, only: str | None = None, progress: Progress | None = None,
            after_tenant: AfterTenant | None = None) -> dict[str | None, Report]:
    """Load a backup (all its tenants and its platform records, or ``only`` that tenant) by the
    rules of this module's docstring; tenants are created when missing. ``after_tenant`` is
    called with each tenant once its records are written (the broker rebuilds its full-text
    index there). Returns what was read per tenant (None: the platform records)."""
    with _open(path, "rb") as source:
        lines = _lines(source, path)
        first = next(lines, (1, b"{}"))
        header = _record(first[1], first[0], path)
        if header.get("format") != FORMAT or header.get("version") not in READABLE:
            raise BadRequestData(f"{path} is not a {FORMAT} file of version {' or '.join(map(str, READABLE))}")
        loader = _Loader(store, path, only, progress, after_tenant)
        for number, line in lines:
            loader.load(_record(line, number, path), number)
        loader.finish()
    return loader.reports


def _lines(source: IO[bytes], path: Path) -> Iterator[tuple[int, bytes]]:
    """The non-blank lines of the file and their numbers; a damaged compressed file is refused."""
    number = 0
    try:
        for number, line in enumerate(source, start=1):
            if line.strip():
                yield number, line
    except (EOFError, OSError, zlib.error) as error:
        raise BadRequestData(f"{path}: unreadable after line {number}, the file is damaged or cut short "
                             f"({error})") from None


def _record(line: bytes, number: int, path: Path) -> dict[str, Any]:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        raise BadRequestData(f"{path}, line {number} is not JSON (cut short?): {error}") from None
    if not isinstance(record, dict):
        raise BadRequestData(f"{path}, line {number} is not a JSON object")
    return record


_PLATFORM_KINDS = ("key", "member")


class _Loader:
    """Applies the records of a backup, line by line, to a store."""

    def __init__(self, store: Store, path: Path, only: str | None, progress: Progress | None,
                 after_tenant: AfterTenant | None) -> None:
        self.store, self.path, self.only = store, path, only
        self.progress, self.after_tenant = progress, after_tenant
        self.reports: dict[str | None, Report] = {}
        self.section: str | None = None  # "tenant" or "platform", once one has begun
        self.tenant: str | None = None  # the tenant restored (None: skipped, or the platform)
        self.batch: list[Any] = []
        self.batch_kind: str | None = None
        self.batch_lines = (0, 0)
        self.batch_size = 0
        self.series: set[tuple[str, str, str | None]] = set()  # series replaced so far
        self.audit_until: str | None = None  # the audit records before it are to be replaced
        self.handlers: dict[str, Callable[[Any, int], None]] = {
            "context": self._context, "subscription": self._subscription, "device": self._device,
            "entity": self._entity, "history": self._history, "kept": self._kept, "key": self._key,
            "member": self._member, "publicTypes": self._public_types, "quotas": self._quotas,
            "auditTrail": self._audit_trail, "audit": self._audit,
        }

    @property
    def report(self) -> Report:
        return self.reports[self.tenant]

    def load(self, record: dict[str, Any], number: int) -> None:
        if len(record) != 1:
            raise BadRequestData(f"{self.path}, line {number}: unknown record {sorted(record)}")
        kind, value = next(iter(record.items()))
        if kind != self.batch_kind:
            self.flush()
        if kind in ("tenant", "platform"):
            self.finish()
            self.section = kind
            self.tenant = None
            if kind == "tenant":
                self._begin(value, number)
            elif self.only is None:
                self.reports[None] = Report()
            return
        if self.section is None:
            raise BadRequestData(f"{self.path}, line {number}: a record before any tenant")
        if (self.section == "tenant" and self.tenant is None) or (self.section == "platform" and self.only is not None):
            return  # a tenant (or the platform's records) we were asked to skip
        handler = self.handlers.get(kind)
        if handler is None or (self.section == "platform" and kind not in _PLATFORM_KINDS):
            raise BadRequestData(f"{self.path}, line {number}: unknown record {kind!r}")
        try:
            handler(value, number)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            why = f"lacks the member {error}" if isinstance(error, KeyError) else str(error)
            raise BadRequestData(f"{self.path}, line {number}: a bad {kind} record ({why})") from None
        except NgsiLdError as error:
            raise BadRequestData(f"{self.path}, line {number}: {error.detail}") from None

    def _begin(self, tenant: Any, number: int) -> None:
        if not isinstance(tenant, str):
            raise BadRequestData(f"{self.path}, line {number}: a tenant is named by a string")
        if self.only is not None and tenant != self.only:
            return
        if tenant != "" and tenant not in self.store.tenants():
            self.store.create_tenant(tenant)
        self.tenant = tenant
        self.reports[tenant] = Report()
        self.series.clear()
        self.audit_until = None

    def finish(self) -> None:
        """End the current section: write its last batch, then let the caller know."""
        self.flush()
        if self.section == "tenant" and self.tenant is not None and self.after_tenant:
            self.after_tenant(self.tenant)
        self.section = None

    # ---- records written at once ----
    def _context(self, value: dict[str, Any], number: int) -> None:
        context = StoredContext(**value)
        with self.store.session(self._tenant, write=True) as session:
            if session.get_context(context.id) is None:
                session.put_context(context)

    def _subscription(self, value: dict[str, Any], number: int) -> None:
        subscription = Subscription.from_document(value)
        with self.store.session(self._tenant, write=True) as session:
            if session.get_subscription(subscription.id) is None:
                session.put_subscription(subscription)
            else:
                session.replace_subscription(subscription)

    def _device(self, value: dict[str, Any], number: int) -> None:
        device = Device(**{**value, "tenant": self._tenant})
        if not self.store.replace_device(device):
            self.store.put_device(device)

    def _key(self, value: dict[str, Any], number: int) -> None:
        key = ApiKey(**{**value, "tenant": self.tenant})
        if self.store.get_key(key.id) is None:
            self.store.put_key(key)
        self.report.keys += 1

    def _member(self, value: dict[str, Any], number: int) -> None:
        member = Member(**{**value, "tenant": self.tenant})
        if self.store.get_member(member.id) is None:
            try:
                self.store.put_member(member)
            except AlreadyExists:
                pass  # the person already has this role here, under another id
        self.report.members += 1

    def _public_types(self, value: list[str], number: int) -> None:
        if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
            raise TypeError("publicTypes is a list of type IRIs")
        self.store.set_public_types(self._tenant, value)

    def _quotas(self, value: dict[str, Any], number: int) -> None:
        self.store.put_quotas(self._tenant, QuotaLimits(**value))

    def _audit_trail(self, value: dict[str, Any], number: int) -> None:
        latest = value["latest"]
        # Every record at or before the latest saved instant is replaced: forget up to the next microsecond.
        self.audit_until = None if latest is None else format_instant(datetime.fromisoformat(latest)
                                                                      + timedelta(microseconds=1))

    def _audit(self, value: list[list[Any]], number: int) -> None:
        records = [audit_record(row) for row in value]
        with self.store.session(self._tenant, write=True) as session:
            if self.audit_until is not None:
                session.forget_audit(self.audit_until)
            session.append_audit(records)
        self.audit_until = None
        self.report.audit += len(records)

    # ---- records written in batches ----
    def _entity(self, value: Entity, number: int) -> None:
        if not isinstance(value, dict) or not isinstance(value.get("id"), str):
            raise TypeError("an entity is an object with an id")
        self._add("entity", value, 1, number)

    def _history(self, value: dict[str, Any], number: int) -> None:
        entity, attr, dataset = value["entity"], value["attr"], value["datasetId"]
        instances = [HistoryInstance(entity, attr, item["instance"],
                                     item.get("modifiedAt") or item["instance"]["modifiedAt"], item.get("deletedAt"))
                     for item in value["instances"]]
        self._add("history", SeriesChunk(entity, attr, dataset, instances), len(instances), number)

    def _kept(self, value: Entity, number: int) -> None:
        missing = [m for m in ("id", "type", "createdAt", "modifiedAt") if m not in value]
        if missing:
            raise ValueError(f"a kept identity lacks {', '.join(missing)}")
        self._add("kept", value, 1, number)

    @property
    def _tenant(self) -> str:
        assert self.tenant is not None  # records of a skipped tenant are not loaded
        return self.tenant

    def _add(self, kind: str, item: Any, size: int, number: int) -> None:
        if not self.batch:
            self.batch_kind, self.batch_lines = kind, (number, number)
        self.batch.append(item)
        self.batch_lines = (self.batch_lines[0], number)
        self.batch_size += size
        if self.batch_size >= BATCH:
            self.flush()

    def flush(self) -> None:
        """Write the pending batch in one write session: whole, or (on an error) not at all."""
        if not self.batch:
            self.batch_kind = None
            return
        kind, batch, tenant = self.batch_kind, self.batch, self._tenant
        try:
            with self.store.session(tenant, write=True) as session:
                if kind == "entity":
                    session.replace(batch)
                elif kind == "history":
                    for chunk in batch:
                        key = (chunk.entity_id, chunk.attr, chunk.dataset_id)
                        if key not in self.series:  # its first chunk: the series restored replaces the present one
                            session.delete_history(chunk.entity_id, chunk.attr, chunk.dataset_id)
                            self.series.add(key)
                    session.append_history([i for chunk in batch for i in chunk.instances])
                else:
                    for identity in batch:
                        session.keep_deleted_entities([identity], identity["modifiedAt"])
        except NgsiLdError as error:
            first, last = self.batch_lines
            raise BadRequestData(f"{self.path}, lines {first} to {last}: {error.detail}") from None
        if kind == "entity":
            self.report.entities += len(batch)
        elif kind == "history":
            self.report.instances += self.batch_size
        else:
            self.report.kept += len(batch)
        self.batch, self.batch_kind, self.batch_size = [], None, 0
        if self.progress and kind in ("entity", "history"):
            counted = ENTITIES if kind == "entity" else INSTANCES
            self.progress(tenant, counted, self.report.entities if kind == "entity" else self.report.instances)

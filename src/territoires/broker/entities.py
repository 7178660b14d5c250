"""The entity service: create, read, change and delete entities of a tenant (clauses 5.6, 5.7).

Callers (the HTTP API, ingestion, domain modules) pass request bodies with the active @context;
this service parses them with ``ngsild``, applies the NGSI-LD update semantics inside one
write session of the store (so read-modify-write is atomic) and hands whole entities to the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, TypeVar

from territoires import clock
from territoires.broker.actor import Actor, acting, current_actor
from territoires.broker.changes import Change, ChangeFeed
from territoires.broker.coalescing import Coalescer
from territoires.broker.tenants import in_every_tenant
from territoires.ngsild import entity as parse
from territoires.ngsild import updates
from territoires.ngsild.context import Context
from territoires.ngsild.errors import AlreadyExists, BadRequestData, NgsiLdError, NonexistentTenant, ResourceNotFound
from territoires.ngsild.join import Fetch
from territoires.ngsild.model import Entity
from territoires.ngsild.query import link_depth, narrow_selection
from territoires.store.port import EntityQuery, Frame, QueryPage, Store, TenantSession, Unavailable

UpdateResult = dict[str, Any]
T = TypeVar("T")
log = logging.getLogger("territoires.entities")
# Transient entities expired per write transaction: a sweep holds the tenant's lock briefly at a time.
EXPIRY_BATCH = 500


@dataclass
class BatchResult:
    """Per-entity outcome of a batch operation (BatchOperationResult, clause 5.2.16)."""

    success: list[str] = field(default_factory=list)
    errors: list[tuple[str, NgsiLdError]] = field(default_factory=list)
    created: list[str] = field(default_factory=list)

    def fail(self, entity_id: str, error: NgsiLdError) -> None:
        self.errors.append((entity_id, error))


class _Creation(NamedTuple):
    entity: Entity
    actor: Actor
    staged: object  # what the store prepared for writing it (``Store.stage``)


class EntityService:
    """Every write publishes what it changed to ``feed`` inside its write session."""

    def __init__(self, store: Store, feed: ChangeFeed | None = None) -> None:
        self.store = store
        self.feed = feed or ChangeFeed()
        # A database out of reach, or a tenant that does not exist, fails every creation of a round.
        self._creations: Coalescer[_Creation, str] = Coalescer(
            self._create_together, shared_failures=(Unavailable, NonexistentTenant))

    # ---- single entities ----------------------------------------------------------------
    def create(self, tenant: str, body: Any, ctx: Context) -> str:
        """Create Entity (clause 5.6.1). Concurrent creations in a tenant share one write
        (``coalescing``); each is still stamped, checked and answered on its own."""
        return self._creations.submit(tenant, self._creation(body, ctx))

    async def create_async(self, tenant: str, body: Any, ctx: Context) -> str:
        """``create`` for a caller in an event loop: it waits for its round there, not in a thread."""
        return await self._creations.submit_async(tenant, self._creation(body, ctx))

    def _creation(self, body: Any, ctx: Context) -> _Creation:
        """A creation to carry out, its rows prepared before it queues for the write lock."""
        entity = parse.parse_entity(body, ctx, now=clock.now())
        return _Creation(entity, current_actor(), self.store.stage([entity]))

    def _create_together(self, tenant: str, collect: Callable[[], Sequence[_Creation]]) -> list[str | NgsiLdError]:
        """Create the entities of concurrent requests in one write session."""
        with self.store.session(tenant, write=True) as session:
            creations = collect()  # those that queued while the session waited
            session.use_staged([creation.staged for creation in creations])
            return self._insert_new(tenant, session, creations)

    def _insert_new(self, tenant: str, session: TenantSession,
                    creations: Sequence[_Creation]) -> list[str | NgsiLdError]:
        """Insert each entity not stored yet, each creation recorded as its author's; the id of
        each, or ``AlreadyExists`` for one stored already or given twice."""
        taken = set(session.created_at([creation.entity["id"] for creation in creations]))
        outcomes: list[str | NgsiLdError] = []
        by_author: dict[Actor, list[Entity]] = {}
        for entity, actor, _ in creations:
            if entity["id"] in taken:
                outcomes.append(AlreadyExists(f"entity {entity['id']} already exists"))
                continue
            taken.add(entity["id"])
            outcomes.append(entity["id"])
            by_author.setdefault(actor, []).append(entity)
        session.insert([entity for fresh in by_author.values() for entity in fresh])
        for actor, fresh in by_author.items():
            with acting(actor):
                self.feed.publish(tenant, session, [Change(None, e, e["modifiedAt"]) for e in fresh])
        return outcomes

    def retrieve(self, tenant: str, entity_id: str, *, attrs: frozenset[str] | None = None,
                 entity_type: str | None = None) -> Entity:
        """The entity; with ``attrs``, it must hold at least one of them (clause 5.7.1); with
        ``entity_type``, be of that type (see ``_selected``). What has expired (clause 4.22) is
        not shown, even before the expiry sweep deletes it."""
        parse.validate_entity_id(entity_id)
        with self.store.session(tenant) as session:
            stored = session.get([entity_id]).get(entity_id)
        current = updates.expire(stored, now=clock.now()) if stored is not None else None
        found = _selected(current, entity_id, entity_type)
        if attrs is not None and not attrs & found["attrs"].keys():
            raise ResourceNotFound(f"entity {entity_id} has none of the attributes asked for")
        return found

    def query(self, tenant: str, query: EntityQuery) -> QueryPage:
        with self.store.session(tenant) as session:
            return session.query(query)

    def with_linked(self, tenant: str, expand: Callable[[Fetch], T]) -> T:
        """Linked Entity Retrieval (clause 4.5.23): ``expand`` gets a fetch of stored entities by
        id, which it calls once per level with all that level's ids; all calls share one read
        session, so the linked entities come from one state of the tenant."""
        with self.store.session(tenant) as session:
            return expand(session.get)

    def purge(self, tenant: str, query: EntityQuery, *, keep: frozenset[str] | None, drop: frozenset[str] | None,
              local: bool = False) -> None:
        """Purge Entities (clause 5.6.21): delete the selected entities, or with ``keep`` /
        ``drop`` only some attributes of each. ``local``: the caller limited it to the local
        scope (clause 5.5.13), which needs no other selection."""
        if keep is not None and drop is not None:
            raise BadRequestData("keep and drop cannot be used together")
        _check_purge_selection(query, local)
        now = clock.now()
        with self.store.session(tenant, write=True) as session:
            if keep is None and drop is None and not self.feed.observers:
                session.delete_matching(query)
                return
            page = session.query(replace(query, limit=1000, offset=0, count=False))
            while page.entities:
                if keep is None and drop is None:
                    session.delete([e["id"] for e in page.entities])
                    changes = [Change(e, None, now) for e in page.entities]
                else:
                    kept = [updates.keep_attributes(e, keep, drop, now=now) for e in page.entities]
                    session.replace(kept)
                    changes = [Change(old, new, now) for old, new in zip(page.entities, kept, strict=True)]
                self.feed.publish(tenant, session, changes)
                if page.next_cursor is None:
                    break
                page = session.query(replace(query, limit=1000, offset=0, count=False, after=page.next_cursor))

    def delete(self, tenant: str, entity_id: str, *, entity_type: str | None = None) -> None:
        parse.validate_entity_id(entity_id)
        with self.store.session(tenant, write=True) as session:
            if entity_type is not None:
                _selected(session.get([entity_id]).get(entity_id), entity_id, entity_type)
            if not self._delete(tenant, session, [entity_id]):
                raise ResourceNotFound(f"entity {entity_id} does not exist")

    def _delete(self, tenant: str, session: TenantSession, ids: Sequence[str]) -> set[str]:
        """Delete these entities and publish their deletion; returns the ids that existed."""
        if not self.feed.observers:
            return session.delete(ids)
        gone = session.get(ids)
        deleted = session.delete(ids)
        now = clock.now()
        self.feed.publish(tenant, session, [Change(gone[i], None, now) for i in deleted])
        return deleted

    def expire_everywhere(self) -> dict[str, int]:
        """``expire`` in every tenant; how many entities changed, by tenant (where some did)."""
        changed = in_every_tenant(self.store, self.expire)
        if changed:
            log.info("transient entities: %d expired", sum(changed.values()))
        return changed

    def expire(self, tenant: str, *, now: str | None = None) -> int:
        """Clause 4.22: delete the transient entities, and the transient attribute instances,
        whose ``expiresAt`` has come (at ``now``, by default the clock's), as deletions and
        updates that notify and leave their history; returns how many entities changed."""
        now = now or clock.now()
        changed = 0
        while True:
            with self.store.session(tenant, write=True) as session:
                due = session.expired(now, EXPIRY_BATCH)
                stored = session.get(due)
                after = {eid: updates.expire(entity, now=now) for eid, entity in stored.items()}
                after = {eid: entity for eid, entity in after.items() if entity is not stored[eid]}
                gone = [eid for eid, entity in after.items() if entity is None]
                if gone:
                    session.delete(gone)
                if len(gone) < len(after):
                    session.replace([entity for entity in after.values() if entity is not None])
                if after:
                    self.feed.publish(tenant, session, [Change(stored[eid], entity, now) for eid, entity in after.items()])
            changed += len(after)
            if len(due) < EXPIRY_BATCH or not after:
                return changed

    def _change(self, tenant: str, entity_id: str, change: Callable[[Entity], tuple[Entity, Any]],
                entity_type: str | None = None) -> Any:
        """Apply ``change`` to the stored entity (of ``entity_type``, if given) atomically;
        returns what ``change`` reports."""
        parse.validate_entity_id(entity_id)
        with self.store.session(tenant, write=True) as session:
            current = _selected(session.get([entity_id]).get(entity_id), entity_id, entity_type)
            changed, report = change(current)
            if changed == current:  # nothing to write (a merge of no attribute), and nothing to record
                return report
            session.replace([changed])
            self.feed.publish(tenant, session, [Change(current, changed, changed["modifiedAt"])])
        return report

    def replace(self, tenant: str, entity_id: str, body: Any, ctx: Context, *, entity_type: str | None = None) -> None:
        now = clock.now()
        if isinstance(body, dict) and "id" not in body:
            body = {**body, "id": entity_id}
        new = parse.parse_entity(body, ctx, now=now)
        self._change(tenant, entity_id, lambda old: (updates.replace_entity(old, new, now=now), None), entity_type)

    def replace_with(self, tenant: str, entity_id: str, body_of: Callable[[Entity], Any], ctx: Context) -> None:
        """Replace the entity by the body ``body_of`` makes of its stored state (internal form),
        in one write: no other write comes between the read and the replacement. What
        ``body_of`` raises leaves the entity as it was."""
        now = clock.now()

        def change(old: Entity) -> tuple[Entity, None]:
            new = parse.parse_entity({**body_of(old), "id": entity_id}, ctx, now=now)
            return updates.replace_entity(old, new, now=now), None

        self._change(tenant, entity_id, change)

    # The operations on one entity take an optional ``entity_type`` (``?type=``): see ``_selected``.
    def merge(self, tenant: str, entity_id: str, body: Any, ctx: Context, *, entity_type: str | None = None) -> None:
        now = clock.now()
        fragment = _fragment(body, entity_id, ctx, now, merge=True)
        self._change(tenant, entity_id, lambda old: updates.merge_entity(old, fragment, now=now), entity_type)

    def append_attributes(self, tenant: str, entity_id: str, body: Any, ctx: Context, *, no_overwrite: bool,
                          entity_type: str | None = None) -> UpdateResult:
        now = clock.now()
        fragment = _fragment(body, entity_id, ctx, now)
        return self._change(
            tenant, entity_id, lambda old: updates.append_attributes(old, fragment, no_overwrite=no_overwrite, now=now),
            entity_type,
        )

    def update_attributes(self, tenant: str, entity_id: str, body: Any, ctx: Context, *,
                          entity_type: str | None = None) -> UpdateResult:
        now = clock.now()
        fragment = _fragment(body, entity_id, ctx, now, allow_null=True)
        return self._change(tenant, entity_id, lambda old: updates.update_attributes(old, fragment, now=now),
                            entity_type)

    def partial_update_attribute(self, tenant: str, entity_id: str, attr: str, body: Any, ctx: Context, *,
                                 entity_type: str | None = None) -> None:
        now = clock.now()
        instances = parse.parse_attribute(attr, body, ctx, now=now, partial=True, allow_null=True)
        name = ctx.expand(attr)
        self._change(
            tenant, entity_id, lambda old: (updates.partial_update_attribute(old, name, instances, now=now), None),
            entity_type,
        )

    def replace_attribute(self, tenant: str, entity_id: str, attr: str, body: Any, ctx: Context, *,
                          entity_type: str | None = None) -> None:
        now = clock.now()
        instances = parse.parse_attribute(attr, body, ctx, now=now)
        name = ctx.expand(attr)
        self._change(tenant, entity_id, lambda old: (updates.replace_attribute(old, name, instances, now=now), None),
                     entity_type)

    def delete_attribute(
        self, tenant: str, entity_id: str, attr: str, ctx: Context, *, dataset_id: str | None, delete_all: bool,
        entity_type: str | None = None,
    ) -> None:
        now = clock.now()
        name = ctx.expand(attr)
        self._change(
            tenant, entity_id,
            lambda old: (updates.delete_attribute(old, name, dataset_id=dataset_id, delete_all=delete_all, now=now), None),
            entity_type,
        )

    # ---- batches (clause 5.6.7 – 5.6.10, 5.6.20) ---------------------------------------------
    def batch_create(self, tenant: str, bodies: Sequence[Any], contexts: Sequence[Context | NgsiLdError]) -> BatchResult:
        result, parsed = self._parse_all(bodies, contexts, now=clock.now())
        author = current_actor()
        staged = self.store.stage(parsed)
        with self.store.session(tenant, write=True) as session:
            session.use_staged([staged])
            outcomes = self._insert_new(tenant, session, [_Creation(entity, author, None) for entity in parsed])
        for entity, outcome in zip(parsed, outcomes, strict=True):
            if isinstance(outcome, NgsiLdError):
                result.fail(entity["id"], outcome)
            else:
                result.success.append(outcome)
        result.created = result.success
        return result

    def batch_upsert(self, tenant: str, bodies: Sequence[Any], contexts: Sequence[Context | NgsiLdError], *, mode: str) -> BatchResult:
        now = clock.now()
        result, parsed = self._parse_all(bodies, contexts, now=now)
        ids = [e["id"] for e in parsed]
        # A replacement writes the parsed instances as they are (an update builds new ones):
        # their rows can be prepared before the write lock.
        staged = self.store.stage(parsed) if mode == "replace" else None
        with self.store.session(tenant, write=True) as session:
            session.use_staged([staged])
            if mode == "update" or self.feed.needs_previous(tenant, session):
                stored = session.get(ids)
            else:  # a replacement keeps only the creation instant of what it replaces
                stored = {eid: {"id": eid, "createdAt": at} for eid, at in session.created_at(ids).items()}
            written: dict[str, Entity] = {}
            for entity in parsed:
                old = written.get(entity["id"]) or stored.get(entity["id"])
                if old is None:
                    written[entity["id"]] = entity
                    result.created.append(entity["id"])
                elif mode == "update":
                    written[entity["id"]] = updates.append_attributes(old, entity, no_overwrite=False, now=now)[0]
                else:
                    written[entity["id"]] = updates.replace_entity(old, entity, now=now)
                result.success.append(entity["id"])
            session.replace(list(written.values()))
            self.feed.publish(tenant, session, [Change(stored.get(i), e, now) for i, e in written.items()])
        return result

    def batch_update(self, tenant: str, bodies: Sequence[Any], contexts: Sequence[Context | NgsiLdError], *, no_overwrite: bool) -> BatchResult:
        return self._batch_change(
            tenant, bodies, contexts,
            lambda old, new, now: updates.append_attributes(old, new, no_overwrite=no_overwrite, now=now),
        )

    def batch_merge(self, tenant: str, bodies: Sequence[Any], contexts: Sequence[Context | NgsiLdError]) -> BatchResult:
        return self._batch_change(
            tenant, bodies, contexts, lambda old, new, now: updates.merge_entity(old, new, now=now), merge=True
        )

    def batch_delete(self, tenant: str, ids: Sequence[Any]) -> BatchResult:
        result = BatchResult()
        valid: list[str] = []
        for raw in ids:
            try:
                valid.append(parse.validate_entity_id(raw))
            except NgsiLdError as error:
                result.fail(str(raw), error)
        with self.store.session(tenant, write=True) as session:
            deleted = self._delete(tenant, session, valid)
        for entity_id in valid:  # an id given twice is deleted once, then not found
            if entity_id in deleted:
                deleted.discard(entity_id)
                result.success.append(entity_id)
            else:
                result.fail(entity_id, ResourceNotFound(f"entity {entity_id} does not exist"))
        return result

    def _batch_change(
        self, tenant: str, bodies: Sequence[Any], contexts: Sequence[Context | NgsiLdError],
        change: Callable[[Entity, Entity, str], tuple[Entity, UpdateResult]], *, merge: bool = False,
    ) -> BatchResult:
        """Apply ``change`` to each stored entity; attributes it could not update make that
        entity an error of the batch, though what was updated stays."""
        now = clock.now()
        result, parsed = self._parse_all(bodies, contexts, now=now, fragments=True, merge=merge)
        with self.store.session(tenant, write=True) as session:
            current = session.get([e["id"] for e in parsed])
            changed: dict[str, Entity] = {}
            for entity in parsed:
                old = changed.get(entity["id"]) or current.get(entity["id"])
                if old is None:
                    result.fail(entity["id"], ResourceNotFound(f"entity {entity['id']} does not exist"))
                    continue
                try:
                    changed[entity["id"]], report = change(old, entity, now)
                except NgsiLdError as error:
                    result.fail(entity["id"], error)
                    continue
                if report["notUpdated"]:
                    reasons = "; ".join(f"{n['attributeName']}: {n['reason']}" for n in report["notUpdated"])
                    result.fail(entity["id"], BadRequestData(f"attributes not updated: {reasons}"))
                else:
                    result.success.append(entity["id"])
            session.replace(list(changed.values()))
            self.feed.publish(tenant, session, [Change(current[i], e, now) for i, e in changed.items()])
        return result

    @staticmethod
    def _parse_all(
        bodies: Sequence[Any], contexts: Sequence[Context | NgsiLdError], *, now: str, fragments: bool = False,
        merge: bool = False,
    ) -> tuple[BatchResult, list[Entity]]:
        """Parse each entity of a batch, stamped ``now`` (the instant its history records); one
        that fails is reported and the others go on."""
        result = BatchResult()
        parsed: list[Entity] = []
        for body, ctx in zip(bodies, contexts, strict=True):
            try:
                if isinstance(ctx, NgsiLdError):
                    raise ctx
                if fragments:
                    entity = parse.parse_fragment(body, ctx, now=now, merge=merge)
                    if "id" not in entity:
                        raise BadRequestData("each entity of a batch needs an id")
                else:
                    entity = parse.parse_entity(body, ctx, now=now)
                parsed.append(entity)
            except NgsiLdError as error:
                entity_id = body.get("id") if isinstance(body, dict) else None
                result.fail(entity_id if isinstance(entity_id, str) else "", error)
        return result, parsed

    # ---- ingestion -------------------------------------------------------------------------
    def apply_measurements(self, tenant: str, fragments: Sequence[Entity], frames: Sequence[Frame]) -> list[bool]:
        """Merge measures into entities, once per uplink frame, in one write session.

        ``fragments[i]`` (internal form: ``id``, ``type``, ``attrs`` whose instances carry their
        ``observedAt``) is what the uplink ``frames[i]`` measured. Frames recorded before (a
        redelivered or duplicated uplink) are skipped; the others are recorded in the same
        transaction as the updates, so an uplink is applied exactly once even across a crash.
        An entity that does not exist is created with the fragment's id and type. A measure
        observed before the entity's current value of its attribute (a late or redelivered
        uplink, or one taken by another consumer) joins the history without changing the
        entity. Returns, for each fragment, whether it was applied (False: a duplicate)."""
        with self.store.session(tenant, write=True) as session:
            fresh = session.record_frames(frames)
            pending = [fragment for fragment, new in zip(fragments, fresh, strict=True) if new]
            current = session.get(list({fragment["id"] for fragment in pending}))
            now = ""
            while pending:
                # An entity measured several times changes once per round, each round at an
                # instant of its own, so that every measure is a change of its own.
                previous, now = now, clock.now()
                while now <= previous:
                    now = clock.now()
                taken: set[str] = set()
                later: list[Entity] = []
                changes: list[Change] = []
                for fragment in pending:
                    entity_id = fragment["id"]
                    if entity_id in taken:
                        later.append(fragment)
                        continue
                    taken.add(entity_id)
                    old = current.get(entity_id)
                    base = old or {"id": entity_id, "type": list(fragment["type"]), "createdAt": now,
                                   "modifiedAt": now, "attrs": {}}
                    current[entity_id], late = updates.merge_measures(base, fragment, now=now)
                    changes.append(Change(old, current[entity_id], now, tuple(late)))
                session.replace([change.new for change in changes if change.new is not change.old])
                self.feed.publish(tenant, session, changes)
                pending = later
        return fresh


def _selected(entity: Entity | None, entity_id: str, entity_type: str | None) -> Entity:
    """The stored entity an operation on one entity addresses: it exists and, when the caller
    named a type (``?type=``, clauses 5.6 and 5.7.1: "whose id, and where specified type, is
    equivalent"), it is of that type; else ResourceNotFound, and nothing is done."""
    if entity is None:
        raise ResourceNotFound(f"entity {entity_id} does not exist")
    if entity_type is not None and entity_type not in entity["type"]:
        raise ResourceNotFound(f"entity {entity_id} is not of type {entity_type}")
    return entity


def _check_purge_selection(query: EntityQuery, local: bool) -> None:
    """Clause 5.6.21.4: a purge names entity types, a non-system attribute (in attrs or q), a
    geo-query or the local scope; ids and idPattern alone are too wide (``idPattern=.*`` is
    every entity). Its q cannot look through linked entities."""
    if query.q is not None and link_depth(query.q):
        raise BadRequestData("q: a purge selects entities by their own attributes, not through linked entities "
                             "(rel{…}, clause 5.6.21.4)")
    if narrow_selection(query.types, query.attrs, query.q, geo_query=query.geo is not None, local=local):
        return
    raise BadRequestData(
        "too wide a purge: besides id, idPattern or scopeQ, give type, attrs or q naming an attribute other "
        "than createdAt, modifiedAt and deletedAt, a geo-query, or local=true (clause 5.6.21.4)"
    )


def _fragment(body: Any, entity_id: str, ctx: Context, now: str, *, allow_null: bool = False, merge: bool = False) -> Entity:
    """An Entity Fragment (attributes to append, update or merge), checked against the addressed id."""
    parse.validate_entity_id(entity_id)
    fragment = parse.parse_fragment(body, ctx, now=now, allow_null=allow_null, merge=merge)
    if fragment.get("id", entity_id) != entity_id:
        raise BadRequestData(f"the body's id {fragment['id']} differs from the addressed entity {entity_id}")
    return fragment

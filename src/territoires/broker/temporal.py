"""The temporal service: read and provide the temporal evolution of entities (clauses 5.6.11 –
5.6.16, 5.7.3, 5.7.4).

Entity writes record their history through the change feed (``broker/history.py``); this
service reads it and lets clients provide it directly. Its choices where the specification
leaves room:
- Creating the temporal evolution of an entity that does not exist creates the entity too,
  its current state being the latest instance of each attribute (by ``observedAt``, else the
  order given): temporal queries select entities by their current state, and an entity's
  history and current state then agree. That creation is an entity write, published on the
  change feed, whose recorder records those latest instances; this service records the others.
- Adding to the evolution of an existing entity records instances only (the current state is
  the core API's); new entity types are added to the entity.
- Deleting the temporal evolution of an entity deletes the entity as well, so that it is gone
  from both APIs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from territoires import clock
from territoires.broker.changes import Change, ChangeFeed
from territoires.ngsild import temporal
from territoires.ngsild.context import Context
from territoires.ngsild.entity import SCOPE, validate_entity_id, validate_name
from territoires.ngsild.errors import BadRequestData, ResourceNotFound
from territoires.ngsild.model import MAIN_MEMBER, NGSI_LD_NULL, Entity, Instance
from territoires.store.port import (
    Aggregation,
    EntityQuery,
    HistoryFilter,
    HistoryInstance,
    Store,
    TemporalPage,
    TemporalQuery,
    TenantSession,
    TimeRange,
)

# Most instances per series on one page when the request does not say (clause 6.3.10).
DEFAULT_INSTANCE_LIMIT = 1000


class TemporalService:
    """``instance_limit``: most instances of one series a page holds (temporal pagination)."""

    def __init__(self, store: Store, feed: ChangeFeed, instance_limit: int = DEFAULT_INSTANCE_LIMIT) -> None:
        self.store = store
        self.feed = feed
        self.instance_limit = instance_limit

    # ---- reading (clauses 5.7.3, 5.7.4) -------------------------------------------------------
    def query(
        self, tenant: str, entities: EntityQuery, attrs: Sequence[str], params: temporal.TemporalParams,
        *, datasets: frozenset[str] | None = None,
    ) -> TemporalPage:
        """Query Temporal Evolution of Entities: the history of ``attrs`` (every attribute when
        empty; of the ``datasets`` instances only, ``"@none"`` the default one, unless None) of
        the entities ``entities`` selects that have some in the temporal query's interval
        (clause 5.7.4.4)."""
        temporal.check_order(entities.order_by)
        if params.timerel is not None:
            entities = replace(entities, history=HistoryFilter(tuple(attrs), _time_range(params)))
        return self._read(tenant, entities, attrs, params, datasets)

    def _read(
        self, tenant: str, entities: EntityQuery, attrs: Sequence[str], params: temporal.TemporalParams,
        datasets: frozenset[str] | None,
    ) -> TemporalPage:
        with self.store.session(tenant) as session:
            return session.temporal_query(self._temporal_query(entities, attrs, params, datasets))

    def retrieve(
        self, tenant: str, entity_id: str, attrs: Sequence[str], params: temporal.TemporalParams,
        *, datasets: frozenset[str] | None = None,
    ) -> TemporalPage:
        """Retrieve Temporal Evolution of an Entity: a page holding that one entity."""
        validate_entity_id(entity_id)
        page = self._read(tenant, EntityQuery(ids=(entity_id,), limit=1), attrs, params, datasets)
        if not page.entities:
            raise ResourceNotFound(f"entity {entity_id} has no temporal evolution here")
        if attrs and not page.entities[0].series:
            raise ResourceNotFound(f"entity {entity_id} has no recorded instance of the attributes asked for")
        return page

    def _temporal_query(
        self, entities: EntityQuery, attrs: Sequence[str], params: temporal.TemporalParams,
        datasets: frozenset[str] | None,
    ) -> TemporalQuery:
        aggregation = None
        if params.representation == "aggregatedValues":
            period = str(params.aggr_period) if params.aggr_period is not None else None
            aggregation = Aggregation(methods=params.aggr_methods, period=period)
        return TemporalQuery(
            entities=entities,
            attrs=tuple(attrs),
            time=_time_range(params),
            last_n=params.last_n,
            instance_limit=self.instance_limit,
            aggregation=aggregation,
            datasets=datasets,
        )

    # ---- provision (clauses 5.6.11 – 5.6.16) --------------------------------------------------
    def provide(self, tenant: str, body: Any, ctx: Context) -> tuple[str, bool]:
        """Create or Update Temporal Evolution of an Entity: its id, and whether it was created."""
        now = clock.now()
        fragment = temporal.parse_temporal_entity(body, ctx, now=now)
        entity_id = fragment.id
        with self.store.session(tenant, write=True) as session:
            current = session.get([entity_id]).get(entity_id)
            if current is None and not _has_history(session, entity_id):
                entity = _latest_state(entity_id, fragment, now)
                session.insert([entity])
                # The recorder records what the creation wrote (the latest instances) and the
                # Scope's given evolution, as given; the rest is ours.
                scope = tuple((a, i) for a, i in fragment.instances if a == SCOPE)
                self.feed.publish(tenant, session, [Change(None, entity, now, late=scope)])
                latest = {id(instance) for instances in entity["attrs"].values() for instance in instances}
                _record(session, entity_id, [(a, i) for a, i in fragment.instances
                                             if id(i) not in latest and a != SCOPE], now)
                return entity_id, True
            if current is not None:
                self._add_types(tenant, session, current, fragment.types, now)
            _record(session, entity_id, fragment.instances, now)
            return entity_id, False

    def add_attributes(self, tenant: str, entity_id: str, body: Any, ctx: Context) -> None:
        """Add Attributes to Temporal Evolution of an Entity (clause 5.6.12)."""
        validate_entity_id(entity_id)
        now = clock.now()
        instances = temporal.parse_temporal_attributes(body, ctx, now=now)
        with self.store.session(tenant, write=True) as session:
            if not session.get([entity_id]) and not _has_history(session, entity_id):
                raise ResourceNotFound(f"entity {entity_id} has no temporal evolution here")
            _record(session, entity_id, instances, now)

    def delete(self, tenant: str, entity_id: str) -> None:
        """Delete Temporal Evolution of an Entity (clause 5.6.16), and the entity with it."""
        validate_entity_id(entity_id)
        with self.store.session(tenant, write=True) as session:
            current = session.get([entity_id])
            if current:
                session.delete([entity_id])
                self.feed.publish(tenant, session, [Change(current[entity_id], None, clock.now())])
            removed = session.delete_history(entity_id)
            if not current and not removed:
                raise ResourceNotFound(f"entity {entity_id} has no temporal evolution here")

    def delete_attribute(
        self, tenant: str, entity_id: str, attr: str, ctx: Context, *, dataset_id: str | None, delete_all: bool
    ) -> None:
        """Delete Attribute from Temporal Evolution of an Entity (clause 5.6.13): the default
        instance's series, or ``dataset_id``'s, or with ``delete_all`` every series."""
        validate_entity_id(entity_id)
        name = _attribute(attr, ctx)
        if dataset_id is not None and delete_all:
            raise BadRequestData("datasetId and deleteAll=true exclude each other")
        with self.store.session(tenant, write=True) as session:
            if not session.delete_history(entity_id, name, dataset_id, delete_all):
                raise ResourceNotFound(f"entity {entity_id} has no recorded instance of {attr} to delete")

    def modify_instance(
        self, tenant: str, entity_id: str, attr: str, instance_id: str, body: Any, ctx: Context
    ) -> None:
        """Modify Attribute instance in Temporal Evolution of an Entity (clause 5.6.14)."""
        validate_entity_id(entity_id)
        name = _attribute(attr, ctx)
        _validate_instance_id(instance_id)
        instance = temporal.parse_instance_fragment(attr, body, ctx, now=clock.now())
        with self.store.session(tenant, write=True) as session:
            if not session.replace_instance(entity_id, name, instance_id, instance):
                raise ResourceNotFound(f"entity {entity_id} has no instance {instance_id} of {attr}")

    def delete_instance(self, tenant: str, entity_id: str, attr: str, instance_id: str, ctx: Context) -> None:
        """Delete Attribute instance from Temporal Evolution of an Entity (clause 5.6.15)."""
        validate_entity_id(entity_id)
        name = _attribute(attr, ctx)
        _validate_instance_id(instance_id)
        with self.store.session(tenant, write=True) as session:
            if not session.delete_instance(entity_id, name, instance_id):
                raise ResourceNotFound(f"entity {entity_id} has no instance {instance_id} of {attr}")

    def _add_types(
        self, tenant: str, session: TenantSession, current: Entity, types: Sequence[str], now: str
    ) -> None:
        """Clause 5.6.11.4: the entity takes the types it does not have yet."""
        added = [t for t in types if t not in current["type"]]
        if added:
            changed = {**current, "type": [*current["type"], *added], "modifiedAt": now}
            session.replace([changed])
            self.feed.publish(tenant, session, [Change(current, changed, now)])


def _time_range(params: temporal.TemporalParams) -> TimeRange:
    return TimeRange(params.timeproperty, params.timerel, params.time_at, params.end_time_at)


def _has_history(session: TenantSession, entity_id: str) -> bool:
    """Whether the store knows the entity's history (it may have no current state left)."""
    probe = TemporalQuery(entities=EntityQuery(ids=(entity_id,), limit=1), last_n=1, instance_limit=1)
    return bool(session.temporal_query(probe).entities)


def _record(session: TenantSession, entity_id: str, instances: Sequence[tuple[str, Instance]], now: str) -> None:
    if instances:
        session.append_history([
            HistoryInstance(entity_id=entity_id, attr=attr, instance=instance, modified_at=now)
            for attr, instance in instances
        ])


def _latest_state(entity_id: str, fragment: temporal.TemporalFragment, now: str) -> Entity:
    """The entity whose attributes, and Scope, are the latest given instance of each series
    (attribute and datasetId), by ``observedAt``, later in the body winning ties; a latest
    instance that is the NGSI-LD Null (a recorded deletion) leaves its series out."""
    latest: dict[tuple[str, str | None], tuple[datetime, Instance]] = {}
    for attr, instance in fragment.instances:
        key = (attr, instance.get("datasetId"))
        at = temporal.parse_instant(instance.get("observedAt", now), "observedAt")
        if key not in latest or at >= latest[key][0]:
            latest[key] = (at, instance)
    attrs: dict[str, list[Instance]] = {}
    scope = list(fragment.scope or ())
    for (attr, _), (_, instance) in latest.items():
        content = instance[MAIN_MEMBER[instance["type"]]]
        if content == NGSI_LD_NULL:
            continue
        if attr == SCOPE:
            scope = content if type(content) is list else [content]
        else:
            attrs.setdefault(attr, []).append(instance)
    entity: Entity = {"id": entity_id, "type": list(fragment.types), "createdAt": now, "modifiedAt": now,
                      "attrs": attrs}
    if scope:
        entity["scope"] = scope
    return entity


def _attribute(attr: str, ctx: Context) -> str:
    return ctx.expand(validate_name(attr, "attribute name"))


def _validate_instance_id(instance_id: str) -> None:
    try:
        validate_entity_id(instance_id)
    except BadRequestData:
        raise BadRequestData(f"instanceId {instance_id!r} is not an absolute URI") from None

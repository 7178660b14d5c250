"""The subscription matcher: a change-feed observer that turns entity changes into notifications
waiting in the outbox (clauses 5.8.6 and 5.11 of ETSI GS CIM 009 v1.8).

It runs inside the write session of the change: the outbox rows it adds commit or roll back with
the change. Per write it costs O(changes), not O(subscriptions × changes): the tenant's active
subscriptions are indexed by the entity ids and types their selectors name (rebuilt only when
the subscriptions change), so a change meets only the subscriptions that may select it. Then:
- entity selectors (type expression, id, idPattern) are checked here, on the changed entity;
- ``q``, ``scopeQ`` and ``geoQ`` are asked of the database through the same session, with the
  same query semantics as any query, for the changed entities still there. An entity deleted
  by the change cannot be queried: a deletion is notified on its selectors and attributes;
- ``watchedAttributes`` and ``notificationTrigger`` decide from what the change did
  (``ngsild.notification.attribute_changes``), ``entityUpdated`` standing for the three
  attribute triggers together;
- ``throttling``: a subscription notified less than that many seconds before is not notified
  (the change is not notified later either);
- subscriptions with a ``timeInterval`` are periodic: the delivery worker enqueues them on
  schedule (``enqueue_periodic``), changes do not.

One notification is enqueued per subscription, write and trigger reason, holding every entity
of the write it concerns.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

from territoires import clock
from territoires.broker.changes import Change
from territoires.broker.subscriptions import SubscriptionService
from territoires.ngsild.model import Entity
from territoires.ngsild.notification import (
    AttributeChanges,
    attribute_changes,
    notified_entity,
)
from territoires.ngsild.query import TypeExpr, TypeName, types_satisfy
from territoires.ngsild.subscription import EntitySelector, Subscription
from territoires.store.port import (
    NOTIFICATION_ID_PREFIX,
    EntityQuery,
    PendingNotification,
    TenantSession,
)

CREATED, UPDATED, DELETED = "attributeCreated", "attributeUpdated", "attributeDeleted"
# Tenants whose subscription index a process keeps (least recently built go first).
INDEX_TENANTS = 4096
# Most entities a periodic notification carries per entity selector.
PERIODIC_LIMIT = 1000


@dataclass
class _Index:
    """The active change-triggered subscriptions of a tenant, by what their selectors name."""

    source: list[Subscription]
    by_id: dict[str, list[Subscription]] = field(default_factory=dict)
    by_type: dict[str, list[Subscription]] = field(default_factory=dict)
    any_entity: list[Subscription] = field(default_factory=list)
    needs_previous: bool = False

    @classmethod
    def build(cls, active: list[Subscription]) -> _Index:
        index = cls(active)
        for sub in active:
            if sub.time_interval is not None:
                continue
            # Deleted attributes and previous values need the whole previous state.
            index.needs_previous |= sub.notification.show_changes or bool(
                {"attributeDeleted", "entityUpdated"} & set(sub.notification_trigger))
            if not sub.entities:
                index.any_entity.append(sub)
            for selector in sub.entities:
                if selector.ids:
                    for entity_id in selector.ids:
                        index.by_id.setdefault(entity_id, []).append(sub)
                else:
                    for name in _type_names(selector.type):
                        index.by_type.setdefault(name, []).append(sub)
        return index

    def candidates(self, entity: Entity) -> Iterable[Subscription]:
        """The subscriptions that may select ``entity`` (each once)."""
        found = {sub.id: sub for sub in self.by_id.get(entity["id"], ())}
        for name in entity.get("type", ()):
            for sub in self.by_type.get(name, ()):
                found.setdefault(sub.id, sub)
        for sub in self.any_entity:
            found.setdefault(sub.id, sub)
        return found.values()


@dataclass
class _Match:
    subscription: Subscription
    changes: list[tuple[Change, AttributeChanges, str]] = field(default_factory=list)


class NotificationMatcher:
    """The ChangeObserver of subscriptions (see the module docstring)."""

    def __init__(self, subscriptions: SubscriptionService) -> None:
        self.subscriptions = subscriptions
        self._indexes: dict[str, _Index] = {}
        self._lock = threading.Lock()

    def _index(self, tenant: str, session: TenantSession) -> _Index:
        active = self.subscriptions.active(tenant, session)
        index = self._indexes.get(tenant)
        # The service hands back the same objects, in the same order, while the subscriptions
        # stay the same (fewer when some expired); loaded again, they are all new objects.
        if index is None or not (len(index.source) == len(active) and (
                not active or (active[0] is index.source[0] and active[-1] is index.source[-1]))):
            index = _Index.build(active)
            with self._lock:
                if len(self._indexes) >= INDEX_TENANTS:
                    self._indexes.pop(next(iter(self._indexes)))
                self._indexes[tenant] = index
        return index

    def needs_previous(self, tenant: str, session: TenantSession) -> bool:
        return self._index(tenant, session).needs_previous

    def observe(self, tenant: str, session: TenantSession, changes: Sequence[Change]) -> None:
        index = self._index(tenant, session)
        if not index.source:
            return
        matches: dict[str, _Match] = {}
        for change in changes:
            entity = change.new or change.old
            assert entity is not None
            what: AttributeChanges | None = None
            for sub in index.candidates(entity):
                if sub.entities and not any(_selects(selector, entity) for selector in sub.entities):
                    continue
                what = what or attribute_changes(change.old, change.new)
                reason = trigger_reason(sub, change, what)
                if reason is not None:
                    matches.setdefault(sub.id, _Match(sub)).changes.append((change, what, reason))
        if not matches:
            return
        _filter_in_database(session, matches)
        now = time.time()
        throttled = [m.subscription.id for m in matches.values() if m.subscription.throttling and m.changes]
        last = session.last_enqueued(throttled) if throttled else {}
        notifications: list[PendingNotification] = []
        marked: list[str] = []
        created_at = clock.now()
        for match in matches.values():
            sub = match.subscription
            if not match.changes:
                continue
            if sub.throttling and now - last.get(sub.id, float("-inf")) < sub.throttling:
                continue
            if sub.throttling:
                marked.append(sub.id)
            notifications.extend(_notifications(match, created_at))
        if notifications:
            session.enqueue_notifications(notifications, now=now, throttled=marked)

    def enqueue_periodic(self, session: TenantSession, sub: Subscription, now: float) -> bool:
        """Enqueue the periodic notification of ``sub`` (timeInterval) if its period has come,
        through a write ``session`` of its tenant: the entities its selectors and filters
        select now. Returns whether it was enqueued."""
        assert sub.time_interval is not None
        if not session.start_period(sub.id, now, sub.time_interval):
            return False
        found: dict[str, Entity] = {}
        for selector in sub.entities:
            page = session.query(EntityQuery(
                ids=selector.ids, id_pattern=None if selector.ids else selector.id_pattern,
                types=selector.type, q=sub.q, scope_q=sub.scope_q, geo=sub.geo_q, limit=PERIODIC_LIMIT))
            for entity in page.entities:
                found.setdefault(entity["id"], entity)
        data = [notified_entity(None, e, attribute_changes(None, e), at=e["modifiedAt"], previous=False)
                for e in found.values()]
        session.enqueue_notifications([_pending(sub, "", data, clock.now())], now=now)
        return True


def trigger_reason(sub: Subscription, change: Change, what: AttributeChanges) -> str | None:
    """Why ``change`` notifies ``sub`` (its triggerReason), or None if it does not."""
    triggers = set(sub.notification_trigger)
    if "entityUpdated" in triggers:
        triggers |= {CREATED, UPDATED, DELETED}
    watched = frozenset(sub.watched_attributes)

    def concerns(names: frozenset[str]) -> bool:
        return bool(names) if not watched else not watched.isdisjoint(names)

    if change.old is None:
        if "entityCreated" in triggers and (not watched or concerns(what.created)):
            return "entityCreated"
        return CREATED if CREATED in triggers and concerns(what.created) else None
    if change.new is None:
        if "entityDeleted" in triggers and (not watched or concerns(what.deleted)):
            return "entityDeleted"
        return DELETED if DELETED in triggers and concerns(what.deleted) else None
    fired = [reason for reason, names in ((UPDATED, what.updated), (CREATED, what.created), (DELETED, what.deleted))
             if reason in triggers and concerns(names)]
    if not fired:
        return None
    return "entityUpdated" if "entityUpdated" in sub.notification_trigger else fired[0]


def _filter_in_database(session: TenantSession, matches: dict[str, _Match]) -> None:
    """Keep, for subscriptions with q, scopeQ or geoQ, the changed entities the database finds
    matching them now (the session sees the write); deletions are kept."""
    for match in matches.values():
        sub = match.subscription
        if sub.q is None and sub.scope_q is None and sub.geo_q is None:
            continue
        ids = tuple(dict.fromkeys(change.entity_id for change, _, _ in match.changes if change.new is not None))
        selected: set[str] = set()
        if ids:
            page = session.query(EntityQuery(ids=ids, q=sub.q, scope_q=sub.scope_q, geo=sub.geo_q, limit=len(ids)))
            selected = {e["id"] for e in page.entities}
        match.changes = [item for item in match.changes if item[0].new is None or item[0].entity_id in selected]


def _notifications(match: _Match, created_at: str) -> list[PendingNotification]:
    """One notification per trigger reason, with the entities of the changes behind it."""
    sub = match.subscription
    params = sub.notification
    by_reason: dict[str, list[dict]] = {}
    for change, what, reason in match.changes:
        shown = None
        if change.new is None and not params.show_changes:
            # A deletion shows the attributes it deleted only when they are what is notified.
            shown = () if reason == "entityDeleted" else (sub.watched_attributes or None)
        by_reason.setdefault(reason, []).append(notified_entity(
            change.old, change.new, what, at=change.at, previous=params.show_changes, deleted_shown=shown))
    return [_pending(sub, reason, data, created_at) for reason, data in by_reason.items()]


def _pending(sub: Subscription, reason: str, data: list[dict], created_at: str) -> PendingNotification:
    return PendingNotification(NOTIFICATION_ID_PREFIX + str(uuid.uuid4()), sub.id,
                               endpoint_key(sub.notification.endpoint.uri), reason, data, created_at)


@lru_cache(maxsize=4096)
def endpoint_key(uri: str) -> str:
    """Scheme, host and port of an endpoint URI (no credentials): whom a notification goes to."""
    parts = urlsplit(uri)
    port = f":{parts.port}" if parts.port is not None else ""
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}{port}"


def _selects(selector: EntitySelector, entity: Entity) -> bool:
    if not types_satisfy(selector.type, entity.get("type", ())):
        return False
    if selector.ids:
        return entity["id"] in selector.ids
    if selector.id_pattern is not None:
        return _pattern(selector.id_pattern).search(entity["id"]) is not None
    return True


def _type_names(expr: TypeExpr) -> set[str]:
    """Every type a type expression names: an entity it selects has at least one of them."""
    if isinstance(expr, TypeName):
        return {expr.iri}
    return set().union(*(_type_names(term) for term in expr.terms))  # type: ignore[arg-type]


@lru_cache(maxsize=4096)
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)

"""The subscription service: create, read, change and delete subscriptions of a tenant
(clause 5.8), and the active subscriptions a change is matched against.

Parsing, PATCH semantics and rendering are pure code in ``ngsild/subscription.py``; this
service checks what needs I/O (a ``jsonldContext`` must resolve), keeps the implicitly
created @context of a subscription whose @context is not one URL (clause 5.13: notifications
must name a dereferenceable @context), and runs each operation in one store session.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import orjson

from territoires import clock
from territoires.broker.contexts import HOSTED_PATH, ContextService
from territoires.ngsild import subscription as subs
from territoires.ngsild.context import Context
from territoires.ngsild.errors import ResourceNotFound
from territoires.ngsild.model import NGSI_LD_NULL
from territoires.ngsild.subscription import Subscription
from territoires.store.port import Store, StoredContext, TenantSession

# The notification status members of subscriptions, by id, read in the given session
# (``timesSent``, ``lastSuccess``… of clause 5.2.14): provided by the notifier.
DeliveryStatus = Callable[[TenantSession, Sequence[str]], dict[str, dict[str, Any]]]

# Tenants whose active subscriptions a process keeps parsed at once (least recently loaded go first).
ACTIVE_CACHE_TENANTS = 4096


class SubscriptionService:
    def __init__(self, store: Store, contexts: ContextService, delivery: DeliveryStatus | None = None) -> None:
        self.store = store
        self.contexts = contexts
        self.delivery = delivery
        # tenant -> (subscriptions_version, subscriptions active when loaded)
        self._active: dict[str, tuple[str, list[Subscription]]] = {}
        self._active_lock = threading.Lock()

    # ---- the operations of clause 5.8 ------------------------------------------------------------
    def create(self, tenant: str, body: Any, ctx: Context, *, base_url: str) -> str:
        """Create a subscription (clause 5.8.1); returns its id. ``base_url`` is the address
        clients reach this broker at (an implicitly created @context is served under it)."""
        now = clock.now()
        subscription = subs.parse_subscription(body, ctx, now=now, generated_id=subs.new_id(str(uuid.uuid4())))
        if "jsonldContext" in body:
            # Refused now if it cannot be used.
            self.contexts.compile(tenant, subscription.jsonld_context, counted=False)
        with self.store.session(tenant, write=True) as session:
            subscription = self._with_implicit_context(session, subscription, base_url, now)
            session.put_subscription(subscription)
        return subscription.id

    def retrieve(self, tenant: str, subscription_id: str) -> tuple[Subscription, dict[str, Any]]:
        """The subscription (clause 5.8.3) and its notification status members."""
        subs.validate_subscription_id(subscription_id)
        with self.store.session(tenant) as session:
            found = session.get_subscription(subscription_id)
            if found is None:
                raise ResourceNotFound(f"subscription {subscription_id} does not exist")
            return found, self._delivery(session, [found])[found.id]

    def query(self, tenant: str, *, offset: int, limit: int) -> tuple[list[tuple[Subscription, dict[str, Any]]], int]:
        """A page of the tenant's subscriptions in creation order (clause 5.8.4), each with its
        notification status members, and how many there are."""
        with self.store.session(tenant) as session:
            page, count = session.query_subscriptions(offset, limit)
            delivery = self._delivery(session, page)
        return [(found, delivery[found.id]) for found in page], count

    def update(self, tenant: str, subscription_id: str, fragment: Any, ctx: Context, *, base_url: str) -> None:
        """Update a subscription with a fragment (clause 5.8.2)."""
        subs.validate_subscription_id(subscription_id)
        if isinstance(fragment, dict) and fragment.get("jsonldContext") not in (None, NGSI_LD_NULL):
            self.contexts.compile(tenant, subs.validate_context_url(fragment["jsonldContext"]), counted=False)
        now = clock.now()
        with self.store.session(tenant, write=True) as session:
            current = session.get_subscription(subscription_id)
            if current is None:
                raise ResourceNotFound(f"subscription {subscription_id} does not exist")
            changed = subs.merge_subscription(current, fragment, ctx, now=now)
            session.replace_subscription(self._with_implicit_context(session, changed, base_url, now))

    def delete(self, tenant: str, subscription_id: str) -> None:
        """Delete a subscription (clause 5.8.5) with its pending notifications and delivery status."""
        subs.validate_subscription_id(subscription_id)
        with self.store.session(tenant, write=True) as session:
            if not session.delete_subscription(subscription_id):
                raise ResourceNotFound(f"subscription {subscription_id} does not exist")
            session.forget_notifications(subscription_id)

    # ---- for the matcher -----------------------------------------------------------------------
    def active(self, tenant: str, session: TenantSession) -> list[Subscription]:
        """The tenant's subscriptions that may notify now, read through ``session`` (inside an
        entity write, so that they are those of the state the write sees). They are parsed once
        per change of the tenant's subscriptions: a write that finds the same
        ``subscriptions_version`` costs one small read."""
        version = session.subscriptions_version()
        now = clock.now()
        cached = self._active.get(tenant)
        if cached is None or cached[0] != version:
            loaded = session.active_subscriptions(now)
            with self._active_lock:
                if len(self._active) >= ACTIVE_CACHE_TENANTS:
                    self._active.pop(next(iter(self._active)))
                self._active[tenant] = (version, loaded)
            return loaded
        # Time passes without any write: those that expired since they were loaded drop out.
        return [s for s in cached[1] if s.expires_at is None or (s.expires_key or "") > now]

    # ---- helpers -------------------------------------------------------------------------------
    def _delivery(self, session: TenantSession, found: Sequence[Subscription]) -> dict[str, dict[str, Any]]:
        ids = [s.id for s in found]
        known = self.delivery(session, ids) if self.delivery is not None and ids else {}
        return {sid: known.get(sid, {}) for sid in ids}

    @staticmethod
    def _with_implicit_context(session: TenantSession, sub: Subscription, base_url: str, now: str) -> Subscription:
        """``sub`` naming a stored @context when its own is not one URL (clause 5.13): an
        ImplicitlyCreated context holding it, shared by the subscriptions of the same @context,
        listed and served by ``/jsonldContexts`` like the others."""
        if not subs.needs_implicit_context(sub):
            return sub
        body = {"@context": sub.context}
        local_id = hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
        if session.get_context(local_id) is None:
            session.put_context(StoredContext(local_id, "ImplicitlyCreated", body, now))
        return replace(sub, jsonld_context=base_url.rstrip("/") + HOSTED_PATH + local_id)

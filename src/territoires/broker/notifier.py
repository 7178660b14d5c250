"""The delivery worker: sends the notifications the matcher left in the outbox (clause 5.8.6).

Each serving process runs one (``territoires serve`` starts it with the application). A round:
settle what was delivered, enqueue the periodic notifications that are due, then claim due
notifications across tenants (``Store.claim_notifications``: leased, at most one in flight per
subscription, in its order) and send each in a task of its own. Isolation:
- a subscription's queue moves on its own: an endpoint that fails holds back its subscription's
  notifications only (retried with exponential backoff and jitter, then kept as a dead letter);
- at most ``notification_endpoint_concurrency`` notifications are in flight to one endpoint
  (scheme, host, port), each bounded by its timeout; an endpoint with every slot taken is left
  out of claims, so one that hangs never takes the slots of the others;
- at most ``notification_concurrency`` are in flight in all, except that an endpoint with none
  in flight may still be sent one, up to as many again: endpoints that hang can fill the
  process's limit, never starve one that answers;
- a delivery ends before its lease does (its timeout is shortened if need be), so that a
  notification is never sent again while a first attempt is still open.

At least once: a notification leaves the outbox only once its endpoint took it; if the process
dies, its lease runs out and another process (or this one restarted) claims it again, with the
same notification id for the receiver to recognise it. Store calls run in worker threads; the
event loop only renders and sends.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from territoires import clock
from territoires.broker.contexts import ContextService
from territoires.broker.matching import NotificationMatcher
from territoires.broker.subscriptions import SubscriptionService
from territoires.broker.transports import (
    JSON,
    DeliveryFailed,
    HttpTransport,
    Message,
    MqttTransport,
)
from territoires.config import Settings
from territoires.ngsild import geo
from territoires.ngsild.context import CORE_CONTEXT_URL, Context
from territoires.ngsild.errors import NgsiLdError, NonexistentTenant
from territoires.ngsild.join import JOIN_MODES, Fetch, Join, render_linked
from territoires.ngsild.notification import notification, render_notified
from territoires.ngsild.subscription import Endpoint, Subscription
from territoires.store.port import (
    DEFAULT_TENANT,
    DROPPED,
    FAILED,
    SENT,
    DeliveryOutcome,
    OutboxEntry,
    Store,
)

if TYPE_CHECKING:
    from territoires.broker import Broker

log = logging.getLogger("territoires.notifications")
T = TypeVar("T")

# After a wake-up, the worker waits this long (seconds) to gather more deliveries done and
# notifications enqueued: a round is a write per tenant, and writes queue on the tenant's lock.
GATHER = 0.01
# The share of its lease a claimed notification may spend waiting for a slot and being sent;
# the rest leaves time to record the outcome before the lease runs out.
LEASE_SHARE = 0.8
CONTEXT_LINK = '<{}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
GEO_JSON = "application/geo+json"

# Per subscription id: the subscription and its compiled @context (or why it has none), or None
# when the subscription no longer exists.
_Target = tuple[Subscription, Context | str] | None


class Notifier:
    def __init__(self, store: Store, subscriptions: SubscriptionService, contexts: ContextService,
                 matcher: NotificationMatcher, settings: Settings) -> None:
        self.store = store
        self.subscriptions = subscriptions
        self.contexts = contexts
        self.matcher = matcher
        self.settings = settings
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._in_flight: set[asyncio.Task[None]] = set()
        self._outcomes: list[DeliveryOutcome] = []
        self._endpoints: dict[str, asyncio.Semaphore] = {}
        self._claimed: Counter[str] = Counter()  # notifications in flight, by endpoint
        self._periodic: dict[tuple[str, str], tuple[Subscription, float]] = {}
        self._http: HttpTransport | None = None
        self._mqtt: MqttTransport | None = None

    @classmethod
    def of(cls, broker: Broker) -> Notifier:
        return cls(broker.store, broker.subscriptions, broker.contexts, broker.matcher, broker.settings)

    # ---- life ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start delivering, in the running event loop."""
        loop = asyncio.get_running_loop()
        self.store.on_enqueued = lambda: loop.call_soon_threadsafe(self._wake.set)
        self._task = loop.create_task(self._run(), name="territoires-notifier")

    async def stop(self) -> None:
        """Stop: what is in flight is abandoned (its lease runs out, it will be sent again)."""
        self.store.on_enqueued = None
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task

    async def _run(self) -> None:
        self._http = HttpTransport(per_endpoint=self.settings.notification_endpoint_concurrency)
        self._mqtt = MqttTransport()
        next_sweep = 0.0
        try:
            while not self._stopping:
                try:
                    next_sweep = await self._round(next_sweep)
                except Exception:  # a database away, a bug: log it, keep the worker alive
                    log.exception("notification delivery round failed; trying again")
                await self._sleep()
        finally:
            for task in self._in_flight:
                task.cancel()
            await asyncio.gather(*self._in_flight, return_exceptions=True)
            try:
                await self._settle()
            except Exception:
                log.exception("could not record the last deliveries; they will be sent again")
            await self._http.close()
            await self._mqtt.close()

    async def _sleep(self) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), self.settings.notification_poll_interval)
            await asyncio.sleep(GATHER)
        except TimeoutError:
            pass
        self._wake.clear()

    @staticmethod
    async def _call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(function, *args, **kwargs)

    # ---- a round ---------------------------------------------------------------------------------
    async def _round(self, next_sweep: float) -> float:
        now, started = time.time(), asyncio.get_running_loop().time()  # the leases start at ``now``
        sweep = now >= next_sweep
        if sweep:
            await self._call(self._find_periodic)
            next_sweep = now + self.settings.notification_sweep_interval
        if self._periodic:
            await self._call(self._enqueue_periodic, now)
        free, busy = self._room()
        if free > 0 or self._outcomes:
            outcomes, self._outcomes = self._outcomes, []
            try:
                claimed = await self._call(self.store.claim_notifications, self.owner, now, limit=max(free, 0),
                                           lease=self.settings.notification_lease, busy_endpoints=busy, sweep=sweep,
                                           settle=outcomes)
            except BaseException:
                self._outcomes = outcomes + self._outcomes  # recorded at the next round
                raise
            if claimed:
                await self._dispatch(claimed, started + LEASE_SHARE * self.settings.notification_lease)
        return next_sweep

    def _room(self) -> tuple[int, list[str]]:
        """How many notifications may be claimed now, and the endpoints to leave out."""
        limit, in_flight = self.settings.notification_concurrency, len(self._in_flight)
        if in_flight < limit:
            per_endpoint = self.settings.notification_endpoint_concurrency
            return limit - in_flight, [key for key, count in self._claimed.items() if count >= per_endpoint]
        return 2 * limit - in_flight, list(self._claimed)  # only endpoints with nothing in flight

    async def _settle(self) -> None:
        outcomes, self._outcomes = self._outcomes, []
        if not outcomes:
            return
        try:
            await self._call(self.store.settle_notifications, outcomes)
        except BaseException:
            self._outcomes = outcomes + self._outcomes  # recorded at the next round
            raise

    async def _dispatch(self, claimed: list[OutboxEntry], deadline: float) -> None:
        """Send each of ``claimed`` in a task of its own, done by ``deadline`` (the loop's clock)."""
        wanted: dict[str, set[str]] = {}
        for entry in claimed:
            wanted.setdefault(entry.tenant, set()).add(entry.notification.subscription_id)
        targets = await self._call(self._targets, wanted)
        for entry in claimed:
            target = targets[entry.tenant].get(entry.notification.subscription_id)
            self._claimed[entry.notification.endpoint] += 1
            task = asyncio.create_task(self._deliver(entry, target, deadline))
            self._in_flight.add(task)
            task.add_done_callback(functools.partial(self._ended, entry.notification.endpoint))

    def _ended(self, endpoint: str, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._claimed[endpoint] -= 1
        if not self._claimed[endpoint]:
            del self._claimed[endpoint]

    def _targets(self, wanted: dict[str, set[str]]) -> dict[str, dict[str, _Target]]:
        """The subscriptions of claimed notifications, with their compiled @context (active
        ones from the service's cache: a subscription is parsed once, not per notification)."""
        found: dict[str, dict[str, _Target]] = {}
        for tenant, ids in wanted.items():
            try:
                with self.store.session(tenant) as session:
                    active = {sub.id: sub for sub in self.subscriptions.active(tenant, session)}
                    subs = {sid: active.get(sid) or session.get_subscription(sid) for sid in ids}
            except NonexistentTenant:
                subs = dict.fromkeys(ids)
            found[tenant] = {}
            for sid, sub in subs.items():
                if sub is None:
                    found[tenant][sid] = None
                    continue
                try:
                    found[tenant][sid] = (sub, self.contexts.compile(tenant, sub.context, counted=False))
                except NgsiLdError as error:
                    found[tenant][sid] = (sub, f"the subscription's @context cannot be used: {error.detail}")
        return found

    # ---- one notification ------------------------------------------------------------------------
    async def _deliver(self, entry: OutboxEntry, target: _Target, deadline: float) -> None:
        pending = entry.notification
        at = clock.now()
        if target is None:
            self._done(DeliveryOutcome(entry.tenant, entry.seq, pending.subscription_id, DROPPED, at))
            return
        sub, ctx = target
        endpoint = sub.notification.endpoint
        try:
            if isinstance(ctx, str):
                raise DeliveryFailed(ctx)
            transport = self._mqtt if endpoint.scheme.startswith("mqtt") else self._http
            assert transport is not None
            slots = self._endpoints.setdefault(
                pending.endpoint, asyncio.Semaphore(self.settings.notification_endpoint_concurrency))
            try:
                async with asyncio.timeout_at(deadline):
                    await slots.acquire()
            except TimeoutError:
                raise DeliveryFailed("the endpoint's every slot stayed taken until the lease was nearly over") from None
            try:
                at = clock.now()
                message = await self._message(entry, sub, ctx, at)
                timeout = endpoint.timeout / 1000 if endpoint.timeout else self.settings.notification_timeout
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    raise DeliveryFailed("no time was left of the lease to send it")
                await transport.send(endpoint, message, min(timeout, left))
            finally:
                slots.release()
            outcome = DeliveryOutcome(entry.tenant, entry.seq, sub.id, SENT, at)
        except asyncio.CancelledError:
            raise  # abandoned: its lease runs out, it is sent again
        except (DeliveryFailed, NgsiLdError) as failure:
            reason = failure.detail if isinstance(failure, NgsiLdError) else str(failure)
            outcome = self._failure(entry, endpoint, at, reason)
        except Exception as error:
            log.exception("notification %s of %s could not be sent", pending.id, sub.id)
            outcome = self._failure(entry, endpoint, at, f"internal error: {type(error).__name__}")
        self._done(outcome)

    async def _message(self, entry: OutboxEntry, sub: Subscription, ctx: Context, at: str) -> Message:
        """The message of ``entry``; the entities its notified entities link to (``join``) are
        read when it is sent, from one read session, in a worker thread."""
        if sub.notification.join not in JOIN_MODES:
            return message(entry, sub, ctx, at)

        def with_linked() -> Message:
            with self.store.session(entry.tenant) as session:
                return message(entry, sub, ctx, at, session.get)

        return await self._call(with_linked)

    def _failure(self, entry: OutboxEntry, endpoint: Endpoint, at: str, reason: str) -> DeliveryOutcome:
        attempts = entry.attempts + 1
        retry_at = None
        if attempts < self.settings.notification_max_attempts:
            delay = min(self.settings.notification_backoff_cap, self.settings.notification_backoff * 2 ** (attempts - 1))
            delay *= random.uniform(0.5, 1.0)  # jitter: failed endpoints are not all retried at once
            if endpoint.cooldown:
                delay = max(delay, endpoint.cooldown / 1000)
            retry_at = time.time() + delay
        else:
            log.warning("notification %s of subscription %s given up after %d attempts: %s",
                        entry.notification.id, entry.notification.subscription_id, attempts, reason)
        return DeliveryOutcome(entry.tenant, entry.seq, entry.notification.subscription_id, FAILED, at, reason,
                               retry_at)

    def _done(self, outcome: DeliveryOutcome) -> None:
        self._outcomes.append(outcome)
        self._wake.set()  # settle it soon: the next notification of its subscription waits for it

    # ---- periodic subscriptions (timeInterval) ---------------------------------------------------
    def _find_periodic(self) -> None:
        """Look in every tenant for active periodic subscriptions (a sweep)."""
        found: dict[tuple[str, str], tuple[Subscription, float]] = {}
        for tenant in [DEFAULT_TENANT, *self.store.tenants()]:
            try:
                with self.store.session(tenant) as session:
                    active = self.subscriptions.active(tenant, session)
            except NonexistentTenant:
                continue
            for sub in active:
                if sub.time_interval is not None:
                    key = (tenant, sub.id)
                    known = self._periodic.get(key)
                    found[key] = (sub, known[1] if known and known[0] == sub else 0.0)
        self._periodic = found

    def _enqueue_periodic(self, now: float) -> None:
        for key, (sub, due) in list(self._periodic.items()):
            if due > now:
                continue
            assert sub.time_interval is not None
            try:
                with self.store.session(key[0], write=True) as session:
                    self.matcher.enqueue_periodic(session, sub, now)
            except NonexistentTenant:
                del self._periodic[key]
                continue
            # Whether this process or another started the period, the next one is that far.
            self._periodic[key] = (sub, now + sub.time_interval)


def message(entry: OutboxEntry, sub: Subscription, ctx: Context, notified_at: str, fetch: Fetch | None = None) -> Message:
    """The notification of ``entry`` written as ``sub`` asks (format, attributes, @context),
    with the entities its notified entities link to (``join``) as ``fetch`` finds them."""
    params = sub.notification

    def render(doc: dict[str, Any]) -> dict[str, Any]:
        return render_notified(
            doc, ctx, form=params.format, sys_attrs=params.sys_attrs,
            attrs=frozenset(params.attributes) if params.attributes is not None else None,
            pick=frozenset(params.pick) if params.pick is not None else None,
            omit=frozenset(params.omit) if params.omit is not None else None,
            lang=sub.lang, dataset_id=frozenset(sub.dataset_id) if sub.dataset_id is not None else None,
        )

    accept = params.endpoint.accept
    if fetch is not None and params.join in JOIN_MODES:
        data: Any = render_linked(entry.notification.data, ctx, fetch, Join(params.join, params.join_level or 1),
                                  form=params.format, sys_attrs=params.sys_attrs, lang=sub.lang, render_root=render)
    else:
        data = [render(doc) for doc in entry.notification.data]
    if accept == GEO_JSON:
        data = geo.to_feature_collection(geo.to_feature(item) for item in data)
    body = notification(entry.notification.id, sub.id, notified_at, data, entry.notification.trigger)
    context_url = sub.jsonld_context or CORE_CONTEXT_URL
    if accept == JSON:
        return Message(body, accept, CONTEXT_LINK.format(context_url), entry.tenant)
    if accept != GEO_JSON:  # JSON-LD: each notified entity is a document of its own, with its @context
        body["data"] = [{**item, "@context": context_url} for item in body["data"]]
    return Message({**body, "@context": context_url}, accept, None, entry.tenant)

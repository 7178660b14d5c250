"""Quotas per tenant: entities stored, API requests per minute, LoRaWAN uplinks per minute.

Every tenant has the quotas of the settings (``quota_*``; 0: unlimited) unless an operator gave
it its own (``/admin/v1/tenants/{name}/quotas``; null: back to the default). Over a quota, the
caller is answered ``TooManyRequests`` (429) with ``Retry-After`` and a detail naming the quota,
its limit and the usage.

Rates are counted in fixed one-minute windows that every process shares (API workers and
ingestion bridges, on one or several machines) through a counter in the database. A database
write per request would cost more than the request, so each process counts locally and adds
its count to the shared counter at most every ``SYNC_EVERY`` second, learning in the same call
what the others added. It refuses when what it knows (the shared total and its own count not
yet added) would pass the limit: a tenant is never refused below its quota, and may pass it by
at most what the other processes accepted since their last addition (about one second).

Entities stored: the count the store gives cheaply, read again every ``ENTITY_COUNT_TTL``
seconds, plus what this process admitted since.

A database that cannot be reached does not turn quotas into an outage: counts wait in memory
and the limits last read keep applying (the request then meets the database's own 503).

The methods block on the store at most once per ``SYNC_EVERY`` (rates) or ``LIMITS_TTL`` and
``ENTITY_COUNT_TTL`` (limits, entity count) per tenant; in between they only touch memory.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from territoires.auth.errors import TooManyRequests
from territoires.config import Settings
from territoires.ngsild.errors import BadRequestData, NonexistentTenant
from territoires.store.port import QUOTA_KINDS, QuotaLimits, Store, Unavailable

log = logging.getLogger("territoires.auth")

REQUESTS, UPLINKS = QUOTA_KINDS
WINDOW = 60  # seconds of a rate window
SYNC_EVERY = 1.0  # seconds between two additions of a process's count to the shared counter
LIMITS_TTL = 5.0  # seconds a tenant's own quotas are used before being read again
ENTITY_COUNT_TTL = 5.0  # seconds a tenant's entity count is used before being read again
ENTITIES_RETRY_AFTER = 60  # what Retry-After says for the entities quota: it lifts only when some are deleted
MAX_TRACKED = 10_000  # tenants a process keeps counters and cached limits of before dropping stale ones
MAX_QUOTA = 2**53  # largest quota accepted (exact in every JSON reader)

# JSON member of each quota, in the order of QuotaLimits' fields.
MEMBERS = {"entities": "entities", "requestsPerMinute": "requests_per_minute",
           "uplinksPerMinute": "uplinks_per_minute"}
_FIELD = {REQUESTS: "requests_per_minute", UPLINKS: "uplinks_per_minute"}
_USAGE_MEMBER = {REQUESTS: "requestsPerMinute", UPLINKS: "uplinksPerMinute"}
_READ_ONLY = {"effective", "usage"}  # members a GET answers that a PUT may carry back


@dataclass
class _Window:
    """A process's view of one (tenant, kind) counter in one window."""

    minute: int
    shared: int = 0  # the window's total in the database when last synced (this process's part included)
    sending: int = 0  # being added right now
    pending: int = 0  # counted here, not yet added
    synced_at: float = -math.inf
    syncing: bool = False

    @property
    def known(self) -> int:
        return self.shared + self.sending + self.pending


@dataclass
class _Cached:
    value: Any
    at: float


class Quotas:
    """The quota keeper of one process. ``clock`` gives epoch seconds (tests pass their own)."""

    def __init__(self, store: Store, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], _Window] = {}
        self._limits: dict[str, _Cached] = {}  # tenant -> its own QuotaLimits, None if no such tenant
        self._entities: dict[str, _Cached] = {}  # tenant -> entity count

    # ---- what the edge calls ---------------------------------------------------------------
    def charge_request(self, tenant: str) -> None:
        """Count one API request of ``tenant``; ``TooManyRequests`` if its quota per minute is reached."""
        self._charge(tenant, REQUESTS, 1)

    def charge_uplinks(self, tenant: str, n: int = 1) -> None:
        """Count ``n`` uplinks of ``tenant``; ``TooManyRequests`` (nothing counted) if they would
        pass its quota per minute."""
        self._charge(tenant, UPLINKS, n)

    def check_entities(self, tenant: str, adding: int) -> None:
        """Before a write that may create up to ``adding`` entities: ``TooManyRequests`` if the
        tenant would then store more than its quota of entities. Admitted entities count at once
        in this process (a burst of creations cannot outrun the cached count)."""
        if adding <= 0:
            return
        own = self._own_limits(tenant)
        if own is None:
            return  # no such tenant: the write itself says so
        limit = self.effective(own).entities
        if not limit:
            return
        now = self.clock()
        with self._lock:
            cached = self._entities.get(tenant)
        if cached is None or now - cached.at >= ENTITY_COUNT_TTL:
            try:
                with self.store.session(tenant) as session:
                    count = session.entity_count()
            except (Unavailable, NonexistentTenant):
                return
            cached = _Cached(count, now)
            with self._lock:
                self._prune(now)
                self._entities[tenant] = cached
        with self._lock:
            stored = cached.value
            if stored + adding > limit:
                raise TooManyRequests(
                    f"quota of entities reached: tenant {tenant!r} stores {stored} entities of the {limit} it "
                    f"may store, and this request may create {adding} more; delete entities or ask the platform "
                    "operator for a larger quota", retry_after=ENTITIES_RETRY_AFTER)
            cached.value = stored + adding

    def flush(self) -> None:
        """Add every count of the current windows to the shared counters now (at shutdown; an
        idle process would otherwise keep them until its next charge)."""
        minute = int(self.clock() // WINDOW)
        with self._lock:
            keys = [key for key, window in self._windows.items() if window.minute == minute and window.pending]
        for key in keys:
            self._sync(key, minute, force=True)

    # ---- what the administration API calls -----------------------------------------------
    def effective(self, own: QuotaLimits) -> QuotaLimits:
        """The quotas that apply, given a tenant's own: its own where set, else the default."""
        settings = self.settings
        return QuotaLimits(
            entities=settings.quota_entities if own.entities is None else own.entities,
            requests_per_minute=(settings.quota_requests_per_minute if own.requests_per_minute is None
                                 else own.requests_per_minute),
            uplinks_per_minute=(settings.quota_uplinks_per_minute if own.uplinks_per_minute is None
                                else own.uplinks_per_minute))

    def report(self, tenant: str) -> dict[str, Any]:
        """The tenant's own quotas (null: the default), those that apply and its current usage,
        as JSON. ``NonexistentTenant`` if there is no such tenant."""
        own = self.store.get_quotas(tenant)
        now = self.clock()
        minute = int(now // WINDOW)
        with self.store.session(tenant) as session:
            entities = session.entity_count()
        usage: dict[str, Any] = {"entities": entities}
        for kind in QUOTA_KINDS:
            shared = self.store.add_usage(tenant, kind, minute, 0)
            with self._lock:
                window = self._windows.get((tenant, kind))
                local = window.pending + window.sending if window is not None and window.minute == minute else 0
            usage[_USAGE_MEMBER[kind]] = shared + local
        usage["since"] = datetime.fromtimestamp(minute * WINDOW, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {**limits_json(own), "effective": limits_json(self.effective(own)), "usage": usage}

    def configure(self, tenant: str, body: Any) -> dict[str, Any]:
        """Set the tenant's own quotas from ``body`` (a PUT: a member absent or null goes back to
        the default) and answer ``report``. Takes effect at once in this process, within
        ``LIMITS_TTL`` seconds in the others."""
        self.store.put_quotas(tenant, limits_from_json(body))
        with self._lock:
            self._limits.pop(tenant, None)
        return self.report(tenant)

    # ---- counting ------------------------------------------------------------------------
    def _charge(self, tenant: str, kind: str, n: int) -> None:
        if n <= 0:
            return
        own = self._own_limits(tenant)
        if own is None:
            return  # no such tenant: nothing to count against
        limit = getattr(self.effective(own), _FIELD[kind])
        now = self.clock()
        minute = int(now // WINDOW)
        key = (tenant, kind)
        self._sync(key, minute)
        with self._lock:
            window = self._window(key, minute, now)
            if limit and window.known + n > limit:
                retry = math.ceil((minute + 1) * WINDOW - now)
                noun = "requests" if kind == REQUESTS else "uplinks"
                raise TooManyRequests(
                    f"quota of {noun} per minute reached: tenant {tenant!r} may make {limit} {noun} a minute and "
                    f"made {window.known} this minute{'' if n == 1 else f', {n} more asked'}; retry in {retry} s",
                    retry_after=retry)
            window.pending += n

    def _sync(self, key: tuple[str, str], minute: int, *, force: bool = False) -> None:
        """Add the pending count of ``key``'s window to the shared counter and learn its total,
        if the last time was at least ``SYNC_EVERY`` ago (or ``force``) and no other thread is at it."""
        now = self.clock()
        with self._lock:
            window = self._window(key, minute, now)
            if window.syncing or (not force and now - window.synced_at < SYNC_EVERY):
                return
            window.syncing, window.synced_at = True, now
            window.sending, window.pending = window.pending, 0
        total: int | None = None
        try:
            total = self.store.add_usage(key[0], key[1], minute, window.sending)
        except Unavailable as error:
            log.warning("quota counters not shared (database unreachable: %s); counting locally meanwhile", error)
        finally:
            with self._lock:
                if total is None:
                    window.pending += window.sending
                else:
                    window.shared = total
                window.sending, window.syncing = 0, False

    def _window(self, key: tuple[str, str], minute: int, now: float) -> _Window:
        """``key``'s window for ``minute`` (a new one when the minute changed). Under the lock."""
        window = self._windows.get(key)
        if window is None or window.minute != minute:
            if window is None:
                self._prune(now)
            window = self._windows[key] = _Window(minute)
        return window

    def _own_limits(self, tenant: str) -> QuotaLimits | None:
        """The tenant's own quotas, read again every ``LIMITS_TTL`` seconds; None if there is no
        such tenant. The last known (else none) while the database cannot be reached."""
        now = self.clock()
        with self._lock:
            cached = self._limits.get(tenant)
        if cached is not None and now - cached.at < LIMITS_TTL:
            return cached.value
        try:
            own: QuotaLimits | None = self.store.get_quotas(tenant)
        except NonexistentTenant:
            own = None
        except Unavailable:
            return cached.value if cached is not None else QuotaLimits()
        with self._lock:
            self._prune(now)
            self._limits[tenant] = _Cached(own, now)
        return own

    def _prune(self, now: float) -> None:
        """Bound memory (requests may name any tenant): past the bound, drop windows of past
        minutes and cached values out of date. Under the lock."""
        if len(self._windows) > MAX_TRACKED:
            minute = int(now // WINDOW)
            for key in [key for key, window in self._windows.items() if window.minute != minute]:
                del self._windows[key]
        for cache, ttl in ((self._limits, LIMITS_TTL), (self._entities, ENTITY_COUNT_TTL)):
            if len(cache) > MAX_TRACKED:
                for tenant in [tenant for tenant, item in cache.items() if now - item.at >= ttl]:
                    del cache[tenant]


def limits_json(limits: QuotaLimits) -> dict[str, int | None]:
    return {member: getattr(limits, name) for member, name in MEMBERS.items()}


def limits_from_json(body: Any) -> QuotaLimits:
    """A tenant's own quotas from a PUT body ``{"entities": n, "requestsPerMinute": n,
    "uplinksPerMinute": n}``: a whole number (0: unlimited), or null or absent for the default.
    The ``effective`` and ``usage`` members of a GET answer may be sent back; they are ignored."""
    if not isinstance(body, dict):
        raise BadRequestData('give the quotas as a JSON object: {"entities": n, "requestsPerMinute": n, '
                             '"uplinksPerMinute": n} (null: the platform default; 0: unlimited)')
    unknown = sorted(set(body) - set(MEMBERS) - _READ_ONLY)
    if unknown:
        raise BadRequestData(f"unknown member {unknown[0]!r}; quotas are {', '.join(MEMBERS)}")
    limits = QuotaLimits()
    for member, name in MEMBERS.items():
        value = body.get(member)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_QUOTA:
            raise BadRequestData(f"{member} must be a whole number from 0 (unlimited) to {MAX_QUOTA}, or null for "
                                 f"the platform default, not {value!r}")
        limits = replace(limits, **{name: value})
    return limits

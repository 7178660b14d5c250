"""The notification outbox in the embedded backend.

Each tenant's outbox lives in the tenant's file, so the matcher's rows commit or roll back with
the change that caused them. Finding work across tenants: a process remembers which tenants it
enqueued into, retried or settled (``DueTenants``, filled once each session has committed), and
now and then sweeps every tenant file for work that a crashed process left behind (its leases
run out, then it is claimed again: at least once).

Claims and settlements are short write transactions on the tenant's file: the file lock orders
them with the entity writers of every process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from typing import Any

from territoires.ngsild.errors import NonexistentTenant
from territoires.store import outbox_records as records
from territoires.store.port import (
    DEFAULT_TENANT,
    FAILED,
    DeliveryOutcome,
    OutboxEntry,
    PendingNotification,
    TenantSession,
    chunks,
)

# In a tenant's file. ``seq`` never reuses a number (AUTOINCREMENT): an outcome names its row
# by it. ``due`` and ``lease`` are epoch seconds; a row whose lease is in the past is unclaimed;
# a row queued behind another of its subscription waits (``records.WAITING``); a dead row's
# ``due`` is when it was given up.
OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    subscription TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    trigger TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    due REAL NOT NULL,
    lease REAL NOT NULL DEFAULT 0,
    owner TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    dead INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS outbox_queues ON outbox(subscription, seq) WHERE dead = 0;
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(due) WHERE dead = 0;
CREATE INDEX IF NOT EXISTS outbox_dead ON outbox(subscription, seq) WHERE dead = 1;
CREATE TABLE IF NOT EXISTS notification_status(
    subscription TEXT PRIMARY KEY,
    times_sent INTEGER NOT NULL DEFAULT 0,
    times_failed INTEGER NOT NULL DEFAULT 0,
    last_notification TEXT,
    last_success TEXT,
    last_failure TEXT,
    status TEXT,
    enqueued REAL,
    period REAL
) WITHOUT ROWID;
"""

_ENQUEUE = records.enqueue_sql("?", "dead = 0")
_PROMOTE = records.promote_sql("?", "dead = 0")
_REQUEUE = records.requeue_sql("?", "dead = 0")
_SEQ_IN = "seq IN (SELECT value FROM json_each(?))"
_BIND_CHUNK = 500


class SqliteOutbox:
    """The outbox methods of a tenant session (mixed into ``SqliteSession``)."""

    conn: Any  # sqlite3.Connection of the session
    notifications_enqueued = False  # set by enqueue_notifications: the store wakes its worker on commit

    def enqueue_notifications(
        self, notifications: Sequence[PendingNotification], *, now: float, throttled: Sequence[str] = ()
    ) -> None:
        if notifications:
            self.conn.executemany(_ENQUEUE, [records.notification_row(n, now) for n in notifications])
            self.notifications_enqueued = True
        self.conn.executemany(
            "INSERT INTO notification_status(subscription, enqueued) VALUES (?, ?) "
            "ON CONFLICT(subscription) DO UPDATE SET enqueued = excluded.enqueued",
            [(sid, now) for sid in throttled],
        )

    def last_enqueued(self, subscription_ids: Sequence[str]) -> dict[str, float]:
        found: dict[str, float] = {}
        for part in chunks(subscription_ids, _BIND_CHUNK):
            found.update(self.conn.execute(
                f"SELECT subscription, enqueued FROM notification_status WHERE subscription IN "
                f"({','.join('?' * len(part))}) AND enqueued IS NOT NULL", tuple(part)))
        return found

    def start_period(self, subscription_id: str, now: float, interval: float) -> bool:
        return self.conn.execute(
            "INSERT INTO notification_status(subscription, period) VALUES (?, ?) ON CONFLICT(subscription) "
            "DO UPDATE SET period = excluded.period WHERE period IS NULL OR period <= excluded.period - ?",
            (subscription_id, now, interval),
        ).rowcount > 0

    def delivery_status(self, subscription_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for part in chunks(subscription_ids, _BIND_CHUNK):
            rows = self.conn.execute(
                f"SELECT {records.STATUS_COLUMNS} FROM notification_status WHERE subscription IN "
                f"({','.join('?' * len(part))}) AND times_sent > 0", tuple(part))
            found.update(records.status_members(row) for row in rows)
        return found

    def dead_notifications(
        self, subscription_id: str | None = None, *, offset: int = 0, limit: int = 100
    ) -> tuple[list[OutboxEntry], int]:
        where, params = records.dead_selection("dead = 1", "?", _SEQ_IN, subscription_id, None)
        rows = self.conn.execute(f"SELECT {records.ENTRY_COLUMNS} FROM outbox WHERE {where} ORDER BY seq "
                                 "LIMIT ? OFFSET ?", (*params, limit, offset)).fetchall()
        count = self.conn.execute(f"SELECT count(*) FROM outbox WHERE {where}", params).fetchone()[0]
        return [records.entry("", row) for row in rows], count

    def revive_notifications(self, subscription_id: str | None = None, seqs: Sequence[int] | None = None) -> int:
        where, params = records.dead_selection("dead = 1", "?", _SEQ_IN, subscription_id, seqs)
        queues = [(sid, sid) for (sid,) in self.conn.execute(
            f"SELECT DISTINCT subscription FROM outbox WHERE {where}", params)]
        revived = self.conn.execute(f"UPDATE outbox SET {records.REVIVE_SET} WHERE {where}", params).rowcount
        for statement in _REQUEUE:
            self.conn.executemany(statement, queues)
        if revived:
            self.notifications_enqueued = True
        return revived

    def drop_dead_notifications(self, subscription_id: str | None = None, seqs: Sequence[int] | None = None) -> int:
        where, params = records.dead_selection("dead = 1", "?", _SEQ_IN, subscription_id, seqs)
        return self.conn.execute(f"DELETE FROM outbox WHERE {where}", params).rowcount

    def forget_notifications(self, subscription_id: str) -> int:
        dropped = self.conn.execute("DELETE FROM outbox WHERE subscription = ?", (subscription_id,)).rowcount
        self.conn.execute("DELETE FROM notification_status WHERE subscription = ?", (subscription_id,))
        return dropped

    # ---- for the store's claims and settlements (not part of the port) ----
    def has_pending_notifications(self) -> bool:
        return self.conn.execute("SELECT 1 FROM outbox WHERE dead = 0 LIMIT 1").fetchone() is not None

    def claim_outbox(self, tenant: str, owner: str, now: float, limit: int, lease: float,
                     busy: Collection[str]) -> tuple[list[OutboxEntry], float | None]:
        """Claim due notifications; returns them and when this tenant is worth a look again
        (None: nothing pending)."""
        skip = f"AND endpoint NOT IN ({','.join('?' * len(busy))})" if busy else ""
        rows = self.conn.execute(
            f"SELECT {records.ENTRY_COLUMNS} FROM outbox WHERE dead = 0 AND due <= ? AND lease <= ? {skip} "
            "ORDER BY due, seq LIMIT ?",
            (now, now, *busy, limit),
        ).fetchall()
        self.conn.executemany("UPDATE outbox SET lease = ?, owner = ? WHERE seq = ?",
                              [(now + lease, owner, row[0]) for row in rows])
        # A head claimed now, or waiting for its retry, is worth a look at its time; one left
        # for a busy endpoint or beyond the limit, at once.
        later = self.conn.execute(f"SELECT min(max(due, lease)) FROM outbox WHERE dead = 0 AND due < {records.WAITING}"
                                  ).fetchone()[0]
        return [records.entry(tenant, row) for row in rows], later

    def settle_outbox(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        gone = [(o.seq,) for o in outcomes if o.result != FAILED]
        retried = [(o.error, o.retry_at, o.seq) for o in outcomes if o.result == FAILED and o.retry_at is not None]
        self.conn.executemany("DELETE FROM outbox WHERE seq = ?", gone)
        self.conn.executemany("UPDATE outbox SET attempts = attempts + 1, last_error = ?, due = ?, lease = 0, "
                              "owner = NULL WHERE seq = ?", retried)
        self.conn.executemany("UPDATE outbox SET attempts = attempts + 1, last_error = ?, dead = 1, due = ?, "
                              "lease = 0, owner = NULL WHERE seq = ?", records.given_up(outcomes))
        self.conn.executemany(_PROMOTE, records.leaving(outcomes))
        self.conn.executemany(
            "INSERT INTO notification_status(subscription, times_sent, times_failed, last_notification, "
            "last_success, last_failure, status) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(subscription) DO UPDATE "
            "SET times_sent = times_sent + excluded.times_sent, times_failed = times_failed + excluded.times_failed, "
            "last_notification = excluded.last_notification, "
            "last_success = coalesce(excluded.last_success, last_success), "
            "last_failure = coalesce(excluded.last_failure, last_failure), status = excluded.status",
            [(c.subscription, c.sent, c.failed, c.last_notification, c.last_success, c.last_failure, c.status)
             for c in records.status_changes(outcomes)],
        )


class DueTenants:
    """The tenants this process knows to have notifications, and from when each is worth a
    look; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._due: dict[str, float] = {}
        self._visited: dict[str, float] = {}
        self._marks = 0  # counts marks: a claim's conclusion must not undo a mark made meanwhile

    def mark(self, tenant: str, at: float | None, *, unless_marked_since: int | None = None) -> None:
        """Look at ``tenant`` from ``at`` (epoch seconds; 0: at once); None: nothing there. With
        ``unless_marked_since`` (a ``generation()``), only if no mark was made since."""
        with self._lock:
            if unless_marked_since is not None and self._marks != unless_marked_since:
                return
            self._marks += 1
            if at is None:
                self._due.pop(tenant, None)
                self._visited.pop(tenant, None)
            else:
                self._due[tenant] = at

    def generation(self) -> int:
        with self._lock:
            return self._marks

    def due(self, now: float) -> list[str]:
        """The tenants worth a look at ``now``, the least recently visited first (so that a
        tenant with a long queue does not starve the others)."""
        with self._lock:
            found = [tenant for tenant, at in self._due.items() if at <= now]
            found.sort(key=lambda tenant: self._visited.get(tenant, 0.0))
            for tenant in found:
                self._visited[tenant] = now
            return found


class SqliteOutboxDelivery:
    """Claims and settlements across tenants (mixed into ``SqliteStore``)."""

    _due_tenants: DueTenants
    on_enqueued: Callable[[], None] | None
    session: Callable[..., AbstractContextManager[Any]]
    tenants: Callable[[], list[str]]

    def _outbox_committed(self, tenant: str, session: TenantSession) -> None:
        """After a session committed: remember and announce the notifications it enqueued."""
        if getattr(session, "notifications_enqueued", False):
            self._due_tenants.mark(tenant, 0.0)
            if self.on_enqueued is not None:
                self.on_enqueued()

    def _sweep(self) -> None:
        for tenant in [DEFAULT_TENANT, *self.tenants()]:
            try:
                with self.session(tenant) as session:
                    pending = session.has_pending_notifications()
            except NonexistentTenant:
                continue  # deleted meanwhile
            if pending:
                self._due_tenants.mark(tenant, 0.0)

    def claim_notifications(
        self, owner: str, now: float, *, limit: int, lease: float, busy_endpoints: Collection[str] = (),
        sweep: bool = False, settle: Sequence[DeliveryOutcome] = (),
    ) -> list[OutboxEntry]:
        if sweep:
            self._sweep()
        busy = tuple(busy_endpoints)
        outcomes = records.by_tenant(settle)
        claimed: list[OutboxEntry] = []
        for tenant in [*outcomes, *(t for t in self._due_tenants.due(now) if t not in outcomes)]:
            settled = outcomes.get(tenant, ())
            if len(claimed) >= limit and not settled:
                break
            before = self._due_tenants.generation()
            try:
                with self.session(tenant, write=True) as session:
                    if settled:
                        session.settle_outbox(settled)
                    got, later = session.claim_outbox(tenant, owner, now, max(limit - len(claimed), 0), lease, busy)
            except NonexistentTenant:
                self._due_tenants.mark(tenant, None)
                continue
            claimed.extend(got)
            # A session that committed meanwhile may have enqueued more: then it is due at once.
            self._due_tenants.mark(tenant, later, unless_marked_since=before)
        return claimed

    def settle_notifications(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        for tenant, settled in records.by_tenant(outcomes).items():
            try:
                with self.session(tenant, write=True) as session:
                    session.settle_outbox(settled)
            except NonexistentTenant:
                continue
            self._due_tenants.mark(tenant, 0.0)  # the next notification of each queue is due

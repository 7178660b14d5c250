"""The notification outbox in the PostgreSQL backend (migration ``0005_outbox.sql``).

``outbox`` and ``notification_status`` are tenant-scoped under row-level security: the matcher
writes through the tenant's write transaction, with the change. A worker finds work across
tenants through ``outbox_tenants`` (see the migration for why it has no row-level security),
then claims each tenant's due notifications in a transaction naming that tenant, with
``FOR UPDATE SKIP LOCKED``, so that workers of several processes claim side by side.

A settlement takes the tenant's write lock, as entity writers do: promoting the next
notification of a queue must see every notification a concurrent writer queued behind the head.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import psycopg

from territoires.store import outbox_records as records
from territoires.store.port import (
    FAILED,
    DeliveryOutcome,
    OutboxEntry,
    PendingNotification,
    TenantSession,
)
from territoires.store.postgres_json import BIGINTS

_ENQUEUE = records.enqueue_sql("%s", "NOT dead")
_PROMOTE = records.promote_sql("%s", "NOT dead")
_REQUEUE = records.requeue_sql("%s", "NOT dead")
_SEQ_IN = f"seq = ANY({BIGINTS})"
# The writer of outbox rows records its tenant as having work, in the same transaction.
_ANNOUNCE = ("INSERT INTO outbox_tenants (tenant) VALUES (current_setting('territoires.tenant')) "
             "ON CONFLICT (tenant) DO UPDATE SET version = outbox_tenants.version + 1, due = 0")


class PostgresOutbox:
    """The outbox methods of a tenant session (mixed into ``PostgresSession``)."""

    conn: psycopg.Connection
    notifications_enqueued = False  # set by enqueue_notifications: the store wakes its worker on commit

    def enqueue_notifications(
        self, notifications: Sequence[PendingNotification], *, now: float, throttled: Sequence[str] = ()
    ) -> None:
        cur = self.conn.cursor()
        with self.conn.pipeline():
            if notifications:
                cur.executemany(_ENQUEUE, [records.notification_row(n, now) for n in notifications])
                self.conn.execute(_ANNOUNCE)
                self.notifications_enqueued = True
            cur.executemany(
                "INSERT INTO notification_status (subscription, enqueued) VALUES (%s, %s) "
                "ON CONFLICT (tenant, subscription) DO UPDATE SET enqueued = excluded.enqueued",
                [(sid, now) for sid in throttled],
            )

    def last_enqueued(self, subscription_ids: Sequence[str]) -> dict[str, float]:
        return dict(self.conn.execute(
            "SELECT subscription, enqueued FROM notification_status WHERE subscription = ANY(%s) "
            "AND enqueued IS NOT NULL", (list(subscription_ids),)).fetchall())

    def start_period(self, subscription_id: str, now: float, interval: float) -> bool:
        return self.conn.execute(
            "INSERT INTO notification_status (subscription, period) VALUES (%s, %s) "
            "ON CONFLICT (tenant, subscription) DO UPDATE SET period = excluded.period "
            "WHERE notification_status.period IS NULL OR notification_status.period <= excluded.period - %s "
            "RETURNING 1", (subscription_id, now, interval)).fetchone() is not None

    def delivery_status(self, subscription_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        rows = self.conn.execute(
            f"SELECT {records.STATUS_COLUMNS} FROM notification_status WHERE subscription = ANY(%s) "
            "AND times_sent > 0", (list(subscription_ids),)).fetchall()
        return dict(records.status_members(row) for row in rows)

    def dead_notifications(
        self, subscription_id: str | None = None, *, offset: int = 0, limit: int = 100
    ) -> tuple[list[OutboxEntry], int]:
        where, params = records.dead_selection("dead", "%s", _SEQ_IN, subscription_id, None)
        with self.conn.pipeline():
            page = self.conn.execute(f"SELECT {records.ENTRY_COLUMNS} FROM outbox WHERE {where} ORDER BY seq "
                                     "LIMIT %s OFFSET %s", (*params, limit, offset))
            count = self.conn.execute(f"SELECT count(*) FROM outbox WHERE {where}", params)
            rows, total = page.fetchall(), count.fetchone()[0]
        return [records.entry("", row) for row in rows], total

    def revive_notifications(self, subscription_id: str | None = None, seqs: Sequence[int] | None = None) -> int:
        where, params = records.dead_selection("dead", "%s", _SEQ_IN, subscription_id, seqs)
        revived = self.conn.execute(f"UPDATE outbox SET {records.REVIVE_SET} WHERE {where} RETURNING subscription",
                                    params).fetchall()
        if not revived:
            return 0
        queues = [(sid, sid) for sid in sorted({sid for (sid,) in revived})]
        cur = self.conn.cursor()
        with self.conn.pipeline():
            for statement in _REQUEUE:
                cur.executemany(statement, queues)
            self.conn.execute(_ANNOUNCE)
        self.notifications_enqueued = True
        return len(revived)

    def drop_dead_notifications(self, subscription_id: str | None = None, seqs: Sequence[int] | None = None) -> int:
        where, params = records.dead_selection("dead", "%s", _SEQ_IN, subscription_id, seqs)
        return self.conn.execute(f"DELETE FROM outbox WHERE {where}", params).rowcount

    def forget_notifications(self, subscription_id: str) -> int:
        with self.conn.pipeline():
            dropped = self.conn.execute("DELETE FROM outbox WHERE subscription = %s", (subscription_id,))
            self.conn.execute("DELETE FROM notification_status WHERE subscription = %s", (subscription_id,))
        return dropped.rowcount


class PostgresOutboxDelivery:
    """Claims and settlements across tenants (mixed into ``PostgresStore``)."""

    _connection: Callable[[], AbstractContextManager[psycopg.Connection]]  # PostgresStore's
    on_enqueued: Callable[[], None] | None

    def _outbox_committed(self, tenant: str, session: TenantSession) -> None:
        """After a session committed: announce the notifications it enqueued to this process's
        worker (other processes find them in ``outbox_tenants`` at their next poll)."""
        if getattr(session, "notifications_enqueued", False) and self.on_enqueued is not None:
            self.on_enqueued()

    @contextmanager
    def _outbox_transaction(self, tenant: str, *, lock: bool = False) -> Iterator[psycopg.Connection]:
        """A transaction naming ``tenant`` (with ``lock``, holding its write lock as well)."""
        with self._connection() as conn, conn.transaction():
            conn.execute("SELECT set_config('territoires.tenant', %s, true)", (tenant,))
            if lock:
                conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (tenant,))
            yield conn

    def claim_notifications(
        self, owner: str, now: float, *, limit: int, lease: float, busy_endpoints: Collection[str] = (),
        sweep: bool = False,  # outbox_tenants is transactional: nothing is ever left unannounced
        settle: Sequence[DeliveryOutcome] = (),
    ) -> list[OutboxEntry]:
        outcomes = records.by_tenant(settle)
        with self._connection() as conn:
            announced = dict(conn.execute("SELECT tenant, version FROM outbox_tenants WHERE due <= %s ORDER BY due",
                                          (now,)).fetchall())
        claimed: list[OutboxEntry] = []
        for tenant in [*outcomes, *(t for t in announced if t not in outcomes)]:
            settled = outcomes.get(tenant, ())
            if len(claimed) >= limit and not settled:
                break
            with self._outbox_transaction(tenant, lock=bool(settled)) as conn:
                if settled and not _settle(conn, tenant, settled):
                    continue  # the tenant is gone
                rows = conn.execute(
                    "WITH due AS (SELECT seq FROM outbox WHERE NOT dead AND due <= %s AND lease <= %s "
                    "AND endpoint <> ALL(%s) ORDER BY due, seq LIMIT %s FOR UPDATE SKIP LOCKED) "
                    f"UPDATE outbox o SET lease = %s, owner = %s FROM due WHERE o.seq = due.seq "
                    f"RETURNING {', '.join('o.' + c.strip() for c in records.ENTRY_COLUMNS.split(','))}",
                    (now, now, list(busy_endpoints), max(limit - len(claimed), 0), now + lease, owner),
                ).fetchall()
                if not settled:  # (a settlement announced its tenant again: looked at next round)
                    _lower_announcement(conn, tenant, announced[tenant])
            claimed.extend(records.entry(tenant, row) for row in sorted(rows))
        return claimed

    def settle_notifications(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        for tenant, settled in records.by_tenant(outcomes).items():
            with self._outbox_transaction(tenant, lock=True) as conn:
                _settle(conn, tenant, settled)


def _lower_announcement(conn: psycopg.Connection, tenant: str, version: int) -> None:
    """After a claim: record when the tenant is worth a look again, or forget it if nothing is
    pending; only if no writer announced more meanwhile (its row lock makes this wait)."""
    later = conn.execute(f"SELECT min(greatest(due, lease)) FROM outbox WHERE NOT dead "
                         f"AND due < {records.WAITING}").fetchone()[0]
    if later is None:
        conn.execute("DELETE FROM outbox_tenants WHERE tenant = %s AND version = %s", (tenant, version))
    else:
        conn.execute("UPDATE outbox_tenants SET due = %s WHERE tenant = %s AND version = %s", (later, tenant, version))


def _settle(conn: psycopg.Connection, tenant: str, settled: Sequence[DeliveryOutcome]) -> bool:
    """Record outcomes in a transaction naming ``tenant`` and holding its write lock; False if
    the tenant was deleted meanwhile (its outbox with it)."""
    if conn.execute("SELECT 1 FROM tenants WHERE name = %s FOR KEY SHARE", (tenant,)).fetchone() is None:
        return False
    cur = conn.cursor()
    with conn.pipeline():
        cur.executemany("DELETE FROM outbox WHERE seq = %s", [(o.seq,) for o in settled if o.result != FAILED])
        cur.executemany(
            "UPDATE outbox SET attempts = attempts + 1, last_error = %s, due = %s, lease = 0, owner = NULL "
            "WHERE seq = %s",
            [(o.error, o.retry_at, o.seq) for o in settled if o.result == FAILED and o.retry_at is not None])
        cur.executemany(
            "UPDATE outbox SET attempts = attempts + 1, last_error = %s, dead = true, due = %s, lease = 0, "
            "owner = NULL WHERE seq = %s", records.given_up(settled))
        cur.executemany(_PROMOTE, records.leaving(settled))
        cur.executemany(
            "INSERT INTO notification_status (subscription, times_sent, times_failed, last_notification, "
            "last_success, last_failure, status) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (tenant, subscription) DO UPDATE SET "
            "times_sent = notification_status.times_sent + excluded.times_sent, "
            "times_failed = notification_status.times_failed + excluded.times_failed, "
            "last_notification = excluded.last_notification, "
            "last_success = coalesce(excluded.last_success, notification_status.last_success), "
            "last_failure = coalesce(excluded.last_failure, notification_status.last_failure), "
            "status = excluded.status",
            [(c.subscription, c.sent, c.failed, c.last_notification, c.last_success, c.last_failure, c.status)
             for c in records.status_changes(settled)],
        )
        conn.execute(_ANNOUNCE)  # the next notification of each queue is due
    return True

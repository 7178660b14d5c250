"""What both SQL backends share about the notification outbox: its rows as port objects, the
delivery status as NGSI-LD members, and how a batch of outcomes changes that status."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from territoires.store.port import (
    FAILED,
    SENT,
    DeliveryOutcome,
    OutboxEntry,
    PendingNotification,
)

# The due time of a notification queued behind another of its subscription: only the head of
# each subscription's queue is ever due, so a claim reads due rows only, and a settlement that
# removes a head makes the next one due ("promotes" it). Epoch seconds far in the future.
WAITING = 1e18

# The outbox columns a claim or a listing reads, in this order (see ``entry``). ``due`` of a
# dead letter is when it was given up (epoch seconds): nothing schedules it any more.
ENTRY_COLUMNS = "seq, id, subscription, endpoint, trigger, data, created_at, attempts, last_error, dead, due"
# The delivery status columns, in the order of ``STATUS_MEMBERS`` after the subscription.
STATUS_COLUMNS = "subscription, times_sent, times_failed, last_notification, last_success, last_failure, status"
STATUS_MEMBERS = ("timesSent", "timesFailed", "lastNotification", "lastSuccess", "lastFailure", "status")


def notification_row(n: PendingNotification, now: float) -> tuple[Any, ...]:
    """The values of ``id, subscription, endpoint, trigger, data, created_at``, then the
    subscription again and ``now``, for the INSERT … SELECT of ``enqueue_sql``."""
    return (n.id, n.subscription_id, n.endpoint, n.trigger, orjson.dumps(n.data).decode(), n.created_at,
            n.subscription_id, now)


def enqueue_sql(mark: str, alive: str) -> str:
    """The statement adding one notification (values of ``notification_row``), due at once if
    its subscription has no other pending notification, else waiting behind it. ``mark`` is
    the parameter marker of the driver, ``alive`` the SQL test of a row not given up."""
    m = mark
    return (f"INSERT INTO outbox (id, subscription, endpoint, trigger, data, created_at, due) "
            f"SELECT {m}, {m}, {m}, {m}, {m}, {m}, CASE WHEN EXISTS (SELECT 1 FROM outbox WHERE subscription = {m} "
            f"AND {alive}) THEN {WAITING} ELSE {m} END")


def promote_sql(mark: str, alive: str) -> str:
    """The statement making due at once the next notification of a subscription (the
    parameter) once its head left the queue; it does nothing while a head is pending."""
    return (f"UPDATE outbox SET due = 0 WHERE seq = (SELECT min(seq) FROM outbox WHERE subscription = {mark} "
            f"AND {alive}) AND due >= {WAITING}")


def requeue_sql(mark: str, alive: str) -> tuple[str, str]:
    """The two statements that give a subscription (the parameter, twice each) its right head
    after dead letters were revived into its queue with ``due`` WAITING: first an unclaimed head
    that is no longer the oldest goes back to waiting, then the oldest becomes due unless a
    head (claimed, in flight) remains. So one notification at most is due or in flight per
    subscription, and the revived ones come before those enqueued after them."""
    m = mark
    demote = (f"UPDATE outbox SET due = {WAITING} WHERE subscription = {m} AND {alive} AND due < {WAITING} "
              f"AND owner IS NULL AND seq > (SELECT min(seq) FROM outbox WHERE subscription = {m} AND {alive})")
    head = (f"UPDATE outbox SET due = 0 WHERE seq = (SELECT min(seq) FROM outbox WHERE subscription = {m} "
            f"AND {alive}) AND NOT EXISTS (SELECT 1 FROM outbox WHERE subscription = {m} AND {alive} "
            f"AND due < {WAITING})")
    return demote, head


# What a revived dead letter becomes: pending as if never tried, waiting until ``requeue_sql``
# makes it the head of its queue.
REVIVE_SET = f"dead = false, attempts = 0, last_error = NULL, due = {WAITING}, lease = 0, owner = NULL"


def dead_selection(dead: str, mark: str, seq_in: str, subscription_id: str | None,
                   seqs: Sequence[int] | None) -> tuple[str, list[Any]]:
    """The WHERE condition and its parameters choosing dead letters (see the port's
    ``revive_notifications``). ``dead`` is the SQL test of a dead row, ``seq_in`` the driver's
    test that ``seq`` is in a JSON array given as one parameter."""
    where, params = [dead], []
    if subscription_id is not None:
        where.append(f"subscription = {mark}")
        params.append(subscription_id)
    if seqs is not None:
        where.append(seq_in)
        params.append(orjson.dumps([int(seq) for seq in seqs]).decode())
    return " AND ".join(where), params


def given_up(outcomes: Iterable[DeliveryOutcome]) -> list[tuple[str | None, float, int]]:
    """``(last error, when given up in epoch seconds, seq)`` of the outcomes that give a
    notification up."""
    return [(o.error, _epoch(o.at), o.seq) for o in outcomes if o.result == FAILED and o.retry_at is None]


def _epoch(instant: str) -> float:
    return datetime.fromisoformat(instant).timestamp()


def _instant(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def leaving(outcomes: Iterable[DeliveryOutcome]) -> list[tuple[str]]:
    """The subscriptions whose head leaves the queue with these outcomes (sent, dropped or
    given up), as parameters of ``promote_sql``."""
    return [(o.subscription_id,) for o in outcomes if o.result != FAILED or o.retry_at is None]


def entry(tenant: str, row: Sequence[Any]) -> OutboxEntry:
    """An outbox row read with ``ENTRY_COLUMNS`` as an ``OutboxEntry``."""
    seq, nid, subscription, endpoint, trigger, data, created_at, attempts, last_error, dead, due = row
    notification = PendingNotification(nid, subscription, endpoint, trigger, orjson.loads(data), created_at)
    return OutboxEntry(tenant, seq, notification, attempts, last_error, "dead" if dead else "pending",
                       _instant(due) if dead and 0 < due < WAITING else None)


def status_members(row: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """(subscription id, its delivery status members) from a row read with ``STATUS_COLUMNS``;
    members without a value are left out."""
    return row[0], {name: value for name, value in zip(STATUS_MEMBERS, row[1:], strict=True) if value is not None}


@dataclass(frozen=True)
class StatusChange:
    """How one subscription's status changes with a batch of its attempts."""

    subscription: str
    sent: int  # attempts, failed or not
    failed: int
    last_notification: str
    last_success: str | None
    last_failure: str | None
    status: str  # how the latest attempt went


def status_changes(outcomes: Iterable[DeliveryOutcome]) -> list[StatusChange]:
    """The status change of each subscription with attempts among ``outcomes`` (dropped
    notifications count for nothing)."""
    attempts: dict[str, list[DeliveryOutcome]] = {}
    for outcome in outcomes:
        if outcome.result in (SENT, FAILED):
            attempts.setdefault(outcome.subscription_id, []).append(outcome)
    changes = []
    for subscription, made in attempts.items():
        made.sort(key=lambda o: o.at)
        successes = [o.at for o in made if o.result == SENT]
        failures = [o.at for o in made if o.result == FAILED]
        changes.append(StatusChange(
            subscription, len(made), len(failures), made[-1].at, successes[-1] if successes else None,
            failures[-1] if failures else None, "ok" if made[-1].result == SENT else "failed",
        ))
    return changes


def by_tenant(outcomes: Iterable[DeliveryOutcome]) -> dict[str, list[DeliveryOutcome]]:
    grouped: dict[str, list[DeliveryOutcome]] = {}
    for outcome in outcomes:
        grouped.setdefault(outcome.tenant, []).append(outcome)
    return grouped

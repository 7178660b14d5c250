"""Dead letters: the notifications the delivery worker gave up on (clause 5.8.6 leaves what to
do with them to the broker), for an operator to see, send again once the receiver is back, or
drop. Used by the administration API and the ``territoires notifications`` command.

A revived notification goes back to its subscription's queue with its notification id and its
place (before what was enqueued after it) and is tried again as if new: the whole backoff,
``notification_max_attempts`` attempts. The worker of this process is woken at once; that of
another process finds it at its next poll (PostgreSQL) or sweep (embedded store).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from territoires.ngsild.errors import BadRequestData
from territoires.ngsild.subscription import validate_subscription_id
from territoires.store.port import OutboxEntry, Store

# How many dead letters one request may name by seq (a page of the listing is at most as long).
MAX_SEQS = 1000
_MAX_SEQ = 2**63 - 1
_MEMBERS = ("subscription", "seqs")


@dataclass(frozen=True)
class Choice:
    """Which dead letters: of a subscription (None: all of them) and among seqs (None: every
    one); both given, those of the subscription among the seqs."""

    subscription_id: str | None = None
    seqs: tuple[int, ...] | None = None


def choice_of(body: Any) -> Choice:
    """The choice a request body states: ``{"subscription": "<id>"}``, ``{"seqs": [..]}``, both,
    or ``{}`` for every dead letter of the tenant. Raises ``BadRequestData``."""
    if not isinstance(body, dict):
        raise BadRequestData('give the dead letters as {"subscription": "<id>"}, {"seqs": [<seq>, …]} '
                             "or {} for all of them")
    unknown = sorted(set(body) - set(_MEMBERS))
    if unknown:
        raise BadRequestData(f"unknown member(s) {', '.join(unknown)}; dead letters are chosen by "
                             "subscription and seqs")
    subscription = body.get("subscription")
    return Choice(None if subscription is None else validate_subscription_id(subscription),
                  None if body.get("seqs") is None else seqs_of(body["seqs"]))


def seqs_of(value: Any) -> tuple[int, ...]:
    """Dead letters' ``seq`` numbers as a request gives them. Raises ``BadRequestData``."""
    if not isinstance(value, list) or any(type(seq) is not int or not 0 < seq <= _MAX_SEQ for seq in value):
        raise BadRequestData(f"seqs must be a list of positive whole numbers (the seq of each dead letter as "
                             f"listed), not {orjson.dumps(value).decode()[:100]}")
    if len(value) > MAX_SEQS:
        raise BadRequestData(f"seqs names {len(value)} dead letters; at most {MAX_SEQS} at a time "
                             "(or choose by subscription)")
    return tuple(value)


def dead_letter_json(entry: OutboxEntry) -> dict[str, Any]:
    """What an operator reads of a dead letter: which notification, why and when it was given
    up, and what it carried (the notified entities' ids and the size of its data; the data
    itself is rendered only when it is sent)."""
    notification = entry.notification
    shown: dict[str, Any] = {
        "seq": entry.seq,
        "id": notification.id,
        "subscriptionId": notification.subscription_id,
        "endpoint": notification.endpoint,
        "createdAt": notification.created_at,
        "givenUpAt": entry.given_up_at,
        "attempts": entry.attempts,
        "lastError": entry.last_error,
        "triggerReason": notification.trigger or None,
        "entityIds": [doc.get("id") for doc in notification.data],
        "dataSize": len(orjson.dumps(notification.data)),
    }
    return {key: value for key, value in shown.items() if value is not None}


class DeadLetterService:
    def __init__(self, store: Store) -> None:
        self.store = store

    def list(self, tenant: str, subscription_id: str | None = None, *, offset: int = 0,
             limit: int = 20) -> tuple[list[OutboxEntry], int]:
        """A page of the tenant's dead letters (of one subscription or all), oldest first, and
        how many there are."""
        if subscription_id is not None:
            validate_subscription_id(subscription_id)
        with self.store.session(tenant) as session:
            return session.dead_notifications(subscription_id, offset=offset, limit=limit)

    def revive(self, tenant: str, choice: Choice) -> int:
        """Send these dead letters again (see the module docstring); returns how many."""
        with self.store.session(tenant, write=True) as session:
            return session.revive_notifications(choice.subscription_id, choice.seqs)

    def drop(self, tenant: str, choice: Choice) -> int:
        """Delete these dead letters for good; returns how many."""
        with self.store.session(tenant, write=True) as session:
            return session.drop_dead_notifications(choice.subscription_id, choice.seqs)

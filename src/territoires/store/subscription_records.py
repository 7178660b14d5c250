"""Subscriptions as rows, the same way in both SQL backends: (id, active, expires, doc)."""

from __future__ import annotations

import os

import orjson

from territoires.ngsild.subscription import Subscription


def subscription_row(subscription: Subscription) -> tuple[str, bool, str | None, str]:
    """The columns of a subscription: its id, isActive, its expiry as a ``clock.now()``-shaped
    text (so that it compares with an instant as text) and its document as JSON text."""
    return (subscription.id, subscription.is_active, subscription.expires_key,
            orjson.dumps(subscription.to_document()).decode())


def read_subscription(doc: str) -> Subscription:
    return Subscription.from_document(orjson.loads(doc))


def new_version() -> str:
    """A fresh ``subscriptions_version`` token: random, so never one seen before."""
    return os.urandom(16).hex()

"""Subscriptions in a tenant's SQLite file (the storage contract's subscription methods).

``subscriptions(seq, id, active, expires, doc)``: ``doc`` is the subscription's document
(``Subscription.to_document``); ``seq`` the creation order; ``active`` and ``expires`` (a
``clock.now()``-shaped text, so it compares as text) let ``active_subscriptions`` filter in
SQL. ``subscription_version`` holds the token of the last write (see ``subscriptions_version``).
"""

from __future__ import annotations

import sqlite3

from territoires.ngsild.errors import AlreadyExists, ResourceNotFound
from territoires.ngsild.subscription import Subscription
from territoires.store.subscription_records import new_version, read_subscription, subscription_row

SUBSCRIPTIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions(
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    active INTEGER NOT NULL,
    expires TEXT,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS subscription_version(
    one INTEGER PRIMARY KEY CHECK (one = 1),
    token TEXT NOT NULL
);
"""


class SqliteSubscriptions:
    """Mixed into ``SqliteSession``: ``conn`` is the tenant's connection, in its transaction."""

    conn: sqlite3.Connection

    def _written(self) -> None:
        self.conn.execute("INSERT OR REPLACE INTO subscription_version(one, token) VALUES (1, ?)",
                          (new_version(),))

    def put_subscription(self, subscription: Subscription) -> None:
        try:
            self.conn.execute("INSERT INTO subscriptions(id, active, expires, doc) VALUES (?, ?, ?, ?)",
                              subscription_row(subscription))
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"a subscription with id {subscription.id} already exists") from None
        self._written()

    def get_subscription(self, subscription_id: str) -> Subscription | None:
        row = self.conn.execute("SELECT doc FROM subscriptions WHERE id = ?", (subscription_id,)).fetchone()
        return read_subscription(row[0]) if row else None

    def query_subscriptions(self, offset: int = 0, limit: int = 20) -> tuple[list[Subscription], int]:
        rows = self.conn.execute("SELECT doc FROM subscriptions ORDER BY seq LIMIT ? OFFSET ?", (limit, offset))
        page = [read_subscription(doc) for (doc,) in rows]
        return page, self.conn.execute("SELECT count(*) FROM subscriptions").fetchone()[0]

    def replace_subscription(self, subscription: Subscription) -> None:
        sub_id, active, expires, doc = subscription_row(subscription)
        changed = self.conn.execute("UPDATE subscriptions SET active = ?, expires = ?, doc = ? WHERE id = ?",
                                    (active, expires, doc, sub_id)).rowcount
        if not changed:
            raise ResourceNotFound(f"subscription {sub_id} does not exist")
        self._written()

    def delete_subscription(self, subscription_id: str) -> bool:
        deleted = self.conn.execute("DELETE FROM subscriptions WHERE id = ?", (subscription_id,)).rowcount > 0
        if deleted:
            self._written()
        return deleted

    def active_subscriptions(self, now: str) -> list[Subscription]:
        rows = self.conn.execute(
            "SELECT doc FROM subscriptions WHERE active AND (expires IS NULL OR expires > ?) ORDER BY seq", (now,)
        )
        return [read_subscription(doc) for (doc,) in rows]

    def subscriptions_version(self) -> str:
        row = self.conn.execute("SELECT token FROM subscription_version").fetchone()
        return row[0] if row else ""

"""Subscriptions in the PostgreSQL backend (migration ``0004_subscriptions.sql``): the storage
contract's subscription methods, on the session's connection (its tenant named, its rows
alone visible under row-level security)."""

from __future__ import annotations

import weakref

import psycopg

from territoires.ngsild.errors import AlreadyExists, ResourceNotFound
from territoires.ngsild.subscription import Subscription
from territoires.store.subscription_records import new_version, read_subscription, subscription_row

# Read with BEGIN by ``version_at_begin``: the version that the first session of a write
# transaction asks for costs no round trip of its own.
_VERSION = "SELECT token FROM subscription_versions"
_versions_at_begin: weakref.WeakKeyDictionary[psycopg.Connection, psycopg.Cursor] = weakref.WeakKeyDictionary()


def version_at_begin(conn: psycopg.Connection) -> None:
    """Read the subscriptions' version in the pipeline that begins a write transaction."""
    _versions_at_begin[conn] = conn.execute(_VERSION)


def forget_version(conn: psycopg.Connection) -> None:
    """The transaction ends: its version is no longer the one to answer."""
    _versions_at_begin.pop(conn, None)


class PostgresSubscriptions:
    """Mixed into ``PostgresSession``: ``conn`` names the session's tenant."""

    conn: psycopg.Connection

    def _written(self) -> None:
        forget_version(self.conn)
        self.conn.execute(
            "INSERT INTO subscription_versions (token) VALUES (%s) "
            "ON CONFLICT (tenant) DO UPDATE SET token = excluded.token", (new_version(),)
        )

    def put_subscription(self, subscription: Subscription) -> None:
        stored = self.conn.execute(
            "INSERT INTO subscriptions (id, active, expires, doc) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT DO NOTHING RETURNING id", subscription_row(subscription)
        ).fetchone()
        if stored is None:
            raise AlreadyExists(f"a subscription with id {subscription.id} already exists")
        self._written()

    def get_subscription(self, subscription_id: str) -> Subscription | None:
        row = self.conn.execute("SELECT doc FROM subscriptions WHERE id = %s", (subscription_id,)).fetchone()
        return read_subscription(row[0]) if row else None

    def query_subscriptions(self, offset: int = 0, limit: int = 20) -> tuple[list[Subscription], int]:
        with self.conn.pipeline():  # one round trip
            rows = self.conn.execute("SELECT doc FROM subscriptions ORDER BY seq LIMIT %s OFFSET %s", (limit, offset))
            count = self.conn.execute("SELECT count(*) FROM subscriptions")
        return [read_subscription(doc) for (doc,) in rows.fetchall()], count.fetchone()[0]

    def replace_subscription(self, subscription: Subscription) -> None:
        sub_id, active, expires, doc = subscription_row(subscription)
        changed = self.conn.execute(
            "UPDATE subscriptions SET active = %s, expires = %s, doc = %s WHERE id = %s", (active, expires, doc, sub_id)
        ).rowcount
        if not changed:
            raise ResourceNotFound(f"subscription {sub_id} does not exist")
        self._written()

    def delete_subscription(self, subscription_id: str) -> bool:
        deleted = self.conn.execute("DELETE FROM subscriptions WHERE id = %s", (subscription_id,)).rowcount > 0
        if deleted:
            self._written()
        return deleted

    def active_subscriptions(self, now: str) -> list[Subscription]:
        rows = self.conn.execute(
            "SELECT doc FROM subscriptions WHERE active AND (expires IS NULL OR expires > %s) ORDER BY seq", (now,)
        ).fetchall()
        return [read_subscription(doc) for (doc,) in rows]

    def subscriptions_version(self) -> str:
        # Only the first session of a transaction finds the version read with BEGIN: later
        # ones may follow a session that changed it.
        read = _versions_at_begin.pop(self.conn, None) or self.conn.execute(_VERSION)
        row = read.fetchone()
        return row[0] if row else ""

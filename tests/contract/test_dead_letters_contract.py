"""Dead letters of the notification outbox, on every backend: listed with when they were given
up, revived into their queue (same id, same place, one in flight per subscription) or dropped;
a tenant's session reaches its own dead letters only (row-level security on PostgreSQL, where
``seq`` numbers are shared by every tenant)."""

from __future__ import annotations

import psycopg
import pytest

from territoires.store.port import FAILED, SENT, OutboxEntry, Store
from tests import postgres
from tests.contract.test_outbox_contract import NOW, claim, enqueue, outcome, pending

GIVEN_UP = "2027-01-15T08:00:07.250000Z"


def kill(store: Store, entry: OutboxEntry) -> None:
    """Give ``entry`` up at its attempt of ``GIVEN_UP``."""
    store.settle_notifications([outcome(entry, FAILED, at=GIVEN_UP)])


def dead_letters(store: Store, tenant: str = "", subscription: str | None = None) -> list[OutboxEntry]:
    with store.session(tenant) as session:
        found, count = session.dead_notifications(subscription)
    assert count == len(found)
    return found


def revive(store: Store, tenant: str = "", subscription: str | None = None, seqs: list[int] | None = None) -> int:
    with store.session(tenant, write=True) as session:
        return session.revive_notifications(subscription, seqs)


def drop(store: Store, tenant: str = "", subscription: str | None = None, seqs: list[int] | None = None) -> int:
    with store.session(tenant, write=True) as session:
        return session.drop_dead_notifications(subscription, seqs)


def ids(entries: list[OutboxEntry]) -> list[str]:
    return [e.notification.id.rsplit(":", 1)[1] for e in entries]


def test_a_dead_letter_says_when_it_was_given_up(store: Store) -> None:
    enqueue(store, "", pending(1, "A"))
    [entry] = claim(store)
    kill(store, entry)
    [dead] = dead_letters(store)
    assert (dead.seq, dead.notification, dead.state) == (entry.seq, entry.notification, "dead")
    assert (dead.attempts, dead.last_error, dead.given_up_at) == (1, "HTTP 500", GIVEN_UP)
    assert entry.given_up_at is None


def test_a_revived_letter_goes_before_the_pending_ones_enqueued_after_it(store: Store) -> None:
    enqueue(store, "", pending(1, "A"), pending(2, "A"))
    [first] = claim(store)
    kill(store, first)
    enqueue(store, "", pending(3, "A"))
    assert revive(store, subscription="A") == 1
    assert dead_letters(store) == []
    [again] = claim(store)  # not 2, the head before the revival: it went back to waiting
    assert (again.seq, again.notification.id, again.attempts, again.last_error) == (
        first.seq, first.notification.id, 0, None)
    assert claim(store, owner="w2") == []  # one in flight per subscription
    order = [again]
    for _ in range(2):
        store.settle_notifications([outcome(order[-1], SENT)])
        order.extend(claim(store))
    assert ids(order) == ["1", "2", "3"]
    store.settle_notifications([outcome(order[-1], SENT)])
    assert claim(store) == []


def test_a_revival_waits_for_the_notification_in_flight_then_comes_next(store: Store) -> None:
    enqueue(store, "", pending(1, "A"), pending(2, "A"), pending(3, "A"))
    [first] = claim(store)
    kill(store, first)
    [second] = claim(store)  # in flight while the operator revives the first
    assert revive(store) == 1
    assert claim(store, owner="w2") == []
    store.settle_notifications([outcome(second, SENT)])
    [revived] = claim(store)
    assert revived.notification.id == first.notification.id
    store.settle_notifications([outcome(revived, SENT)])
    assert ids(claim(store)) == ["3"]


def test_a_revived_letter_failing_again_is_retried_then_dies_again(store: Store) -> None:
    enqueue(store, "", pending(1, "A"))
    kill(store, claim(store)[0])
    revive(store)
    [again] = claim(store)
    store.settle_notifications([outcome(again, FAILED, retry_at=NOW + 10)])
    assert claim(store, NOW + 5) == []
    [retried] = claim(store, NOW + 10)
    assert retried.attempts == 1
    kill(store, retried)
    [dead] = dead_letters(store)
    assert dead.seq == again.seq and dead.attempts == 2


def test_revive_and_drop_choose_by_subscription_and_by_seq(store: Store) -> None:
    enqueue(store, "", pending(1, "A"), pending(2, "B"), pending(3, "C"), pending(4, "C"))
    for _ in range(2):
        for entry in claim(store):
            kill(store, entry)
    letters = {e.notification.id[-1]: e.seq for e in dead_letters(store)}
    assert sorted(letters) == ["1", "2", "3", "4"] and ids(dead_letters(store, subscription="C")) == ["3", "4"]
    assert revive(store, seqs=[]) == 0 and drop(store, seqs=[]) == 0
    assert revive(store, subscription="A", seqs=[letters["2"]]) == 0  # both given: 2 is not A's
    assert revive(store, seqs=[letters["2"], letters["4"], 10**12]) == 2
    assert drop(store, subscription="C") == 1
    assert ids(dead_letters(store)) == ["1"]
    assert drop(store) == 1 and dead_letters(store) == []
    assert sorted(ids(claim(store))) == ["2", "4"]  # revived 4 waits for nothing: 3 is gone


def test_a_revival_is_announced_to_the_worker_once_committed(store: Store) -> None:
    enqueue(store, "", pending(1, "A"))
    kill(store, claim(store)[0])
    assert claim(store) == []  # nothing pending: the worker forgets the tenant
    woken: list[bool] = []
    store.on_enqueued = lambda: woken.append(True)
    with store.session("", write=True) as session:
        session.revive_notifications()
        assert woken == []
    assert woken == [True]
    assert ids(claim(store)) == ["1"]  # found without a sweep
    assert revive(store) == 0 and woken == [True]


def test_a_revival_in_a_failed_session_does_not_happen(store: Store) -> None:
    enqueue(store, "", pending(1, "A"))
    kill(store, claim(store)[0])
    with pytest.raises(RuntimeError), store.session("", write=True) as session:
        session.revive_notifications()
        raise RuntimeError("the write fails after the revival")
    assert len(dead_letters(store)) == 1 and claim(store, sweep=True) == []


def test_a_tenant_reaches_only_its_own_dead_letters(store: Store) -> None:
    store.create_tenant("rennes")
    enqueue(store, "", pending(1, "A"))
    enqueue(store, "rennes", pending(2, "A"))
    for entry in claim(store):
        kill(store, entry)
    [ours] = dead_letters(store)
    [theirs] = dead_letters(store, "rennes")
    seqs = [ours.seq, theirs.seq]
    assert revive(store, "rennes", "A", seqs) == 1 and drop(store, "rennes", "A", seqs) == 0
    assert dead_letters(store) == [ours]
    assert [(e.tenant, e.notification.id) for e in claim(store)] == [("rennes", theirs.notification.id)]


@pytest.mark.skipif(not postgres.URL, reason="PostgreSQL not available")
def test_postgres_row_level_security_hides_another_tenants_dead_letters_from_sql() -> None:
    from territoires.store.postgres import PostgresStore

    store = PostgresStore(postgres.fresh_database())
    try:
        store.create_tenant("rennes")
        enqueue(store, "", pending(1, "A"))
        kill(store, claim(store)[0])
        with psycopg.connect(postgres.URL) as conn, conn.transaction():
            conn.execute("SELECT set_config('territoires.tenant', 'rennes', true)")
            assert conn.execute("UPDATE outbox SET dead = false WHERE dead").rowcount == 0
            assert conn.execute("DELETE FROM outbox").rowcount == 0
        assert len(dead_letters(store)) == 1
    finally:
        store.close()

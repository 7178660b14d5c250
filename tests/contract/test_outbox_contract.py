"""The notification outbox of the storage contract, on every backend: enqueue in a write session,
claims with leases across tenants, per-subscription order, retries, dead letters, status."""

from __future__ import annotations

from territoires.store.port import (
    DROPPED,
    FAILED,
    SENT,
    DeliveryOutcome,
    OutboxEntry,
    PendingNotification,
    Store,
)

NOW = 1_800_000_000.0
AT = "2027-01-15T08:00:00.000000Z"


def pending(n: int, sub: str, endpoint: str = "http://a:1") -> PendingNotification:
    return PendingNotification(f"urn:ngsi-ld:Notification:{n}", sub, endpoint, "attributeUpdated",
                               [{"id": f"urn:ngsi-ld:Streetlight:{n}", "n": n}], AT)


def enqueue(store: Store, tenant: str, *items: PendingNotification, throttled: tuple[str, ...] = ()) -> None:
    with store.session(tenant, write=True) as session:
        session.enqueue_notifications(list(items), now=NOW, throttled=throttled)


def claim(store: Store, now: float = NOW, owner: str = "w1", **options: object) -> list[OutboxEntry]:
    return store.claim_notifications(owner, now, limit=options.pop("limit", 100), lease=30, **options)  # type: ignore[arg-type]


def outcome(entry: OutboxEntry, result: str, retry_at: float | None = None, at: str = AT) -> DeliveryOutcome:
    return DeliveryOutcome(entry.tenant, entry.seq, entry.notification.subscription_id, result, at,
                           "HTTP 500" if result == FAILED else None, retry_at)


def test_a_claim_takes_the_head_of_each_queue_once(store: Store) -> None:
    enqueue(store, "", pending(1, "A"), pending(2, "A"), pending(3, "B"))
    first = claim(store)
    assert [(e.notification.id[-1], e.notification.data) for e in first] == [
        ("1", [{"id": "urn:ngsi-ld:Streetlight:1", "n": 1}]), ("3", [{"id": "urn:ngsi-ld:Streetlight:3", "n": 3}])]
    assert claim(store, owner="w2") == []  # leased, and A's next one waits behind its head
    store.settle_notifications([outcome(first[0], SENT), outcome(first[1], DROPPED)])
    [second] = claim(store, owner="w2")
    assert second.notification.id.endswith(":2") and second.attempts == 0


def test_an_expired_lease_gives_the_notification_again_with_its_id(store: Store) -> None:
    enqueue(store, "", pending(1, "A"))
    [first] = claim(store)
    assert claim(store, NOW + 29) == []
    [again] = claim(store, NOW + 31, owner="w2")
    assert again.seq == first.seq and again.notification.id == first.notification.id


def test_failures_are_retried_then_kept_as_dead_letters(store: Store) -> None:
    enqueue(store, "", pending(1, "A"), pending(2, "A"))
    [entry] = claim(store)
    store.settle_notifications([outcome(entry, FAILED, retry_at=NOW + 10)])
    assert claim(store, NOW + 5) == []  # neither it nor what waits behind it
    [retried] = claim(store, NOW + 10)
    assert retried.attempts == 1 and retried.last_error == "HTTP 500"
    store.settle_notifications([outcome(retried, FAILED, at="2027-01-15T08:00:10.000000Z")])
    [following] = claim(store, NOW + 10)  # the dead letter no longer holds the queue
    assert following.notification.id.endswith(":2")
    with store.session("") as session:
        dead, count = session.dead_notifications("A")
        status = session.delivery_status(["A", "B"])
    assert count == 1 and dead[0].state == "dead" and dead[0].attempts == 2
    assert status == {"A": {"timesSent": 2, "timesFailed": 2, "lastNotification": "2027-01-15T08:00:10.000000Z",
                            "lastFailure": "2027-01-15T08:00:10.000000Z", "status": "failed"}}
    store.settle_notifications([outcome(following, SENT, at="2027-01-15T08:00:11.000000Z")])
    with store.session("") as session:
        status = session.delivery_status(["A"])["A"]
    assert (status["status"], status["timesSent"], status["lastSuccess"]) == ("ok", 3, "2027-01-15T08:00:11.000000Z")


def test_claims_go_across_tenants_and_leave_busy_endpoints(store: Store) -> None:
    store.create_tenant("rennes")
    enqueue(store, "", pending(1, "A", "http://slow:1"))
    enqueue(store, "rennes", pending(2, "B"))
    claimed = claim(store, busy_endpoints=["http://slow:1"])
    assert [(e.tenant, e.notification.id[-1]) for e in claimed] == [("rennes", "2")]
    assert [e.tenant for e in claim(store)] == [""]


def test_another_process_finds_what_a_crashed_one_left(store: Store, tmp_path) -> None:
    enqueue(store, "", pending(1, "A"))
    [taken] = claim(store)
    # A process that did not enqueue it finds it once the lease ran out (a sweep, for a
    # backend that finds work through what each process saw).
    found = claim(store, NOW + 31, owner="w2", sweep=True)
    assert [e.seq for e in found] == [taken.seq]


def test_throttling_marks_periods_and_forgetting(store: Store) -> None:
    enqueue(store, "", pending(1, "A"), throttled=("A",))
    with store.session("", write=True) as session:
        assert session.last_enqueued(["A", "B"]) == {"A": NOW}
        assert session.start_period("P", NOW, 10) and not session.start_period("P", NOW + 5, 10)
        assert session.start_period("P", NOW + 10, 10)
        assert session.forget_notifications("A") == 1
        assert session.last_enqueued(["A"]) == {}
    assert claim(store) == []


def test_a_notification_written_in_a_failed_session_does_not_exist(store: Store) -> None:
    try:
        with store.session("", write=True) as session:
            session.enqueue_notifications([pending(1, "A")], now=NOW)
            raise RuntimeError("the write fails after the matcher enqueued")
    except RuntimeError:
        pass
    assert claim(store, sweep=True) == []

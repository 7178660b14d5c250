"""The audit trail's storage contract (append_audit, query_audit, forget_audit), on every backend."""

from __future__ import annotations

import pytest

from territoires.ngsild.errors import NonexistentTenant
from territoires.store.port import AuditQuery, AuditRecord, Store

DAY = "2026-11-28T"
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


def rec(n: int, **fields: object) -> AuditRecord:
    """The n-th record of a day: one a minute, by key k<n % 3>."""
    values: dict[str, object] = {
        "at": f"{DAY}10:{n:02d}:00.000000Z", "operation": "update", "target": f"urn:ngsi-ld:Streetlight:{n % 2}",
        "kind": "key", "subject": f"k{n % 3}", "credential_id": f"k{n % 3}", "name": "capteurs de la rue Émile-Zola",
        "attributes": (VOCAB + "powerState",),
    }
    values.update(fields)
    return AuditRecord(**values)  # type: ignore[arg-type]


def append(store: Store, records: list[AuditRecord], tenant: str = "") -> None:
    with store.session(tenant, write=True) as session:
        session.append_audit(records)


def query(store: Store, tenant: str = "", **fields: object) -> tuple[list[AuditRecord], int | None]:
    with store.session(tenant) as session:
        return session.query_audit(AuditQuery(**fields))  # type: ignore[arg-type]


def test_records_come_back_whole_newest_first_with_their_count(store: Store) -> None:
    given = [rec(n) for n in range(6)] + [rec(6, operation="createSubscription", target="/ngsi-ld/v1/subscriptions",
                                               attributes=(), credential_id=None, detail="urn:ngsi-ld:Subscription:1")]
    given[2] = given[2]._replace(attributes=(VOCAB + "dimmingLevel", VOCAB + "powerState", "@type"))
    append(store, given[:3])
    append(store, given[3:])
    found, count = query(store)
    assert count == 7
    assert [r.seq for r in found] == sorted((r.seq for r in found), reverse=True)
    assert [r._replace(seq=None) for r in found] == list(reversed(given))


def test_pages_follow_the_newest_first_order(store: Store) -> None:
    append(store, [rec(n) for n in range(10)])
    everything, _ = query(store, limit=100)
    page, count = query(store, offset=3, limit=4)
    assert count == 10 and page == everything[3:7]
    nothing, count = query(store, limit=0)
    assert nothing == [] and count == 10
    _, uncounted = query(store, limit=5, count=False)
    assert uncounted is None


def test_each_filter_selects_exactly(store: Store) -> None:
    append(store, [rec(n) for n in range(12)] + [rec(12, attributes=(), operation="create")])
    _, count = query(store, subject="k1")
    assert count == 4
    _, count = query(store, credential_id="k2")
    assert count == 4
    found, count = query(store, target="urn:ngsi-ld:Streetlight:1")
    assert count == 6 and {r.target for r in found} == {"urn:ngsi-ld:Streetlight:1"}
    _, count = query(store, operation="create")
    assert count == 1
    _, count = query(store, attribute=VOCAB + "powerState")
    assert count == 12
    found, count = query(store, since=f"{DAY}10:03:00.000000Z", until=f"{DAY}10:06:00.000000Z")
    assert count == 3 and [r.at[11:16] for r in found] == ["10:05", "10:04", "10:03"]  # from included, to excluded
    found, count = query(store, subject="k0", target="urn:ngsi-ld:Streetlight:0", since=f"{DAY}10:01:00.000000Z")
    assert [r.at[11:16] for r in found] == ["10:12", "10:06"] and count == 2
    _, count = query(store, subject="nobody")
    assert count == 0


def test_the_attribute_filter_finds_one_name_among_several_and_nothing_but_whole_names(store: Store) -> None:
    power, dimming = VOCAB + "powerState", VOCAB + "dimmingLevel"
    append(store, [rec(0, attributes=(dimming, power, "@type")), rec(1, attributes=(power,)),
                   rec(2, attributes=(dimming,)), rec(3, attributes=(VOCAB + "powerStateOfLamp",))])
    found, count = query(store, attribute=power)
    assert count == 2 and [r.attributes for r in found] == [(power,), (dimming, power, "@type")]
    assert [r.at[11:16] for r in query(store, attribute="@type")[0]] == ["10:00"]
    for part in (VOCAB + "power", "powerState", dimming + " " + power, ""):
        assert query(store, attribute=part) == ([], 0), part


def test_before_seq_walks_the_trail_in_batches(store: Store) -> None:
    append(store, [rec(n) for n in range(7)])
    walked: list[AuditRecord] = []
    before = None
    while True:
        batch, _ = query(store, limit=3, before_seq=before, count=False)
        if not batch:
            break
        walked += batch
        before = batch[-1].seq
    everything, _ = query(store)
    assert walked == everything
    _, count = query(store, before_seq=walked[2].seq, limit=1)
    assert count == 7  # the count ignores where the walk is


def test_one_append_keeps_its_order_even_when_large(store: Store) -> None:
    given = [rec(n % 60, detail=str(n)) for n in range(500)]
    append(store, given)
    found, count = query(store, limit=1000)
    assert count == 500
    assert [r.detail for r in reversed(found)] == [str(n) for n in range(500)]


def test_a_rolled_back_session_records_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.session("", write=True) as session:
        session.append_audit([rec(1)])
        raise RuntimeError("the write failed after recording")
    assert query(store) == ([], 0)


def test_forget_deletes_what_is_older_and_numbers_keep_increasing(store: Store) -> None:
    append(store, [rec(n) for n in range(10)])
    with store.session("", write=True) as session:
        assert session.forget_audit(f"{DAY}10:04:00.000000Z") == 4
    found, count = query(store)
    assert count == 6 and min(r.at for r in found) == f"{DAY}10:04:00.000000Z"  # the bound itself is kept
    highest = found[0].seq
    with store.session("", write=True) as session:
        assert session.forget_audit("2030-01-01T00:00:00.000000Z") == 6
    append(store, [rec(20)])
    found, _ = query(store)
    assert found[0].seq > highest  # a number is never given twice, even once the trail is empty
    with store.session("", write=True) as session:
        assert session.forget_audit("2000-01-01T00:00:00.000000Z") == 0


def test_tenants_have_their_own_trail(store: Store) -> None:
    store.create_tenant("rennes")
    store.create_tenant("brest")
    append(store, [rec(1, subject="rennes-key")], "rennes")
    append(store, [rec(2, subject="brest-key"), rec(3, subject="brest-key")], "brest")
    found, count = query(store, "rennes")
    assert count == 1 and found[0].subject == "rennes-key"
    assert query(store, "rennes", subject="brest-key") == ([], 0)
    with store.session("rennes", write=True) as session:
        assert session.forget_audit("2030-01-01T00:00:00.000000Z") == 1
    assert query(store, "brest")[1] == 2
    assert query(store)[1] == 0  # the default tenant saw nothing


def test_deleting_a_tenant_deletes_its_trail(store: Store) -> None:
    store.create_tenant("quimper")
    append(store, [rec(1)], "quimper")
    store.delete_tenant("quimper")
    with pytest.raises(NonexistentTenant):
        query(store, "quimper")
    store.create_tenant("quimper")
    assert query(store, "quimper") == ([], 0)

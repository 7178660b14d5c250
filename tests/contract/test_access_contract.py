"""The storage contract of access control, on every backend: API keys, members (people's roles)
and the public types of each tenant, all platform-wide and gone with their tenant."""

from __future__ import annotations

import pytest

from territoires.ngsild.errors import AlreadyExists, NonexistentTenant
from territoires.store.port import ApiKey, Member, Store

SDM = "https://smartdatamodels.org/dataModel."
ISSUER = "https://auth.agentconnect.gouv.fr/api/v2"


def at(minute: int) -> str:
    return f"2026-11-28T10:{minute:02d}:00.000000Z"


def key(n: int, tenant: str | None = "", role: str = "editor", **changes: object) -> ApiKey:
    fields: dict[str, object] = dict(id=f"k{n:011d}", secret_hash=f"{n:064x}", tenant=tenant, role=role,
                                     name=f"clé {n}", created_at=at(n), created_by="cli:root")
    fields.update(changes)
    return ApiKey(**fields)  # type: ignore[arg-type]


def member(n: int, tenant: str | None = "", role: str = "reader", **changes: object) -> Member:
    fields: dict[str, object] = dict(id=f"m{n:011d}", issuer=ISSUER, subject=f"sub-{n}", email=f"agent{n}@rennes.fr",
                                     role=role, tenant=tenant, created_at=at(n), created_by="cli:root")
    fields.update(changes)
    return Member(**fields)  # type: ignore[arg-type]


def test_keys_are_stored_read_listed_by_tenant_and_revoked_once(store: Store):
    store.create_tenant("rennes")
    store.put_key(key(3, "rennes"))
    store.put_key(key(1, None, "operator"))
    store.put_key(key(2, "rennes", expires_at=at(59)))
    store.put_key(key(4, "", "device"))
    with pytest.raises(AlreadyExists):
        store.put_key(key(1, "rennes"))
    assert store.get_key(key(2).id) == key(2, "rennes", expires_at=at(59))
    assert store.get_key(key(1).id) == key(1, None, "operator")
    assert store.get_key("nosuchkey000") is None
    page, count = store.list_keys("rennes")
    assert [k.id for k in page] == [key(2).id, key(3).id] and count == 2
    page, count = store.list_keys(offset=1, limit=2)
    assert [k.id for k in page] == [key(2).id, key(3).id] and count == 4
    assert store.list_keys("", limit=0) == ([], 1)
    assert store.revoke_key(key(3).id, at(30))
    assert store.revoke_key(key(3).id, at(40))  # revoked already: the first time stays
    assert store.get_key(key(3).id).revoked_at == at(30)
    assert not store.revoke_key("nosuchkey000", at(30))


def test_a_key_of_an_unknown_tenant_is_refused(store: Store):
    with pytest.raises(NonexistentTenant):
        store.put_key(key(1, "nowhere"))
    assert store.list_keys() == ([], 0)


def test_last_uses_are_recorded_in_batches_and_never_go_back(store: Store):
    for n in (1, 2, 3):
        store.put_key(key(n))
    store.touch_keys({key(1).id: at(20), key(2).id: at(21), "nosuchkey000": at(21)})
    store.touch_keys({key(1).id: at(10)})  # an older use, flushed late by another process
    store.touch_keys({})
    assert [k.last_used_at for k in store.list_keys()[0]] == [at(20), at(21), None]
    store.touch_keys({key(1).id: at(25)})
    assert store.get_key(key(1).id).last_used_at == at(25)


def test_members_are_stored_listed_found_and_deleted(store: Store):
    store.create_tenant("rennes")
    store.put_member(member(1, "rennes", "admin"))
    store.put_member(member(2, None, "operator"))
    store.put_member(member(3, "rennes", "reader", subject="", email="elue@rennes.fr", issuer=""))
    store.put_member(member(4, None, "contributor", scope="35238"))
    with pytest.raises(AlreadyExists):
        store.put_member(member(1, "rennes"))
    with pytest.raises(AlreadyExists):  # the same role given twice to the same person
        store.put_member(member(9, "rennes", "admin", subject="sub-1", email="agent1@rennes.fr"))
    store.put_member(member(5, "rennes", "editor", subject="sub-1", email="agent1@rennes.fr"))
    with pytest.raises(AlreadyExists):  # an operator role twice (no tenant is no tenant)
        store.put_member(member(8, None, "operator", subject="sub-2", email="agent2@rennes.fr"))
    assert store.get_member(member(4).id) == member(4, None, "contributor", scope="35238")
    assert store.get_member("nosuchmember") is None
    page, count = store.list_members("rennes", limit=2)
    assert [m.id for m in page] == [member(1).id, member(3).id] and count == 3
    assert store.list_members(offset=4)[0] == [member(5, "rennes", "editor", subject="sub-1", email="agent1@rennes.fr")]
    assert store.list_members()[1] == 5
    assert store.delete_member(member(5).id) and not store.delete_member(member(5).id)
    with pytest.raises(NonexistentTenant):
        store.put_member(member(7, "nowhere"))


def test_members_for_matches_the_subject_at_its_issuer_or_the_email(store: Store):
    store.create_tenant("rennes")
    store.put_member(member(1, "rennes", "admin"))
    store.put_member(member(2, "", "reader", subject="", email="agent1@rennes.fr", issuer=""))
    store.put_member(member(3, None, "moderator", subject="", email="agent1@rennes.fr"))
    store.put_member(member(4, "", "editor", subject="", email="agent1@rennes.fr", issuer="https://keycloak.example"))
    store.put_member(member(5, "", "editor", subject="sub-1", issuer="https://keycloak.example"))

    def ids(found: list[Member]) -> list[str]:
        return [m.id for m in found]

    assert ids(store.members_for(ISSUER, "sub-1", "agent1@rennes.fr")) == [member(n).id for n in (1, 2, 3)]
    assert ids(store.members_for(ISSUER, "sub-1", "")) == [member(1).id]
    # Member 1 names a subject: another subject asserting its e-mail does not get its role.
    assert ids(store.members_for(ISSUER, "sub-9", "agent1@rennes.fr")) == [member(2).id, member(3).id]
    assert ids(store.members_for("https://keycloak.example", "sub-1", "")) == [member(5).id]
    assert ids(store.members_for("https://keycloak.example", "x", "agent1@rennes.fr")) == [member(n).id for n in (2, 4)]
    # A member known by e-mail only never matches a subject that happens to be empty.
    assert store.members_for(ISSUER, "", "") == []


def test_public_types_are_replaced_as_a_set(store: Store):
    store.create_tenant("rennes")
    assert store.public_types("rennes") == frozenset()
    store.set_public_types("rennes", [SDM + "Parking/ParkingSpot", SDM + "Environment/AirQualityObserved"])
    store.set_public_types("", [SDM + "Environment/AirQualityObserved"])
    assert store.public_types("rennes") == {SDM + "Parking/ParkingSpot", SDM + "Environment/AirQualityObserved"}
    store.set_public_types("rennes", [SDM + "Parking/ParkingSpot", SDM + "Parking/ParkingSpot"])
    assert store.public_types("rennes") == {SDM + "Parking/ParkingSpot"}
    assert store.public_types("") == {SDM + "Environment/AirQualityObserved"}
    store.set_public_types("rennes", [])
    assert store.public_types("rennes") == frozenset()
    assert store.public_types("nowhere") == frozenset()
    for types in ([], [SDM + "Parking/ParkingSpot"]):
        with pytest.raises(NonexistentTenant):
            store.set_public_types("nowhere", types)


def test_deleting_a_tenant_forgets_its_keys_members_and_public_types(store: Store):
    for name in ("rennes", "brest"):
        store.create_tenant(name)
        store.put_key(key(len(name), name))
        store.put_member(member(len(name), name))
        store.set_public_types(name, [SDM + "Parking/ParkingSpot"])
    store.put_key(key(1, None, "operator"))
    store.put_member(member(1, None, "operator"))
    store.delete_tenant("rennes")
    assert [k.tenant for k in store.list_keys()[0]] == [None, "brest"]
    assert [m.tenant for m in store.list_members()[0]] == [None, "brest"]
    assert store.public_types("rennes") == frozenset() and store.public_types("brest") != frozenset()
    store.create_tenant("rennes")  # a new tenant of the same name starts with nothing
    assert store.list_keys("rennes") == ([], 0) and store.public_types("rennes") == frozenset()

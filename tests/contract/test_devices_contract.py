"""The storage contract of LoRaWAN ingestion, on every backend: the device registry, the
quarantine and the frames seen (deduplication inside the tenant's write session)."""

from __future__ import annotations

import pytest

from territoires import clock
from territoires.ngsild.errors import AlreadyExists, NonexistentTenant
from territoires.store.port import Device, Frame, IngestionCounters, QuarantinedUplink, QuarantineQuery, Store

SDM = "https://smartdatamodels.org/dataModel."
NOW = "2026-11-28T10:00:00.000000Z"


def device(n: int, tenant: str = "", **changes: str) -> Device:
    fields = dict(dev_eui=f"{n:016X}", tenant=tenant, entity_id=f"urn:ngsi-ld:Streetlight:{n}",
                  entity_type=SDM + "Streetlight/Streetlight", decoder="streetlight", name=f"lampe {n}",
                  created_at=NOW, modified_at=NOW)
    fields.update(changes)
    return Device(**fields)


def test_devices_are_registered_listed_replaced_and_deleted(store: Store):
    store.create_tenant("rennes")
    for n in (3, 1, 2):
        store.put_device(device(n, "rennes" if n != 2 else ""))
    with pytest.raises(AlreadyExists):
        store.put_device(device(1))
    assert store.get_devices([f"{1:016X}", "FFFFFFFFFFFFFFFF"]) == {f"{1:016X}": device(1, "rennes")}
    page, count = store.list_devices(limit=2)
    assert [d.dev_eui for d in page] == [f"{1:016X}", f"{2:016X}"] and count == 3
    page, count = store.list_devices(offset=2, limit=2)
    assert [d.dev_eui for d in page] == [f"{3:016X}"] and count == 3
    page, count = store.list_devices(tenant="rennes")
    assert [d.dev_eui for d in page] == [f"{1:016X}", f"{3:016X}"] and count == 2
    later = "2026-11-29T10:00:00.000000Z"
    assert store.replace_device(device(1, "", decoder="water", created_at=later, modified_at=later))
    assert store.get_devices([f"{1:016X}"])[f"{1:016X}"] == device(1, "", decoder="water", modified_at=later)
    assert not store.replace_device(device(9))
    assert store.delete_device(f"{1:016X}") and not store.delete_device(f"{1:016X}")
    assert store.list_devices()[1] == 2


def test_deleting_a_tenant_unregisters_its_devices(store: Store):
    store.create_tenant("rennes")
    store.put_device(device(1, "rennes"))
    store.put_device(device(2, ""))
    store.delete_tenant("rennes")
    assert list(store.get_devices([f"{1:016X}", f"{2:016X}"])) == [f"{2:016X}"]


def test_quarantine_keeps_bodies_and_reasons_newest_first_with_filters(store: Store):
    store.quarantine([
        QuarantinedUplink(NOW, "application/1/device/x/event/up", "malformed", "not JSON", b"\xff\x00garbage"),
        QuarantinedUplink(NOW, "v3/app/devices/d/up", "unknown-device", "no device 00000000000000AA",
                          b"{}", dev_eui="00000000000000AA"),
        QuarantinedUplink(NOW, "v3/app/devices/d/up", "undecodable", "3 bytes, 9 expected", b"{}",
                          dev_eui="00000000000000BB", tenant="rennes"),
    ])
    page, count = store.list_quarantine(QuarantineQuery())
    assert count == 3 and [u.kind for u in page] == ["undecodable", "unknown-device", "malformed"]
    assert page[2].body == b"\xff\x00garbage" and page[2].reason == "not JSON" and page[2].dev_eui is None
    assert page[0].seq > page[1].seq > page[2].seq
    page, count = store.list_quarantine(QuarantineQuery(dev_eui="00000000000000AA"))
    assert count == 1 and page[0].reason == "no device 00000000000000AA"
    assert store.list_quarantine(QuarantineQuery(tenant="rennes"))[1] == 1
    assert store.list_quarantine(QuarantineQuery(kind="malformed", limit=0)) == ([], 1)
    page, count = store.list_quarantine(QuarantineQuery(offset=1, limit=1))
    assert count == 3 and [u.kind for u in page] == ["unknown-device"]


def test_frames_are_new_once_within_the_window_across_sessions_and_in_one_call(store: Store):
    a, b = "00000000000000AA", "00000000000000BB"
    with store.session("", write=True) as session:
        assert session.record_frames([
            Frame(a, 1, "2026-11-28T10:00:00Z"),
            Frame(a, 1, "2026-11-28T10:00:00.200Z"),  # heard by a second gateway
            Frame(a, 2, "2026-11-28T10:00:10Z"),
            Frame(b, 1, "2026-11-28T10:00:00Z"),
        ]) == [True, False, True, True]
    with store.session("", write=True) as session:
        assert session.record_frames([
            Frame(a, 1, "2026-11-28T10:00:00Z"),  # redelivered
            Frame(a, 2, "2026-11-28T10:00:40Z"),  # within the minute: a duplicate
            Frame(a, 1, "2026-11-28T12:00:00Z"),  # the device rejoined: its counter starts again
            Frame(b, 3, "2026-11-28T10:01:00+01:00"),
        ]) == [False, False, True, True]


def test_frames_of_a_rolled_back_write_are_forgotten(store: Store):
    frame = Frame("00000000000000AA", 7, "2026-11-28T10:00:00Z")
    with pytest.raises(RuntimeError), store.session("", write=True) as session:
        assert session.record_frames([frame]) == [True]
        raise RuntimeError("the entity update failed")
    with store.session("", write=True) as session:
        assert session.record_frames([frame]) == [True]


def test_frames_belong_to_their_tenant_and_old_ones_are_forgotten(store: Store):
    store.create_tenant("rennes")
    recorded_before = clock.now()
    frame = Frame("00000000000000AA", 7, "2026-11-28T10:00:00Z")
    with store.session("", write=True) as session:
        assert session.record_frames([frame, Frame("00000000000000AA", 8, "2026-11-28T11:00:00Z")]) == [True, True]
    with store.session("rennes", write=True) as session:
        assert session.record_frames([frame]) == [True]
    with store.session("", write=True) as session:
        assert session.forget_frames(recorded_before) == 0  # by when they were recorded
        assert session.forget_frames(clock.ahead(1)) == 2
        assert session.record_frames([frame]) == [True]
    with pytest.raises(NonexistentTenant), store.session("nowhere", write=True):
        pass


def test_each_bridge_saves_its_counters(store: Store):
    store.put_ingestion_counters(IngestionCounters("b", NOW, NOW, received=5, stored=3, duplicates=1, quarantined=1))
    store.put_ingestion_counters(IngestionCounters("a", NOW, NOW))
    later = "2026-11-28T10:00:01.000000Z"
    store.put_ingestion_counters(IngestionCounters("b", NOW, later, received=9, stored=6, duplicates=2, quarantined=1))
    assert store.ingestion_counters() == [
        IngestionCounters("a", NOW, NOW),
        IngestionCounters("b", NOW, later, received=9, stored=6, duplicates=2, quarantined=1),
    ]

"""The storage contract of subscriptions (store/port.py), on every backend."""

from __future__ import annotations

from dataclasses import replace

import pytest

from territoires.broker.contexts import ContextService
from territoires.broker.subscriptions import SubscriptionService
from territoires.config import Settings
from territoires.ngsild.context import compile_context
from territoires.ngsild.errors import AlreadyExists, ResourceNotFound
from territoires.ngsild.subscription import Subscription, parse_subscription
from territoires.store.port import Store

NOW = "2026-11-28T10:00:00.000000Z"
CTX = compile_context({"Streetlight": "https://smartdatamodels.org/dataModel.Streetlight/Streetlight"},
                      lambda url: {"@context": {}})


def subscription(n: int, **members) -> Subscription:
    raw = {"id": f"urn:ngsi-ld:Subscription:{n}", "type": "Subscription", "entities": [{"type": "Streetlight"}],
           "q": 'powerState=="off"', "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}}, **members}
    return parse_subscription(raw, CTX, now=NOW, generated_id="unused")


def test_a_stored_subscription_reads_back_equal(store: Store):
    sub = subscription(1, geoQ={"georel": "near;maxDistance==500", "geometry": "Point", "coordinates": [-1.68, 48.1]},
                       description="NUL \u0000 and ünïcode")
    with store.session("", write=True) as session:
        session.put_subscription(sub)
    with store.session("") as session:
        assert session.get_subscription(sub.id) == sub
        assert session.get_subscription("urn:ngsi-ld:Subscription:none") is None


def test_an_id_can_be_stored_once(store: Store):
    with store.session("", write=True) as session:
        session.put_subscription(subscription(1))
    with pytest.raises(AlreadyExists, match="urn:ngsi-ld:Subscription:1"), store.session("", write=True) as session:
        session.put_subscription(subscription(1, description="again"))
    with store.session("") as session:
        assert session.get_subscription(subscription(1).id).description is None


def test_pages_follow_creation_order_and_count_all(store: Store):
    with store.session("", write=True) as session:
        for n in (3, 1, 2):
            session.put_subscription(subscription(n))
    with store.session("", write=True) as session:
        session.replace_subscription(subscription(3, description="changed"))  # keeps its place
    with store.session("") as session:
        page, count = session.query_subscriptions(0, 2)
        assert [s.id[-1] for s in page] == ["3", "1"] and count == 3 and page[0].description == "changed"
        page, count = session.query_subscriptions(2, 2)
        assert [s.id[-1] for s in page] == ["2"] and count == 3
        assert session.query_subscriptions(0, 0) == ([], 3)


def test_replace_and_delete_name_what_is_missing(store: Store):
    with pytest.raises(ResourceNotFound), store.session("", write=True) as session:
        session.replace_subscription(subscription(1))
    with store.session("", write=True) as session:
        assert session.delete_subscription(subscription(1).id) is False
        session.put_subscription(subscription(1))
        assert session.delete_subscription(subscription(1).id) is True
    with store.session("") as session:
        assert session.get_subscription(subscription(1).id) is None


def test_active_subscriptions_leave_out_paused_and_expired_ones(store: Store):
    with store.session("", write=True) as session:
        session.put_subscription(subscription(1))
        session.put_subscription(subscription(2, isActive=False))
        session.put_subscription(subscription(3, expiresAt="2026-11-28T10:30:00Z"))
        session.put_subscription(subscription(4, expiresAt="2026-11-28T10:30:00.5Z"))
    with store.session("") as session:
        assert [s.id[-1] for s in session.active_subscriptions(NOW)] == ["1", "3", "4"]
        assert [s.id[-1] for s in session.active_subscriptions("2026-11-28T10:30:00.000000Z")] == ["1", "4"]
        assert [s.id[-1] for s in session.active_subscriptions("2026-11-28T10:30:00.500000Z")] == ["1"]
    with store.session("", write=True) as session:
        session.replace_subscription(replace(subscription(2), is_active=True))
    with store.session("") as session:
        assert [s.id[-1] for s in session.active_subscriptions(NOW)] == ["1", "2", "3", "4"]


def test_the_version_changes_with_every_write_of_subscriptions_and_only_then(store: Store):
    with store.session("") as session:
        seen = [session.subscriptions_version()]
    writes = [
        lambda s: s.put_subscription(subscription(1)),
        lambda s: s.replace_subscription(subscription(1, description="changed")),
        lambda s: s.delete_subscription(subscription(1).id),
    ]
    for write in writes:
        with store.session("", write=True) as session:
            write(session)
        with store.session("") as session:
            seen.append(session.subscriptions_version())
    assert len(set(seen)) == len(seen)
    with store.session("", write=True) as session:
        session.delete_subscription(subscription(1).id)  # deletes nothing
        session.insert([])
    with store.session("") as session:
        assert session.subscriptions_version() == seen[-1]


def test_a_rolled_back_write_changes_neither_subscriptions_nor_version(store: Store):
    with store.session("") as session:
        before = session.subscriptions_version()
    with pytest.raises(RuntimeError), store.session("", write=True) as session:
        session.put_subscription(subscription(1))
        raise RuntimeError("the entity write failed")
    with store.session("") as session:
        assert session.get_subscription(subscription(1).id) is None and session.subscriptions_version() == before


def test_tenants_do_not_see_each_other_s_subscriptions(store: Store):
    store.create_tenant("rennes")
    with store.session("rennes", write=True) as session:
        session.put_subscription(subscription(1))
    with store.session("") as session:
        assert session.get_subscription(subscription(1).id) is None
        assert session.query_subscriptions(0, 10) == ([], 0) and session.active_subscriptions(NOW) == []
    with store.session("", write=True) as session:
        session.put_subscription(subscription(1, description="default tenant"))  # same id, other tenant
    store.delete_tenant("rennes")
    store.create_tenant("rennes")
    with store.session("rennes") as session:
        assert session.query_subscriptions(0, 10) == ([], 0)
    with store.session("") as session:
        assert session.get_subscription(subscription(1).id).description == "default tenant"


def test_the_service_parses_active_subscriptions_once_per_change(store: Store, tmp_path):
    service = SubscriptionService(store, ContextService(store, Settings(data_dir=tmp_path)))
    with store.session("", write=True) as session:
        session.put_subscription(subscription(1))
        session.put_subscription(subscription(2, isActive=False))
    with store.session("") as session:
        first = service.active("", session)
        again = service.active("", session)
    assert [s.id[-1] for s in first] == ["1"] and again[0] is first[0]  # the same parsed object: no reload
    service.update("", subscription(2).id, {"isActive": True}, CTX, base_url="http://testserver")
    with store.session("") as session:
        assert [s.id[-1] for s in service.active("", session)] == ["1", "2"]
    store.create_tenant("rennes")
    with store.session("rennes") as session:
        assert service.active("rennes", session) == []

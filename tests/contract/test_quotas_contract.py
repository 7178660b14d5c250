"""The storage contract of quotas per tenant, on every backend: a tenant's own limits, the usage
counters every process shares, the cheap count of entities, and what deleting a tenant forgets."""

from __future__ import annotations

from pathlib import Path

import pytest

from territoires.ngsild.errors import BadRequestData, NonexistentTenant
from territoires.store.port import DEFAULT_TENANT, QuotaLimits, Store
from territoires.store.postgres import PostgresStore
from territoires.store.sqlite import SqliteStore
from tests import postgres
from tests.contract.conftest import streetlight

MINUTE = 29_700_000  # some minute since the epoch (2026)


def other_process(store: Store, tmp_path: Path) -> Store:
    """A second store on the same data, as another process of the platform opens it."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store.data_dir)
    return PostgresStore(postgres.URL)


def test_a_tenant_has_no_quotas_of_its_own_until_some_are_put(store):
    store.create_tenant("rennes")
    assert store.get_quotas("rennes") == QuotaLimits(None, None, None)
    store.put_quotas("rennes", QuotaLimits(entities=1000, requests_per_minute=0))
    assert store.get_quotas("rennes") == QuotaLimits(entities=1000, requests_per_minute=0, uplinks_per_minute=None)
    store.put_quotas("rennes", QuotaLimits(uplinks_per_minute=60))
    assert store.get_quotas("rennes") == QuotaLimits(uplinks_per_minute=60)
    store.put_quotas("rennes", QuotaLimits())
    assert store.get_quotas("rennes") == QuotaLimits()


def test_quotas_of_one_tenant_are_not_those_of_another(store):
    store.create_tenant("rennes")
    store.create_tenant("brest")
    store.put_quotas("rennes", QuotaLimits(entities=5))
    store.put_quotas(DEFAULT_TENANT, QuotaLimits(requests_per_minute=7))
    assert store.get_quotas("brest") == QuotaLimits()
    assert store.get_quotas(DEFAULT_TENANT) == QuotaLimits(requests_per_minute=7)
    assert store.get_quotas("rennes") == QuotaLimits(entities=5)


def test_quotas_of_a_tenant_that_does_not_exist_are_refused(store):
    with pytest.raises(NonexistentTenant):
        store.get_quotas("nowhere")
    with pytest.raises(NonexistentTenant):
        store.put_quotas("nowhere", QuotaLimits(entities=1))
    with pytest.raises(NonexistentTenant):
        store.put_quotas("nowhere", QuotaLimits())


def test_usage_adds_up_per_tenant_kind_and_minute(store):
    store.create_tenant("rennes")
    store.create_tenant("brest")
    assert store.add_usage("rennes", "requests", MINUTE, 0) == 0
    assert store.add_usage("rennes", "requests", MINUTE, 3) == 3
    assert store.add_usage("rennes", "requests", MINUTE, 4) == 7
    assert store.add_usage("rennes", "requests", MINUTE, 0) == 7
    assert store.add_usage("rennes", "uplinks", MINUTE, 2) == 2
    assert store.add_usage("brest", "requests", MINUTE, 1) == 1
    assert store.add_usage("rennes", "requests", MINUTE + 1, 5) == 5
    assert store.add_usage("rennes", "requests", MINUTE, 0) == 7  # the minute before is kept
    assert store.add_usage(DEFAULT_TENANT, "requests", MINUTE, 2) == 2


def test_usage_of_windows_long_past_is_forgotten(store):
    store.create_tenant("rennes")
    store.add_usage("rennes", "requests", MINUTE, 9)
    store.add_usage("rennes", "uplinks", MINUTE, 9)
    store.add_usage("rennes", "requests", MINUTE + 2, 1)
    assert store.add_usage("rennes", "requests", MINUTE, 0) == 0
    assert store.add_usage("rennes", "uplinks", MINUTE, 0) == 9  # another kind: its own windows


def test_usage_is_shared_by_every_process(store, tmp_path):
    store.create_tenant("rennes")
    other = other_process(store, tmp_path)
    try:
        assert store.add_usage("rennes", "requests", MINUTE, 10) == 10
        assert other.add_usage("rennes", "requests", MINUTE, 5) == 15
        assert store.add_usage("rennes", "requests", MINUTE, 0) == 15
    finally:
        other.close()


def test_a_tenant_that_does_not_exist_counts_nothing(store):
    assert store.add_usage("nowhere", "requests", MINUTE, 5) == 0
    store.create_tenant("nowhere")
    assert store.add_usage("nowhere", "requests", MINUTE, 0) == 0


def test_an_unknown_usage_kind_is_refused(store):
    store.create_tenant("rennes")
    with pytest.raises(BadRequestData):
        store.add_usage("rennes", "coffees", MINUTE, 1)


def test_deleting_a_tenant_forgets_its_quotas_and_usage(store):
    store.create_tenant("rennes")
    store.put_quotas("rennes", QuotaLimits(entities=10, requests_per_minute=20, uplinks_per_minute=30))
    store.add_usage("rennes", "requests", MINUTE, 4)
    store.delete_tenant("rennes")
    store.create_tenant("rennes")
    assert store.get_quotas("rennes") == QuotaLimits()
    assert store.add_usage("rennes", "requests", MINUTE, 0) == 0


def test_entity_count_counts_the_tenant_s_entities_only(store):
    store.create_tenant("rennes")
    with store.session("rennes") as session:
        assert session.entity_count() == 0
    with store.session("rennes", write=True) as session:
        session.insert([streetlight(n) for n in range(3)])
        assert session.entity_count() == 3  # the session's own writes count
    with store.session("rennes", write=True) as session:
        session.delete([streetlight(0)["id"]])
    with store.session("rennes") as session:
        assert session.entity_count() == 2
    with store.session(DEFAULT_TENANT) as session:
        assert session.entity_count() == 0

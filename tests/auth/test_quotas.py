"""Quotas per tenant on each backend: requests and uplinks per minute counted in windows every
process shares, a tenant's own quotas over the defaults, the quota of entities, and uplinks over
quota quarantined by a real bridge fed by a real Mosquitto."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from territoires.auth.errors import TooManyRequests
from territoires.auth.quotas import ENTITY_COUNT_TTL, LIMITS_TTL, SYNC_EVERY, Quotas
from territoires.broker import Broker, open_broker
from territoires.config import Settings
from territoires.ingest.bridge import decoder_types
from territoires.store.port import QuarantineQuery, QuotaLimits, Store
from territoires.store.postgres import PostgresStore
from territoires.store.sqlite import SqliteStore
from tests import postgres
from tests.contract.conftest import streetlight
from tests.ingest.bridging import lamp_uplink, publish, running_bridge, wait_until

START = 1_782_000_000.0  # 2026-06-21T00:00:00Z, the start of a minute


class Clock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self, at: float = START) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


@pytest.fixture(params=postgres.BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    return Settings(data_dir=tmp_path / "var", database_url=url)


def open_store(settings: Settings) -> Store:
    """A store of its own, as each process of the platform opens one."""
    if settings.database_url:
        return PostgresStore(settings.database_url)
    return SqliteStore(settings.data_dir)


@pytest.fixture
def stores(settings: Settings) -> Iterator[tuple[Store, Store]]:
    """Two stores on the same data: two processes."""
    first, second = open_store(settings), open_store(settings)
    first.create_tenant("rennes")
    first.create_tenant("brest")
    yield first, second
    first.close()
    second.close()


def refused(call, *args) -> TooManyRequests:
    with pytest.raises(TooManyRequests) as caught:
        call(*args)
    return caught.value


def test_requests_beyond_the_quota_per_minute_are_refused_until_the_minute_ends(settings, stores):
    clock = Clock(START + 45.2)
    quotas = Quotas(stores[0], replace(settings, quota_requests_per_minute=3), clock)
    for _ in range(3):
        quotas.charge_request("rennes")
    refusal = refused(quotas.charge_request, "rennes")
    assert refusal.status == 429
    assert refusal.headers == {"Retry-After": "15"}  # 14.8 s left in the minute, rounded up
    assert "requests per minute" in refusal.detail and "3" in refusal.detail and "'rennes'" in refusal.detail
    quotas.charge_request("brest")  # another tenant has its own count
    clock.at = START + 60
    quotas.charge_request("rennes")  # a new minute: counting starts over


def test_two_processes_share_one_count(settings, stores):
    clock = Clock(START + 10)
    limited = replace(settings, quota_requests_per_minute=5)
    one, two = Quotas(stores[0], limited, clock), Quotas(stores[1], limited, clock)
    for _ in range(3):
        one.charge_request("rennes")
    one.flush()
    two.charge_request("rennes")  # its first charge learns the shared count: 3 + 1
    two.charge_request("rennes")
    refusal = refused(two.charge_request, "rennes")
    assert "made 5 this minute" in refusal.detail
    # the first process learns the others' count at its next addition, at most SYNC_EVERY later
    clock.at += SYNC_EVERY
    two.flush()
    refused(one.charge_request, "rennes")
    assert stores[0].add_usage("rennes", "requests", int(clock.at // 60), 0) == 5


def test_a_process_adds_its_count_to_the_shared_counter_about_once_a_second(settings, stores):
    clock = Clock(START)
    quotas = Quotas(stores[0], settings, clock)  # unlimited: still counted, for the usage report
    minute = int(START // 60)
    for _ in range(10):
        quotas.charge_request("rennes")
    assert stores[1].add_usage("rennes", "requests", minute, 0) == 0  # not yet added
    clock.at += SYNC_EVERY
    quotas.charge_request("rennes")
    assert stores[1].add_usage("rennes", "requests", minute, 0) == 10
    quotas.flush()
    assert stores[1].add_usage("rennes", "requests", minute, 0) == 11


def test_a_window_s_count_does_not_carry_over_to_the_next_minute(settings, stores):
    clock = Clock(START + 59.5)
    limited = replace(settings, quota_uplinks_per_minute=4)
    quotas = Quotas(stores[0], limited, clock)
    quotas.charge_uplinks("rennes", 4)
    assert refused(quotas.charge_uplinks, "rennes", 1).headers == {"Retry-After": "1"}
    clock.at = START + 60.5
    quotas.charge_uplinks("rennes", 3)
    refusal = refused(quotas.charge_uplinks, "rennes", 2)  # 3 + 2 > 4: none of the two is counted
    assert "uplinks per minute" in refusal.detail and "2 more asked" in refusal.detail
    quotas.charge_uplinks("rennes", 1)
    # another process starting in this minute learns its count, not the previous minute's
    other = Quotas(stores[1], limited, clock)
    quotas.flush()
    refused(other.charge_uplinks, "rennes", 1)


def test_a_tenant_s_own_quota_overrides_the_default_and_null_brings_the_default_back(settings, stores):
    clock = Clock(START)
    defaults = replace(settings, quota_requests_per_minute=2)
    admin, process = Quotas(stores[0], defaults, clock), Quotas(stores[1], defaults, clock)
    process.charge_request("rennes")
    process.charge_request("rennes")
    refused(process.charge_request, "rennes")
    report = admin.configure("rennes", {"requestsPerMinute": 4})
    assert report["requestsPerMinute"] == 4 and report["effective"]["requestsPerMinute"] == 4
    refused(process.charge_request, "rennes")  # this process still uses what it read a moment ago
    clock.at += LIMITS_TTL
    process.charge_request("rennes")
    process.charge_request("rennes")
    refused(process.charge_request, "rennes")
    admin.configure("rennes", {"requestsPerMinute": 0})  # 0: unlimited for this tenant
    clock.at += LIMITS_TTL
    for _ in range(20):
        process.charge_request("rennes")
    admin.configure("rennes", {"requestsPerMinute": None})
    assert stores[0].get_quotas("rennes") == QuotaLimits()
    clock.at += LIMITS_TTL
    refused(process.charge_request, "rennes")


def test_the_process_that_sets_a_quota_applies_it_at_once(settings, stores):
    clock = Clock(START)
    quotas = Quotas(stores[0], settings, clock)
    quotas.charge_request("rennes")
    quotas.configure("rennes", {"requestsPerMinute": 1})
    refused(quotas.charge_request, "rennes")


def test_the_quota_of_entities_counts_what_is_stored_and_what_this_process_admitted(settings, stores):
    clock = Clock(START)
    store = stores[0]
    quotas = Quotas(store, replace(settings, quota_entities=3), clock)
    with store.session("rennes", write=True) as session:
        session.insert([streetlight(1), streetlight(2)])
    quotas.check_entities("rennes", 1)
    refusal = refused(quotas.check_entities, "rennes", 1)  # 2 stored + 1 admitted + 1 > 3
    assert refusal.status == 429 and "entities" in refusal.detail and "3" in refusal.detail
    assert "Retry-After" in refusal.headers
    quotas.check_entities("brest", 3)
    # the count is read again a few seconds later: the admitted entity was never created
    clock.at += ENTITY_COUNT_TTL
    quotas.check_entities("rennes", 1)
    with store.session("rennes", write=True) as session:
        session.insert([streetlight(3)])
    clock.at += ENTITY_COUNT_TTL
    refused(quotas.check_entities, "rennes", 1)
    with store.session("rennes", write=True) as session:
        session.delete([streetlight(1)["id"], streetlight(2)["id"]])
    clock.at += ENTITY_COUNT_TTL
    quotas.check_entities("rennes", 2)


def test_a_tenant_that_does_not_exist_is_charged_nothing(settings, stores):
    quotas = Quotas(stores[0], replace(settings, quota_requests_per_minute=1, quota_entities=1), Clock())
    for _ in range(3):
        quotas.charge_request("nowhere")
        quotas.check_entities("nowhere", 5)
    quotas.flush()
    stores[0].create_tenant("nowhere")
    assert stores[0].add_usage("nowhere", "requests", int(START // 60), 0) == 0


def test_the_report_gives_own_and_effective_quotas_and_the_usage_of_the_minute(settings, stores):
    clock = Clock(START + 30)
    store = stores[0]
    quotas = Quotas(store, replace(settings, quota_entities=100, quota_uplinks_per_minute=50), clock)
    with store.session("rennes", write=True) as session:
        session.insert([streetlight(1)])
    quotas.charge_request("rennes")
    quotas.charge_request("rennes")
    other = Quotas(stores[1], settings, clock)  # another process
    other.charge_uplinks("rennes", 7)
    other.flush()
    quotas.configure("rennes", {"requestsPerMinute": 10})
    assert quotas.report("rennes") == {
        "entities": None, "requestsPerMinute": 10, "uplinksPerMinute": None,
        "effective": {"entities": 100, "requestsPerMinute": 10, "uplinksPerMinute": 50},
        "usage": {"entities": 1, "requestsPerMinute": 2, "uplinksPerMinute": 7, "since": "2026-06-21T00:00:00Z"},
    }


# ---- uplinks through a real bridge --------------------------------------------------------------

LAMP = "70B3D57ED0000001"
LAMP_ID = "urn:ngsi-ld:Streetlight:rennes-0001"


@pytest.fixture
def broker(settings: Settings) -> Iterator[Broker]:
    opened = open_broker(replace(settings, quota_uplinks_per_minute=2))
    opened.tenants.create("rennes")
    opened.devices.register({"devEui": LAMP, "tenant": "rennes", "entityId": LAMP_ID, "decoder": "streetlight"},
                            decoder_types())
    yield opened
    opened.close()


def test_uplinks_over_the_quota_are_quarantined_with_the_reason_and_the_others_stored(broker, mosquitto):
    uplinks = [lamp_uplink(LAMP, n, f"2026-11-28T18:0{n}:00Z", dimming=10 * n) for n in range(1, 4)]
    with running_bridge(broker, mosquitto.url) as bridge:
        # a clock that stays in one minute, so that the three uplinks meet one window
        bridge.quotas = Quotas(broker.store, broker.settings, Clock(START))
        publish(mosquitto.port, uplinks)
        wait_until(lambda: bridge.snapshot().received == 3)
        snapshot = bridge.snapshot()
    assert (snapshot.stored, snapshot.quarantined) == (2, 1)
    page, count = broker.devices.quarantine(QuarantineQuery(tenant="rennes", kind="quota"))
    assert count == 1
    kept = page[0]
    assert (kept.kind, kept.dev_eui, kept.tenant) == ("quota", LAMP, "rennes")
    assert "uplinks per minute" in kept.reason and "2" in kept.reason
    assert kept.body == uplinks[2][1]  # kept whole: it can be published again later
    assert broker.entities.retrieve("rennes", LAMP_ID)

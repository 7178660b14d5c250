"""The LoRaWAN bridge against a real Mosquitto, on each backend: real ChirpStack v4 and TTS v3
uplink JSON published at QoS 1 become attribute updates of the registered entities; what
cannot be used is quarantined with its reason; duplicates are stored once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from territoires import clock
from territoires.broker import Broker, open_broker
from territoires.broker.changes import Change
from territoires.config import Settings
from territoires.ingest.bridge import decoder_types
from territoires.ingest.decoders import DECODERS, Decoder, Measure, streetlight, water_meter
from territoires.ingest.mqtt import Subscriber
from territoires.ingest.uplinks import chirpstack_uplink
from territoires.ngsild.errors import ResourceNotFound
from territoires.store.port import EntityQuery, QuarantineQuery, TemporalQuery, TenantSession
from tests import postgres
from tests.ingest.bridging import lamp_uplink, meter_uplink, publish, running_bridge, wait_until

LAMP, METER, STRANGER = "70B3D57ED0000001", "70B3D57ED0000002", "70B3D57ED00000FF"
LAMP_ID, METER_ID = "urn:ngsi-ld:Streetlight:rennes-0001", "urn:ngsi-ld:WaterConsumptionObserved:rennes-0002"
T0 = "2026-11-28T18:00:00.000000Z"


class Changes:
    """A test's own observer of the change feed: every change the bridge's writes publish."""

    def __init__(self) -> None:
        self.seen: list[Change] = []

    def needs_previous(self, tenant: str, session: TenantSession) -> bool:
        return False

    def observe(self, tenant: str, session: TenantSession, changes: Sequence[Change]) -> None:
        self.seen.extend(changes)


@pytest.fixture(params=postgres.BACKENDS)
def broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Broker]:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    opened = open_broker(Settings(data_dir=tmp_path / "var", database_url=url))
    opened.tenants.create("rennes")
    opened.devices.register({"devEui": LAMP, "tenant": "rennes", "entityId": LAMP_ID, "decoder": "streetlight"},
                            decoder_types())
    opened.devices.register({"devEui": METER.lower(), "tenant": "rennes", "entityId": METER_ID,
                             "decoder": "water-meter"}, decoder_types())
    yield opened
    opened.close()


def counters(bridge) -> dict[str, int]:
    snap = bridge.snapshot()
    return {"received": snap.received, "stored": snap.stored, "duplicates": snap.duplicates,
            "quarantined": snap.quarantined}


def test_chirpstack_and_tts_uplinks_become_attributes_observed_at_the_uplink_time(broker, mosquitto):
    with running_bridge(broker, mosquitto.url) as bridge:
        publish(mosquitto.port, [lamp_uplink(LAMP, 7, "2026-11-28T18:00:00.123456789Z", dimming=60, power_w=42.5),
                                 meter_uplink(METER, 0, "2026-11-28T19:00:00+01:00", index_l=123_456)])
        wait_until(lambda: bridge.snapshot().stored == 2)
    lamp = broker.entities.retrieve("rennes", LAMP_ID)
    assert lamp["type"] == [streetlight.ENTITY_TYPE]
    power = lamp["attrs"][streetlight.VOCAB + "powerConsumption"][0]
    assert (power["value"], power["unitCode"], power["observedAt"]) == (42.5, "WTT", "2026-11-28T18:00:00.123456Z")
    assert lamp["attrs"][streetlight.VOCAB + "illuminanceLevel"][0]["value"] == 0.6
    meter = broker.entities.retrieve("rennes", METER_ID)
    assert meter["type"] == [water_meter.ENTITY_TYPE]
    consumption = meter["attrs"][water_meter.VOCAB + "waterConsumption"][0]
    assert (consumption["value"], consumption["unitCode"], consumption["observedAt"]) == (
        123.456, "MTQ", "2026-11-28T18:00:00.000000Z")
    assert counters(bridge) == {"received": 2, "stored": 2, "duplicates": 0, "quarantined": 0}


def test_a_later_uplink_updates_the_entity_and_keeps_what_others_wrote(broker, mosquitto):
    extra = "https://uri.etsi.org/ngsi-ld/default-context/note"
    with running_bridge(broker, mosquitto.url) as bridge:
        publish(mosquitto.port, [lamp_uplink(LAMP, 1, T0, dimming=10)])
        wait_until(lambda: bridge.snapshot().stored == 1)
        with broker.store.session("rennes", write=True) as session:
            lamp = session.get([LAMP_ID])[LAMP_ID]
            lamp["attrs"][extra] = [{"type": "Property", "value": "posée en 2024", "createdAt": T0, "modifiedAt": T0}]
            session.replace([lamp])
        publish(mosquitto.port, [lamp_uplink(LAMP, 2, "2026-11-28T18:10:00Z", dimming=80)])
        wait_until(lambda: bridge.snapshot().stored == 2)
    lamp = broker.entities.retrieve("rennes", LAMP_ID)
    level = lamp["attrs"][streetlight.VOCAB + "illuminanceLevel"][0]
    assert (level["value"], level["observedAt"]) == (0.8, "2026-11-28T18:10:00.000000Z")
    assert lamp["attrs"][extra][0]["value"] == "posée en 2024"
    assert lamp["createdAt"] < lamp["modifiedAt"]


def test_bad_uplinks_are_quarantined_with_their_reason_and_the_rest_of_the_batch_is_stored(broker, mosquitto):
    garbage = ("application/1/device/70b3d57ed0000001/event/up", b"\xff\xfe not json")
    stranger = lamp_uplink(STRANGER, 1, T0)
    topic, _ = lamp_uplink(LAMP, 3, T0)
    undecodable = (topic, lamp_uplink(LAMP, 3, T0)[1].replace(b'"data":"', b'"data":"AAAA', 1))
    with running_bridge(broker, mosquitto.url) as bridge:
        publish(mosquitto.port, [garbage, lamp_uplink(LAMP, 2, T0), stranger, undecodable,
                                 meter_uplink(METER, 5, T0)])
        wait_until(lambda: bridge.snapshot().received == 5)
        assert counters(bridge) == {"received": 5, "stored": 2, "duplicates": 0, "quarantined": 3}
    page, count = broker.devices.quarantine(QuarantineQuery())
    assert count == 3
    by_kind = {uplink.kind: uplink for uplink in page}
    assert set(by_kind) == {"malformed", "unknown-device", "undecodable"}
    assert by_kind["malformed"].reason.startswith("not JSON") and by_kind["malformed"].body == garbage[1]
    assert by_kind["unknown-device"].dev_eui == STRANGER and STRANGER in by_kind["unknown-device"].reason
    assert by_kind["undecodable"].tenant == "rennes" and "bytes" in by_kind["undecodable"].reason
    assert broker.devices.quarantine(QuarantineQuery(kind="undecodable"))[1] == 1
    assert broker.entities.retrieve("rennes", METER_ID)


def test_duplicate_uplinks_are_stored_once_and_a_rejoined_device_counts_again(broker, mosquitto):
    observer = Changes()
    broker.feed.add(observer)
    first = lamp_uplink(LAMP, 0, T0, dimming=10)
    with running_bridge(broker, mosquitto.url) as bridge:
        # the same frame heard through two gateways, published twice, then redelivered
        publish(mosquitto.port, [first, first, lamp_uplink(LAMP, 0, "2026-11-28T18:00:00.300Z", dimming=10)])
        wait_until(lambda: bridge.snapshot().received == 3)
        publish(mosquitto.port, [first])
        wait_until(lambda: bridge.snapshot().received == 4)
        # an hour later the device rejoined: its frame counter starts from 0 again
        publish(mosquitto.port, [lamp_uplink(LAMP, 0, "2026-11-28T19:00:00Z", dimming=90)])
        wait_until(lambda: bridge.snapshot().received == 5)
        assert counters(bridge) == {"received": 5, "stored": 2, "duplicates": 3, "quarantined": 0}
    assert len(observer.seen) == 2
    lamp = broker.entities.retrieve("rennes", LAMP_ID)
    assert lamp["attrs"][streetlight.VOCAB + "illuminanceLevel"][0]["value"] == 0.9


def test_each_uplink_of_a_device_in_one_batch_is_a_change_of_its_own(broker, mosquitto):
    observer = Changes()
    broker.feed.add(observer)
    uplinks = [lamp_uplink(LAMP, n, f"2026-11-28T18:0{n}:00Z", dimming=10 * n) for n in range(1, 6)]
    with running_bridge(broker, mosquitto.url) as bridge:
        publish(mosquitto.port, uplinks)
        wait_until(lambda: bridge.snapshot().stored == 5)
    levels = [change.new["attrs"][streetlight.VOCAB + "illuminanceLevel"][0] for change in observer.seen]
    assert [(level["value"], level["observedAt"]) for level in levels] == [
        (n / 10, f"2026-11-28T18:0{n}:00.000000Z") for n in range(1, 6)]
    instants = [change.at for change in observer.seen]
    assert instants == sorted(instants) and len(set(instants)) == 5
    assert observer.seen[0].old is None and all(change.old is not None for change in observer.seen[1:])


def test_a_late_uplink_joins_the_history_and_never_takes_the_current_value_back(broker, mosquitto):
    observer = Changes()
    broker.feed.add(observer)
    level = streetlight.VOCAB + "illuminanceLevel"
    with running_bridge(broker, mosquitto.url) as bridge:
        publish(mosquitto.port, [lamp_uplink(LAMP, 2, "2026-11-28T18:10:00Z", dimming=80)])
        wait_until(lambda: bridge.snapshot().stored == 1)
        # a gateway's backlog: an earlier frame, alone, then beside a newer one in one batch
        publish(mosquitto.port, [lamp_uplink(LAMP, 1, T0, dimming=10)])
        wait_until(lambda: bridge.snapshot().stored == 2)
        publish(mosquitto.port, [lamp_uplink(LAMP, 4, "2026-11-28T18:20:00Z", dimming=90),
                                 lamp_uplink(LAMP, 3, "2026-11-28T18:15:00Z", dimming=50)])
        wait_until(lambda: bridge.snapshot().stored == 4)
    current = broker.entities.retrieve("rennes", LAMP_ID)["attrs"][level][0]
    assert (current["value"], current["observedAt"]) == (0.9, "2026-11-28T18:20:00.000000Z")
    with broker.store.session("rennes") as session:
        [found] = session.temporal_query(TemporalQuery(EntityQuery(ids=(LAMP_ID,)), attrs=(level,))).entities
    assert sorted((i.instance["observedAt"][11:16], i.instance["value"]) for i in found.series[0].instances) == [
        ("18:00", 0.1), ("18:10", 0.8), ("18:15", 0.5), ("18:20", 0.9)]
    late = [change for change in observer.seen if change.late]
    assert len(late) == 2 and all(change.new is change.old for change in late)  # nothing else to notify or audit
    assert [dict(change.late)[level]["observedAt"][11:16] for change in late] == ["18:00", "18:15"]


def test_bridges_sharing_one_subscription_store_each_uplink_once_and_the_latest_value(broker, mosquitto):
    # What operations.md suggests to go faster: several bridges, one shared MQTT subscription.
    shared = tuple(f"$share/territoires/{topic}" for topic in broker.settings.mqtt_topics)
    other = open_broker(replace(broker.settings, mqtt_topics=shared))
    mine = open_broker(replace(broker.settings, mqtt_topics=shared))
    for client_id in ("bridge-a", "bridge-b"):  # both sessions hold their share from now on
        Subscriber(mosquitto.url, client_id, shared).open_session()
    uplinks = [lamp_uplink(LAMP, n, f"2026-11-28T{18 + n // 60}:{n % 60:02}:00Z", dimming=n % 101)
               for n in range(240)]
    publish(mosquitto.port, uplinks)
    try:
        with running_bridge(mine, mosquitto.url, client_id="bridge-a") as first, \
                running_bridge(other, mosquitto.url, client_id="bridge-b") as second:
            wait_until(lambda: first.snapshot().stored + second.snapshot().stored == 240)
            assert first.snapshot().stored and second.snapshot().stored
            assert first.snapshot().duplicates + second.snapshot().duplicates == 0
    finally:
        other.close()
        mine.close()
    level = streetlight.VOCAB + "illuminanceLevel"
    current = broker.entities.retrieve("rennes", LAMP_ID)["attrs"][level][0]
    assert (current["value"], current["observedAt"]) == (0.37, "2026-11-28T21:59:00.000000Z")  # n = 239
    with broker.store.session("rennes") as session:
        [found] = session.temporal_query(TemporalQuery(EntityQuery(ids=(LAMP_ID,)), attrs=(level,))).entities
    assert len(found.series[0].instances) == 240


def test_an_uplink_the_store_refuses_is_quarantined_and_the_others_of_its_write_are_stored(broker, mosquitto):
    # A decoder of this test's own whose value of 0xFF cannot be stored (not JSON), beside the real ones.
    fragile = Decoder("fragile", streetlight.ENTITY_TYPE, 10,
                      lambda payload, port: [Measure(streetlight.VOCAB + "level", {1} if payload[0] == 0xFF else 1)])
    decoders = {**DECODERS, "fragile": fragile}
    ids = [f"70B3D57ED00001{n:02X}" for n in range(3)]
    for n, eui in enumerate(ids):
        broker.devices.register({"devEui": eui, "tenant": "rennes", "entityId": f"urn:ngsi-ld:Streetlight:f{n}",
                                 "decoder": "fragile"}, decoder_types(decoders))
    frames = [chirpstack_uplink(dev_eui=eui, f_cnt=1, f_port=10, payload=bytes([0xFF if n == 1 else 0]), time=T0,
                                device_name="f", application_id="a", application_name="a")
              for n, eui in enumerate(ids)]
    with running_bridge(broker, mosquitto.url, decoders=decoders) as bridge:
        publish(mosquitto.port, [*frames, lamp_uplink(LAMP, 1, T0)])
        wait_until(lambda: bridge.snapshot().received == 4)
        assert counters(bridge) == {"received": 4, "stored": 3, "duplicates": 0, "quarantined": 1}
    [rejected], _ = broker.devices.quarantine(QuarantineQuery(kind="rejected"))
    assert rejected.dev_eui == ids[1] and rejected.tenant == "rennes" and "TypeError" in rejected.reason
    assert broker.entities.retrieve("rennes", "urn:ngsi-ld:Streetlight:f2")


def test_uplinks_of_several_tenants_each_go_to_their_tenant(broker, mosquitto):
    broker.tenants.create("vitre")
    other = "70B3D57ED0000003"
    broker.devices.register({"devEui": other, "tenant": "vitre", "entityId": "urn:ngsi-ld:Streetlight:v1",
                             "decoder": "streetlight"}, decoder_types())
    with running_bridge(broker, mosquitto.url) as bridge:
        publish(mosquitto.port, [lamp_uplink(other, 1, T0), lamp_uplink(LAMP, 1, T0)])
        wait_until(lambda: bridge.snapshot().stored == 2)
    assert broker.entities.retrieve("vitre", "urn:ngsi-ld:Streetlight:v1")
    assert broker.entities.retrieve("rennes", LAMP_ID)
    with pytest.raises(ResourceNotFound):
        broker.entities.retrieve("rennes", "urn:ngsi-ld:Streetlight:v1")


def test_the_frame_of_an_uplink_older_than_a_week_is_remembered_a_week_too(broker, mosquitto):
    # Forgotten by when it was recorded: a backlog's redelivery is still a duplicate.
    uplink = lamp_uplink(LAMP, 5, "2026-01-01T00:00:00.000000Z")
    with running_bridge(broker, mosquitto.url) as bridge:
        publish(mosquitto.port, [uplink])
        wait_until(lambda: bridge.snapshot().stored == 1)
        bridge.forget_old_frames()
        publish(mosquitto.port, [uplink])
        wait_until(lambda: bridge.snapshot().duplicates == 1)
        assert bridge.snapshot().stored == 1


def test_forgotten_frames_are_applied_again(broker, mosquitto):
    uplink = lamp_uplink(LAMP, 5, T0)
    with running_bridge(broker, mosquitto.url) as bridge:
        publish(mosquitto.port, [uplink])
        wait_until(lambda: bridge.snapshot().stored == 1)
        bridge.forget_old_frames()  # keeps a week: this frame is remembered
        publish(mosquitto.port, [uplink])
        wait_until(lambda: bridge.snapshot().duplicates == 1)
        assert broker.devices.forget_frames("rennes", clock.ahead(1)) == 1
        publish(mosquitto.port, [uplink])
        wait_until(lambda: bridge.snapshot().stored == 2)

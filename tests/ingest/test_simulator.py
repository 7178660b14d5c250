"""The simulator: a labelled fleet whose days look like days, read back by the uplink parser and
the decoders, published to a real Mosquitto, registered through the real CLI."""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from territoires.broker import Broker, open_broker
from territoires.cli import main
from territoires.config import Settings
from territoires.ingest.behaviours import local_time
from territoires.ingest.bridge import decoder_types
from territoires.ingest.decoders import DECODERS
from territoires.ingest.simulator import Simulation, fleet, run
from territoires.ingest.uplinks import parse_uplink
from tests import postgres
from tests.ingest.bridging import running_bridge, wait_until

# A Wednesday of January: long nights, office days.
START = datetime(2026, 1, 14, 0, 0, tzinfo=UTC)
STEP = 600


def decoded_days(per_kind: int, days: float, network: str = "chirpstack", seed: int = 1):
    """device name -> [(local time, {short attribute name: value})] over ``days`` simulated days."""
    simulation = Simulation(fleet(per_kind), network=network, start=START, step=STEP, seed=seed)
    count = int(days * 86400 / STEP) * len(simulation.devices)
    series = defaultdict(list)
    for simulated in itertools.islice(simulation.uplinks(), count):
        uplink = parse_uplink(simulated.topic, simulated.body)
        measures = DECODERS[simulated.device.decoder].decode(uplink.payload, uplink.f_port)
        values = {measure.attr.rsplit("/", 1)[1]: measure.value for measure in measures}
        series[simulated.device.name].append((local_time(simulated.at), values))
    return series


@pytest.fixture(scope="module")
def three_days():
    return decoded_days(3, 3)


def at_hours(points, hours):
    return [values for moment, values in points if moment.hour in hours]


def test_fleet_is_labelled_simulated_and_unique() -> None:
    devices = fleet(3)
    assert len(devices) == 3 * len(DECODERS)
    assert len({device.dev_eui for device in devices}) == len(devices)
    assert len({device.entity_id for device in devices}) == len(devices)
    lamp = devices[0]
    assert (lamp.name, lamp.entity_id, lamp.decoder) == (
        "simulated-streetlight-001", "urn:ngsi-ld:Streetlight:simulated-streetlight-001", "streetlight")
    assert all(device.name.startswith("simulated-") and device.dev_eui.startswith("02") for device in devices)
    assert fleet(3) == devices  # the same fleet for the same count


@pytest.mark.parametrize("network", ["chirpstack", "tts"])
def test_every_uplink_parses_decodes_and_says_it_is_simulated(network: str) -> None:
    simulation = Simulation(fleet(2), network=network, start=START, step=STEP)
    counters: dict[str, list[int]] = defaultdict(list)
    previous = None
    for simulated in itertools.islice(simulation.uplinks(), 12 * 30):
        uplink = parse_uplink(simulated.topic, simulated.body)
        assert (uplink.network, uplink.dev_eui, uplink.simulated) == (network, simulated.device.dev_eui, True)
        assert uplink.device_name == simulated.device.name
        assert DECODERS[simulated.device.decoder].decode(uplink.payload, uplink.f_port)
        counters[uplink.dev_eui].append(uplink.f_cnt)
        assert previous is None or simulated.at >= previous  # in the order of their instants
        previous = simulated.at
    assert all(frames == list(range(30)) for frames in counters.values())


def test_a_seed_replays_the_same_days() -> None:
    def bodies(seed: int) -> list[bytes]:
        simulation = Simulation(fleet(2), start=START, step=STEP, seed=seed)
        return [uplink.body for uplink in itertools.islice(simulation.uplinks(), 500)]

    assert bodies(7) == bodies(7)
    assert bodies(7) != bodies(8)


def test_lamps_light_at_dusk_dim_at_night_and_switch_off_at_dawn(three_days) -> None:
    for number in (2, 3):
        lamp = three_days[f"simulated-streetlight-00{number}"]
        assert {values["powerState"] for values in at_hours(lamp, {11, 12, 13, 14})} == {"off"}
        assert {values["powerState"] for values in at_hours(lamp, {19, 20, 21})} == {"on"}
        assert {values["powerState"] for values in at_hours(lamp, {1, 2, 3})} == {"low"}
        assert all(values["powerConsumption"] > 0 for values in at_hours(lamp, {1, 2, 3, 19, 20}))
        energy = [values["energyConsumed"] for _, values in lamp]
        assert energy == sorted(energy) and energy[-1] > energy[0]
        assert {values["status"] for _, values in lamp} == {"ok"}


def test_the_failing_lamp_flickers_then_fails(three_days) -> None:
    lamp = three_days["simulated-streetlight-001"]
    first_day = [values["status"] for moment, values in lamp if moment < local_time(START) + timedelta(days=1)]
    assert {"ok", "defectiveLamp"} <= set(first_day)
    later_nights = [values for moment, values in lamp
                    if moment > local_time(START) + timedelta(days=1, hours=2) and values["powerState"] != "off"]
    assert later_nights and all(values["status"] == "defectiveLamp" and values["powerConsumption"] < 1
                                for values in later_nights)


def test_a_night_leak_keeps_the_minimum_flow_up_and_raises_the_alarm(three_days) -> None:
    leaking = three_days["simulated-water-meter-001"]
    assert all(values["minFlow"] == 0 for moment, values in leaking if moment < local_time(START).replace(hour=1))
    nights = at_hours(leaking[-144:], {2, 3, 4})
    assert all(values["minFlow"] >= 30 and values["alarmFlowPersistence"] == "In progress persistence"
               for values in nights)
    for number in (2, 3):
        sound = three_days[f"simulated-water-meter-00{number}"]
        assert {values["alarmFlowPersistence"] for _, values in sound} == {"No persistence"}
        assert {values["minFlow"] for values in at_hours(sound, {2, 3, 4})} == {0}
    index = [values["waterConsumption"] for _, values in leaking]
    assert index == sorted(index)


def test_a_bin_fills_up_and_is_emptied_on_the_morning_round(three_days) -> None:
    levels = [(moment, values["fillingLevel"]) for moment, values in three_days["simulated-waste-level-001"]]
    full = next(i for i, (_, level) in enumerate(levels) if level >= 0.8)
    emptied = next(i for i, (_, level) in enumerate(levels) if i > full and level < 0.1)
    assert 6 <= levels[emptied][0].hour < 9


def test_parking_is_busier_by_day_than_by_night(three_days) -> None:
    spots = [three_days[f"simulated-parking-00{number}"] for number in (1, 2, 3)]

    def occupancy(hours):
        states = [values["status"] for spot in spots for values in at_hours(spot, hours)]
        return states.count("occupied") / len(states)

    assert occupancy({10, 11, 15, 16}) > occupancy({2, 3, 4}) + 0.3


def test_office_co2_rises_in_working_hours(three_days) -> None:
    office = three_days["simulated-indoor-climate-001"]
    assert "co2" not in office[0][1]  # the first frame: the cell warms up
    assert all(values["co2"] > 700 for values in at_hours(office, {11, 16}))
    assert all(values["co2"] < 500 for values in at_hours(office[1:], {3, 4, 5}))
    assert all(values["temperature"] < 18 for values in at_hours(office, {4, 5}))


def test_buildings_draw_more_in_working_hours(three_days) -> None:
    for number in (1, 2, 3):
        meter = three_days[f"simulated-electricity-meter-00{number}"]
        day = [values["totalActivePower"] for values in at_hours(meter, {10, 11, 15})]
        night = [values["totalActivePower"] for values in at_hours(meter, {2, 3})]
        assert min(night) > 0 and sum(day) / len(day) > 2 * sum(night) / len(night)


def test_solar_buildings_feed_the_grid_on_a_summer_noon() -> None:
    simulation = Simulation(fleet(2), start=datetime(2026, 6, 20, 10, 30, tzinfo=UTC), step=STEP)
    solar = [uplink for uplink in itertools.islice(simulation.uplinks(), 12 * 6)
             if uplink.device.name == "simulated-electricity-meter-002"]
    # Saturday noon in June: no office load, the panels give more than the base load.
    powers = [measure.value for uplink in solar
              for measure in DECODERS["electricity-meter"].decode(parse_uplink(uplink.topic, uplink.body).payload, 60)
              if measure.attr.endswith("/totalActivePower")]
    assert len(powers) == 6 and min(powers) < 0


# ---- with a real Mosquitto ----

class Subscriber:
    """Everything published on the broker, received at QoS 1."""

    def __init__(self, port: int) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._arrived = threading.Condition()
        self._subscribed = threading.Event()
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id="simulator-test-subscriber")
        client.on_subscribe = lambda *args: self._subscribed.set()
        client.on_message = self._on_message
        client.on_connect = lambda client, *args: client.subscribe("#", qos=1)
        client.connect("127.0.0.1", port)
        client.loop_start()
        assert self._subscribed.wait(10)
        self.client = client

    def _on_message(self, client, userdata, message) -> None:
        with self._arrived:
            self.messages.append((message.topic, message.payload))
            self._arrived.notify_all()

    def wait_for(self, count: int) -> None:
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.messages) >= count, timeout=30), (
                f"{len(self.messages)} of {count} messages arrived")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.mark.parametrize("network", ["chirpstack", "tts"])
def test_simulator_publishes_to_mosquitto_what_the_parser_and_decoders_read(mosquitto, network: str) -> None:
    subscriber = Subscriber(mosquitto.port)
    try:
        simulation = Simulation(fleet(2), network=network, start=datetime.now(UTC) - timedelta(days=1))
        report = run(mosquitto.url, simulation, rate=300, duration=1)
        assert report.published > 0 and report.acknowledged == report.published
        subscriber.wait_for(report.published)
    finally:
        subscriber.close()
    assert len(subscriber.messages) == report.published
    devices = {device.dev_eui: device for device in simulation.devices}
    for topic, body in subscriber.messages:
        uplink = parse_uplink(topic, body)
        assert uplink.simulated and uplink.network == network
        assert DECODERS[devices[uplink.dev_eui].decoder].decode(uplink.payload, uplink.f_port)


def test_no_uplink_leaves_before_its_instant(mosquitto) -> None:
    simulation = Simulation(fleet(1), start=datetime.now(UTC) + timedelta(hours=1))
    report = run(mosquitto.url, simulation, rate=0, duration=0.3)
    assert (report.published, report.first) == (0, None)


def test_simulate_command_publishes_and_writes_a_registry_the_devices_command_imports(
        mosquitto, tmp_path, capsys) -> None:
    registry = tmp_path / "simulated.json"
    assert main(["simulate", "--mqtt", mosquitto.url, "--devices", "1", "--duration", "0.5", "--rate", "50",
                 "--network", "tts", "--registry", str(registry), "--tenant", ""]) == 0
    out = capsys.readouterr().out
    assert "registre de 6 appareils simulés" in out and "remontées publiées (QoS 1)" in out
    devices = orjson.loads(registry.read_bytes())
    assert {device["decoder"] for device in devices} == set(DECODERS)
    assert main(["--data-dir", str(tmp_path / "var"), "devices", "import", str(registry)]) == 0
    assert "6 appareils enregistrés" in capsys.readouterr().out


@pytest.mark.parametrize("arguments, message", [
    ([], "donnez le serveur MQTT"),
    (["--mqtt", "mqtt://127.0.0.1:1", "--devices", "0"], "--devices doit être au moins 1"),
    (["--mqtt", "mqtt://127.0.0.1:1", "--start", "hier"], "--start : 'hier' n'est pas un instant ISO 8601"),
    (["--mqtt", "mqtt://127.0.0.1:1", "--step", "0"], "--step doit être positif"),
])
def test_simulate_command_explains_bad_arguments_in_french(arguments, message, capsys, monkeypatch) -> None:
    monkeypatch.delenv("TERRITOIRES_MQTT_URL", raising=False)
    assert main(["simulate", *arguments]) == 2
    assert message in capsys.readouterr().err


def test_simulate_command_says_when_the_mqtt_server_is_unreachable(capsys) -> None:
    assert main(["simulate", "--mqtt", "mqtt://127.0.0.1:1", "--duration", "1"]) == 1
    assert "serveur MQTT 127.0.0.1:1 injoignable" in capsys.readouterr().err


@pytest.fixture(params=postgres.BACKENDS)
def platform(request: pytest.FixtureRequest, tmp_path) -> Iterator[Broker]:
    url = postgres.fresh_database() if request.param == "postgres" else ""
    opened = open_broker(Settings(data_dir=tmp_path / "var", database_url=url))
    yield opened
    opened.close()


def test_the_simulated_fleet_reaches_the_broker_through_the_bridge(platform, mosquitto) -> None:
    simulation = Simulation(fleet(1), start=datetime.now(UTC) - timedelta(days=1))
    for device in simulation.devices:
        platform.devices.register(device.registration(), decoder_types())
    with running_bridge(platform, mosquitto.url) as bridge:
        report = run(mosquitto.url, simulation, rate=200, duration=1)
        assert report.published >= len(simulation.devices)
        wait_until(lambda: bridge.snapshot().stored == report.published, what="the bridge")
    assert bridge.snapshot().quarantined == 0
    for device in simulation.devices:
        entity = platform.entities.retrieve("", device.entity_id)
        assert entity["type"] == [device.entity_type]
        for instances in entity["attrs"].values():
            assert instances[0]["observedAt"] <= report.last.replace(tzinfo=None).isoformat() + "Z"
    lamp = platform.entities.retrieve("", simulation.devices[0].entity_id)
    assert lamp["attrs"]["https://smartdatamodels.org/dataModel.Streetlighting/energyConsumed"][0]["unitCode"] == "KWH"

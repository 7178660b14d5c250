"""Device decoders: each documented example frame decodes to the documented values, encode and
decode are inverse, and any malformed frame is a DecodeError — never another exception."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from territoires.ingest.decoders import (
    DECODERS,
    DecodeError,
    Measure,
    electricity_meter,
    indoor_climate,
    parking,
    streetlight,
    waste_level,
    water_meter,
)

SDM = "https://smartdatamodels.org/"
STATUS = "https://uri.etsi.org/ngsi-ld/status"


def values(measures: list[Measure]) -> dict[str, tuple]:
    """attribute -> (value, unit code), short names for the Smart Data Models vocabulary."""
    assert all(measure.kind == "Property" for measure in measures)
    assert len({measure.attr for measure in measures}) == len(measures)
    return {measure.attr.rsplit("/", 1)[1]: (measure.value, measure.unit_code) for measure in measures}


def test_registry_names_every_kind_with_its_smart_data_models_type() -> None:
    assert {name: decoder.entity_type for name, decoder in DECODERS.items()} == {
        "streetlight": SDM + "dataModel.Streetlighting/Streetlight",
        "water-meter": SDM + "dataModel.WaterConsumption/WaterConsumptionObserved",
        "waste-level": SDM + "dataModel.WasteManagement/WasteContainer",
        "parking": SDM + "dataModel.Parking/ParkingSpot",
        "indoor-climate": SDM + "dataModel.Environment/IndoorEnvironmentObserved",
        "electricity-meter": SDM + "dataModel.Energy/ACMeasurement",
    }
    assert len({decoder.f_port for decoder in DECODERS.values()}) == len(DECODERS)


# ---- the examples of the module docstrings ----

def test_streetlight_documented_example() -> None:
    measures = DECODERS["streetlight"].decode(bytes.fromhex("01 64 03 E8 00 01 E2 40"), 10)
    assert values(measures) == {
        "powerState": ("on", None), "illuminanceLevel": (1.0, "C62"), "powerConsumption": (100.0, "WTT"),
        "energyConsumed": (123.456, "KWH"), "status": ("ok", None)}
    assert measures[-1].attr == STATUS


def test_streetlight_failing_lamp_dimmed() -> None:
    measures = DECODERS["streetlight"].decode(bytes.fromhex("82 32 00 00 00 00 00 10"), 10)
    assert values(measures) == {
        "powerState": ("low", None), "illuminanceLevel": (0.5, "C62"), "powerConsumption": (0.0, "WTT"),
        "energyConsumed": (0.016, "KWH"), "status": ("defectiveLamp", None)}


def test_water_meter_documented_example() -> None:
    assert values(DECODERS["water-meter"].decode(bytes.fromhex("00 01 E2 40 00 1E 00 64 01"), 20)) == {
        "waterConsumption": (123.456, "MTQ"), "minFlow": (30, "E32"), "maxFlow": (100, "E32"),
        "alarmFlowPersistence": ("In progress persistence", None), "alarmStopsLeaks": (0, None),
        "alarmTamper": (0, None), "alarmWaterQuality": (0, None), "acquisitionStageFailure": (0, None),
        "alarmInProgress": (1, None)}


def test_water_meter_alarm_bits() -> None:
    decoded = values(DECODERS["water-meter"].decode(bytes.fromhex("00 00 00 00 00 00 00 00 1E"), 20))
    assert decoded["alarmFlowPersistence"] == ("No persistence", None)
    assert [decoded[name][0] for name in ("alarmStopsLeaks", "alarmTamper", "alarmWaterQuality",
                                          "acquisitionStageFailure", "alarmInProgress")] == [1, 1, 1, 1, 1]
    quiet = values(DECODERS["water-meter"].decode(bytes.fromhex("00 00 00 00 00 00 00 00 E0"), 20))
    assert quiet["alarmInProgress"] == (0, None)  # reserved bits are no alarm


def test_waste_level_documented_example() -> None:
    assert values(DECODERS["waste-level"].decode(bytes.fromhex("02 EE 05 DC 12 00"), 30)) == {
        "fillingLevel": (0.5, "C62"), "temperature": (18, "CEL"), "status": ("ok", None)}


@pytest.mark.parametrize("flags, status", [("01", "lidOpen"), ("03", "dropped"), ("07", "burning"), ("10", "ok")])
def test_waste_level_status_most_serious_first(flags: str, status: str) -> None:
    assert values(DECODERS["waste-level"].decode(bytes.fromhex("00 00 05 DC F6" + flags), 30))["status"] == (status, None)


def test_waste_level_without_echo_has_no_filling_level_and_beyond_the_bottom_is_empty() -> None:
    assert "fillingLevel" not in values(DECODERS["waste-level"].decode(bytes.fromhex("00 00 05 DC 12 08"), 30))
    assert values(DECODERS["waste-level"].decode(bytes.fromhex("07 D0 05 DC FB 00"), 30))["fillingLevel"] == (0.0, "C62")
    assert values(DECODERS["waste-level"].decode(bytes.fromhex("07 D0 05 DC FB 00"), 30))["temperature"] == (-5, "CEL")


@pytest.mark.parametrize("frame, status", [("00", "free"), ("01", "occupied"), ("02", "unknown"), ("FD", "occupied")])
def test_parking_documented_states(frame: str, status: str) -> None:
    assert values(DECODERS["parking"].decode(bytes.fromhex(frame), 40)) == {"status": (status, None)}


def test_indoor_climate_documented_example() -> None:
    assert values(DECODERS["indoor-climate"].decode(bytes.fromhex("03 20 00 D2 5A"), 50)) == {
        "co2": (800, "59"), "temperature": (21.0, "CEL"), "relativeHumidity": (0.45, "C62")}


def test_indoor_climate_warming_up_and_below_zero() -> None:
    assert values(DECODERS["indoor-climate"].decode(bytes.fromhex("FF FF FF 9C C8"), 50)) == {
        "temperature": (-10.0, "CEL"), "relativeHumidity": (1.0, "C62")}


def test_electricity_meter_documented_example() -> None:
    frame = bytes.fromhex("00 0F 42 40 00 00 03 E8 00 00 0B B8 5F 13 88")
    assert values(DECODERS["electricity-meter"].decode(frame, 60)) == {
        "totalActiveEnergyImport": (1000.0, "KWH"), "totalActiveEnergyExport": (1.0, "KWH"),
        "totalActivePower": (3000, "WTT"), "totalPowerFactor": (0.95, None), "frequency": (50.0, "HTZ")}


def test_electricity_meter_feeding_the_grid() -> None:
    frame = bytes.fromhex("00 00 00 00 00 00 00 00 FF FF F8 30 A1 13 88")
    decoded = values(DECODERS["electricity-meter"].decode(frame, 60))
    assert (decoded["totalActivePower"], decoded["totalPowerFactor"]) == ((-2000, "WTT"), (-0.95, None))


# ---- malformed frames ----

MALFORMED = [
    ("streetlight", "01 64 03 E8 00 01 E2", 10, "a data frame has 8 bytes, this one has 7"),
    ("streetlight", "01 64 03 E8 00 01 E2 40", 1, "port 1 carries no data frame (data frames use port 10)"),
    ("streetlight", "01 65 03 E8 00 01 E2 40", 10, "dimming level 101 % is above 100 %"),
    ("water-meter", "", 20, "a data frame has 9 bytes, this one has 0"),
    ("water-meter", "00 01 E2 40 00 64 00 1E 00", 20, "min flow 100 L/h is above max flow 30 L/h"),
    ("waste-level", "02 EE 00 00 12 00", 30, "the empty distance is 0 mm, the sensor is not calibrated"),
    ("waste-level", "02 EE 05 DC 12 00", 40, "port 40 carries no data frame"),
    ("parking", "01 00", 40, "a data frame has 1 bytes, this one has 2"),
    ("indoor-climate", "27 11 00 D2 5A", 50, "CO2 10001 ppm is above the sensor's range"),
    ("indoor-climate", "03 20 03 53 5A", 50, "temperature (°C) 85.1 is outside -40.0…85.0"),
    ("indoor-climate", "03 20 00 D2 C9", 50, "relative humidity (%) 100.5 is outside 0…100"),
    ("electricity-meter", "00 0F 42 40 00 00 03 E8 00 00 0B B8 65 13 88", 60, "power factor (hundredths) 101"),
    ("electricity-meter", "00 0F 42 40 00 00 03 E8 00 00 0B B8 5F 00 00", 60, "frequency (0.01 Hz) 0 is outside"),
]


@pytest.mark.parametrize("name, frame, port, reason", MALFORMED)
def test_malformed_frames_are_refused_with_their_reason(name: str, frame: str, port: int, reason: str) -> None:
    with pytest.raises(DecodeError) as refused:
        DECODERS[name].decode(bytes.fromhex(frame), port)
    assert reason in refused.value.reason
    assert refused.value.reason.startswith(name + ": ")


@given(name=st.sampled_from(sorted(DECODERS)), payload=st.binary(max_size=24), port=st.integers(0, 255))
def test_random_frames_decode_or_raise_decode_error(name: str, payload: bytes, port: int) -> None:
    try:
        measures = DECODERS[name].decode(payload, port)
    except DecodeError:
        return
    for measure in measures:
        assert measure.attr.startswith(("https://smartdatamodels.org/", STATUS))
        assert isinstance(measure.value, (str, int, float)) and not isinstance(measure.value, bool)
        assert not isinstance(measure.value, float) or math.isfinite(measure.value)


@given(name=st.sampled_from(sorted(DECODERS)), payload=st.binary(min_size=1, max_size=24))
def test_frames_of_the_right_length_on_the_right_port_decode_or_raise_decode_error(name: str, payload: bytes) -> None:
    decoder = DECODERS[name]
    try:
        decoder.decode(payload, decoder.f_port)
    except DecodeError:
        pass


# ---- encode, then decode: the reading comes back ----

@given(state=st.sampled_from(streetlight.POWER_STATES), dimming=st.integers(0, 100),
       power=st.integers(0, 65535), energy=st.integers(0, 2**32 - 1), failure=st.booleans())
def test_streetlight_round_trip(state: str, dimming: int, power: int, energy: int, failure: bool) -> None:
    reading = streetlight.StreetlightReading(state, dimming, power / 10, energy, failure)
    assert values(streetlight.decode(streetlight.encode(reading), streetlight.F_PORT)) == {
        "powerState": (state, None), "illuminanceLevel": (dimming / 100, "C62"),
        "powerConsumption": (power / 10, "WTT"), "energyConsumed": (energy / 1000, "KWH"),
        "status": ("defectiveLamp" if failure else "ok", None)}


@given(index=st.integers(0, 2**32 - 1), flows=st.lists(st.integers(0, 65535), min_size=2, max_size=2),
       alarms=st.lists(st.booleans(), min_size=5, max_size=5))
def test_water_meter_round_trip(index: int, flows: list[int], alarms: list[bool]) -> None:
    low, high = sorted(flows)
    reading = water_meter.WaterMeterReading(index, low, high, *alarms)
    decoded = values(water_meter.decode(water_meter.encode(reading), water_meter.F_PORT))
    assert decoded == {
        "waterConsumption": (index / 1000, "MTQ"), "minFlow": (low, "E32"), "maxFlow": (high, "E32"),
        "alarmFlowPersistence": ("In progress persistence" if alarms[0] else "No persistence", None),
        "alarmStopsLeaks": (int(alarms[1]), None), "alarmTamper": (int(alarms[2]), None),
        "alarmWaterQuality": (int(alarms[3]), None), "acquisitionStageFailure": (int(alarms[4]), None),
        "alarmInProgress": (int(any(alarms)), None)}


@given(distance=st.none() | st.integers(0, 65535), empty=st.integers(1, 65535), temperature=st.integers(-128, 127),
       lid=st.booleans(), tilted=st.booleans(), fire=st.booleans())
def test_waste_level_round_trip(distance, empty: int, temperature: int, lid: bool, tilted: bool, fire: bool) -> None:
    reading = waste_level.WasteLevelReading(distance, empty, temperature, lid, tilted, fire)
    decoded = values(waste_level.decode(waste_level.encode(reading), waste_level.F_PORT))
    level = {} if distance is None else {"fillingLevel": (waste_level.filling_level(distance, empty), "C62")}
    status = "burning" if fire else "dropped" if tilted else "lidOpen" if lid else "ok"
    assert decoded == level | {"temperature": (temperature, "CEL"), "status": (status, None)}
    if distance is not None:
        assert 0 <= decoded["fillingLevel"][0] <= 1


@given(occupied=st.booleans(), fault=st.booleans())
def test_parking_round_trip(occupied: bool, fault: bool) -> None:
    decoded = values(parking.decode(parking.encode(parking.ParkingReading(occupied, fault)), parking.F_PORT))
    assert decoded == {"status": ("unknown" if fault else "occupied" if occupied else "free", None)}


@given(co2=st.none() | st.integers(0, 10000), temperature=st.integers(-400, 850), humidity=st.integers(0, 200))
def test_indoor_climate_round_trip(co2, temperature: int, humidity: int) -> None:
    reading = indoor_climate.IndoorClimateReading(co2, temperature / 10, humidity / 2)
    decoded = values(indoor_climate.decode(indoor_climate.encode(reading), indoor_climate.F_PORT))
    carbon = {} if co2 is None else {"co2": (co2, "59")}
    assert decoded == carbon | {"temperature": (temperature / 10, "CEL"), "relativeHumidity": (humidity / 200, "C62")}


@given(imported=st.integers(0, 2**32 - 1), exported=st.integers(0, 2**32 - 1), power=st.integers(-2**31, 2**31 - 1),
       factor=st.integers(-100, 100), frequency=st.integers(4500, 6500))
def test_electricity_meter_round_trip(imported: int, exported: int, power: int, factor: int, frequency: int) -> None:
    reading = electricity_meter.ElectricityMeterReading(imported, exported, power, factor / 100, frequency / 100)
    decoded = values(electricity_meter.decode(electricity_meter.encode(reading), electricity_meter.F_PORT))
    assert decoded == {
        "totalActiveEnergyImport": (imported / 1000, "KWH"), "totalActiveEnergyExport": (exported / 1000, "KWH"),
        "totalActivePower": (power, "WTT"), "totalPowerFactor": (factor / 100, None),
        "frequency": (frequency / 100, "HTZ")}


@pytest.mark.parametrize("encode, reading", [
    (streetlight.encode, streetlight.StreetlightReading("on", 101, 10, 0)),
    (streetlight.encode, streetlight.StreetlightReading("on", 100, 7000, 0)),
    (streetlight.encode, streetlight.StreetlightReading("dimmed", 50, 10, 0)),
    (water_meter.encode, water_meter.WaterMeterReading(-1, 0, 0)),
    (water_meter.encode, water_meter.WaterMeterReading(0, 10, 5)),
    (waste_level.encode, waste_level.WasteLevelReading(100, 0, 20)),
    (waste_level.encode, waste_level.WasteLevelReading(100, 1000, 200)),
    (indoor_climate.encode, indoor_climate.IndoorClimateReading(20000, 20, 50)),
    (indoor_climate.encode, indoor_climate.IndoorClimateReading(400, 90, 50)),
    (electricity_meter.encode, electricity_meter.ElectricityMeterReading(0, 0, 0, 1.5, 50)),
    (electricity_meter.encode, electricity_meter.ElectricityMeterReading(2**32, 0, 0, 1, 50)),
])
def test_readings_a_frame_cannot_carry_are_refused(encode, reading) -> None:
    with pytest.raises(ValueError):
        encode(reading)

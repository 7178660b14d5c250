"""How simulated devices behave through the day: one model per device kind.

A model keeps its device's state (energy and water indexes, a bin's fill level, a room's CO2)
and gives the frame its device sends at a given instant, ``step`` seconds after the previous
one. Everything follows the local time of metropolitan France and the sun over Rennes, and
draws its noise from the random generator it is given, so a seed replays the same days.

The first device of each kind carries the remarkable event of the demonstration: its lamp
flickers then fails, its building leaks at night, its bin fills up twice as fast.
"""

from __future__ import annotations

import functools
import math
import random
from datetime import UTC, datetime, timedelta

from territoires.ingest.decoders import (
    electricity_meter,
    indoor_climate,
    parking,
    streetlight,
    waste_level,
    water_meter,
)

LATITUDE, LONGITUDE = 48.11, -1.68  # Rennes


def local_time(at: datetime) -> datetime:
    """The wall-clock time in metropolitan France (UTC+1, UTC+2 from the last Sunday of March to
    the last Sunday of October, 01:00 UTC), without needing a time zone database."""
    begins, ends = _summer_time(at.year)
    return (at + timedelta(hours=2 if begins <= at < ends else 1)).replace(tzinfo=None)


@functools.lru_cache(maxsize=64)
def _summer_time(year: int) -> tuple[datetime, datetime]:
    def last_sunday(month: int) -> datetime:
        day = datetime(year, month, 31, 1, tzinfo=UTC)
        return day - timedelta(days=(day.weekday() + 1) % 7)

    return last_sunday(3), last_sunday(10)


def sun_elevation(at: datetime) -> float:
    """The sun's elevation over Rennes in degrees (declination and hour angle; the equation of
    time is left out, a quarter of an hour at most)."""
    day = at.timetuple().tm_yday
    declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + day) / 365)
    solar_hours = at.hour + at.minute / 60 + at.second / 3600 + LONGITUDE / 15
    hour_angle = math.radians(15 * (solar_hours - 12))
    latitude = math.radians(LATITUDE)
    sine = (math.sin(latitude) * math.sin(declination)
            + math.cos(latitude) * math.cos(declination) * math.cos(hour_angle))
    return math.degrees(math.asin(sine))


def _hour(at: datetime) -> float:
    local = local_time(at)
    return local.hour + local.minute / 60


def _working(at: datetime) -> bool:
    """Office hours: weekdays, 08:00 to 18:30 local time."""
    local = local_time(at)
    return local.weekday() < 5 and 8 <= local.hour + local.minute / 60 < 18.5


class Streetlight:
    """On when the sun is 3° below the horizon, dimmed to half from 23:00 to 05:00. The first
    lamp flickers (it reports failures now and then) during the first day, then fails for good."""

    def __init__(self, number: int, rng: random.Random, start: datetime) -> None:
        self.rng = rng
        self.rated_w = rng.choice((35, 50, 70, 100))
        self.energy_wh = rng.uniform(50_000, 400_000)
        self.flicker_until = start + timedelta(days=1) if number == 1 else None

    def frame(self, at: datetime, step: float) -> bytes:
        dark = sun_elevation(at) < -3
        hour = _hour(at)
        dimming = 0 if not dark else 50 if hour >= 23 or hour < 5 else 100
        failing = self.flicker_until is not None and dark and (
            at >= self.flicker_until or self.rng.random() < 0.3)
        if failing:
            power = 0.3  # the driver alone: the lamp draws nothing
        elif dark:
            power = self.rated_w * dimming / 100 * self.rng.uniform(0.97, 1.03)
        else:
            power = 0.0
        self.energy_wh += power * step / 3600
        state = "off" if not dark else "on" if dimming == 100 else "low"
        return streetlight.encode(streetlight.StreetlightReading(
            state, dimming, round(power, 1), int(self.energy_wh), lamp_failure=failing))


# Share of a household's daily water use in each local hour: morning and evening peaks.
_WATER_PROFILE = (0.3, 0.2, 0.2, 0.2, 0.3, 0.8, 2.2, 3.0, 2.4, 1.5, 1.1, 1.1,
                  1.3, 1.1, 0.9, 0.8, 0.9, 1.2, 1.7, 2.2, 1.9, 1.4, 0.9, 0.5)


class WaterMeter:
    """A household meter: taps open more often at breakfast and dinner time. The first meter's
    building starts leaking 30 L/h at the first 01:00 after the start, and the meter raises its
    continuous-flow alarm once the flow has not stopped for an hour."""

    def __init__(self, number: int, rng: random.Random, start: datetime) -> None:
        self.rng = rng
        self.index_l = rng.uniform(20_000, 900_000)
        self.mean_lh = rng.uniform(8, 20)  # 200 to 480 litres a day
        self.leak_from = None
        if number == 1:
            first = start.replace(minute=0, second=0, microsecond=0)
            self.leak_from = next(first + timedelta(hours=h) for h in range(1, 26)
                                  if local_time(first + timedelta(hours=h)).hour == 1)
        self.flowing_s = 0.0  # how long the flow has not stopped

    def frame(self, at: datetime, step: float) -> bytes:
        use = self.mean_lh * _WATER_PROFILE[int(_hour(at))]
        tapping = self.rng.random() < min(0.95, use / 25)
        leak = 30 if self.leak_from is not None and at >= self.leak_from else 0
        low = leak
        high = leak + (round(self.rng.uniform(300, 900)) if tapping else 0)
        self.index_l += (use * self.rng.uniform(0.6, 1.4) + leak) * step / 3600
        self.flowing_s = self.flowing_s + step if low > 0 else 0.0
        return water_meter.encode(water_meter.WaterMeterReading(
            int(self.index_l), low, high, continuous_flow=self.flowing_s >= 3600))


class WasteContainer:
    """Waste thrown in during the day, little at night; the truck empties a bin that is more
    than 80 % full on its morning round (06:00–09:00). The first bin starts 70 % full and fills
    twice as fast, so that a day shows it full and emptied."""

    def __init__(self, number: int, rng: random.Random, start: datetime) -> None:
        self.rng = rng
        self.empty_mm = rng.choice((1200, 1500, 1800))
        self.level = 0.7 if number == 1 else rng.uniform(0.0, 0.5)
        self.per_hour = rng.uniform(0.006, 0.012) * (2 if number == 1 else 1)

    def frame(self, at: datetime, step: float) -> bytes:
        hour = _hour(at)
        if 6 <= hour < 9 and self.level > 0.8:
            self.level = self.rng.uniform(0.0, 0.03)
        activity = 1.6 if 8 <= hour < 21 else 0.2
        self.level = min(1.0, self.level + self.per_hour * activity * self.rng.uniform(0.3, 1.7) * step / 3600)
        distance = max(0, round(self.empty_mm * (1 - self.level) + self.rng.uniform(-8, 8)))
        temperature = round(12 + 6 * math.sin(2 * math.pi * (hour - 9) / 24) + self.rng.uniform(-1, 1))
        return waste_level.encode(waste_level.WasteLevelReading(
            distance, self.empty_mm, temperature, lid_open=self.rng.random() < 0.005))


class ParkingSpot:
    """Occupied mostly in working hours, less at night and on Sundays; a car stays a while."""

    def __init__(self, number: int, rng: random.Random, start: datetime) -> None:
        self.rng = rng
        self.occupied = rng.random() < 0.4

    def frame(self, at: datetime, step: float) -> bytes:
        hour = _hour(at)
        busy = 0.9 if 9 <= hour < 12 or 14 <= hour < 18.5 else 0.65 if 7 <= hour < 21 else 0.25
        if local_time(at).weekday() == 6:
            busy *= 0.5
        if self.rng.random() < min(1.0, step / 3600):  # about one change an hour at most
            self.occupied = self.rng.random() < busy
        return parking.encode(parking.ParkingReading(self.occupied))


class IndoorClimate:
    """An office: CO2 rises while people work (ventilation brings it back to ~420 ppm at
    night), heating at 20.5 °C in working hours and 17 °C otherwise. The sensor's first frame
    has no CO2 (its cell warms up)."""

    def __init__(self, number: int, rng: random.Random, start: datetime) -> None:
        self.rng = rng
        self.people = rng.uniform(0.6, 1.3)  # how crowded the room is
        self.co2 = rng.uniform(420, 480)
        self.temperature = rng.uniform(17, 19)
        self.warm = False

    def frame(self, at: datetime, step: float) -> bytes:
        working = _working(at)
        lunch = 12 <= _hour(at) < 13.5
        target_co2 = 420 + (700 * self.people * (0.5 if lunch else 1) if working else 0)
        self.co2 += (target_co2 - self.co2) * (1 - math.exp(-step / 2700))
        target_temperature = (20.5 + 0.8 * self.people) if working else 17.0
        self.temperature += (target_temperature - self.temperature) * (1 - math.exp(-step / 5400))
        humidity = 38 + (8 * self.people if working else 0) + self.rng.uniform(-1.5, 1.5)
        co2 = round(self.co2 + self.rng.uniform(-15, 15)) if self.warm else None
        self.warm = True
        return indoor_climate.encode(indoor_climate.IndoorClimateReading(
            co2, round(self.temperature + self.rng.uniform(-0.1, 0.1), 1), round(humidity * 2) / 2))


class ElectricityMeter:
    """A public building: base load day and night, more in working hours; every second building
    has solar panels and feeds the grid around noon."""

    def __init__(self, number: int, rng: random.Random, start: datetime) -> None:
        self.rng = rng
        self.base_w = rng.uniform(1500, 4000)
        self.office_w = rng.uniform(4000, 10000)
        self.solar_w = rng.uniform(6000, 12000) if number % 2 == 0 else 0.0
        self.import_wh = rng.uniform(1e6, 5e7)
        self.export_wh = rng.uniform(1e5, 1e6) if self.solar_w else 0.0

    def frame(self, at: datetime, step: float) -> bytes:
        load = self.base_w * self.rng.uniform(0.9, 1.1) + (self.office_w if _working(at) else 0)
        sun = max(0.0, math.sin(math.radians(sun_elevation(at))))
        power = round(load - self.solar_w * sun * self.rng.uniform(0.8, 1.0))
        if power >= 0:
            self.import_wh += power * step / 3600
        else:
            self.export_wh -= power * step / 3600
        factor = math.copysign(round(self.rng.uniform(0.9, 0.98), 2), power)
        return electricity_meter.encode(electricity_meter.ElectricityMeterReading(
            int(self.import_wh), int(self.export_wh), power, factor, round(50 + self.rng.uniform(-0.04, 0.04), 2)))


# The model of each decoder's devices.
MODELS = {
    streetlight.NAME: Streetlight,
    water_meter.NAME: WaterMeter,
    waste_level.NAME: WasteContainer,
    parking.NAME: ParkingSpot,
    indoor_climate.NAME: IndoorClimate,
    electricity_meter.NAME: ElectricityMeter,
}

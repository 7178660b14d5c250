"""Deterministic NGSI-LD entities for the benchmarks, in normalized form under the core @context.

Streetlights follow the Smart Data Models `Streetlight` shape (8 attributes) around Rennes;
geo points are bare streetlight positions spread over Ille-et-Vilaine, so that a 500 m
circle holds a few dozen of the 1,000,000 points, as it would in a real département.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

Entity = dict[str, Any]

RENNES = (-1.6778, 48.1173)
# (west, south, east, north) of the département, in degrees.
ILLE_ET_VILAINE = (-2.25, 47.65, -1.05, 48.70)
CABINETS = 2000
STATUSES = ("ok", "ok", "ok", "ok", "defectiveLamp", "columnIssue", "brokenLantern")
LAMP_POWERS = (35, 50, 70, 100, 150)


def streetlight_id(n: int) -> str:
    return f"urn:ngsi-ld:Streetlight:rennes-{n:07d}"


def cabinet_id(n: int) -> str:
    return f"urn:ngsi-ld:StreetlightControlCabinet:rennes-{n:04d}"


def point_id(n: int) -> str:
    return f"urn:ngsi-ld:Streetlight:ille-et-vilaine-{n:07d}"


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "GeoProperty", "value": {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}}


def streetlight(n: int, rng: random.Random) -> Entity:
    """Streetlight number ``n``: 6 Properties, 1 Relationship, 1 GeoProperty."""
    on = rng.random() < 0.5
    return {
        "id": streetlight_id(n),
        "type": "Streetlight",
        "powerState": {"type": "Property", "value": "on" if on else "off"},
        "dimmingLevel": {"type": "Property", "value": rng.randint(0, 100), "unitCode": "P1"},
        "status": {"type": "Property", "value": rng.choice(STATUSES)},
        "lampPower": {
            "type": "Property",
            "value": rng.choice(LAMP_POWERS),
            "unitCode": "WTT",
            "observedAt": f"2026-11-28T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
        },
        "illuminanceLevel": {"type": "Property", "value": round(rng.random(), 2)},
        "dateLastSwitchingOn": {
            "type": "Property",
            "value": {"@type": "DateTime", "@value": f"2026-11-27T17:{rng.randint(0, 59):02d}:00Z"},
        },
        "refStreetlightControlCabinet": {"type": "Relationship", "object": cabinet_id(rng.randrange(CABINETS))},
        "location": _point(RENNES[0] + rng.uniform(-0.1, 0.1), RENNES[1] + rng.uniform(-0.07, 0.07)),
    }


def streetlights(count: int, seed: int = 35238) -> Iterator[Entity]:
    """``count`` streetlights, the same ones at every run."""
    rng = random.Random(seed)
    for n in range(count):
        yield streetlight(n, rng)


def random_point(rng: random.Random) -> tuple[float, float]:
    """A (lon, lat) drawn uniformly over Ille-et-Vilaine."""
    west, south, east, north = ILLE_ET_VILAINE
    return round(rng.uniform(west, east), 5), round(rng.uniform(south, north), 5)


def point_entity(n: int, rng: random.Random) -> Entity:
    """A bare point entity: a streetlight known only by its position."""
    return {"id": point_id(n), "type": "Streetlight", "location": _point(*random_point(rng))}

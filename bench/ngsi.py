"""The NGSI-LD requests the scenarios send, as raw HTTP/1.1 bytes built ahead of the clock.

Bodies are `application/json` without a Link header: the broker then applies the core
@context (ETSI GS CIM 009, clause 6.3.5), so short names expand to the default vocabulary.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from urllib.parse import quote

import orjson

from bench.data import Entity, streetlight
from bench.load import RequestFactory, build_request

API = "/ngsi-ld/v1"
_JSON = {"Content-Type": "application/json", "Accept": "application/json"}
_ACCEPT = {"Accept": "application/json"}

# Statuses that mean success for each operation (clauses 6.4.3.1, 6.5.3.1, 6.14.3.1).
CREATED = frozenset({201})
FOUND = frozenset({200})
# Upsert: 201 when some entities were created, 204 when all existed (200 tolerated).
UPSERTED = frozenset({200, 201, 204})


def upsert_request(entities: Sequence[Entity]) -> bytes:
    return build_request("POST", f"{API}/entityOperations/upsert", body=orjson.dumps(list(entities)), headers=_JSON)


def create_request(entity: Entity) -> bytes:
    return build_request("POST", f"{API}/entities", body=orjson.dumps(entity), headers=_JSON)


def retrieve_request(entity_id: str, headers: dict[str, str] | None = None) -> bytes:
    return build_request("GET", f"{API}/entities/{quote(entity_id, safe=':')}", headers={**_ACCEPT, **(headers or {})})


def query_request(params: dict[str, str]) -> bytes:
    """GET /entities with these query parameters, each percent-encoded."""
    query = "&".join(f"{name}={quote(value, safe='')}" for name, value in params.items())
    return build_request("GET", f"{API}/entities?{query}", headers=_ACCEPT)


def near_query(lon: float, lat: float, max_distance: int, limit: int = 20) -> bytes:
    """Streetlights within ``max_distance`` metres of (lon, lat) (clause 4.10)."""
    return query_request({
        "type": "Streetlight",
        "geometry": "Point",
        "coordinates": f"[{lon},{lat}]",
        "georel": f"near;maxDistance=={max_distance}",
        "limit": str(limit),
    })


def create_factory(seed: int = 2026) -> RequestFactory:
    """Each call: POST /entities of a new streetlight, never seen by the broker before."""
    rng = random.Random(seed)
    templates = [streetlight(n, rng) for n in range(100)]
    counter = itertools.count()

    def next_request() -> bytes:
        n = next(counter)
        entity = dict(templates[n % len(templates)], id=f"urn:ngsi-ld:Streetlight:created-{seed}-{n:08d}")
        return create_request(entity)

    return next_request


def cycling(requests: Sequence[bytes]) -> RequestFactory:
    """Each call: the next of these pre-built requests, round and round."""
    return itertools.cycle(requests).__next__

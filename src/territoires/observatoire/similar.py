"""Similar projects (issue 4, item 4): which records resemble a record, and why.

Order, most similar first (each criterion only breaks the ties of those before it):
1. sharing a use case; else sharing a domain;
2. population band: the same, then a neighbour band (``bands.POPULATION_BANDS``), then others;
3. how many of typology and carrier kind are the same;
4. distance between the records' locations (the population-weighted centres of the
   territories they serve, from the registry's coordinates): nearby first.
Each result says why, in French (``reasons``). Candidates are found in the database (the text
index's facets, :func:`candidate_filters`), never by reading every record; this module ranks
that bounded set in Python.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from territoires.observatoire.bands import POPULATION_BANDS

# Candidates read per database query. A tier that matches more is narrowed (nearer bands, then
# the same band, then the same typology) so that what is read holds the best ranked; past the
# last narrowing, the first CANDIDATES by id are ranked. At most two tiers run (use cases, then
# domains when use cases give too few), so at most 2 × CANDIDATES records are ranked.
CANDIDATES = 300
EARTH_RADIUS_KM = 6371.0
_BAND_INDEX = {band.code: index for index, band in enumerate(POPULATION_BANDS)}


def near_bands(band: str) -> tuple[str, ...]:
    """The band and its neighbours."""
    index = _BAND_INDEX[band]
    return tuple(POPULATION_BANDS[i].code for i in range(max(index - 1, 0), min(index + 2, len(POPULATION_BANDS))))


def candidate_filters(record: dict[str, Any], facet: str) -> Iterator[dict[str, tuple[str, ...]]]:
    """Text-index facet filters (``TextSearch.filters``) selecting the records that share one
    of ``record``'s values of ``facet`` (``useCases`` or ``domains``), from the widest to the
    narrowest; nothing when the record has no such value."""
    values = tuple(record.get(facet) or ())
    if not values:
        return
    filters = {facet: values}
    yield filters
    band = record.get("populationBand")
    if band in _BAND_INDEX:
        yield {**filters, "populationBand": near_bands(band)}
        filters = {**filters, "populationBand": (band,)}
        yield filters
    if record.get("typology"):
        yield {**filters, "typology": (record["typology"],)}


def rank(record: dict[str, Any], candidates: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The ``limit`` candidates most similar to ``record``, each with ``reasons`` (French) and
    ``distanceKm`` (None when either has no location); ``record`` itself and candidates sharing
    neither a use case nor a domain are left out."""
    scored = []
    for candidate in candidates:
        if candidate["id"] == record["id"]:
            continue
        compared = _compare(record, candidate)
        if compared is not None:
            key, reasons, distance = compared
            scored.append((key, candidate["id"], {**candidate, "reasons": reasons, "distanceKm": distance}))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [shown for _, _, shown in scored[:limit]]


def _compare(record: dict[str, Any], other: dict[str, Any]) -> tuple[tuple[Any, ...], list[str], float | None] | None:
    """A sort key (smaller: more similar), the reasons, the distance in km; None when the two
    share neither a use case nor a domain."""
    reasons = []
    use_case = bool(set(record.get("useCases") or ()) & set(other.get("useCases") or ()))
    domain = bool(set(record.get("domains") or ()) & set(other.get("domains") or ()))
    if not use_case and not domain:
        return None
    if use_case:
        reasons.append("même cas d'usage")
    elif domain:
        reasons.append("même domaine")
    closeness = _band_closeness(record.get("populationBand"), other.get("populationBand"))
    if closeness == 2:
        reasons.append("même tranche de population")
    elif closeness == 1:
        reasons.append("tranche de population voisine")
    alike = 0
    for name, reason in (("typology", "même typologie de territoire"), ("carrierKind", "même nature de porteur")):
        if record.get(name) and record.get(name) == other.get(name):
            alike += 1
            reasons.append(reason)
    distance = None
    if set(record.get("territories") or ()) & set(other.get("territories") or ()):
        distance = 0.0
        reasons.append("même territoire")
    elif record.get("location") and other.get("location"):
        distance = round(distance_km(record["location"], other["location"]), 1)
        reasons.append(f"à {round(distance)} km" if distance >= 1 else "à moins d'un km")
    key = (not use_case, not domain, -closeness, -alike, math.inf if distance is None else distance)
    return key, reasons, distance


def _band_closeness(band: Any, other: Any) -> int:
    """2 for the same band, 1 for a neighbour band, 0 otherwise (or unknown)."""
    if band not in _BAND_INDEX or other not in _BAND_INDEX:
        return 0
    return max(2 - abs(_BAND_INDEX[band] - _BAND_INDEX[other]), 0)


def distance_km(point: dict[str, Any], other: dict[str, Any]) -> float:
    """Great-circle distance between two GeoJSON Points ([lon, lat], WGS 84), in km."""
    (lon1, lat1), (lon2, lat2) = point["coordinates"][:2], other["coordinates"][:2]
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    h = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))

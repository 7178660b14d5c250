"""A project record (fiche projet): its fields, their checks, what it derives from the registry,
and its NGSI-LD form. Pure: no I/O, no access rules (those are ``projects``'s).

A record travels as a JSON object of short names (those of ``territoires-context.jsonld``):
``{"title": "…", "territories": ["urn:ngsi-ld:Territory:commune:21231"], "domains": ["water"], …}``.
The fields ``populationBand``, ``region``, ``departement`` and ``location`` are derived from the
territories served and cannot be set; ``moderation`` and ``lastEditor`` are the service's.
Details of refusals are English (API problem details); they name the field at fault.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from territoires.broker.tenants import TENANT_NAME
from territoires.ngsild.errors import BadRequestData, ResourceNotFound
from territoires.ngsild.model import Entity, Instance
from territoires.observatoire import indicators
from territoires.observatoire import vocabularies as vocab
from territoires.observatoire.bands import population_band
from territoires.observatoire.codes import valid_siren
from territoires.observatoire.names import fold
from territoires.observatoire.registry import Territory, TerritoryRegistry, urn

PROJECT_PREFIX = "urn:ngsi-ld:Project:"
ORGANISATION_PREFIX = "urn:ngsi-ld:Organisation:"
TERRITORY_PREFIX = "urn:ngsi-ld:Territory:"
KPI_PREFIX = "urn:ngsi-ld:KeyPerformanceIndicator:"
LICENCE = "Licence Ouverte 2.0"

# Bounds: a record is a page people read, not a place for uploads.
MAX_TITLE = 200
MAX_SUMMARY = 500
MAX_TEXT = 20_000
MAX_SHORT = 300
MAX_ITEMS = 50
MAX_TERRITORIES = 200
MAX_URL = 2_000
MAX_JSON_BYTES = 20_000

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_DATE = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}")
_URL = re.compile(r"https?://[^\s]+")


@dataclass(frozen=True)
class Field:
    name: str
    kind: str                       # how it is checked and stored (see _CHECKS and to_entity)
    vocabulary: vocab.Vocabulary | None = None
    limit: int = MAX_TEXT


_TEXT_FIELDS = [Field("title", "text", limit=MAX_TITLE), Field("summary", "text", limit=MAX_SUMMARY),
                Field("description", "text"), Field("need", "text"), Field("carrierName", "text", limit=MAX_SHORT),
                Field("technology", "text"), Field("pooling", "text"), Field("lessons", "text"),
                Field("replicability", "text")]
FIELDS: dict[str, Field] = {f.name: f for f in [
    *_TEXT_FIELDS,
    Field("carrier", "carrier"),
    Field("carrierKind", "code", vocab.CARRIER_KINDS),
    Field("territories", "territories"),
    Field("typology", "code", vocab.TYPOLOGIES),
    Field("domains", "codes", vocab.DOMAINS),
    Field("useCases", "codes", vocab.USE_CASES),
    Field("status", "code", vocab.STATUSES),
    Field("startDate", "date"), Field("goLiveDate", "date"), Field("endDate", "date"),
    Field("connectivity", "codes", vocab.CONNECTIVITY),
    Field("standards", "codes", vocab.STANDARDS),
    Field("openSource", "bool"),
    Field("funding", "json"),
    Field("fundingSources", "codes", vocab.FUNDING_SOURCES),
    Field("totalCost", "money"),
    Field("procurement", "code", vocab.PROCUREMENT),
    Field("outcomes", "outcomes"),
    Field("labels", "codes", vocab.LABELS),
    Field("datasets", "urls"),
    Field("provenance", "provenance"),
    Field("contact", "email"),
]}
DERIVED = ("populationBand", "region", "departement", "location")
SERVICE_FIELDS = ("moderation", "lastEditor")
READ_ONLY = ("id", "type", "createdAt", "modifiedAt", *DERIVED, *SERVICE_FIELDS)
REQUIRED = ("title", "carrierName", "carrierKind", "territories")
# How each stored attribute is typed in NGSI-LD (Property when not named).
ATTRIBUTE_TYPES = {"carrier": "Relationship", "territories": "ListRelationship", "location": "GeoProperty",
                   "funding": "JsonProperty", "outcomes": "JsonProperty", "provenance": "JsonProperty"}
ALL_ATTRIBUTES = (*FIELDS, *DERIVED, *SERVICE_FIELDS)

_PROVENANCE_KEYS = {"sourceUrl", "collectedOn", "lastVerifiedOn", "contributor", "licence",
                    "seededFromPublicSources"}
_OUTCOME_KEYS = {"indicator", "indicatorNum", "unit", "baseline", "after", "method", "source", "verified", "observed",
                 "kpi"}


# ---- identifiers ------------------------------------------------------------------------------
def project_id(value: object) -> str:
    """``urn:ngsi-ld:Project:<slug>`` from a slug or that URN; BadRequestData otherwise."""
    if not isinstance(value, str):
        raise BadRequestData(f"id: a project id is a slug or urn:ngsi-ld:Project:<slug>, got {type(value).__name__}")
    slug = value.removeprefix(PROJECT_PREFIX)
    if len(slug) > 100 or not _SLUG.fullmatch(slug):
        raise BadRequestData(
            f"id: {value!r} is not a project id: lower-case letters, digits and single hyphens, at most 100")
    return PROJECT_PREFIX + slug


def slug_of(title: str) -> str:
    """A slug for an id made from a title: ASCII, lower case, words joined by hyphens."""
    words = re.findall(r"[a-z0-9]+", fold(title))
    return "-".join(words)[:80].strip("-") or "projet"


# ---- checking a record ------------------------------------------------------------------------
def check_record(record: object, registry: TerritoryRegistry, *, today: date) -> dict[str, Any]:
    """The record's editable fields, checked and normalised (absent fields stay absent).
    Read-only fields are ignored; unknown ones and bad values raise BadRequestData."""
    if not isinstance(record, dict):
        raise BadRequestData("a project record is a JSON object of fields")
    unknown = sorted(set(record) - set(FIELDS) - set(READ_ONLY))
    if unknown:
        raise BadRequestData(f"unknown field(s) {', '.join(unknown)}; the fields of a project are "
                             f"{', '.join(FIELDS)}")
    checked: dict[str, Any] = {}
    for name, value in record.items():
        field = FIELDS.get(name)
        if field is None or value is None:
            continue
        checked[name] = _CHECKS[field.kind](field, value, registry, today)
    missing = [name for name in REQUIRED if name not in checked]
    if missing:
        raise BadRequestData(f"missing required field(s): {', '.join(missing)}")
    _check_dates_order(checked)
    return checked


def _text(field: Field, value: Any, *_: Any) -> str:
    if not isinstance(value, str):
        raise BadRequestData(f"{field.name}: a text is expected, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise BadRequestData(f"{field.name}: the text is empty; leave the field out instead")
    if len(text) > field.limit:
        raise BadRequestData(f"{field.name}: {len(text)} characters, at most {field.limit} are accepted")
    return text


def _code(field: Field, value: Any, *_: Any) -> str:
    assert field.vocabulary is not None
    return field.vocabulary.check(value, field.name)


def _codes(field: Field, value: Any, *_: Any) -> list[str]:
    assert field.vocabulary is not None
    items = _list(field, value, MAX_ITEMS)
    return list(dict.fromkeys(field.vocabulary.check(item, f"{field.name}[{i}]") for i, item in enumerate(items)))


def _list(field: Field, value: Any, limit: int) -> list[Any]:
    if not isinstance(value, list):
        raise BadRequestData(f"{field.name}: a list is expected, got {type(value).__name__}")
    if len(value) > limit:
        raise BadRequestData(f"{field.name}: {len(value)} items, at most {limit} are accepted")
    return value


def _carrier(field: Field, value: Any, *_: Any) -> str:
    if not isinstance(value, str):
        raise BadRequestData("carrier: a SIREN (9 digits) or urn:ngsi-ld:Organisation:<SIREN> is expected")
    siren = value.removeprefix(ORGANISATION_PREFIX)
    siren = siren.replace(" ", "")
    if len(siren) != 9 or not siren.isascii() or not siren.isdigit():
        raise BadRequestData(f"carrier: {value!r} is not a SIREN: a SIREN has 9 digits")
    if not valid_siren(siren):
        raise BadRequestData(f"carrier: SIREN {siren} has a wrong check digit (Luhn key); check the number")
    return ORGANISATION_PREFIX + siren


def territory_of(value: object, registry: TerritoryRegistry, where: str = "territories") -> Territory:
    """A territory named ``kind:code`` or by its URN; BadRequestData when unknown or malformed."""
    if not isinstance(value, str):
        raise BadRequestData(f"{where}: a territory is 'kind:code' or its URN, got {type(value).__name__}")
    name = value.removeprefix(TERRITORY_PREFIX)
    kind, _, code = name.partition(":")
    try:
        return registry.get(kind, code)
    except BadRequestData as error:
        raise BadRequestData(f"{where}: {error.detail}") from None
    except ResourceNotFound as error:  # a code the registry does not know is bad input here
        raise BadRequestData(f"{where}: {error.detail}") from None


def _territories(field: Field, value: Any, registry: TerritoryRegistry, _: date) -> list[str]:
    items = _list(field, value, MAX_TERRITORIES)
    if not items:
        raise BadRequestData("territories: give at least one territory served (kind:code, e.g. commune:35238)")
    return list(dict.fromkeys(urn(territory_of(item, registry, f"territories[{i}]")) for i, item in enumerate(items)))


def _date(field: Field, value: Any, *_: Any) -> str:
    return iso_date(value, field.name)


def iso_date(value: Any, where: str) -> str:
    """An ISO 8601 calendar date, possibly reduced: YYYY, YYYY-MM or YYYY-MM-DD."""
    match = _DATE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise BadRequestData(f"{where}: {value!r} is not an ISO 8601 date (YYYY-MM-DD, YYYY-MM or YYYY)")
    year, month, day = (int(part) if part else 1 for part in match.groups())
    try:
        date(year, month, day)
    except ValueError:
        raise BadRequestData(f"{where}: {value!r} is not a date of the calendar") from None
    return value


def _latest_day(value: str) -> date:
    """The last day a reduced date can stand for (2024-05 → 2024-05-31)."""
    parts = [int(p) for p in value.split("-")]
    if len(parts) == 3:
        return date(*parts)
    year, month = parts[0], parts[1] if len(parts) == 2 else 12
    following = date(year + month // 12, month % 12 + 1, 1)
    return date.fromordinal(following.toordinal() - 1)


def _check_dates_order(checked: dict[str, Any]) -> None:
    start, end = checked.get("startDate"), checked.get("endDate")
    if start and end and _latest_day(end) < _earliest_day(start):
        raise BadRequestData(f"endDate {end} is before startDate {start}")


def _bool(field: Field, value: Any, *_: Any) -> bool:
    if not isinstance(value, bool):
        raise BadRequestData(f"{field.name}: true or false is expected, got {value!r}")
    return value


def _money(field: Field, value: Any, *_: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or value > 1e12:
        raise BadRequestData(f"{field.name}: an amount in euros (a number from 0 to 10^12) is expected, got {value!r}")
    return value


def _json(field: Field, value: Any, *_: Any) -> Any:
    if not isinstance(value, dict):
        raise BadRequestData(f"{field.name}: a JSON object is expected, got {type(value).__name__}")
    _bounded(field.name, value)
    return value


def _bounded(name: str, value: Any) -> None:
    size = len(orjson.dumps(value))
    if size > MAX_JSON_BYTES:
        raise BadRequestData(f"{name}: {size} bytes of JSON, at most {MAX_JSON_BYTES} are accepted")


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_URL or not _URL.fullmatch(value):
        raise BadRequestData(f"{where}: {value!r} is not an http(s) URL of at most {MAX_URL} characters")
    return value


def _urls(field: Field, value: Any, *_: Any) -> list[str]:
    return [_url(item, f"{field.name}[{i}]") for i, item in enumerate(_list(field, value, MAX_ITEMS))]


def _email(field: Field, value: Any, *_: Any) -> str:
    if not isinstance(value, str) or len(value) > 254 or not _EMAIL.fullmatch(value.strip()):
        raise BadRequestData(f"{field.name}: {value!r} is not an e-mail address (a functional mailbox)")
    return value.strip()


def _provenance(field: Field, value: Any, *_: Any) -> dict[str, Any]:
    _json(field, value)
    unknown = sorted(set(value) - _PROVENANCE_KEYS)
    if unknown:
        raise BadRequestData(f"provenance: unknown member(s) {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(_PROVENANCE_KEYS))}")
    checked = dict(value)
    if "sourceUrl" in checked:
        _url(checked["sourceUrl"], "provenance.sourceUrl")
    for key in ("collectedOn", "lastVerifiedOn"):
        if key in checked:
            iso_date(checked[key], f"provenance.{key}")
    if "seededFromPublicSources" in checked and not isinstance(checked["seededFromPublicSources"], bool):
        raise BadRequestData("provenance.seededFromPublicSources: true or false is expected")
    if "contributor" in checked:
        _text(Field("provenance.contributor", "text", limit=MAX_SHORT), checked["contributor"])
    checked.setdefault("licence", LICENCE)
    if checked["licence"] != LICENCE:
        raise BadRequestData(f"provenance.licence: the observatory's records are under {LICENCE}")
    return checked


def _outcomes(field: Field, value: Any, registry: TerritoryRegistry, today: date) -> list[dict[str, Any]]:
    items = _list(field, value, MAX_ITEMS)
    _bounded("outcomes", items)
    return [_outcome(item, f"outcomes[{i}]", today) for i, item in enumerate(items)]


def _outcome(item: Any, where: str, today: date) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise BadRequestData(f"{where}: an outcome is a JSON object (indicator, unit, baseline, after…)")
    unknown = sorted(set(item) - _OUTCOME_KEYS)
    if unknown:
        raise BadRequestData(f"{where}: unknown member(s) {', '.join(unknown)}; known: {', '.join(sorted(_OUTCOME_KEYS))}")
    outcome = dict(item)
    if "indicatorNum" in item:  # the vocabulary's indicator: its name and unit are the defaults
        known = _indicator(item["indicatorNum"], f"{where}.indicatorNum")
        outcome.setdefault("indicator", known.name)
        outcome.setdefault("unit", known.unit)
    outcome["indicator"] = _text(Field(f"{where}.indicator", "text", limit=MAX_SHORT), outcome.get("indicator"))
    if "unit" in outcome:
        outcome["unit"] = _text(Field(f"{where}.unit", "text", limit=50), outcome["unit"])
    for point in ("baseline", "after"):
        if point in item:
            _measure(item[point], f"{where}.{point}")
            if "unit" not in outcome:
                raise BadRequestData(f"{where}: a {point} value needs its unit (\"unit\": \"kWh/an\", \"%\"…)")
    if "method" in item:
        vocab.OUTCOME_METHODS.check(item["method"], f"{where}.method")
    for flag in ("verified", "observed"):
        if flag in item and not isinstance(item[flag], bool):
            raise BadRequestData(f"{where}.{flag}: true or false is expected")
    if "source" in item:
        _text(Field(f"{where}.source", "text", limit=MAX_URL), item["source"])
    if "kpi" in item:
        outcome["kpi"] = _kpi_binding(item["kpi"], f"{where}.kpi")
    observed = item.get("observed", item.get("method") == "measured")
    after_date = item.get("after", {}).get("date") if isinstance(item.get("after"), dict) else None
    if observed and after_date and _earliest_day(after_date) > today:
        raise BadRequestData(
            f"{where}.after.date: {after_date} is in the future, but the result is marked as observed; "
            "give the date it was observed, or mark it as expected (\"observed\": false)")
    return outcome


def _indicator(num: Any, where: str) -> indicators.Indicator:
    if isinstance(num, bool) or not isinstance(num, int):
        raise BadRequestData(f"{where}: the number of an indicator of the vocabulary is expected, got {num!r}")
    try:
        return indicators.indicator(num)
    except KeyError:
        nums = [item.num for item in indicators.INDICATORS]
        raise BadRequestData(f"{where}: {num} is not an indicator of the vocabulary "
                             f"(numbers {min(nums)} to {max(nums)})") from None


def _kpi_binding(value: Any, where: str) -> dict[str, str]:
    """The shape of a binding to a KeyPerformanceIndicator entity; whether it exists and who
    may bind it is ``outcomes``'s question (it reads the tenant)."""
    if not isinstance(value, dict) or set(value) != {"tenant", "entity"}:
        raise BadRequestData(f'{where}: {{"tenant": "<tenant>", "entity": "{KPI_PREFIX}…"}} is expected')
    tenant, entity = value["tenant"], value["entity"]
    if not isinstance(tenant, str) or not TENANT_NAME.fullmatch(tenant):
        raise BadRequestData(f"{where}.tenant: {tenant!r} is not a tenant name")
    if (not isinstance(entity, str) or not entity.startswith(KPI_PREFIX) or len(entity) > MAX_SHORT
            or len(entity) == len(KPI_PREFIX) or any(c.isspace() for c in entity)):
        raise BadRequestData(f"{where}.entity: the id of a KeyPerformanceIndicator ({KPI_PREFIX}…) is expected, "
                             f"got {entity!r}")
    return {"tenant": tenant, "entity": entity}


def _earliest_day(value: str) -> date:
    parts = [int(p) for p in value.split("-")] + [1, 1]
    return date(*parts[:3])


def _measure(point: Any, where: str) -> None:
    if not isinstance(point, dict) or set(point) - {"value", "date"} or "value" not in point:
        raise BadRequestData(f"{where}: {{\"value\": number, \"date\": \"YYYY-MM-DD\"}} is expected")
    value = point["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequestData(f"{where}.value: a number is expected, got {value!r}")
    if "date" in point:
        iso_date(point["date"], f"{where}.date")


_CHECKS: dict[str, Callable[[Field, Any, TerritoryRegistry, date], Any]] = {
    "text": _text, "code": _code, "codes": _codes, "carrier": _carrier, "territories": _territories,
    "date": _date, "bool": _bool, "money": _money, "json": _json, "urls": _urls, "email": _email,
    "provenance": _provenance, "outcomes": _outcomes,
}


# ---- derived fields ---------------------------------------------------------------------------
def derived(territory_urns: list[str], registry: TerritoryRegistry) -> dict[str, Any]:
    """populationBand, region, departement and location of the territories served.

    The population counted is that of the territories none of the others contains (an EPCI
    and its communes count once); the location is their centre weighted by population."""
    territories = [territory_of(item, registry) for item in territory_urns]
    keys = {(t.kind, t.code) for t in territories}
    outer = [t for t in territories
             if not any((a.kind, a.code) in keys for a in registry.ancestors(t))]
    result: dict[str, Any] = {}
    populations = [t.population for t in outer]
    if populations and None not in populations:
        result["populationBand"] = population_band(sum(p for p in populations if p is not None))
    regions = sorted({code for t in territories for code in (t.regions if t.kind != "region" else (t.code,))})
    departements = sorted({code for t in territories for code in (
        t.departements if t.kind in ("commune", "epci") else (t.code,) if t.kind == "departement" else ())})
    if regions:
        result["region"] = regions
    if departements:
        result["departement"] = departements
    placed = [t for t in outer if t.lat is not None and t.lon is not None]
    if placed:
        weights = [max(t.population or 0, 1) for t in placed]
        total = sum(weights)
        lon = sum(t.lon * w for t, w in zip(placed, weights, strict=True)) / total  # type: ignore[operator]
        lat = sum(t.lat * w for t, w in zip(placed, weights, strict=True)) / total  # type: ignore[operator]
        result["location"] = {"type": "Point", "coordinates": [round(lon, 4), round(lat, 4)]}
    return result


# ---- NGSI-LD form -----------------------------------------------------------------------------
def to_entity(entity_id: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The normalized NGSI-LD body of a record (short names, under the observatory's @context)."""
    body: dict[str, Any] = {"id": entity_id, "type": "Project"}
    for name, value in fields.items():
        kind = ATTRIBUTE_TYPES.get(name, "Property")
        if kind == "Relationship":
            body[name] = {"type": kind, "object": value}
        elif kind == "ListRelationship":
            body[name] = {"type": kind, "objectList": value}
        elif kind == "JsonProperty":
            body[name] = {"type": kind, "json": value}
        elif name == "totalCost":
            body[name] = {"type": kind, "value": value, "unitCode": "EUR"}
        else:
            body[name] = {"type": kind, "value": value}
    return body


def from_entity(entity: Entity, expanded: Mapping[str, str]) -> dict[str, Any]:
    """The record of a stored entity; ``expanded`` maps each attribute's IRI to its short name."""
    record: dict[str, Any] = {"id": entity["id"]}
    for iri, instances in entity.get("attrs", {}).items():
        name = expanded.get(iri)
        if name is not None and instances:
            record[name] = instance_value(instances[0])
    record["createdAt"] = entity["createdAt"]
    record["modifiedAt"] = entity["modifiedAt"]
    return record


def instance_value(instance: Instance) -> Any:
    for member in ("value", "object", "objectList", "json"):
        if member in instance:
            return instance[member]
    return None

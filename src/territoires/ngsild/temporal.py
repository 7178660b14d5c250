"""The temporal API as pure code: temporal query parameters (clauses 4.11, 5.2.21, 5.2.44),
ISO 8601 durations (clause 4.5.19), the temporal representations of an entity's history
(clauses 4.5.7, 4.5.9, 4.5.19) and temporal provision bodies (clauses 5.6.11 – 5.6.14).

Readings of the specification, where it leaves room:
- ``timeAt`` and ``endTimeAt`` are instants: ``12:05:00Z`` and ``12:05:00.000Z`` are the same
  bound. They are handed on in one canonical spelling (microseconds, ``Z``).
- ``before`` excludes its bound, ``after`` includes it, ``between`` includes ``timeAt`` and
  excludes ``endTimeAt`` (clause 4.11); ``endTimeAt`` without ``between`` is refused as
  inconsistent, and so is a ``between`` whose end is not after its start.
- ``aggrPeriodDuration`` zero (``PT0S``, the default) means one period over the whole range.
  A fraction is accepted on the last component given, never on years or months, and only
  down to the microsecond.
- ``aggrMethods`` given without ``format`` or a representation in ``options`` asks for the
  aggregated representation, whether a query parameter or a member of a Query body's
  ``temporalQ`` or ``aggrParams``; a representation named explicitly wins, the methods then unused.
- The representations are ``normalized`` (each instance with its ``instanceId``, ``deletedAt``
  when it records a deletion), ``temporalValues`` (clause 4.5.9: ``[content, time]`` pairs)
  and ``aggregatedValues`` (clause 4.5.19: ``[value, start, end]`` triples per method). The
  time of a pair is the instance's member named by ``timeproperty``; for ``observedAt`` an
  instance without one is dated by its modification.
- A temporal provision body is an entity whose attributes are arrays of instances, several of
  which may share a datasetId; an instance may be the NGSI-LD Null, the record of a deletion
  (clause 5.5.4 excepts the temporal evolution from its ban).
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from .context import Context
from .entity import RESERVED_NAMES, SCOPE, parse_attribute, parse_entity, validate_datetime, validate_scope
from .errors import BadRequestData, InvalidRequest
from .model import MAIN_MEMBER, NGSI_LD_NULL, Instance
from .query import OrderKey
from .render import render_entity

__all__ = [
    "AGGREGATION_METHODS",
    "REPRESENTATIONS",
    "TEMPORAL_OPTIONS",
    "TIME_PROPERTIES",
    "Duration",
    "TemporalFragment",
    "TemporalParams",
    "check_order",
    "format_instant",
    "instance_time",
    "parse_duration",
    "parse_instance_fragment",
    "parse_instant",
    "parse_representation",
    "parse_temporal_attributes",
    "parse_temporal_body",
    "parse_temporal_entity",
    "parse_temporal_params",
    "render_temporal_entity",
]

TIMERELS = ("before", "after", "between")
TIME_PROPERTIES = ("observedAt", "createdAt", "modifiedAt", "deletedAt")
AGGREGATION_METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
REPRESENTATIONS = ("normalized", "temporalValues", "aggregatedValues")
TEMPORAL_OPTIONS = frozenset(REPRESENTATIONS) | {"sysAttrs"}
# The members of a TemporalQuery (clause 5.2.21) and of AggregationParams (clause 5.2.44) in a Query body.
TEMPORAL_QUERY_MEMBERS = (
    "timerel", "timeAt", "endTimeAt", "timeproperty", "lastN", "aggrMethods", "aggrPeriodDuration",
)
AGGREGATION_MEMBERS = ("aggrMethods", "aggrPeriodDuration")

# The member of each attribute type in the simplified temporal representation (clause 4.5.9).
VALUES_MEMBER: dict[str, str] = {
    "Property": "values",
    "GeoProperty": "values",
    "Relationship": "objects",
    "LanguageProperty": "languageMaps",
    "VocabProperty": "vocabs",
    "JsonProperty": "jsons",
    "ListProperty": "valueLists",
    "ListRelationship": "objectLists",
}
_MAIN_KEYS = frozenset(MAIN_MEMBER.values())
_NULL_CONTENT: dict[str, Any] = {
    "LanguageProperty": {"@none": NGSI_LD_NULL}, "ListProperty": [NGSI_LD_NULL], "ListRelationship": [NGSI_LD_NULL],
}


# ---- instants ---------------------------------------------------------------------------------


def parse_instant(value: Any, where: str) -> datetime:
    """A DateTime of clause 4.6.3 as an aware UTC datetime; raises BadRequestData."""
    text = validate_datetime(value, where)
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ" if "." in text else "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=UTC
    )


def format_instant(moment: datetime) -> str:
    """The canonical spelling of an instant: UTC, microseconds, ``Z`` (the clock's own form),
    so that instants compare as their texts do."""
    m = moment.astimezone(UTC)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond:06d}Z"
    )


# ---- ISO 8601 durations -------------------------------------------------------------------------

_SECOND = 1_000_000
_MINUTE = 60 * _SECOND
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_NUMBER = r"(\d+(?:[.,]\d+)?)"
_DURATION = re.compile(
    rf"P(?!\Z)(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}W)?(?:{_NUMBER}D)?"
    rf"(?:T(?=\d)(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?\Z"
)
# The pattern's components Y, M, W, D, H, M, S in order: (months per unit, microseconds per unit).
_UNITS = ((12, 0), (1, 0), (0, 7 * _DAY), (0, _DAY), (0, _HOUR), (0, _MINUTE), (0, _SECOND))
_MAX_MONTHS = 10_000 * 12  # ten thousand years: beyond any calendar the platform handles
_MAX_MICROSECONDS = 10_000 * 366 * _DAY


@dataclass(frozen=True)
class Duration:
    """An ISO 8601 duration: calendar months (years count 12) and an exact number of
    microseconds (weeks, days, hours, minutes, seconds: days are 24 hours, as in UTC)."""

    months: int = 0
    microseconds: int = 0

    @property
    def is_zero(self) -> bool:
        return self.months == 0 and self.microseconds == 0

    def after(self, moment: datetime) -> datetime:
        """``moment`` plus this duration: months first, the day of the month clamped to the
        month's last day (31 January + P1M is 28 or 29 February), then the exact part."""
        try:
            if self.months:
                year, month = divmod(moment.year * 12 + moment.month - 1 + self.months, 12)
                month += 1
                moment = moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))
            return moment + timedelta(microseconds=self.microseconds)
        except (ValueError, OverflowError):
            raise BadRequestData(f"{moment.isoformat()} plus {self} is beyond the year 9999") from None

    def __str__(self) -> str:
        """The shortest ISO 8601 text of this duration (``PT0S`` for zero)."""
        if self.is_zero:
            return "PT0S"
        years, months = divmod(self.months, 12)
        days, rest = divmod(self.microseconds, _DAY)
        hours, rest = divmod(rest, _HOUR)
        minutes, rest = divmod(rest, _MINUTE)
        seconds, micro = divmod(rest, _SECOND)
        date = "".join(f"{n}{unit}" for n, unit in ((years, "Y"), (months, "M"), (days, "D")) if n)
        second_text = f"{seconds}.{micro:06d}".rstrip("0") if micro else str(seconds)
        time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M")) if n)
        if seconds or micro:
            time += second_text + "S"
        return "P" + date + ("T" + time if time else "")


def parse_duration(text: Any, where: str = "aggrPeriodDuration") -> Duration:
    """An ISO 8601 duration ``PnYnMnWnDTnHnMnS``; raises BadRequestData naming ``where``."""
    example = "as P1D, PT1H or PT15M"
    if type(text) is not str:
        raise BadRequestData(f"{where} must be an ISO 8601 duration string, {example}")
    match = _DURATION.match(text)
    if match is None:
        raise BadRequestData(f"{where}: {text!r} is not an ISO 8601 duration, {example}")
    given = [(number, unit) for number, unit in zip(match.groups(), _UNITS, strict=True) if number is not None]
    months = 0
    microseconds = Decimal(0)
    for position, (number, (month_factor, micro_factor)) in enumerate(given):
        amount = Decimal(number.replace(",", "."))
        if amount != amount.to_integral_value():
            if position != len(given) - 1:
                raise BadRequestData(f"{where}: {text!r}: only the last component of a duration may have a fraction")
            if month_factor:
                raise BadRequestData(f"{where}: {text!r}: years and months cannot have a fraction")
        if month_factor:
            months += int(amount) * month_factor
        else:
            microseconds += amount * micro_factor
    if microseconds != microseconds.to_integral_value():
        raise BadRequestData(f"{where}: {text!r} is finer than a microsecond")
    if months > _MAX_MONTHS or microseconds > _MAX_MICROSECONDS:
        raise BadRequestData(f"{where}: {text!r} is longer than ten thousand years")
    return Duration(months, int(microseconds))


# ---- query parameters -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TemporalParams:
    """The temporal part of a request (clause 5.2.21 and the aggregation of clause 4.5.19).

    ``time_at`` and ``end_time_at`` are canonical instants (:func:`format_instant`);
    ``aggr_period`` None means one period over the whole range."""

    timeproperty: str = "observedAt"
    timerel: str | None = None
    time_at: str | None = None
    end_time_at: str | None = None
    last_n: int | None = None
    representation: str = "normalized"
    aggr_methods: tuple[str, ...] = ()
    aggr_period: Duration | None = None


def parse_representation(format_value: Any, words: Collection[str], default: str = "normalized") -> str:
    """The temporal representation asked by ``format`` (which wins) or by ``options``, else
    ``default``; unknown words are InvalidRequest (clause 6.3.12)."""
    unknown = set(words) - TEMPORAL_OPTIONS
    if unknown:
        raise InvalidRequest(
            f"unknown option(s) {', '.join(sorted(unknown))} for the temporal API; "
            f"known: {', '.join(sorted(TEMPORAL_OPTIONS))}"
        )
    if format_value is not None:
        if format_value not in REPRESENTATIONS:
            raise InvalidRequest(
                f"format {format_value!r} is not a temporal representation: {', '.join(REPRESENTATIONS)}"
            )
        return format_value
    chosen = sorted(word for word in words if word in REPRESENTATIONS)
    if len(chosen) > 1:
        raise BadRequestData(f"options ask for several representations at once: {', '.join(chosen)}")
    return chosen[0] if chosen else default


def parse_temporal_params(values: Mapping[str, Any], words: Collection[str] = ()) -> TemporalParams:
    """Temporal parameters from query parameters (strings) or from the members of a Query
    body's ``temporalQ`` and ``aggrParams`` (JSON values), with ``format`` and the ``options``
    words of the request; raises BadRequestData or InvalidRequest with what to change."""
    methods = _aggregation_methods(values.get("aggrMethods"))
    # Aggregation methods given while no representation is named ask for the aggregated one:
    # it is the only one they mean something in (clauses 4.5.19, 5.2.21).
    representation = parse_representation(
        values.get("format"), words, default="aggregatedValues" if methods else "normalized"
    )
    timerel, time_at, end_time_at = _time_range(values.get("timerel"), values.get("timeAt"), values.get("endTimeAt"))
    timeproperty = values.get("timeproperty")
    if timeproperty is None:
        timeproperty = "observedAt"
    elif timeproperty not in TIME_PROPERTIES:
        raise BadRequestData(f"timeproperty {timeproperty!r} is not one of {', '.join(TIME_PROPERTIES)}")
    period_text = values.get("aggrPeriodDuration")
    period = parse_duration(period_text) if period_text is not None else None
    if representation == "aggregatedValues" and not methods:
        raise BadRequestData(
            f"the aggregated temporal representation needs aggrMethods, among {', '.join(AGGREGATION_METHODS)}"
        )
    if representation != "aggregatedValues":
        methods, period = (), None
    return TemporalParams(
        timeproperty=timeproperty,
        timerel=timerel,
        time_at=time_at,
        end_time_at=end_time_at,
        last_n=_last_n(values.get("lastN")),
        representation=representation,
        aggr_methods=methods,
        aggr_period=None if period is None or period.is_zero else period,
    )


def parse_temporal_body(
    temporal_q: Any, aggr_params: Any, format_value: Any, words: Collection[str]
) -> TemporalParams:
    """The temporal parameters of ``POST /temporal/entityOperations/query``: the ``temporalQ``
    (clause 5.2.21) and ``aggrParams`` (clause 5.2.44) members of its Query body."""
    values: dict[str, Any] = {}
    members = (("temporalQ", temporal_q, TEMPORAL_QUERY_MEMBERS), ("aggrParams", aggr_params, AGGREGATION_MEMBERS))
    for name, member, allowed in members:
        if member is None:
            continue
        if type(member) is not dict:
            raise BadRequestData(f"{name} must be a JSON object")
        unknown = sorted(set(member) - set(allowed))
        if unknown:
            raise BadRequestData(f"{name} has unknown member(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
        values.update(member)
    values["format"] = format_value
    return parse_temporal_params(values, words)


def check_order(keys: Sequence[OrderKey]) -> None:
    """Clause 5.7.4.4: the entities of a temporal query may be ordered by id only ("if the
    ordering parameter is present and refers an entity name other than id, then an error of
    type BadRequestData shall be raised")."""
    if any(key.target != "id" for key in keys):
        raise BadRequestData(
            "orderBy: the temporal evolution of entities can only be ordered by id (orderBy=id or id;desc), "
            "not by an attribute or another entity member"
        )


def _time_range(timerel: Any, time_at: Any, end_time_at: Any) -> tuple[str | None, str | None, str | None]:
    if timerel is None:
        if time_at is not None or end_time_at is not None:
            raise BadRequestData("timeAt and endTimeAt need timerel (before, after or between)")
        return None, None, None
    if timerel not in TIMERELS:
        raise BadRequestData(f"timerel {timerel!r} is not one of {', '.join(TIMERELS)}")
    if time_at is None:
        raise BadRequestData(f"timerel={timerel} needs timeAt, the instant it compares with")
    start = parse_instant(time_at, "timeAt")
    if timerel != "between":
        if end_time_at is not None:
            raise BadRequestData(f"endTimeAt is only meaningful with timerel=between, not {timerel}")
        return timerel, format_instant(start), None
    if end_time_at is None:
        raise BadRequestData("timerel=between needs endTimeAt, the end of the range (excluded)")
    end = parse_instant(end_time_at, "endTimeAt")
    if end <= start:
        raise BadRequestData(f"endTimeAt {end_time_at} must come after timeAt {time_at}")
    return timerel, format_instant(start), format_instant(end)


def _last_n(value: Any) -> int | None:
    if value is None:
        return None
    number: int | None = None
    if type(value) is int:
        number = value
    elif type(value) is str and value.isascii() and value.isdigit():
        number = int(value)
    if number is None or not 1 <= number < 2**63:
        raise BadRequestData(f"lastN must be a positive whole number below 2^63, not {value!r}")
    return number


def _aggregation_methods(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    names = value.split(",") if type(value) is str else value
    if type(names) is not list or not all(type(name) is str for name in names):
        raise BadRequestData("aggrMethods must be a comma-separated list (or an array) of aggregation methods")
    methods: list[str] = []
    for name in (n.strip() for n in names):
        if name not in AGGREGATION_METHODS:
            raise BadRequestData(f"aggrMethods: {name!r} is not one of {', '.join(AGGREGATION_METHODS)}")
        if name not in methods:
            methods.append(name)
    return tuple(methods)


# ---- the temporal representations ---------------------------------------------------------------
# What the store returns (store/port.py) is read through these protocols: ngsild imports nothing
# of ours but its siblings.


class HistoryInstanceLike(Protocol):
    @property
    def instance(self) -> Instance: ...
    @property
    def instance_id(self) -> str | None: ...
    @property
    def modified_at(self) -> str: ...
    @property
    def deleted_at(self) -> str | None: ...


class BucketLike(Protocol):
    @property
    def start(self) -> str: ...
    @property
    def end(self) -> str: ...
    @property
    def values(self) -> Mapping[str, Any]: ...


class SeriesLike(Protocol):
    @property
    def attr(self) -> str: ...
    @property
    def dataset_id(self) -> str | None: ...
    @property
    def instances(self) -> Sequence[HistoryInstanceLike]: ...
    @property
    def buckets(self) -> Sequence[BucketLike]: ...


class TemporalEntityLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def types(self) -> Sequence[str]: ...
    @property
    def created_at(self) -> str | None: ...
    @property
    def modified_at(self) -> str | None: ...
    @property
    def series(self) -> Sequence[SeriesLike]: ...


def instance_time(item: HistoryInstanceLike, timeproperty: str) -> str | None:
    """The instant of a recorded instance for ``timeproperty``: its own member, its deletion
    for ``deletedAt``, its modification for an instance observed at no given time."""
    if timeproperty == "deletedAt":
        return item.deleted_at
    if timeproperty == "modifiedAt":
        return item.modified_at
    value = item.instance.get(timeproperty)
    return value if value is not None or timeproperty != "observedAt" else item.modified_at


def render_temporal_entity(
    entity: TemporalEntityLike,
    ctx: Context,
    params: TemporalParams,
    *,
    sys_attrs: bool = False,
    pick: frozenset[str] | None = None,
    omit: frozenset[str] | None = None,
    lang: str | None = None,
    dataset_id: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The entity's history as a JSON-ready dict in ``params.representation``, compacted under
    ``ctx``. ``pick``/``omit`` hold expanded attribute names and ``id``, ``type``, ``scope``;
    ``dataset_id``: the datasetIds the query kept the series of (``TemporalQuery.datasets``); an
    entity with none of them is ``{}`` (not part of an answer). An attribute with no instance in
    the range is an empty array. The Scope is its recorded evolution, a Property (clause 4.5.6),
    not aggregated."""
    series = entity.series
    if dataset_id is not None and not series:
        return {}
    head: dict[str, Any] = {
        "id": entity.id, "type": list(entity.types), "attrs": {},
        **{k: v for k, v in (("createdAt", entity.created_at), ("modifiedAt", entity.modified_at)) if v},
    }
    if params.representation == "normalized":
        return _normalized(head, series, ctx, params.timeproperty, sys_attrs, pick, omit, lang)
    out = render_entity(head, ctx, sys_attrs=sys_attrs, pick=pick, omit=omit)
    compact = ctx.compact
    grouped: dict[str, list[Any]] = {}
    for one in series:
        member = "scope" if one.attr == SCOPE else one.attr
        if (pick is not None and member not in pick) or (omit is not None and member in omit):
            continue
        if params.representation == "temporalValues":
            grouped.setdefault(one.attr, []).extend(_pairs(one, ctx, params.timeproperty))
        elif one.attr != SCOPE:
            grouped.setdefault(one.attr, []).append(_aggregated(one, params.aggr_methods))
    for iri, items in grouped.items():
        out[compact(iri)] = items[0] if len(items) == 1 else items
    return out


def _normalized(
    head: dict[str, Any], series: Sequence[SeriesLike], ctx: Context, timeproperty: str, sys_attrs: bool,
    pick: frozenset[str] | None, omit: frozenset[str] | None, lang: str | None,
) -> dict[str, Any]:
    """Clause 4.5.7: each attribute an array of its instances in normalized form, rendered by
    ``render_entity`` and given their ``instanceId`` (and ``deletedAt``, and the time they are
    sorted by when it is a system attribute not otherwise shown)."""
    history: dict[str, list[HistoryInstanceLike]] = {}
    for one in series:
        history.setdefault(one.attr, []).extend(one.instances)
    head["attrs"] = {iri: [_shown(item.instance) for item in items] for iri, items in history.items()}
    out = render_entity(head, ctx, sys_attrs=sys_attrs, pick=pick, omit=omit, lang=lang)
    shown_time = timeproperty in ("createdAt", "modifiedAt") and not sys_attrs
    for iri, items in history.items():
        name = ctx.compact(iri)
        if name not in out:
            continue  # left out by pick or omit
        rendered = out[name] if len(items) != 1 else [out[name]]
        for item, obj in zip(items, rendered, strict=True):
            obj["instanceId"] = item.instance_id
            if item.deleted_at is not None:
                obj["deletedAt"] = item.deleted_at
            if shown_time:
                obj[timeproperty] = instance_time(item, timeproperty)
        out[name] = rendered
    return out


def _pairs(series: SeriesLike, ctx: Context, timeproperty: str) -> list[dict[str, Any]]:
    """Clause 4.5.9: one object per attribute type met in the series, holding the
    ``[content, time]`` pairs of its instances; a series left empty by a page's cut is one
    Property with no values (its type is not known from the page)."""
    if not series.instances:
        return [{"type": "Property", **_dataset(series), VALUES_MEMBER["Property"]: []}]
    objects: dict[str, dict[str, Any]] = {}
    for item in series.instances:
        instance = _shown(item.instance)
        kind = instance["type"]
        obj = objects.get(kind)
        if obj is None:
            obj = objects[kind] = {"type": kind, **_dataset(series), VALUES_MEMBER[kind]: []}
        obj[VALUES_MEMBER[kind]].append([_content(instance, ctx), instance_time(item, timeproperty)])
    return list(objects.values())


def _shown(instance: Instance) -> Instance:
    """An instance whose content is the NGSI-LD Null (a recorded deletion) with that content
    spelled as its type has it (clause 4.5.7): a language map or a list holding the Null."""
    member = MAIN_MEMBER[instance["type"]]
    if instance.get(member) != NGSI_LD_NULL:
        return instance
    return {**instance, member: _NULL_CONTENT.get(instance["type"], NGSI_LD_NULL)}


def _content(instance: Instance, ctx: Context) -> Any:
    kind = instance["type"]
    member = MAIN_MEMBER[kind]
    content = instance[member]
    if kind == "VocabProperty":
        compact = ctx.compact_vocab
        content = [compact(v) for v in content] if type(content) is list else compact(content)
    if kind in ("LanguageProperty", "VocabProperty", "JsonProperty"):
        return {member: content}  # so that a map or an object reads back as what it is
    return content


def _aggregated(series: SeriesLike, methods: Sequence[str]) -> dict[str, Any]:
    """Clause 4.5.19: per method, the ``[value, start, end]`` of each period that has a value."""
    kind = series.instances[0].instance["type"] if series.instances else "Property"
    obj: dict[str, Any] = {"type": kind, **_dataset(series)}
    for method in methods:
        obj[method] = [
            [bucket.values[method], _short_instant(bucket.start), _short_instant(bucket.end)]
            for bucket in series.buckets
            if bucket.values.get(method) is not None
        ]
    return obj


def _short_instant(instant: str) -> str:
    """A period boundary without a fraction of second when it has none (the way people write
    them: ``aggrPeriodDuration`` periods fall on whole seconds)."""
    return instant[:-8] + "Z" if instant.endswith(".000000Z") else instant


def _dataset(series: SeriesLike) -> dict[str, str]:
    return {"datasetId": series.dataset_id} if series.dataset_id is not None else {}


# ---- temporal provision bodies ------------------------------------------------------------------


@dataclass(frozen=True)
class TemporalFragment:
    """A parsed temporal provision body: the entity's members and its instances in body order,
    each as (expanded attribute name, instance in internal form). A Scope given as its temporal
    evolution is among the instances, as ``SCOPE``'s (``scope`` is then None)."""

    id: str
    types: tuple[str, ...]
    scope: tuple[str, ...] | None
    instances: tuple[tuple[str, Instance], ...]


def parse_temporal_entity(body: Any, ctx: Context, *, now: str) -> TemporalFragment:
    """``POST /temporal/entities`` (clause 5.6.11): an entity with ``id`` and ``type`` whose
    attributes hold arrays of instances (or one instance). Raises BadRequestData."""
    if type(body) is not dict:
        raise BadRequestData("a temporal entity is a JSON object with id, type and attributes")
    members = {k: v for k, v in body.items() if k in RESERVED_NAMES}
    raw_scope = members.get("scope")
    evolution = type(raw_scope) is dict or (type(raw_scope) is list and any(type(item) is dict for item in raw_scope))
    scope_instances = _scope_instances(members.pop("scope"), now) if evolution else ()
    head = parse_entity(members, ctx, now=now)
    scope = head.get("scope")
    return TemporalFragment(
        id=head["id"],
        types=tuple(head["type"]),
        scope=tuple(scope) if scope else None,
        instances=scope_instances + _instances({k: v for k, v in body.items() if k not in RESERVED_NAMES}, ctx, now),
    )


# What an instance of the Scope's evolution may hold (clause 4.5.6: "a temporal representation
# of a Property ... that can only have the non-reified Temporal Properties createdAt, modifiedAt,
# deletedAt and observedAt as sub-Properties"), and instanceId, as temporal representations give it.
_SCOPE_INSTANCE_MEMBERS = frozenset({"type", "value", "observedAt", "createdAt", "modifiedAt", "deletedAt",
                                     "instanceId"})


def _scope_instances(raw: Any, now: str) -> tuple[tuple[str, Instance], ...]:
    """The Scope given as its temporal evolution (the form temporal representations give it):
    Property instances whose value is a Scope, an array of Scopes, or the NGSI-LD Null of a
    removal. As for attributes, the system times given are the platform's to set."""
    found: list[tuple[str, Instance]] = []
    for position, item in enumerate(raw if type(raw) is list else [raw]):
        where = f"scope[{position}]"
        if type(item) is not dict or item.get("type", "Property") != "Property":
            raise BadRequestData(f'{where}: an instance of the Scope is a Property, as '
                                 f'{{"type": "Property", "value": "/Rennes/Nord", "observedAt": "2026-03-01T10:00:00Z"}}')
        extra = sorted(set(item) - _SCOPE_INSTANCE_MEMBERS)
        if extra:
            raise BadRequestData(f"{where}: an instance of the Scope has a value and observedAt only "
                                 f"(clause 4.5.6), not {', '.join(extra)}")
        value = item.get("value")
        if value == []:
            raise BadRequestData(f"{where}: give at least one Scope, or urn:ngsi-ld:null to record its removal")
        if value != NGSI_LD_NULL:
            scopes = list(dict.fromkeys(validate_scope(v, where) for v in (value if type(value) is list else [value])))
            value = scopes if type(value) is list else scopes[0]
        instance: Instance = {"type": "Property", "value": value, "createdAt": now, "modifiedAt": now}
        if "observedAt" in item:
            instance["observedAt"] = validate_datetime(item["observedAt"], f"{where}.observedAt")
        found.append((SCOPE, instance))
    return tuple(found)


def parse_temporal_attributes(body: Any, ctx: Context, *, now: str) -> tuple[tuple[str, Instance], ...]:
    """``POST /temporal/entities/{entityId}/attrs`` (clause 5.6.12): attributes only, each an
    array of instances (or one instance). Raises BadRequestData."""
    if type(body) is not dict:
        raise BadRequestData("the body is a JSON object of attributes, each an array of instances")
    members = sorted(k for k in body if k in RESERVED_NAMES and k != "@context")
    if members:
        raise BadRequestData(f"only attributes are expected here, not {', '.join(members)}")
    instances = _instances({k: v for k, v in body.items() if k != "@context"}, ctx, now)
    if not instances:
        raise BadRequestData("the body holds no attribute instance to add")
    return instances


def parse_instance_fragment(attr: str, body: Any, ctx: Context, *, now: str) -> Instance:
    """``PATCH /temporal/entities/{entityId}/attrs/{attrId}/{instanceId}`` (clause 5.6.14): the
    new content of one instance, given alone or as ``{attrId: instance}``."""
    if type(body) is dict and body.keys() - {"@context"} == {attr}:
        body = body[attr]
        if type(body) is list and len(body) == 1:
            body = body[0]
    if type(body) is not dict:
        raise BadRequestData(f'{attr}: the attribute instance is a JSON object, as {{"type": "Property", "value": 1}}')
    instance = _instance(attr, {k: v for k, v in body.items() if k != "@context"}, ctx, now)
    if instance.get(MAIN_MEMBER[instance["type"]]) == NGSI_LD_NULL:
        raise BadRequestData(f"{attr}: to delete an instance, use DELETE on it rather than urn:ngsi-ld:null")
    return instance


def _instances(attributes: dict[str, Any], ctx: Context, now: str) -> tuple[tuple[str, Instance], ...]:
    found: list[tuple[str, Instance]] = []
    for name, raw in attributes.items():
        items = raw if type(raw) is list else [raw]
        if not items:
            raise BadRequestData(f"{name}: give at least one instance, or leave the attribute out")
        iri = ctx.expand(name)
        for position, item in enumerate(items):
            if type(item) is not dict:
                raise BadRequestData(f"{name}[{position}]: each instance of a temporal attribute is a JSON object")
            found.append((iri, _instance(name, item, ctx, now)))
    return tuple(found)


def _instance(name: str, raw: dict[str, Any], ctx: Context, now: str) -> Instance:
    """One instance, parsed as the entity API parses an attribute; the NGSI-LD Null is accepted
    as the content of the instance only (a recorded deletion), nowhere inside it."""
    (instance,) = parse_attribute(name, raw, ctx, now=now, allow_null=True)
    for key, value in instance.items():
        if key == "attrs":
            if NGSI_LD_NULL in _nested_values(value):
                raise BadRequestData(f"{name}: urn:ngsi-ld:null is not allowed in the sub-attributes of an instance")
        elif key not in _MAIN_KEYS and value == NGSI_LD_NULL:
            raise BadRequestData(f"{name}.{key}: urn:ngsi-ld:null is not allowed here")
    return instance


def _nested_values(subs: dict[str, Instance]) -> list[Any]:
    values: list[Any] = []
    for sub in subs.values():
        for key, value in sub.items():
            values.extend(_nested_values(value) if key == "attrs" else [value])
    return values

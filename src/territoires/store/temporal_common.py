"""What both SQL backends share for the temporal evolution: the row form of a recorded
instance, time arithmetic (instants as microseconds, ISO 8601 durations, calendar periods),
the SQL of time filters and aggregates, and the assembly of a ``TemporalPage``.

A recorded instance is one compact row: its series (entity, attribute, datasetId: a small
integer), its times as integers (microseconds since 1970 UTC), its content as a number
(numbers, booleans as 1/0) or a text (strings, or the JSON of any other content), and what
else it carries (unitCode, sub-attributes…) as JSON only when there is something.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple, Protocol

import orjson

from territoires.ngsild.errors import BadRequestData, TooManyResults
from territoires.ngsild.model import MAIN_MEMBER, NGSI_LD_NULL, Entity, Instance
from territoires.ngsild.query import types_satisfy
from territoires.ngsild.temporal import Duration, parse_duration
from territoires.store.port import (
    Aggregation,
    Bucket,
    EntityQuery,
    HistoryFilter,
    HistoryInstance,
    QueryPage,
    Series,
    TemporalEntity,
    TemporalPage,
    TemporalQuery,
    TimeRange,
)
from territoires.store.records import nul_refused, refuse_nul

# ---- instants ------------------------------------------------------------------------------
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_EPOCH_DAY = _NAIVE_EPOCH.toordinal()
_MICRO = timedelta(microseconds=1)


@lru_cache(maxsize=4096)  # a batch repeats its instants (createdAt, observedAt = modifiedAt…)
def to_micros(instant: str) -> int:
    """Microseconds since 1970-01-01T00:00Z of an ISO 8601 instant (no offset: UTC)."""
    try:
        moment = datetime.fromisoformat(instant)
    except (TypeError, ValueError):
        raise BadRequestData(f"{instant!r} is not an ISO 8601 date-time") from None
    offset = moment.utcoffset()
    seconds = (moment.toordinal() - _EPOCH_DAY) * 86_400 + moment.hour * 3600 + moment.minute * 60 + moment.second
    micros = seconds * 1_000_000 + moment.microsecond
    return micros - offset // _MICRO if offset else micros


@lru_cache(maxsize=4096)  # row_values checks each observedAt of a batch, measures of an uplink share theirs
def from_micros(micros: int) -> str:
    """The instant as the platform writes it (UTC, microseconds, ``Z``)."""
    return (_NAIVE_EPOCH + micros * _MICRO).isoformat(timespec="microseconds") + "Z"


# ---- periods -------------------------------------------------------------------------------
def add_period(origin: int, period: Duration, times: int) -> int:
    """``origin + times·period`` in microseconds since the epoch, months on the calendar."""
    moment = Duration(period.months * times, period.microseconds * times).after(_EPOCH + origin * _MICRO)
    return (moment - _EPOCH) // _MICRO


# Most buckets one query may ask the database for (an aggregation of instances spread over
# far more periods than this is refused rather than answered with a huge document).
MAX_BUCKETS = 2_000_000


@dataclass(frozen=True)
class Buckets:
    """The periods of an aggregation: ``[bounds[k], bounds[k+1])`` for calendar periods and
    the whole range; ``origin + k·step`` for fixed-length periods (``bounds`` then empty)."""

    origin: int
    step: int | None
    bounds: tuple[int, ...]
    last: int | None = None  # the whole range without an upper bound ends at its last instance

    def start(self, k: int) -> int:
        return self.origin + k * self.step if self.step else self.bounds[k]

    def end(self, k: int) -> int:
        if self.last is not None:
            return self.last
        return self.origin + (k + 1) * self.step if self.step else self.bounds[k + 1]

    def count(self, until: int) -> int:
        """How many periods reach ``until`` (inclusive)."""
        if self.step:
            return (until - self.origin) // self.step + 1
        return len(self.bounds) - 1


def plan_buckets(period: str | None, origin: int, until: int, *, bounded: bool) -> Buckets:
    """The periods covering ``[origin, until]`` (``until`` inclusive; ``bounded``: the query
    set it, else it is the last instance's time)."""
    parsed = parse_duration(period) if period else Duration()
    if parsed.is_zero:
        return Buckets(origin, None, (origin, until + 1), None if bounded else until)
    if not parsed.months:
        if (until - origin) // parsed.microseconds >= MAX_BUCKETS:
            raise TooManyResults(f"aggregation period {period} cuts the time range into more than "
                                 f"{MAX_BUCKETS} periods: ask for a longer period or a shorter range")
        return Buckets(origin, parsed.microseconds, ())
    bounds = [origin]
    while bounds[-1] <= until:
        bounds.append(add_period(origin, parsed, len(bounds)))
    return Buckets(origin, None, tuple(bounds))


# ---- rows ----------------------------------------------------------------------------------
# Kinds of content: how num and txt hold it.
NUMBER, INTEGER, BOOLEAN, STRING, JSON, DELETED = 0, 1, 2, 3, 4, 5
_SAFE_INTEGER = 2**53  # integers beyond this do not survive a double: kept as JSON
_TIME_MEMBERS = ("observedAt", "createdAt", "modifiedAt", "datasetId")


class Row(NamedTuple):  # a tuple: built for every instance written or read
    """The columns of a recorded instance (its series apart).

    ``ts``: its observedAt, or its modifiedAt when it has none; ``modified``: its modifiedAt
    when it has an observedAt, else None (then equal to ts)."""

    ts: int
    modified: int | None
    created: int
    deleted: int | None
    kind: int
    num: float | int | None
    txt: str | None
    doc: str | None


# Kinds of scalar content by exact type (parsed JSON holds no subclasses), for the attribute
# types whose main member may be a scalar.
_SCALAR_KINDS: dict[type, int] = {bool: BOOLEAN, int: INTEGER, float: NUMBER, str: STRING}
_SCALAR_ATTRIBUTES = frozenset({"Property", "Relationship", "VocabProperty"})


def _content(kind_of_attr: str, content: Any) -> tuple[int, float | int | None, str | None]:
    kind = _SCALAR_KINDS.get(type(content)) if kind_of_attr in _SCALAR_ATTRIBUTES else None
    if kind == STRING:
        if "\x00" in content:
            raise nul_refused("an attribute instance")
        return STRING, None, content
    if kind == NUMBER:
        return NUMBER, content, None
    if kind == BOOLEAN:
        return BOOLEAN, int(content), None
    if kind == INTEGER and -_SAFE_INTEGER <= content <= _SAFE_INTEGER:
        return INTEGER, content, None
    return JSON, None, refuse_nul(orjson.dumps(content).decode(), "an attribute instance")


# What a row's doc leaves out, by attribute type: the times (columns of their own), the main
# member (num or txt) and a Property's type (what a doc without one reads back as).
_LEFT_OUT = {kind: frozenset({*_TIME_MEMBERS, main, *(("type",) if kind == "Property" else ())})
             for kind, main in MAIN_MEMBER.items()}

RowValues = tuple[int, int | None, int, int | None, int, float | int | None, str | None, str | None]


def row_values(item: HistoryInstance) -> RowValues:
    """The columns of the row recording ``item``, in ``Row`` order, as a plain tuple: writes
    build one per instance, and a named tuple costs several times more to build."""
    instance = item.instance
    attr_type = instance.get("type", "Property")
    main = MAIN_MEMBER.get(attr_type, "value")
    modified = to_micros(item.modified_at)
    observed = instance.get("observedAt")
    if item.deleted_at is not None:
        kind, num, txt = DELETED, None, None
    elif main in instance:
        kind, num, txt = _content(attr_type, instance[main])
    else:
        kind, num, txt = JSON, None, None
    left_out = _LEFT_OUT.get(attr_type) or frozenset({*_TIME_MEMBERS, main})
    # Most instances carry nothing beyond what the columns hold: no doc to build.
    rest = None if instance.keys() <= left_out else {k: v for k, v in instance.items() if k not in left_out}
    ts = to_micros(observed) if observed else modified
    if observed and from_micros(ts) != observed:  # given in another spelling: read back as given
        rest = {**(rest or {}), "observedAt": observed}
    return (
        ts,
        modified if observed else None,
        to_micros(instance["createdAt"]) if "createdAt" in instance else modified,
        to_micros(item.deleted_at) if item.deleted_at is not None else None,
        kind,
        num,
        txt,
        refuse_nul(orjson.dumps(rest).decode(), "an attribute instance") if rest else None,
    )


def to_row(item: HistoryInstance) -> Row:
    return Row._make(row_values(item))


def from_row(entity_id: str, attr: str, dataset: str | None, iid: int, row: Row) -> HistoryInstance:
    """The instance a row records (``doc`` as JSON text or already decoded)."""
    rest = row.doc if isinstance(row.doc, dict) else orjson.loads(row.doc) if row.doc else {}
    attr_type = rest.get("type", "Property")
    instance: Instance = {"type": attr_type}
    main = MAIN_MEMBER.get(attr_type, "value")
    if row.kind == DELETED:
        instance[main] = NGSI_LD_NULL
    elif row.kind == BOOLEAN:
        instance[main] = bool(row.num)
    elif row.kind == INTEGER:
        instance[main] = int(row.num)  # type: ignore[arg-type]
    elif row.kind == NUMBER:
        instance[main] = row.num
    elif row.kind == STRING:
        instance[main] = row.txt
    elif row.txt is not None:
        instance[main] = orjson.loads(row.txt)
    instance.update((k, v) for k, v in rest.items() if k != "type")
    if dataset is not None:
        instance["datasetId"] = dataset
    modified = row.ts if row.modified is None else row.modified
    if row.modified is not None and "observedAt" not in instance:
        instance["observedAt"] = from_micros(row.ts)
    instance["createdAt"] = from_micros(row.created)
    instance["modifiedAt"] = from_micros(modified)
    return HistoryInstance(
        entity_id=entity_id,
        attr=attr,
        instance=instance,
        modified_at=instance["modifiedAt"],
        deleted_at=from_micros(row.deleted) if row.deleted is not None else None,
        instance_id=instance_uri(iid),
    )


_INSTANCE_PREFIX = "urn:ngsi-ld:attribute:instance:"


def instance_uri(iid: int) -> str:
    return f"{_INSTANCE_PREFIX}{iid}"


def instance_number(uri: str) -> int | None:
    """The row number an instance URI names, None if it is not one of ours."""
    if not uri.startswith(_INSTANCE_PREFIX):
        return None
    tail = uri[len(_INSTANCE_PREFIX) :]
    return int(tail) if tail.isascii() and tail.isdigit() and len(tail) < 19 else None


# Columns of a history row after its series and number, as the SELECTs of both backends read them.
ROW_COLUMNS = "ts, modified, created, deleted, kind, num, txt, doc"


def dataset_key(dataset_id: str | None) -> str:
    """How a series stores its datasetId ('' for the default instance: keys must be non-null)."""
    return dataset_id or ""


def replacement_row(entity_id: str, attr: str, instance: Instance, deleted: int | None) -> Row:
    """The row of an instance replacing a recorded one (which keeps its deletion mark)."""
    if "modifiedAt" not in instance:
        raise BadRequestData("a replacing instance needs its modifiedAt")
    deleted_at = from_micros(deleted) if deleted is not None else None
    return to_row(HistoryInstance(entity_id, attr, instance, instance["modifiedAt"], deleted_at))


def kept_identity(entity: Entity, deleted_at: str) -> Entity:
    """What is kept of an entity deleted with its history: id, types, scope, createdAt."""
    kept = {"id": entity["id"], "type": entity["type"], "createdAt": entity["createdAt"], "modifiedAt": deleted_at}
    if "scope" in entity:
        kept["scope"] = entity["scope"]
    return kept


# ---- filters -------------------------------------------------------------------------------
_TIME_COLUMNS = {
    "observedAt": "h.ts",
    "modifiedAt": "coalesce(h.modified, h.ts)",
    "createdAt": "h.created",
    "deletedAt": "h.deleted",
}


def time_column(time: TimeRange) -> str:
    """The SQL expression of the query's time property over history row ``h``."""
    try:
        return _TIME_COLUMNS[time.timeproperty]
    except KeyError:
        raise BadRequestData(f"timeproperty must be one of {', '.join(_TIME_COLUMNS)}, "
                             f"not {time.timeproperty!r}") from None


def time_filter(time: TimeRange, mark: str) -> tuple[list[str], list[int]]:
    """WHERE terms (with ``mark`` placeholders) selecting the rows of ``time``."""
    column = time_column(time)
    terms: list[str] = [f"{column} IS NOT NULL"] if time.timeproperty == "deletedAt" else []
    params: list[int] = []
    if time.timerel is None:
        return terms, params
    if time.time_at is None:
        raise BadRequestData(f"timerel={time.timerel} needs timeAt")
    start = to_micros(time.time_at)
    if time.timerel == "before":
        terms.append(f"{column} < {mark}")
        params.append(start)
    elif time.timerel == "after":
        terms.append(f"{column} >= {mark}")
        params.append(start)
    elif time.timerel == "between":
        if time.end_time_at is None:
            raise BadRequestData("timerel=between needs endTimeAt")
        terms.append(f"{column} >= {mark} AND {column} < {mark}")
        params.extend((start, to_micros(time.end_time_at)))
    else:
        raise BadRequestData(f"timerel must be before, after or between, not {time.timerel!r}")
    return terms, params


def history_condition(history: HistoryFilter, mark: str, series: str) -> tuple[str, list[Any]]:
    """A boolean expression over entity row ``e``: its history holds an instance that
    ``history`` selects (``mark``: the driver's placeholder; ``series``: how the backend finds
    the entity's series: a FROM clause giving ``hs.attr`` and history rows ``h``)."""
    terms, params = time_filter(history.time, mark)
    args: list[Any] = list(history.attrs)
    if history.attrs:
        terms.insert(0, f"hs.attr IN ({', '.join([mark] * len(history.attrs))})")
    where = "".join(" AND " + term for term in terms)
    sql = f"EXISTS (SELECT 1 FROM {series}{where})"
    return sql, args + params


def fixed_origin(time: TimeRange) -> int | None:
    """Where buckets start when the query says it (``after``/``between``: at timeAt)."""
    if time.timerel in ("after", "between") and time.time_at:
        return to_micros(time.time_at)
    return None


def fixed_until(time: TimeRange) -> int | None:
    """The last instant the range may hold, when the query bounds it."""
    if time.timerel == "between" and time.end_time_at:
        return to_micros(time.end_time_at) - 1
    if time.timerel == "before" and time.time_at:
        return to_micros(time.time_at) - 1
    return None


# ---- aggregates ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Dialect:
    """How a database spells the float sums of the raw aggregates: its float sum aggregate,
    and the number and square of history row ``h`` as summed (never raising on an extreme
    number: a write keeps the per-day rollup, and must not fail on it)."""

    sum: str
    number: str
    square: str


# The raw aggregates computed in the database, by name, with how the values of sub-periods
# combine into the period's (None: they do not, so the per-day rollup does not keep it).
_RAW: dict[str, tuple[str, str | None]] = {
    "n": ("count(*)", "count"),
    "n_values": ("count(h.num)", "count"),
    "total": ("{sum}({number})", "sum"),
    "squares": ("{sum}({square})", "sum"),
    "low": ("min(h.num)", "min"),
    "high": ("max(h.num)", "max"),
    "low_text": (f"min(CASE WHEN h.kind = {STRING} THEN h.txt END)", "min"),
    "high_text": (f"max(CASE WHEN h.kind = {STRING} THEN h.txt END)", "max"),
    "kind_low": ("min(CASE WHEN h.num IS NOT NULL THEN h.kind END)", "min"),
    "kind_high": ("max(CASE WHEN h.num IS NOT NULL THEN h.kind END)", "max"),
    "distinct": ("count(DISTINCT h.num) + count(DISTINCT h.txt)", None),
}
_NEEDS = {
    "totalCount": ("n",),
    "distinctCount": ("distinct",),
    "sum": ("n_values", "total", "kind_low", "kind_high"),
    "avg": ("n_values", "total"),
    "min": ("n_values", "low", "low_text", "kind_low", "kind_high"),
    "max": ("n_values", "high", "high_text", "kind_low", "kind_high"),
    "stddev": ("n_values", "total", "squares"),
    "sumsq": ("n_values", "squares", "kind_low", "kind_high"),
}


def raw_aggregates(methods: Sequence[str]) -> list[str]:
    """The names of the raw aggregates ``methods`` need, in a fixed order."""
    unknown = [m for m in methods if m not in _NEEDS]
    if unknown:
        raise BadRequestData(f"unknown aggregation method {unknown[0]!r}; use {', '.join(_NEEDS)}")
    wanted = {name for method in methods for name in _NEEDS[method]}
    return [name for name in _RAW if name in wanted]


def aggregate_sql(names: Sequence[str], dialect: Dialect, *, named: bool = False) -> str:
    """The SELECT list computing the raw aggregates ``names`` over history rows ``h`` (each
    under its name when ``named``)."""
    return ", ".join(_RAW[name][0].format(sum=dialect.sum, number=dialect.number, square=dialect.square)
                     + (f" AS {name}" if named else "") for name in names)


def bucket_values(methods: Sequence[str], names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    """The value of each method from the raw aggregates of one bucket."""
    raw = dict(zip(names, values, strict=True))
    n = raw.get("n_values") or 0
    same_kind = raw.get("kind_low") if raw.get("kind_low") == raw.get("kind_high") else None

    def typed(number: Any) -> Any:  # integers stay integers, booleans-only buckets give booleans
        if number is None:
            return None
        if same_kind == INTEGER:
            return int(number)
        return float(number)

    out: dict[str, Any] = {}
    for method in methods:
        if method == "totalCount":
            out[method] = raw["n"]
        elif method == "distinctCount":
            out[method] = raw["distinct"]
        elif method == "sum":
            out[method] = typed(raw["total"]) if n else None
        elif method == "avg":
            out[method] = raw["total"] / n if n else None
        elif method == "sumsq":
            out[method] = typed(raw["squares"]) if n else None
        elif method == "stddev":
            out[method] = math.sqrt(max(0.0, raw["squares"] / n - (raw["total"] / n) ** 2)) if n else None
        else:
            number, text = (raw["low"], raw["low_text"]) if method == "min" else (raw["high"], raw["high_text"])
            if n and same_kind == BOOLEAN:
                out[method] = bool(number)
            else:
                out[method] = typed(number) if n else text
    return out


# ---- the per-day rollup ----------------------------------------------------------------------
# ``series_days`` keeps, per series and UTC day, the raw aggregates that combine across
# periods, kept exact by every history write (SQLite: of the days before its frontier): an
# aggregation whose periods are made of whole UTC days reads a row per day where it would read
# every instance of the day.
DAY = 86_400_000_000
_ROLLED = {name: combine for name, (_, combine) in _RAW.items() if combine}
ROLLED = tuple(_ROLLED)
# How the kept aggregates of two parts combine, as one row (upsert) and over many (GROUP BY).
_MERGE = {
    "count": "{old} + {new}",
    "sum": "coalesce({old} + {new}, {old}, {new})",
    "min": "CASE WHEN {new} IS NULL OR {old} <= {new} THEN coalesce({old}, {new}) ELSE {new} END",
    "max": "CASE WHEN {new} IS NULL OR {old} >= {new} THEN coalesce({old}, {new}) ELSE {new} END",
}
_COMBINE = {"count": "CAST(sum({name}) AS bigint)", "sum": "{sum}({name})", "min": "min({name})", "max": "max({name})"}


def day_start(ts: int) -> int:
    """The UTC midnight starting the day of ``ts``."""
    return ts - ts % DAY


# ``day_start`` of a history row ``h`` in SQL (whose % keeps the dividend's sign).
DAY_OF_ROW = f"h.ts - ((h.ts % {DAY}) + {DAY}) % {DAY}"


def rollup_sql(day: str, source: str, dialect: Dialect, conflict: str | None = None) -> str:
    """The INSERT of the rollup rows of history rows ``h`` from ``source`` (its FROM and
    WHERE), each row of day ``day``; with ``conflict`` (the key's columns), added to the rows
    already kept rather than refused."""
    sql = (
        f"INSERT INTO series_days (sid, day, {', '.join(ROLLED)}) "
        f"SELECT h.sid, {day}, {aggregate_sql(ROLLED, dialect)} {source} GROUP BY 1, 2"
    )
    return sql if conflict is None else sql + _added_on_conflict(conflict)


def rollup_rows_sql(conflict: str) -> str:
    """The INSERT of rollup rows as ``day_rollups`` gives them (a ``{rows}`` list of values to
    fill), each added to the row already kept for its series and day (``conflict``: the key)."""
    return f"INSERT INTO series_days (sid, day, {', '.join(ROLLED)}) VALUES {{rows}}" + _added_on_conflict(conflict)


def _added_on_conflict(conflict: str) -> str:
    merged = (f"{name} = " + _MERGE[combine].format(old=f"series_days.{name}", new=f"excluded.{name}")
              for name, combine in _ROLLED.items())
    return f" ON CONFLICT ({conflict}) DO UPDATE SET {', '.join(merged)}"


def day_rollups(rows: Iterable[tuple[int, int, int, Any, str | None]]) -> list[tuple[Any, ...]]:
    """The rollup rows of history rows given as (sid, ts, kind, num, txt): (sid, day, then
    the ``ROLLED`` aggregates in their order), as ``rollup_sql`` computes them (sums as floats
    from 0.0, as SQLite's ``total``); a write adds them to the kept rows without reading its
    history rows back."""
    days: dict[tuple[int, int], list[Any]] = {}
    for sid, ts, kind, num, txt in rows:
        key = (sid, day_start(ts))
        day = days.get(key)
        if day is None:  # n, n_values, total, squares, low, high, low_text, high_text, kind_low, kind_high
            day = days[key] = [0, 0, 0.0, 0.0, None, None, None, None, None, None]
        day[0] += 1
        if num is not None:
            number = float(num)
            day[1] += 1
            day[2] += number
            day[3] += number * number
            day[4] = num if day[4] is None or num < day[4] else day[4]
            day[5] = num if day[5] is None or num > day[5] else day[5]
            day[8] = kind if day[8] is None or kind < day[8] else day[8]
            day[9] = kind if day[9] is None or kind > day[9] else day[9]
        if kind == STRING:
            day[6] = txt if day[6] is None or txt < day[6] else day[6]
            day[7] = txt if day[7] is None or txt > day[7] else day[7]
    return [(*key, *values) for key, values in days.items()]


@dataclass(frozen=True)
class DayPlan:
    """An aggregation the rollup answers: its range ``[head, stop)`` holds the whole UTC days
    ``[first, end)``, read from the rollup, and partial days before and after, read raw."""

    head: int
    first: int
    end: int
    stop: int

    def params(self) -> dict[str, int]:
        """The range parameters of ``days_sql``."""
        return {"head": self.head, "first": self.first, "end": self.end, "stop": self.stop}


def whole_days(
    time: TimeRange, buckets: Buckets, until: int, names: Sequence[str], frontier: int | None = None
) -> DayPlan | None:
    """How the rollup answers an aggregation of ``buckets`` up to ``until`` (inclusive), when it
    keeps the days before ``frontier`` only (None: every day); None when it cannot: a raw
    aggregate it does not keep, another time than the observation's, no whole day it keeps, or
    a period boundary inside a day."""
    if time_column(time) != "h.ts" or not set(names) <= _ROLLED.keys():
        return None
    first, end = -(-buckets.origin // DAY) * DAY, (until + 1) // DAY * DAY
    if frontier is not None:
        end = min(end, frontier)
    if end <= first:
        return None
    if buckets.step:
        # Boundaries at midnight, or none between the first whole day and the last.
        at_midnight = buckets.step % DAY == 0 and buckets.origin % DAY == 0
        if not at_midnight and (first - buckets.origin) // buckets.step != (end - 1 - buckets.origin) // buckets.step:
            return None
    elif any(bound % DAY for bound in buckets.bounds if first < bound < end):
        return None
    return DayPlan(buckets.origin, first, end, until + 1)


def days_sql(
    plan: DayPlan, names: Sequence[str], dialect: Dialect, period: Callable[[str], str],
    in_series: Callable[[str], str], mark: Callable[[str], str],
) -> str:
    """The aggregation of ``plan``: by series and period number (``period`` of a time column),
    ``names`` combined over the rollup rows of the whole days and the raw rows of the partial
    ones (when there are), for the series ``in_series`` (of a series column) admits; ``mark``
    spells a named parameter (``DayPlan.params``)."""
    raw = aggregate_sql(names, dialect, named=True)
    parts = [(f"SELECT d.sid, {period('d.day')} AS k, {', '.join(names)} FROM series_days d "
              f"WHERE {in_series('d.sid')} AND d.day >= {mark('first')} AND d.day < {mark('end')}")]
    for low, high in (("head", "first"), ("end", "stop")):
        if getattr(plan, low) < getattr(plan, high):
            parts.append(f"SELECT h.sid, {period('h.ts')}, {raw} FROM history h WHERE {in_series('h.sid')} "
                         f"AND h.ts >= {mark(low)} AND h.ts < {mark(high)} GROUP BY 1, 2")
    combined = ", ".join(_COMBINE[_ROLLED[name]].format(name=name, sum=dialect.sum) for name in names)
    return f"SELECT sid, k, {combined} FROM ({' UNION ALL '.join(parts)}) AS parts GROUP BY sid, k ORDER BY sid, k"


# ---- assembly ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SeriesKey:
    sid: int
    entity_id: str
    attr: str
    dataset_id: str | None


def temporal_entity(entity: Entity) -> TemporalEntity:
    return TemporalEntity(
        id=entity["id"],
        types=list(entity.get("type", [])),
        scope=entity.get("scope"),
        created_at=entity["createdAt"],
        modified_at=entity["modifiedAt"],
    )


def with_kept(page: QueryPage, query: TemporalQuery, kept: Callable[[list[str]], list[Entity]]) -> QueryPage:
    """The page of current entities, plus the entities deleted with their history kept that
    ``query`` names by id (``kept`` reads them), within the page's limit."""
    entities = query.entities
    named = [*entities.ids, *(i for selector in entities.selectors for i in selector.ids)]
    if not named:
        return page
    present = {e["id"] for e in page.entities}
    missing = [i for i in dict.fromkeys(named) if i not in present]
    extra = [e for e in (kept(missing) if missing else []) if _named_by(entities, e)]
    room = max(0, entities.limit - len(page.entities))
    count = None if page.count is None else page.count + len(extra)
    return QueryPage(page.entities + extra[:room], count, page.next_cursor)


def _named_by(query: EntityQuery, entity: Entity) -> bool:
    """Whether a query naming entities by id selects this one (its ids, types and selectors)."""
    if query.ids and entity["id"] not in query.ids:
        return False
    if query.types is not None and not types_satisfy(query.types, entity["type"]):
        return False
    return not query.selectors or any(
        entity["id"] in selector.ids and types_satisfy(selector.type, entity["type"]) for selector in query.selectors)


def cut(
    instances: dict[int, list[HistoryInstance]], times: dict[int, list[int]], query: TemporalQuery
) -> tuple[str, str] | None:
    """Apply ``instance_limit`` to the instances fetched per series (at most limit + 1 each,
    in the order they are taken: ascending, or descending with ``last_n``) and put them in
    ascending order; returns the interval every series then covers completely, if any was cut."""
    limit = query.instance_limit
    backwards = query.last_n is not None
    cuts = [ts[limit - 1] for ts in times.values() if len(ts) > limit]
    for sid, found in instances.items():
        del found[limit:]
        del times[sid][limit:]
    if not cuts:
        if backwards:
            for found in instances.values():
                found.reverse()
        return None
    if backwards:
        edge = max(cuts)  # every series is complete from here to the end of the range
        for sid, found in instances.items():
            instances[sid] = [inst for inst, t in zip(reversed(found), reversed(times[sid]), strict=True) if t >= edge]
        latest = max(t[0] for t in times.values() if t)
        return from_micros(edge), from_micros(latest)
    edge = min(cuts)  # every series is complete from the start of the range up to here
    for sid, found in instances.items():
        instances[sid] = [inst for inst, t in zip(found, times[sid], strict=True) if t <= edge]
    earliest = min(t[0] for t in times.values() if t)
    return from_micros(earliest), from_micros(edge)


def assemble(
    page: QueryPage,
    keys: Iterable[SeriesKey],
    instances: dict[int, list[HistoryInstance]],
    buckets: dict[int, list[Bucket]],
    range_: tuple[str, str] | None,
) -> TemporalPage:
    """The TemporalPage of ``page``'s entities with their non-empty series. When the page is
    cut, a series with instances in the range but none before the cut is there, empty: the
    client learns that it has more to fetch (clause 6.3.10)."""
    entities = [temporal_entity(e) for e in page.entities]
    by_id = {e.id: e for e in entities}
    for key in sorted(keys, key=lambda k: (k.attr, k.dataset_id or "")):
        found = instances.get(key.sid) or []
        grouped = buckets.get(key.sid) or []
        cut_away = range_ is not None and key.sid in instances
        if (found or grouped or cut_away) and key.entity_id in by_id:
            by_id[key.entity_id].series.append(Series(key.attr, key.dataset_id, found, grouped))
    return TemporalPage(entities, page.count, page.next_cursor, range_)


def bucket(buckets: Buckets, k: int, methods: Sequence[str], names: Sequence[str], values: Sequence[Any]) -> Bucket:
    return Bucket(from_micros(buckets.start(k)), from_micros(buckets.end(k)), bucket_values(methods, names, values))


def check_aggregation(aggregation: Aggregation) -> list[str]:
    """The raw aggregates an aggregation needs (refusing unknown methods and bad periods)."""
    if aggregation.period:
        parse_duration(aggregation.period)
    if not aggregation.methods:
        raise BadRequestData("an aggregation needs at least one method (aggrMethods)")
    return raw_aggregates(aggregation.methods)


# ---- the query, over a backend's primitives ------------------------------------------------
class HistoryReader(Protocol):
    """What a backend provides for ``run_temporal_query`` (all reads of one session)."""

    def query(self, query: EntityQuery) -> QueryPage: ...

    def kept_entities(self, ids: Sequence[str]) -> list[Entity]:
        """The entities among ``ids`` deleted while their history was kept."""

    def series_of(self, entity_ids: Sequence[str], attrs: Sequence[str], datasets: Sequence[str] | None) -> list[SeriesKey]:
        """The series of these entities (of these attributes only, unless empty; of these
        dataset keys only, ``dataset_key`` of each datasetId, unless None)."""

    def fetch_instances(
        self, keys: Sequence[SeriesKey], time: TimeRange, take: int, backwards: bool
    ) -> dict[int, list[tuple[int, int, Row]]]:
        """By series, the first ``take`` rows of ``time`` (the last ones when ``backwards``,
        newest first), as (instance number, time of the query's property, row)."""

    def time_span(self, keys: Sequence[SeriesKey], time: TimeRange) -> tuple[int | None, int | None]:
        """The earliest and latest times of the rows of ``time`` in these series."""

    def aggregate(
        self, keys: Sequence[SeriesKey], time: TimeRange, buckets: Buckets, until: int, names: Sequence[str]
    ) -> dict[int, list[tuple[Any, ...]]]:
        """By series, (bucket number, *raw aggregates ``names``) of the non-empty buckets,
        ascending, over the rows of ``time`` from ``buckets.origin`` to ``until`` inclusive."""


def run_temporal_query(reader: HistoryReader, query: TemporalQuery) -> TemporalPage:
    """``TenantSession.temporal_query`` over a backend's primitives."""
    names = check_aggregation(query.aggregation) if query.aggregation else []
    time_filter(query.time, "?")  # refuse a bad range before reading anything
    current = reader.query(query.entities)
    page = with_kept(current, query, reader.kept_entities)
    datasets = None if query.datasets is None else sorted({"" if d == "@none" else d for d in query.datasets})
    keys = reader.series_of([e["id"] for e in page.entities], query.attrs, datasets) if page.entities else []
    instances: dict[int, list[HistoryInstance]] = {}
    buckets: dict[int, list[Bucket]] = {}
    range_ = None
    if keys and query.aggregation is not None:
        buckets = _aggregate(reader, keys, query.time, query.aggregation, names)
    elif keys:
        if query.last_n is not None and query.last_n < 1:
            raise BadRequestData("lastN must be a positive integer")
        if query.instance_limit < 1:
            raise BadRequestData("the instance limit must be a positive integer")
        take = query.instance_limit + 1 if query.last_n is None else min(query.last_n, query.instance_limit + 1)
        rows = reader.fetch_instances(keys, query.time, take, query.last_n is not None)
        by_sid = {key.sid: key for key in keys}
        times = {sid: [t for _, t, _ in found] for sid, found in rows.items()}
        for sid, found in rows.items():
            key = by_sid[sid]
            instances[sid] = [from_row(key.entity_id, key.attr, key.dataset_id, iid, row) for iid, _, row in found]
        range_ = cut(instances, times, query)
    result = assemble(page, keys, instances, buckets, range_)
    if query.entities.history is not None:
        # The kept entities are not selected in SQL: those with nothing in the range leave here.
        current_ids = {e["id"] for e in current.entities}
        result.entities = [e for e in result.entities if e.series or e.id in current_ids]
    return result


def _aggregate(
    reader: HistoryReader, keys: Sequence[SeriesKey], time: TimeRange, aggregation: Aggregation, names: list[str]
) -> dict[int, list[Bucket]]:
    origin, until = fixed_origin(time), fixed_until(time)
    bounded = until is not None
    if origin is None or until is None:
        first, last = reader.time_span(keys, time)
        if first is None or last is None:
            return {}
        origin = first if origin is None else origin
        until = last if until is None else until
    if until < origin:
        return {}
    plan = plan_buckets(aggregation.period, origin, until, bounded=bounded)
    found = reader.aggregate(keys, time, plan, until, names)
    return {
        sid: [bucket(plan, k, aggregation.methods, names, values) for k, *values in rows]
        for sid, rows in found.items()
    }

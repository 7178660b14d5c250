"""The Subscription resource as pure code (ETSI GS CIM 009 v1.8: clauses 5.2.12 Subscription,
5.2.14 NotificationParams, 5.2.15 Endpoint, 5.2.22 KeyValuePair, 5.2.33 EntitySelector, 5.8
operations): parsing and validation, the update semantics of PATCH, rendering under a context,
and the status a subscription has at an instant.

The internal form is the frozen dataclass :class:`Subscription`. Like entities
(``ngsild/model.py``) it does not depend on any @context: attribute names and entity types
are expanded IRIs, and ``q``, ``scopeQ``, type expressions and ``geoQ`` are parsed trees of
``ngsild/query.py`` and ``ngsild/geo.py``, ready for a matcher. What the client wrote for
``q``, ``scopeQ`` and ``csf`` is kept as text too, since those are shown back as given.

Optional members take their default values in the dataclass (``isActive`` True, ``format``
normalized…); ``explicit`` names the members the client gave, so that a subscription is shown
back with what was given and no defaults it never wrote (a client comparing what it sent
with what it reads finds the same members), plus the read-only ``status``.

Readings of the clause, where it leaves a choice:
- Top-level members this version does not define are ignored, as a JSON-LD processor drops
  terms it cannot expand; inside ``notification``, ``endpoint``, entity selectors and
  key-value pairs an unknown member is refused, naming it. Read-only members (``status``,
  ``timesSent``, ``createdAt``…) given by a client are ignored (clause 5.2.2).
- PATCH (clause 5.8.2) replaces each top-level member given, whole (``notification``
  included: a fragment's ``notification`` is a complete NotificationParams); JSON null or
  the NGSI-LD Null removes an optional member; removing a mandatory one is BadRequestData.
- ``throttling``, ``timeInterval``, ``timeout`` and ``cooldown`` must be greater than 0.
- ``showChanges`` is refused with the keyValues format, which has no place for previous values.
- ``csf`` is checked as a query (clause 4.9) and kept: this broker has no context source
  registrations, so it selects none.
- Endpoints are ``http``, ``https``, ``mqtt`` or ``mqtts`` URIs; an MQTT URI names its topic
  as its path (clause 6.11.1), and ``notifierInfo`` may set ``MQTT-Version`` (mqtt3.1.1 or
  mqtt5.0) and ``MQTT-QoS`` (0, 1 or 2).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass, replace
from typing import Any
from urllib.parse import unquote, urlsplit

from territoires.ngsild import geo, query
from territoires.ngsild.context import Context
from territoires.ngsild.entity import validate_datetime, validate_entity_id, validate_name
from territoires.ngsild.errors import BadRequestData
from territoires.ngsild.join import parse_join
from territoires.ngsild.model import NGSI_LD_NULL
from territoires.ngsild.query import QExpr, ScopeExpr, TypeExpr

TYPE = "Subscription"
ID_PREFIX = "urn:ngsi-ld:Subscription:"

# notificationTrigger values (table 5.2.12-1) and the default when none is given.
TRIGGERS = ("entityCreated", "entityUpdated", "entityDeleted", "attributeCreated", "attributeUpdated",
            "attributeDeleted")
DEFAULT_TRIGGERS = ("attributeCreated", "attributeUpdated")

# Notification formats (table 5.2.14-1); "simplified" is another name of keyValues.
FORMATS = {"normalized": "normalized", "keyValues": "keyValues", "simplified": "keyValues", "concise": "concise"}
ACCEPTS = ("application/json", "application/ld+json", "application/geo+json")
SCHEMES = ("http", "https", "mqtt", "mqtts")
MQTT_VERSIONS = ("mqtt3.1.1", "mqtt5.0")
MQTT_QOS = ("0", "1", "2")

STATUSES = ("active", "paused", "expired")

# Members a client may not set (clause 5.2.2 and the read-only rows of tables 5.2.12-1,
# 5.2.14-1): ignored when given.
_READ_ONLY = frozenset({"status", "createdAt", "modifiedAt", "deletedAt"})
_DELIVERY_MEMBERS = frozenset({"status", "timesSent", "timesFailed", "lastNotification", "lastFailure",
                               "lastSuccess"})
_NULLS = (None, NGSI_LD_NULL)
_LANGUAGE = re.compile(r"\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*(?:;q=[01](?:\.[0-9]{1,3})?)?\Z")


# ---- the internal form ------------------------------------------------------------------------


@dataclass(frozen=True)
class EntitySelector:
    """One member of ``entities`` (clause 5.2.33): a type expression, and an id (or several)
    or an id pattern (with both, ``id`` wins, as the clause says)."""

    type: TypeExpr  # names expanded
    id: str | tuple[str, ...] | None = None  # as given: one id, or an array of them
    id_pattern: str | None = None  # a regular expression, searched (Python ``re`` syntax)

    @property
    def ids(self) -> tuple[str, ...]:
        """The ids the selector names (none: any id)."""
        return (self.id,) if isinstance(self.id, str) else self.id or ()


def parse_entity_selectors(raw: Any, expand: query.Expand) -> tuple[EntitySelector, ...]:
    """The ``entities`` member of a subscription or of a Query (clause 5.2.33): a non-empty
    array of EntitySelector objects, each with a type, type names expanded."""
    items = _list(raw, "entities", "EntitySelector objects, as [{\"type\": \"Streetlight\"}]")
    return tuple(_selector(item, f"entities[{n}]", expand) for n, item in enumerate(items))


def _selector(raw: Any, where: str, expand: query.Expand) -> EntitySelector:
    if not isinstance(raw, dict):
        raise BadRequestData(f"{where} must be an EntitySelector object with a type, got {_show(raw)}")
    _no_unknown(raw, {"id", "idPattern", "type"}, where)
    if "type" not in raw:
        raise BadRequestData(f"{where} needs a type (an entity type or a type expression)")
    types = query.parse_type_expr(_string(raw["type"], f"{where}.type"), expand)
    selector_id: str | tuple[str, ...] | None = None
    if "id" in raw:
        given = raw["id"]
        if type(given) is list:
            if not given:
                raise BadRequestData(f"{where}.id is an empty array: give at least one entity id")
            selector_id = tuple(_selector_id(item, f"{where}.id[{n}]") for n, item in enumerate(given))
        else:
            selector_id = _selector_id(given, f"{where}.id")
    pattern = None
    if "idPattern" in raw:
        pattern = _string(raw["idPattern"], f"{where}.idPattern")
        try:
            re.compile(pattern)
        except (re.error, RecursionError, OverflowError) as error:
            raise BadRequestData(f"{where}.idPattern is not a valid regular expression: {error}") from None
    return EntitySelector(types, selector_id, pattern)


@dataclass(frozen=True)
class Endpoint:
    """Where notifications go (clause 5.2.15)."""

    uri: str  # http(s)://… or mqtt(s)://host[:port]/topic
    accept: str = "application/json"
    timeout: float | None = None  # milliseconds before a notification counts as failed
    cooldown: float | None = None  # milliseconds to wait after a failure before the next attempt
    receiver_info: tuple[tuple[str, str], ...] = ()  # (key, value): HTTP headers / MQTT user properties
    notifier_info: tuple[tuple[str, str], ...] = ()  # (key, value): settings of the notifier (MQTT-QoS…)
    explicit: tuple[str, ...] = ()  # members the client gave

    @property
    def scheme(self) -> str:
        return self.uri.split(":", 1)[0].lower()

    def notifier_setting(self, key: str) -> str | None:
        return next((value for k, value in self.notifier_info if k == key), None)


@dataclass(frozen=True)
class NotificationParams:
    """What a notification holds and where it goes (clause 5.2.14)."""

    endpoint: Endpoint
    attributes: tuple[str, ...] | None = None  # expanded names; None: every attribute
    format: str = "normalized"  # normalized | keyValues | concise
    sys_attrs: bool = False
    show_changes: bool = False
    pick: tuple[str, ...] | None = None  # expanded names; "id" and "type" as they are
    omit: tuple[str, ...] | None = None
    join: str | None = None  # flat | inline | @none
    join_level: int | None = None
    explicit: tuple[str, ...] = ()


@dataclass(frozen=True)
class Subscription:
    """A subscription in internal form. ``context`` is the @context notifications are
    compacted with (the ``jsonldContext`` the client gave, else the @context of the request
    that created the subscription; None for the core context alone); ``jsonld_context`` is the
    URL notifications name as their @context (None: the core context)."""

    id: str
    notification: NotificationParams
    created_at: str
    modified_at: str
    subscription_name: str | None = None
    description: str | None = None
    entities: tuple[EntitySelector, ...] = ()
    watched_attributes: tuple[str, ...] = ()  # expanded names
    notification_trigger: tuple[str, ...] = DEFAULT_TRIGGERS
    q: QExpr | None = None
    q_text: str | None = None
    geo_q: geo.GeoQuery | None = None
    scope_q: ScopeExpr | None = None
    scope_q_text: str | None = None
    csf: str | None = None
    is_active: bool = True
    expires_at: str | None = None  # DateTime as given
    throttling: float | None = None  # seconds
    time_interval: float | None = None  # seconds
    lang: str | None = None
    dataset_id: tuple[str, ...] | None = None
    jsonld_context: str | None = None
    context: Any = None
    explicit: tuple[str, ...] = ()

    @property
    def expires_key(self) -> str | None:
        """``expires_at`` as a ``clock.now()`` string (microseconds), comparable as text."""
        return instant(self.expires_at) if self.expires_at is not None else None

    def status(self, now: str) -> str:
        """active, paused or expired at ``now`` (clauses 5.2.12 and 5.8.2): expiry wins."""
        if self.expires_at is not None and instant(self.expires_at) <= now:
            return "expired"
        return "active" if self.is_active else "paused"

    def to_document(self) -> dict[str, Any]:
        """The subscription as a JSON document, read back by :meth:`from_document`."""
        return _encode(self)

    @staticmethod
    def from_document(document: dict[str, Any]) -> Subscription:
        return _decode(document)


def instant(datetime_text: str) -> str:
    """A DateTime (clause 4.6.3, already validated) in the form of ``clock.now()``, so that
    instants compare as text."""
    seconds, _, fraction = datetime_text.rstrip("Z").partition(".")
    return f"{seconds}.{fraction:0<6}Z"


def new_id(unique: str) -> str:
    """The id given to a subscription created without one (``unique``: e.g. a UUID)."""
    return ID_PREFIX + unique


# ---- parsing ----------------------------------------------------------------------------------


def parse_subscription(body: Any, ctx: Context, *, now: str, generated_id: str) -> Subscription:
    """A new subscription from a request body (without its @context) and the request's
    context (clause 5.8.1). ``generated_id`` is used when the body has no ``id``."""
    if not isinstance(body, dict):
        raise BadRequestData("a subscription is a JSON object")
    if body.get("type") != TYPE:
        raise BadRequestData(f'a subscription needs "type": "{TYPE}", got {_show(body.get("type"))}')
    if "notification" not in body:
        raise BadRequestData("a subscription needs a notification member (with its endpoint)")
    values = _Parser(ctx, now).members(body)
    values.update(context=_notification_context(body, ctx), jsonld_context=_jsonld_context(body, ctx))
    sub_id = validate_subscription_id(body["id"]) if "id" in body else generated_id
    return _checked(Subscription(id=sub_id, created_at=now, modified_at=now, **values))


def merge_subscription(current: Subscription, fragment: Any, ctx: Context, *, now: str) -> Subscription:
    """``current`` updated by a PATCH fragment (clause 5.8.2): each top-level member given
    replaces the stored one; null removes an optional member."""
    if not isinstance(fragment, dict):
        raise BadRequestData("a subscription fragment is a JSON object")
    if "id" in fragment and fragment["id"] != current.id:
        raise BadRequestData(f"the fragment's id {_show(fragment['id'])} is not the subscription's id {current.id}")
    if "type" in fragment and fragment["type"] != TYPE:
        raise BadRequestData(f'a subscription fragment\'s type must be "{TYPE}", got {_show(fragment["type"])}')
    known = {name for name in fragment if name in _MEMBERS}
    if not known:
        raise BadRequestData("the fragment changes no member of the subscription "
                             f"(members: {', '.join(sorted(_MEMBERS))})")
    removed = {name for name in known if fragment[name] in _NULLS}
    for name in sorted(removed & _MANDATORY):
        raise BadRequestData(f"{name} is a mandatory member of a subscription and cannot be removed")
    values = _Parser(ctx, now).members({k: v for k, v in fragment.items() if k not in removed})
    defaults = {f.name: f.default for f in fields(Subscription)}
    for name in removed:
        attribute = _MEMBERS[name]
        values[attribute] = defaults[attribute]
        if name == "q":
            values["q_text"] = None
        elif name == "scopeQ":
            values["scope_q_text"] = None
    if "jsonldContext" in known:  # notifications now use the new one, or else this request's @context
        values["context"] = _notification_context(fragment, ctx) if "jsonldContext" not in removed else ctx.source
        values["jsonld_context"] = _jsonld_context({} if "jsonldContext" in removed else fragment, ctx)
    explicit = (set(current.explicit) | set(values.pop("explicit"))) - removed
    return _checked(replace(current, **values, explicit=tuple(sorted(explicit)), modified_at=now))


def validate_subscription_id(value: Any) -> str:
    """A subscription id: an absolute URI. Raises BadRequestData."""
    if type(value) is not str or not value:
        raise BadRequestData(f"a subscription id must be a URI string, got {_show(value)}")
    try:
        return validate_entity_id(value)
    except BadRequestData:
        raise BadRequestData(f"the subscription id {_show(value)} is not an absolute URI (scheme:rest, no spaces)") \
            from None


def validate_context_url(value: Any) -> str:
    """A ``jsonldContext``: the absolute URL of a JSON-LD @context. Raises BadRequestData."""
    if type(value) is not str or not _absolute_uri(value):
        raise BadRequestData(f"jsonldContext must be the absolute URL of a JSON-LD @context, got {_show(value)}")
    return value


# Wire member name -> dataclass field, for the members a client may write.
_MEMBERS = {
    "subscriptionName": "subscription_name", "description": "description", "entities": "entities",
    "watchedAttributes": "watched_attributes", "notificationTrigger": "notification_trigger", "q": "q",
    "geoQ": "geo_q", "scopeQ": "scope_q", "csf": "csf", "isActive": "is_active", "notification": "notification",
    "expiresAt": "expires_at", "throttling": "throttling", "timeInterval": "time_interval", "lang": "lang",
    "datasetId": "dataset_id", "jsonldContext": "jsonld_context",
}
_MANDATORY = frozenset({"notification"})


def _notification_context(body: dict[str, Any], ctx: Context) -> Any:
    given = body.get("jsonldContext")
    return given if given is not None else ctx.source


def _jsonld_context(body: dict[str, Any], ctx: Context) -> str | None:
    """The URL notifications name: the client's ``jsonldContext``, else the request's @context
    when it is one URL (an @context of several parts gets an implicitly created context, made
    by the broker, which stores it)."""
    given = body.get("jsonldContext")
    if given is not None:
        return given
    source = ctx.source
    if isinstance(source, list) and len(source) == 1:
        source = source[0]
    return source if isinstance(source, str) else None


def needs_implicit_context(subscription: Subscription) -> bool:
    """Whether notifications need an implicitly created @context (clause 5.13): the
    subscription's @context is not one URL and the client named no ``jsonldContext``."""
    return subscription.jsonld_context is None and subscription.context is not None


def implicit_context(sub: Subscription) -> bool:
    """Whether ``jsonld_context`` names an implicitly created @context (not one the client wrote)."""
    source = sub.context[0] if isinstance(sub.context, list) and len(sub.context) == 1 else sub.context
    return sub.jsonld_context is not None and sub.jsonld_context != source


def _checked(sub: Subscription) -> Subscription:
    """The constraints between members (clauses 5.2.12, 5.2.14, 5.8.1)."""
    if not sub.entities and not sub.watched_attributes:
        raise BadRequestData("a subscription needs entities, watchedAttributes or both, to say what it watches")
    if sub.time_interval is not None and sub.watched_attributes:
        raise BadRequestData("timeInterval (periodic notifications) and watchedAttributes (notifications on "
                             "change) cannot be used together")
    if sub.time_interval is not None and sub.throttling is not None:
        raise BadRequestData("throttling applies to notifications on change; it cannot be used with timeInterval")
    params = sub.notification
    if params.show_changes and params.format == "keyValues":
        raise BadRequestData("notification.showChanges needs the normalized or concise format: keyValues has no "
                             "place for previous values")
    given = [name for name, value in (("attributes", params.attributes), ("pick", params.pick),
                                      ("omit", params.omit)) if value is not None]
    if "attributes" in given and len(given) > 1:
        raise BadRequestData(f"notification.{' and notification.'.join(given)} cannot be used together")
    both = sorted(set(params.pick or ()) & set(params.omit or ()))
    if both:
        raise BadRequestData(f"notification.pick and notification.omit both name {', '.join(both)}")
    return sub


class _Parser:
    """Parses the members of a subscription body or fragment into dataclass field values."""

    def __init__(self, ctx: Context, now: str) -> None:
        self.ctx = ctx
        self.now = now

    def members(self, body: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        explicit: list[str] = []
        for name, raw in body.items():
            attribute = _MEMBERS.get(name)
            if attribute is None:
                continue  # id, type, read-only members, terms of no subscription member
            if raw in _NULLS:
                raise BadRequestData(f"{name} cannot be null")
            parse: Callable[[Any], Any] = getattr(self, "p_" + attribute)
            values[attribute] = parse(raw)
            explicit.append(name)
        if "q" in values:
            values["q_text"] = body["q"]
        if "scope_q" in values:
            values["scope_q_text"] = body["scopeQ"]
        values["explicit"] = tuple(sorted(explicit))
        return values

    # ---- top-level members ----
    def p_subscription_name(self, raw: Any) -> str:
        return _string(raw, "subscriptionName")

    def p_description(self, raw: Any) -> str:
        return _string(raw, "description")

    def p_entities(self, raw: Any) -> tuple[EntitySelector, ...]:
        return parse_entity_selectors(raw, self.ctx.expand)

    def p_watched_attributes(self, raw: Any) -> tuple[str, ...]:
        return self.names(raw, "watchedAttributes")

    def names(self, raw: Any, where: str, *, members: bool = False) -> tuple[str, ...]:
        items = _list(raw, where, "attribute names")
        out: list[str] = []
        for n, item in enumerate(items):
            if members and isinstance(item, str) and item in query.ENTITY_MEMBER_NAMES:
                iri = item
            else:
                iri = self.ctx.expand(validate_name(item, f"{where}[{n}]"))
            if iri not in out:
                out.append(iri)
        return tuple(out)

    def p_notification_trigger(self, raw: Any) -> tuple[str, ...]:
        items = _list(raw, "notificationTrigger", f"triggers ({', '.join(TRIGGERS)})")
        out: list[str] = []
        for item in items:
            if item not in TRIGGERS:
                raise BadRequestData(f"notificationTrigger: {_show(item)} is not one of {', '.join(TRIGGERS)}")
            if item not in out:
                out.append(item)
        return tuple(out)

    def p_q(self, raw: Any) -> QExpr:
        return query.parse_q(_string(raw, "q"), self.ctx.expand)

    def p_geo_q(self, raw: Any) -> geo.GeoQuery:
        return geo.parse_geo_query_object(raw, self.ctx.expand)

    def p_scope_q(self, raw: Any) -> ScopeExpr:
        return query.parse_scope_q(_string(raw, "scopeQ"))

    def p_csf(self, raw: Any) -> str:
        text = _string(raw, "csf")
        query.parse_q(text, self.ctx.expand, name="csf")  # refused now if it is not a query
        return text

    def p_is_active(self, raw: Any) -> bool:
        if type(raw) is not bool:
            raise BadRequestData(f"isActive must be true or false, got {_show(raw)}")
        return raw

    def p_expires_at(self, raw: Any) -> str:
        text = validate_datetime(raw, "expiresAt")
        if instant(text) <= self.now:
            raise BadRequestData(f"expiresAt {text} is not in the future (now is {self.now})")
        return text

    def p_throttling(self, raw: Any) -> float:
        return _positive(raw, "throttling", "seconds")

    def p_time_interval(self, raw: Any) -> float:
        return _positive(raw, "timeInterval", "seconds")

    def p_lang(self, raw: Any) -> str:
        text = _string(raw, "lang")
        for part in text.split(","):
            if not _LANGUAGE.match(part.strip()):
                raise BadRequestData(f"lang: {_show(part.strip())} is not a language tag (as fr, en-GB or *)")
        return text

    def p_dataset_id(self, raw: Any) -> tuple[str, ...]:
        items = [raw] if isinstance(raw, str) else _list(raw, "datasetId", "dataset URIs")
        for item in items:
            try:
                validate_entity_id(item)
            except BadRequestData:
                raise BadRequestData(f"datasetId: {_show(item)} is not an absolute URI") from None
        return tuple(dict.fromkeys(items))

    def p_jsonld_context(self, raw: Any) -> str:
        return validate_context_url(raw)

    # ---- notification ----
    def p_notification(self, raw: Any) -> NotificationParams:
        if not isinstance(raw, dict):
            raise BadRequestData(f"notification must be a NotificationParams object, got {_show(raw)}")
        known = {"attributes", "format", "sysAttrs", "showChanges", "pick", "omit", "join", "joinLevel", "endpoint"}
        _no_unknown(raw, known | _DELIVERY_MEMBERS, "notification")
        if raw.get("endpoint") is None:
            raise BadRequestData("notification.endpoint is mandatory: it says where notifications go")
        values: dict[str, Any] = {"endpoint": self.endpoint(raw["endpoint"])}
        given = sorted(known & raw.keys())
        if "attributes" in raw:
            values["attributes"] = self.names(raw["attributes"], "notification.attributes")
        if "format" in raw:
            if not isinstance(raw["format"], str) or raw["format"] not in FORMATS:
                raise BadRequestData(f"notification.format {_show(raw['format'])} is not one of {', '.join(FORMATS)}")
            values["format"] = FORMATS[raw["format"]]
        for name, attribute in (("sysAttrs", "sys_attrs"), ("showChanges", "show_changes")):
            if name in raw:
                if type(raw[name]) is not bool:
                    raise BadRequestData(f"notification.{name} must be true or false, got {_show(raw[name])}")
                values[attribute] = raw[name]
        for name in ("pick", "omit"):
            if name in raw:
                values[name] = self.names(raw[name], f"notification.{name}", members=True)
        if "join" in raw or "joinLevel" in raw:
            if raw.get("joinLevel", 1) is None:
                raise BadRequestData("notification.joinLevel cannot be null")
            parse_join(raw.get("join"), raw.get("joinLevel"))  # refuses what is not flat/inline/@none, levels < 1
            values["join"] = raw.get("join")
            values["join_level"] = int(raw["joinLevel"]) if "joinLevel" in raw else None
        return NotificationParams(**values, explicit=tuple(given))

    def endpoint(self, raw: Any) -> Endpoint:
        if not isinstance(raw, dict):
            raise BadRequestData(f"notification.endpoint must be an Endpoint object with a uri, got {_show(raw)}")
        known = {"uri", "accept", "timeout", "cooldown", "receiverInfo", "notifierInfo"}
        _no_unknown(raw, known, "notification.endpoint")
        if "uri" not in raw:
            raise BadRequestData("notification.endpoint.uri is mandatory")
        uri = _endpoint_uri(raw["uri"])
        values: dict[str, Any] = {"uri": uri}
        if "accept" in raw:
            if raw["accept"] not in ACCEPTS:
                raise BadRequestData(f"notification.endpoint.accept {_show(raw['accept'])} is not one of "
                                     f"{', '.join(ACCEPTS)}")
            values["accept"] = raw["accept"]
        for name in ("timeout", "cooldown"):
            if name in raw:
                values[name] = _positive(raw[name], f"notification.endpoint.{name}", "milliseconds")
        if "receiverInfo" in raw:
            values["receiver_info"] = _pairs(raw["receiverInfo"], "notification.endpoint.receiverInfo")
        if "notifierInfo" in raw:
            values["notifier_info"] = _pairs(raw["notifierInfo"], "notification.endpoint.notifierInfo")
            _check_notifier_info(values["notifier_info"])
        return Endpoint(**values, explicit=tuple(sorted(known & raw.keys())))


def _endpoint_uri(raw: Any) -> str:
    if type(raw) is not str or not _absolute_uri(raw):
        raise BadRequestData(f"notification.endpoint.uri must be an absolute URI, got {_show(raw)}")
    try:
        parts = urlsplit(raw)
        if parts.hostname:
            parts.hostname.encode("idna")  # labels of 1 to 63 characters, or UnicodeError
    except (ValueError, UnicodeError) as error:
        raise BadRequestData(f"notification.endpoint.uri {_show(raw)} is not a usable URL: {error}") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise BadRequestData(f"notification.endpoint.uri: scheme {scheme!r} is not supported; use one of "
                             f"{', '.join(SCHEMES)}")
    if not parts.hostname:
        raise BadRequestData(f"notification.endpoint.uri {_show(raw)} names no host")
    try:
        port = parts.port  # a port out of range raises here
    except ValueError:
        port = 0
    if port == 0:
        raise BadRequestData(f"notification.endpoint.uri {_show(raw)} has an invalid port")
    if scheme.startswith("mqtt"):
        topic = unquote(parts.path.lstrip("/"))
        if topic.strip("/") == "":
            raise BadRequestData(f"notification.endpoint.uri {_show(raw)} names no MQTT topic: "
                                 "write it as the path, as mqtt://broker:1883/territoires/notifications")
        if any(c in "+#" or _control(c) for c in topic):
            raise BadRequestData(f"notification.endpoint.uri {_show(raw)}: an MQTT topic to publish to holds "
                                 "no wildcard (+, #) nor control character")
    return raw


def _control(character: str) -> bool:
    return character < " " or character == "\x7f"


def _pairs(raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    """KeyValuePair objects (clause 5.2.22): a string key and a string value each."""
    items = _list(raw, where, 'KeyValuePair objects, as [{"key": "X-Auth", "value": "…"}]')
    out: list[tuple[str, str]] = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise BadRequestData(f"{where}[{n}] must be an object with a key and a value, got {_show(item)}")
        _no_unknown(item, {"key", "value"}, f"{where}[{n}]")
        for member in ("key", "value"):
            if member not in item:
                raise BadRequestData(f"{where}[{n}] has no {member}")
            if type(item[member]) is not str:
                raise BadRequestData(f"{where}[{n}].{member} must be a string, got {_show(item[member])}")
        if not item["key"]:
            raise BadRequestData(f"{where}[{n}].key must not be empty")
        if any(_control(c) for c in item["key"] + item["value"]):
            # They become HTTP headers or MQTT user properties, which hold none.
            raise BadRequestData(f"{where}[{n}] holds a control character (a line break, U+0000…)")
        out.append((item["key"], item["value"]))
    return tuple(out)


def _check_notifier_info(pairs: tuple[tuple[str, str], ...]) -> None:
    for key, value in pairs:
        if key == "MQTT-Version" and value not in MQTT_VERSIONS:
            raise BadRequestData(f"notifierInfo MQTT-Version {value!r} is not one of {', '.join(MQTT_VERSIONS)}")
        if key == "MQTT-QoS" and value not in MQTT_QOS:
            raise BadRequestData(f"notifierInfo MQTT-QoS {value!r} is not one of {', '.join(MQTT_QOS)}")


def _no_unknown(raw: dict[str, Any], known: set[str] | frozenset[str], where: str) -> None:
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise BadRequestData(f"{where} has unknown member(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")


def _string(raw: Any, where: str) -> str:
    if type(raw) is not str or not raw:
        raise BadRequestData(f"{where} must be a non-empty string, got {_show(raw)}")
    return raw


def _list(raw: Any, where: str, what: str) -> list[Any]:
    if raw == []:
        raise BadRequestData(f"{where} is an empty array; expected a non-empty array of {what}")
    if not isinstance(raw, list):
        raise BadRequestData(f"{where} must be a non-empty array of {what}, got {_show(raw)}")
    return raw


def _positive(raw: Any, where: str, unit: str) -> float:
    if type(raw) not in (int, float) or not math.isfinite(raw) or raw <= 0:
        raise BadRequestData(f"{where} must be a number of {unit} greater than 0, got {_show(raw)}")
    return raw


def _absolute_uri(text: str) -> bool:
    try:
        validate_entity_id(text)
    except BadRequestData:
        return False
    return True


def _show(value: Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= 80 else text[:80] + "…"


# ---- rendering --------------------------------------------------------------------------------


def render_subscription(
    sub: Subscription, ctx: Context, *, now: str, sys_attrs: bool = False, delivery: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The subscription as a JSON-ready dict, names compacted under ``ctx``, with its
    ``status`` at ``now``. ``delivery`` holds the notification status members kept by the
    notifier (``timesSent``, ``lastSuccess``…, clause 5.2.14), shown inside ``notification``."""
    out: dict[str, Any] = {"id": sub.id, "type": TYPE}
    given = set(sub.explicit)
    compact = ctx.compact
    for name, value in (("subscriptionName", sub.subscription_name), ("description", sub.description)):
        if value is not None:
            out[name] = value
    if sub.entities:
        out["entities"] = [_render_selector(selector, compact) for selector in sub.entities]
    if sub.watched_attributes:
        out["watchedAttributes"] = [compact(name) for name in sub.watched_attributes]
    out["notificationTrigger"] = list(sub.notification_trigger)
    for name, value in (("q", sub.q_text), ("scopeQ", sub.scope_q_text), ("csf", sub.csf)):
        if value is not None:
            out[name] = value
    if sub.geo_q is not None:
        out["geoQ"] = _render_geo_q(sub.geo_q, compact)
    if "isActive" in given or not sub.is_active:
        out["isActive"] = sub.is_active
    for name, value in (("expiresAt", sub.expires_at), ("throttling", sub.throttling),
                        ("timeInterval", sub.time_interval), ("lang", sub.lang)):
        if value is not None:
            out[name] = value
    if sub.dataset_id is not None:
        out["datasetId"] = list(sub.dataset_id)
    if "jsonldContext" in given or implicit_context(sub):
        out["jsonldContext"] = sub.jsonld_context
    out["notification"] = _render_notification(sub.notification, compact, delivery or {})
    out["status"] = sub.status(now)
    if sys_attrs:
        out["createdAt"] = sub.created_at
        out["modifiedAt"] = sub.modified_at
    return out


def _selector_id(raw: Any, where: str) -> str:
    try:
        return validate_entity_id(raw)
    except BadRequestData:
        raise BadRequestData(f"{where} {_show(raw)} is not an absolute URI") from None


def _render_selector(selector: EntitySelector, compact: Callable[[str], str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if selector.id is not None:
        out["id"] = list(selector.id) if isinstance(selector.id, tuple) else selector.id
    if selector.id_pattern is not None:
        out["idPattern"] = selector.id_pattern
    out["type"] = type_text(selector.type, compact)
    return out


def type_text(expr: TypeExpr, compact: Callable[[str], str]) -> str:
    """A type expression written back (clause 4.17), names compacted; ``;`` binds tighter
    than ``|``, so only an "or" inside an "and" needs parentheses."""
    if isinstance(expr, query.TypeName):
        return compact(expr.iri)
    if isinstance(expr, query.And):
        return ";".join(f"({type_text(t, compact)})" if isinstance(t, query.Or) else type_text(t, compact)
                        for t in expr.terms)
    return "|".join(type_text(t, compact) for t in expr.terms)


def _render_geo_q(geo_q: geo.GeoQuery, compact: Callable[[str], str]) -> dict[str, Any]:
    georel = geo_q.georel
    for name, distance in (("maxDistance", geo_q.max_distance), ("minDistance", geo_q.min_distance)):
        if distance is not None:
            georel += f";{name}=={int(distance) if distance == int(distance) else distance}"
    out: dict[str, Any] = {"georel": georel, "geometry": geo_q.geometry["type"],
                           "coordinates": geo_q.geometry["coordinates"]}
    if geo_q.geoproperty != geo.LOCATION:
        out["geoproperty"] = compact(geo_q.geoproperty)
    return out


def _render_notification(params: NotificationParams, compact: Callable[[str], str],
                         delivery: dict[str, Any]) -> dict[str, Any]:
    given = set(params.explicit)
    out: dict[str, Any] = {}
    if params.attributes is not None:
        out["attributes"] = [compact(name) for name in params.attributes]
    for name, projection in (("pick", params.pick), ("omit", params.omit)):
        if projection is not None:
            out[name] = [n if n in query.ENTITY_MEMBER_NAMES else compact(n) for n in projection]
    for name, value, default in (("format", params.format, "normalized"), ("sysAttrs", params.sys_attrs, False),
                                 ("showChanges", params.show_changes, False)):
        if name in given or value != default:
            out[name] = value
    if params.join is not None:
        out["join"] = params.join
    if params.join_level is not None:
        out["joinLevel"] = params.join_level
    out["endpoint"] = _render_endpoint(params.endpoint)
    out.update({k: v for k, v in delivery.items() if k in _DELIVERY_MEMBERS})
    return out


def _render_endpoint(endpoint: Endpoint) -> dict[str, Any]:
    out: dict[str, Any] = {"uri": endpoint.uri}
    if "accept" in endpoint.explicit:
        out["accept"] = endpoint.accept
    for name, value in (("timeout", endpoint.timeout), ("cooldown", endpoint.cooldown)):
        if value is not None:
            out[name] = value
    for name, pairs in (("receiverInfo", endpoint.receiver_info), ("notifierInfo", endpoint.notifier_info)):
        if pairs or name in endpoint.explicit:
            out[name] = [{"key": key, "value": value} for key, value in pairs]
    return out


# ---- the stored document ------------------------------------------------------------------------
# Dataclasses are written as {"@": class name, field: value…}, tuples as arrays and JSON values
# of the client (a GeoJSON geometry, an inline @context) as {"@json": value}, so that reading
# gives back equal objects. Renaming a class or a field here changes stored documents.

_CLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (Subscription, NotificationParams, Endpoint, EntitySelector, geo.GeoQuery, query.AttrPath,
                query.LinkedPath, query.Value, query.Exists, query.Comparison, query.AnyOf, query.InRange, query.Pattern,
                query.Scope, query.TypeName, query.And, query.Or)
}


def _encode(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"@": type(value).__name__}
        for item in fields(value):
            if item.init:
                out[item.name] = _encode(getattr(value, item.name))
        return out
    if isinstance(value, tuple):
        return [_encode(item) for item in value]
    if isinstance(value, (dict, list)):
        return {"@json": value}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "@json" in value:
            return value["@json"]
        cls = _CLASSES.get(value.get("@", ""))
        if cls is None:
            raise ValueError(f"not a stored subscription part: {str(value)[:80]}")
        return cls(**{name: _decode(item) for name, item in value.items() if name != "@"})
    if isinstance(value, list):
        return tuple(_decode(item) for item in value)
    return value


__all__ = [
    "DEFAULT_TRIGGERS",
    "TRIGGERS",
    "Endpoint",
    "EntitySelector",
    "NotificationParams",
    "Subscription",
    "implicit_context",
    "instant",
    "merge_subscription",
    "needs_implicit_context",
    "new_id",
    "parse_subscription",
    "render_subscription",
    "type_text",
    "validate_context_url",
    "validate_subscription_id",
]


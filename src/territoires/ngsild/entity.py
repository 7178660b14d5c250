"""NGSI-LD input: an entity, a fragment or one attribute, as received, into the internal form.

Accepts the normalized and the concise representations (clauses 4.5.1-4.5.3, 4.5.18-4.5.24)
and validates them (clauses 4.6.2, 4.6.3, 4.18, 5.5.4).  Every name is expanded with the
request's :class:`~territoires.ngsild.context.Context`; values are kept as given, except
GeoProperty values (checked and parsed by :func:`geo.validate_geometry`), ``vocab`` values
(expanded) and ``objectList`` entries (reduced to their URIs).

Concise inference (clause 4.5.2.3 and its siblings): an attribute object without ``type`` is a
Property when it has ``value``, a Relationship with ``object``, a LanguageProperty with
``languageMap``, a VocabProperty with ``vocab``, a JsonProperty with ``json``, a ListProperty
with ``valueList``, a ListRelationship with ``objectList``; anything else is a bare Property
value.  A Property value that is a GeoJSON geometry makes a GeoProperty.  An array whose items
are all attribute objects holds several instances of the attribute (told apart by datasetId).

NGSI-LD Null (``"urn:ngsi-ld:null"``) is refused unless the caller allows it (partial update
and merge fragments, clause 5.5.4). JSON null is refused everywhere: no member admits it
(clause 5.2.1), and JSON-LD would silently drop it.  An accepted Null is kept
as the value of the member it stands for: an instance whose main member is ``NGSI_LD_NULL``
asks for the deletion of that attribute instance, a metadata member equal to it for the
deletion of that member (see :func:`is_null` and ``updates``).
"""

from __future__ import annotations

import re
from typing import Any

from .context import Context
from .errors import BadRequestData
from .geo import GEOMETRY_TYPES, plain_point, validate_geometry
from .model import ATTRIBUTE_TYPES, MAIN_MEMBER, NGSI_LD, NGSI_LD_NULL, Entity, Instance

__all__ = [
    "GEO_ATTRIBUTES",
    "MAX_SUB_ATTRIBUTE_DEPTH",
    "MAX_VALUE_DEPTH",
    "RESERVED_NAMES",
    "SCOPE",
    "is_null",
    "parse_attribute",
    "parse_attributes",
    "parse_entity",
    "parse_fragment",
    "validate_datetime",
    "validate_entity_id",
    "validate_name",
    "validate_scope",
]

MAX_SUB_ATTRIBUTE_DEPTH = 8  # attribute -> sub-attribute -> ... levels below the attribute
MAX_VALUE_DEPTH = 64  # nesting of arrays/objects inside a JSON value

SCOPE = NGSI_LD + "scope"
# Attributes the core context defines as GeoProperties, whatever the input calls them (clause 4.7.1).
GEO_ATTRIBUTES = frozenset(NGSI_LD + name for name in ("location", "observationSpace", "operationSpace"))

_MAIN_KEYS = frozenset(MAIN_MEMBER.values())
_INFERRED = {member: kind for kind, member in MAIN_MEMBER.items() if kind != "GeoProperty"}
# A concise value that is an object with one of these as "type" is a GeoProperty value, which
# geo.py then judges (refusing GeometryCollection with a clear message).  Any other object
# without NGSI-LD members is a Property value, even with a "type" (Smart Data Models values
# such as {"type": "PostalAddress", ...}), although clause 4.5.2.3 would read it as normalized.
_BARE_GEOMETRY = frozenset(GEOMETRY_TYPES) | {"GeometryCollection"}
# A "value" resolving to one of these makes the concise attribute a GeoProperty (clause 4.5.2.3).
_GEOMETRY = frozenset(GEOMETRY_TYPES)

# Members of an attribute object that are not sub-attributes, by role.
_SYSTEM = frozenset({"createdAt", "modifiedAt", "deletedAt", "instanceId"})  # ignored on input
_OUTPUT_ONLY = frozenset(
    {"previousValue", "previousObject", "previousLanguageMap", "previousVocab", "previousJson",
     "previousValueList", "previousObjectList", "entity", "entityList"}
)
_SEALED = frozenset({"entityIdSealed", "entityTypeSealed"})  # only inside "ngsildproof" (clause 4.5.2.2)
_NO_UNIT = frozenset({"Relationship", "LanguageProperty", "VocabProperty", "JsonProperty", "ListRelationship"})
_RELATIONSHIPS = frozenset({"Relationship", "ListRelationship"})
_RDF_LANG_STRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
_METADATA = frozenset({"datasetId", "observedAt", "unitCode", "objectType", "lang", "valueType", "expiresAt"})

# Core non-reified terms and members: never attribute or sub-attribute names (clause 4.5.1).
RESERVED_NAMES = frozenset(
    {"id", "@id", "type", "@type", "scope", "@context"}
    | _MAIN_KEYS | _METADATA | _SYSTEM | _OUTPUT_ONLY | _SEALED
)

_ENTITY_MEMBERS = frozenset(
    {"id", "@id", "type", "@type", "scope", "expiresAt", "@context", "createdAt", "modifiedAt", "deletedAt"}
)
_SCALARS = frozenset({str, int, float, bool})
# How reified() treats each member of an attribute object; any other member is a sub-attribute.
_SKIP, _META, _CONTENT, _REFUSED = 0, 1, 2, 3
_ROLE = (
    {"type": _SKIP} | dict.fromkeys(_SYSTEM, _SKIP) | dict.fromkeys(_METADATA, _META)
    | dict.fromkeys(_MAIN_KEYS, _CONTENT) | dict.fromkeys(_OUTPUT_ONLY | _SEALED | {"@context"}, _REFUSED)
)
_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]{1,6})?Z\Z")
_LANG_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*\Z")


def _invisible() -> str:
    # Characters that make an identifier render as another one: controls, spaces, format and
    # bidi controls, fillers, variation selectors, noncharacters (RFC 3986/3987, Unicode TR36).
    ranges = [
        "\x00-\x20", "\x7f-\xa0", "\xad", "\u034f", "\u115f\u1160", "\u17b4\u17b5", "\u180b-\u180f",
        "\u2000-\u200f", "\u2028-\u202f", "\u205f-\u206f", "\u2800", "\u3000", "\u3164", "\ud800-\udfff",
        "\ufdd0-\ufdef", "\ufe00-\ufe0f", "\ufeff", "\uffa0", "\ufff0-\uffff", "\U0001d173-\U0001d17a",
        "\U000e0000-\U000e0fff",
    ]
    ranges += [f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(1, 17)]
    return "".join(ranges)


_URI_BODY = "[^" + _invisible() + '<>"{}|\\\\^`]+'
_URI = re.compile("[A-Za-z][A-Za-z0-9+.\\-]*:" + _URI_BODY + r"\Z")
# The same for ASCII-only strings, the usual case, with a small character class (much faster).
_ASCII_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[!#-;=?-\[\]_a-z~]+\Z")
# Names that are IRIs: no character that needs quoting in a URI, nor those clause 4.6.4 warns of.
_IRI_NAME = re.compile("[A-Za-z][A-Za-z0-9+.\\-]*:[^" + _invisible() + "<>\"'{}|\\\\^`=;()]+\\Z")

_valid_datetimes: dict[str, str] = {}  # DateTimes already checked (a batch often repeats one)
_valid_names: dict[str, bool] = {}  # names already checked; bounded below
_attribute_names: dict[str, bool] = {}  # names already checked as attribute names
# Per Context, attribute names and entity types already checked -> their IRI (one lookup for
# the usual names); each dict is bounded by _NAMES_MEMO.
_known: dict[Context, tuple[dict[str, str], dict[str, str]]] = {}
_CONTEXTS_MEMO = 64
_valid_uris: dict[str, bool] = {}  # Relationship objects already checked (batches repeat targets)
_NAMES_MEMO = 65536


# ---- public validators ---------------------------------------------------------------------


def validate_entity_id(value: Any) -> str:
    """An entity id: an absolute URI (``scheme:rest``, RFC 3986; IRI characters allowed, but not
    whitespace, controls or invisible characters).  Raises BadRequestData."""
    if type(value) is not str:
        raise BadRequestData(f"An entity id must be a URI string, got {_kind(value)}")
    if (_ASCII_URI if value.isascii() else _URI).match(value) is None:
        raise BadRequestData(f"The entity id {_show(value)} is not an absolute URI (scheme:rest, no spaces)")
    return value


def validate_datetime(value: Any, where: str) -> str:
    """A DateTime of clause 4.6.3: ``YYYY-MM-DDThh:mm:ss[.ffffff]Z`` in UTC; a comma before the
    fraction is accepted and normalised to a point.  Offsets and local times are refused."""
    if type(value) is str:
        checked = _valid_datetimes.get(value)
        if checked is not None:
            return checked
    if type(value) is not str or _DATETIME.match(value) is None:
        raise BadRequestData(
            f"{where}: {_show(value)} is not a UTC DateTime (YYYY-MM-DDThh:mm:ss[.ffffff]Z, clause 4.6.3)"
        )
    month, day = int(value[5:7]), int(value[8:10])
    if not (
        1 <= month <= 12 and 1 <= day <= _DAYS[month] and value[11:13] < "24" and value[14:16] < "60"
        and value[17:19] < "60" and (month != 2 or day < 29 or _leap(int(value[:4])))
    ):
        raise BadRequestData(f"{where}: {_show(value)} is not a calendar date and time")
    if len(_valid_datetimes) >= _NAMES_MEMO:
        _valid_datetimes.clear()
    checked = _valid_datetimes[value] = value.replace(",", ".") if "," in value else value
    return checked


def validate_scope(value: Any, where: str = "scope") -> str:
    """One Scope of clause 4.18: ``[/]Level(/Level)*``, a level being a letter then letters,
    digits or underscores."""
    if type(value) is not str or not value:
        raise BadRequestData(f"{where}: a Scope must be a non-empty string such as /Rennes/Nord, got {_show(value)}")
    body = value[1:] if value[0] == "/" else value
    for level in body.split("/"):
        if not (level and level[0].isalpha() and level.replace("_", "").isalnum()):
            raise BadRequestData(
                f"{where}: {_show(value)} is not a Scope: each level starts with a letter and holds only "
                "letters, digits and '_' (clause 4.18)"
            )
    return value


def validate_name(name: Any, where: str) -> str:
    """An entity type, attribute or sub-attribute name (clause 4.6.2): a letter followed by
    letters, digits or '_', optionally ``prefix:name``; or an absolute IRI."""
    if type(name) is str and _valid_names.get(name):
        return name
    if type(name) is not str or not name:
        raise BadRequestData(f"{where}: a name must be a non-empty string, got {_show(name)}")
    prefix, colon, rest = name.partition(":")
    if colon and not rest.startswith("//") and _is_plain(prefix) and _is_plain(rest):
        pass  # prefix:name
    elif colon and _IRI_NAME.match(name) is not None:
        pass  # an IRI
    elif colon or not _is_plain(name):
        raise BadRequestData(
            f"{where}: {_show(name)} is not a valid name: a letter followed by letters, digits or '_' "
            "(optionally prefix:name), or an absolute IRI (clause 4.6.2)"
        )
    if len(_valid_names) >= _NAMES_MEMO:
        _valid_names.clear()
    _valid_names[name] = True
    return name


def is_null(instance: Instance) -> bool:
    """True when a parsed fragment instance is the NGSI-LD Null: it asks to delete what it names."""
    if NGSI_LD_NULL not in instance.values():  # the usual case, in one pass over the members
        return False
    for member in _MAIN_KEYS:
        if instance.get(member) == NGSI_LD_NULL:
            return True
    return False


# ---- public parsers ------------------------------------------------------------------------


def parse_entity(body: Any, ctx: Context, *, now: str, require_type: bool = True) -> Entity:
    """A whole entity (create, replace, batch create/upsert), normalized or concise.

    ``createdAt``/``modifiedAt`` of the entity and of every instance are ``now``; system
    attributes in the input are ignored.  Raises BadRequestData.
    """
    global _entity_parser
    parser = _entity_parser
    if parser is None or parser.ctx is not ctx or parser.now != now:  # a batch shares ctx and now
        parser = _entity_parser = _Parser(ctx, now, False, False, False)
    entity = parser.entity(body, "entity", True)
    if require_type and not entity["type"]:
        raise BadRequestData(f"The entity {entity['id']} has no type: 'type' is mandatory (clause 4.5.1)")
    return entity


def parse_fragment(
    body: Any, ctx: Context, *, now: str, allow_null: bool = False, merge: bool = False
) -> Entity:
    """An Entity Fragment (append, update, merge): ``{"attrs": {...}}`` plus ``"type"`` (types to
    add), ``"scope"`` and ``"id"`` when the fragment has them.

    ``allow_null`` accepts NGSI-LD Nulls as deletion requests (update, merge); ``merge`` also
    accepts them inside JSON object values (RFC 7396 merge, clause 5.5.12).
    """
    return _Parser(ctx, now, allow_null or merge, merge, False).entity(body, "fragment", require_id=False)


def parse_attributes(
    body: Any, ctx: Context, *, now: str, allow_null: bool = False, merge: bool = False
) -> dict[str, list[Instance]]:
    """The attributes of a fragment, by expanded name; a fragment naming ``type``, ``scope``
    or ``id`` is refused here (use :func:`parse_fragment` where those are meaningful)."""
    fragment = parse_fragment(body, ctx, now=now, allow_null=allow_null, merge=merge)
    extra = [member for member in ("id", "type", "scope") if member in fragment]
    if extra:
        raise BadRequestData(f"Only attributes are expected here, not {', '.join(extra)}")
    return fragment["attrs"]


def parse_attribute(
    name: str, body: Any, ctx: Context, *, now: str, allow_null: bool = False, partial: bool = False
) -> list[Instance]:
    """One attribute given on its own (PATCH or PUT ``/attrs/{attrId}``): its instances.

    ``partial`` parses a partial update fragment (clause 5.6.4): members may be missing and
    ``type`` is only present when the input gives it.
    """
    parser = _Parser(ctx, now, allow_null, False, partial)
    iri = parser.attribute_name(name, "attribute name")
    if partial and type(body) is dict and not body:
        raise BadRequestData(f"{name}: the attribute fragment is empty")
    instances = parser.instances(iri, name, body)
    if name.endswith("ngsildproof"):
        _check_proof(name, instances)
    return instances


# ---- the parser ----------------------------------------------------------------------------


class _Parser:
    """Holds one request's settings; never changed once made, so parse_entity() may reuse it."""

    __slots__ = ("allow_null", "ctx", "known", "known_types", "merge", "now", "partial")

    def __init__(self, ctx: Context, now: str, allow_null: bool, merge: bool, partial: bool) -> None:
        self.ctx = ctx
        self.now = now
        self.allow_null = allow_null
        self.merge = merge
        self.partial = partial
        # Attribute names and entity types already checked under ctx -> their IRI.
        self.known, self.known_types = _known.get(ctx) or _known_of(ctx)

    # entity level

    def entity(self, body: Any, what: str, require_id: bool) -> Entity:
        if type(body) is not dict:
            raise BadRequestData(f"An {what} must be a JSON object, got {_kind(body)}")
        now = self.now
        plain = not self.allow_null  # _plain() knows nothing of NGSI-LD Nulls
        known = self.known
        known_types = self.known_types
        entity: Entity = {}
        types: list[str] = []
        attrs: dict[str, list[Instance]] = {}
        for key, raw in body.items():
            iri = known.get(key)  # never an entity member: those are reserved names
            if iri is None and key not in _ENTITY_MEMBERS:
                iri = self.attribute_name(key, "attribute")
                if len(known) >= _NAMES_MEMO:
                    known.clear()
                known[key] = iri
            if iri is not None:
                instance = _plain(iri, key, raw, now) if plain and type(raw) is dict else None
                if instance is not None:  # the common case: one attribute object of a usual shape
                    instances = [instance]
                elif type(raw) is dict:
                    kind = raw.get("type")
                    if type(kind) is str and kind in ATTRIBUTE_TYPES:
                        instances = [self.reified(iri, key, raw, kind, 0, True)]
                    else:
                        instances = [self.instance(iri, key, raw, 0)]
                else:
                    instances = self.instances(iri, key, raw)
                if key.endswith("ngsildproof"):
                    _check_proof(key, instances)
                if iri in attrs:  # two names expanding to one IRI
                    instances = attrs[iri] + instances
                    _check_datasets(key, instances)
                attrs[iri] = instances
            elif raw == NGSI_LD_NULL and not self.allow_null:
                # id, type, scope...: an entity member is never the NGSI-LD Null outside fragments (clause 5.5.4)
                raise _null_refused(key)
            elif raw == NGSI_LD_NULL and key in ("id", "@id", "type", "@type"):
                # Every entity keeps an id and a type: a fragment cannot delete them (clause 4.5.1).
                raise BadRequestData(f"{key}: an entity's {key.lstrip('@')} cannot be deleted (urn:ngsi-ld:null)")
            elif key == "id" or key == "@id":
                entity["id"] = validate_entity_id(raw)
            elif key == "type" or key == "@type":
                known_type = known_types.get(raw) if type(raw) is str else None
                if known_type is not None:
                    types = [known_type]
                else:
                    types = self.types(raw)
                    if type(raw) is str:
                        if len(known_types) >= _NAMES_MEMO:
                            known_types.clear()
                        known_types[raw] = types[0]
            elif key == "scope":
                entity["scope"] = self.scopes(raw)
            elif key == "expiresAt":  # NGSI-LD Null reaches here in fragments only: it removes the member
                entity["expiresAt"] = raw if raw == NGSI_LD_NULL else validate_datetime(raw, "expiresAt")
            # else @context (applied by the caller) or a system attribute (ours to set)
        if "id" not in entity and require_id:
            raise BadRequestData("The entity has no id: 'id' is mandatory (clause 4.5.1)")
        if require_id or types:
            entity["type"] = types
        entity["createdAt"] = now
        entity["modifiedAt"] = now
        entity["attrs"] = attrs
        return entity

    def types(self, raw: Any) -> list[str]:
        names = raw if type(raw) is list else [raw]
        if not names:
            raise BadRequestData("type: an entity needs at least one type")
        expand = self.ctx.expand
        types: list[str] = []
        for name in names:
            iri = expand(validate_name(name, "type"))
            if iri.startswith("@"):
                raise BadRequestData(f"type: {_show(name)} names a JSON-LD keyword, not an entity type")
            if iri not in types:
                types.append(iri)
        return types

    def scopes(self, raw: Any) -> list[str] | str:
        if raw == NGSI_LD_NULL and self.allow_null:
            return NGSI_LD_NULL  # delete the scope
        values = raw if type(raw) is list else [raw]
        if not values:
            raise BadRequestData("scope: give at least one Scope, or leave scope out")
        scopes: list[str] = []
        for value in values:
            if validate_scope(value) not in scopes:
                scopes.append(value)
        return scopes

    def attribute_name(self, name: Any, where: str) -> str:
        if type(name) is not str or name not in _attribute_names:
            validate_name(name, where)
            if name in RESERVED_NAMES:
                raise BadRequestData(
                    f"{where}: {_show(name)} is a reserved NGSI-LD member and cannot name an attribute (clause 4.5.1)"
                )
            if len(_attribute_names) >= _NAMES_MEMO:
                _attribute_names.clear()
            _attribute_names[name] = True
        iri = self.ctx.expand(name)
        if iri[0] == "@":
            raise BadRequestData(f"{where}: {_show(name)} expands to the JSON-LD keyword {iri}")
        return iri

    # attribute level

    def instances(self, iri: str, name: str, raw: Any) -> list[Instance]:
        if type(raw) is list and raw and all(_looks_like_attribute(item) for item in raw):
            instances = [self.instance(iri, name, item, 0) for item in raw]
            _check_datasets(name, instances)
            return instances
        return [self.instance(iri, name, raw, 0)]

    def instance(self, iri: str, path: str, raw: Any, depth: int) -> Instance:
        if type(raw) is dict:
            kind = raw.get("type")
            if kind is None:
                found = [key for key in raw if key in _MAIN_KEYS]
                if len(found) == 1:
                    return self.reified(iri, path, raw, _INFERRED[found[0]], depth, False)
                if found:
                    raise BadRequestData(
                        f"{path}: an attribute has one of {', '.join(sorted(found))}, not several"
                    )
                if self.partial and depth == 0:
                    return self.reified(iri, path, raw, None, depth, False)
            elif type(kind) is str and kind in ATTRIBUTE_TYPES:
                return self.reified(iri, path, raw, kind, depth, True)
            elif not _MAIN_KEYS.isdisjoint(raw):
                raise BadRequestData(
                    f"{path}: unknown attribute type {_show(kind)}; expected one of "
                    f"{', '.join(sorted(ATTRIBUTE_TYPES))} (or a GeoJSON geometry as a concise value)"
                )
            if "@context" in raw:
                raise BadRequestData(f"{path}: an attribute cannot carry its own @context (clause 5.5.7)")
        return self.bare(iri, path, raw, depth)

    def bare(self, iri: str, path: str, raw: Any, depth: int) -> Instance:
        """A concise Property given by its value alone."""
        if raw is None or raw == NGSI_LD_NULL:
            return self.null_instance(path, raw)
        if type(raw) is list and depth > 0 and raw and all(_looks_like_attribute(item) for item in raw):
            raise BadRequestData(f"{path}: a sub-attribute has a single instance, not an array of them")
        if iri in GEO_ATTRIBUTES or _is_bare_geometry(raw):
            instance: Instance = {"type": "GeoProperty", "value": validate_geometry(raw, path)}
        else:
            self.json_value(raw, path, 0)
            instance = {"type": "Property", "value": raw}
        if not self.partial or depth > 0:
            instance["createdAt"] = instance["modifiedAt"] = self.now
        else:
            del instance["type"]  # a partial fragment keeps the target's type
        return instance

    def null_instance(self, path: str, raw: Any) -> Instance:
        _refuse_json_null(path, raw)
        if not self.allow_null:
            raise _null_refused(path)
        return {"type": "Property", "value": NGSI_LD_NULL}

    def reified(
        self, iri: str, path: str, raw: dict[str, Any], kind: str | None, depth: int, explicit: bool
    ) -> Instance:
        top_of_partial = depth == 0 and self.partial
        if not explicit and kind == "Property" and _is_geometry(raw.get("value")):
            kind = "GeoProperty"  # clause 4.5.2.3: a geometry value makes a GeoProperty
        if iri in GEO_ATTRIBUTES and kind is not None:
            if kind != "Property" and kind != "GeoProperty":
                raise BadRequestData(f"{path}: this attribute is a GeoProperty (clause 4.7.1), not a {kind}")
            kind = "GeoProperty"
        if kind is None:
            main = None
            instance: Instance = {}
        else:
            main = MAIN_MEMBER[kind]
            instance = {"type": kind} if explicit or not top_of_partial else {}
        subs: dict[str, Instance] | None = None
        for key, value in raw.items():
            role = _ROLE.get(key)
            if role == _CONTENT:
                if key == main:
                    if (kind == "Property" and type(value) in _SCALARS and value != NGSI_LD_NULL
                            and iri not in GEO_ATTRIBUTES):
                        instance[key] = value  # the common case, inline
                    else:
                        instance[key] = self.main(iri, kind, path, value)  # type: ignore[arg-type]
                elif kind is None:  # partial fragment without type: the member tells the kind
                    instance[key] = self.main(iri, _INFERRED[key], path, value)
                    main = key
                else:
                    raise BadRequestData(f"{path}: a {kind} cannot have a '{key}' member (clause 4.5)")
            elif role == _META:
                self.metadata(instance, kind, path, key, value)
            elif role == _SKIP:
                continue
            elif role == _REFUSED:
                if key == "@context":
                    raise BadRequestData(f"{path}: an attribute cannot carry its own @context (clause 5.5.7)")
                if key in _OUTPUT_ONLY:
                    raise BadRequestData(f"{path}: '{key}' is an output-only member and cannot be given")
                if not path.endswith("ngsildproof") or type(value) is not str:
                    raise BadRequestData(f"{path}: '{key}' is only allowed as a string inside ngsildproof")
                instance[key] = value
            else:
                if depth >= MAX_SUB_ATTRIBUTE_DEPTH:
                    raise BadRequestData(
                        f"{path}: sub-attributes are nested more than {MAX_SUB_ATTRIBUTE_DEPTH} levels deep"
                    )
                sub_iri = self.attribute_name(key, f"{path}: sub-attribute")
                if subs is None:
                    subs = {}
                elif sub_iri in subs:
                    raise BadRequestData(f"{path}.{key}: this sub-attribute is given twice under two names")
                subs[sub_iri] = self.instance(sub_iri, f"{path}.{key}", value, depth + 1)
        if main is not None and main not in instance and not top_of_partial:
            raise BadRequestData(f"{path}: a {kind} must have a '{main}' member (clause 4.5)")
        if subs is not None:
            instance["attrs"] = subs
        if not top_of_partial:
            instance["createdAt"] = instance["modifiedAt"] = self.now
        return instance

    def metadata(self, instance: Instance, kind: str | None, path: str, key: str, value: Any) -> None:
        if value == NGSI_LD_NULL and self.allow_null and key != "datasetId":
            instance[key] = NGSI_LD_NULL  # delete this member
            return
        if key == "datasetId":
            if value == NGSI_LD_NULL:
                raise BadRequestData(f"{path}: a datasetId cannot be deleted with urn:ngsi-ld:null (clause 5.5.8)")
            if value != "@none":  # the default instance
                instance[key] = _uri(value, f"{path}.datasetId")
        elif key == "observedAt" or key == "expiresAt":
            instance[key] = validate_datetime(value, f"{path}.{key}")
        elif key == "unitCode":
            if kind in _NO_UNIT:
                raise BadRequestData(f"{path}: a {kind} has no unitCode (clause 4.5)")
            if type(value) is not str or not value:
                raise BadRequestData(f"{path}.unitCode: a UN/CEFACT unit code string is expected, got {_show(value)}")
            instance[key] = value
        elif key == "objectType":
            if kind is not None and kind not in _RELATIONSHIPS:
                raise BadRequestData(f"{path}: only a Relationship has an objectType (clause 4.5.23)")
            names = value if type(value) is list and value else [value]
            expand = self.ctx.expand
            types = [expand(validate_name(name, f"{path}.objectType")) for name in names]
            instance[key] = types if type(value) is list else types[0]
        elif key == "lang":
            if kind is not None and kind != "Property":
                raise BadRequestData(f"{path}: only a Property has a lang member")
            if type(value) is not str or _LANG_TAG.match(value) is None:
                raise BadRequestData(f"{path}.lang: {_show(value)} is not a language tag (RFC 5646)")
            instance[key] = value
        else:  # valueType
            if kind in _RELATIONSHIPS:
                raise BadRequestData(f"{path}: a {kind} has no valueType")
            if type(value) is not str or not value:
                raise BadRequestData(f"{path}.valueType: a datatype name or IRI is expected, got {_show(value)}")
            expanded = self.ctx.expand_vocab(value)
            if kind == "LanguageProperty" and value != "langString" and expanded != _RDF_LANG_STRING:
                raise BadRequestData(
                    f"{path}.valueType: a LanguageProperty's valueType is langString (clause 5.2.32), got {_show(value)}"
                )
            instance[key] = expanded

    def main(self, iri: str, kind: str, path: str, value: Any) -> Any:
        """The content member of an attribute of ``kind``, checked (and normalised where the
        internal form says so)."""
        if kind == "Property":
            if value is None or value == NGSI_LD_NULL:
                return self.null_value(path, "value", value)
            if type(value) in _SCALARS:
                if iri in GEO_ATTRIBUTES:  # a partial fragment of location & co. (string-encoded geometry)
                    return validate_geometry(value, f"{path}.value")
                return value
            if iri in GEO_ATTRIBUTES:
                return validate_geometry(value, f"{path}.value")
            self.json_value(value, f"{path}.value", 0)
            return value
        if kind == "GeoProperty":
            if value is None or value == NGSI_LD_NULL:
                return self.null_value(path, "value", value)
            return validate_geometry(value, f"{path}.value")
        if kind == "Relationship":
            if value is None or value == NGSI_LD_NULL:
                return self.null_value(path, "object", value)
            if type(value) is list:
                if not value:
                    raise BadRequestData(f"{path}.object: an empty array names no entity")
                return [_uri(item, f"{path}.object") for item in value]
            return _uri(value, f"{path}.object")
        if kind == "LanguageProperty":
            return self.language_map(path, value)
        if kind == "VocabProperty":
            if value == NGSI_LD_NULL:
                return self.null_value(path, "vocab", value)
            expand = self.ctx.expand_vocab
            if type(value) is list and value and all(type(item) is str and item for item in value):
                return [expand(item) for item in value]
            if type(value) is str and value:
                return expand(value)
            raise BadRequestData(f"{path}.vocab: a term or IRI, or an array of them, is expected, got {_show(value)}")
        if kind == "JsonProperty":
            if value == NGSI_LD_NULL:
                return self.null_value(path, "json", value)
            if not (type(value) is dict or (type(value) is list and all(type(item) is dict for item in value))):
                raise BadRequestData(
                    f"{path}.json: a JSON object or an array of objects is expected, got {_kind(value)}"
                )
            _check_depth(value, f"{path}.json", 0)
            return value
        if kind == "ListProperty":
            if type(value) is not list:
                raise BadRequestData(f"{path}.valueList: an array is expected, got {_kind(value)}")
            if value == [NGSI_LD_NULL]:
                return self.null_value(path, "valueList", value)
            self.json_value(value, f"{path}.valueList", 0)
            return value
        # ListRelationship
        if type(value) is not list:
            raise BadRequestData(f"{path}.objectList: an array of URIs is expected, got {_kind(value)}")
        objects = [item["object"] if type(item) is dict and item.keys() == {"object"} else item for item in value]
        if objects == [NGSI_LD_NULL]:
            return self.null_value(path, "objectList", value)
        return [_uri(item, f"{path}.objectList") for item in objects]

    def null_value(self, path: str, member: str, value: Any) -> str:
        _refuse_json_null(f"{path}.{member}", value)
        if not self.allow_null:
            raise _null_refused(f"{path}.{member}")
        return NGSI_LD_NULL

    def language_map(self, path: str, value: Any) -> Any:
        if value is None or value == NGSI_LD_NULL:
            return self.null_value(path, "languageMap", value)
        if type(value) is not dict or not value:
            raise BadRequestData(f"{path}.languageMap: a non-empty JSON object of language tags is expected")
        if value == {"@none": NGSI_LD_NULL}:
            return self.null_value(path, "languageMap", value)
        for tag, text in value.items():
            if tag != "@none" and _LANG_TAG.match(tag) is None:
                raise BadRequestData(f"{path}.languageMap: {_show(tag)} is not a language tag (RFC 5646)")
            if not (type(text) is str or (type(text) is list and text and all(type(t) is str for t in text))):
                raise BadRequestData(
                    f"{path}.languageMap.{tag}: a string or an array of strings is expected, got {_kind(text)}"
                )
        return value

    def json_value(self, value: Any, path: str, depth: int) -> None:
        """A Property value: JSON only, not too deep, and no NGSI-LD Null as an object member
        outside merges (clause 5.5.4)."""
        kind = type(value)
        if kind in _SCALARS:
            return
        if depth >= MAX_VALUE_DEPTH:
            raise BadRequestData(f"{path}: the value is nested more than {MAX_VALUE_DEPTH} levels deep")
        if kind is dict:
            for key, item in value.items():
                if item == NGSI_LD_NULL and not self.merge:
                    raise BadRequestData(
                        f"{path}.{key}: urn:ngsi-ld:null inside a value is only allowed in merge fragments "
                        "(clause 5.5.4)"
                    )
                if item is not None:
                    self.json_value(item, path, depth + 1)
        elif kind is list:
            for item in value:
                if item is not None:
                    self.json_value(item, path, depth + 1)
        else:
            raise BadRequestData(f"{path}: {_kind(value)} is not a JSON value")


# ---- helpers -------------------------------------------------------------------------------


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _known_of(ctx: Context) -> tuple[dict[str, str], dict[str, str]]:
    if len(_known) >= _CONTEXTS_MEMO:
        _known.clear()
    known = _known[ctx] = ({}, {})
    return known


_entity_parser: _Parser | None = None  # the last one parse_entity() made


def _plain(iri: str, name: str, raw: dict[str, Any], now: str) -> Instance | None:
    """The common attribute shapes in normalized form (a Property with a scalar or flat value,
    a Relationship to one entity, a GeoProperty Point; unitCode, observedAt), built exactly as
    _Parser.reified() would; None for anything else, which reified() then handles (and refuses
    when it must)."""
    kind = raw.get("type")
    if type(kind) is not str:
        return None
    if iri in GEO_ATTRIBUTES:
        if kind != "Property" and kind != "GeoProperty":
            return None
        kind = "GeoProperty"
    # The main member is checked first: whatever the order of members, a doubtful one leaves
    # the whole attribute to reified(), so that it raises what it would have raised.
    if kind == "Property":
        main = "value"
        value = raw.get("value")
        if type(value) in _SCALARS:
            if value == NGSI_LD_NULL:
                return None
        elif not _flat(value):
            return None
    elif kind == "Relationship":
        main = "object"
        value = raw.get("object")
        if type(value) is not str:
            return None
        if value not in _valid_uris:
            if value == NGSI_LD_NULL or (_ASCII_URI if value.isascii() else _URI).match(value) is None:
                return None
            if len(_valid_uris) >= _NAMES_MEMO:
                _valid_uris.clear()
            _valid_uris[value] = True
    elif kind == "GeoProperty":
        main = "value"
        value = plain_point(raw.get("value"))
        if value is None:
            return None
    else:
        return None
    if len(raw) == 2:  # "type" and the main member
        return {"type": kind, main: value, "createdAt": now, "modifiedAt": now}
    instance: Instance = {"type": kind}
    for key, item in raw.items():
        if key == main:
            instance[key] = value
        elif key == "type" or key in _SYSTEM:
            continue
        elif key == "unitCode":
            if kind == "Relationship" or type(item) is not str or not item:
                return None
            instance[key] = item
        elif key == "observedAt":
            checked = _valid_datetimes.get(item) if type(item) is str else None
            # Every member before this one is good: its error is the one reified() would raise.
            instance[key] = checked if checked is not None else validate_datetime(item, f"{name}.observedAt")
        else:
            return None
    instance["createdAt"] = instance["modifiedAt"] = now
    return instance


def _flat(value: Any) -> bool:
    """A JSON object or array of scalars (or nulls) that _Parser.json_value() accepts outside merges."""
    if type(value) is dict:
        for item in value.values():
            if type(item) in _SCALARS:
                if item == NGSI_LD_NULL:
                    return False
            elif item is not None:
                return False
        return True
    if type(value) is list:
        for item in value:
            if type(item) not in _SCALARS and item is not None:
                return False
        return True
    return False


def _is_bare_geometry(value: Any) -> bool:
    if type(value) is not dict:
        return False
    kind = value.get("type")
    return type(kind) is str and kind in _BARE_GEOMETRY


def _is_geometry(value: Any) -> bool:
    if type(value) is not dict:
        return False
    kind = value.get("type")
    return type(kind) is str and kind in _GEOMETRY


def _refuse_json_null(where: str, value: Any) -> None:
    if value is None:
        raise BadRequestData(
            f"{where}: JSON null is not a value in NGSI-LD (clause 5.2.1); to delete, use \"urn:ngsi-ld:null\""
        )


def _null_refused(where: str) -> BadRequestData:
    return BadRequestData(f"{where}: urn:ngsi-ld:null is only allowed in update and merge fragments (clause 5.5.4)")


def _looks_like_attribute(item: Any) -> bool:
    if type(item) is not dict:
        return False
    kind = item.get("type")
    return (type(kind) is str and kind in ATTRIBUTE_TYPES) or not _MAIN_KEYS.isdisjoint(item)


def _check_proof(name: str, instances: list[Instance]) -> None:
    """Clause 4.5.2.2: ngsildproof is a Property whose value is a W3C Data Integrity proof, an
    object (a fragment may leave the value out, or delete the proof with NGSI-LD Null)."""
    for instance in instances:
        value = instance.get("value", {})
        if instance.get("type", "Property") != "Property" or (type(value) is not dict and value != NGSI_LD_NULL):
            raise BadRequestData(f"{name}: ngsildproof is a Property whose value is a W3C Data Integrity proof, "
                                 "a JSON object (clause 4.5.2.2)")


def _check_datasets(name: str, instances: list[Instance]) -> None:
    seen: set[Any] = set()
    for instance in instances:
        dataset = instance.get("datasetId")
        if dataset in seen:
            which = f"datasetId {dataset}" if dataset is not None else "no datasetId (the default instance)"
            raise BadRequestData(f"{name}: two instances have {which}; each datasetId may appear once (clause 4.5.5)")
        seen.add(dataset)


def _check_depth(value: Any, path: str, depth: int) -> None:
    if depth >= MAX_VALUE_DEPTH:
        raise BadRequestData(f"{path}: the value is nested more than {MAX_VALUE_DEPTH} levels deep")
    if type(value) is dict:
        for item in value.values():
            if type(item) is dict or type(item) is list:
                _check_depth(item, path, depth + 1)
    elif type(value) is list:
        for item in value:
            if type(item) is dict or type(item) is list:
                _check_depth(item, path, depth + 1)


def _uri(value: Any, where: str) -> str:
    if type(value) is not str or (_ASCII_URI if value.isascii() else _URI).match(value) is None:
        raise BadRequestData(f"{where}: {_show(value)} is not an absolute URI")
    return value


def _is_plain(name: str) -> bool:
    return bool(name) and name[0].isalpha() and name.replace("_", "").isalnum()


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
             int: "a number", float: "a number"}
    return names.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."

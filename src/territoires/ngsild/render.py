"""NGSI-LD output: an internal entity rendered under a request's @context.

Three forms (clause 4.5 and the ``options``/``format`` parameters of clause 6.3):

- ``normalized``: every attribute as an object with its ``type`` (clauses 4.5.2.2, 4.5.3.2...);
- ``concise``: lossless but terse (clauses 4.5.2.3, 4.5.3.3...): ``type`` is left out wherever
  the parser of :mod:`entity` infers it back, and a Property with nothing but its value is that
  value; what would be read back as something else keeps its ``type`` or its ``value`` member;
- ``keyValues`` (simplified, clause 4.5.4): each attribute by its value, object, or a one-member
  object for LanguageProperty, VocabProperty and JsonProperty; several instances of an attribute
  as ``{"dataset": {datasetId or "@none": value}}``.

Options: ``sys_attrs`` adds ``createdAt``/``modifiedAt`` (and ``expiresAt`` where known,
clause 6.3.11); ``attrs`` projects attributes; ``pick``/``omit`` (clause 4.21) keep or drop
top-level members, ``id``, ``type`` and ``scope`` included; ``lang`` (clause 4.15) turns every
LanguageProperty into a Property holding the best matching string, with a ``lang`` member;
``dataset_id`` keeps only the instances of those datasetIds (``"@none"``: the default instance).

The result shares JSON values with the entity (no copies): serialise it, do not mutate it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from .context import Context
from .entity import SCOPE
from .errors import BadRequestData
from .geo import GEOMETRY_TYPES
from .model import MAIN_MEMBER, Entity, Instance

__all__ = ["FORMS", "render_entity"]

FORMS = frozenset({"normalized", "concise", "keyValues"})

_MAIN_KEYS = frozenset(MAIN_MEMBER.values())
_GEOMETRY = frozenset(GEOMETRY_TYPES)
_ATTRIBUTE_TYPES = frozenset(MAIN_MEMBER)
# Instance members copied as they are; expiresAt and the system attributes only with sysAttrs.
_PLAIN = ("datasetId", "observedAt", "unitCode", "lang", "entityIdSealed", "entityTypeSealed")
_MEMBER_ALIASES = {"@id": "id", "@type": "type", SCOPE: "scope"}


def render_entity(
    entity: Entity,
    ctx: Context,
    *,
    form: str = "normalized",
    sys_attrs: bool = False,
    attrs: frozenset[str] | None = None,
    pick: frozenset[str] | None = None,
    omit: frozenset[str] | None = None,
    lang: str | None = None,
    dataset_id: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The entity as a JSON-ready dict in ``form``.  ``attrs``, ``pick`` and ``omit`` hold
    expanded attribute names; ``pick``/``omit`` may also hold ``id``, ``type`` and ``scope``."""
    if form not in FORMS:
        raise BadRequestData(f"Unknown representation {form!r}; expected one of {', '.join(sorted(FORMS))}")
    if pick is not None:
        pick = _members(pick)
    if omit is not None:
        omit = _members(omit)
    renderer = _Renderer(ctx, form, sys_attrs, _preferences(lang) if lang is not None else None)
    out: dict[str, Any] = {}
    if _keep("id", pick, omit):
        out["id"] = entity["id"]
    types = entity.get("type")
    if types and _keep("type", pick, omit):
        compact = ctx.compact
        out["type"] = compact(types[0]) if len(types) == 1 else [compact(t) for t in types]
    scope = entity.get("scope")
    if scope and _keep("scope", pick, omit):
        out["scope"] = scope[0] if len(scope) == 1 else scope
    if sys_attrs:
        _system(entity, out)
    compact = ctx.compact
    for iri, instances in entity["attrs"].items():
        # In a temporal representation the Scope is an attribute (clause 4.5.6), still picked as "scope".
        if (attrs is not None and iri not in attrs) or not _keep(_MEMBER_ALIASES.get(iri, iri), pick, omit):
            continue
        if dataset_id is not None:
            instances = [i for i in instances if i.get("datasetId", "@none") in dataset_id]
            if not instances:
                continue
        out[compact(iri)] = renderer.attribute(instances)
    return out


# ---- attributes ----------------------------------------------------------------------------


class _Renderer:
    __slots__ = ("ctx", "form", "langs", "sys_attrs")

    def __init__(self, ctx: Context, form: str, sys_attrs: bool, langs: tuple[str, ...] | None) -> None:
        self.ctx = ctx
        self.form = form
        self.sys_attrs = sys_attrs
        self.langs = langs

    def attribute(self, instances: list[Instance]) -> Any:
        if self.form == "keyValues":
            if len(instances) == 1 and "datasetId" not in instances[0]:
                return self.simplified(instances[0])
            return {"dataset": {i.get("datasetId", "@none"): self.simplified(i) for i in instances}}
        if len(instances) == 1:
            return self.instance(instances[0], bare=True)
        # In an array every item must read back as an attribute object, never as a bare value.
        return [self.instance(i, bare=False) for i in instances]

    def instance(self, instance: Instance, bare: bool) -> Any:
        """Normalized or concise: the instance as an attribute object (or, concise and ``bare``,
        possibly as its value alone)."""
        ctx = self.ctx
        kind = instance["type"]
        concise = self.form == "concise"
        out: dict[str, Any] = {}
        if kind == "LanguageProperty" and self.langs is not None:
            tag, text = _choose(instance["languageMap"], self.langs)
            kind = "Property"
            if not concise or _needs_type(text):
                out["type"] = kind
            out["value"] = text
            out["lang"] = tag
        else:
            main = MAIN_MEMBER[kind]
            content = instance[main]
            if kind == "VocabProperty":
                compact = ctx.compact_vocab
                content = [compact(v) for v in content] if type(content) is list else compact(content)
            elif kind == "ListRelationship" and not concise:
                content = [{"object": uri} for uri in content]
            if not concise or (kind == "Property" and _needs_type(content)):
                out["type"] = kind
            out[main] = content
        for member in _PLAIN:
            if member in instance:
                out[member] = instance[member]
        if "objectType" in instance:
            object_type = instance["objectType"]
            out["objectType"] = (
                [ctx.compact(t) for t in object_type] if type(object_type) is list else ctx.compact(object_type)
            )
        if "valueType" in instance:
            out["valueType"] = ctx.compact_vocab(instance["valueType"])
        if self.sys_attrs:
            _system(instance, out)
        subs = instance.get("attrs")
        if subs:
            compact = ctx.compact
            for iri, sub in subs.items():
                out[compact(iri)] = self.instance(sub, bare=True)
        if concise and bare and len(out) == 1:
            # Nothing but the content: a Property is its value, a GeoProperty its geometry.
            if kind == "Property" and "value" in out and _bare_reads_back(out["value"]):
                return out["value"]
            if kind == "GeoProperty":
                return out["value"]
        return out

    def simplified(self, instance: Instance) -> Any:
        kind = instance["type"]
        if kind == "LanguageProperty":
            if self.langs is not None:
                return _choose(instance["languageMap"], self.langs)[1]
            return {"languageMap": instance["languageMap"]}
        if kind == "VocabProperty":
            compact = self.ctx.compact_vocab
            vocab = instance["vocab"]
            return {"vocab": [compact(v) for v in vocab] if type(vocab) is list else compact(vocab)}
        if kind == "JsonProperty":
            return {"json": instance["json"]}
        return instance[MAIN_MEMBER[kind]]


def _system(source: dict[str, Any], out: dict[str, Any]) -> None:
    for member in ("createdAt", "modifiedAt", "expiresAt"):
        if member in source:
            out[member] = source[member]


# ---- concise read-back rules (mirror entity.py) --------------------------------------------


def _needs_type(value: Any) -> bool:
    """A Property value that, under ``"value"`` without ``type``, would read back as a GeoProperty."""
    if type(value) is not dict:
        return False
    kind = value.get("type")
    return type(kind) is str and kind in _GEOMETRY


def _bare_reads_back(value: Any) -> bool:
    """Whether a value given alone reads back as a Property holding it."""
    if type(value) is dict:
        return "type" not in value and "@context" not in value and _MAIN_KEYS.isdisjoint(value)
    if type(value) is list:
        return not (value and all(_looks_like_attribute(item) for item in value))
    return True


def _looks_like_attribute(item: Any) -> bool:
    if type(item) is not dict:
        return False
    kind = item.get("type")
    return (type(kind) is str and kind in _ATTRIBUTE_TYPES) or not _MAIN_KEYS.isdisjoint(item)


# ---- pick / omit ---------------------------------------------------------------------------


def _members(names: frozenset[str]) -> frozenset[str]:
    if _MEMBER_ALIASES.keys().isdisjoint(names):
        return names
    return frozenset(_MEMBER_ALIASES.get(name, name) for name in names)


def _keep(name: str, pick: frozenset[str] | None, omit: frozenset[str] | None) -> bool:
    return (pick is None or name in pick) and (omit is None or name not in omit)


# ---- language filter (clause 4.15) ---------------------------------------------------------


@lru_cache(maxsize=256)
def _preferences(lang: str) -> tuple[str, ...]:
    """The language ranges of a ``lang`` parameter (RFC 3282 list with quality values), best
    first; ranges with q=0 are not acceptable and dropped.  ``*`` means any language."""
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(lang.split(",")):
        parts = [part.strip() for part in item.split(";")]
        tag = parts[0]
        quality = 1.0
        for param in parts[1:]:
            key, _, number = param.partition("=")
            if key.strip() != "q":
                raise BadRequestData(f"lang: unknown parameter {param!r} in {item!r}")
            try:
                quality = float(number)
            except ValueError:
                raise BadRequestData(f"lang: {number!r} is not a quality value (0 to 1)") from None
            if not 0.0 <= quality <= 1.0:
                raise BadRequestData(f"lang: the quality value {number} is not between 0 and 1")
        if not tag or not (tag == "*" or all(part.isalnum() and part.isascii() for part in tag.split("-"))):
            raise BadRequestData(f"lang: {tag!r} is not a language tag or *")
        if quality > 0:
            ranked.append((-quality, position, tag.lower()))
    ranked.sort()
    return tuple(tag for _, _, tag in ranked)


def _choose(language_map: dict[str, Any], ranges: tuple[str, ...]) -> tuple[str, Any]:
    """The (tag, string) of the language map that best matches ``ranges`` (RFC 4647 lookup,
    case-insensitive; a range also matches longer tags it is a prefix of).  When none matches,
    any supported language, the default one (``@none``) first (clause 4.15)."""
    lowered = {tag.lower(): tag for tag in language_map}
    for wanted in ranges:
        if wanted == "*":
            break
        candidate = wanted
        while candidate:
            if candidate in lowered:
                tag = lowered[candidate]
                return tag, language_map[tag]
            for lower, tag in lowered.items():
                if lower.startswith(candidate + "-"):
                    return tag, language_map[tag]
            candidate = candidate.rpartition("-")[0]
    tag = "@none" if "@none" in language_map else next(iter(language_map))
    return tag, language_map[tag]

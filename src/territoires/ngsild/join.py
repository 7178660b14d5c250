"""Linked Entity Retrieval (ETSI GS CIM 009 clause 4.5.23): entities rendered together with the
entities their Relationships point at.

- ``join=inline``: each linked entity is embedded in the Relationship that names it, as its
  ``entity`` member (an array of entities when ``object`` holds several URIs), or ``entityList``
  for a ListRelationship.  In keyValues the Relationship's URI itself is replaced by the linked
  entity (a URI whose entity is not stored stays as it is).
- ``join=flat``: the linked entities follow the requested ones in the result array, each once.
- ``joinLevel`` (default 1): how many Relationship hops are followed.  An entity already met at
  a shallower depth (a requested entity included) is shown again but not expanded again, so a
  cycle ends by itself.  Ids listed in ``containedBy`` (already retrieved by the caller, for
  instance a broker forwarding the request) are neither fetched nor attached.
- ``pick``/``omit`` (clause 4.21) project linked entities too: ``locatedAt{id,name}`` picks
  ``locatedAt`` and, in the entities it links to, ``id`` and ``name``; in ``omit``,
  ``locatedAt{name}`` drops ``name`` from those entities and keeps ``locatedAt``.  ``|`` may be
  written for ``,`` (both spell the or operator).  A nested projection needs ``join`` and may not
  reach deeper than ``joinLevel`` (clauses 5.7.1.4 and 5.7.2.4).  A Relationship left out of the
  output is not followed.  ``attrs`` and ``datasetId`` select on the requested
  entities only; the representation, ``sysAttrs`` and ``lang`` apply to linked entities as well.

Only the top-level Relationships of an entity are followed, not Relationships of attributes.
Linked entities are fetched through a caller-given function, once per level for all the ids of
that level, so a store answers a whole level in one call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .context import Context
from .entity import validate_entity_id
from .errors import BadRequestData, TooComplexQuery
from .model import Entity, Instance
from .query import MAX_LENGTH, Expand, QExpr, link_depth, parse_attr_list
from .render import render_entity

__all__ = [
    "JOIN_MODES",
    "MAX_JOIN_LEVEL",
    "Fetch",
    "Join",
    "Projection",
    "parse_join",
    "parse_omit",
    "parse_pick",
    "render_linked",
]

# Stored entities by id, for the ids asked that exist (TenantSession.get).
Fetch = Callable[[list[str]], dict[str, Entity]]

JOIN_MODES = ("flat", "inline")
MAX_JOIN_LEVEL = 16  # deeper graphs are better walked by several requests

_TOKEN = re.compile(r"[{},|]")
_OR = (",", "|")  # clause 4.21: a comma or a pipe is the or operator between projected names


@dataclass(frozen=True)
class Projection:
    """A ``pick`` or ``omit`` list: the expanded names it applies to at this level, and for a
    Relationship written ``name{...}`` the projection of the entities it links to."""

    names: frozenset[str]
    nested: tuple[tuple[str, Projection], ...] = ()

    def hops(self) -> int:
        """How many Relationship hops the nested projections reach (0 when there are none)."""
        return max((1 + sub.hops() for _, sub in self.nested), default=0)

    def linked(self, name: str) -> Projection | None:
        """The projection of the entities linked through the Relationship ``name``, if given."""
        for key, sub in self.nested:
            if key == name:
                return sub
        return None


@dataclass(frozen=True)
class Join:
    """What a request asks of Linked Entity Retrieval."""

    mode: str  # one of JOIN_MODES
    level: int = 1
    contained_by: frozenset[str] = frozenset()
    pick: Projection | None = None
    omit: Projection | None = None


# ---- parameters ---------------------------------------------------------------------------


def parse_pick(text: str, expand: Expand) -> Projection:
    """The ``pick`` parameter, with ``name{...}`` projections of linked entities."""
    return _parse_projection(text, expand, "pick")


def parse_omit(text: str, expand: Expand) -> Projection:
    """The ``omit`` parameter; a ``name{...}`` item omits inside the linked entities, not ``name``."""
    return _parse_projection(text, expand, "omit")


def parse_join(
    join: Any,
    join_level: Any = None,
    contained_by: Any = None,
    *,
    pick: Projection | None = None,
    omit: Projection | None = None,
) -> Join | None:
    """The ``join``, ``joinLevel`` and ``containedBy`` parameters (as query strings, or as the
    members of a Query body: ``joinLevel`` a number, ``containedBy`` an array).  None when no
    linked entity is asked for (no ``join``, or ``join=@none``).  A ``pick``/``omit`` projecting
    linked entities is refused without ``join``, or when it nests deeper than ``joinLevel``
    (clauses 5.7.1.4 and 5.7.2.4: BadRequestData)."""
    level = _join_level(join_level)
    ids = _contained_by(contained_by)
    joined = join is not None and join != "@none"
    if joined and join not in JOIN_MODES:
        raise BadRequestData(f"join must be flat, inline or @none, not {_show(join)}")
    for param, projection in (("pick", pick), ("omit", omit)):
        hops = projection.hops() if projection is not None else 0
        if hops and not joined:
            raise BadRequestData(
                f"{param} projects linked entities with {{...}}, which needs join=inline or join=flat"
            )
        if hops > level:
            raise BadRequestData(
                f"{param} projects linked entities {hops} relationship hops deep, more than joinLevel {level}: "
                f"raise joinLevel to {hops} or nest less"
            )
    if not joined:
        return None
    return Join(mode=join, level=level, contained_by=ids, pick=pick, omit=omit)


def check_query_depth(q: QExpr | None, join: Join | None) -> None:
    """Clause 5.7.2.4: a ``q`` reading linked entities (``rel{path}``) needs Linked Entity
    retrieval (``join``) at least as deep (BadRequestData, a "too deep" query)."""
    depth = link_depth(q) if q is not None else 0
    if depth and join is None:
        raise BadRequestData("q reads linked entities with {...}, which needs join=inline or join=flat")
    if join is not None and depth > join.level:
        raise BadRequestData(f"q reads linked entities {depth} relationship hops deep, more than joinLevel "
                             f"{join.level}: raise joinLevel to {depth} or nest less")


def _join_level(value: Any) -> int:
    if value is None:
        return 1
    if type(value) is int:
        level = value
    elif type(value) is str and value.strip().isdigit() and value.strip().isascii():
        # Many digits are simply too deep (and int() refuses very long texts).
        level = int(value) if len(value.strip()) <= 9 else MAX_JOIN_LEVEL + 1
    else:
        raise BadRequestData(f"joinLevel must be a whole number of at least 1, not {_show(value)}")
    if level < 1:
        raise BadRequestData(f"joinLevel must be at least 1, not {level}")
    if level > MAX_JOIN_LEVEL:
        raise TooComplexQuery(f"joinLevel {level} is above this server's maximum of {MAX_JOIN_LEVEL}")
    return level


def _contained_by(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if type(value) is str:
        items: list[Any] = [item.strip() for item in value.split(",")]
    elif type(value) is list:
        items = value
    else:
        raise BadRequestData(f"containedBy must be a list of entity ids, not {_show(value)}")
    ids: set[str] = set()
    for item in items:
        try:
            ids.add(validate_entity_id(item))
        except BadRequestData as error:
            raise BadRequestData(f"containedBy: {error.detail}") from None
    return frozenset(ids)


def _parse_projection(text: str, expand: Expand, param: str) -> Projection:
    """``item (or item)*`` where ``or`` is ``,`` or ``|`` and ``item`` is ``name`` or
    ``name{item (or item)*}``; braces nest up to MAX_JOIN_LEVEL deep.  Names are read as in
    ``attrs`` (query.parse_attr_list)."""
    if type(text) is not str:
        raise BadRequestData(f"{param} must be a comma-separated list of names, not {_show(text)}")
    if len(text) > MAX_LENGTH:
        raise TooComplexQuery(f"{param}: {len(text)} characters, more than the {MAX_LENGTH} this server accepts")
    shown = _show(text)
    # One open level per entry: its names and nested projections, and the name that opened it.
    stack: list[tuple[list[str], list[tuple[str, Projection]], str]] = [([], [], "")]
    last: str | None = None  # the name just read, which a "{" may follow
    expect_name = True
    position = 0
    for piece in _TOKEN.split(text):
        start = position
        position += len(piece)
        delimiter = text[position] if position < len(text) else ""
        name = piece.strip()
        if name:
            if not expect_name:
                raise BadRequestData(
                    f"{param}: a comma (or pipe) is missing before {_show(name)} at position {start + 1} in {shown}"
                )
            last = _name(name, expand, param, start, shown)
            stack[-1][0].append(last)
            expect_name = False
        elif expect_name and delimiter != "{":
            raise BadRequestData(f"{param}: a name is missing at position {position + 1} in {shown}")
        if delimiter in _OR:
            expect_name = True
        elif delimiter == "{":
            if last is None or expect_name:
                raise BadRequestData(f"{param}: '{{' at position {position + 1} must follow a name in {shown}")
            if len(stack) > MAX_JOIN_LEVEL:
                raise TooComplexQuery(f"{param}: braces nest deeper than {MAX_JOIN_LEVEL} levels")
            stack.append(([], [], last))
            last = None
            expect_name = True
        elif delimiter == "}":
            if len(stack) == 1:
                raise BadRequestData(f"{param}: unmatched '}}' at position {position + 1} in {shown}")
            names, nested, opener = stack.pop()
            parent_names, parent_nested, _ = stack[-1]
            if any(key == opener for key, _ in parent_nested):
                raise BadRequestData(f"{param}: the linked entities of {opener!r} are projected twice in {shown}")
            parent_nested.append((opener, Projection(frozenset(names), tuple(nested))))
            if param == "omit":
                # "omit=rel{a}" omits a from the linked entities and keeps rel itself.
                parent_names.remove(opener)
            last = None
            expect_name = False
        position += len(delimiter)
    if len(stack) > 1:
        raise BadRequestData(f"{param}: '{{' after {stack[-1][2]!r} is never closed in {shown}")
    names, nested, _ = stack[0]
    return Projection(frozenset(names), tuple(nested))


def _name(name: str, expand: Expand, param: str, start: int, shown: str) -> str:
    try:
        return parse_attr_list(name, expand, param=param)[0]
    except BadRequestData:
        raise BadRequestData(
            f"{param}: {_show(name)} at position {start + 1} in {shown} is not an attribute name or IRI"
        ) from None


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:80] + "…"


# ---- expansion ----------------------------------------------------------------------------


@dataclass
class _Node:
    """An entity in the output whose Relationships may be followed."""

    entity: Entity
    out: dict[str, Any]
    pick: Projection | None
    omit: Projection | None
    dataset_id: frozenset[str] | None = None  # the instances rendered (requested entities only)


@dataclass
class _Link:
    """One Relationship instance to complete, and where its rendering sits in the output."""

    node: _Node
    key: str  # the attribute's compacted name in node.out
    instance: Instance
    slot: int | str | None  # list index (normalized/concise), datasetId (keyValues), or None: the value itself
    targets: list[str]
    pick: Projection | None
    omit: Projection | None


def render_linked(
    roots: Sequence[Entity],
    ctx: Context,
    fetch: Fetch,
    join: Join,
    *,
    form: str = "normalized",
    sys_attrs: bool = False,
    attrs: frozenset[str] | None = None,
    lang: str | None = None,
    dataset_id: frozenset[str] | None = None,
    render_root: Callable[[Entity], dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """``roots`` rendered as :func:`render.render_entity` does (or as ``render_root`` does, for
    instance a notified entity with its marks), with their linked entities: for ``inline`` one
    dict per root, for ``flat`` the roots followed by every linked entity once (breadth first).
    ``fetch`` is called once per level, with the ids not fetched yet."""

    def render(entity: Entity, pick: Projection | None, omit: Projection | None, **extra: Any) -> dict[str, Any]:
        return render_entity(
            entity, ctx, form=form, sys_attrs=sys_attrs, lang=lang, **extra,
            pick=pick.names if pick is not None else None, omit=omit.names if omit is not None else None,
        )

    results: list[dict[str, Any]] = []
    frontier: list[_Node] = []
    first_depth: dict[str, int] = {}  # entity id -> the depth it was first met at
    for entity in roots:
        if render_root is not None:
            out = render_root(entity)
        else:
            out = render(entity, join.pick, join.omit, attrs=attrs, dataset_id=dataset_id)
        results.append(out)
        frontier.append(_Node(entity, out, join.pick, join.omit, dataset_id))
        first_depth.setdefault(entity["id"], 0)

    known: dict[str, Entity] = {entity["id"]: entity for entity in roots}
    emitted = set(first_depth)  # flat: ids already in the results
    # inline: one rendering per (id, projections, expanded or not), shared by every place it goes
    shared: dict[tuple[str, Projection | None, Projection | None, bool], dict[str, Any]] = {}
    for depth in range(1, join.level + 1):
        links = [link for node in frontier for link in _links(node, ctx, form)]
        wanted = [
            target for target in dict.fromkeys(t for link in links for t in link.targets)
            if target not in known and target not in join.contained_by
        ]
        if wanted:
            known.update(fetch(wanted))
        frontier = []
        for link in links:
            linked: list[dict[str, Any] | None] = []
            for target in link.targets:
                entity = known.get(target)
                if entity is None or target in join.contained_by:
                    linked.append(None)
                    continue
                expand = first_depth.setdefault(target, depth) == depth
                if join.mode == "flat":
                    if target not in emitted:
                        emitted.add(target)
                        out = render(entity, link.pick, link.omit)
                        results.append(out)
                        frontier.append(_Node(entity, out, link.pick, link.omit))
                    continue
                key = (target, link.pick, link.omit, expand)
                out = shared.get(key)
                if out is None:
                    out = shared[key] = render(entity, link.pick, link.omit)
                    if expand:
                        frontier.append(_Node(entity, out, link.pick, link.omit))
                linked.append(out)
            if join.mode == "inline":
                _attach(link, linked, form)
        if not frontier:
            break
    return results


def _links(node: _Node, ctx: Context, form: str) -> list[_Link]:
    """The Relationship instances of ``node`` present in its output, with their targets."""
    found: list[_Link] = []
    for iri, instances in node.entity["attrs"].items():
        if not any(i["type"] in ("Relationship", "ListRelationship") for i in instances):
            continue
        key = ctx.compact(iri)
        if key not in node.out:  # left out by attrs, pick or omit: not followed
            continue
        if node.dataset_id is not None:
            instances = [i for i in instances if i.get("datasetId", "@none") in node.dataset_id]
        pick = node.pick.linked(iri) if node.pick is not None else None
        omit = node.omit.linked(iri) if node.omit is not None else None
        single = len(instances) == 1
        for index, instance in enumerate(instances):
            kind = instance["type"]
            if kind == "Relationship":
                content = instance["object"]
                targets = content if type(content) is list else [content]
            elif kind == "ListRelationship":
                targets = instance["objectList"]
            else:
                continue
            slot: int | str | None
            if form == "keyValues":
                slot = None if single and "datasetId" not in instance else instance.get("datasetId", "@none")
            else:
                slot = None if single else index
            found.append(_Link(node, key, instance, slot, list(targets), pick, omit))
    return found


def _attach(link: _Link, linked: list[dict[str, Any] | None], form: str) -> None:
    """Put the linked entities (None where one is not stored) into the Relationship's output."""
    container = link.node.out
    value = container[link.key]
    many = link.instance["type"] == "ListRelationship" or type(link.instance["object"]) is list
    if form == "keyValues":
        # The Relationship's value is its URI(s): each becomes the entity it names, when stored.
        if many:
            replaced: Any = [entity if entity is not None else uri for uri, entity in zip(link.targets, linked)]
        elif linked[0] is not None:
            replaced = linked[0]
        else:
            return
        if link.slot is None:
            container[link.key] = replaced
        else:
            value["dataset"][link.slot] = replaced
        return
    found = [entity for entity in linked if entity is not None]
    if not found:
        return
    rendered = value if link.slot is None else value[link.slot]
    if link.instance["type"] == "ListRelationship":
        rendered["entityList"] = found
    else:
        rendered["entity"] = found if many else found[0]

"""Thematic working groups of the observatory (issue 4 item 7): members, meetings, shared links.

A group is a ``WorkingGroup`` entity of the national tenant ``observatoire``
(``urn:ngsi-ld:WorkingGroup:<slug>``); its members, meetings and links are JSON properties of
it, so that one read shows the whole group and the broker's history keeps every version.
Who may do what:
- everyone, even anonymous, reads groups;
- a signed-in person with a national role (contributor, moderator) creates a group; the
  territories it contributes for become its animateurs, and it is recorded as the creator;
- animateurs edit the group, add meetings and links and add or remove members: the creator,
  the contributors of a member territory whose role is ``animateur``, and moderators;
- a contributor adds its own territory as a member (« rejoindre ») or withdraws it.
Each change rewrites the entity whole: two animateurs changing one group at the same instant
may lose one change (the last write wins), acceptable for a group's pace.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

from territoires.auth.errors import Forbidden, Unauthenticated
from territoires.auth.principal import Principal, Role
from territoires.broker import Broker
from territoires.broker.contexts import OBSERVATORY_CONTEXT_URL
from territoires.ngsild.errors import AlreadyExists, BadRequestData, NonexistentTenant, ResourceNotFound
from territoires.ngsild.model import Entity
from territoires.ngsild.query import parse_q, parse_type_expr
from territoires.observatoire import project_record as pr
from territoires.observatoire import vocabularies as vocab
from territoires.observatoire.codes import valid_siren
from territoires.observatoire.intentions import ensure_tenant, territory_named
from territoires.observatoire.projects import TENANT, Rights
from territoires.observatoire.registry import TerritoryRegistry, urn
from territoires.store.port import EntityQuery

GROUP_PREFIX = "urn:ngsi-ld:WorkingGroup:"
ROLES = {"animateur": "Animateur", "membre": "Membre"}
MAX_TITLE = 200
MAX_DESCRIPTION = 5_000
MAX_SHORT = 300
MAX_URL = 2_000
MAX_MEMBERS = 500
MAX_MEETINGS = 200
MAX_LINKS = 100
MAX_PAGE = 100
# Stored attribute (short name of the @context) -> what the API calls it.
_STORED = {"title": "title", "description": "description", "useCases": "useCases", "domains": "domains",
           "groupMembers": "members", "meetings": "meetings", "sharedLinks": "links", "createdBy": "createdBy"}
_JSON_ATTRIBUTES = ("groupMembers", "meetings", "sharedLinks")
_EDITABLE = ("title", "description", "useCases", "domains")
_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:\d{2})?)?")


@dataclass(frozen=True)
class GroupPage:
    groups: list[dict[str, Any]]
    total: int


@dataclass(frozen=True)
class GroupView:
    """A group as a page shows it to a principal: what it may do there."""

    group: dict[str, Any]
    animates: bool                  # edits, adds meetings, links and members
    joinable: list[str]             # URNs of its territories that may join


# ---- checks -------------------------------------------------------------------------------------
def _text(value: Any, where: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequestData(f"{where}: a non-empty text is expected")
    text = value.strip()
    if len(text) > limit:
        raise BadRequestData(f"{where}: {len(text)} characters, at most {limit} are accepted")
    return text


def http_url(value: Any, where: str) -> str:
    """An absolute http or https URL of at most MAX_URL characters."""
    if not isinstance(value, str) or not value.strip():
        raise BadRequestData(f"{where}: a link (http:// or https:// URL) is expected")
    url = value.strip()
    if len(url) > MAX_URL:
        raise BadRequestData(f"{where}: {len(url)} characters, at most {MAX_URL} are accepted")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"scheme {parts.scheme!r}" if parts.scheme else "no scheme"
        raise BadRequestData(f"{where}: {url!r} has {shown}; only http:// and https:// links are accepted")
    if not parts.netloc or any(c.isspace() for c in url):
        raise BadRequestData(f"{where}: {url!r} is not a link: a host name is expected after {parts.scheme}://")
    return url


def meeting_date(value: Any, where: str) -> str:
    """An ISO 8601 date (YYYY-MM-DD) or date and time (YYYY-MM-DDThh:mm[:ss][Z|±hh:mm])."""
    if not isinstance(value, str) or not _DATE_TIME.fullmatch(value.strip()):
        raise BadRequestData(f"{where}: {value!r} is not an ISO 8601 date (YYYY-MM-DD) or date and time "
                             "(YYYY-MM-DDThh:mm, e.g. 2026-03-12T14:00+01:00)")
    text = value.strip()
    try:
        (datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text))  # 3.11 reads "Z"
    except ValueError:
        raise BadRequestData(f"{where}: {text!r} is not a date of the calendar") from None
    return text


def _codes(value: Any, vocabulary: vocab.Vocabulary, where: str) -> list[str]:
    if not isinstance(value, list):
        raise BadRequestData(f"{where}: a list of codes is expected; the codes are listed at "
                             "GET /api/observatoire/v1/vocabularies")
    if len(value) > len(vocabulary.terms):
        raise BadRequestData(f"{where}: {len(value)} items, at most {len(vocabulary.terms)} are accepted")
    return list(dict.fromkeys(vocabulary.check(item, f"{where}[{i}]") for i, item in enumerate(value)))


def _fields(body: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """The editable fields of a group's body, checked; None removes a field (not the title)."""
    unknown = sorted(set(body) - set(_EDITABLE) - ({"id"} if creating else set()))
    if unknown:
        raise BadRequestData(f"unknown field(s) {', '.join(unknown)}; a working group has {', '.join(_EDITABLE)} "
                             "(members, meetings and links have their own resources)")
    if creating and "title" not in body:
        raise BadRequestData("title: a working group needs a title")
    checked: dict[str, Any] = {}
    for name, value in body.items():
        if name == "id":
            continue
        if value is None:
            if name == "title":
                raise BadRequestData("title: a working group needs a title")
            checked[name] = None
        elif name == "title":
            checked[name] = _text(value, name, MAX_TITLE)
        elif name == "description":
            checked[name] = _text(value, name, MAX_DESCRIPTION)
        else:
            checked[name] = _codes(value, vocab.USE_CASES if name == "useCases" else vocab.DOMAINS, name)
    return checked


def group_id(value: object) -> str:
    """``urn:ngsi-ld:WorkingGroup:<slug>`` from a slug or that URN; BadRequestData otherwise."""
    slug = value.removeprefix(GROUP_PREFIX) if isinstance(value, str) else ""
    if len(slug) > 100 or not _SLUG.fullmatch(slug):
        raise BadRequestData(f"id: {value!r} is not a working group id: lower-case letters, digits and single "
                             "hyphens, at most 100")
    return GROUP_PREFIX + slug


def _next_id(items: list[dict[str, Any]]) -> str:
    numbers = (str(item.get("id", "")) for item in items)
    return str(max((int(n) for n in numbers if n.isascii() and n.isdigit()), default=0) + 1)


# ---- the service --------------------------------------------------------------------------------
class WorkingGroupService:
    def __init__(self, broker: Broker, registry: TerritoryRegistry | None = None) -> None:
        self.broker = broker
        self.registry = registry or TerritoryRegistry.load()
        self.context = broker.contexts.compile(TENANT, OBSERVATORY_CONTEXT_URL)
        self._names = {self.context.expand(name): name for name in _STORED}
        self._type = parse_type_expr("WorkingGroup", self.context.expand)

    # ---- reading ----------------------------------------------------------------------------
    def get(self, principal: Principal, group: str) -> dict[str, Any]:
        return self._shown(self._group(group), principal)

    def view(self, principal: Principal, group: str) -> GroupView:
        current = self._group(group)
        present = {m["id"] for m in current["members"]}
        joinable = sorted(Rights.of(principal).territories - present)
        return GroupView(self._shown(current, principal), self._animates(principal, current), joinable)

    def list(self, principal: Principal, *, use_case: str | None = None, domain: str | None = None,
             offset: int = 0, limit: int = 20) -> GroupPage:
        """Groups in creation order, those of a use case or domain if given."""
        if not 1 <= limit <= MAX_PAGE:
            raise BadRequestData(f"limit must be from 1 to {MAX_PAGE}, not {limit}")
        if offset < 0:
            raise BadRequestData(f"offset cannot be negative: {offset}")
        terms = []
        if use_case is not None:
            terms.append(f'useCases=="{vocab.USE_CASES.check(use_case, "useCase")}"')
        if domain is not None:
            terms.append(f'domains=="{vocab.DOMAINS.check(domain, "domain")}"')
        q = parse_q(";".join(terms), self.context.expand) if terms else None
        try:
            page = self.broker.entities.query(TENANT, EntityQuery(types=self._type, q=q, offset=offset, limit=limit,
                                                                  count=True))
        except NonexistentTenant:
            return GroupPage([], 0)
        groups = [self._shown(self._from_entity(entity), principal) for entity in page.entities]
        return GroupPage(groups, page.count or 0)

    @staticmethod
    def _animates(principal: Principal, group: Mapping[str, Any]) -> bool:
        rights = Rights.of(principal)
        if not rights.authenticated:
            return False
        if rights.moderator:
            return True
        creator = group.get("createdBy") or {}
        if creator.get("subject") == principal.subject and creator.get("kind") == principal.kind:
            return True
        animators = {m["id"] for m in group.get("members", []) if m.get("role") == "animateur"}
        return bool(rights.territories & animators)

    # ---- writing ----------------------------------------------------------------------------
    def create(self, principal: Principal, body: Any) -> dict[str, Any]:
        rights = _national(principal)
        if not isinstance(body, dict):
            raise BadRequestData("a working group is a JSON object: title, description, useCases, domains")
        fields = {k: v for k, v in _fields(body, creating=True).items() if v is not None}
        members = [self._member({"member": t, "role": "animateur"}, "members") for t in sorted(rights.territories)]
        stored = {**fields, "groupMembers": members, "meetings": [], "sharedLinks": [],
                  "createdBy": {**rights.editor, "subject": principal.subject, "kind": principal.kind}}
        ensure_tenant(self.broker)
        entity_id = group_id(body["id"]) if "id" in body else self._fresh_id(fields["title"])
        self.broker.entities.create(TENANT, _entity(entity_id, stored), self.context)
        return self.get(principal, entity_id)

    def update(self, principal: Principal, group: str, patch: Any) -> dict[str, Any]:
        if not isinstance(patch, dict):
            raise BadRequestData("a change of a working group is a JSON object of the fields to change")
        changes = _fields(patch, creating=False)
        return self._change(principal, group, lambda current: {**current, **changes})

    def delete(self, principal: Principal, group: str) -> None:
        current = self._group(group)
        self._require_animator(principal, current)
        self.broker.entities.delete(TENANT, current["id"])

    def add_meeting(self, principal: Principal, group: str, body: Any) -> dict[str, Any]:
        def added(current: dict[str, Any]) -> dict[str, Any]:
            meetings = current.get("meetings", [])
            if len(meetings) >= MAX_MEETINGS:
                raise BadRequestData(f"meetings: a group keeps at most {MAX_MEETINGS} meetings; remove past ones")
            meeting = {"id": _next_id(meetings), **_meeting(body)}
            return {**current, "meetings": sorted([*meetings, meeting], key=lambda m: m["date"])}
        return self._change(principal, group, added)

    def remove_meeting(self, principal: Principal, group: str, meeting: str) -> dict[str, Any]:
        return self._change(principal, group, lambda current: _without(current, "meetings", meeting, "meeting"))

    def add_link(self, principal: Principal, group: str, body: Any) -> dict[str, Any]:
        def added(current: dict[str, Any]) -> dict[str, Any]:
            links = current.get("links", [])
            if len(links) >= MAX_LINKS:
                raise BadRequestData(f"links: a group shares at most {MAX_LINKS} links")
            return {**current, "links": [*links, {"id": _next_id(links), **_link(body)}]}
        return self._change(principal, group, added)

    def remove_link(self, principal: Principal, group: str, link: str) -> dict[str, Any]:
        return self._change(principal, group, lambda current: _without(current, "links", link, "link"))

    def add_member(self, principal: Principal, group: str, body: Any) -> dict[str, Any]:
        """An animateur adds a territory or an organisation; a contributor adds its own territory
        as a plain member (« rejoindre »)."""
        member = self._member(body, "member")
        current = self._group(group)
        if not self._animates(principal, current):
            rights = Rights.of(principal)
            if not rights.authenticated:
                raise Unauthenticated("joining a working group needs a credential: sign in, or give "
                                      "'Authorization: Bearer <key>'")
            if member["id"] not in rights.territories or member["role"] != "membre":
                raise Forbidden("only an animateur of the group adds members or animateurs; a contributor adds its "
                                f"own territory as a member (this credential contributes for: "
                                f"{', '.join(sorted(rights.territories)) or 'none'})")

        def added(latest: dict[str, Any]) -> dict[str, Any]:
            members = latest.get("members", [])
            if any(m["id"] == member["id"] for m in members):
                raise AlreadyExists(f"{member['name']} is already a member of the group")
            if len(members) >= MAX_MEMBERS:
                raise BadRequestData(f"members: a group has at most {MAX_MEMBERS} members")
            return {**latest, "members": [*members, member]}
        return self._write(principal, current["id"], added)

    def remove_member(self, principal: Principal, group: str, member: str) -> dict[str, Any]:
        """An animateur removes any member; a contributor withdraws its own territory."""
        current = self._group(group)
        member_id = self._member_id(member, "member")
        if not self._animates(principal, current) and member_id not in Rights.of(principal).territories:
            self._require_animator(principal, current)

        def removed(latest: dict[str, Any]) -> dict[str, Any]:
            kept = [m for m in latest.get("members", []) if m["id"] != member_id]
            if len(kept) == len(latest.get("members", [])):
                raise ResourceNotFound(f"{member} is not a member of the group")
            return {**latest, "members": kept}
        return self._write(principal, current["id"], removed)

    # ---- helpers ----------------------------------------------------------------------------
    def _change(self, principal: Principal, group: str, change: Callable[[dict[str, Any]], dict[str, Any]]
                ) -> dict[str, Any]:
        current = self._group(group)
        self._require_animator(principal, current)

        def animated(latest: dict[str, Any]) -> dict[str, Any]:
            self._require_animator(principal, latest)  # animateurs may have changed meanwhile
            return change(latest)
        return self._write(principal, current["id"], animated)

    def _write(self, principal: Principal, entity_id: str, change: Callable[[dict[str, Any]], dict[str, Any]]
               ) -> dict[str, Any]:
        """Apply ``change`` to the group as stored at the moment of writing, so that two changes
        made at once (two members joining) both last."""
        def body_of(entity: Entity) -> dict[str, Any]:
            group = change(self._from_entity(entity))
            return _entity(entity_id, {name: group[api] for name, api in _STORED.items() if group.get(api) is not None})
        self.broker.entities.replace_with(TENANT, entity_id, body_of, self.context)
        return self.get(principal, entity_id)

    def _require_animator(self, principal: Principal, group: Mapping[str, Any]) -> None:
        if not principal.authenticated:
            raise Unauthenticated("changing a working group needs a credential: sign in, or give "
                                  "'Authorization: Bearer <key>'")
        if not self._animates(principal, group):
            raise Forbidden("only an animateur of the group (or a moderator) changes it")

    def _group(self, group: str) -> dict[str, Any]:
        entity_id = group_id(group)
        try:
            entity = self.broker.entities.retrieve(TENANT, entity_id)
        except (ResourceNotFound, NonexistentTenant):
            raise ResourceNotFound(f"no working group {entity_id} in the observatory") from None
        return self._from_entity(entity)

    def _from_entity(self, entity: Any) -> dict[str, Any]:
        stored = pr.from_entity(entity, self._names)
        group = {_STORED.get(name, name): value for name, value in stored.items()}
        for name in ("members", "meetings", "links"):
            group.setdefault(name, [])
        group.setdefault("createdBy", {})
        return group

    @staticmethod
    def _shown(group: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """The creator by role (and scope); by name only to moderators (names may be people's)."""
        hidden = ("subject", "kind") if Rights.of(principal).moderator else ("subject", "kind", "name")
        return {**group, "createdBy": {k: v for k, v in group["createdBy"].items() if k not in hidden}}

    def _member(self, body: Any, where: str) -> dict[str, Any]:
        if isinstance(body, str):
            body = {"member": body}
        if not isinstance(body, dict):
            raise BadRequestData(f"{where}: a member is {{\"member\": \"commune:21231\" or \"organisation:<SIREN>\", "
                                 "\"role\": \"membre\"}")
        unknown = sorted(set(body) - {"member", "role", "name"})
        if unknown:
            raise BadRequestData(f"{where}: unknown member(s) {', '.join(unknown)}; known: member, role, name")
        role = body.get("role", "membre")
        if not isinstance(role, str) or role not in ROLES:
            raise BadRequestData(f"{where}.role: {role!r} is not a role; expected one of {', '.join(ROLES)}")
        member_id = self._member_id(body.get("member"), f"{where}.member")
        if member_id.startswith(pr.ORGANISATION_PREFIX):
            name = _text(body.get("name"), f"{where}.name", MAX_SHORT)  # no registry of organisations: say it
        else:
            name = territory_named(member_id, self.registry).name
        return {"id": member_id, "name": name, "role": role}

    def _member_id(self, value: Any, where: str) -> str:
        """A member's URN from ``kind:code`` of a territory or ``organisation:<SIREN>`` (or URNs)."""
        if not isinstance(value, str) or not value.strip():
            raise BadRequestData(f"{where}: a territory (kind:code) or organisation:<SIREN> is expected")
        text = value.strip()
        siren = text.removeprefix(pr.ORGANISATION_PREFIX).removeprefix("organisation:")
        if siren != text:
            if not valid_siren(siren.replace(" ", "")):
                raise BadRequestData(f"{where}: {siren!r} is not a SIREN (9 digits with a valid check digit)")
            return pr.ORGANISATION_PREFIX + siren.replace(" ", "")
        try:
            return urn(territory_named(text, self.registry, where))
        except ResourceNotFound as error:  # an unknown code is bad input in a body
            raise BadRequestData(f"{where}: {error.detail}") from None

    def _fresh_id(self, title: str) -> str:
        slug = pr.slug_of(title)
        with self.broker.store.session(TENANT) as session:
            for n in range(1, 1000):
                candidate = GROUP_PREFIX + (slug if n == 1 else f"{slug}-{n}")
                if not session.get([candidate]):
                    return candidate
        raise AlreadyExists(f"too many working groups are titled like {title!r}: give the group an id")


def _national(principal: Principal) -> Rights:
    rights = Rights.of(principal)
    if not rights.authenticated:
        raise Unauthenticated("creating a working group needs a credential: sign in, or give "
                              "'Authorization: Bearer <key>'")
    if not rights.moderator and not any(grant.role is Role.CONTRIBUTOR for grant in principal.grants):
        raise Forbidden("a working group is created by a contributor of a territory or a moderator of the observatory")
    return rights


def _meeting(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequestData("a meeting is a JSON object: date, title, place or link, minutes")
    unknown = sorted(set(body) - {"date", "title", "place", "link", "minutes"})
    if unknown:
        raise BadRequestData(f"meeting: unknown member(s) {', '.join(unknown)}; known: date, title, place, link, "
                             "minutes")
    meeting = {"date": meeting_date(body.get("date"), "date"), "title": _text(body.get("title"), "title", MAX_TITLE)}
    if body.get("place") is not None:
        meeting["place"] = _text(body["place"], "place", MAX_SHORT)
    for name in ("link", "minutes"):
        if body.get(name) is not None:
            meeting[name] = http_url(body[name], name)
    return meeting


def _link(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequestData("a shared link is a JSON object: title, url")
    unknown = sorted(set(body) - {"title", "url"})
    if unknown:
        raise BadRequestData(f"link: unknown member(s) {', '.join(unknown)}; known: title, url")
    return {"title": _text(body.get("title"), "title", MAX_TITLE), "url": http_url(body.get("url"), "url")}


def _without(group: dict[str, Any], name: str, item: str, what: str) -> dict[str, Any]:
    kept = [entry for entry in group.get(name, []) if entry["id"] != item]
    if len(kept) == len(group.get(name, [])):
        raise ResourceNotFound(f"the group has no {what} {item!r}")
    return {**group, name: kept}


def _entity(entity_id: str, stored: Mapping[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": entity_id, "type": "WorkingGroup"}
    for name, value in stored.items():
        kind = "JsonProperty" if name in _JSON_ATTRIBUTES else "Property"
        body[name] = {"type": kind, "json": value} if kind == "JsonProperty" else {"type": kind, "value": value}
    return body

"""People's roles (members) as the OpenID Connect verifier asks for them, and public types as
the enforcement point asks for them; on every backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from territoires.auth.members import MemberService, member_json
from territoires.auth.principal import Grant, Role
from territoires.auth.public_types import PublicTypes, expanded_types, public_types_json
from territoires.ngsild.context import compile_context
from territoires.ngsild.errors import AlreadyExists, BadRequestData, NonexistentTenant, ResourceNotFound
from territoires.store.port import Store
from tests.contract.conftest import BACKENDS

PROCONNECT = "https://auth.agentconnect.gouv.fr/api/v2"
KEYCLOAK = "https://sso.rennes.fr/realms/agents"
PARKING = "https://smartdatamodels.org/dataModel.Parking/ParkingSpot"
AIR = "https://smartdatamodels.org/dataModel.Environment/AirQualityObserved"
VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    backend = BACKENDS[request.param](tmp_path)
    backend.create_tenant("rennes")
    backend.create_tenant("brest")
    yield backend
    backend.close()


def test_people_get_the_roles_given_to_their_email_or_their_subject(store: Store):
    members = MemberService(store)
    members.add("rennes", "admin", email=" Agent.Voirie@Rennes.FR ", created_by="cli:root")
    members.add("brest", "reader", subject="4b0c-91", issuer=PROCONNECT)
    members.add(None, "contributor", email="agent.voirie@rennes.fr", scope="35238")
    members.add("", "editor", email="agent.voirie@rennes.fr", issuer=KEYCLOAK)
    assert members.grants(PROCONNECT, "4b0c-91", "AGENT.VOIRIE@rennes.fr") == (
        Grant(Role.ADMIN, "rennes"), Grant(Role.READER, "brest"), Grant(Role.CONTRIBUTOR, None, "35238"))
    assert members.grants(KEYCLOAK, "4b0c-91", "agent.voirie@rennes.fr") == (
        Grant(Role.ADMIN, "rennes"), Grant(Role.CONTRIBUTOR, None, "35238"), Grant(Role.EDITOR, ""))
    assert members.grants(PROCONNECT, "someone-else", "") == ()


def test_a_role_removed_or_given_is_seen_at_once_by_this_process(store: Store):
    members = MemberService(store)
    assert members.grants(PROCONNECT, "sub", "elu@brest.bzh") == ()
    given = members.add("brest", "reader", email="elu@brest.bzh")
    assert members.grants(PROCONNECT, "sub", "elu@brest.bzh") == (Grant(Role.READER, "brest"),)
    with pytest.raises(ResourceNotFound):
        members.remove(given.id, within="rennes")
    members.remove(given.id, within="brest")
    assert members.grants(PROCONNECT, "sub", "elu@brest.bzh") == ()
    with pytest.raises(ResourceNotFound):
        members.remove(given.id)


def test_members_are_listed_by_tenant_and_shown_without_empty_fields(store: Store):
    members = MemberService(store)
    first = members.add("rennes", "editor", email="a@rennes.fr", created_by="cli:root")
    members.add("rennes", "reader", subject="42", issuer=KEYCLOAK)
    members.add(None, "operator", email="dsi@megalis.bzh")
    page, count = members.list("rennes", limit=1)
    assert page == [first] and count == 2
    assert members.list()[1] == 3
    assert member_json(first) == {"id": first.id, "tenant": "rennes", "role": "editor", "email": "a@rennes.fr",
                                  "createdAt": first.created_at, "createdBy": "cli:root"}
    assert members.get(first.id, within="rennes") == first


@pytest.mark.parametrize(("tenant", "role", "person", "error", "hint"), [
    ("rennes", "chief", {"email": "a@rennes.fr"}, BadRequestData, "role must be one of"),
    ("rennes", "reader", {}, BadRequestData, "by email, or by subject and issuer"),
    ("rennes", "reader", {"subject": "42"}, BadRequestData, "give the issuer"),
    ("rennes", "reader", {"email": "not an address"}, BadRequestData, "e-mail address"),
    ("rennes", "reader", {"email": "a@rennes.fr", "issuer": "sso.rennes.fr"}, BadRequestData, "http(s) URL"),
    ("rennes", "operator", {"email": "a@rennes.fr"}, BadRequestData, "takes no tenant"),
    (None, "reader", {"email": "a@rennes.fr"}, BadRequestData, "applies to a tenant"),
    ("nowhere", "reader", {"email": "a@rennes.fr"}, NonexistentTenant, "nowhere"),
])
def test_bad_members_are_refused_with_a_reason(store: Store, tenant, role, person, error, hint):
    with pytest.raises(error) as refused:
        MemberService(store).add(tenant, role, **person)
    assert hint in refused.value.detail
    assert store.list_members() == ([], 0)


def test_the_same_role_cannot_be_given_twice_to_the_same_person(store: Store):
    members = MemberService(store)
    members.add("rennes", "reader", email="a@rennes.fr")
    with pytest.raises(AlreadyExists):
        members.add("rennes", "reader", email="A@rennes.fr")
    members.add("rennes", "editor", email="a@rennes.fr")  # another role is another assignment


def test_public_types_resolve_short_names_through_the_context_and_are_cached(store: Store):
    ctx = compile_context({"ParkingSpot": PARKING, "AirQualityObserved": AIR}, lambda url: {})
    public = PublicTypes(store, cache_seconds=3600)
    assert public.of("rennes") == frozenset()
    types = expanded_types({"types": ["ParkingSpot", AIR, "ParkingSpot", "Bench"]}, ctx)
    assert types == {PARKING, AIR, VOCAB + "Bench"}
    assert public.replace("rennes", types) == types
    assert public.of("rennes") == types  # changed through this process: seen at once
    assert public_types_json(types, ctx) == {"types": ["AirQualityObserved", "ParkingSpot", "Bench"],
                                             "expandedTypes": [AIR, PARKING, VOCAB + "Bench"]}
    store.set_public_types("rennes", [])  # as another process would
    assert public.of("rennes") == types  # from memory until the cache delay passes
    assert PublicTypes(store, cache_seconds=0).of("rennes") == frozenset()
    assert public.read("rennes") == frozenset()
    with pytest.raises(NonexistentTenant):
        public.read("nowhere")
    with pytest.raises(NonexistentTenant):
        public.replace("nowhere", types)


@pytest.mark.parametrize(("body", "hint"), [
    (["ParkingSpot"], '{"types"'),
    ({"types": "ParkingSpot"}, '{"types"'),
    ({"types": ["Parking Spot"]}, "not a valid name"),
    ({"types": [42]}, "non-empty string"),
    ({"types": ["id"]}, "keyword"),  # the core context maps id to @id
    ({"types": [], "open": True}, "unknown member 'open'"),
    ({"types": ["T"] * 1001}, "at most 1000"),
])
def test_bad_public_types_are_refused_with_a_reason(body, hint):
    ctx = compile_context(None, lambda url: {})
    with pytest.raises(BadRequestData) as refused:
        expanded_types(body, ctx)
    assert hint in refused.value.detail
